/**
 * Shared state on a Redis Cluster: every script and multi-key command of a
 * sync must touch keys of one slot, or the cluster refuses it (`CROSSSLOT`).
 * The server is a one-node cluster holding every slot (started here on a
 * free 127.0.0.1 port), which refuses cross-slot commands as a real cluster
 * does while a plain client can still reach every key. Real clock, bounded
 * polling waits, as in the other shared-state tests.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, type Scope } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import * as Redis from "../src/state/Redis.js"
import * as SharedState from "../src/state/SharedState.js"
import { eventually, startRedis, type TestRedis, unavailable } from "./support/redis.js"

if (unavailable !== undefined) console.warn(`[SharedStateCluster.test] skipped: ${unavailable}`)

describe.skipIf(unavailable !== undefined)("SharedState on a Redis Cluster", () => {
  let redis: TestRedis
  let namespaces = 0
  beforeAll(async () => {
    redis = await startRedis({ cluster: true })
  }, 10_000)
  afterAll(async () => {
    await redis?.stop()
  })

  const instance = (namespace: string, name: string): Effect.Effect<SharedState.Service, never, Scope.Scope> =>
    Effect.gen(function*() {
      const connection = yield* Layer.build(Layer.fresh(Redis.layer({ url: redis.url })))
      return yield* SharedState.make({ namespace, instance: name, syncInterval: "50 millis" }).pipe(Effect.provide(connection))
    })

  const slot = (key: string) => Effect.promise(() => redis.command("CLUSTER", "KEYSLOT", key))

  it.scopedLive("a retry budget's two keys share a slot, and no command of a sync is refused", () =>
    Effect.gen(function*() {
      const ns = `cluster-${process.pid}-${++namespaces}`
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      // two breakers each: their keys hash to different slots, and every sync reads both
      const [gptA, claudeA] = [
        yield* CircuitBreaker.make({ name: "gpt", store: a.breakers }),
        yield* CircuitBreaker.make({ name: "claude", store: a.breakers })
      ]
      const [gptB, claudeB] = [
        yield* CircuitBreaker.make({ name: "gpt", store: b.breakers }),
        yield* CircuitBreaker.make({ name: "claude", store: b.breakers })
      ]
      expect(yield* slot(`${ns}:breaker:gpt`)).not.toBe(yield* slot(`${ns}:breaker:claude`))
      const budgetA = yield* RetryBudget.make({ name: "gpt", store: a.budgets })
      const budgetB = yield* RetryBudget.make({ name: "gpt", store: b.budgets })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected && x.syncs > 2 && y.syncs > 2))

      // the budget's script runs: six failures on A reach B as one bucket
      yield* Effect.repeatN(budgetA.recordFailure, 5)
      yield* eventually(Effect.map(budgetB.tokens, (tokens) => tokens === 4), 1_000)
      expect(yield* slot(`${ns}:budget:{gpt}`)).toBe(yield* slot(`${ns}:budget:{gpt}:batches`))
      expect(Number(yield* Effect.promise(() => redis.command("GET", `${ns}:budget:{gpt}`)))).toBe(4_000)

      // breakers cross, and their keys are read (a re-read covers both breakers at once)
      yield* claudeA.isolate
      yield* gptA.forceOpen("1 minute")
      yield* eventually(Effect.map(Effect.all([claudeB.snapshot, gptB.snapshot]), ([c, g]) => c.state === "isolated" && g.state === "open"))
      const before = (yield* b.status).syncs
      yield* eventually(Effect.map(b.status, (s) => s.syncs >= before + 25), 3_000)
      expect({ a: (yield* a.status).rejected, b: (yield* b.status).rejected }).toEqual({ a: 0, b: 0 })
    }), 10_000)
})
