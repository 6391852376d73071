/**
 * A stream is timed by its wait for the first content, wherever the router
 * judges a target by time: the breaker's slow-call rule, the health window
 * (a p95 hedge's delay, the latency strategy, `degradedLatency`). The rest
 * of a stream is the model writing at its own pace: a long answer is not a
 * slow target.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { Chat } from "../src/llm/index.js"
import * as Router from "../src/router/Router.js"
import { sim } from "./support/virtual.js"

const drain = (router: Router.Service, prompt: string) =>
  Effect.scoped(Effect.flatMap(router.stream(Chat.prompt(prompt)), (s) => Effect.as(Stream.runDrain(s.chunks), s.meta.target)))

describe("a stream's time is its wait for the first content", () => {
  it.scoped("five healthy 90-second streams under the default slow-call rule (60 s) leave the breaker closed and the target healthy", () =>
    Effect.gen(function* () {
      // first content after 100 ms, then 90 tokens a second apart: a 90 s answer, every token on time
      const writer = yield* sim("writer", { latency: "100 millis", tokenDelay: "1 second", outputTokens: 90 })
      const backup = yield* sim("backup")
      const router = yield* Router.make({
        targets: { writer: { model: writer }, backup: { model: backup } },
        chains: { default: ["writer", "backup"] },
        policy: { timeouts: { total: "10 minutes" } },
        health: { degradedLatency: "5 seconds", minimumCalls: 5 },
        cache: false
      })
      const fibers = []
      for (let i = 0; i < 5; i++) fibers.push(yield* Effect.fork(drain(router, `essay ${i}`)))
      yield* TestClock.adjust("95 seconds")
      for (const fiber of fibers) expect(yield* Fiber.join(fiber)).toBe("writer")
      const status = (yield* router.status).find((s) => s.name === "writer")!
      expect({ state: status.breaker.state, slowCallRate: status.breaker.slowCallRate }).toEqual({ state: "closed", slowCallRate: 0 })
      // the health window's latency is the 100 ms wait, so the target is not degraded by its answers' length
      const p95 = Option.getOrThrow(Option.map(status.health.latency, (q) => Duration.toMillis(q.p95)))
      expect(p95).toBeGreaterThan(95) // the window's quantiles are approximate
      expect(p95).toBeLessThan(105)
      expect(status.health.degraded).toBe(false)
      const next = yield* Effect.fork(drain(router, "the next one"))
      yield* TestClock.adjust("95 seconds")
      expect(yield* Fiber.join(next)).toBe("writer")
    })
  )

  it.scoped("a stream whose first content takes past the slow-call threshold is slow: its breaker opens", () =>
    Effect.gen(function* () {
      const sluggish = yield* sim("sluggish", { latency: "70 seconds", outputTokens: 5 })
      const backup = yield* sim("backup")
      const router = yield* Router.make({
        targets: { sluggish: { model: sluggish }, backup: { model: backup } },
        chains: { default: ["sluggish", "backup"] },
        policy: { timeouts: { total: "10 minutes", attempt: "5 minutes", firstToken: "2 minutes" } },
        cache: false
      })
      const fibers = []
      for (let i = 0; i < 5; i++) fibers.push(yield* Effect.fork(drain(router, `q ${i}`)))
      yield* TestClock.adjust("75 seconds")
      for (const fiber of fibers) expect(yield* Fiber.join(fiber)).toBe("sluggish")
      expect((yield* router.breaker("sluggish")!.snapshot).state).toBe("open")
    })
  )

  it.scoped("a stream's p95 hedge fires at the primary's p95 wait for its first content, not at the p95 of its whole streams", () =>
    Effect.gen(function* () {
      // 100 ms to the first content, then 50 tokens 40 ms apart (about 2.1 s a stream); from 40 s on, 20 s to the first
      const primary = yield* sim("primary", {
        latency: "100 millis",
        tokenDelay: "40 millis",
        outputTokens: 50,
        faults: [{ from: "40 seconds", latency: "20 seconds" }]
      })
      const backup = yield* sim("backup", { latency: "100 millis" })
      const router = yield* Router.make({
        targets: { primary: { model: primary }, backup: { model: backup } },
        chains: { default: { targets: ["primary", "backup"], hedge: { delay: "p95" } } },
        cache: false
      })
      for (let i = 0; i < 10; i++) {
        const fiber = yield* Effect.fork(drain(router, `warm ${i}`))
        yield* TestClock.adjust("3 seconds")
        expect(yield* Fiber.join(fiber)).toBe("primary")
      }
      yield* TestClock.adjust("10 seconds")
      const start = yield* TestClock.currentTimeMillis
      const fiber = yield* Effect.fork(
        Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("now slow")), (s) =>
            Effect.map(TestClock.currentTimeMillis, (at) => ({ target: s.meta.target, after: at - start }))
          )
        )
      )
      yield* TestClock.adjust("30 seconds")
      // hedged after the primary's 100 ms p95 and answered 100 ms later (about 2.2 s when the whole streams were read)
      const { target, after } = yield* Fiber.join(fiber)
      expect(target).toBe("backup")
      expect(after).toBeGreaterThan(190) // the p95 is approximate
      expect(after).toBeLessThan(210)
    })
  )
})
