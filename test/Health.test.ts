import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, FastCheck, Fiber, Option, TestClock } from "effect"
import * as Health from "../src/resilience/Health.js"
import { HealthTrackerImpl } from "../src/resilience/internal/health.js"

/** The exact nearest-rank quantile: the smallest value with at least ceil(q n) values at or below it. */
const exactQuantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!

const relativeError = (estimate: Duration.Duration, exact: number): number =>
  exact === 0 ? Duration.toMillis(estimate) : Math.abs(Duration.toMillis(estimate) - exact) / exact

/** The documented bound, with room for the test's own floating-point rounding only. */
const BOUND = Health.RELATIVE_ACCURACY + 1e-12

/** A latency as the tracker sees it: a Duration, whole nanoseconds. */
const asRecorded = (millis: number): number => Duration.toMillis(Duration.millis(millis))

const recordAll = (tracker: Health.HealthTracker<string>, key: string, samples: ReadonlyArray<Health.HealthSample>) =>
  Effect.forEach(samples, (sample) => tracker.record(key, sample), { discard: true })

const successes = (millis: ReadonlyArray<number>): Array<Health.HealthSample> =>
  millis.map((ms) => ({ success: true, latency: Duration.millis(ms) }))

const failures = (count: number): Array<Health.HealthSample> =>
  Array.from({ length: count }, () => ({ success: false, latency: Duration.seconds(30) }))

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("Health", () => {
  it.effect("computes the success rate and latency quantiles of known data", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>()
      yield* recordAll(tracker, "a", successes(range(1, 100)))
      yield* recordAll(tracker, "a", failures(25))
      const snapshot = yield* tracker.snapshot("a")
      assert.strictEqual(snapshot.calls, 125)
      assert.strictEqual(snapshot.successes, 100)
      assert.strictEqual(snapshot.failures, 25)
      assert.strictEqual(snapshot.successRate, 0.8)
      const latency = Option.getOrThrow(snapshot.latency)
      // failures (30 s each) do not feed the latency quantiles
      assert.isAtMost(relativeError(latency.p50, 50), BOUND)
      assert.isAtMost(relativeError(latency.p95, 95), BOUND)
      assert.isAtMost(relativeError(latency.p99, 99), BOUND)
      assert.isTrue(Option.isNone(snapshot.timeToFirstToken))
    }))

  it.effect("reports time-to-first-token quantiles when samples carry one", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>()
      yield* recordAll(
        tracker,
        "stream",
        range(1, 20).map((i) => ({
          success: true,
          latency: Duration.seconds(i),
          timeToFirstToken: Duration.millis(i * 10)
        }))
      )
      const ttft = Option.getOrThrow((yield* tracker.snapshot("stream")).timeToFirstToken)
      assert.isAtMost(relativeError(ttft.p50, 100), BOUND)
      assert.isAtMost(relativeError(ttft.p95, 190), BOUND)
    }))

  it.effect("an unknown key has an empty, healthy snapshot", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>()
      const snapshot = yield* tracker.snapshot("nobody")
      assert.deepStrictEqual(snapshot, {
        calls: 0,
        successes: 0,
        failures: 0,
        slow: 0,
        successRate: 1,
        latency: Option.none(),
        timeToFirstToken: Option.none(),
        degraded: false
      })
    }))

  it.effect("a slow sample feeds the latency quantiles and the slow count, never calls or the success rate", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>({ minimumCalls: 3, degradedLatency: "2 seconds" })
      yield* tracker.record("a", { success: true, latency: Duration.millis(100) })
      for (let i = 0; i < 3; i++) yield* tracker.record("a", { success: false, slow: true, latency: Duration.seconds(3) })
      const snapshot = yield* tracker.snapshot("a")
      assert.strictEqual(snapshot.calls, 1)
      assert.strictEqual(snapshot.failures, 0)
      assert.strictEqual(snapshot.slow, 3)
      assert.strictEqual(snapshot.successRate, 1)
      const latency = Option.getOrThrow(snapshot.latency)
      assert.isAtMost(relativeError(latency.p50, 3_000), BOUND)
      assert.isTrue(snapshot.degraded, "1 call and 3 slow samples reach minimumCalls; p95 of 3 s is above 2 s")
      // slow samples alone still give quantiles
      yield* tracker.record("b", { success: false, slow: true, latency: Duration.seconds(4) })
      const only = yield* tracker.snapshot("b")
      assert.strictEqual(only.calls, 0)
      assert.isAtMost(relativeError(Option.getOrThrow(only.latency).p99, 4_000), BOUND)
    }))

  it.effect("buckets expire as the clock moves", () =>
    Effect.gen(function*() {
      // 60 s in 12 buckets of 5 s
      const tracker = yield* Health.make<string>({ window: "60 seconds", buckets: 12 })
      yield* recordAll(tracker, "a", successes([10, 10, 10]))
      yield* TestClock.adjust("30 seconds")
      yield* recordAll(tracker, "a", successes([20, 20]))
      assert.strictEqual((yield* tracker.snapshot("a")).calls, 5)
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual((yield* tracker.snapshot("a")).calls, 5)
      // t = 60 s: the bucket [0 s, 5 s) has left the window
      yield* TestClock.adjust("1 millis")
      const later = yield* tracker.snapshot("a")
      assert.strictEqual(later.calls, 2)
      assert.isAtMost(relativeError(Option.getOrThrow(later.latency).p99, 20), BOUND)
      // t = 90 s: the bucket [30 s, 35 s) has left too
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(yield* tracker.snapshot("a"), yield* tracker.snapshot("nobody"))
    }))

  it.effect("a slot reused after a full turn of the ring starts from zero", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>({ window: "10 seconds", buckets: 2 })
      yield* recordAll(tracker, "a", failures(4))
      yield* TestClock.adjust("10 seconds") // same slot, next turn
      yield* recordAll(tracker, "a", successes([5]))
      const snapshot = yield* tracker.snapshot("a")
      assert.strictEqual(snapshot.calls, 1)
      assert.strictEqual(snapshot.successRate, 1)
    }))

  it.effect("degraded: a low success rate after minimumCalls, or a slow p95", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>({ degradedBelow: 0.5, minimumCalls: 5, degradedLatency: "2 seconds" })
      yield* recordAll(tracker, "failing", failures(4))
      assert.isFalse((yield* tracker.snapshot("failing")).degraded, "below minimumCalls")
      yield* recordAll(tracker, "failing", failures(1))
      assert.isTrue((yield* tracker.snapshot("failing")).degraded)

      yield* recordAll(tracker, "flaky", [...failures(2), ...successes([100, 100, 100])])
      assert.isFalse((yield* tracker.snapshot("flaky")).degraded, "60% >= 50%")
      yield* recordAll(tracker, "flaky", failures(2))
      assert.isTrue((yield* tracker.snapshot("flaky")).degraded, "3 / 7 < 50%")

      yield* recordAll(tracker, "slow", successes([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]))
      assert.isFalse((yield* tracker.snapshot("slow")).degraded)
      yield* recordAll(tracker, "slow", successes([5_000]))
      assert.isTrue((yield* tracker.snapshot("slow")).degraded, "p95 of 11 calls is the slow one")
    }))

  it.effect("snapshotAll reports every key", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>()
      yield* recordAll(tracker, "a", successes([1, 2]))
      yield* recordAll(tracker, "b", failures(1))
      const all = yield* tracker.snapshotAll
      assert.deepStrictEqual([...all.keys()].sort(), ["a", "b"])
      assert.strictEqual(all.get("a")?.successes, 2)
      assert.strictEqual(all.get("b")?.failures, 1)
    }))

  it.effect("memory stays constant: 100,000 samples leave the structure the same size", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>({ window: "10 seconds", buckets: 10 })
      assert.instanceOf(tracker, HealthTrackerImpl)
      const impl = tracker as HealthTrackerImpl<string>
      yield* tracker.record("a", { success: true, latency: Duration.millis(1), timeToFirstToken: Duration.millis(1) })
      const size = impl.footprint()
      assert.isAbove(size, 0)
      for (let i = 0; i < 100_000; i++) {
        if (i % 1_000 === 0) yield* TestClock.adjust("300 millis")
        yield* tracker.record("a", {
          success: i % 7 !== 0,
          latency: Duration.millis((i % 5_000) * 3.7),
          timeToFirstToken: Duration.millis(i % 900)
        })
      }
      assert.strictEqual(impl.footprint(), size)
      const snapshot = yield* tracker.snapshot("a")
      // 30 s of traffic, 10 s window: only the last ~10 s of samples count
      assert.isAtMost(snapshot.calls, 35_000)
      assert.isAtLeast(snapshot.calls, 30_000)
    }))

  // it.prop with runSync: it.effect.prop costs ~4 ms of test-service setup per run,
  // and this property does not depend on time (every sample lands in the live window).
  it.prop(
    "quantile estimates are within RELATIVE_ACCURACY of the exact nearest-rank quantiles",
    {
      exponents: FastCheck.array(FastCheck.double({ min: -2, max: 7, noNaN: true }), { minLength: 1, maxLength: 200 }),
      integers: FastCheck.array(FastCheck.integer({ min: 1, max: 100_000 }), { maxLength: 50 })
    },
    ({ exponents, integers }) => {
      const values = [...exponents.map((e) => asRecorded(Math.pow(10, e))), ...integers]
      const latency = Effect.runSync(Effect.gen(function*() {
        const tracker = yield* Health.make<string>()
        yield* recordAll(tracker, "k", successes(values))
        return Option.getOrThrow((yield* tracker.snapshot("k")).latency)
      }))
      const sorted = [...values].sort((a, b) => a - b)
      assert.isAtMost(relativeError(latency.p50, exactQuantile(sorted, 0.5)), BOUND)
      assert.isAtMost(relativeError(latency.p95, exactQuantile(sorted, 0.95)), BOUND)
      assert.isAtMost(relativeError(latency.p99, exactQuantile(sorted, 0.99)), BOUND)
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("a zero latency is reported as zero", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>()
      yield* recordAll(tracker, "instant", successes([0, 0, 0]))
      const latency = Option.getOrThrow((yield* tracker.snapshot("instant")).latency)
      assert.strictEqual(Duration.toMillis(latency.p99), 0)
    }))

  it.effect("track records outcome and clock latency, and skips interruptions", () =>
    Effect.gen(function*() {
      const tracker = yield* Health.make<string>({ minimumCalls: 1 })
      const ok = yield* Effect.fork(Effect.as(Effect.sleep("250 millis"), "ok").pipe(Health.track(tracker, "t")))
      yield* TestClock.adjust("250 millis")
      assert.strictEqual(yield* Fiber.join(ok), "ok")
      yield* Effect.exit(Health.track(Effect.fail("boom"), tracker, "t"))
      yield* Effect.exit(Health.track(Effect.die("bug"), tracker, "t"))
      const interrupted = yield* Effect.fork(Health.track(Effect.never, tracker, "t"))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      const snapshot = yield* tracker.snapshot("t")
      assert.strictEqual(snapshot.calls, 3)
      assert.strictEqual(snapshot.successes, 1)
      assert.isAtMost(relativeError(Option.getOrThrow(snapshot.latency).p50, 250), BOUND)
      assert.isTrue(snapshot.degraded)
    }))

  it.effect("a named tracker shows its store every sample, and records other instances' samples at their own times", () =>
    Effect.gen(function*() {
      const sent: Array<[string, Health.WireSample]> = []
      let registration: Health.Registration | undefined
      const store: Health.Store = {
        register: (r) => Effect.sync(() => (registration = r, { onSample: (key, sample) => void sent.push([key, sample]) }))
      }
      // 60 s in 12 buckets of 5 s
      const tracker = yield* Health.make<string>({ name: "targets", minimumCalls: 1 }).pipe(
        Effect.provideService(Health.CurrentStore, store)
      )
      assert.strictEqual(registration!.name, "targets")
      yield* TestClock.adjust("20 seconds")
      yield* tracker.record("a", { success: true, latency: Duration.millis(300), timeToFirstToken: Duration.millis(90) })
      yield* tracker.record("a", { success: false, slow: true, latency: Duration.seconds(2) })
      assert.deepStrictEqual(sent, [
        ["a", { outcome: 1, latency: 300, timeToFirstToken: 90, at: 20_000 }],
        ["a", { outcome: 2, latency: 2_000, at: 20_000 }]
      ])
      // another instance's: a failure 10 s ago counts; one 70 s ago is out of the window
      yield* registration!.apply("a", [
        { outcome: 0, latency: 500, at: 10_000 },
        { outcome: 1, latency: 400, at: -50_000 }
      ])
      const snapshot = yield* tracker.snapshot("a")
      assert.strictEqual(snapshot.calls, 2)
      assert.strictEqual(snapshot.failures, 1)
      assert.strictEqual(snapshot.slow, 1)
      // it expires with its own bucket (10 s), not with the time it arrived
      yield* TestClock.adjust("51 seconds")
      assert.strictEqual((yield* tracker.snapshot("a")).failures, 0)
      assert.strictEqual((yield* tracker.snapshot("a")).calls, 1)
      // none of the remote samples went back to the store
      assert.strictEqual(sent.length, 2)
      // an unnamed tracker stays local, whatever store is provided
      const local = yield* Health.make<string>().pipe(Effect.provideService(Health.CurrentStore, store))
      yield* local.record("a", { success: true, latency: Duration.millis(1) })
      assert.strictEqual(sent.length, 2)
    }))

  it.effect("invalid options are defects", () =>
    Effect.gen(function*() {
      for (
        const options of [
          { buckets: 0 },
          { window: Duration.zero },
          { degradedBelow: 1.5 },
          { minimumCalls: -1 }
        ] satisfies Array<Health.HealthOptions>
      ) {
        const exit = yield* Effect.exit(Health.make<string>(options))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), JSON.stringify(options))
      }
    }))
})
