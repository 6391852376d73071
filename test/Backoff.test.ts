import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Option,
  Random,
  Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  TestClock
} from "effect"
import * as Backoff from "../src/resilience/Backoff.js"

// Delays are floats represented to the nanosecond: allow that much slack on
// every bound except the cap, which must hold exactly.
const slack = (bound: number) => 1e-6 + bound * 1e-12
const within = (x: number, low: number, high: number) => x >= low - slack(low) && x <= high + slack(high)

const millis = (input: Duration.DurationInput) => Duration.toMillis(Duration.decode(input))

/** Delays in whole microseconds, so the decoded option equals the drawn number. */
const duration = (maxMillis: number) => fc.integer({ min: 0, max: maxMillis * 1000 }).map((us) => us / 1000)

const optionsArb = fc.record({
  base: duration(5_000),
  factor: fc.double({ min: 0.5, max: 4, noNaN: true }),
  cap: duration(60_000),
  jitter: fc.constantFrom(...Backoff.jitters),
  maxAttempts: fc.integer({ min: 1, max: 12 })
})

const uniform = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

interface Stepped {
  readonly delays: ReadonlyArray<number>
  /** What the schedule driver would sleep before each recurrence. */
  readonly sleeps: ReadonlyArray<number>
  readonly done: boolean
}

/** Steps a schedule by hand (no sleeping) until it is done or the inputs run out. */
const stepAll = <In, R>(schedule: Schedule.Schedule<Duration.Duration, In, R>, inputs: ReadonlyArray<In>) =>
  Effect.gen(function*() {
    let state = schedule.initial
    let now = 0
    const delays: Array<number> = []
    const sleeps: Array<number> = []
    for (const input of inputs) {
      const [next, out, decision] = yield* schedule.step(now, input, state)
      if (ScheduleDecision.isDone(decision)) return { delays, sleeps, done: true } satisfies Stepped
      const start = ScheduleIntervals.start(decision.intervals)
      delays.push(Duration.toMillis(out))
      sleeps.push(start - now)
      now = start
      state = next
    }
    return { delays, sleeps, done: false } satisfies Stepped
  })

/** The documented [low, high] of each jitter, given d = min(cap, base * factor^n). */
const bounds: Record<Backoff.Jitter, (d: number, cap: number, base: number, previous: number) => [number, number]> = {
  none: (d) => [d, d],
  full: (d) => [0, d],
  equal: (d) => [d / 2, d],
  proportional: (d, cap) => [Math.min(cap, 0.8 * d), Math.min(cap, 1.2 * d)],
  decorrelated: (_, cap, base, previous) => [Math.min(base, cap), Math.min(cap, 3 * Math.max(previous, base))]
}

/** Runs a synchronous check with a seeded Random (properties run it thousands of times). */
const run = (check: Effect.Effect<void>, seed: number): void =>
  Effect.runSync(Effect.withRandom(check, Random.make(seed)))

describe("Backoff.delay", () => {
  it.prop(
    "stays within its jitter's bounds and never above the cap",
    { options: optionsArb, n: fc.integer({ min: 0, max: 40 }), previous: duration(200_000), u: uniform },
    ({ n, options, previous, u }) => {
      const base = millis(options.base)
      const cap = millis(options.cap)
      const d = Math.min(cap, base * Math.pow(options.factor, n))
      const delay = Duration.toMillis(Backoff.delay(options, n, previous, u))

      expect(delay).toBeLessThanOrEqual(cap)
      expect(delay).toBeGreaterThanOrEqual(0)
      const [low, high] = bounds[options.jitter](d, cap, base, previous)
      expect(within(delay, low, high)).toBe(true)
    },
    { fastCheck: { numRuns: 10_000 } }
  )

  it("computes the documented formulas", () => {
    const at = (jitter: Backoff.Jitter, n: number, previous: number, u: number) =>
      Duration.toMillis(Backoff.delay({ base: "100 millis", factor: 2, cap: "1 second", jitter }, n, previous, u))

    expect([0, 1, 2, 3, 4, 10].map((n) => at("none", n, 0, 0.7))).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(at("full", 2, 0, 0.25)).toBe(100)
    expect(at("equal", 2, 0, 0.5)).toBe(300)
    expect(at("proportional", 2, 0, 0)).toBeCloseTo(320, 9)
    expect(at("proportional", 2, 0, 0.5)).toBeCloseTo(400, 9)
    expect(at("proportional", 3, 0, 0.99)).toBeCloseTo(956.8, 9)
    expect(at("proportional", 4, 0, 0.99)).toBe(1000) // the cap, 1000, times 1.196 is capped again
    expect(at("decorrelated", 5, 100, 0)).toBe(100)
    expect(at("decorrelated", 0, 200, 0.5)).toBe(350) // uniform(100, 600)
    expect(at("decorrelated", 0, 0, 0.5)).toBe(200) // previous below base counts as base
    expect(at("decorrelated", 0, 900, 0.5)).toBe(1000) // uniform(100, 2700) capped
  })

  it("rejects invalid options", () => {
    expect(() => Backoff.delay({ factor: 0 }, 0, 0, 0)).toThrow(RangeError)
    expect(() => Backoff.delay({ factor: Number.NaN }, 0, 0, 0)).toThrow(RangeError)
    expect(() => Backoff.delay({ base: Duration.infinity }, 0, 0, 0)).toThrow(RangeError)
    expect(() => Backoff.delay({ jitter: "wild" as Backoff.Jitter }, 0, 0, 0)).toThrow(RangeError)
    expect(() => Backoff.schedule({ maxAttempts: 0 })).toThrow(RangeError)
    expect(() => Backoff.schedule({ maxAttempts: 2.5 })).toThrow(RangeError)
    expect(() => Backoff.schedule({ maxAttempts: Infinity })).not.toThrow()
  })
})

describe("Backoff.schedule", () => {
  it.prop(
    "recurs exactly maxAttempts - 1 times, sleeping what it outputs, within bounds",
    { options: optionsArb, seed: fc.integer() },
    ({ options, seed }) =>
      run(Effect.gen(function*() {
        const inputs = Array.from({ length: options.maxAttempts + 3 }, (_, i) => i)
        const { delays, done, sleeps } = yield* stepAll(Backoff.schedule(options), inputs)

        expect(done).toBe(true)
        expect(delays).toHaveLength(options.maxAttempts - 1)
        const cap = millis(options.cap)
        delays.forEach((delay, i) => {
          expect(delay).toBeLessThanOrEqual(cap)
          expect(within(sleeps[i]!, delay, delay)).toBe(true)
        })
      }), seed),
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "decorrelated stays within [base, min(cap, 3 * previous)] along a run",
    {
      base: duration(1_000),
      extra: duration(30_000),
      maxAttempts: fc.integer({ min: 2, max: 30 }),
      seed: fc.integer()
    },
    ({ base, extra, maxAttempts, seed }) =>
      run(Effect.gen(function*() {
        const cap = millis(base + extra)
        const schedule = Backoff.schedule({ base, cap, jitter: "decorrelated", maxAttempts })
        const { delays } = yield* stepAll(schedule, Array.from({ length: maxAttempts }, (_, i) => i))

        expect(delays).toHaveLength(maxAttempts - 1)
        let previous = base
        for (const delay of delays) {
          expect(delay).toBeLessThanOrEqual(cap)
          expect(within(delay, base, Math.min(cap, 3 * previous))).toBe(true)
          previous = delay
        }
      }), seed),
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("sleeps exactly the delays it outputs under TestClock", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      const outputs: Array<number> = []
      const failing = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        calls.push(now)
        return Effect.fail("boom")
      })
      const policy = Backoff.schedule({ base: "100 millis", maxAttempts: 5 }).pipe(
        Schedule.tapOutput((delay) => Effect.sync(() => outputs.push(Duration.toMillis(delay))))
      )
      const fiber = yield* Effect.fork(Effect.retry(failing, policy).pipe(Effect.withRandom(Random.make("sleeps"))))

      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.interrupt(fiber) // done by now, or the test fails here

      expect(exit).toStrictEqual(Exit.fail("boom"))
      expect(calls).toHaveLength(5)
      // four recurrences, then the step that decides "done" (which outputs zero)
      expect(outputs).toHaveLength(5)
      expect(outputs[4]).toBe(0)
      outputs.slice(0, 4).forEach((delay, i) => {
        expect(calls[i + 1]! - calls[i]!).toBeCloseTo(delay, 6)
        expect(delay).toBeLessThanOrEqual(100 * 2 ** i) // full jitter: uniform(0, 100 * 2^i)
      })
    }))

  it.effect("has no delay at all with a zero base, and exact delays without jitter", () =>
    Effect.gen(function*() {
      const zero = yield* stepAll(Backoff.schedule({ base: 0, maxAttempts: 4 }), [1, 2, 3, 4])
      expect(zero).toEqual({ delays: [0, 0, 0], sleeps: [0, 0, 0], done: true })

      const exact = yield* stepAll(
        Backoff.schedule({ base: "1 second", factor: 3, cap: "5 seconds", jitter: "none", maxAttempts: 5 }),
        [1, 2, 3, 4, 5]
      )
      expect(exact.delays).toEqual([1000, 3000, 5000, 5000])
    }))

  it.effect("is deterministic under a seeded Random and varies across seeds", () =>
    Effect.gen(function*() {
      const run = (seed: string) =>
        stepAll(Backoff.schedule({ maxAttempts: 8 }), [1, 2, 3, 4, 5, 6, 7, 8]).pipe(
          Effect.withRandom(Random.make(seed))
        )
      const first = yield* run("a")
      const again = yield* run("a")
      const other = yield* run("b")

      expect(again.delays).toEqual(first.delays)
      expect(other.delays).not.toEqual(first.delays)
    }))

  it.effect("draws from the Random service", () =>
    Effect.gen(function*() {
      const { delays } = yield* stepAll(Backoff.schedule({ base: 100, maxAttempts: 4, jitter: "full" }), [1, 2, 3]).pipe(
        Effect.withRandom(Random.fixed([0.5, 0.25, 0]))
      )
      expect(delays).toEqual([50, 50, 0])
    }))
})

describe("Backoff.withRetryAfter", () => {
  class Busy {
    constructor(readonly retryAfter: number | undefined) {}
  }
  const retryAfter = (e: Busy) => Option.map(Option.fromNullable(e.retryAfter), Duration.millis)

  it.prop(
    "sleeps at least the Retry-After up to the cap, and stops past the cap",
    {
      options: optionsArb.filter((o) => o.maxAttempts >= 2),
      pushbacks: fc.array(fc.option(duration(20_000), { nil: undefined }), { minLength: 1, maxLength: 12 }),
      cap: duration(10_000),
      seed: fc.integer()
    },
    ({ cap, options, pushbacks, seed }) =>
      run(Effect.gen(function*() {
        const schedule = Backoff.schedule(options).pipe(Backoff.withRetryAfter({ retryAfter, cap }))
        const inputs = pushbacks.map((ms) => new Busy(ms))
        const { delays, done, sleeps } = yield* stepAll(schedule, inputs)

        const stopsAt = inputs.findIndex((e) => e.retryAfter !== undefined && e.retryAfter > cap)
        const expected = Math.min(stopsAt === -1 ? inputs.length : stopsAt, options.maxAttempts - 1)
        expect(delays).toHaveLength(expected)
        expect(done).toBe(expected < inputs.length)
        delays.forEach((delay, i) => {
          expect(within(sleeps[i]!, delay, delay)).toBe(true)
          expect(delay).toBeLessThanOrEqual(Math.max(millis(options.cap), cap))
          const pushback = inputs[i]!.retryAfter
          if (pushback !== undefined) expect(delay).toBeGreaterThanOrEqual(pushback)
        })
      }), seed),
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("keeps the computed delay when it is longer than the Retry-After", () =>
    Effect.gen(function*() {
      const schedule = Backoff.withRetryAfter(
        Backoff.schedule({ base: "1 second", jitter: "none", maxAttempts: 4 }),
        { retryAfter, cap: "10 seconds" }
      )
      const { delays, done } = yield* stepAll(schedule, [new Busy(500), new Busy(3000), new Busy(undefined)])
      expect(delays).toEqual([1000, 3000, 4000])
      expect(done).toBe(false)
    }))

  it.effect("stops at once, without sleeping, when the Retry-After is past the cap", () =>
    Effect.gen(function*() {
      let calls = 0
      const failing = Effect.suspend(() => {
        calls++
        return Effect.fail(new Busy(calls === 1 ? 2_000 : 60_000))
      })
      const schedule = Backoff.schedule({ base: 10, maxAttempts: 5 }).pipe(
        Backoff.withRetryAfter({ retryAfter, cap: "30 seconds" })
      )
      const fiber = yield* Effect.fork(Effect.zip(Effect.exit(Effect.retry(failing, schedule)), Clock.currentTimeMillis))

      yield* TestClock.adjust("1999 millis")
      expect(calls).toBe(1)
      yield* TestClock.adjust("10 minutes")
      const outcome = yield* Fiber.interrupt(fiber) // done by now, or the test fails here
      const [exit, finishedAt] = Exit.isSuccess(outcome) ? outcome.value : expect.unreachable("still running")

      expect(calls).toBe(2)
      expect(exit).toStrictEqual(Exit.fail(new Busy(60_000)))
      expect(finishedAt).toBe(2_000) // right after the second call: no 60 s wait
    }))
})
