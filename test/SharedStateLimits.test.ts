/**
 * `RateLimit` on the Redis store: a request given back reaches the other
 * instances as a negative count, and a limiter let go (`unregister`) is no
 * longer synced, while one registered since under its name stays. Against
 * a private `redis-server` (skipped where none is installed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, type Scope } from "effect"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as Redis from "../src/state/Redis.js"
import * as SharedState from "../src/state/SharedState.js"
import { eventually, suiteRedis, unavailable } from "./support/redis.js"

describe.skipIf(unavailable !== undefined)("RateLimit on a real Redis", () => {
  const redis = suiteRedis()

  const instance = (name: string): Effect.Effect<SharedState.Service, never, Scope.Scope> =>
    Effect.gen(function*() {
      const connection = yield* Layer.build(Layer.fresh(Redis.layer({ url: redis().url })))
      const shared = yield* SharedState.make({ namespace: `limits-${process.pid}`, instance: name, syncInterval: "50 millis" }).pipe(
        Effect.provide(connection)
      )
      yield* eventually(Effect.map(shared.status, (s) => s.connected))
      return shared
    })

  it.scopedLive("a request given back leaves the other instance's count; a limiter let go is synced no more, its successor is", () =>
    Effect.gen(function*() {
      const a = yield* instance("a")
      const b = yield* instance("b")
      const limitA = yield* RateLimit.make({ name: "gpt", rpm: 100, store: a.limits })
      const limitB = yield* RateLimit.make({ name: "gpt", rpm: 100, store: b.limits })
      const seenByB = (requests: number) =>
        eventually(Effect.map(Effect.zipRight(Effect.all([a.sync, b.sync]), limitB.usage), (usage) => usage.requests === requests), 2_000)
      for (let i = 0; i < 3; i++) yield* limitA.tryAcquire(10)
      yield* seenByB(3)
      yield* limitA.giveBack(10)
      yield* seenByB(2)

      // a reload's new limiter under the same name (it starts afresh: this instance's totals are its own from now on),
      // then the old one let go: the new one stays registered and synced
      const replaced = yield* RateLimit.make({ name: "gpt", rpm: 50, store: a.limits })
      yield* limitA.unregister
      expect((yield* a.status).limits).toBe(1)
      yield* replaced.tryAcquire(0)
      yield* seenByB(1)
      // the old one counts on its own: the others never see it
      yield* limitA.tryAcquire(0)
      yield* Effect.all([a.sync, b.sync, a.sync, b.sync])
      expect((yield* limitB.usage).requests).toBe(1)
      // let go too: none left to sync
      yield* replaced.unregister
      expect((yield* a.status).limits).toBe(0)
    }))
})
