/**
 * Deadlines for any effect, with `Effect.timeoutFail`'s semantics at a
 * fraction of its cost: the call runs in one forked fiber, and under the live
 * clock one `setTimeout` interrupts it at the deadline (`Effect.timeoutFail`
 * forks two fibers, the call and a sleeping timer, and races them).
 *
 * - The call sees the caller's services, span and `FiberRef`s; on success its
 *   `FiberRef` changes are merged back into the caller, as with
 *   `Effect.timeoutFail`.
 * - At the deadline the call is interrupted and its finalizers have run
 *   before the timeout error is returned, so an HTTP request is aborted
 *   before the caller moves on.
 * - Interrupting the caller interrupts the call, and waits for it.
 * - A call that finishes before the deadline clears the timer at once: no
 *   timer outlives its call.
 * - Time comes from the Effect `Clock`: with `TestClock` (or any clock other
 *   than the live one) the deadline is a `clock.sleep`, so virtual time
 *   drives it exactly as it drives `Effect.timeoutFail`.
 *
 * As with `Effect.timeoutFail`, a call that is uninterruptible when the
 * deadline passes runs to its end, and the result is then the timeout error.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual, type LazyArg } from "effect/Function"
import * as internal from "./internal/timeout.js"

/**
 * Options of {@link timeoutFail}: the same fields as `Effect.timeoutFail`'s.
 *
 * @example
 * ```ts
 * import { Data, Effect } from "effect"
 * import { Timeout } from "effect-llm-failover/resilience"
 *
 * class Deadline extends Data.TaggedError("Deadline")<{ readonly after: string }> {}
 * declare const call: Effect.Effect<string, Error>
 *
 * const options: Timeout.TimeoutOptions<Deadline> = { duration: "30 seconds", onTimeout: () => new Deadline({ after: "30 seconds" }) }
 * const program = call.pipe(Timeout.timeoutFail(options))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TimeoutOptions<E1> {
  /** How long the call may run. `Duration.infinity` (or more than 2^31 - 1 ms) never times out. */
  readonly duration: Duration.DurationInput
  /** The error to fail with at the deadline; called once, at the deadline. */
  readonly onTimeout: LazyArg<E1>
}

/**
 * Fails with `onTimeout()` if the effect has not finished within `duration`;
 * a drop-in replacement for `Effect.timeoutFail` that forks one fiber
 * instead of two.
 *
 * @example
 * ```ts
 * import { Data, Effect } from "effect"
 * import { Timeout } from "effect-llm-failover/resilience"
 *
 * class TooSlow extends Data.TaggedError("TooSlow") {}
 *
 * const withDeadline = Timeout.timeoutFail({ duration: "2 seconds", onTimeout: () => new TooSlow() })
 *
 * declare const call: Effect.Effect<string, Error>
 * const guarded: Effect.Effect<string, Error | TooSlow> = withDeadline(call)
 * const same = Timeout.timeoutFail(call, { duration: "2 seconds", onTimeout: () => new TooSlow() })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeoutFail: {
  <E1>(options: TimeoutOptions<E1>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E1, R>
  <A, E, R, E1>(self: Effect.Effect<A, E, R>, options: TimeoutOptions<E1>): Effect.Effect<A, E | E1, R>
} = dual(
  2,
  <A, E, R, E1>(self: Effect.Effect<A, E, R>, options: TimeoutOptions<E1>): Effect.Effect<A, E | E1, R> =>
    internal.timeoutFail(self, Duration.decode(options.duration), options.onTimeout)
)

/**
 * Fails with a `Cause.TimeoutException` if the effect has not finished
 * within `duration`: `Effect.timeout`'s semantics, with
 * {@link timeoutFail}'s cost.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Timeout } from "effect-llm-failover/resilience"
 *
 * const program = Effect.never.pipe(
 *   Timeout.timeout("1 second"),
 *   Effect.catchTag("TimeoutException", () => Effect.succeed("gave up"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeout: {
  (duration: Duration.DurationInput): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Cause.TimeoutException, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput): Effect.Effect<A, E | Cause.TimeoutException, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput) => {
  const decoded = Duration.decode(duration)
  return internal.timeoutFail(self, decoded, () => timeoutException(decoded))
})

/** The error `Effect.timeout` fails with, with the same message. */
const timeoutException = (duration: Duration.Duration): Cause.TimeoutException =>
  new Cause.TimeoutException(`Operation timed out after '${Duration.format(duration)}'`)
