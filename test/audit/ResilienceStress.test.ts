import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, FastCheck, Option, Random, Ref, TestClock } from "effect"
import * as Bulkhead from "../../src/resilience/Bulkhead.js"
import * as CircuitBreaker from "../../src/resilience/CircuitBreaker.js"
import * as Hedge from "../../src/resilience/Hedge.js"
import * as RetryInternal from "../../src/resilience/internal/retry.js"
import * as RateLimit from "../../src/resilience/RateLimit.js"
import * as Retry from "../../src/resilience/Retry.js"
import * as RetryBudget from "../../src/resilience/RetryBudget.js"
import { handClock } from "../support/clock.js"

const tripOnce = <E>(breaker: CircuitBreaker.CircuitBreaker<E>, error: E) =>
  Effect.exit(breaker.protect(Effect.fail(error)))

describe("CircuitBreaker under concurrency", () => {
  it.effect("half-open admits exactly halfOpenProbes of many simultaneous callers", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string>({
        trip: CircuitBreaker.consecutiveFailures(1),
        halfOpenProbes: 3,
        openDuration: { base: "1 second" }
      })
      yield* tripOnce(breaker, "boom")
      yield* TestClock.adjust("1 second")
      const gate = yield* Deferred.make<void>()
      const admitted = yield* Ref.make(0)
      const fibers = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => Effect.fork(Effect.exit(breaker.protect(Effect.zipRight(Ref.update(admitted, (n) => n + 1), Deferred.await(gate))))),
        { concurrency: "unbounded" }
      )
      yield* Effect.yieldNow()
      assert.strictEqual(yield* Ref.get(admitted), 3)
      yield* Deferred.succeed(gate, undefined)
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 3)
      assert.strictEqual((yield* breaker.snapshot).state, "closed")
    }))

  it.effect("an interrupted probe frees its slot: the breaker is not wedged half-open", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string>({
        trip: CircuitBreaker.consecutiveFailures(1),
        halfOpenProbes: 1,
        openDuration: { base: "1 second" }
      })
      yield* tripOnce(breaker, "boom")
      yield* TestClock.adjust("1 second")
      const probe = yield* Effect.fork(breaker.protect(Effect.never))
      yield* Effect.yieldNow()
      assert.strictEqual((yield* breaker.snapshot).probesInFlight, 1)
      yield* Fiber.interrupt(probe)
      assert.strictEqual((yield* breaker.snapshot).probesInFlight, 0)
      const exit = yield* Effect.exit(breaker.protect(Effect.succeed("ok")))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual((yield* breaker.snapshot).state, "closed")
    }))

  it.effect("a probe interrupted while still waiting to be admitted holds no slot (timeout around protect)", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string>({
        trip: CircuitBreaker.consecutiveFailures(1),
        halfOpenProbes: 2,
        openDuration: { base: "1 second" }
      })
      yield* tripOnce(breaker, "boom")
      yield* TestClock.adjust("1 second")
      // storm: many probes cut by a timeout
      const storm = Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.fork(Effect.exit(Effect.timeout(breaker.protect(Effect.never), "10 millis"))),
        { concurrency: "unbounded" }
      )
      const fibers = yield* storm
      yield* TestClock.adjust("10 millis")
      yield* Effect.forEach(fibers, Fiber.join)
      const snap = yield* breaker.snapshot
      assert.strictEqual(snap.state, "half-open")
      assert.strictEqual(snap.probesInFlight, 0)
      yield* breaker.protect(Effect.succeed(1))
      yield* breaker.protect(Effect.succeed(1))
      assert.strictEqual((yield* breaker.snapshot).state, "closed")
    }))

  it.effect("permit acquired and interrupted before record: acquire itself is uninterruptible", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string>({
        trip: CircuitBreaker.consecutiveFailures(1),
        halfOpenProbes: 1,
        openDuration: { base: "1 second" }
      })
      yield* tripOnce(breaker, "boom")
      yield* TestClock.adjust("1 second")
      const permit = yield* breaker.acquire
      yield* permit.record("ignored")
      yield* permit.record("success") // a second record is a no-op
      assert.strictEqual((yield* breaker.snapshot).probesInFlight, 0)
      assert.strictEqual((yield* breaker.snapshot).state, "half-open")
    }))
})

describe("Hedge under races", () => {
  it.effect("no hedge starts once the primary has won, even when its win and the hedge delay fall at the same instant", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const note = (entry: string) => Ref.update(log, (entries) => [...entries, entry])
      // the primary's last sleep is set after the hedge's delay began, so its timer fires first at the tie
      const primary = Effect.zipRight(
        Effect.zipRight(Effect.sleep("50 millis"), Effect.sleep("50 millis")),
        Effect.as(note("primary won"), "primary")
      )
      const backup = Effect.zipRight(note("backup started"), Effect.never)
      const fiber = yield* Effect.fork(Hedge.run([primary, backup, backup], {
        delay: "100 millis",
        maxParallel: 3,
        // a consent that takes a few scheduler turns (a budget kept in a store, say)
        allow: Effect.as(Effect.repeatN(Effect.yieldNow(), 3), true)
      }))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "primary")
      const entries = yield* Ref.get(log)
      assert.deepStrictEqual(entries.slice(entries.indexOf("primary won")), ["primary won"])
    }))

  it.effect("a hedge delay of 0 starts the next at once; the first success wins", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Hedge.run([Effect.as(Effect.sleep("1 second"), "slow"), Effect.as(Effect.sleep("10 millis"), "fast")], {
          delay: 0,
          maxParallel: 2
        })
      )
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "fast")
    }))

  it.effect("every alternative failing gives HedgeFailed with every error in index order", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Hedge.run([Effect.fail("a"), Effect.fail("b"), Effect.fail("c")], { delay: "1 hour", maxParallel: 3 })
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      assert.deepStrictEqual(error?.errors, ["a", "b", "c"])
    }))
})

describe("Bulkhead under interruption storms", () => {
  it.effect("permits never exceed max and all come back when waiters and holders are interrupted", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueued: 50 })
      const inside = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const body = Effect.gen(function*() {
        const n = yield* Ref.updateAndGet(inside, (k) => k + 1)
        yield* Ref.update(peak, (p) => Math.max(p, n))
        yield* Effect.sleep("10 millis")
      }).pipe(Effect.ensuring(Ref.update(inside, (k) => k - 1)))
      const fibers = yield* Effect.forEach(Array.from({ length: 40 }), () => Effect.fork(bulkhead.run(body)))
      yield* Effect.yieldNow()
      // interrupt every other fiber, holders and waiters alike
      yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 0), Fiber.interrupt)
      yield* TestClock.adjust("1 second")
      yield* Effect.forEach(fibers, Fiber.await)
      const stats = yield* bulkhead.stats
      assert.deepStrictEqual(stats, { active: 0, queued: 0, available: 3 })
      assert.isAtMost(yield* Ref.get(peak), 3)
    }))

  it.effect("weighted callers with queue timeouts, interruptions and scoped permits: never over capacity, everything given back", () =>
    Effect.forEach(
      [1, 2, 3],
      (seed) =>
        Effect.gen(function*() {
          const capacity = 4
          const bulkhead = yield* Bulkhead.make({ maxConcurrent: capacity, maxQueued: 10, queueTimeout: "30 millis" })
          let held = 0
          let peak = 0
          const body = (weight: number, millis: number) =>
            Effect.acquireUseRelease(
              Effect.sync(() => {
                held += weight
                peak = Math.max(peak, held)
              }),
              () => Effect.sleep(Duration.millis(millis)),
              () => Effect.sync(() => (held -= weight))
            )
          const fibers = []
          for (let i = 0; i < 80; i++) {
            const weight = 1 + ((seed * 5 + i * 3) % capacity)
            const millis = (seed * 13 + i * 7) % 50
            const scoped = (i + seed) % 3 === 0
            fibers.push(
              yield* Effect.fork(Effect.exit(
                scoped
                  ? Effect.scoped(Effect.zipRight(bulkhead.acquireWeighted(weight), body(weight, millis)))
                  : bulkhead.run(body(weight, millis), { weight })
              ))
            )
            if (i % 5 === 2) yield* Fiber.interrupt(fibers[(i * 7) % fibers.length]!)
            yield* TestClock.adjust(Duration.millis((i * 3 + seed) % 12))
            const stats = yield* bulkhead.stats
            assert.isAtMost(capacity - stats.available, capacity)
            assert.isAtLeast(stats.available, 0)
          }
          yield* TestClock.adjust("10 seconds")
          yield* Effect.forEach(fibers, Fiber.await)
          assert.isAtMost(peak, capacity)
          assert.strictEqual(held, 0)
          assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: capacity })
        }),
      { discard: true }
    ))

  it.effect("a full queue rejects at once; a weight above capacity is rejected, not queued forever", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 1 })
      const holder = yield* Effect.fork(bulkhead.run(Effect.never))
      const waiter = yield* Effect.fork(bulkhead.run(Effect.void))
      yield* Effect.yieldNow()
      const rejected = yield* Effect.exit(bulkhead.run(Effect.void))
      assert.isTrue(Exit.isFailure(rejected))
      const heavy = yield* Effect.exit(bulkhead.run(Effect.void, { weight: 2 }))
      assert.isTrue(Exit.isFailure(heavy))
      yield* Fiber.interrupt(holder)
      yield* Fiber.join(waiter)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 1 })
    }))
})

describe("RateLimit at boundaries", () => {
  it.effect("an over-estimate taken back later gives no credit once the estimate's bucket has left the window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "t", tpm: 1000, window: "60 seconds", buckets: 12 })
      // admitted for an estimate of 1000 tokens in bucket 0; the answer used 100, known 7 s later (bucket 1)
      const admittedAt = yield* Clock.currentTimeMillis
      assert.strictEqual((yield* limiter.tryAcquire(1000))._tag, "Admitted")
      yield* TestClock.adjust("7 seconds")
      yield* limiter.adjust(100 - 1000, admittedAt)
      assert.strictEqual((yield* limiter.usage).tokens, 100)
      // bucket 0 leaves the window at 60 s, and the 100 tokens with it
      yield* TestClock.adjust("54 seconds")
      assert.strictEqual((yield* limiter.usage).tokens, 0)
      assert.strictEqual((yield* limiter.tryAcquire(1000))._tag, "Admitted")
      assert.strictEqual((yield* limiter.tryAcquire(1))._tag, "Limited")
    }))

  it.effect("without the admission's time, a take-back never makes a bucket or the window negative", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "t", tpm: 1000, window: "60 seconds", buckets: 12 })
      assert.strictEqual((yield* limiter.tryAcquire(1000))._tag, "Admitted")
      yield* TestClock.adjust("7 seconds")
      yield* limiter.adjust(100 - 1000)
      yield* TestClock.adjust("54 seconds")
      assert.isAtLeast((yield* limiter.usage).tokens, 0)
      assert.strictEqual((yield* limiter.tryAcquire(1000))._tag, "Admitted")
      assert.strictEqual((yield* limiter.tryAcquire(1))._tag, "Limited")
    }))

  it.effect("room frees exactly when the Limited answer says, not a millisecond before", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "b", rpm: 1, window: "60 seconds", buckets: 12 })
      yield* TestClock.adjust("4999 millis") // the last millisecond of bucket 0
      assert.strictEqual((yield* limiter.tryAcquire(0))._tag, "Admitted")
      yield* TestClock.adjust("1 millis")
      const refused = yield* limiter.tryAcquire(0)
      assert.strictEqual(refused._tag, "Limited")
      const wait = refused._tag === "Limited" ? Duration.toMillis(refused.retryAfter) : -1
      assert.strictEqual(wait, 55_000)
      yield* TestClock.adjust(wait - 1)
      assert.strictEqual((yield* limiter.tryAcquire(0))._tag, "Limited")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* limiter.tryAcquire(0))._tag, "Admitted")
    }))

  it.effect("an estimate that is not a number counts as 0 tokens and does not switch the token limit off", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "n", tpm: 1000 })
      assert.strictEqual((yield* limiter.tryAcquire(Number.NaN))._tag, "Admitted")
      assert.strictEqual((yield* limiter.tryAcquire(600))._tag, "Admitted")
      assert.strictEqual((yield* limiter.tryAcquire(600))._tag, "Limited")
      assert.strictEqual((yield* limiter.usage).tokens, 600)
    }))

  it.prop(
    "whatever the estimates, corrections and timing, the window never counts below the tokens really used in it",
    [
      FastCheck.array(
        FastCheck.record({
          estimate: FastCheck.integer({ min: 0, max: 2000 }),
          used: FastCheck.integer({ min: 0, max: 2000 }),
          lasts: FastCheck.integer({ min: 0, max: 30_000 }),
          gap: FastCheck.integer({ min: 0, max: 20_000 })
        }),
        { maxLength: 16 }
      )
    ],
    ([steps]) =>
      Effect.runSync(Effect.gen(function*() {
        const { clock, now, set } = handClock()
        const size = 5_000
        const limiter = yield* RateLimit.make({ name: "p", tpm: 1_000_000, window: "60 seconds", buckets: 12 }).pipe(
          Effect.withClock(clock)
        )
        // the real usage of each request that has ended, counted where it was admitted
        const used: Array<{ at: number; tokens: number }> = []
        const pending: Array<{ endAt: number; admittedAt: number; delta: number; used: number }> = []
        const check = Effect.gen(function*() {
          const first = Math.floor(now() / size) * size - 11 * size
          const truth = used.filter((u) => Math.floor(u.at / size) * size >= first).reduce((sum, u) => sum + u.tokens, 0)
          const counted = (yield* limiter.usage).tokens
          assert.isAtLeast(counted, truth)
          assert.isAtLeast(counted, 0)
        })
        /** Moves time forward to `to`, ending the requests due by then, in order. */
        const advance = (to: number) =>
          Effect.gen(function*() {
            pending.sort((x, y) => x.endAt - y.endAt)
            while (pending.length > 0 && pending[0]!.endAt <= to) {
              const ending = pending.shift()!
              set(Math.max(now(), ending.endAt))
              yield* limiter.adjust(ending.delta, ending.admittedAt)
              used.push({ at: ending.admittedAt, tokens: ending.used })
              yield* check
            }
            set(to)
            yield* check
          })
        for (const step of steps) {
          if ((yield* limiter.tryAcquire(step.estimate))._tag === "Admitted") {
            pending.push({ endAt: now() + step.lasts, admittedAt: now(), delta: step.used - step.estimate, used: step.used })
          }
          yield* check
          yield* advance(now() + step.gap)
        }
      })),
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("Retry bounded by a deadline, with Retry-After", () => {
  /** A clock whose sleeps move time on at once, so a property runs synchronously. */
  const jumpingClock = () => handClock({ start: 1_000_000, sleepsMoveTime: true })

  class Failed {
    constructor(readonly retryAfter: number | undefined) {}
  }

  it.prop(
    "no call starts at or past the deadline; each wait is the backoff's (within its bounds) or the Retry-After, whichever is longer; past the cap it stops",
    [
      FastCheck.record({
        base: FastCheck.integer({ min: 0, max: 2_000 }),
        cap: FastCheck.integer({ min: 0, max: 20_000 }),
        retryAfterCap: FastCheck.integer({ min: 0, max: 30_000 }),
        jitter: FastCheck.constantFrom("none", "full", "equal", "decorrelated", "proportional") as FastCheck.Arbitrary<
          "none" | "full" | "equal" | "decorrelated" | "proportional"
        >,
        maxAttempts: FastCheck.integer({ min: 1, max: 8 }),
        deadline: FastCheck.integer({ min: 0, max: 60_000 }),
        // each call's Retry-After (ms), if any: up to past any cap
        pushbacks: FastCheck.array(FastCheck.option(FastCheck.integer({ min: 0, max: 40_000 }), { nil: undefined }), {
          minLength: 8,
          maxLength: 8
        }),
        seed: FastCheck.integer()
      })
    ],
    ([o]) => {
      const { clock, now } = jumpingClock()
      const started = now()
      const deadlineAt = started + o.deadline
      const calls: Array<number> = []
      const policy = RetryInternal.makeBounded<Failed | "deadline">({
        base: Duration.millis(o.base),
        cap: Duration.millis(o.cap),
        jitter: o.jitter,
        maxAttempts: o.maxAttempts,
        retryAfterCap: Duration.millis(o.retryAfterCap),
        retryAfter: (error) =>
          error instanceof Failed && error.retryAfter !== undefined ? Option.some(Duration.millis(error.retryAfter)) : Option.none()
      })
      const call = Effect.suspend((): Effect.Effect<never, Failed | "deadline"> => {
        calls.push(now())
        return Effect.fail(new Failed(o.pushbacks[calls.length - 1]))
      })
      const exit = Effect.runSync(
        Effect.exit(policy(call, undefined, { at: deadlineAt, onDeadline: () => "deadline" as const })).pipe(
          Effect.withClock(clock),
          Effect.withRandom(Random.make(o.seed))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.isAtLeast(calls.length, 1)
      assert.isAtMost(calls.length, o.maxAttempts)
      for (let i = 1; i < calls.length; i++) {
        const wait = calls[i]! - calls[i - 1]!
        const pushback = o.pushbacks[i - 1]
        assert.isBelow(calls[i]!, deadlineAt, "a retry started at or past the deadline")
        assert.isAtLeast(wait, 0)
        assert.isTrue(pushback === undefined || pushback <= o.retryAfterCap, "waited on a Retry-After past its cap")
        // never less than the server asked; never more than the larger of the cap and what it asked
        if (pushback !== undefined) assert.isAtLeast(wait, pushback)
        assert.isAtMost(wait, Math.max(o.cap, pushback ?? 0) + 1e-6)
      }
      // it stopped for a reason: attempts used up, a Retry-After past its cap, or no time for the next
      const last = calls.length - 1
      const lastPushback = o.pushbacks[last]
      const stoppedForCap = lastPushback !== undefined && lastPushback > o.retryAfterCap
      assert.isTrue(calls.length === o.maxAttempts || stoppedForCap || now() <= deadlineAt)
      // no sleep ran past the deadline
      assert.isAtMost(now(), Math.max(deadlineAt, calls[last]!))
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("CircuitBreaker open durations under long outages", () => {
  it.effect("a breaker whose open duration starts at 0 still probes after a thousand failed probes (no NaN deadline)", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string>({
        trip: CircuitBreaker.consecutiveFailures(1),
        openDuration: { base: 0, factor: 2, cap: "1 minute" }
      })
      // every probe fails: one trip each, 1,100 in all (2 ** 1,024 is Infinity, and 0 * Infinity is NaN)
      for (let i = 0; i < 1_100; i++) yield* tripOnce(breaker, "boom")
      const snapshot = yield* breaker.snapshot
      assert.strictEqual(snapshot.trips, 1_100)
      assert.isFalse(Number.isNaN(snapshot.openUntil ?? 0), "open until NaN")
      // its open duration is 0: the next call is a probe, and a success closes the breaker
      const exit = yield* Effect.exit(breaker.protect(Effect.succeed("ok")))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual((yield* breaker.snapshot).state, "closed")
    }))
})

describe("RetryBudget under bursts", () => {
  it.effect("however many concurrent requests fail, at most ceil(maxTokens / 2) - 1 retries go out; tokens stay within [0, max]", () =>
    Effect.forEach(
      [
        { requests: 1, maxTokens: 1, maxAttempts: 3, interruptEvery: 0 },
        { requests: 50, maxTokens: 10, maxAttempts: 3, interruptEvery: 0 },
        { requests: 50, maxTokens: 10, maxAttempts: 5, interruptEvery: 2 },
        { requests: 7, maxTokens: 20, maxAttempts: 4, interruptEvery: 3 },
        { requests: 60, maxTokens: 3, maxAttempts: 2, interruptEvery: 1 },
        { requests: 30, maxTokens: 11, maxAttempts: 5, interruptEvery: 4 }
      ],
      ({ interruptEvery, maxAttempts, maxTokens, requests }) =>
        Effect.gen(function*() {
          const budget = RetryBudget.unsafeMake({ maxTokens, tokenRatio: 0.5 })
          let calls = 0
          const down = Effect.suspend(() => {
            calls++
            return Effect.fail("down" as const)
          })
          const policy = Retry.make<string>({ base: "10 millis", jitter: "none", maxAttempts, budget })
          const fibers = yield* Effect.forEach(
            Array.from({ length: requests }),
            () => Effect.fork(Effect.exit(policy(Effect.zipRight(Effect.sleep("1 millis"), down)))),
            { concurrency: "unbounded" }
          )
          // some callers go away mid-retry: leaving must neither spend nor refund anything
          if (interruptEvery > 0) {
            yield* TestClock.adjust("5 millis")
            yield* Effect.forEach(fibers.filter((_, i) => i % interruptEvery === 0), Fiber.interrupt)
          }
          yield* TestClock.adjust("10 seconds")
          yield* Effect.forEach(fibers, Fiber.await)
          assert.isAtMost(calls - requests, Math.max(0, Math.ceil(maxTokens / 2) - 1))
          const tokens = yield* budget.tokens
          assert.strictEqual(tokens, Math.max(0, maxTokens - calls))
        }),
      { discard: true }
    ))
})

describe("CircuitBreaker: a random storm of calls, outcomes and interruptions", () => {
  it.effect("never more calls running in half-open than its probes; no slot left taken once all have ended", () =>
    Effect.forEach(
      [1, 2, 3, 4],
      (seed) =>
        Effect.gen(function*() {
          const probes = 1 + (seed % 3)
          const breaker = yield* CircuitBreaker.make<string>({
            trip: CircuitBreaker.consecutiveFailures(2),
            halfOpenProbes: probes,
            openDuration: { base: "100 millis", cap: "400 millis" },
            probeBeforeTrip: seed % 2 === 0
          })
          let running = 0
          let violations = 0
          const call = (outcome: number, millis: number) =>
            Effect.gen(function*() {
              const snapshot = yield* breaker.snapshot
              running++
              // a call admitted while half-open is a probe: no more of them than the probe slots
              if (snapshot.state === "half-open" && snapshot.probesInFlight > probes) violations++
              yield* Effect.sleep(Duration.millis(millis))
              if (outcome < 0.5) return yield* Effect.fail("boom")
              return "ok"
            }).pipe(Effect.ensuring(Effect.sync(() => running--)))
          const fibers = []
          for (let i = 0; i < 120; i++) {
            const outcome = ((seed * 7919 + i * 104729) % 1000) / 1000
            const millis = (seed * 31 + i * 17) % 90
            fibers.push(yield* Effect.fork(Effect.exit(breaker.protect(call(outcome, millis)))))
            if (i % 7 === 3) yield* Fiber.interrupt(fibers[(i * 13) % fibers.length]!)
            yield* TestClock.adjust(Duration.millis((i * 11 + seed) % 40))
            const snapshot = yield* breaker.snapshot
            if (snapshot.state === "half-open") assert.isAtMost(snapshot.probesInFlight, probes)
          }
          yield* TestClock.adjust("10 seconds")
          yield* Effect.forEach(fibers, Fiber.await)
          assert.strictEqual(violations, 0)
          assert.strictEqual(running, 0)
          const snapshot = yield* breaker.snapshot
          assert.strictEqual(snapshot.probesInFlight, 0)
          // and it still works: after its open duration, probes that succeed close it
          yield* TestClock.adjust("1 second")
          for (let i = 0; i < probes; i++) yield* Effect.exit(breaker.protect(Effect.succeed("ok")))
          assert.strictEqual((yield* breaker.snapshot).state, "closed")
        }),
      { discard: true }
    ))
})
