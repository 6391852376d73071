import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Health from "../src/resilience/Health.js"
import { handClock } from "./support/clock.js"

describe("Health: a wall clock that steps back", () => {
  it.effect("samples recorded after the clock was put back (NTP, a resumed VM) are counted, not dropped until it catches up", () =>
    Effect.gen(function*() {
      const time = handClock({ start: 10_000_000 })
      const tracker = yield* Health.make<string>({ window: "1 minute", minimumCalls: 5 })
      const record = (success: boolean) =>
        Effect.withClock(tracker.record("llm", { success, latency: Duration.millis(100) }), time.clock)
      for (let i = 0; i < 5; i++) yield* record(true)
      time.set(10_000_000 - 3_600_000)
      for (let i = 0; i < 10; i++) {
        time.advance(100)
        yield* record(false)
      }
      const snapshot = yield* Effect.withClock(tracker.snapshot("llm"), time.clock)
      expect(snapshot).toMatchObject({ failures: 10, degraded: true })
    }))
})
