/**
 * Exponential backoff with a cap and a named jitter, as a pure function and
 * as an Effect `Schedule`, plus server Retry-After handling.
 *
 * The delay before retry `n` (0-based) starts from
 * `d = min(cap, base * factor^n)` and is then jittered:
 *
 * | jitter         | delay                                          |
 * |----------------|------------------------------------------------|
 * | `none`         | `d`                                            |
 * | `full`         | `uniform(0, d)` (AWS "full jitter")            |
 * | `equal`        | `d/2 + uniform(0, d/2)`                        |
 * | `decorrelated` | `min(cap, uniform(base, 3 * previous))` (AWS)  |
 * | `proportional` | `min(cap, d * uniform(0.8, 1.2))` (Effect's `Schedule.jittered`) |
 *
 * No jitter ever yields a delay above the cap. Delays are computed in
 * floating-point milliseconds and represented to the nanosecond.
 *
 * @since 0.1.0
 */
import type { Option, Schedule } from "effect"
import { Duration } from "effect"
import { dual } from "effect/Function"
import * as internal from "./internal/backoff.js"

/**
 * How a computed delay is randomised. See the module docs for the formulas.
 *
 * @example
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * // from a config file: fall back to full jitter on an unknown name
 * const jitterOf = (name: string): Backoff.Jitter =>
 *   Backoff.jitters.find((j) => j === name) ?? "full"
 * const retries = Backoff.schedule({ base: "250 millis", jitter: jitterOf("decorrelated") })
 *
 * @since 0.1.0
 * @category models
 */
export type Jitter = "none" | "full" | "equal" | "decorrelated" | "proportional"

/**
 * Every {@link Jitter}, e.g. to build a config schema with `Schema.Literal(...Backoff.jitters)`.
 *
 * @example
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * Backoff.jitters.includes("decorrelated") // true
 *
 * @since 0.1.0
 * @category models
 */
export const jitters: ReadonlyArray<Jitter> = internal.jitters

/**
 * Backoff settings. Every field is optional.
 *
 * @example
 * import { Effect } from "effect"
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * declare const call: Effect.Effect<string, Error>
 *
 * // 1 call + up to 5 retries, 500ms doubling up to 8s, each delay in [d/2, d)
 * const options: Backoff.BackoffOptions = { base: "500 millis", factor: 2, cap: "8 seconds", jitter: "equal", maxAttempts: 6 }
 * const program = Effect.retry(call, Backoff.schedule(options))
 *
 * @since 0.1.0
 * @category models
 */
export interface BackoffOptions {
  /** The first un-jittered delay. Default 200 millis. */
  readonly base?: Duration.DurationInput
  /** The growth factor of the un-jittered delay. Default 2. */
  readonly factor?: number
  /** No delay is ever longer than this. Default 30 seconds. */
  readonly cap?: Duration.DurationInput
  /** Default `"full"`. */
  readonly jitter?: Jitter
  /**
   * Attempts in all, counting the first call (as Resilience4j and gRPC do):
   * 3 means at most 2 retries. Default 3; `Infinity` retries forever.
   */
  readonly maxAttempts?: number
}

/**
 * How to read a server's requested delay from a failure.
 *
 * @example
 * import { Duration, Effect, Option } from "effect"
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * class RateLimited {
 *   readonly _tag = "RateLimited"
 *   constructor(readonly retryAfterSeconds?: number) {}
 * }
 * declare const call: Effect.Effect<string, RateLimited>
 *
 * // wait as the server asks, unless it asks for more than 20 seconds
 * const retryAfter: Backoff.RetryAfterOptions<RateLimited> = {
 *   retryAfter: (e) => Option.map(Option.fromNullable(e.retryAfterSeconds), Duration.seconds),
 *   cap: "20 seconds"
 * }
 * const program = Effect.retry(call, Backoff.schedule({ maxAttempts: 4 }).pipe(Backoff.withRetryAfter(retryAfter)))
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryAfterOptions<E> {
  /** The delay the failure asks for (Retry-After, retry-after-ms), if any. */
  readonly retryAfter: (error: E) => Option.Option<Duration.Duration>
  /** A Retry-After longer than this stops the schedule: fail over instead of waiting. */
  readonly cap: Duration.DurationInput
}

/**
 * Computes one delay, purely.
 *
 * - `retryIndex`: 0 for the first retry, 1 for the second, ...
 * - `previousDelay`: the delay before the previous retry (only
 *   `decorrelated` reads it; pass `base` for the first retry; anything below
 *   `base` counts as `base`).
 * - `u`: a uniform random number in [0, 1).
 *
 * @example
 * import { Duration } from "effect"
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * const options = { base: "100 millis", cap: "1 second", jitter: "equal" } as const
 * Duration.toMillis(Backoff.delay(options, 2, Duration.zero, 0.5)) // 400 / 2 + 0.5 * 200 = 300
 *
 * @throws RangeError when the options are invalid (see {@link schedule}).
 * @since 0.1.0
 * @category delays
 */
export const delay = (
  options: BackoffOptions,
  retryIndex: number,
  previousDelay: Duration.DurationInput,
  u: number
): Duration.Duration =>
  Duration.millis(internal.delayMillis(internal.resolve(options), retryIndex, Duration.toMillis(previousDelay), u))

/**
 * The backoff as a `Schedule`: it recurs exactly `maxAttempts - 1` times,
 * sleeps one jittered delay before each recurrence and outputs that delay.
 * Randomness comes from Effect's `Random` service, so
 * `Effect.withRandom(Random.make(seed))` makes it deterministic.
 *
 * @example
 * import { Effect } from "effect"
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * const flaky: Effect.Effect<string, Error> = Effect.fail(new Error("boom"))
 * // 1 call + up to 4 retries, after ~100ms, ~200ms, ~400ms, ~800ms (full jitter)
 * const program = Effect.retry(flaky, Backoff.schedule({ base: "100 millis", maxAttempts: 5 }))
 *
 * @throws RangeError on a negative or non-finite base, a negative cap, a factor <= 0, an unknown jitter,
 * or a `maxAttempts` that is not a whole number >= 1 (or `Infinity`).
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (options?: BackoffOptions): Schedule.Schedule<Duration.Duration, unknown> =>
  internal.schedule(internal.resolve(options))

/**
 * Honours a server's Retry-After on a delay schedule over errors: when the
 * failure carries a delay, the schedule sleeps `max(computed, retryAfter)`
 * and outputs that; when that delay is above `cap`, the schedule stops at
 * once so the caller fails over instead of sleeping. A schedule that is
 * already done stays done.
 *
 * @example
 * import { Duration, Effect, Option } from "effect"
 * import { Backoff } from "effect-llm-failover/resilience"
 *
 * class Busy { constructor(readonly retryAfter?: Duration.Duration) {} }
 *
 * const policy = Backoff.schedule({ maxAttempts: 4 }).pipe(
 *   Backoff.withRetryAfter({
 *     retryAfter: (e: Busy) => Option.fromNullable(e.retryAfter),
 *     cap: "10 seconds"
 *   })
 * )
 * const program = Effect.retry(Effect.fail(new Busy(Duration.seconds(2))), policy)
 *
 * @since 0.1.0
 * @category schedules
 */
export const withRetryAfter: {
  <E>(
    options: RetryAfterOptions<E>
  ): <R>(self: Schedule.Schedule<Duration.Duration, E, R>) => Schedule.Schedule<Duration.Duration, E, R>
  <E, R>(
    self: Schedule.Schedule<Duration.Duration, E, R>,
    options: RetryAfterOptions<E>
  ): Schedule.Schedule<Duration.Duration, E, R>
} = dual(2, internal.withRetryAfter)
