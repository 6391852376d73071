/**
 * Retries an effect with jittered exponential backoff, a server's
 * Retry-After, a predicate for which errors are worth retrying and an
 * optional shared {@link RetryBudget}.
 *
 * On each failure, in order:
 *
 * 1. an error that `while` rejects fails at once and leaves the budget alone
 *    (gRPC A6 counts only retryable failures);
 * 2. the failure is recorded in the budget;
 * 3. after `maxAttempts` calls, or when the error's Retry-After is longer
 *    than `retryAfterCap`, or when the budget says no, the error is returned;
 * 4. otherwise `onRetry` runs, the fiber sleeps
 *    `max(backoff delay, Retry-After)` and calls again.
 *
 * Every success is recorded in the budget. Defects and interruptions are
 * never retried.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Duration, Option } from "effect"
import type { BackoffOptions } from "./Backoff.js"
import * as internal from "./internal/retry.js"
import type { RetryBudget } from "./RetryBudget.js"

/**
 * What `onRetry` is told before each retry.
 *
 * @example
 * import { Duration, Effect } from "effect"
 * import { Retry } from "effect-llm-failover/resilience"
 *
 * declare const call: Effect.Effect<string, Error>
 *
 * const logRetry = (info: Retry.RetryInfo<Error>) =>
 *   Effect.logWarning(`attempt ${info.attempt} failed (${info.error.message}); retrying in ${Duration.format(info.delay)}`)
 * const program = Retry.retry(call, { maxAttempts: 3, onRetry: logRetry })
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryInfo<E> {
  /** The error of the call that just failed. */
  readonly error: E
  /** The 1-based number of the call that failed, which is also this retry's number. */
  readonly attempt: number
  /** How long the fiber will now sleep: `max(backoff delay, Retry-After)`. */
  readonly delay: Duration.Duration
}

/**
 * Retry settings: the {@link BackoffOptions} (`maxAttempts` counts the first
 * call) plus the fields below. Every field is optional.
 *
 * @example
 * import { Data, Effect } from "effect"
 * import { Retry } from "effect-llm-failover/resilience"
 *
 * class HttpError extends Data.TaggedError("HttpError")<{ readonly status: number }> {}
 * declare const call: Effect.Effect<string, HttpError>
 *
 * // retry 429 and 5xx only, up to 5 calls, 250 ms doubling to at most 4 s
 * const options: Retry.RetryOptions<HttpError> = {
 *   base: "250 millis",
 *   cap: "4 seconds",
 *   maxAttempts: 5,
 *   while: (e) => e.status === 429 || e.status >= 500
 * }
 * const program = Retry.retry(call, options)
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions<E> extends BackoffOptions {
  /** Which errors are retried. Default: all. */
  readonly while?: (error: E) => boolean
  /** The delay a failure asks for (Retry-After, retry-after-ms), if any. */
  readonly retryAfter?: (error: E) => Option.Option<Duration.Duration>
  /** A Retry-After longer than this ends the retries at once. Default: `cap`. */
  readonly retryAfterCap?: Duration.DurationInput
  /** A budget shared with other callers; retries happen only while it allows. */
  readonly budget?: RetryBudget
  /** Runs before each retry's sleep, e.g. to log or count it. */
  readonly onRetry?: (info: RetryInfo<E>) => Effect.Effect<void>
}

/**
 * Settings that may differ from one call to the next through the same
 * {@link RetryPolicy}: they replace the policy's own for that call only.
 *
 * @example
 * import { Effect } from "effect"
 * import { Retry } from "effect-llm-failover/resilience"
 *
 * declare const call: (prompt: string) => Effect.Effect<string, Error>
 * const policy = Retry.make<Error>({ maxAttempts: 3 })
 *
 * // the same policy for every request, each logging its retries with its own id
 * const perRequest = (requestId: string): Retry.PerCallOptions<Error> => ({
 *   onRetry: ({ attempt }) => Effect.log(`request ${requestId}: retry ${attempt}`)
 * })
 * const program = policy(call("Hello"), perRequest("req-42"))
 *
 * @since 0.1.0
 * @category models
 */
export interface PerCallOptions<E> {
  /** The budget of this call (e.g. one wrapped to report this request's throttling). */
  readonly budget?: RetryBudget
  /** Runs before each retry's sleep of this call (e.g. to log it with the request's id). */
  readonly onRetry?: (info: RetryInfo<E>) => Effect.Effect<void>
}

/**
 * A retry policy resolved once by {@link make}: apply it to every call. The
 * options were decoded and validated when it was made, so applying it only
 * builds the call's retry loop.
 *
 * @example
 * import { Effect } from "effect"
 * import { Retry } from "effect-llm-failover/resilience"
 *
 * declare const search: (query: string) => Effect.Effect<ReadonlyArray<string>, Error>
 * declare const fetchPage: (url: string) => Effect.Effect<string, Error>
 *
 * // resolved once, applied to every call
 * const policy: Retry.RetryPolicy<Error> = Retry.make<Error>({ base: "100 millis", maxAttempts: 3 })
 * const program = Effect.gen(function*() {
 *   const urls = yield* policy(search("effect"))
 *   return yield* Effect.forEach(urls, (url) => policy(fetchPage(url)))
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy<E> {
  <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>, perCall?: PerCallOptions<E>): Effect.Effect<A, E1, R>
}

/**
 * Resolves retry options once (durations decoded, defaults applied, options
 * validated) into a reusable {@link RetryPolicy}. Prefer it to
 * {@link retry} with options written out at each call when the same policy
 * guards many calls, as a router's per-target policy does: building the
 * policy is the costly part, and it happens here only once.
 *
 * `policy(effect)` behaves exactly as `Retry.retry(effect, options)`;
 * `policy(effect, { budget, onRetry })` replaces those two settings for that
 * call only.
 *
 * @example
 * import { Data, Effect } from "effect"
 * import { Retry, RetryBudget } from "effect-llm-failover/resilience"
 *
 * class Unavailable extends Data.TaggedError("Unavailable") {}
 * declare const call: (prompt: string) => Effect.Effect<string, Unavailable>
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make()
 *   const policy = Retry.make<Unavailable>({ base: "100 millis", maxAttempts: 3, jitter: "decorrelated", budget })
 *   const a = yield* policy(call("first"))
 *   const b = yield* call("second").pipe(policy)
 *   const c = yield* policy(call("third"), { onRetry: ({ attempt }) => Effect.log(`third, retry ${attempt}`) })
 *   return [a, b, c]
 * })
 *
 * @throws RangeError when the backoff options are invalid (see `Backoff.schedule`).
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = unknown>(options?: RetryOptions<E>): RetryPolicy<E> => internal.make(options)

/**
 * Runs an effect up to `maxAttempts` times and returns its first success, or
 * the last error once it gives up. The error type is unchanged.
 *
 * The data-last form, `Retry.retry(options)`, resolves the options once and
 * returns a {@link RetryPolicy}, like {@link make}; the data-first form
 * resolves them at each call.
 *
 * @example
 * import { Data, Duration, Effect, Option } from "effect"
 * import { Retry, RetryBudget } from "effect-llm-failover/resilience"
 *
 * class Unavailable extends Data.TaggedError("Unavailable")<{ retryAfter?: Duration.Duration }> {}
 * class BadInput extends Data.TaggedError("BadInput") {}
 * declare const call: Effect.Effect<string, Unavailable | BadInput>
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make()
 *   return yield* call.pipe(
 *     Retry.retry({
 *       base: "100 millis",
 *       maxAttempts: 4,
 *       jitter: "full",
 *       while: (e) => e._tag === "Unavailable",
 *       retryAfter: (e) => Option.fromNullable(e._tag === "Unavailable" ? e.retryAfter : undefined),
 *       retryAfterCap: "5 seconds",
 *       budget,
 *       onRetry: ({ attempt, delay }) => Effect.log(`retry ${attempt} in ${Duration.format(delay)}`)
 *     })
 *   )
 * })
 *
 * @throws RangeError when the backoff options are invalid (see `Backoff.schedule`).
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <E>(options?: RetryOptions<NoInfer<E>>): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: RetryOptions<NoInfer<E>>): Effect.Effect<A, E, R>
} = (...args: ReadonlyArray<any>): any =>
  // `dual` by hand: its data-last form would resolve the options at every application
  Effect.isEffect(args[0]) ? internal.make(args[1])(args[0]) : internal.make(args[0])
