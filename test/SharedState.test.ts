/**
 * Shared state against a real `redis-server` (started here on a free port on
 * 127.0.0.1, so it can be stopped and restarted mid-test). These tests run on
 * the real clock: what they measure is how fast state crosses a real
 * connection between two instances. Each wait is bounded and polls.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Ref, type Scope } from "effect"
import { Chat } from "../src/llm/index.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import * as Router from "../src/router/Router.js"
import * as Redis from "../src/state/Redis.js"
import * as SharedState from "../src/state/SharedState.js"
import { eventually, startRedis, type TestRedis, unavailable } from "./support/redis.js"
import { sim } from "./support/virtual.js"

if (unavailable !== undefined) console.warn(`[SharedState.test] skipped: ${unavailable}`)

describe.skipIf(unavailable !== undefined)(`SharedState on a real Redis${unavailable !== undefined ? ` (skipped: ${unavailable})` : ""}`, () => {
  let redis: TestRedis
  let namespaces = 0
  beforeAll(async () => {
    redis = await startRedis()
  }, 10_000)
  afterAll(async () => {
    await redis?.stop()
  })

  /** One instance: its own connection, the shared namespace of the test. */
  const instance = (namespace: string, name: string): Effect.Effect<SharedState.Service, never, Scope.Scope> =>
    Effect.gen(function*() {
      // built in the test's scope: the connection lives as long as the test
      const connection = yield* Layer.build(Layer.fresh(Redis.layer({ url: redis.url })))
      return yield* SharedState.make({ namespace, instance: name, syncInterval: "50 millis" }).pipe(Effect.provide(connection))
    })

  /** A router over `config` whose breakers, limits, budgets and health are shared in `namespace`, once connected. */
  const sharedRouter = (namespace: string, name: string, config: Router.Config) =>
    Effect.gen(function*() {
      const shared = yield* instance(namespace, name)
      yield* eventually(Effect.map(shared.status, (s) => s.connected))
      return yield* Router.make(config).pipe(Effect.provide(SharedState.context(shared)))
    })

  const freshNamespace = () => `test-${process.pid}-${++namespaces}`

  it.scopedLive("a breaker opened on one instance is open on the other within one second, until its deadline plus the probe grace", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const breakerA = yield* CircuitBreaker.make({ name: "gpt", store: a.breakers, trip: CircuitBreaker.consecutiveFailures(2) })
      const breakerB = yield* CircuitBreaker.make({ name: "gpt", store: b.breakers })
      yield* eventually(Effect.map(b.status, (s) => s.connected))

      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      const openedA = yield* breakerA.snapshot
      expect(openedA.state).toBe("open")
      const took = yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "open"), 1_000)
      expect(took).toBeLessThan(1_000)
      const openB = yield* breakerB.snapshot
      // the opener probes first: the other waits 2 seconds (probeGrace) longer (the time left crosses, plus its transit)
      expect(openB.openUntil! - (openedA.openUntil! + 2_000)).toBeGreaterThanOrEqual(0)
      expect(openB.openUntil! - (openedA.openUntil! + 2_000)).toBeLessThan(200)
      expect(yield* breakerB.isAvailable).toBe(false)

      // a recovery (here a reset) closes it everywhere
      yield* breakerA.reset
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "closed"), 1_000)
    }))

  it.scopedLive("failures on two instances add up to one trip; a probe on one holds the other open", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const options = { name: "claude", trip: CircuitBreaker.consecutiveFailures(3), openDuration: { base: Duration.millis(300) } }
      const breakerA = yield* CircuitBreaker.make({ ...options, store: a.breakers })
      const breakerB = yield* CircuitBreaker.make({ ...options, store: b.breakers })
      yield* eventually(Effect.map(b.status, (s) => s.connected))

      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      // A's two failures reach B within a sync
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.consecutiveFailures === 2), 1_000)
      expect((yield* breakerA.snapshot).consecutiveFailures).toBe(2)
      // so B's first failure is the third: B trips, and A follows
      yield* Effect.exit(breakerB.protect(Effect.fail("boom")))
      expect((yield* breakerB.snapshot).state).toBe("open")
      yield* eventually(Effect.map(breakerA.snapshot, (s) => s.state === "open"), 1_000)

      // B, the opener, probes first: A, held by its grace, hears of the probe and waits longer
      const openA = (yield* breakerA.snapshot).openUntil!
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "half-open"), 1_000)
      const probe = yield* breakerB.acquire
      yield* eventually(Effect.map(breakerA.snapshot, (s) => s.state === "open" && s.openUntil! > openA), 1_000)
      // the probe fails: open again on both
      yield* probe.record("failure")
      expect((yield* breakerB.snapshot).state).toBe("open")
      expect((yield* breakerA.snapshot).state).toBe("open")
    }))

  it.scopedLive("an instance that starts after the opening starts open", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const breakerA = yield* CircuitBreaker.make({ name: "claude", store: a.breakers })
      yield* eventually(Effect.map(a.status, (s) => s.connected))
      yield* breakerA.forceOpen("30 seconds")
      yield* eventually(Effect.promise(() => redis.command("EXISTS", `${ns}:breaker:claude`)).pipe(Effect.map((n) => n === "1")))
      const ttl = Number(yield* Effect.promise(() => redis.command("PTTL", `${ns}:breaker:claude`)))
      // the key outlives the deadline by a second, no more
      expect(ttl).toBeGreaterThan(29_000)
      expect(ttl).toBeLessThanOrEqual(31_000)

      const late = yield* instance(ns, "late")
      const breakerLate = yield* CircuitBreaker.make({ name: "claude", store: late.breakers })
      yield* eventually(Effect.map(breakerLate.snapshot, (s) => s.state === "open"), 1_000)
    }))

  it.scopedLive("a breaker one instance's server held open (forceOpen, a Retry-After) is probed early by none", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const breakerA = yield* CircuitBreaker.make({ name: "gemini", store: a.breakers })
      const breakerB = yield* CircuitBreaker.make({ name: "gemini", store: b.breakers })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected))
      yield* breakerA.forceOpen("30 seconds")
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "open" && s.forcedUntil !== undefined), 1_000)
      expect((yield* Effect.either(breakerB.acquireProbe))._tag).toBe("Left")
      // a plain trip on A is probed early on B as ever
      yield* breakerA.reset
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "closed"), 1_000)
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* Effect.exit(breakerA.protect(Effect.fail("boom")))
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "open"), 1_000)
      expect((yield* breakerB.snapshot).forcedUntil).toBeUndefined()
      yield* (yield* breakerB.acquireProbe).record("success")
    }))

  it.scopedLive("two routers: once one opens the primary's breaker, the other skips the primary", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const config: Router.Config = {
        targets: {
          primary: { model: yield* sim("primary", { latency: "1 millis", faults: [{ status: 503 }] }) },
          backup: { model: yield* sim("backup", { latency: "1 millis" }) }
        },
        chains: { default: ["primary", "backup"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3 } }
      }
      const router = (name: string) => sharedRouter(ns, name, config)
      const a = yield* router("a")
      const b = yield* router("b")
      for (let i = 0; i < 3; i++) {
        const { meta } = yield* a.complete(Chat.prompt("hi"))
        expect(meta.target).toBe("backup")
      }
      expect((yield* a.breaker("primary")!.snapshot).state).toBe("open")
      yield* eventually(Effect.map(b.breaker("primary")!.snapshot, (s) => s.state === "open"), 1_000)
      // B serves from the backup without calling the primary once
      const { meta } = yield* b.complete(Chat.prompt("hi"))
      expect(meta.target).toBe("backup")
      const primary = meta.attempts.filter((attempt) => attempt.target === "primary")
      expect(primary.map((attempt) => attempt.error?._tag === "Rejected" && attempt.error.reason)).toEqual(["circuit-open"])
    }))

  it.scopedLive("two routers: a target's rpm from config holds across both; past it, both fail over to the backup", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const primary = yield* sim("primary", { latency: "1 millis" })
      const config: Router.Config = {
        targets: {
          primary: { model: primary, rpm: 10 },
          backup: { model: yield* sim("backup", { latency: "1 millis" }) }
        },
        chains: { default: ["primary", "backup"] },
        policy: { retry: { maxAttempts: 1 } }
      }
      const router = (name: string) => sharedRouter(ns, name, config)
      const routers = [yield* router("a"), yield* router("b")]
      const served = { primary: 0, backup: 0 }
      // 15 requests each, 20 ms apart: the limit is reached within a few syncs
      for (let i = 0; i < 15; i++) {
        for (const r of routers) served[(yield* r.complete(Chat.prompt(`q${i}`))).meta.target as "primary" | "backup"]++
        yield* Effect.sleep("20 millis")
      }
      // each instance may pass the limit by a request or two before it hears of the other's last ones
      expect((yield* primary.stats).calls).toBe(served.primary)
      expect(served.primary).toBeGreaterThanOrEqual(10)
      expect(served.primary).toBeLessThanOrEqual(13)
      expect(served.backup).toBe(30 - served.primary)
    }))

  it.scopedLive("two routers: health windows hold both instances' calls", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const config: Router.Config = {
        targets: { primary: { model: yield* sim("primary", { latency: "1 millis" }) } },
        chains: { default: ["primary"] }
      }
      const router = (name: string) => sharedRouter(ns, name, config)
      const a = yield* router("a")
      const b = yield* router("b")
      const calls = (r: Router.Service) => Effect.map(r.status, (all) => all.find((s) => s.name === "primary")!.health.calls)
      for (let i = 0; i < 3; i++) yield* a.complete(Chat.prompt(`a${i}`))
      yield* b.complete(Chat.prompt("b"))
      // each sees the other's calls after a sync: 4 on both
      yield* eventually(Effect.map(Effect.all([calls(a), calls(b)]), ([x, y]) => x === 4 && y === 4), 1_000)
    }))

  it.scopedLive("a shared rpm limit holds across two instances within a small tolerance", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const limitA = yield* RateLimit.make({ name: "gpt", rpm: 40, store: a.limits })
      const limitB = yield* RateLimit.make({ name: "gpt", rpm: 40, store: b.limits })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected))
      let admitted = 0
      const firstBucket = Math.floor(Date.now() / 5_000) * 5_000
      // 200 attempts each, 5 ms apart: 1 s of traffic at 400 requests a second in all
      for (let i = 0; i < 200; i++) {
        for (const limiter of [limitA, limitB]) {
          if ((yield* limiter.tryAcquire(0))._tag === "Admitted") admitted++
        }
        yield* Effect.sleep("5 millis")
      }
      // each instance can overshoot by what it admits in one sync interval before seeing the other's counts
      expect(admitted).toBeGreaterThanOrEqual(40)
      expect(admitted).toBeLessThanOrEqual(48)
      yield* Effect.all([a.sync, b.sync])
      const [usageA, usageB] = yield* Effect.all([limitA.usage, limitB.usage])
      expect(usageA.requests).toBe(admitted)
      expect(usageB.requests).toBe(admitted)
      // every rate-limit key expires with its window
      const ttl = Number(yield* Effect.promise(() => redis.command("PTTL", `${ns}:rl:gpt:${firstBucket}`)))
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(70_000)
    }))

  it.scopedLive("a named retry budget is one bucket for every instance", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const a = yield* instance(ns, "a")
      const b = yield* instance(ns, "b")
      const budgetA = yield* RetryBudget.make({ name: "gpt", store: a.budgets })
      const budgetB = yield* RetryBudget.make({ name: "gpt", store: b.budgets })
      yield* Effect.repeatN(budgetA.recordFailure, 5) // 6 failures seen by A alone
      yield* eventually(Effect.map(budgetB.tokens, (tokens) => tokens === 4), 1_000)
      expect(yield* budgetB.tryAcquire).toBe(false)
      const ttl = Number(yield* Effect.promise(() => redis.command("PTTL", `${ns}:budget:{gpt}`)))
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(600_000)
    }))

  it.scopedLive("Redis stopped mid-run: both keep serving on local state, warn once, and resync when it is back", () =>
    Effect.gen(function*() {
      const ns = freshNamespace()
      const logs = yield* Ref.make<Array<string>>([])
      const logger = Logger.make(({ message }) => {
        const text = Array.isArray(message) ? message.join(" ") : String(message)
        if (text.startsWith("shared state")) Effect.runSync(Ref.update(logs, (all) => [...all, text]))
      })
      const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))) as Effect.Effect<A, E, Exclude<R, never>>
      const a = yield* withLogs(instance(ns, "a"))
      const b = yield* withLogs(instance(ns, "b"))
      const breakerA = yield* CircuitBreaker.make({ name: "gemini", store: a.breakers })
      const breakerB = yield* CircuitBreaker.make({ name: "gemini", store: b.breakers })
      const limitA = yield* RateLimit.make({ name: "gemini", rpm: 1_000, store: a.limits })
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected))

      yield* Effect.promise(() => redis.stop())
      yield* eventually(Effect.map(a.status, (s) => !s.connected && s.failures >= 3))
      // still serving: calls go through the breaker, limits count locally
      expect(yield* breakerA.protect(Effect.succeed("served"))).toBe("served")
      expect((yield* limitA.tryAcquire(10))._tag).toBe("Admitted")
      // the opening happens while Redis is down
      yield* breakerA.forceOpen("1 minute")

      yield* Effect.promise(() => redis.start())
      yield* eventually(Effect.map(Effect.all([a.status, b.status]), ([x, y]) => x.connected && y.connected), 5_000)
      // what A did while Redis was down reaches B once it is back
      yield* eventually(Effect.map(breakerB.snapshot, (s) => s.state === "open"), 2_000)
      const warnings = (yield* Ref.get(logs)).filter((line) => line.includes("unreachable"))
      expect(warnings.length).toBe(2) // once per instance, however many syncs failed
      expect((yield* Ref.get(logs)).filter((line) => line.includes("Redis is back")).length).toBe(2)
    }), 20_000)
})
