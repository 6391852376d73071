/**
 * The simulator's hub, which stands in for Redis between simulated
 * instances, holds the others back during a probe as `SharedState` does:
 * "probing" again every half grace while a probe runs, for up to a minute.
 * Virtual time throughout (TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, TestClock } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as Hub from "../src/simulator/internal/hub.js"

/** Two instances' breakers of one target through a hub; A trips at once, and opens for 10 seconds. */
const twoInstances = Effect.gen(function*() {
  const hub = yield* Hub.make("100 millis")
  const options = { name: "gpt", trip: CircuitBreaker.consecutiveFailures(1), openDuration: { base: Duration.seconds(10) } }
  const a = yield* CircuitBreaker.make({ ...options, store: hub.stores(0).breakers })
  const b = yield* CircuitBreaker.make({ ...options, store: hub.stores(1).breakers })
  yield* Effect.exit(a.protect(Effect.fail("boom")))
  yield* TestClock.adjust("10 millis")
  expect((yield* b.snapshot).state).toBe("open")
  // A's deadline passes: A goes half-open, and admits its probe
  yield* TestClock.adjust("10 seconds")
  const probe = yield* a.acquire
  yield* TestClock.adjust("10 millis")
  return { a, b, probe }
})

/** Whether B admits a call now (and gives the permit back). */
const admitsOnB = (b: CircuitBreaker.CircuitBreaker<unknown>) =>
  Effect.flatMap(Effect.either(b.acquire), (admission) =>
    Either.isLeft(admission) ? Effect.succeed(false) : Effect.as(admission.right.record("ignored"), true))

describe("the simulator's hub", () => {
  it.effect("a probe longer than the grace holds the other instance back until its result arrives", () =>
    Effect.gen(function*() {
      const { b, probe } = yield* twoInstances
      // a probe of 20 seconds: ten graces; B looks every 100 ms
      for (let t = 0; t < 20_000; t += 100) {
        expect(yield* admitsOnB(b)).toBe(false)
        yield* TestClock.adjust("100 millis")
      }
      yield* probe.record("success")
      yield* TestClock.adjust("10 millis")
      expect((yield* b.snapshot).state).toBe("closed")
    }))

  it.effect("a probe that hangs holds the others back for a minute, no longer", () =>
    Effect.gen(function*() {
      const { b } = yield* twoInstances
      yield* TestClock.adjust("59 seconds")
      expect(yield* admitsOnB(b)).toBe(false)
      // the last "probing" went out within the minute: it holds for one grace more, then B probes itself
      yield* TestClock.adjust("3 seconds")
      expect((yield* b.snapshot).state).toBe("half-open")
      expect(yield* admitsOnB(b)).toBe(true)
    }))

  it.effect("a breaker transition does not wait for load.propagation: it arrives after a round trip (2 ms), as SharedState publishes it", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make("5 seconds")
      const options = { name: "gpt", trip: CircuitBreaker.consecutiveFailures(1), openDuration: { base: Duration.seconds(10) } }
      const a = yield* CircuitBreaker.make({ ...options, store: hub.stores(0).breakers })
      const b = yield* CircuitBreaker.make({ ...options, store: hub.stores(1).breakers })
      yield* Effect.exit(a.protect(Effect.fail("boom")))
      yield* TestClock.adjust("1 millis")
      expect((yield* b.snapshot).state).toBe("closed")
      yield* TestClock.adjust("1 millis")
      expect((yield* b.snapshot).state).toBe("open")
    }))
})
