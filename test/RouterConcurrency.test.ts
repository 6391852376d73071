import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream, TestClock } from "effect"
import { Chat, ServerError } from "../src/llm/index.js"
import * as Router from "../src/router/Router.js"
import { steppingClock } from "./support/clock.js"
import { sim } from "./support/virtual.js"

describe("Router: concurrency and resources", () => {
  it.scoped("a stream race whose loser had its first content when it lost lets go of its stream at once, not when the winner's ends", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { latency: "100 millis", tokenDelay: "1 second" })
      const b = yield* sim("b", { latency: "100 millis", tokenDelay: "1 second" })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: { targets: ["a", "b"], race: 2 } },
        policy: { retry: { maxAttempts: 1 }, bulkhead: { maxConcurrent: 1, maxQueued: 0 } }
      })
      // a listener whose effect takes a moment (a write to a log store, say): each member's success waits on it
      let waits = 0
      yield* router.listen((event) => (event._tag === "AttemptSucceeded" ? Effect.sleep(`${++waits * 10} millis`) : undefined))
      const fiber = yield* Effect.fork(
        Effect.scoped(
          Effect.gen(function* () {
            const started = yield* router.stream(Chat.prompt("hi"))
            const loser = started.meta.target === "a" ? b : a
            const during = (yield* loser.stats).inFlight
            yield* Stream.runDrain(started.chunks)
            return { during, after: (yield* loser.stats).inFlight, interrupted: (yield* loser.stats).interrupted }
          })
        )
      )
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      expect(result).toEqual({ during: 0, after: 0, interrupted: 1 })
    })
  )
})

describe("Router: shadow calls", () => {
  it.scoped("a shadow call never waits in its target's bulkhead queue: it takes a free slot or is not made", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { latency: "100 millis" })
      const b = yield* sim("b", { latency: "1 second" })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b, policy: { bulkhead: { maxConcurrent: 1, maxQueued: 1 } } } },
        chains: { default: ["a", "b"], direct: ["b"] },
        shadowRate: 1,
        policy: { retry: { maxAttempts: 1 } }
      })
      // served by a at 100 ms, with b's slot free (so a shadow call to b is sent); the caller then asks b itself
      // at once, before the shadow call has started: its request takes b's one slot
      const first = yield* Effect.fork(
        Effect.zipRight(router.complete(Chat.prompt("served")), router.complete(Chat.prompt("direct"), { chain: "direct" }))
      )
      yield* TestClock.adjust("100 millis")
      // another request of b's own, while the first runs: b's one queue place is for it
      const second = yield* Effect.fork(router.complete(Chat.prompt("queued"), { chain: "direct" }))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.await(first))._tag).toBe("Success")
      expect((yield* Fiber.await(second))._tag).toBe("Success")
      // the shadow call found no free slot when it started, and was not made
      expect((yield* b.stats).calls).toBe(2)
    })
  )

  it.scoped("shadow calls keep to their target's rpm: none is sent past it", () =>
    Effect.gen(function* () {
      const a = yield* sim("a")
      const b = yield* sim("b")
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b, rpm: 2 } },
        chains: { default: ["a", "b"] },
        shadowRate: 1
      })
      for (let i = 0; i < 4; i++) {
        const served = yield* Effect.fork(router.complete(Chat.prompt(`q${i}`)))
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(served)).meta.target).toBe("a")
      }
      // b's provider allows 2 requests a minute: the shadow calls of 4 requests in 4 seconds send it 2
      expect((yield* b.stats).calls).toBe(2)
    })
  )
})

describe("Router: listeners", () => {
  it.scoped("a listener added twice, in two scopes, hears every event until its second scope closes too", () =>
    Effect.gen(function* () {
      const a = yield* sim("a")
      const router = yield* Router.make({ targets: { a: { model: a } }, chains: { default: ["a"] } })
      const swappable = yield* Router.swappable(router)
      for (const on of [router, swappable.router]) {
        const heard: Array<string> = []
        const listener = (event: { readonly _tag: string }) => void heard.push(event._tag)
        const first = yield* Scope.make()
        const second = yield* Scope.make()
        yield* Scope.extend(on.listen(listener), first)
        yield* Scope.extend(on.listen(listener), second)
        yield* Scope.close(first, Exit.void)
        const served = yield* Effect.fork(on.complete(Chat.prompt("hi")))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(served)
        expect(heard.filter((tag) => tag === "RequestFinished")).toHaveLength(1)
        yield* Scope.close(second, Exit.void)
      }
    })
  )
})

describe("Router: a wall clock that steps back", () => {
  it.effect("early probes go on, one a second, after the wall clock was put back (NTP, a resumed VM)", () =>
    Effect.gen(function* () {
      // the wall clock and the monotonic one, apart: only the wall clock steps; nothing sleeps but for 0
      const { advance, clock, stepWall } = steppingClock({ sleepsNever: true })
      let down = true
      const base = yield* sim("a", { latency: "0 millis" })
      const model = {
        ...base,
        complete: (request: Chat.ChatRequest) =>
          down ? Effect.fail(new ServerError({ provider: "a", model: "a-model", message: "down" })) : base.complete(request)
      }
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.exit(Effect.withClock(effect, clock))
      const router = yield* Effect.scoped(Effect.gen(function* () {
        const router = yield* Effect.withClock(
          Router.make({
            targets: { a: { model } },
            chains: { default: ["a"] },
            policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "1 hour" } } },
            cache: false
          }),
          clock
        )
        // opens the breaker; two seconds later an early probe fails, which re-opens it
        yield* run(router.complete(Chat.prompt("q1")))
        advance(2_000)
        yield* run(router.complete(Chat.prompt("q2")))
        down = false
        stepWall(-3_600_000)
        advance(2_000)
        // two seconds after the last early probe, by the monotonic clock: this request probes, and is answered
        return (yield* run(router.complete(Chat.prompt("q3"))))._tag
      }))
      expect(router).toBe("Success")
    })
  )
})
