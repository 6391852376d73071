/**
 * Fast, exact virtual time for whole Effect programs: an hour of traffic,
 * with tens of thousands of requests and their sleeps, timeouts and
 * schedules, runs in seconds and gives the same result on every run.
 *
 * ## How it works
 *
 * {@link run} starts the program as the root fiber of a *world* made of two
 * parts, both plain Effect services:
 *
 * - a **clock** (Effect's `Clock`, installed with `Effect.withClock`), whose
 *   `sleep(d)` sets a timer at `now + d` in a heap keyed by (deadline, order
 *   set). Interrupting the sleep cancels its timer. `Effect.sleep`,
 *   `Effect.timeout*`, `Effect.delay`, `Schedule`s, `Clock.currentTimeMillis`
 *   all go through the clock service, so they all run on it.
 * - a **scheduler** (Effect's `Scheduler`, passed to the root fiber and
 *   inherited by every fiber it forks), which queues fiber steps instead of
 *   handing them to the event loop.
 *
 * A driver runs queued steps, in order, until the queue is empty. An empty
 * queue means no fiber of the world can move until time does, so the driver
 * then pops the earliest timer, sets the clock to its deadline, and wakes its
 * fiber; and so on until the root fiber ends. Nothing polls and nothing waits
 * on a real timer: detecting "no fiber can make progress" is free, because
 * every step of every fiber passes through the driver's own queue.
 *
 * ## Semantics
 *
 * - Timers fire one at a time in (deadline, order set) order, and everything
 *   a timer wakes runs to quiescence before the next fires: two sleeps of the
 *   same length end in the order they began; a timeout and a sleep due at the
 *   same instant resolve in the order they were set.
 * - `sleep(0)` fires after everything runnable now has run.
 * - Time only moves forward, only to a deadline, and never while a step is
 *   runnable. Time is a number of milliseconds (fractions allowed).
 * - Determinism: a program whose only inputs are the clock and a seeded
 *   `Random` gives the same result on every run and every machine.
 * - The outside world is not in the simulation. A fiber of the world that
 *   waits on a promise or real I/O does not stop virtual time: the driver
 *   fires the next timer when the queue is empty. Do I/O before or after.
 *   When no step is queued and no timer is set but the root fiber still
 *   runs, the driver waits up to `stallTimeout` of real time for an outside
 *   event, then interrupts the world and fails with {@link Stalled}.
 * - Fibers forked as daemons outlive nothing: when the root fiber ends, the
 *   world stops.
 *
 * ## Cost
 *
 * A wake-up costs a heap pop plus the fiber steps it enables. Measured on a
 * shared 2-core machine (Node 20, Effect 3.22):
 *
 * | workload                                   | per wake-up |
 * |--------------------------------------------|-------------|
 * | one fiber looping `Effect.sleep("1 millis")` | ~9 us     |
 * | 100 fibers looping the same                | ~17 us      |
 * | a sleep raced by `Effect.timeout` (a fork) | ~70 us      |
 * | `TestClock.adjust` per wake-up, for scale  | 5 to 14 ms  |
 *
 * `TestClock` waits on real timers to be sure fibers are idle; here the
 * scheduler's own queue says so, which makes virtual time about a thousand
 * times cheaper per wake-up. In the outage simulator, the router's own work
 * (about 0.5 to 1 ms of CPU per request) dominates; the clock and scheduler
 * take about 1% of a run.
 *
 * The driver runs in slices of real time (`sliceMillis`), yielding to the
 * event loop between them, so a long simulation does not freeze the process.
 *
 * @since 0.1.0
 */
import type { Clock } from "effect"
import { Data, Duration, Effect, Exit, Option } from "effect"
import * as internal from "./internal/virtualTime.js"

/**
 * What a run cost: timers fired, fiber steps run, virtual time covered, and
 * the real time the driver spent (the only figure that varies between runs).
 *
 * @example
 * import { Effect } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * declare const job: Effect.Effect<void>
 *
 * const program = Effect.gen(function* () {
 *   const [, stats] = yield* VirtualTime.runWithStats(job)
 *   const speedup = (s: VirtualTime.Stats) => s.virtualMillis / Math.max(s.realMillis, 1)
 *   yield* Effect.log(`${stats.tasks} fiber steps, ${stats.wakeUps} wake-ups, ${Math.round(speedup(stats))}x real time`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly wakeUps: number
  readonly tasks: number
  readonly virtualMillis: number
  readonly realMillis: number
}

/**
 * Options of {@link run}.
 *
 * @example
 * import { Clock, Effect } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * // start on 2025-01-01 and give an outside event 5 seconds before calling the world stalled
 * const options: VirtualTime.Options = { start: Date.UTC(2025, 0, 1), stallTimeout: "5 seconds", sliceMillis: 50 }
 * const program = VirtualTime.run(Effect.zipRight(Effect.sleep("1 day"), Clock.currentTimeMillis), options)
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The clock at the start, epoch milliseconds (default 0). */
  readonly start?: number
  /** Real time the driver runs before letting the event loop breathe (default 20 ms). */
  readonly sliceMillis?: number
  /** Real time to wait, with nothing queued and no timer set, before calling the world stalled (default 1 second). */
  readonly stallTimeout?: Duration.DurationInput
}

/**
 * The world stalled: its root fiber waited on something no timer and no
 * fiber of the world would ever complete (a deadlock, an `Effect.never`, an
 * infinite sleep). It was interrupted; `at` is the virtual time it stalled.
 *
 * @example
 * import { Effect } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * const program = VirtualTime.run(Effect.never, { stallTimeout: 0 }).pipe(
 *   Effect.catchTag("Stalled", (stalled) => Effect.log(`stalled at ${stalled.at} ms`))
 * )
 *
 * @since 0.1.0
 * @category errors
 */
export class Stalled extends Data.TaggedError("Stalled")<{ readonly at: number }> {
  override get message(): string {
    return `the simulated world stalled at ${this.at} ms: its root fiber waits on something that never happens`
  }
}

/**
 * A world's clock: Effect's `Clock`, plus how many timers are set and the
 * run's counters so far.
 *
 * @example
 * import { Effect, Option } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * // how busy the simulated world is, when running in one
 * const program = Effect.gen(function* () {
 *   const clock: Option.Option<VirtualTime.VirtualClock> = yield* VirtualTime.current
 *   if (Option.isSome(clock)) {
 *     yield* Effect.log(`${clock.value.pendingTimers()} timers set, ${clock.value.stats().wakeUps} fired so far`)
 *   }
 * }).pipe(VirtualTime.run)
 *
 * @since 0.1.0
 * @category models
 */
export interface VirtualClock extends Clock.Clock {
  readonly pendingTimers: () => number
  readonly stats: () => Stats
}

const toInternal = (options: Options): internal.Options => ({
  ...(options.start === undefined ? {} : { start: options.start }),
  ...(options.sliceMillis === undefined ? {} : { sliceMillis: options.sliceMillis }),
  ...(options.stallTimeout === undefined ? {} : { stallMillis: Duration.toMillis(options.stallTimeout) })
})

/**
 * Runs an effect in virtual time and returns its result with the run's
 * counters. The effect keeps the caller's context (services, logger); only
 * its clock and scheduler change. Interrupting the caller interrupts the
 * world and waits for its finalizers, which run in virtual time too.
 *
 * @example
 * import { Effect } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * const program = Effect.gen(function* () {
 *   const [value, stats] = yield* VirtualTime.runWithStats(Effect.as(Effect.sleep("1 hour"), "done"))
 *   // value "done"; stats.virtualMillis 3_600_000, stats.wakeUps 1, in well under a millisecond
 * })
 *
 * @since 0.1.0
 * @category running
 */
export const runWithStats = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: Options = {}
): Effect.Effect<readonly [A, Stats], E | Stalled, R> =>
  Effect.flatMap(
    internal.run(effect, toInternal(options)),
    ({ exit, stall, stats }): Effect.Effect<readonly [A, Stats], E | Stalled> =>
      stall !== undefined && Exit.isInterrupted(exit)
        ? Effect.fail(new Stalled({ at: stall.at }))
        : Exit.isSuccess(exit)
        ? Effect.succeed([exit.value, stats] as const)
        : Effect.failCause(exit.cause)
  )

/**
 * Runs an effect in virtual time: every sleep, timeout and schedule inside
 * it takes no real time, and time moves only when no fiber can progress.
 *
 * @example
 * import { Clock, Effect } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * // a day of a once-a-minute job, in milliseconds of real time
 * const program = VirtualTime.run(
 *   Effect.gen(function* () {
 *     for (let i = 0; i < 24 * 60; i++) yield* Effect.sleep("1 minute")
 *     return yield* Clock.currentTimeMillis // 86_400_000
 *   })
 * )
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R>(effect: Effect.Effect<A, E, R>, options: Options = {}): Effect.Effect<A, E | Stalled, R> =>
  Effect.map(runWithStats(effect, options), ([value]) => value)

/**
 * The world's clock when running in virtual time, else `None`.
 *
 * @example
 * import { Effect, Option } from "effect"
 * import { VirtualTime } from "effect-llm-failover/simulator"
 *
 * const pending = Effect.map(VirtualTime.current, Option.map((clock) => clock.pendingTimers()))
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Option.Option<VirtualClock>> = Effect.clockWith((clock) =>
  Effect.succeed(internal.isVirtualClock(clock) ? Option.some(clock) : Option.none())
)
