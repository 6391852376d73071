import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import { handClock, steppingClock } from "./support/clock.js"

/**
 * A breaker opened for 30 s by one failure, 10 s ago, whose host's wall
 * clock was then put back an hour (the monotonic clock was not): 20 s of
 * its open state are left.
 */
const openedThenPutBack = Effect.gen(function*() {
  const { advance, clock, stepWall } = steppingClock()
  const breaker = yield* Effect.withClock(
    CircuitBreaker.make({ name: "llm", trip: CircuitBreaker.consecutiveFailures(1), openDuration: { base: "30 seconds" } }),
    clock
  )
  yield* Effect.exit(breaker.protect(Effect.fail("boom")))
  advance(10_000)
  stepWall(-3_600_000)
  return { advance, breaker }
})

describe("CircuitBreaker: a wall clock that steps back", () => {
  it.effect("a success after a failure still ends its streak when the clock has stepped back (NTP, a VM resumed)", () =>
    Effect.gen(function*() {
      const time = handClock({ start: 1_000_000 })
      const breaker = yield* Effect.withClock(CircuitBreaker.make({ name: "llm", trip: CircuitBreaker.consecutiveFailures(3) }), time.clock)
      yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      // the system clock is put back an hour; every call from now on starts after that failure
      time.set(1_000_000 - 3_600_000)
      yield* breaker.protect(Effect.succeed("ok"))
      expect((yield* breaker.snapshot).consecutiveFailures).toBe(0)
      for (let i = 0; i < 2; i++) yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      // a failure, a success, two failures: never three in a row
      expect((yield* breaker.snapshot).state).toBe("closed")
    }))

  it.effect("a time window's calls still age out when the wall clock was put back past the window", () =>
    Effect.gen(function*() {
      // found by a review: the window kept counting into its newest bucket until the clock caught up with it, so
      // four failures half an hour old, with one more, tripped a breaker over a 1-minute window
      const { advance, clock, stepWall } = steppingClock()
      const breaker = yield* Effect.withClock(
        CircuitBreaker.make({
          trip: CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.timeWindow("60 seconds", 6), minimumCalls: 5 })
        }),
        clock
      )
      for (let i = 0; i < 4; i++) yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      stepWall(-3_600_000)
      advance(30 * 60_000)
      yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      const snapshot = yield* breaker.snapshot
      expect([snapshot.callsInWindow, snapshot.state]).toEqual([1, "closed"])
      // put back less than the window, calls go on counting into the newest bucket
      for (let i = 0; i < 3; i++) yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      stepWall(-20_000)
      yield* Effect.exit(breaker.protect(Effect.fail("boom")))
      expect((yield* breaker.snapshot).state).toBe("open")
    }))

  it.effect("an open breaker recovers after its open duration, not that plus the step, when the wall clock is put back", () =>
    Effect.gen(function*() {
      const { advance, breaker } = yield* openedThenPutBack
      const open = yield* breaker.snapshot
      expect(open.state).toBe("open")
      expect(Duration.toMillis(open.retryAfter)).toBe(20_000)
      advance(20_000)
      expect(yield* breaker.protect(Effect.succeed("probe"))).toBe("probe")
      expect((yield* breaker.snapshot).state).toBe("closed")
    }))

  it.effect("a server's wait (forceOpen) longer than what is left of the open state holds it, when the wall clock was put back", () =>
    Effect.gen(function*() {
      const { advance, breaker } = yield* openedThenPutBack
      // 20 s of the open state left; the server says a minute (its Retry-After, here or on another instance)
      yield* breaker.forceOpen("60 seconds")
      expect(Duration.toMillis((yield* breaker.snapshot).retryAfter)).toBe(60_000)
      advance(30_000)
      const held = yield* Effect.exit(breaker.protect(Effect.succeed("too early")))
      expect(held._tag).toBe("Failure")
      expect(Duration.toMillis((yield* breaker.snapshot).retryAfter)).toBe(30_000)
      advance(30_000)
      expect(yield* breaker.protect(Effect.succeed("probe"))).toBe("probe")
    }))
})
