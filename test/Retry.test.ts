import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Duration, Effect, Exit, FastCheck as fc, Fiber, Option, Random, TestClock } from "effect"
import * as Backoff from "../src/resilience/Backoff.js"
import * as Retry from "../src/resilience/Retry.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"

class Failure extends Data.Class<{ readonly attempt: number; readonly retryAfter?: number }> {}

const retryAfter = (e: Failure) => Option.map(Option.fromNullable(e.retryAfter), Duration.millis)

/** Far more calls than any test expects: a runaway retry loop dies here instead of hanging. */
const runaway = 10_000

/** A call that fails on every attempt, recording when each attempt ran. */
const alwaysFailing = (retryAfterMillis?: number) => {
  const calls: Array<number> = []
  const effect = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    calls.push(now)
    if (calls.length > runaway) return Effect.die("runaway retry loop")
    return Effect.fail(
      new Failure(retryAfterMillis === undefined ? { attempt: calls.length } : {
        attempt: calls.length,
        retryAfter: retryAfterMillis
      })
    )
  })
  return { calls, effect }
}

/** Durations in whole microseconds. */
const duration = (maxMillis: number) => fc.integer({ min: 0, max: maxMillis * 1000 }).map((us) => us / 1000)

const backoffArb = fc.record({
  base: duration(1_000),
  factor: fc.double({ min: 0.5, max: 4, noNaN: true }),
  cap: duration(5_000),
  jitter: fc.constantFrom(...Backoff.jitters),
  maxAttempts: fc.integer({ min: 1, max: 10 })
})

/**
 * Runs `effect` in a fiber, lets virtual time run far enough for every sleep,
 * and returns its exit. A fiber still running by then is interrupted, so a
 * broken retry loop fails the test at once instead of hanging it.
 */
const settle = <A, E>(effect: Effect.Effect<A, E>, enough: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(enough)
    return yield* Fiber.interrupt(fiber)
  })

/** Like {@link settle}, also telling how much virtual time passed before it finished. */
const settleTimed = <A, E>(effect: Effect.Effect<A, E>, enough: Duration.DurationInput) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const outcome = yield* settle(Effect.zip(Effect.exit(effect), Clock.currentTimeMillis), enough)
    if (Exit.isFailure(outcome)) return { exit: Exit.failCause(outcome.cause), elapsed: Infinity }
    const [exit, end] = outcome.value
    return { exit, elapsed: end - start }
  })

/**
 * Virtual time for properties: `sleep` moves this clock forward at once.
 * `TestClock.adjust` waits for several macrotask turns (about 10 ms per
 * sleep), too slow for thousands of runs, so properties run synchronously
 * on this clock and the example tests below use `TestClock`. Valid for one
 * sequential fiber, which is what a retry loop is.
 */
const virtualClock = (): Clock.Clock => {
  let now = 0
  const nanos = () => BigInt(Math.round(now * 1_000_000))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: nanos,
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) =>
      Effect.sync(() => {
        now += Duration.toMillis(duration)
      })
  }
}

/** Runs a property's check synchronously on virtual time with a seeded Random. */
const runVirtual = <A, E>(effect: Effect.Effect<A, E>, seed: number): Exit.Exit<A, E> =>
  Effect.runSync(Effect.exit(effect).pipe(Effect.withClock(virtualClock()), Effect.withRandom(Random.make(seed))))

/** K = ceil(maxTokens / 2) - 1: the failures that leave the bucket above half. */
const retriesAllowedUnderOutage = (maxTokens: number) => Math.ceil(maxTokens / 2) - 1

describe("Retry.retry", () => {
  it.prop(
    "runs an always-failing effect exactly maxAttempts times, sleeping the delays it reports",
    { options: backoffArb, seed: fc.integer() },
    ({ options, seed }) => {
      const { calls, effect } = alwaysFailing()
      const delays: Array<number> = []
      const onRetry = (info: Retry.RetryInfo<Failure>) => Effect.sync(() => delays.push(Duration.toMillis(info.delay)))
      const exit = runVirtual(Retry.retry(effect, { ...options, onRetry }), seed)

      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: options.maxAttempts })))
      expect(calls).toHaveLength(options.maxAttempts)
      expect(delays).toHaveLength(options.maxAttempts - 1)
      delays.forEach((delay, i) => {
        expect(delay).toBeLessThanOrEqual(options.cap)
        expect(calls[i + 1]! - calls[i]!).toBeCloseTo(delay, 6)
      })
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "honours Retry-After up to its cap, and past the cap stops at once with the error",
    {
      options: backoffArb.filter((o) => o.maxAttempts >= 2),
      pushback: duration(20_000),
      retryAfterCap: duration(10_000),
      seed: fc.integer()
    },
    ({ options, pushback, retryAfterCap, seed }) => {
      const { calls, effect } = alwaysFailing(pushback)
      const delays: Array<number> = []
      const retried = Retry.retry(effect, {
        ...options,
        retryAfter,
        retryAfterCap,
        onRetry: ({ delay }) => Effect.sync(() => delays.push(Duration.toMillis(delay)))
      })
      const exit = runVirtual(Effect.zip(Effect.exit(retried), Clock.currentTimeMillis), seed)
      const [result, finishedAt] = Exit.isSuccess(exit) ? exit.value : expect.unreachable()

      expect(Exit.isFailure(result)).toBe(true)
      if (pushback <= retryAfterCap) {
        expect(calls).toHaveLength(options.maxAttempts)
        delays.forEach((delay, i) => {
          expect(delay).toBeGreaterThanOrEqual(pushback)
          expect(delay).toBeLessThanOrEqual(Math.max(pushback, options.cap))
          expect(calls[i + 1]! - calls[i]!).toBeCloseTo(delay, 6)
        })
      } else {
        expect(result).toStrictEqual(Exit.fail(new Failure({ attempt: 1, retryAfter: pushback })))
        expect(calls).toHaveLength(1)
        expect(delays).toEqual([])
        expect(finishedAt).toBe(0) // no time passed: it did not sleep
      }
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "under 100% failure, sequential requests retry exactly K - floor(K / maxAttempts) times in all",
    {
      maxTokens: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40_000 }).map((m) => m / 1000)),
      maxAttempts: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(Infinity)),
      extraRequests: fc.integer({ min: 0, max: 20 })
    },
    ({ extraRequests, maxAttempts, maxTokens }) => {
      const k = retriesAllowedUnderOutage(maxTokens)
      const requests = k + 1 + extraRequests // enough to exhaust the budget
      const { calls, effect } = alwaysFailing()
      const budget = RetryBudget.unsafeMake({ maxTokens })
      const request = Retry.retry(effect, { base: 0, maxAttempts, budget })

      Effect.runSync(Effect.replicateEffect(Effect.either(request), requests, { discard: true }))

      const retries = calls.length - requests
      expect(retries).toBe(k - (maxAttempts === Infinity ? 0 : Math.floor(k / maxAttempts)))
      expect(Effect.runSync(budget.tokens)).toBe(Math.max(0, Math.round((maxTokens - calls.length) * 1000) / 1000))
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("keeps concurrent requests under the outage bound too", () =>
    Effect.gen(function*() {
      const { calls, effect } = alwaysFailing()
      const budget = yield* RetryBudget.make({ maxTokens: 10 })
      const request = Retry.retry(effect, { base: "10 millis", maxAttempts: 5, budget })

      const exit = yield* settle(
        Effect.all(Array.from({ length: 50 }, () => Effect.flip(request)), { concurrency: "unbounded" }),
        "1 minute"
      )

      expect(Exit.isSuccess(exit)).toBe(true) // all 50 requests failed
      expect(calls.length - 50).toBeLessThanOrEqual(retriesAllowedUnderOutage(10))
      expect(calls.length - 50).toBeGreaterThan(0)
    }))

  it.effect("does not retry errors that `while` rejects, nor charge them to the budget", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      const { calls, effect } = alwaysFailing()
      const { elapsed, exit } = yield* settleTimed(
        Retry.retry(effect, { maxAttempts: 5, budget, while: (e) => e.attempt > 1 }),
        "1 minute"
      )

      expect(calls).toHaveLength(1)
      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: 1 })))
      expect(elapsed).toBe(0)
      expect(yield* budget.tokens).toBe(10)
    }))

  it.effect("stops at the first error that `while` rejects", () =>
    Effect.gen(function*() {
      const { calls, effect } = alwaysFailing()
      const exit = yield* settle(
        Retry.retry(effect, { base: "10 millis", maxAttempts: 10, while: (e) => e.attempt < 3 }),
        "1 minute"
      )

      expect(calls).toHaveLength(3)
      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: 3 })))
    }))

  it.effect("calls onRetry before each retry with the attempt that failed and the delay it sleeps", () =>
    Effect.gen(function*() {
      const { calls, effect } = alwaysFailing()
      const seen: Array<Retry.RetryInfo<Failure>> = []
      const exit = yield* settle(
        Retry.retry(effect, {
          base: "100 millis",
          jitter: "none",
          maxAttempts: 4,
          onRetry: (info) => Effect.sync(() => seen.push(info))
        }),
        "1 minute"
      )

      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: 4 })))
      expect(calls).toEqual([0, 100, 300, 700])
      expect(seen.map((info) => info.attempt)).toEqual([1, 2, 3])
      expect(seen.map((info) => info.error.attempt)).toEqual([1, 2, 3])
      expect(seen.map((info) => Duration.toMillis(info.delay))).toEqual([100, 200, 400])
    }))

  it.effect("sleeps max(backoff, Retry-After) with the default cap, and gives up past the default cap", () =>
    Effect.gen(function*() {
      const longPushback = alwaysFailing(2_500)
      yield* settle(
        Retry.retry(longPushback.effect, { base: "1 second", jitter: "none", retryAfter, maxAttempts: 3 }),
        "1 minute"
      )
      // Retry-After (2.5s) beats 1s, then 2s backoff loses to 2.5s again
      expect(longPushback.calls).toEqual([0, 2_500, 5_000])

      const shortPushback = alwaysFailing(50)
      const start = yield* Clock.currentTimeMillis
      yield* settle(
        Retry.retry(shortPushback.effect, { base: "1 second", jitter: "none", retryAfter, maxAttempts: 3 }),
        "1 minute"
      )
      expect(shortPushback.calls.map((t) => t - start)).toEqual([0, 1_000, 3_000])

      const pastCap = alwaysFailing(31_000) // the default retryAfterCap is the 30 s backoff cap
      const { elapsed, exit } = yield* settleTimed(
        Retry.retry(pastCap.effect, { retryAfter, maxAttempts: 3 }),
        "10 minutes"
      )
      expect(pastCap.calls).toHaveLength(1)
      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: 1, retryAfter: 31_000 })))
      expect(elapsed).toBe(0)
    }))

  it.effect("returns the first success and records failures and the success in the budget", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      let calls = 0
      const flaky = Effect.suspend(() => ++calls < 3 ? Effect.fail(new Failure({ attempt: calls })) : Effect.succeed("ok"))
      const exit = yield* settle(Retry.retry(flaky, { base: "10 millis", maxAttempts: 5, budget }), "1 minute")

      expect(exit).toStrictEqual(Exit.succeed("ok"))
      expect(calls).toBe(3)
      expect(yield* budget.tokens).toBe(8.1)
    }))

  it.effect("does not retry, or sleep, while the budget refuses", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ maxTokens: 4 })
      yield* budget.recordFailure // 3 left: one more failure reaches the threshold of 2
      const { calls, effect } = alwaysFailing()
      const { elapsed, exit } = yield* settleTimed(Retry.retry(effect, { maxAttempts: 5, budget }), "1 minute")

      expect(calls).toHaveLength(1)
      expect(exit).toStrictEqual(Exit.fail(new Failure({ attempt: 1 })))
      expect(elapsed).toBe(0)
      expect(yield* budget.tokens).toBe(2)
    }))

  it.effect("retries forever with maxAttempts Infinity until the budget runs dry", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ maxTokens: 20 })
      const { calls, effect } = alwaysFailing()
      yield* settle(Retry.retry(effect, { base: "1 millis", cap: "10 millis", maxAttempts: Infinity, budget }), "1 second")

      expect(calls).toHaveLength(10) // 9 retries while tokens > 10, then the 10th failure leaves exactly 10
    }))

  it.effect("is deterministic under a seeded Random", () =>
    Effect.gen(function*() {
      const delaysWith = (seed: number) =>
        Effect.gen(function*() {
          const delays: Array<number> = []
          const { effect } = alwaysFailing()
          yield* settle(
            Retry.retry(effect, {
              maxAttempts: 6,
              jitter: "decorrelated",
              onRetry: ({ delay }) => Effect.sync(() => delays.push(Duration.toMillis(delay)))
            }).pipe(Effect.withRandom(Random.make(seed))),
            "10 minutes"
          )
          return delays
        })
      const first = yield* delaysWith(42)

      expect(first).toHaveLength(5)
      expect(yield* delaysWith(42)).toEqual(first)
      expect(yield* delaysWith(43)).not.toEqual(first)
    }))

  it.effect("never retries defects", () =>
    Effect.gen(function*() {
      let calls = 0
      const dying = Effect.suspend(() => {
        calls++
        return Effect.die("bug")
      })
      const exit = yield* settle(Retry.retry(dying, { maxAttempts: 5 }), "1 minute")

      expect(calls).toBe(1)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
    }))

  it.effect("stops calling once interrupted during a backoff sleep", () =>
    Effect.gen(function*() {
      const { calls, effect } = alwaysFailing()
      const fiber = yield* Effect.fork(Retry.retry(effect, { base: "1 second", jitter: "none", maxAttempts: 5 }))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")

      expect(calls).toEqual([0])
    }))

  it.effect("works data-first and data-last, inferring the error type in a pipe", () =>
    Effect.gen(function*() {
      class Unavailable extends Data.TaggedError("Unavailable")<{ readonly n: number }> {}
      class BadInput extends Data.TaggedError("BadInput") {}
      let calls = 0
      const call: Effect.Effect<number, Unavailable | BadInput> = Effect.suspend(() =>
        ++calls < 3 ? Effect.fail<Unavailable | BadInput>(new Unavailable({ n: calls })) : Effect.fail(new BadInput())
      )

      const piped: Effect.Effect<number, Unavailable | BadInput> = call.pipe(
        Retry.retry({ base: 0, maxAttempts: 10, while: (e) => e._tag === "Unavailable" })
      )
      expect(yield* Effect.exit(piped)).toStrictEqual(Exit.fail(new BadInput()))
      expect(calls).toBe(3)

      calls = 0
      const direct = Retry.retry(call, { base: 0, maxAttempts: 2 })
      expect(yield* Effect.exit(direct)).toStrictEqual(Exit.fail(new Unavailable({ n: 2 })))
      expect(calls).toBe(2)

      calls = 0 // no options: 3 attempts, every error retried
      expect(yield* settle(call.pipe(Retry.retry()), "1 minute")).toStrictEqual(Exit.fail(new BadInput()))
      expect(calls).toBe(3)
    }))
})

describe("Retry.make", () => {
  /** A call that fails `failures` times, then succeeds with the number of calls, recording when each ran. */
  const failingThenSucceeding = (failures: number) => {
    const calls: Array<number> = []
    const effect = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      calls.push(now)
      return calls.length > failures ? Effect.succeed(calls.length) : Effect.fail(new Failure({ attempt: calls.length }))
    })
    return { calls, effect }
  }

  it.prop(
    "a policy made once and applied call after call behaves as Retry.retry applied to each call",
    {
      options: backoffArb,
      failures: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }),
      seed: fc.integer()
    },
    ({ failures, options, seed }) => {
      const runAll = (apply: (effect: Effect.Effect<number, Failure>) => Effect.Effect<number, Failure>) => {
        const timelines: Array<ReadonlyArray<number>> = []
        const program = Effect.forEach(failures, (n) => {
          const { calls, effect } = failingThenSucceeding(n)
          timelines.push(calls)
          return Effect.exit(apply(effect))
        })
        const exit = runVirtual(program, seed)
        return { exit, timelines }
      }
      const policy = Retry.make<Failure>(options)

      const made = runAll((effect) => policy(effect))
      const retried = runAll((effect) => Retry.retry(effect, options))

      expect(made).toStrictEqual(retried)
      // each application starts its own count of attempts
      made.timelines.forEach((calls, i) => expect(calls).toHaveLength(Math.min(failures[i]! + 1, options.maxAttempts)))
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("per-call options replace the budget and onRetry for that call only", () =>
    Effect.gen(function*() {
      const policyBudget = yield* RetryBudget.make({ maxTokens: 100 })
      const callBudget = yield* RetryBudget.make({ maxTokens: 100 })
      const seen: Array<string> = []
      const policy = Retry.make<Failure>({
        base: 0,
        maxAttempts: 3,
        budget: policyBudget,
        onRetry: ({ attempt }) => Effect.sync(() => seen.push(`policy ${attempt}`))
      })

      yield* Effect.exit(
        policy(alwaysFailing().effect, {
          budget: callBudget,
          onRetry: ({ attempt }) => Effect.sync(() => seen.push(`call ${attempt}`))
        })
      )
      expect(seen).toEqual(["call 1", "call 2"])
      expect(yield* callBudget.tokens).toBe(97)
      expect(yield* policyBudget.tokens).toBe(100)

      yield* Effect.exit(policy(alwaysFailing().effect))
      expect(seen).toEqual(["call 1", "call 2", "policy 1", "policy 2"])
      expect(yield* policyBudget.tokens).toBe(97)
      expect(yield* callBudget.tokens).toBe(97)
    }))

  it.effect("a per-call budget that refuses stops that call's retries only", () =>
    Effect.gen(function*() {
      const dry = RetryBudget.unsafeMake({ maxTokens: 1 }) // one failure leaves 0 tokens: no retry
      const policy = Retry.make<Failure>({ base: 0, maxAttempts: 4 })

      const throttled = alwaysFailing()
      yield* Effect.exit(policy(throttled.effect, { budget: dry }))
      expect(throttled.calls).toHaveLength(1)

      const free = alwaysFailing()
      yield* Effect.exit(policy(free.effect))
      expect(free.calls).toHaveLength(4)
    }))

  it("invalid options throw when the policy is made, not when it is applied", () => {
    expect(() => Retry.make({ maxAttempts: 0 })).toThrow(RangeError)
    expect(() => Retry.make({ factor: -1 })).toThrow(RangeError)
    expect(() => Retry.retry({ jitter: "wild" as Backoff.Jitter })).toThrow(RangeError)
    expect(() => Retry.make({ maxAttempts: 2 })).not.toThrow()
  })
})
