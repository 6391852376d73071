import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Scope, Stream, TestClock } from "effect"
import { Chat } from "../src/llm/index.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Observability from "../src/observability/Observability.js"
import * as carryOver from "../src/router/internal/carryOver.js"
import * as Router from "../src/router/Router.js"
import * as Health from "../src/resilience/Health.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import { settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("5 seconds")

const tripping = { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 2, openDuration: { base: "30 seconds" } } } as const

/** A router whose primary ("sonnet") is down and tripped open, over a healthy "mini". */
const trippedRouter = Effect.gen(function* () {
  const primary = yield* sim("anthropic", { faults: [{ status: 500 }] })
  const secondary = yield* sim("openai")
  const config: Router.Config = {
    targets: { sonnet: { model: primary }, mini: { model: secondary } },
    chains: { default: ["sonnet", "mini"] },
    policy: tripping
  }
  const router = yield* Router.make(config)
  for (let i = 0; i < 2; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`))))
  expect((yield* router.breaker("sonnet")!.snapshot).state).toBe("open")
  return { primary, secondary, config, router }
})

describe("Router.make with a previous router", () => {
  it.scoped("a kept target's open breaker stays open, its health figures stay; a changed one starts fresh", () =>
    Effect.gen(function* () {
      const { config, primary, router } = yield* trippedRouter
      const kept = yield* Router.make(config, { previous: router })
      expect(kept.breaker("sonnet")).toBe(router.breaker("sonnet"))
      expect((yield* kept.breaker("sonnet")!.snapshot).state).toBe("open")
      const health = (yield* kept.status).find((t) => t.name === "sonnet")!.health
      expect(health.calls).toBe(2)
      // requests go straight to the fallback: no call to the dead primary
      const { meta } = succeeded(yield* settle(kept.complete(Chat.prompt("after"))))
      expect(meta.target).toBe("mini")
      expect((yield* primary.stats).calls).toBe(2)

      const changed = yield* Router.make(config, { previous: router, keep: ["mini"] })
      expect((yield* changed.breaker("sonnet")!.snapshot).state).toBe("closed")
      expect((yield* changed.status).find((t) => t.name === "sonnet")!.health.calls).toBe(0)
      expect((yield* changed.status).find((t) => t.name === "mini")!.health.calls).toBeGreaterThan(0)
    })
  )

  it.scoped("a kept target whose breaker policy changed gets a new breaker in the old one's state", () =>
    Effect.gen(function* () {
      const { config, router } = yield* trippedRouter
      const old = yield* router.breaker("sonnet")!.snapshot
      const next = yield* Router.make(
        { ...config, policy: { ...tripping, breaker: { ...tripping.breaker, consecutiveFailures: 4 } } },
        { previous: router }
      )
      expect(next.breaker("sonnet")).not.toBe(router.breaker("sonnet"))
      const snapshot = yield* next.breaker("sonnet")!.snapshot
      expect(snapshot).toMatchObject({ state: "open", openUntil: old.openUntil, trips: old.trips })
    })
  )

  it.scoped("degraded mode's last-known-good answers carry over (the cache options unchanged): a reload in an outage still has them", () =>
    Effect.gen(function* () {
      const first = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } })
      succeeded(yield* settle(first.complete(Chat.prompt("known"))))
      // the provider goes down; the reload (a fallback added, say) comes in the outage
      const down = yield* sim("a", { faults: [{ status: 500 }] })
      const config: Router.Config = { targets: { a: { model: down } }, chains: { default: ["a"] }, policy: { retry: { maxAttempts: 1 } } }
      const next = yield* Router.make(config, { previous: first })
      const { meta } = succeeded(yield* settle(next.complete(Chat.prompt("known"))))
      expect(meta.degraded).toBe("cache")
      // other cache options: a cache of their own
      const other = yield* Router.make({ ...config, cache: { maxEntries: 10 } }, { previous: next })
      expect(Exit.isFailure(yield* settle(other.complete(Chat.prompt("known"))))).toBe(true)
    })
  )

  it.scoped("request ids go on counting across a reload, so the status page's recent fallbacks name each request once", () =>
    Effect.gen(function* () {
      const config: Router.Config = { targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } }
      const first = yield* Router.make(config)
      for (const q of ["one", "two"]) succeeded(yield* settle(first.complete(Chat.prompt(q))))
      const next = yield* Router.make(config, { previous: first })
      const ids: Array<number> = []
      yield* next.listen((event) => {
        if (event._tag === "RequestFinished") ids.push(event.requestId)
      })
      succeeded(yield* settle(next.complete(Chat.prompt("three"))))
      expect(ids).toEqual([3])
    })
  )

  it.effect("health windows split over many reloads stay one level deep: a kept target's samples reach the first windows at once", () =>
    Effect.gen(function* () {
      const first = yield* Health.make<string>()
      let health = first
      // a reload changing "b" each time, "a" kept: 20,000 of them
      for (let i = 0; i < 20_000; i++) health = carryOver.splitHealth(health, yield* Health.make<string>(), new Set(["b"]))
      yield* health.record("a", { success: true, latency: Duration.millis(5) })
      yield* health.record("b", { success: false, latency: Duration.millis(5) })
      expect((yield* first.snapshot("a")).calls).toBe(1)
      expect((yield* first.snapshot("b")).calls).toBe(0)
      const all = yield* health.snapshotAll
      expect([...all.keys()].sort()).toEqual(["a", "b"])
      expect(all.get("b")!.calls).toBe(1)
    })
  )

  it.scoped("a changed target's fresh health takes no sample of the old router's requests still in flight, even with none recorded before", () =>
    Effect.gen(function* () {
      const first = yield* Router.make({ targets: { a: { model: yield* sim("a", { latency: "10 seconds" }) } }, chains: { default: ["a"] } })
      const inFlight = yield* Effect.fork(first.complete(Chat.prompt("slow")))
      yield* TestClock.adjust("1 second")
      const next = yield* Router.make({ targets: { a: { model: yield* sim("elsewhere") } }, chains: { default: ["a"] } }, { previous: first, keep: [] })
      yield* TestClock.adjust("10 seconds")
      succeeded(yield* Fiber.await(inFlight))
      expect((yield* first.status).find((t) => t.name === "a")!.health.calls).toBe(1)
      expect((yield* next.status).find((t) => t.name === "a")!.health.calls).toBe(0)
    })
  )

  it.scoped("without keep, a target of the same name at another provider or model starts fresh", () =>
    Effect.gen(function* () {
      const { config, router } = yield* trippedRouter
      const other = yield* sim("anthropic", { model: "another-model" })
      const next = yield* Router.make({ ...config, targets: { ...config.targets, sonnet: { model: other } } }, { previous: router })
      expect((yield* next.breaker("sonnet")!.snapshot).state).toBe("closed")
      expect(next.breaker("mini")).toBe(router.breaker("mini"))
    })
  )
})

describe("Router.swappable", () => {
  it.scoped("a request in flight finishes on the old router, new ones go to the new; idle waits for the old one's", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "10 seconds" })
      const fast = yield* sim("fast")
      const first = yield* Router.make({ targets: { a: { model: slow } }, chains: { default: ["a"] } })
      const swappable = yield* Router.swappable(first)
      const events: Array<RouterEvent> = []
      yield* swappable.router.listen((event) => void events.push(event))

      const inFlight = yield* Effect.fork(swappable.router.complete(Chat.prompt("long")))
      yield* TestClock.adjust("1 second")
      const scope = yield* Scope.make()
      const second = yield* Router.make({ targets: { b: { model: fast } }, chains: { default: ["b"] } }, { previous: first }).pipe(
        Scope.extend(scope)
      )
      const old = yield* swappable.swap(second).pipe(Scope.extend(scope))
      expect(old).toBe(first)
      expect(swappable.router.targets).toEqual(["b"])

      const idle = yield* Effect.fork(swappable.idle(old))
      const { meta } = succeeded(yield* settle(swappable.router.complete(Chat.prompt("short")), "1 second"))
      expect(meta.target).toBe("b")
      expect(idle.unsafePoll()).toBeNull()

      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(inFlight)
      expect(Exit.isSuccess(exit) && exit.value.meta.target).toBe("a")
      expect(Exit.isSuccess(yield* Fiber.await(idle))).toBe(true)
      // the listener heard both routers
      const finished = events.filter((e) => e._tag === "RequestFinished").map((e) => e.target)
      expect(finished.sort()).toEqual(["a", "b"])
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.scoped("idle returns at once for a router with nothing in flight", () =>
    Effect.gen(function* () {
      const first = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } })
      const swappable = yield* Router.swappable(first)
      const second = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } })
      yield* swappable.swap(second)
      yield* swappable.idle(first)
      expect(swappable.current()).toBe(second)
    })
  )

  it.scoped("idle waits for the requests made through it, not for the router's count of events: one that served before being wrapped, one whose request died", () =>
    Effect.gen(function* () {
      const a = yield* sim("a")
      const first = yield* Router.make({ targets: { a: { model: a } }, chains: { default: ["a"] } })
      // served before the swappable wrapped it: nothing of it is in flight
      succeeded(yield* settle(first.complete(Chat.prompt("before"))))
      const swappable = yield* Router.swappable(first)
      const second = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } })
      yield* swappable.swap(second)
      const idle = yield* Effect.fork(swappable.idle(first))
      yield* TestClock.adjust("1 second")
      expect(idle.unsafePoll()).not.toBeNull()

      // a request whose only provider dies (a defect, which fails the chain as a ProviderDefect) has ended too
      const dying = { info: a.info, complete: () => Effect.die("a bug"), stream: () => Stream.die("a bug") }
      const third = yield* Router.make({ targets: { d: { model: dying } }, chains: { default: ["d"] } })
      yield* swappable.swap(third)
      expect(Exit.isFailure(yield* settle(swappable.router.complete(Chat.prompt("dies"))))).toBe(true)
      const fourth = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } })
      yield* swappable.swap(fourth)
      const idleThird = yield* Effect.fork(swappable.idle(third))
      yield* TestClock.adjust("1 second")
      expect(idleThird.unsafePoll()).not.toBeNull()
    })
  )

  it.scoped("a request made before a swap and run after it runs on the router current when it starts, not on a closed one", () =>
    Effect.gen(function* () {
      const firstScope = yield* Scope.make()
      const first = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } }).pipe(Scope.extend(firstScope))
      const swappable = yield* Router.swappable(first)
      const request = swappable.router.complete(Chat.prompt("made early"))
      const second = yield* Router.make({ targets: { b: { model: yield* sim("b") } }, chains: { default: ["b"] } })
      yield* swappable.swap(second)
      yield* swappable.idle(first)
      yield* Scope.close(firstScope, Exit.void)
      const { meta } = succeeded(yield* settle(request))
      expect(meta.target).toBe("b")
    })
  )

  it.scoped("events go on across a swap: a subscriber hears the new router once the old one is closed", () =>
    Effect.gen(function* () {
      const firstScope = yield* Scope.make()
      const first = yield* Router.make({ targets: { a: { model: yield* sim("a") } }, chains: { default: ["a"] } }).pipe(Scope.extend(firstScope))
      const swappable = yield* Router.swappable(first)
      const heard = yield* Effect.fork(
        Stream.runCollect(Stream.take(Stream.filter(swappable.router.events, (e) => e._tag === "RequestFinished"), 2))
      )
      yield* TestClock.adjust("1 millis")
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("one"))))
      const second = yield* Router.make({ targets: { b: { model: yield* sim("b") } }, chains: { default: ["b"] } })
      yield* swappable.swap(second)
      yield* swappable.idle(first)
      yield* Scope.close(firstScope, Exit.void)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("two"))))
      const events = yield* Fiber.join(heard)
      expect([...events].map((e) => e._tag === "RequestFinished" && e.target)).toEqual(["a", "b"])
    })
  )
})

describe("Observability over a swappable router", () => {
  it.scoped("follows the new router: its targets labelled, its breakers' transitions counted, counters carried on", () =>
    Effect.gen(function* () {
      const first = yield* Router.make({ targets: { "obs-a": { model: yield* sim("obs-prov-a") } }, chains: { "obs-chain": ["obs-a"] } })
      const swappable = yield* Router.swappable(first)
      const observability = yield* Observability.attach(swappable.router)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("one"), { chain: "obs-chain" })))

      const second = yield* Router.make(
        { targets: { "obs-a": { model: yield* sim("obs-prov-a") }, "obs-b": { model: yield* sim("obs-prov-b") } }, chains: { "obs-chain": ["obs-b"] } },
        { previous: first }
      )
      yield* swappable.swap(second)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("two"), { chain: "obs-chain" })))
      yield* observability.flush
      yield* second.breaker("obs-b")!.isolate
      yield* observability.flush
      const text = yield* observability.render
      expect(text).toContain(`llm_requests_total{chain="obs-chain",outcome="success"} 2`)
      expect(text).toContain(`llm_circuit_breaker_state{target="obs-b",provider="obs-prov-b",model="obs-prov-b-model"} 3`)
      expect(text).toContain(`llm_circuit_breaker_transitions_total{target="obs-b",from="closed",to="isolated"} 1`)
      const report = yield* observability.costReport()
      expect(report.byModel.map((line) => `${line.provider}/${line.model}`).sort()).toEqual(["obs-prov-a/obs-prov-a-model", "obs-prov-b/obs-prov-b-model"])
      const status = yield* observability.snapshot
      expect(JSON.stringify(status)).toContain("obs-b")
    })
  )

  it.scoped("stops exporting the breaker gauge of a target a reload removed or gave another model; shows it again when it is back", () =>
    Effect.gen(function* () {
      const gone = yield* sim("obs-prov-gone")
      const kept = yield* sim("obs-prov-kept")
      const other = yield* sim("obs-prov-other")
      const first = yield* Router.make({
        targets: { "obs-gone": { model: gone }, "obs-kept": { model: kept } },
        chains: { "obs-gone-chain": ["obs-gone", "obs-kept"] }
      })
      const swappable = yield* Router.swappable(first)
      const observability = yield* Observability.attach(swappable.router)
      yield* first.breaker("obs-gone")!.isolate
      yield* observability.flush
      const goneSeries = `llm_circuit_breaker_state{target="obs-gone",provider="obs-prov-gone",model="obs-prov-gone-model"}`
      const keptSeries = `llm_circuit_breaker_state{target="obs-kept",provider="obs-prov-kept",model="obs-prov-kept-model"}`
      expect(yield* observability.render).toContain(`${goneSeries} 3`)

      // obs-gone removed; obs-kept now on another provider's model
      const second = yield* Router.make(
        { targets: { "obs-kept": { model: other } }, chains: { "obs-gone-chain": ["obs-kept"] } },
        { previous: first }
      )
      yield* swappable.swap(second)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("after"), { chain: "obs-gone-chain" })))
      yield* observability.flush
      const after = yield* observability.render
      expect(after).not.toContain(goneSeries)
      expect(after).not.toContain(keptSeries)
      expect(after).toContain(`llm_circuit_breaker_state{target="obs-kept",provider="obs-prov-other",model="obs-prov-other-model"} 0`)

      // obs-gone back: its gauge shows its new breaker's state
      const third = yield* Router.make(
        { targets: { "obs-gone": { model: gone }, "obs-kept": { model: other } }, chains: { "obs-gone-chain": ["obs-gone", "obs-kept"] } },
        { previous: second }
      )
      yield* swappable.swap(third)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("back"), { chain: "obs-gone-chain" })))
      yield* observability.flush
      expect(yield* observability.render).toContain(`${goneSeries} 0`)
    })
  )

  it.scoped("a breaker gauge two routers show stays while either shows it: one's reload does not hide the other's", () =>
    Effect.gen(function* () {
      const model = yield* sim("obs-prov-twice")
      const config = { targets: { "obs-twice": { model } }, chains: { "obs-twice-chain": ["obs-twice"] } }
      const other = yield* Router.make(config)
      yield* Observability.attach(other)
      const first = yield* Router.make(config)
      const swappable = yield* Router.swappable(first)
      const observability = yield* Observability.attach(swappable.router)
      const series = `llm_circuit_breaker_state{target="obs-twice",provider="obs-prov-twice",model="obs-prov-twice-model"}`
      const second = yield* Router.make({ targets: { "obs-else": { model } }, chains: { "obs-twice-chain": ["obs-else"] } }, { previous: first })
      yield* swappable.swap(second)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("after"), { chain: "obs-twice-chain" })))
      yield* observability.flush
      expect(yield* observability.render).toContain(`${series} 0`)
    })
  )

  it.scoped("lets go of a breaker no target has any more: its transitions are no longer counted, nor is it held", () =>
    Effect.gen(function* () {
      const model = yield* sim("obs-prov-c")
      const config = (failures: number): Router.Config => ({
        targets: { "obs-c": { model } },
        chains: { "obs-c-chain": ["obs-c"] },
        policy: { breaker: { consecutiveFailures: failures } }
      })
      const first = yield* Router.make(config(3))
      const swappable = yield* Router.swappable(first)
      const observability = yield* Observability.attach(swappable.router)
      // the breaker policy changed: a new breaker for obs-c
      const second = yield* Router.make(config(5), { previous: first })
      expect(second.breaker("obs-c")).not.toBe(first.breaker("obs-c"))
      yield* swappable.swap(second)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("after"), { chain: "obs-c-chain" })))
      yield* observability.flush
      // the old breaker moves: nobody hears it; the new one's move is counted
      yield* first.breaker("obs-c")!.isolate
      yield* second.breaker("obs-c")!.isolate
      yield* observability.flush
      const text = yield* observability.render
      expect(text).toContain(`llm_circuit_breaker_transitions_total{target="obs-c",from="closed",to="isolated"} 1`)
    })
  )

})

describe("Router.make with a previous router: shared rate limiters", () => {
  it.effect("a reload's router lets go of the rate limiters it replaced or dropped once the old router closes, and not of one it took over", () => {
    const live = new Set<RateLimit.Registration>()
    const store: RateLimit.Store = {
      register: (registration) =>
        Effect.sync(() => {
          live.add(registration)
          return { onCount: () => undefined, unregister: Effect.sync(() => void live.delete(registration)) }
        })
    }
    return Effect.gen(function* () {
      const limited = (rpm: { readonly a: number; readonly b?: number }) =>
        Effect.gen(function* () {
          const b = rpm.b === undefined ? {} : { b: { model: yield* sim("b"), rpm: rpm.b } }
          return { targets: { a: { model: yield* sim("a"), rpm: rpm.a }, ...b }, chains: { default: rpm.b === undefined ? ["a"] : ["a", "b"] } }
        })
      const names = () => [...live].map((registration) => registration.name).sort()
      const firstScope = yield* Scope.make()
      const first = yield* Router.make(yield* limited({ a: 10, b: 10 })).pipe(Scope.extend(firstScope))
      expect(names()).toEqual(["a", "b"])
      const aFirst = [...live].find((registration) => registration.name === "a")!
      // the same limits for a: its limiter is taken over; b is gone
      const secondScope = yield* Scope.make()
      const second = yield* Router.make(yield* limited({ a: 10 }), { previous: first }).pipe(Scope.extend(secondScope))
      yield* Scope.close(firstScope, Exit.void)
      expect(names()).toEqual(["a"])
      expect(live.has(aFirst)).toBe(true)
      // new limits for a: a new limiter; the old one goes when the router that held it closes
      const thirdScope = yield* Scope.make()
      yield* Router.make(yield* limited({ a: 20 }), { previous: second }).pipe(Scope.extend(thirdScope))
      expect(names()).toEqual(["a", "a"])
      yield* Scope.close(secondScope, Exit.void)
      expect(names()).toEqual(["a"])
      expect(live.has(aFirst)).toBe(false)
      yield* Scope.close(thirdScope, Exit.void)
      expect(names()).toEqual([])
    }).pipe(Effect.provide(RateLimit.layer(store)))
  })
})
