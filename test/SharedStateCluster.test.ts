/**
 * Shared state on a Redis Cluster: every script and multi-key command of a
 * sync must touch keys of one slot, or the cluster refuses it (`CROSSSLOT`).
 * The server is a one-node cluster holding every slot (started here on a
 * free 127.0.0.1 port), which refuses cross-slot commands as a real cluster
 * does while a plain client can still reach every key. Then a cluster of
 * three nodes, each holding a third of the slots, reached with `cluster:
 * true` (ioredis's cluster client). Real clock, bounded polling waits, as in
 * the other shared-state tests.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, type Scope } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import { clusterPrefix } from "../src/state/internal/sync.js"
import * as Redis from "../src/state/Redis.js"
import * as SharedState from "../src/state/SharedState.js"
import { eventually, startRedis, startRedisCluster, type TestRedis, type TestRedisCluster, unavailable } from "./support/redis.js"

/** A connection of its own (as another machine's), and an instance's shared state over it, syncing every 50 ms. */
const connect = (options: Redis.Options) => Layer.build(Layer.fresh(Redis.layer(options)))
const instanceOn = (options: Redis.Options) => (namespace: string, name: string): Effect.Effect<SharedState.Service, never, Scope.Scope> =>
  Effect.flatMap(connect(options), (connection) =>
    SharedState.make({ namespace, instance: name, syncInterval: "50 millis" }).pipe(Effect.provide(connection)))

/** An instance's breakers `gpt` and `claude`: their keys hash to different slots, and every sync reads both. */
const breakers = (shared: SharedState.Service) =>
  Effect.all([CircuitBreaker.make({ name: "gpt", store: shared.breakers }), CircuitBreaker.make({ name: "claude", store: shared.breakers })])

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

  const instance = (namespace: string, name: string) => instanceOn({ url: redis.url })(namespace, name)

  const slot = (key: string) => Effect.promise(() => redis.command("CLUSTER", "KEYSLOT", key))

  it.scopedLive("a retry budget's two keys share a slot, and no command of a sync is refused", () =>
    Effect.gen(function*() {
      const ns = `cluster-${process.pid}-${++namespaces}`
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      // two breakers each (see `breakers`)
      const [gptA, claudeA] = yield* breakers(a)
      const [gptB, claudeB] = yield* breakers(b)
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

describe("clusterPrefix", () => {
  it("puts the namespace in one hash tag, unless it holds one already", () => {
    expect(clusterPrefix("llm-failover")).toBe("{llm-failover}")
    expect(clusterPrefix("{checkout}")).toBe("{checkout}")
    expect(clusterPrefix("eu:{checkout}:v2")).toBe("eu:{checkout}:v2")
    // braces that make no tag as Redis reads them (nothing inside, or no closing one) are encoded, so the tag holds
    expect(clusterPrefix("a{}b")).toBe("{a%7B%7Db}")
    expect(clusterPrefix("}x{")).toBe("{%7Dx%7B}")
  })
})

describe.skipIf(unavailable !== undefined)("SharedState on a Redis Cluster of three nodes", () => {
  let cluster: TestRedisCluster
  let namespaces = 0
  beforeAll(async () => {
    cluster = await startRedisCluster(3)
  }, 30_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const instance = (namespace: string, name: string) => instanceOn({ url: cluster.url, cluster: true })(namespace, name)
  const slot = (key: string) => Effect.promise(() => cluster.nodes[0]!.command("CLUSTER", "KEYSLOT", key).then(Number))
  /** The node holding `key`'s slot. */
  const ownerOf = (key: string) => Effect.map(slot(key), (at) => Math.floor(at / Math.ceil(16_384 / 3)))

  it.scopedLive("the cluster client sends each command to the node holding its key, from one node's URL", () =>
    Effect.gen(function*() {
      const { cluster: isCluster, use } = Context.get(yield* connect({ url: cluster.url, cluster: true }), Redis.Redis)
      expect(isCluster).toBe(true)
      const keys = [`spread-${process.pid}-a`, `spread-${process.pid}-b`, `spread-${process.pid}-c`, `spread-${process.pid}-d`]
      const owners = new Set(yield* Effect.forEach(keys, ownerOf))
      expect(owners.size).toBeGreaterThan(1)
      yield* eventually(Effect.map(use("ping", (r) => r.ping()).pipe(Effect.either), (e) => e._tag === "Right"), 3_000)
      for (const key of keys) yield* use("set", (r) => r.set(key, key, "PX", 10_000))
      expect(yield* Effect.forEach(keys, (key) => use("get", (r) => r.get(key)))).toEqual(keys)
      // each is held by its own node only: another node answers MOVED
      for (const key of keys) {
        const owner = yield* ownerOf(key)
        expect(yield* Effect.promise(() => cluster.nodes[owner]!.command("GET", key))).toBe(key)
        const other = cluster.nodes[(owner + 1) % 3]!
        expect(yield* Effect.promise(() => other.command("GET", key))).toMatch(/^MOVED /)
      }
    }), 10_000)

  it.scopedLive("breakers, rate limits and a retry budget cross between instances, every key in the namespace's slot", () =>
    Effect.gen(function*() {
      const ns = `cluster3-${process.pid}-${++namespaces}`
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const [gptA, claudeA] = yield* breakers(a)
      const [gptB, claudeB] = yield* breakers(b)
      const budgetA = yield* RetryBudget.make({ name: "gpt", store: a.budgets })
      const budgetB = yield* RetryBudget.make({ name: "gpt", store: b.budgets })
      const limitA = yield* RateLimit.make({ name: "gpt", rpm: 1_000, store: a.limits })
      const limitB = yield* RateLimit.make({ name: "gpt", rpm: 1_000, store: b.limits })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected && x.syncs > 2 && y.syncs > 2), 5_000)

      yield* Effect.repeatN(budgetA.recordFailure, 5)
      yield* eventually(Effect.map(budgetB.tokens, (tokens) => tokens === 4), 2_000)
      for (let i = 0; i < 3; i++) yield* limitA.tryAcquire(0)
      yield* eventually(Effect.map(limitB.usage, (usage) => usage.requests === 3), 2_000)
      yield* claudeA.isolate
      yield* gptA.forceOpen("1 minute")
      yield* eventually(Effect.map(Effect.all([claudeB.snapshot, gptB.snapshot]), ([c, g]) => c.state === "isolated" && g.state === "open"))

      // all of them in the slot of the namespace's tag, on one node, where a pipeline can reach them together
      const tagged = `{${ns}}`
      const at = yield* slot(tagged)
      for (const key of [`${tagged}:breaker:gpt`, `${tagged}:breaker:claude`, `${tagged}:budget:{gpt}`, `${tagged}:instances`, `${tagged}:marker`]) {
        expect(yield* slot(key)).toBe(at)
      }
      const owner = cluster.nodes[yield* ownerOf(tagged)]!
      expect(JSON.parse(yield* Effect.promise(() => owner.command("GET", `${tagged}:breaker:claude`)))).toMatchObject({ to: "isolated" })
      expect(yield* Effect.promise(() => owner.command("GET", `${tagged}:budget:{gpt}`))).toBe("4000")
      const before = (yield* b.status).syncs
      yield* eventually(Effect.map(b.status, (s) => s.syncs >= before + 25), 3_000)
      expect({ a: (yield* a.status).rejected, b: (yield* b.status).rejected }).toEqual({ a: 0, b: 0 })
    }), 15_000)

  it.effect("a cluster's URL naming a database is refused without quoting the URL", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Redis.make({ url: "redis://:hunter2@127.0.0.1:6379/2", cluster: true })))
      expect(Exit.isFailure(exit)).toBe(true)
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      expect(message).toContain("a Redis Cluster has database 0 only")
      expect(message).not.toContain("hunter2")
    }))
})

describe.skipIf(unavailable !== undefined)("SharedState through a Redis Cluster's failover", () => {
  let cluster: TestRedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster(3, { replicas: true })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it.scopedLive("when the master holding the namespace's slot dies, its replica takes over and the instances follow it", () =>
    Effect.gen(function*() {
      const ns = `failover-${process.pid}`
      const instance = (name: string) => instanceOn({ url: cluster.url, cluster: true })(ns, name)
      const a = yield* instance("a")
      const b = yield* instance("b")
      const gptA = yield* CircuitBreaker.make({ name: "gpt", store: a.breakers })
      const gptB = yield* CircuitBreaker.make({ name: "gpt", store: b.breakers })
      const claudeA = yield* CircuitBreaker.make({ name: "claude", store: a.breakers })
      const claudeB = yield* CircuitBreaker.make({ name: "claude", store: b.breakers })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected && x.syncs > 2 && y.syncs > 2), 5_000)
      yield* gptA.forceOpen("1 minute")
      yield* eventually(Effect.map(gptB.snapshot, (s) => s.state === "open"))

      const at = Number(yield* Effect.promise(() => cluster.nodes[0]!.command("CLUSTER", "KEYSLOT", `{${ns}}`)))
      const owner = Math.floor(at / Math.ceil(16_384 / 3))
      yield* Effect.promise(() => cluster.nodes[owner]!.stop())
      const replica = cluster.replicas[owner]!
      yield* eventually(Effect.promise(() => replica.command("INFO", "replication").then((info) => info.includes("role:master"))), 10_000)

      // a transition after the failover reaches the other instance through the new master
      yield* claudeA.isolate
      yield* eventually(Effect.map(claudeB.snapshot, (s) => s.state === "isolated"), 10_000)
      // the key too (the message may cross first, by another node, while the write is refused and sent again with the next sync)
      yield* eventually(Effect.promise(() => replica.command("GET", `{${ns}}:breaker:claude`).then((held) => held.includes('"isolated"'))), 5_000)
      // and both sync again (one may have met the dead master last: a sync that failed, retried at the next interval)
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected), 5_000)
    }), 30_000)
})
