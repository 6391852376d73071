/**
 * Virtual time: a `Clock` whose sleeps are timers in a heap, a `Scheduler`
 * that queues every fiber task of the simulated world, and a driver that
 * runs queued tasks until none is left and only then moves the clock to the
 * next timer. See `../VirtualTime.ts` for the semantics.
 *
 * Why it is exact and cheap: every fiber of the world runs its steps through
 * this scheduler (the scheduler is a `FiberRef` that forks inherit), so an
 * empty queue means no fiber of the world can make progress without time
 * moving. Nothing polls, nothing waits on a real timer: a wake-up is a heap
 * pop and the fiber steps it enables.
 *
 * @internal
 */
import type { Fiber, Runtime as R } from "effect"
import { Clock, Duration, Effect, Exit, FiberId, Runtime, Scheduler } from "effect"
import { TimerHeap } from "./timerHeap.js"

/** Counters of one run. @internal */
export interface Stats {
  /** Timers fired (each a jump of the clock, possibly by zero). */
  readonly wakeUps: number
  /** Fiber steps run by the scheduler. */
  readonly tasks: number
  /** Virtual milliseconds from the start to the end. */
  readonly virtualMillis: number
  /** Real milliseconds the driver spent running. */
  readonly realMillis: number
}

/** @internal */
export interface Options {
  /** The clock's start, epoch milliseconds (default 0). */
  readonly start?: number
  /** Real milliseconds of running before the driver lets the event loop breathe (default 20). */
  readonly sliceMillis?: number
  /** Real milliseconds to wait, with no task and no timer left, for outside events before calling it a stall (default 1000). */
  readonly stallMillis?: number
}

/** How a world ended when nothing could move: the root fiber is blocked forever. @internal */
export interface Stall {
  readonly _tag: "Stall"
  readonly at: number
}

const toMillis = (duration: Duration.Duration): number => Duration.toMillis(duration)

/** Tasks run between two looks at the real clock. */
const tasksPerCheck = 512

/** The real clock is read every 16 wake-ups (a bit mask of the count). */
const wakeUpCheckMask = 15

/** A simulated world: its clock, its scheduler and its driver. @internal */
export class World implements Scheduler.Scheduler {
  now: number
  private readonly timers = new TimerHeap()
  private readonly queue = new Scheduler.PriorityBuckets()
  private queued = 0
  private state: "idle" | "scheduled" | "running" | "waiting" | "done" = "idle"
  private stallTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private wakeUps = 0
  private tasks = 0
  private realMillis = 0
  private readonly startedAt: number
  private readonly sliceMillis: number
  private readonly stallMillis: number
  private root: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  private onStall: ((stall: Stall) => void) | undefined = undefined
  readonly clock: VirtualClock

  constructor(options: Options = {}) {
    this.now = options.start ?? 0
    this.startedAt = this.now
    this.sliceMillis = options.sliceMillis ?? 20
    this.stallMillis = options.stallMillis ?? 1_000
    this.clock = makeClock(this)
  }

  // -------------------------------------------------------------------------
  // Scheduler
  // -------------------------------------------------------------------------

  scheduleTask(task: Scheduler.Task, priority: number): void {
    this.queue.scheduleTask(task, priority)
    this.queued++
    if (this.state === "idle" || this.state === "waiting") this.wake()
  }

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    return Scheduler.defaultShouldYield(fiber)
  }

  // -------------------------------------------------------------------------
  // Timers
  // -------------------------------------------------------------------------

  /** A sleep: a timer at now + duration; interruption cancels it. */
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    if (!Duration.isFinite(duration)) return Effect.never
    return Effect.async<void>((resume) => {
      const timer = this.timers.add(this.now + Math.max(0, toMillis(duration)), () => resume(Effect.void))
      return Effect.sync(() => this.timers.cancel(timer))
    })
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.live
  }

  stats(): Stats {
    return { wakeUps: this.wakeUps, tasks: this.tasks, virtualMillis: this.now - this.startedAt, realMillis: this.realMillis }
  }

  // -------------------------------------------------------------------------
  // Driver
  // -------------------------------------------------------------------------

  /** Starts the root fiber of the world from the outer runtime; `onStall` hears of a stall. */
  start<A, E, R>(runtime: R.Runtime<R>, effect: Effect.Effect<A, E, R>, onStall: (stall: Stall) => void) {
    this.onStall = onStall
    const fiber = Runtime.runFork(runtime)(Effect.withClock(effect, this.clock), { scheduler: this, immediate: false })
    this.root = fiber as Fiber.RuntimeFiber<unknown, unknown>
    fiber.addObserver(() => {
      this.state = "done"
      this.clearStallTimer()
    })
    return fiber
  }

  private wake(): void {
    this.clearStallTimer()
    this.state = "scheduled"
    setImmediate(this.drive)
  }

  private clearStallTimer(): void {
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer)
    this.stallTimer = undefined
  }

  /** Runs tasks and fires timers for one slice of real time. */
  private readonly drive = (): void => {
    if (this.state !== "scheduled") return
    this.state = "running"
    const began = performance.now()
    const deadline = began + this.sliceMillis
    try {
      for (let fired = 1; ; fired++) {
        if (!this.runTasks(deadline)) return this.yieldSlice()
        if (this.isDone()) return
        if ((fired & wakeUpCheckMask) === 0 && performance.now() > deadline) return this.yieldSlice()
        const timer = this.timers.pop()
        if (timer === undefined) return this.waitForOutside()
        this.wakeUps++
        if (timer.deadline > this.now) this.now = timer.deadline
        timer.wake()
      }
    } finally {
      this.realMillis += performance.now() - began
    }
  }

  private isDone(): boolean {
    return this.state === "done"
  }

  /** Runs queued tasks until none is left (true), or until the slice is over (false). */
  private runTasks(deadline: number): boolean {
    let sinceCheck = 0
    while (this.queued > 0) {
      const buckets = this.queue.buckets
      this.queue.buckets = []
      for (const [, tasks] of buckets) {
        for (let i = 0; i < tasks.length; i++) {
          this.queued--
          tasks[i]!()
        }
        this.tasks += tasks.length
        sinceCheck += tasks.length
      }
      if (sinceCheck >= tasksPerCheck) {
        sinceCheck = 0
        if (this.queued > 0 && performance.now() > deadline) return false
      }
    }
    return true
  }

  private yieldSlice(): void {
    if (this.isDone()) return
    this.state = "scheduled"
    setImmediate(this.drive)
  }

  /** No task, no timer, the root still running: only the outside world can move it now. */
  private waitForOutside(): void {
    this.state = "waiting"
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      if (this.state !== "waiting") return
      this.onStall?.({ _tag: "Stall", at: this.now })
      this.root?.unsafeInterruptAsFork(FiberId.none)
    }, this.stallMillis)
  }
}

/** The clock of a world: Effect's `Clock`, plus a view of its timers. @internal */
export interface VirtualClock extends Clock.Clock {
  readonly [VirtualClockTypeId]: VirtualClockTypeId
  /** Timers set and not yet fired or cancelled. */
  readonly pendingTimers: () => number
  /** The run's counters so far. */
  readonly stats: () => Stats
}

/** @internal */
export const VirtualClockTypeId: unique symbol = Symbol.for("effect-llm-failover/VirtualClock")

/** @internal */
export type VirtualClockTypeId = typeof VirtualClockTypeId

/** @internal */
export const isVirtualClock = (clock: Clock.Clock): clock is VirtualClock => VirtualClockTypeId in clock

const makeClock = (world: World): VirtualClock => {
  const currentTimeMillis = Effect.sync(() => world.now)
  const currentTimeNanos = Effect.sync(() => nanos(world.now))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    [VirtualClockTypeId]: VirtualClockTypeId,
    unsafeCurrentTimeMillis: () => world.now,
    unsafeCurrentTimeNanos: () => nanos(world.now),
    currentTimeMillis,
    currentTimeNanos,
    sleep: (duration) => world.sleep(duration),
    pendingTimers: () => world.pendingTimers,
    stats: () => world.stats()
  }
}

const nanos = (millis: number): bigint => BigInt(Math.round(millis * 1_000_000))

/**
 * Runs an effect in a fresh world and waits for it from the outer fiber.
 * Interrupting the outer fiber interrupts the world's root fiber and waits
 * for its finalizers, which run in virtual time too.
 *
 * @internal
 */
export const run = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: Options = {}
): Effect.Effect<{ readonly exit: Exit.Exit<A, E>; readonly stall: Stall | undefined; readonly stats: Stats }, never, R> =>
  Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.async((resume) => {
      const world = new World(options)
      let stall: Stall | undefined = undefined
      const fiber = world.start(runtime, effect, (s) => {
        stall = s
      })
      fiber.addObserver((exit) => resume(Effect.succeed({ exit, stall, stats: world.stats() })))
      return Effect.async<void>((done) => {
        fiber.addObserver(() => done(Effect.void))
        fiber.unsafeInterruptAsFork(FiberId.none)
      })
    })
  )
