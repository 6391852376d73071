/**
 * A timeout that forks one fiber (the call) and, under the live clock,
 * schedules one `setTimeout` that interrupts it, instead of the two fibers
 * `Effect.timeoutFail` races (the call and a sleeping timer).
 *
 * The decision rules are `Effect.timeoutFail`'s, shared by both timer
 * sources:
 *
 * - the call runs in a child fiber forked from the caller, so it sees the
 *   caller's services, span and `FiberRef`s;
 * - the caller waits for the child's exit, whatever ends the call (success,
 *   failure, deadline), so the child's finalizers have run before this
 *   effect returns; if the caller is interrupted while it waits, it
 *   interrupts the child and waits for it too (even when forks go to
 *   another scope, as under `Effect.daemonChildren`, which
 *   `Effect.timeoutFail` does not handle: it waits for the deadline);
 * - when the deadline passes before the child has exited, the child is
 *   interrupted (as by the caller's fiber id) and the result is `onTimeout`,
 *   whatever the child's exit then is;
 * - otherwise the result is the child's exit, and on success the child's
 *   `FiberRef` changes are merged into the caller (as `Fiber.join` does).
 *
 * The timer: with the live `Clock` (the default one), a plain `setTimeout`
 * that is cleared as soon as the child exits; with any other clock
 * (`TestClock`, a simulation clock), a daemon fiber that runs
 * `clock.sleep(duration)` and is interrupted as soon as the child exits, so
 * virtual time drives the deadline.
 *
 * @internal
 */
import { Clock, Context, DefaultServices, Duration, Effect, Fiber } from "effect"
import type { Cause, Exit, FiberId } from "effect"
import type { LazyArg } from "effect/Function"

/** Node's largest timer; the live clock treats longer sleeps as infinite. */
const maxTimerMillis = 2 ** 31 - 1

/**
 * A plain `setTimeout` that runs `onExpire` after `millis`, or none for a
 * deadline longer than Node's largest timer (which the live clock treats as
 * no deadline). For deadlines kept on timers under the live clock.
 *
 * @internal
 */
export const armTimer = (millis: number, onExpire: () => void): ReturnType<typeof setTimeout> | undefined =>
  millis <= maxTimerMillis ? setTimeout(onExpire, millis) : undefined

/** The class of Effect's live clock: any instance of it sleeps on `setTimeout`. */
const liveClockClass = Context.get(DefaultServices.liveServices, Clock.Clock).constructor

/**
 * Now on `clock`'s monotonic time, in milliseconds: deadlines are kept on
 * it, so a step of the system clock moves none of them (the live clock's
 * `unsafeCurrentTimeMillis` is `Date.now()`; the test and simulation
 * clocks keep both times the same).
 *
 * @internal
 */
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1e6

/** Whether `clock` is Effect's live clock, so a raw `setTimeout` keeps time exactly as its `sleep` would. @internal */
export const isLive = (clock: Clock.Clock): boolean => clock.constructor === liveClockClass

/**
 * The deadline of one call: the child running it, its timer, and whether
 * the deadline passed before the child exited.
 */
class Deadline<A, E, E1> {
  expired = false
  /** The live clock's timer, while armed. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    /** The call's fiber: it ends with the call's exit, so it never fails but by interruption (see `timeoutFail`). */
    readonly child: Fiber.RuntimeFiber<Exit.Exit<A, E>>,
    private readonly interruptor: FiberId.FiberId,
    private readonly onTimeout: LazyArg<E1>
  ) {}

  /** The deadline passed: interrupt the child, unless it has already exited. */
  expire(): void {
    if (this.child.unsafePoll() !== null) return
    this.expired = true
    this.child.unsafeInterruptAsFork(this.interruptor)
  }

  /** Clears the live clock's timer, if armed. */
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The result, once the child has exited with `exit` (a `matchCauseEffect` arm). */
  readonly onSuccess = (exit: Exit.Exit<Exit.Exit<A, E>>): Effect.Effect<A, E | E1> => {
    if (this.expired) return Effect.failSync(this.onTimeout)
    // interrupted otherwise than by the deadline
    if (exit._tag === "Failure") return Effect.failCause(exit.cause)
    const call = exit.value
    return call._tag === "Success" ? Effect.zipRight(this.child.inheritAll, call) : call
  }

  /**
   * The wait ended without the child's exit: the caller was interrupted.
   * Interrupt the child and wait for it, then end as the caller must. (An
   * interrupt signal reaches a fiber's children anyway; this also covers a
   * child forked into another scope, e.g. under `Effect.daemonChildren`.)
   */
  readonly onFailure = (cause: Cause.Cause<never>): Effect.Effect<never> => {
    this.disarm()
    if (this.child.unsafePoll() !== null) return Effect.failCause(cause)
    this.child.unsafeInterruptAsFork(this.interruptor)
    return Effect.zipRight(this.child.await, Effect.failCause(cause))
  }
}

/** Waits for the child's exit with a `setTimeout` as the deadline (the live clock). */
const awaitWithTimer = <A, E, E1>(deadline: Deadline<A, E, E1>, millis: number): Effect.Effect<Exit.Exit<Exit.Exit<A, E>>> =>
  Effect.async<Exit.Exit<Exit.Exit<A, E>>>((resume) => {
    deadline.timer = armTimer(millis, () => deadline.expire())
    deadline.child.addObserver((exit) => {
      deadline.disarm()
      resume(Effect.succeed(exit))
    })
  }, deadline.child.id())

/** Waits for the child's exit with a fiber sleeping on `clock` as the deadline (any other clock). */
const awaitWithSleep = <A, E, E1>(
  deadline: Deadline<A, E, E1>,
  clock: Clock.Clock,
  duration: Duration.Duration
): Effect.Effect<Exit.Exit<Exit.Exit<A, E>>> =>
  Effect.flatMap(
    // forked from an uninterruptible region: the sleep itself must stay interruptible
    Effect.forkDaemon(Effect.interruptible(Effect.zipRight(clock.sleep(duration), Effect.sync(() => deadline.expire())))),
    (timer) => Effect.ensuring(deadline.child.await, Fiber.interrupt(timer))
  )

/**
 * Runs `self` with a deadline of `duration`, failing with `onTimeout()` if
 * it has not finished by then. See the module docs for the rules.
 *
 * @internal
 */
export const timeoutFail = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: LazyArg<E1>
): Effect.Effect<A, E | E1, R> => {
  const millis = Duration.toMillis(duration)
  return Effect.uninterruptibleMask((restore) =>
    // the child ends with the call's exit, which the caller takes over: a failed call is not a failed
    // fiber, which Effect would log as "Fiber terminated with an unhandled error" (see `handled`)
    Effect.flatMap(Effect.fork(restore(Effect.exit(self))), (child) =>
      Effect.withFiberRuntime<A, E | E1>((parent) => {
        const deadline = new Deadline(child, parent.id(), onTimeout)
        const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
        const wait = isLive(clock) ? awaitWithTimer(deadline, millis) : awaitWithSleep(deadline, clock, duration)
        // The wait is as interruptible as the caller was; an interruption of
        // the caller ends it, and `Deadline.onFailure` then stops the child.
        return Effect.matchCauseEffect(restore(wait), deadline)
      }))
  )
}
