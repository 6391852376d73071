import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RateLimit from "../src/resilience/RateLimit.js"
import { handClock } from "./support/clock.js"

describe("RateLimit: a wall clock that steps back", () => {
  it.effect("usage counted ahead of a clock put back past the window (NTP, a resumed VM) does not hold the limit full until the clock catches up", () =>
    Effect.gen(function*() {
      const time = handClock({ start: 10_000_000 })
      const limiter = yield* Effect.withClock(RateLimit.make({ name: "llm", rpm: 2 }), time.clock)
      const acquire = Effect.withClock(limiter.tryAcquire(10), time.clock)
      expect((yield* acquire)._tag).toBe("Admitted")
      expect((yield* acquire)._tag).toBe("Admitted")
      time.set(10_000_000 - 3_600_000)
      // more than a window later by the clock as it now reads
      time.advance(120_000)
      expect(yield* acquire).toEqual({ _tag: "Admitted" })
    }))
})
