/**
 * Child scopes for attempts that hold resources (an open upstream stream, a
 * breaker permit, a bulkhead slot): a failed or interrupted attempt releases
 * them at once; a successful one keeps them, with a `close` to release them
 * as soon as the caller is done (its parent scope closes them at the latest).
 *
 * @internal
 */
import { Effect, ExecutionStrategy, Exit, Scope } from "effect"

/** @internal */
export const inChildScope = <A, E, R>(
  use: (close: Effect.Effect<void>) => Effect.Effect<A, E, R | Scope.Scope>
): Effect.Effect<A, E, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.flatMap(Scope.Scope, (parent) =>
    Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
      Effect.onExit(Scope.extend(use(Scope.close(child, Exit.void)), child), (exit) =>
        Exit.isSuccess(exit) ? Effect.void : Scope.close(child, exit)
      )
    )
  )
