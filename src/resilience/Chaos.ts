/**
 * Fault injection for tests and demos: wrap any effect so that, at given
 * rates, it fails with a chosen error and/or is delayed, driven by a seeded
 * random stream so that every run of a program sees the same faults.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as internal from "./internal/chaos.js"

/**
 * Injected failures: with probability `failureRate` (0..1) an attempt fails
 * with `failWith(attempt)` instead of running the effect (`attempt` counts
 * the runs of the injected effect from 1). Both fields or neither.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "effect-llm-failover/resilience"
 *
 * class Overloaded {
 *   readonly _tag = "Overloaded"
 *   constructor(readonly attempt: number) {}
 * }
 *
 * // one attempt in five fails with a 529-like error
 * const failure: Chaos.ChaosFailure<Overloaded> = { failureRate: 0.2, failWith: (attempt) => new Overloaded(attempt) }
 * const call = Effect.succeed("answer").pipe(Chaos.inject({ seed: "demo", ...failure }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChaosFailure<E2> =
  | { readonly failureRate: number; readonly failWith: (attempt: number) => E2 }
  | { readonly failureRate?: never; readonly failWith?: never }

/**
 * Injected latency: with probability `latencyRate` (0..1) an attempt first
 * sleeps `latency` (on Effect's `Clock`, so `TestClock` controls it). Both
 * fields or neither.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "effect-llm-failover/resilience"
 *
 * // one attempt in ten takes 3 seconds longer: enough to trigger a hedge
 * const latency: Chaos.ChaosLatency = { latencyRate: 0.1, latency: "3 seconds" }
 * const call = Effect.succeed("answer").pipe(Chaos.inject({ seed: 7, ...latency }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChaosLatency =
  | { readonly latencyRate: number; readonly latency: Duration.DurationInput }
  | { readonly latencyRate?: never; readonly latency?: never }

/**
 * Options of {@link inject}: a `seed` for the random stream, plus injected
 * failures, latency, or both.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "effect-llm-failover/resilience"
 *
 * // the same faults for every run of a test, from the test's name
 * const chaosFor = (test: string): Chaos.ChaosOptions<Error> => ({
 *   seed: test,
 *   failureRate: 0.5,
 *   failWith: (attempt) => new Error(`injected failure #${attempt}`)
 * })
 * const call = Effect.succeed("answer").pipe(Chaos.inject(chaosFor("retries twice")))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChaosOptions<E2> = { readonly seed: number | string } & ChaosFailure<E2> & ChaosLatency

/**
 * Wraps an effect with seeded fault injection. Each attempt (run of the
 * returned effect) draws two numbers from the seed's stream: if the first is
 * below `latencyRate` the attempt is delayed by `latency`; then, if the
 * second is below `failureRate`, it fails with `failWith(attempt)` without
 * running the effect. The same seed gives the same faults in the same order.
 *
 * The returned effect owns its stream: running it again continues the
 * sequence (attempt 2, 3, ...). Call `inject` again to start over. A rate
 * outside 0..1 is a defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "effect-llm-failover/resilience"
 *
 * class Flaky {
 *   readonly _tag = "Flaky"
 *   constructor(readonly attempt: number) {}
 * }
 *
 * const call = Effect.succeed("answer").pipe(
 *   Chaos.inject({
 *     seed: 42,
 *     failureRate: 0.3,
 *     failWith: (attempt) => new Flaky(attempt),
 *     latencyRate: 0.1,
 *     latency: "2 seconds"
 *   })
 * ) // Effect<string, Flaky>
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const inject: {
  <E2 = never>(options: ChaosOptions<E2>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2, R>
  <A, E, R, E2 = never>(self: Effect.Effect<A, E, R>, options: ChaosOptions<E2>): Effect.Effect<A, E | E2, R>
} = dual(
  2,
  <A, E, R, E2>(self: Effect.Effect<A, E, R>, options: ChaosOptions<E2>): Effect.Effect<A, E | E2, R> =>
    internal.inject(self, {
      seed: options.seed,
      failureRate: options.failureRate ?? 0,
      failWith: options.failWith,
      latencyRate: options.latencyRate ?? 0,
      latency: options.latency === undefined ? Duration.zero : Duration.decode(options.latency)
    })
)
