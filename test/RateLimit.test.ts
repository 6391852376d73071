import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, FastCheck, TestClock } from "effect"
import * as RateLimit from "../src/resilience/RateLimit.js"
import { handClock } from "./support/clock.js"

const manualClock = () => handClock()

const tags = (admissions: ReadonlyArray<RateLimit.Admission>) => admissions.map((a) => a._tag)

describe("RateLimit", () => {
  it.effect("refuses the request past rpm at once, naming the limit and when room frees up", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "a", rpm: 3 })
      const first = yield* Effect.forEach([1, 2, 3], () => limiter.tryAcquire(10))
      expect(tags(first)).toEqual(["Admitted", "Admitted", "Admitted"])
      yield* TestClock.adjust("2 seconds")
      const fourth = yield* limiter.tryAcquire(10)
      expect(fourth._tag).toBe("Limited")
      if (fourth._tag === "Limited") {
        expect(fourth.limit).toBe("rpm")
        // the three counted at t=0 leave the window with their bucket, at t=60s
        expect(Duration.toMillis(fourth.retryAfter)).toBe(58_000)
      }
      // and so the usage says: the first moment it can fall
      expect(yield* limiter.usage).toEqual({ requests: 3, tokens: 30, leavesAt: 60_000 })
    }))

  it.effect("usage leaves the window one bucket at a time", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "a", rpm: 2 })
      yield* limiter.tryAcquire(0)
      yield* TestClock.adjust("30 seconds")
      yield* limiter.tryAcquire(0)
      expect((yield* limiter.tryAcquire(0))._tag).toBe("Limited")
      yield* TestClock.adjust("30 seconds") // t=60s: the first request's bucket has left
      expect((yield* limiter.tryAcquire(0))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(0))._tag).toBe("Limited")
      yield* TestClock.adjust("30 seconds") // t=90s: the second's has left too
      // the one left was counted in the bucket of t=60s, which leaves at t=120s
      expect(yield* limiter.usage).toEqual({ requests: 1, tokens: 0, leavesAt: 120_000 })
      yield* TestClock.adjust("30 seconds") // t=120s: an empty window has nothing to leave
      expect(yield* limiter.usage).toEqual({ requests: 0, tokens: 0 })
    }))

  it.effect("tpm refuses once the window's tokens plus the estimate pass it, but never in an empty window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "a", tpm: 1_000 })
      expect((yield* limiter.tryAcquire(5_000))._tag).toBe("Admitted") // alone, too big: still served
      const refused = yield* limiter.tryAcquire(1)
      expect(refused._tag === "Limited" && refused.limit).toBe("tpm")
      yield* TestClock.adjust("1 minute")
      expect((yield* limiter.tryAcquire(600))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(600))._tag).toBe("Limited")
      yield* limiter.adjust(-500) // the first used 100, not 600
      expect((yield* limiter.tryAcquire(600))._tag).toBe("Admitted")
      expect(yield* limiter.usage).toEqual({ requests: 2, tokens: 700, leavesAt: 120_000 })
    }))

  it.effect("a store sees every count and its remote buckets count against the limit", () =>
    Effect.gen(function*() {
      const counts: Array<RateLimit.Count> = []
      let registration: RateLimit.Registration | undefined
      const store: RateLimit.Store = {
        register: (r) =>
          Effect.sync(() => {
            registration = r
            return { onCount: (count) => counts.push(count) }
          })
      }
      yield* TestClock.adjust("7 seconds")
      const limiter = yield* RateLimit.make({ name: "gpt", rpm: 5, tpm: 10_000 }).pipe(Effect.provide(RateLimit.layer(store)))
      expect(registration?.name).toBe("gpt")
      expect(registration?.limits).toEqual({ rpm: 5, tpm: 10_000 })
      expect(registration?.bucketMillis).toBe(5_000)
      expect(registration?.buckets).toBe(12)
      yield* limiter.tryAcquire(40)
      yield* limiter.adjust(2)
      expect(counts).toEqual([{ start: 5_000, requests: 1, tokens: 40 }, { start: 5_000, requests: 0, tokens: 2 }])
      // two other instances made 4 requests in this bucket
      yield* registration!.apply([{ start: 5_000, requests: 4, tokens: 400 }, { start: -60_000, requests: 99, tokens: 0 }])
      // the others' counts are in the same bucket (5s to 10s), which leaves at 65s
      expect(yield* limiter.usage).toEqual({ requests: 5, tokens: 442, leavesAt: 65_000 })
      expect((yield* limiter.tryAcquire(1))._tag).toBe("Limited")
      // a later report replaces the earlier one for the same bucket
      yield* registration!.apply([{ start: 5_000, requests: 1, tokens: 100 }])
      expect((yield* limiter.tryAcquire(1))._tag).toBe("Admitted")
    }))

  it.effect("giveBack takes back a request never made, its estimate with it, from its bucket, never below zero, and tells the store", () =>
    Effect.gen(function*() {
      const counts: Array<RateLimit.Count> = []
      const store: RateLimit.Store = { register: () => Effect.succeed({ onCount: (count) => void counts.push(count) }) }
      yield* TestClock.adjust("7 seconds")
      const limiter = yield* RateLimit.make({ name: "gpt", rpm: 2, tpm: 10_000, store })
      yield* limiter.tryAcquire(300)
      expect((yield* limiter.tryAcquire(200))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(1))._tag).toBe("Limited")
      // the second was refused before it was made: the room is back
      yield* limiter.giveBack(200, 7_000)
      expect(yield* limiter.usage).toEqual({ requests: 1, tokens: 300, leavesAt: 65_000 })
      expect(counts.at(-1)).toEqual({ start: 5_000, requests: -1, tokens: -200 })
      // in a later bucket, taken from the bucket of its admission
      yield* TestClock.adjust("10 seconds")
      expect((yield* limiter.tryAcquire(100))._tag).toBe("Admitted")
      yield* limiter.giveBack(300, 7_000)
      expect(counts.at(-1)).toEqual({ start: 5_000, requests: -1, tokens: -300 })
      expect(yield* limiter.usage).toEqual({ requests: 1, tokens: 100, leavesAt: 75_000 })
      // never below zero: that bucket is empty now, so nothing is taken nor told
      const told = counts.length
      yield* limiter.giveBack(300, 7_000)
      expect(counts.length).toBe(told)
      expect(yield* limiter.usage).toEqual({ requests: 1, tokens: 100, leavesAt: 75_000 })
      // nor once its bucket has left the window
      yield* TestClock.adjust("1 minute")
      yield* limiter.tryAcquire(50)
      yield* limiter.giveBack(100, 17_000)
      expect(counts.length).toBe(told + 1)
      expect(yield* limiter.usage).toEqual({ requests: 1, tokens: 50, leavesAt: 135_000 })
    }))

  it.effect("unregister lets the store forget the limiter, once: its later counts stay local", () =>
    Effect.gen(function*() {
      const counts: Array<RateLimit.Count> = []
      let unregistered = 0
      const store: RateLimit.Store = {
        register: () => Effect.succeed({ onCount: (count) => void counts.push(count), unregister: Effect.sync(() => void unregistered++) })
      }
      const limiter = yield* RateLimit.make({ name: "gpt", rpm: 2, store })
      yield* limiter.tryAcquire(10)
      yield* limiter.unregister
      yield* limiter.unregister
      expect(unregistered).toBe(1)
      // it still counts and admits, on its own
      expect((yield* limiter.tryAcquire(10))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(10))._tag).toBe("Limited")
      expect(counts).toHaveLength(1)
      // the memory store keeps nothing to forget
      const local = yield* RateLimit.make({ name: "gpt", rpm: 1, store: RateLimit.memory })
      yield* local.unregister
      expect((yield* local.tryAcquire(0))._tag).toBe("Admitted")
    }))

  it.effect("out of touch with the others, a shared limiter keeps to its share of the limit on its own counts", () =>
    Effect.gen(function*() {
      let registration: RateLimit.Registration | undefined
      const store: RateLimit.Store = { register: (r) => Effect.sync(() => (registration = r, { onCount: () => {} })) }
      const limiter = yield* RateLimit.make({ name: "gpt", rpm: 100, store })
      const admitted = (tries: number) =>
        Effect.map(Effect.replicateEffect(limiter.tryAcquire(0), tries), (all) => all.filter((a) => a._tag === "Admitted").length)
      // two instances; the other made 30 requests: this one takes half of its half of the 70 left until the next report
      yield* registration!.apply([{ start: 0, requests: 30, tokens: 0 }], 0.5)
      expect(yield* admitted(100)).toBe(18)
      // the store lost touch (Redis is down): no report will come, so it keeps to half the limit on its own counts
      yield* registration!.disconnected
      expect(yield* admitted(100)).toBe(32)
      const refused = yield* limiter.tryAcquire(0)
      expect(refused._tag === "Limited" && refused.limit).toBe("rpm")
      // its own requests leave the window as ever: room again a minute later
      yield* TestClock.adjust("1 minute")
      expect(yield* admitted(100)).toBe(50)
      // back in touch: every instance's usage counts again (its 50 and the other's 45 of this window)
      yield* registration!.apply([{ start: 60_000, requests: 45, tokens: 0 }], 0.5)
      expect(yield* admitted(100)).toBe(2)
    }))

  it.effect("a store that throws does not break counting", () =>
    Effect.gen(function*() {
      const store: RateLimit.Store = {
        register: () =>
          Effect.succeed({
            onCount: () => {
              throw new Error("down")
            }
          })
      }
      const limiter = yield* RateLimit.make({ name: "a", rpm: 1, store })
      expect((yield* limiter.tryAcquire(0))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(0))._tag).toBe("Limited")
    }))

  it.effect("invalid settings are defects naming the field", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(RateLimit.make({ name: "a", rpm: 0 }))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain(`RateLimit "a": rpm must be a finite number of at least 1`)
      const buckets = yield* Effect.exit(RateLimit.make({ name: "b", tpm: 5, buckets: 0 }))
      expect(Exit.isFailure(buckets) && String(buckets.cause)).toContain("buckets must be a positive integer")
    }))

  it.prop(
    "never admits more than rpm within any window, and admits whenever the window holds fewer",
    [FastCheck.array(FastCheck.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 60 }), FastCheck.integer({ min: 1, max: 8 })],
    ([gaps, rpm]) =>
      Effect.runSync(Effect.gen(function*() {
        const { advance, clock } = manualClock()
        const limiter = yield* RateLimit.make({ name: "p", rpm, window: "1 minute", buckets: 12 }).pipe(Effect.withClock(clock))
        const admittedAt: Array<number> = []
        let now = 0
        for (const gap of gaps) {
          now = advance(gap)
          const inWindow = admittedAt.filter((t) => Math.floor(t / 5_000) * 5_000 > Math.floor(now / 5_000) * 5_000 - 60_000)
          const admission = yield* limiter.tryAcquire(0)
          // the limiter counts exactly the admissions whose bucket is in the window
          expect(admission._tag).toBe(inWindow.length < rpm ? "Admitted" : "Limited")
          if (admission._tag === "Admitted") admittedAt.push(now)
        }
        // no 55 s span (the window's shortest) holds more than rpm admissions
        for (const t of admittedAt) {
          expect(admittedAt.filter((u) => u >= t && u < t + 55_000).length).toBeLessThanOrEqual(rpm)
        }
      })),
    { fastCheck: { numRuns: 2_000 } }
  )
})
