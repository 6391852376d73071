import { assert, describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  FiberRef,
  Option,
  Ref,
  TestClock
} from "effect"
import * as Timeout from "../src/resilience/Timeout.js"
import { eventually } from "./support/fibers.js"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

class TimedOut {
  readonly _tag = "TimedOut"
}

const onTimeout = () => new TimedOut()

type Log = Ref.Ref<ReadonlyArray<string>>

const makeLog: Effect.Effect<Log> = Ref.make<ReadonlyArray<string>>([])

const append = (log: Log, entry: string) => Ref.update(log, (entries) => [...entries, entry])

/** A finalizer that takes many scheduler turns, so it shows up only if it was awaited. */
const slowFinalizer = (log: Log, entry: string) =>
  Effect.repeatN(Effect.yieldNow(), 20).pipe(Effect.zipRight(append(log, entry)))

/** Runs `effect` and reads the log in the same fiber, right after its result. */
const thenReadLog = <A, E>(effect: Effect.Effect<A, E>, log: Log) =>
  Effect.flatMap(Effect.exit(effect), (exit) => Effect.map(Ref.get(log), (entries) => ({ exit, entries })))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/**
 * Forks `guard` around a call that never ends (and logs "aborted", after
 * many scheduler turns, when interrupted), waits until the call started,
 * then interrupts the caller: the caller's exit, the log right after it,
 * and the log itself.
 */
const interruptCaller = (guard: (call: Effect.Effect<never>) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const log = yield* makeLog
    const started = yield* Ref.make(false)
    const call = Effect.zipRight(Ref.set(started, true), Effect.never).pipe(
      Effect.onInterrupt(() => slowFinalizer(log, "aborted"))
    )
    const fiber = yield* Effect.fork(guard(call))
    yield* eventually(Ref.get(started), "the call started")
    const exit = yield* Fiber.interrupt(fiber)
    return { exit, entries: yield* Ref.get(log), log }
  })

/** Waits real time: only for the tests about the live clock, and a few milliseconds at most. */
const realWait = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/**
 * A clock whose time moves only when `step` wakes its earliest sleeper: a
 * stand-in for a simulation clock, which implements `sleep` and nothing
 * that Effect's live clock or `TestClock` share. An interrupted sleep leaves
 * the list, so `pending` counts timers still armed. Synchronous and fast,
 * so properties can run thousands of cases on it (`TestClock.adjust` waits
 * real milliseconds per step).
 */
const simulationClock = () => {
  let now = 0
  let order = 0
  const sleepers: Array<{ readonly at: number; readonly order: number; readonly wake: () => void }> = []
  const nanos = () => BigInt(now) * 1_000_000n
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: nanos,
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const sleeper = { at: now + Duration.toMillis(duration), order: order++, wake: () => resume(Effect.void) }
        sleepers.push(sleeper)
        return Effect.sync(() => {
          const index = sleepers.indexOf(sleeper)
          if (index >= 0) sleepers.splice(index, 1)
        })
      })
  }
  /** Wakes the earliest sleeper (the first to sleep among equals); false when none is left. */
  const step = Effect.sync(() => {
    if (sleepers.length === 0) return false
    let next = 0
    for (let i = 1; i < sleepers.length; i++) {
      const s = sleepers[i]!
      const n = sleepers[next]!
      if (s.at < n.at || (s.at === n.at && s.order < n.order)) next = i
    }
    const [sleeper] = sleepers.splice(next, 1)
    now = Math.max(now, sleeper!.at)
    sleeper!.wake()
    return true
  })
  /** Lets every fiber run as far as it can without time passing. */
  const settle = Effect.repeatN(Effect.yieldNow(), 8)
  /** Runs `fiber` to its end, moving time from sleeper to sleeper. */
  const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
    Effect.gen(function*() {
      yield* settle
      for (let i = 0; i < 1_000 && fiber.unsafePoll() === null; i++) {
        if (!(yield* step)) break
        yield* settle
      }
      return yield* Fiber.await(fiber)
    })
  return { clock, drive, now: () => now, pending: () => sleepers.length }
}

type Outcome = "succeed" | "fail" | "die" | "interrupt-itself"

/** A call that sleeps `millis`, then ends as `outcome` says. */
const callThatEnds = (millis: number, outcome: Outcome): Effect.Effect<string, string> =>
  Effect.zipRight(
    Effect.sleep(Duration.millis(millis)),
    outcome === "succeed"
      ? Effect.succeed("value")
      : outcome === "fail"
      ? Effect.fail("error")
      : outcome === "die"
      ? Effect.die("defect")
      : Effect.interrupt
  )

/** An exit in words, so exits from different fibers compare. */
const describeExit = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.match(exit, {
    onSuccess: (value) => `success ${String(value)}`,
    onFailure: (cause) =>
      Cause.isInterruptedOnly(cause)
        ? "interrupted"
        : Option.match(Cause.failureOption(cause), {
          onSome: (error) => `fail ${error instanceof TimedOut ? "TimedOut" : String(error)}`,
          onNone: () => `die ${Cause.squash(cause)}`
        })
  })

class Greeting extends Context.Tag("test/Timeout/Greeting")<Greeting, string>() {}

// ---------------------------------------------------------------------------
// under TestClock
// ---------------------------------------------------------------------------

describe("Timeout.timeoutFail under TestClock", () => {
  it.effect("returns the call's value when it finishes before the deadline", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Timeout.timeoutFail(callThatEnds(500, "succeed"), { duration: "1 second", onTimeout })
      )
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "value")
    }))

  it.effect("fails with onTimeout exactly at the deadline, calling it once", () =>
    Effect.gen(function*() {
      let calls = 0
      const fiber = yield* Effect.fork(
        Timeout.timeoutFail(Effect.never, {
          duration: "1 second",
          onTimeout: () => {
            calls++
            return new TimedOut()
          }
        })
      )
      yield* TestClock.adjust("999 millis")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      assert.instanceOf(failureOf(exit), TimedOut)
      assert.strictEqual(calls, 1)
    }))

  it.effect("passes the call's failure, defect and self-interruption through unchanged", () =>
    Effect.gen(function*() {
      const run = (outcome: Outcome) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            Timeout.timeoutFail(callThatEnds(10, outcome), { duration: "1 second", onTimeout })
          )
          yield* TestClock.adjust("10 millis")
          return describeExit(yield* Fiber.await(fiber))
        })
      assert.strictEqual(yield* run("fail"), "fail error")
      assert.strictEqual(yield* run("die"), "die defect")
      assert.strictEqual(yield* run("interrupt-itself"), "interrupted")
    }))

  it.effect("at the deadline the call is interrupted and its finalizers have run before the error returns", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const call = Effect.never.pipe(Effect.onInterrupt(() => slowFinalizer(log, "aborted")))
      const fiber = yield* Effect.fork(
        thenReadLog(Timeout.timeoutFail(call, { duration: "1 second", onTimeout }), log)
      )
      yield* TestClock.adjust("1 second")
      const { entries, exit } = yield* Fiber.join(fiber)
      assert.instanceOf(failureOf(exit), TimedOut)
      assert.deepStrictEqual(entries, ["aborted"])
    }))

  it.effect("interrupting the caller interrupts the call and waits for its finalizers", () =>
    Effect.gen(function*() {
      const { entries, exit, log } = yield* interruptCaller((call) =>
        Timeout.timeoutFail(call, { duration: "1 second", onTimeout })
      )
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(entries, ["aborted"])
      // the deadline passing later changes nothing
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* Ref.get(log), ["aborted"])
    }))

  it.effect("interrupting the caller interrupts the call even when forks go elsewhere (Effect.daemonChildren)", () =>
    Effect.gen(function*() {
      // no time passes: the caller does not wait for the deadline
      const { entries, exit } = yield* interruptCaller((call) =>
        Effect.daemonChildren(Timeout.timeoutFail(call, { duration: "1 hour", onTimeout }))
      )
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(entries, ["aborted"])
    }))

  it.effect("an uninterruptible call runs to its end, then the result is the timeout error (as Effect.timeoutFail)", () =>
    Effect.gen(function*() {
      const run = (timeoutFail: typeof Timeout.timeoutFail) =>
        Effect.gen(function*() {
          const log = yield* makeLog
          const call = Effect.uninterruptible(Effect.zipRight(Effect.sleep("3 seconds"), append(log, "finished")))
          const fiber = yield* Effect.fork(timeoutFail(call, { duration: "1 second", onTimeout }))
          yield* TestClock.adjust("1 second")
          assert.isNull(fiber.unsafePoll(), "still waiting for the uninterruptible call")
          yield* TestClock.adjust("2 seconds")
          const exit = yield* Fiber.await(fiber)
          return { result: describeExit(exit), log: yield* Ref.get(log) }
        })
      const ours = yield* run(Timeout.timeoutFail)
      const effects = yield* run(Effect.timeoutFail)
      assert.deepStrictEqual(ours, { result: "fail TimedOut", log: ["finished"] })
      assert.deepStrictEqual(ours, effects)
    }))

  it.effect("the call sees the caller's services and span", () =>
    Effect.gen(function*() {
      const seen = yield* Timeout.timeoutFail(
        Effect.all([Greeting, Effect.currentSpan, Effect.withSpan(Effect.currentSpan, "inner")]),
        { duration: "1 second", onTimeout }
      ).pipe(
        Effect.zip(Effect.currentSpan),
        Effect.withSpan("outer"),
        Effect.provideService(Greeting, "hello")
      )
      const [[greeting, span, inner], outer] = seen
      assert.strictEqual(greeting, "hello")
      assert.strictEqual(span.spanId, outer.spanId)
      assert.strictEqual(Option.getOrThrow(inner.parent).spanId, outer.spanId)
    }))

  it.effect("FiberRef changes of the call reach the caller on success only, as with Effect.timeoutFail", () =>
    Effect.gen(function*() {
      const ref = FiberRef.unsafeMake("initial")
      const run = (timeoutFail: typeof Timeout.timeoutFail, outcome: "succeed" | "fail") =>
        Effect.gen(function*() {
          const call = Effect.zipRight(FiberRef.set(ref, `set by a call that ${outcome}s`), callThatEnds(0, outcome))
          yield* Effect.exit(timeoutFail(call, { duration: "1 second", onTimeout }))
          return yield* FiberRef.get(ref)
        }).pipe(Effect.locally(ref, "initial"))
      for (const outcome of ["succeed", "fail"] as const) {
        const ours = yield* run(Timeout.timeoutFail, outcome)
        assert.strictEqual(ours, yield* run(Effect.timeoutFail, outcome), outcome)
        assert.strictEqual(ours, outcome === "succeed" ? "set by a call that succeeds" : "initial")
      }
    }))

  it.effect("an infinite duration never times out", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Timeout.timeoutFail(callThatEnds(365 * 24 * 3_600_000, "succeed"), { duration: Duration.infinity, onTimeout })
      )
      yield* TestClock.adjust("364 days")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 day")
      assert.strictEqual(yield* Fiber.join(fiber), "value")
    }))

  it.effect("real time does not fire the deadline: TestClock does", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Timeout.timeoutFail(Effect.never, { duration: "1 millis", onTimeout }))
      yield* realWait(30)
      assert.isNull(fiber.unsafePoll(), "a raw setTimeout would have fired by now")
      yield* TestClock.adjust("1 millis")
      assert.instanceOf(failureOf(yield* Fiber.await(fiber)), TimedOut)
    }))

  it.effect("comes data-first and data-last; the data-last form is a reusable policy", () =>
    Effect.gen(function*() {
      const policy = Timeout.timeoutFail({ duration: "1 second", onTimeout })
      const fibers = yield* Effect.all([
        Effect.fork(policy(callThatEnds(10, "succeed"))),
        Effect.fork(callThatEnds(2_000, "succeed").pipe(policy)),
        Effect.fork(Timeout.timeoutFail(callThatEnds(10, "succeed"), { duration: "1 second", onTimeout }))
      ])
      yield* TestClock.adjust("1 second")
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      assert.deepStrictEqual(exits.map(describeExit), ["success value", "fail TimedOut", "success value"])
    }))

  it.effect("Timeout.timeout fails with the TimeoutException Effect.timeout fails with", () =>
    Effect.gen(function*() {
      const ours = yield* Effect.fork(Effect.never.pipe(Timeout.timeout("2 seconds")))
      const effects = yield* Effect.fork(Effect.never.pipe(Effect.timeout("2 seconds")))
      const dataFirst = yield* Effect.fork(Timeout.timeout(callThatEnds(10, "succeed"), "2 seconds"))
      yield* TestClock.adjust("2 seconds")
      const error = failureOf(yield* Fiber.await(ours))
      assert.isTrue(Cause.isTimeoutException(error))
      assert.strictEqual(error?.message, failureOf(yield* Fiber.await(effects))?.message)
      assert.strictEqual(yield* Fiber.join(dataFirst), "value")
    }))
})

// ---------------------------------------------------------------------------
// under a custom clock that only implements sleep
// ---------------------------------------------------------------------------

describe("Timeout.timeoutFail under a simulation clock", () => {
  it.effect("the clock's sleep drives the deadline, and no timer is left armed", () =>
    Effect.gen(function*() {
      const sim = simulationClock()
      const fiber = yield* Effect.fork(
        Timeout.timeoutFail(Effect.never, { duration: "250 millis", onTimeout }).pipe(Effect.withClock(sim.clock))
      )
      const exit = yield* sim.drive(fiber)
      assert.instanceOf(failureOf(exit), TimedOut)
      assert.strictEqual(sim.now(), 250)
      assert.strictEqual(sim.pending(), 0)
    }))

  // `it.live`: the simulation clock is the only clock these cases read, and
  // building the test services for each of 1000 cases would cost seconds
  it.live.prop(
    "ends as Effect.timeoutFail does, at the same virtual time, and disarms its timer",
    {
      callMillis: fc.integer({ min: 0, max: 100 }),
      timeoutMillis: fc.integer({ min: 0, max: 100 }),
      outcome: fc.constantFrom<Outcome>("succeed", "fail", "die", "interrupt-itself")
    },
    ({ callMillis, outcome, timeoutMillis }) =>
      Effect.gen(function*() {
        // at a tie the winner depends on fiber scheduling, in Effect.timeoutFail as here
        if (callMillis === timeoutMillis) return
        const run = (timeoutFail: typeof Timeout.timeoutFail) =>
          Effect.gen(function*() {
            const sim = simulationClock()
            const fiber = yield* Effect.fork(
              timeoutFail(callThatEnds(callMillis, outcome), { duration: Duration.millis(timeoutMillis), onTimeout })
                .pipe(Effect.withClock(sim.clock))
            )
            const exit = yield* sim.drive(fiber)
            return { result: describeExit(exit), at: sim.now(), armed: sim.pending() }
          })
        const ours = yield* run(Timeout.timeoutFail)
        expect(ours).toStrictEqual(yield* run(Effect.timeoutFail))
        expect(ours.armed).toBe(0)
        expect(ours.at).toBe(Math.min(callMillis, timeoutMillis))
        expect(ours.result === "fail TimedOut").toBe(timeoutMillis < callMillis)
      }),
    { fastCheck: { numRuns: 1000 } }
  )
})

// ---------------------------------------------------------------------------
// under the live clock: tiny real durations, bounded
// ---------------------------------------------------------------------------

/** Armed `setTimeout` handles of this process. */
const activeTimers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length

describe("Timeout.timeoutFail under the live clock", () => {
  it.live("interrupts a slower call at about the deadline, after its finalizers", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const call = Effect.never.pipe(Effect.onInterrupt(() => slowFinalizer(log, "aborted")))
      const start = Date.now()
      const { entries, exit } = yield* thenReadLog(Timeout.timeoutFail(call, { duration: "20 millis", onTimeout }), log)
      const elapsed = Date.now() - start
      assert.instanceOf(failureOf(exit), TimedOut)
      assert.deepStrictEqual(entries, ["aborted"])
      expect(elapsed).toBeGreaterThanOrEqual(15)
      expect(elapsed).toBeLessThan(2_000)
    }))

  it.live("a faster call succeeds and leaves no timer armed", () =>
    Effect.gen(function*() {
      const before = activeTimers()
      const value = yield* Timeout.timeoutFail(
        Effect.zipRight(realWait(5), Effect.succeed("value")),
        { duration: "50 millis", onTimeout }
      )
      assert.strictEqual(value, "value")
      // 20 more calls, none of which may leave its 50 ms timer behind
      for (let i = 0; i < 20; i++) {
        yield* Timeout.timeoutFail(Effect.promise(() => Promise.resolve(i)), { duration: "50 millis", onTimeout })
      }
      expect(activeTimers()).toBeLessThanOrEqual(before)
    }))

  it.live("interrupting the caller interrupts the call, waits for its finalizers and disarms the timer", () =>
    Effect.gen(function*() {
      const before = activeTimers()
      const { entries, exit } = yield* interruptCaller((call) =>
        Timeout.timeoutFail(call, { duration: "50 millis", onTimeout })
      )
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(entries, ["aborted"])
      expect(activeTimers()).toBeLessThanOrEqual(before)
    }))

  it.live("interrupting the caller interrupts the call at once even under Effect.daemonChildren", () =>
    Effect.gen(function*() {
      const before = activeTimers()
      const { entries, exit } = yield* interruptCaller((call) =>
        Effect.daemonChildren(Timeout.timeoutFail(call, { duration: "1 hour", onTimeout }))
      )
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(entries, ["aborted"])
      expect(activeTimers()).toBeLessThanOrEqual(before)
    }))

  it.live("the call sees the caller's services, and its FiberRef changes reach the caller on success", () =>
    Effect.gen(function*() {
      const ref = FiberRef.unsafeMake(0)
      const greeting = yield* Timeout.timeoutFail(
        Effect.zipRight(FiberRef.set(ref, 1), Effect.zipRight(realWait(1), Greeting)),
        { duration: "50 millis", onTimeout }
      ).pipe(Effect.provideService(Greeting, "hello"))
      assert.strictEqual(greeting, "hello")
      assert.strictEqual(yield* FiberRef.get(ref), 1)
    }))
})
