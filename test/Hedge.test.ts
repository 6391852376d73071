import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option, pipe, Queue, Ref, TestClock } from "effect"
import * as Hedge from "../src/resilience/Hedge.js"

type Log = Ref.Ref<ReadonlyArray<string>>

const makeLog: Effect.Effect<Log> = Ref.make<ReadonlyArray<string>>([])

const append = (log: Log, entry: string) => Ref.update(log, (entries) => [...entries, entry])

/** A finalizer that takes several scheduler turns, so it only shows up if awaited. */
const slowFinalizer = (log: Log, entry: string) =>
  Effect.repeatN(Effect.yieldNow(), 20).pipe(Effect.zipRight(append(log, entry)))

/**
 * An alternative that logs `start name@ms`, waits `after`, then succeeds with
 * `name` or fails with `error name`; on interruption it logs `interrupted name`.
 */
const alternative = (
  log: Log,
  name: string,
  after: Duration.DurationInput,
  outcome: "succeed" | "fail" = "succeed"
): Effect.Effect<string, string> =>
  Effect.gen(function*() {
    yield* append(log, `start ${name}@${yield* Clock.currentTimeMillis}`)
    yield* Effect.sleep(after)
    if (outcome === "fail") return yield* Effect.fail(`error ${name}`)
    return name
  }).pipe(Effect.onInterrupt(() => slowFinalizer(log, `interrupted ${name}`)))

/** Runs `effect` and reads the log in the same fiber, right after the result. */
const thenReadLog = <A, E>(effect: Effect.Effect<A, E>, log: Log) =>
  Effect.flatMap(Effect.exit(effect), (exit) => Effect.map(Ref.get(log), (entries) => ({ exit, entries })))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/**
 * Alternative `a` of a hedge with `failedAttempts`: logs `start a@ms`, then after each of `failures`
 * reports a failed attempt of its own (index 0) to `attempts`, and goes on retrying; `end` after the
 * last, it fails with `error a` (without `end`, it never ends).
 */
const retrying = (
  log: Log,
  attempts: Queue.Enqueue<number>,
  failures: ReadonlyArray<Duration.DurationInput>,
  end?: Duration.DurationInput
): Effect.Effect<string, string> =>
  Effect.gen(function*() {
    yield* append(log, `start a@${yield* Clock.currentTimeMillis}`)
    for (const after of failures) {
      yield* Effect.sleep(after)
      yield* Queue.offer(attempts, 0)
    }
    if (end === undefined) return yield* Effect.never
    yield* Effect.sleep(end)
    return yield* Effect.fail("error a")
  })

describe("Hedge.run", () => {
  it.effect("starts the second alternative only after the delay", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([alternative(log, "a", "10 seconds"), alternative(log, "b", "1 second")], {
          delay: "2 seconds"
        })
      )
      yield* TestClock.adjust("1999 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0"])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@2000"])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { value: "b", index: 1 })
    }))

  it.effect("a failure starts the next alternative at once", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.runIndexed(
          [alternative(log, "a", "100 millis", "fail"), alternative(log, "b", "50 millis")],
          { delay: "10 seconds" }
        )
      )
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100"])
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { value: "b", index: 1 })
    }))

  it.effect("failedAttempts: an alternative's failed attempt starts the next at once; each alternative starts one, by its first failure", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const attempts = yield* Queue.unbounded<number>()
      // a fails an attempt at 100 ms and another at 200 ms (it retries), then fails for good at 300 ms
      const a = retrying(log, attempts, ["100 millis", "100 millis"], "100 millis")
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([a, alternative(log, "b", "1 second"), alternative(log, "c", "50 millis")], {
          delay: "10 seconds",
          failedAttempts: Queue.take(attempts)
        })
      )
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100"])
      // a's second failed attempt and its own failure start nothing more
      yield* TestClock.adjust("300 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100"])
      yield* TestClock.adjust("800 millis")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { value: "b", index: 1 })
    }))

  it.effect("failedAttempts: with every parallel slot taken a failed attempt starts none; the alternative's own failure still does", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const attempts = yield* Queue.unbounded<number>()
      // a fails an attempt at 100 ms and retries until it fails for good at 1 s
      const a = retrying(log, attempts, ["100 millis"], "900 millis")
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([a, alternative(log, "b", "50 millis")], {
          delay: "10 seconds",
          maxParallel: 1,
          failedAttempts: Queue.take(attempts)
        })
      )
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0"])
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@1000"])
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { value: "b", index: 1 })
    }))

  it.effect("failedAttempts: a failed attempt in the same instant as the delay that starts the next starts one more", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const attempts = yield* Queue.unbounded<number>()
      const a = retrying(log, attempts, ["100 millis"])
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([a, alternative(log, "b", "1 hour"), alternative(log, "c", "1 hour"), alternative(log, "d", "1 hour")], {
          delay: (index) => (index === 1 ? "100 millis" : "1 hour"),
          failedAttempts: Queue.take(attempts)
        })
      )
      yield* TestClock.adjust("150 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100", "start c@100"])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("failedAttempts: a delay that ended with every slot taken starts the next once a slot frees, whatever freed it", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const attempts = yield* Queue.unbounded<number>()
      // a fails an attempt at 100 ms (starting b), then fails for good at 200 ms, after c's delay ended at 150 ms
      const a = retrying(log, attempts, ["100 millis"], "100 millis")
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([a, alternative(log, "b", "1 hour"), alternative(log, "c", "1 hour")], {
          delay: (index) => (index === 1 ? "1 second" : "50 millis"),
          maxParallel: 2,
          failedAttempts: Queue.take(attempts)
        })
      )
      yield* TestClock.adjust("300 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100", "start c@200"])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("the first success wins, whatever its index; the losers are interrupted and finalized first", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(thenReadLog(
        Hedge.runIndexed([
          alternative(log, "a", "10 seconds"),
          alternative(log, "b", "5 seconds"),
          alternative(log, "c", "1 second")
        ], { delay: "1 second" }),
        log
      ))
      yield* TestClock.adjust("3 seconds")
      const { entries, exit } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(exit, Exit.succeed({ value: "c", index: 2 }))
      assert.deepStrictEqual(entries.slice(0, 3), ["start a@0", "start b@1000", "start c@2000"])
      assert.sameMembers(entries.slice(3), ["interrupted a", "interrupted b"])
    }))

  it.effect("finalizers registered with ensuring also ran before the result returned", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const slowLoser = Effect.ensuring(Effect.never, slowFinalizer(log, "released slow"))
      const fiber = yield* Effect.fork(thenReadLog(
        Hedge.run([slowLoser, Effect.as(Effect.sleep("10 millis"), "fast")], { delay: "5 millis" }),
        log
      ))
      yield* TestClock.adjust("15 millis")
      const { entries, exit } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(exit, Exit.succeed("fast"))
      assert.deepStrictEqual(entries, ["released slow"])
    }))

  it.effect("when every alternative fails, fails with HedgeFailed holding every error in alternative order", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.run([
          alternative(log, "a", "300 millis", "fail"),
          alternative(log, "b", "100 millis", "fail"),
          alternative(log, "c", "0 millis", "fail")
        ], { delay: "50 millis" })
      )
      yield* TestClock.adjust("300 millis")
      const exit = yield* Fiber.await(fiber)
      const error = failureOf(exit)
      assert.instanceOf(error, Hedge.HedgeFailed)
      assert.strictEqual(error?._tag, "HedgeFailed")
      assert.deepStrictEqual(error?.errors, ["error a", "error b", "error c"])
      assert.include(error?.message, "all 3 alternatives failed")
      // b failed at 150 ms (and c had started at 100 ms by the delay), so c failed at once
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@50", "start c@100"])
    }))

  it.effect("allow = false prevents delay-triggered hedges", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const asked = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Hedge.runIndexed([alternative(log, "a", "5 seconds"), alternative(log, "b", "1 millis")], {
          delay: "1 second",
          allow: Effect.as(Ref.update(asked, (n) => n + 1), false)
        })
      )
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { value: "a", index: 0 })
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0"])
      assert.strictEqual(yield* Ref.get(asked), 1)
    }))

  it.effect("allow is not asked when a failure starts the next alternative", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const asked = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Hedge.run([alternative(log, "a", "3 seconds", "fail"), alternative(log, "b", "1 second")], {
          delay: "1 second",
          allow: Effect.as(Ref.update(asked, (n) => n + 1), false)
        })
      )
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "b")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@3000"])
      assert.strictEqual(yield* Ref.get(asked), 1)
    }))

  it.effect("allow = true lets each delay-triggered hedge start", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const asked = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Hedge.run([
          alternative(log, "a", "1 minute"),
          alternative(log, "b", "1 minute"),
          alternative(log, "c", "10 millis")
        ], { delay: "100 millis", allow: Effect.as(Ref.update(asked, (n) => n + 1), true) })
      )
      yield* TestClock.adjust("210 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "c")
      assert.strictEqual(yield* Ref.get(asked), 2)
    }))

  it.effect("a delay function sets the delay per index", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.run([
          alternative(log, "a", "1 minute"),
          alternative(log, "b", "1 minute"),
          alternative(log, "c", "10 millis")
        ], { delay: (index) => Duration.millis(100 * index) })
      )
      yield* TestClock.adjust("310 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "c")
      assert.deepStrictEqual((yield* Ref.get(log)).slice(0, 3), ["start a@0", "start b@100", "start c@300"])
    }))

  it.effect("maxParallel = 1 turns hedging into sequential fallback", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.run([
          alternative(log, "a", "500 millis", "fail"),
          alternative(log, "b", "500 millis", "fail"),
          alternative(log, "c", "500 millis")
        ], { delay: "100 millis", maxParallel: 1 })
      )
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "c")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@500", "start c@1000"])
    }))

  it.effect("a delay that ends while maxParallel alternatives run starts nothing", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.run([
          alternative(log, "a", "1 second", "fail"),
          alternative(log, "b", "10 seconds"),
          alternative(log, "c", "10 millis")
        ], { delay: "100 millis", maxParallel: 2 })
      )
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100"])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(log), ["start a@0", "start b@100", "start c@1000"])
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "c")
    }))

  it.effect("a defect counts as that alternative's failure; all dying ends in the defects", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const rescued = yield* Effect.fork(
        Hedge.run([Effect.die("bug"), alternative(log, "b", "10 millis")], { delay: "1 hour" })
      )
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* Fiber.join(rescued), "b")
      const lost = yield* Effect.exit(Hedge.run([Effect.die("bug"), Effect.fail("typed")], { delay: "1 hour" }))
      assert.isTrue(Exit.isFailure(lost) && Cause.isDie(lost.cause) && !Cause.isFailure(lost.cause))
    }))

  it.effect("interrupting the hedge interrupts every running alternative and awaits its finalizers", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(
        Hedge.run([alternative(log, "a", "1 minute"), alternative(log, "b", "1 minute")], { delay: "1 second" })
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const entries = yield* Ref.get(log)
      assert.deepStrictEqual(entries.slice(0, 2), ["start a@0", "start b@1000"])
      assert.sameMembers(entries.slice(2), ["interrupted a", "interrupted b"])
    }))

  it.effect("the dual form works in a pipe and a single alternative needs no delay", () =>
    Effect.gen(function*() {
      const value = yield* pipe([Effect.succeed(1), Effect.succeed(2)] as const, Hedge.run({ delay: "1 second" }))
      assert.strictEqual(value, 1)
      const single = yield* Effect.exit(Hedge.run([Effect.fail("only")], { delay: "1 second" }))
      assert.deepStrictEqual(failureOf(single)?.errors, ["only"])
    }))

  it.effect("an invalid maxParallel is a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Hedge.run([Effect.succeed(1)], { delay: 0, maxParallel: 0 }))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))
})

describe("Hedge.race", () => {
  it.effect("starts every alternative at once and the first success wins", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(thenReadLog(
        Hedge.raceIndexed([
          alternative(log, "a", "3 seconds"),
          alternative(log, "b", "1 second", "fail"),
          alternative(log, "c", "2 seconds")
        ]),
        log
      ))
      yield* TestClock.adjust("2 seconds")
      const { entries, exit } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(exit, Exit.succeed({ value: "c", index: 2 }))
      assert.sameMembers(entries.slice(0, 3), ["start a@0", "start b@0", "start c@0"])
      // a lost: interrupted, and its finalizer ran before the result returned
      assert.deepStrictEqual(entries.slice(3), ["interrupted a"])
    }))

  it.effect("when every alternative fails, fails with HedgeFailed holding every error in order", () =>
    Effect.gen(function*() {
      const log = yield* makeLog
      const fiber = yield* Effect.fork(Hedge.race([
        alternative(log, "a", "30 millis", "fail"),
        alternative(log, "b", "10 millis", "fail"),
        alternative(log, "c", "20 millis", "fail")
      ]))
      yield* TestClock.adjust("30 millis")
      const error = failureOf(yield* Fiber.await(fiber))
      assert.instanceOf(error, Hedge.HedgeFailed)
      assert.deepStrictEqual(error?.errors, ["error a", "error b", "error c"])
    }))

  it.effect("race returns the bare value", () =>
    Effect.gen(function*() {
      const value = yield* Hedge.race([Effect.fail("down"), Effect.succeed("up")])
      assert.strictEqual(value, "up")
    }))
})
