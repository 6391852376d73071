/**
 * Shared state when Redis or a peer misbehaves: a stalled server, an outage,
 * a lost subscription, a restart that forgets everything, a hostile message.
 * Each test starts its own instances against a private `redis-server` on a
 * free 127.0.0.1 port; they run on the real clock (Redis forces it), and each
 * wait is bounded and polls.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, type Scope } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as Redis from "../src/state/Redis.js"
import * as SharedState from "../src/state/SharedState.js"
import { startRedis, type TestRedis, unavailable } from "./support/redis.js"

if (unavailable !== undefined) console.warn(`[SharedStateFaults.test] skipped: ${unavailable}`)

/** Polls `check` every 10 ms until it holds, for at most `within` ms. */
const eventually = (check: Effect.Effect<boolean>, within = 2_000) =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!(yield* check)) {
      if (Date.now() - start > within) return yield* Effect.dieMessage(`condition not met within ${within} ms`)
      yield* Effect.sleep("10 millis")
    }
  })

describe.skipIf(unavailable !== undefined)("SharedState when things go wrong", () => {
  let redis: TestRedis
  let namespaces = 0
  beforeAll(async () => {
    redis = await startRedis()
  }, 10_000)
  afterAll(async () => {
    await redis?.stop()
  })

  const freshNamespace = () => `faults-${process.pid}-${++namespaces}`

  /** One instance: its own connection, the shared namespace of the test. */
  const instance = (namespace: string, name: string): Effect.Effect<SharedState.Service, never, Scope.Scope> =>
    Effect.gen(function*() {
      const connection = yield* Layer.build(Layer.fresh(Redis.layer({ url: redis.url })))
      return yield* SharedState.make({ namespace, instance: name, syncInterval: "50 millis" }).pipe(Effect.provide(connection))
    })

  const synced = (...instances: ReadonlyArray<SharedState.Service>) =>
    eventually(Effect.map(Effect.all(instances.map((i) => i.status)), (all) => all.every((s) => s.connected && s.syncs > 2)))

  it.scopedLive("an outcomes message with a huge count is dropped, and the event loop stays free", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const breaker = yield* CircuitBreaker.make({ name: "gpt", store: a.breakers })
      yield* synced(a)
      const batch = { successes: 0, failures: 0, slowSuccesses: 0, slowFailures: 0, abandoned: 0, successStartedAt: 0 }
      const publish = (failures: number) =>
        Effect.promise(() =>
          redis.command("PUBLISH", `${ns}:events`, JSON.stringify({ from: "x", kind: "outcomes", breakers: { gpt: { ...batch, failures } } }))
        )
      // valid but for its size: a buggy or hostile peer's (counted one by one, it would block for hours)
      yield* publish(1_000_000_000_000)
      const late = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const start = Date.now()
          setTimeout(() => resolve(Date.now() - start), 20)
        })
      )
      expect(late).toBeLessThan(500)
      // a plausible batch after it is counted: the huge one was not
      yield* publish(2)
      yield* eventually(Effect.map(a.status, (s) => s.received === 1))
      expect((yield* breaker.snapshot).consecutiveFailures).toBe(2)
    }))
})
