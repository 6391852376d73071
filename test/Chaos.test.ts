import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import * as Chaos from "../src/resilience/Chaos.js"

class Injected {
  readonly _tag = "Injected"
  constructor(readonly attempt: number) {}
}

/** The outcome of each of `n` sequential runs: "ok" or the failing attempt number. */
const outcomes = <E>(effect: Effect.Effect<string, E>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () =>
    Effect.map(Effect.exit(effect), (exit) =>
      Exit.isSuccess(exit)
        ? "ok"
        : Option.match(Cause.failureOption(exit.cause), {
          onNone: () => "defect",
          onSome: (error) => (error instanceof Injected ? `failed #${error.attempt}` : "other")
        })))

const flaky = (seed: number | string, failureRate = 0.3) =>
  Effect.succeed("ok").pipe(
    Chaos.inject({ seed, failureRate, failWith: (attempt) => new Injected(attempt) })
  )

describe("Chaos.inject", () => {
  it.effect("is deterministic for a seed and differs across seeds", () =>
    Effect.gen(function*() {
      const first = yield* outcomes(flaky(7), 200)
      const again = yield* outcomes(flaky(7), 200)
      const other = yield* outcomes(flaky(8), 200)
      const named = yield* outcomes(flaky("demo"), 200)
      const namedAgain = yield* outcomes(flaky("demo"), 200)
      assert.deepStrictEqual(first, again)
      assert.notDeepEqual(first, other)
      assert.deepStrictEqual(named, namedAgain)
      assert.isTrue(first.some((o) => o === "ok") && first.some((o) => o !== "ok"))
    }))

  it.effect("passes the attempt number to failWith and counts every run", () =>
    Effect.gen(function*() {
      const results = yield* outcomes(flaky(1, 1), 3)
      assert.deepStrictEqual(results, ["failed #1", "failed #2", "failed #3"])
      const mixed = yield* outcomes(flaky(3), 100)
      mixed.forEach((outcome, i) => {
        if (outcome !== "ok") assert.strictEqual(outcome, `failed #${i + 1}`)
      })
    }))

  it.effect("fails at roughly failureRate over many runs, without running the effect", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      const effect = Ref.update(ran, (n) => n + 1).pipe(
        Effect.as("ok"),
        Chaos.inject({ seed: 2024, failureRate: 0.3, failWith: (attempt) => new Injected(attempt) })
      )
      const results = yield* outcomes(effect, 10_000)
      const failed = results.filter((o) => o !== "ok").length
      assert.isAtLeast(failed, 2_700)
      assert.isAtMost(failed, 3_300)
      assert.strictEqual(yield* Ref.get(ran), 10_000 - failed)
    }))

  it.effect("delays by latency at roughly latencyRate, on the TestClock", () =>
    Effect.gen(function*() {
      const done = yield* Ref.make(0)
      const effect = Ref.update(done, (n) => n + 1).pipe(
        Chaos.inject({ seed: 99, latencyRate: 0.25, latency: "1 second" })
      )
      const all = yield* Effect.fork(Effect.all(Array.from({ length: 400 }, () => effect), { concurrency: "unbounded" }))
      yield* TestClock.adjust("999 millis")
      const undelayed = yield* Ref.get(done)
      assert.isAtLeast(undelayed, 270)
      assert.isAtMost(undelayed, 330)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(all)
      assert.strictEqual(yield* Ref.get(done), 400)
    }))

  it.effect("an injected delay holds the effect until the clock passes it; failures come after it", () =>
    Effect.gen(function*() {
      const slow = Effect.succeed("late").pipe(Chaos.inject({ seed: 5, latencyRate: 1, latency: "5 seconds" }))
      const fiber = yield* Effect.fork(slow)
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "late")

      const slowFailure = Effect.succeed("never").pipe(
        Chaos.inject({ seed: 5, latencyRate: 1, latency: "2 seconds", failureRate: 1, failWith: () => "boom" as const })
      )
      const failing = yield* Effect.fork(Effect.exit(slowFailure))
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(failing)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.join(failing), Exit.fail("boom" as const))
    }))

  it.effect("zero rates leave the effect untouched; both forms type the injected error", () =>
    Effect.gen(function*() {
      const untouched: Effect.Effect<number, "original"> = Chaos.inject(
        Effect.succeed(1) as Effect.Effect<number, "original">,
        { seed: 1 }
      )
      assert.deepStrictEqual(yield* outcomes(Effect.as(untouched, "ok"), 50), Array.from({ length: 50 }, () => "ok"))
      const typed: Effect.Effect<number, "original" | Injected> = (Effect.succeed(1) as Effect.Effect<number, "original">)
        .pipe(Chaos.inject({ seed: 1, failureRate: 0.5, failWith: (attempt) => new Injected(attempt) }))
      // @ts-expect-error the injected error is in the error channel
      const _wrong: Effect.Effect<number, "original"> = typed
      assert.isDefined(_wrong)
    }))

  it.effect("a rate outside 0..1 is a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.void.pipe(Chaos.inject({ seed: 1, failureRate: 1.5, failWith: () => "x" }))
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))
})
