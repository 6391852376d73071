/**
 * A half-open breaker's probe that the router starts and then abandons (the
 * caller goes away, the request's deadline passes, a hedge beats it) must
 * give its probe slot back: the breaker must not stay half-open with no
 * slot free, refusing every request.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Stream, TestClock } from "effect"
import { Chat } from "../../src/llm/index.js"
import * as Router from "../../src/router/Router.js"
import { settler, sim, succeeded } from "../support/virtual.js"

const settle = settler("5 minutes")

/** "a" fails for its first 2 s, hangs from 2 s to 40 s, then answers; "b" always answers. */
const setup = (policy: Record<string, unknown> = {}, chain: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const a = yield* sim("a", {
      faults: [{ to: "2 seconds", status: 500 }, { from: "2 seconds", to: "40 seconds", latency: Duration.infinity }]
    })
    const b = yield* sim("b")
    const router = yield* Router.make({
      targets: { a: { model: a }, b: { model: b } },
      chains: { default: { targets: ["a", "b"], ...chain } },
      policy: {
        retry: { maxAttempts: 1 },
        breaker: { consecutiveFailures: 1, openDuration: { base: "5 seconds" }, probeWhenAllOpen: false },
        ...policy
      }
    } as Router.Config)
    // trips a's breaker: open for 5 s
    expect(succeeded(yield* settle(router.complete(Chat.prompt("trip")), "1 second")).meta.target).toBe("b")
    expect((yield* router.breaker("a")!.snapshot).state).toBe("open")
    yield* TestClock.adjust("6 seconds")
    return router
  })

/** After the abandoned probe, once "a" answers again, a request probes it and closes its breaker. */
const recovers = (router: Router.Service) =>
  Effect.gen(function* () {
    const snapshot = yield* router.breaker("a")!.snapshot
    expect(snapshot.probesInFlight).toBe(0)
    yield* TestClock.adjust("40 seconds")
    const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("again")), "1 second"))
    expect(meta.target).toBe("a")
    expect((yield* router.breaker("a")!.snapshot).state).toBe("closed")
  })

describe("Router: an abandoned half-open probe gives its slot back", () => {
  it.scoped("a completion whose caller goes away", () =>
    Effect.gen(function* () {
      const router = yield* setup()
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("probe")))
      yield* TestClock.adjust("1 second")
      expect((yield* router.breaker("a")!.snapshot).probesInFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      yield* recovers(router)
    }))

  it.scoped("a completion cut by its attempt timeout, then by the request's deadline", () =>
    Effect.gen(function* () {
      const router = yield* setup({ timeouts: { attempt: "2 seconds", total: "3 seconds" } })
      const exit = yield* settle(router.complete(Chat.prompt("probe")), "10 seconds")
      // the timed-out probe is a failure: the breaker opens again, with no probe left in flight
      expect(succeeded(exit).meta.target).toBe("b")
      yield* recovers(router)
    }))

  it.scoped("a stream whose caller goes away before its first token", () =>
    Effect.gen(function* () {
      const router = yield* setup()
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("probe")), (started) => Stream.runDrain(started.chunks)))
      )
      yield* TestClock.adjust("1 second")
      expect((yield* router.breaker("a")!.snapshot).probesInFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      yield* recovers(router)
    }))

  it.scoped("a probe that loses its hedge", () =>
    Effect.gen(function* () {
      const router = yield* setup({}, { hedge: { delay: "500 millis" } })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("probe")), "5 seconds"))
      expect(meta.target).toBe("b")
      const snapshot = yield* router.breaker("a")!.snapshot
      // lost after running longer than the hedge delay: counted as slow (a failed probe opens it again) or freed
      expect(snapshot.probesInFlight).toBe(0)
      yield* recovers(router)
    }))
})
