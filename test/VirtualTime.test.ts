import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Option,
  Random,
  Ref,
  Schedule
} from "effect"
import * as VirtualTime from "../src/simulator/VirtualTime.js"

/** The world's pending timers, from inside it. */
const pendingTimers = Effect.map(VirtualTime.current, (clock) => Option.getOrThrow(clock).pendingTimers())

/** A log of `[virtual ms, label]` lines, appended from any fiber. */
const makeLog = () => {
  const lines: Array<readonly [number, string]> = []
  const add = (label: string) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => lines.push([now, label])))
  return { lines, add }
}

describe("VirtualTime: the clock", () => {
  it.effect("an hour of sleep takes one wake-up and no real hour", () =>
    Effect.gen(function* () {
      const [now, stats] = yield* VirtualTime.runWithStats(Effect.zipRight(Effect.sleep("1 hour"), Clock.currentTimeMillis))
      expect(now).toBe(3_600_000)
      expect(stats).toMatchObject({ wakeUps: 1, virtualMillis: 3_600_000 })
    })
  )

  it.effect("starts at the given instant and keeps nanos in step with millis", () =>
    VirtualTime.run(
      Effect.gen(function* () {
        expect(yield* Clock.currentTimeMillis).toBe(1_700_000_000_000)
        yield* Effect.sleep("1500 millis")
        expect(yield* Clock.currentTimeMillis).toBe(1_700_000_001_500)
        expect(yield* Clock.currentTimeNanos).toBe(1_700_000_001_500n * 1_000_000n)
      }),
      { start: 1_700_000_000_000 }
    )
  )

  it.effect("sleeps of the same length end in the order they began; shorter ones first", () =>
    Effect.gen(function* () {
      const log = makeLog()
      yield* VirtualTime.run(
        Effect.forEach(
          [
            ["a", 20],
            ["b", 10],
            ["c", 20],
            ["d", 10],
            ["e", 0]
          ] as const,
          ([label, millis]) => Effect.zipRight(Effect.sleep(Duration.millis(millis)), log.add(label)),
          { concurrency: "unbounded", discard: true }
        )
      )
      expect(log.lines).toEqual([
        [0, "e"],
        [10, "b"],
        [10, "d"],
        [20, "a"],
        [20, "c"]
      ])
    })
  )

  it.effect("sleep(0) fires only after every runnable fiber has run", () =>
    Effect.gen(function* () {
      const log = makeLog()
      yield* VirtualTime.run(
        Effect.all(
          [
            Effect.zipRight(Effect.sleep(Duration.zero), log.add("timer")),
            Effect.forEach([1, 2, 3], (i) => Effect.zipRight(Effect.yieldNow(), log.add(`step ${i}`)), { discard: true })
          ],
          { concurrency: "unbounded", discard: true }
        )
      )
      expect(log.lines.map(([, label]) => label)).toEqual(["step 1", "step 2", "step 3", "timer"])
    })
  )
})

describe("VirtualTime: timeouts and schedules", () => {
  it.effect("a timeout races a sleep: the earlier deadline wins, at exactly its time", () =>
    VirtualTime.run(
      Effect.gen(function* () {
        const late = yield* Effect.exit(Effect.timeout(Effect.sleep("11 seconds"), "10 seconds"))
        expect(Exit.isFailure(late)).toBe(true)
        expect(yield* Clock.currentTimeMillis).toBe(10_000)
        const early = yield* Effect.timeoutOption(Effect.as(Effect.sleep("9 seconds"), "done"), "10 seconds")
        expect(early).toEqual(Option.some("done"))
        expect(yield* Clock.currentTimeMillis).toBe(19_000)
        // the loser's timer is gone: nothing is left to fire
        expect(yield* pendingTimers).toBe(0)
      })
    )
  )

  it.effect("at an equal deadline, the timer set first wins: the effect's own sleep beats its timeout", () =>
    VirtualTime.run(
      Effect.gen(function* () {
        const result = yield* Effect.timeoutOption(Effect.as(Effect.sleep("5 seconds"), "answered"), "5 seconds")
        expect(result).toEqual(Option.some("answered"))
        expect(yield* Clock.currentTimeMillis).toBe(5_000)
      })
    )
  )

  it.effect("schedules run on the virtual clock: spaced repeats and exponential retries", () =>
    VirtualTime.run(
      Effect.gen(function* () {
        const ticks = yield* Ref.make<Array<number>>([])
        const tick = Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(ticks, (all) => [...all, now]))
        yield* Effect.repeat(tick, Schedule.spaced("1 minute").pipe(Schedule.intersect(Schedule.recurs(3))))
        expect(yield* Ref.get(ticks)).toEqual([0, 60_000, 120_000, 180_000])
        const attempts = yield* Ref.make(0)
        yield* Effect.flip(
          Effect.retry(
            Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail("down")),
            Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
          )
        )
        expect(yield* Ref.get(attempts)).toBe(4)
        expect(yield* Clock.currentTimeMillis).toBe(180_000 + 100 + 200 + 400)
      })
    )
  )
})

describe("VirtualTime: fibers", () => {
  it.effect("interrupting a sleeping fiber removes its timer: time does not run on to it", () =>
    Effect.gen(function* () {
      const [pending, stats] = yield* VirtualTime.runWithStats(
        Effect.gen(function* () {
          const sleeper = yield* Effect.fork(Effect.sleep("1 hour"))
          yield* Effect.sleep("1 second")
          const before = yield* pendingTimers
          yield* Fiber.interrupt(sleeper)
          return [before, yield* pendingTimers] as const
        })
      )
      expect(pending).toEqual([1, 0])
      expect(stats.virtualMillis).toBe(1_000)
    })
  )

  it.effect("nested forks: grandchildren sleep on the same clock and finish in deadline order", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const [, stats] = yield* VirtualTime.runWithStats(
        Effect.forEach(
          [1, 2, 3],
          (child) =>
            Effect.gen(function* () {
              yield* Effect.sleep(Duration.seconds(child))
              const grandchildren = yield* Effect.forEach([1, 2], (g) =>
                Effect.fork(Effect.zipRight(Effect.sleep(Duration.seconds(10 * g)), log.add(`${child}.${g}`)))
              )
              yield* Fiber.joinAll(grandchildren)
            }),
          { concurrency: "unbounded", discard: true }
        )
      )
      expect(log.lines).toEqual([
        [11_000, "1.1"],
        [12_000, "2.1"],
        [13_000, "3.1"],
        [21_000, "1.2"],
        [22_000, "2.2"],
        [23_000, "3.2"]
      ])
      expect(stats.virtualMillis).toBe(23_000)
    })
  )

  it.effect("fibers meet through deferreds without time moving", () =>
    VirtualTime.run(
      Effect.gen(function* () {
        const ready = yield* Deferred.make<string>()
        const waiter = yield* Effect.fork(Deferred.await(ready))
        yield* Effect.sleep("3 seconds")
        yield* Deferred.succeed(ready, "go")
        expect(yield* Fiber.join(waiter)).toBe("go")
        expect(yield* Clock.currentTimeMillis).toBe(3_000)
      })
    )
  )

  it.effect("a world that waits on what never comes fails with Stalled at its virtual time", () =>
    Effect.gen(function* () {
      const finalized = yield* Ref.make(false)
      const error = yield* Effect.flip(
        VirtualTime.run(
          Effect.zipRight(Effect.sleep("2 minutes"), Effect.ensuring(Effect.never, Ref.set(finalized, true))),
          { stallTimeout: 0 }
        )
      )
      expect(error).toBeInstanceOf(VirtualTime.Stalled)
      expect(error.at).toBe(120_000)
      expect(yield* Ref.get(finalized)).toBe(true)
    })
  )

  it.live("interrupting the caller interrupts the world and runs its finalizers", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Deferred.make<number>()
      const world = Effect.gen(function* () {
        yield* Deferred.succeed(started, undefined)
        yield* Effect.sleep("1 minute")
        yield* Effect.never
      }).pipe(Effect.onInterrupt(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Deferred.succeed(finalized, now))))
      const fiber = yield* Effect.fork(VirtualTime.run(world))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      // the world was interrupted where it was: past its one-minute sleep, waiting forever
      expect(yield* Deferred.await(finalized)).toBe(60_000)
    })
  )
})

describe("VirtualTime: the driver", () => {
  it.live("a long run lets the event loop breathe between slices", () =>
    Effect.gen(function* () {
      let ticks = 0
      const timer = setInterval(() => ticks++, 0)
      const [, stats] = yield* VirtualTime.runWithStats(
        Effect.forEach([1, 2, 3, 4], () => Effect.repeatN(Effect.sleep("1 second"), 5_000), {
          concurrency: "unbounded",
          discard: true
        }),
        { sliceMillis: 1 }
      ).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
      expect(stats.wakeUps).toBe(4 * 5_001)
      expect(stats.virtualMillis).toBe(5_001_000)
      // real timers ran while the world was simulated: it never held the process for the whole run
      expect(ticks).toBeGreaterThan(5)
    })
  )
})

describe("VirtualTime: determinism", () => {
  /** Many fibers sleeping seeded random delays and sharing a counter: the log is the run's fingerprint. */
  const busyWorld = (seed: number) =>
    Effect.gen(function* () {
      const log = makeLog()
      const counter = yield* Ref.make(0)
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) =>
          Effect.gen(function* () {
            for (let round = 0; round < 20; round++) {
              yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, 1_000)))
              const n = yield* Ref.updateAndGet(counter, (c) => c + 1)
              yield* log.add(`${i}:${n}`)
              if ((yield* Random.next) < 0.2) yield* Effect.fork(Effect.timeout(Effect.sleep("300 millis"), "200 millis"))
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      return log.lines
    }).pipe(Effect.withRandom(Random.make(seed)))

  it.effect("the same program and seed give the same interleaving on every run", () =>
    Effect.gen(function* () {
      const first = yield* VirtualTime.run(busyWorld(42))
      const second = yield* VirtualTime.run(busyWorld(42))
      const other = yield* VirtualTime.run(busyWorld(43))
      expect(first.length).toBe(1_000)
      expect(second).toEqual(first)
      expect(other).not.toEqual(first)
    })
  )

  it.effect.prop(
    "timers fire in (deadline, order set) order and the clock ends at the last deadline",
    { delays: fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 40 }) },
    ({ delays }) =>
      Effect.gen(function* () {
        const log = makeLog()
        const [, stats] = yield* VirtualTime.runWithStats(
          Effect.forEach(delays, (d, i) => Effect.zipRight(Effect.sleep(Duration.millis(d)), log.add(String(i))), {
            concurrency: "unbounded",
            discard: true
          })
        )
        const expected = delays
          .map((d, i) => [d, String(i)] as const)
          .sort((a, b) => a[0] - b[0] || Number(a[1]) - Number(b[1]))
        expect(log.lines).toEqual(expected)
        expect(stats.virtualMillis).toBe(Math.max(...delays))
        expect(stats.wakeUps).toBe(delays.length)
      }),
    // 1000 worlds: past the 30 s default on a loaded machine (two cores shared)
    { fastCheck: { numRuns: 1000 }, timeout: 120_000 }
  )
})
