/**
 * Helpers for tests that drive the router over simulated providers in
 * virtual time.
 */
import { Cause, Chunk, Effect, Exit, Fiber, Option, TestClock } from "effect"
import type { Duration } from "effect"
import * as Simulated from "../../src/providers/Simulated.js"

/** A simulated target named `name`: 100 ms to answer, 10 ms a streamed token. */
export const sim = (name: string, options: Partial<Simulated.Options> = {}) =>
  Simulated.make({ provider: name, model: `${name}-model`, latency: "100 millis", tokenDelay: "10 millis", ...options })

/** `settle(effect, by)`: forks the effect, moves virtual time on by `by` (default `defaultBy`), returns its exit. */
export const settler =
  (defaultBy: Duration.DurationInput) =>
  <A, E>(effect: Effect.Effect<A, E>, by: Duration.DurationInput = defaultBy) =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(effect)
      yield* TestClock.adjust(by)
      return yield* Fiber.await(fiber)
    })

/** The value of a successful exit; throws on a failure. */
export const succeeded = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${String(exit.cause)}`)
}

/** The typed error of a failed exit; throws on a success or an untyped failure. */
export const failedWith = <A, E>(exit: Exit.Exit<A, E>): E => {
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Chunk.head(Cause.failures(exit.cause))) : undefined
  if (error === undefined) throw new Error(`expected a typed failure, got ${Exit.isSuccess(exit) ? "success" : String(exit.cause)}`)
  return error
}
