/**
 * Forks whose failures the forking fiber handles itself: a race's losers
 * and the members of the router's races and hedges. Effect logs every fiber
 * that ends in failure ("Fiber terminated with an unhandled error", cause
 * and stack trace) at its `unhandledErrorLogLevel`, Debug by default,
 * whoever awaits it: under `--log-level debug`, each failed member of a race
 * or a hedge printed one, though the router had handled it. (A deadline's
 * child ends with the call's exit, so it fails only when interrupted, see
 * `timeoutFail`.)
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

const level = FiberRef.unhandledErrorLogLevel

/**
 * Runs `forking` with that log off, so every fiber it forks inherits it
 * off. `forking` gets `asCaller`, which runs a child's own work with the
 * caller's level back: what the child forks of its own (a provider's
 * fibers) logs as it would. The child's end is seen after that work, with
 * the log off again. Nothing is changed when the line would not be written
 * anyway (its level below the minimum, Info unless told otherwise).
 *
 * @internal
 */
export const handled = <A, E, R>(
  forking: (asCaller: <X, Y, Z>(self: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(level), (caller) =>
    Option.isNone(caller)
      ? forking(identity)
      : Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (minimum) =>
        LogLevel.lessThan(caller.value, minimum)
          ? forking(identity)
          : Effect.locally(forking((self) => Effect.locally(self, level, caller)), level, Option.none())))
