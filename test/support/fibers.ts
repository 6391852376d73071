/**
 * Waiting on forked fibers in tests without the clock.
 */
import { Effect } from "effect"

/**
 * Lets forked fibers run, one scheduler turn at a time, until `condition`
 * holds; dies after 200 turns, so a bug fails fast instead of hanging.
 */
export const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>, label: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      if (yield* condition) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`condition never held: ${label}`)
  })
