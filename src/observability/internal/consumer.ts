/**
 * Background consumers of queues that can say when they have
 * caught up.
 *
 * A consumer whose handler never waits (metrics, logs and counters are all
 * synchronous effects) is suspended only while its source is empty. So a
 * consumer fiber that is not running has handled everything offered to its
 * source before the check, and one that has suspended once has subscribed.
 *
 * @internal
 */
import { Effect, Fiber, Queue } from "effect"
import type { Scope } from "effect"

/** Waits until the fiber is suspended (waiting on an empty source) or done. @internal */
export const awaitIdle = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<void> =>
  Effect.yieldNow().pipe(
    Effect.zipRight(fiber.status),
    Effect.repeat({ until: (status) => status._tag !== "Running" }),
    Effect.asVoid
  )

/** Forks a consumer of the queue into the scope. @internal */
export const forkQueue = <A>(
  queue: Queue.Dequeue<A>,
  handle: (item: A) => Effect.Effect<void>
): Effect.Effect<Fiber.RuntimeFiber<never>, never, Scope.Scope> =>
  Effect.tap(Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), handle))), awaitIdle)
