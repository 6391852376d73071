import { assert, describe, it } from "@effect/vitest"
import { Chunk, Clock, Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, Queue, Ref } from "effect"
import * as BreakerStore from "../src/resilience/BreakerStore.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"

const runs = { fastCheck: { numRuns: 1000 } }

/**
 * Virtual time that moves only when told. `TestClock.adjust` would do too,
 * but each adjust waits on real timers for forked fibers to settle, which
 * thousands of runs of dozens of steps cannot afford; nothing here sleeps.
 * The breaker reads the clock it was made with, so making it inside
 * `Effect.withClock(clock)` is enough.
 */
class ManualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private millis = 0
  readonly currentTimeMillis = Effect.sync(() => this.millis)
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())
  unsafeCurrentTimeMillis(): number {
    return this.millis
  }
  unsafeCurrentTimeNanos(): bigint {
    // as TestClock does: the properties move it by fractions of a millisecond
    return BigInt(Math.floor(this.millis * 1_000_000))
  }
  sleep(): Effect.Effect<void> {
    return Effect.dieMessage("nothing sleeps in these properties")
  }
  adjust(millis: number): Effect.Effect<void> {
    return Effect.sync(() => {
      this.millis += millis
    })
  }
}

/** Runs a property's body with a fresh {@link ManualClock}. */
const withManualClock = <A, E, R>(body: (clock: ManualClock) => Effect.Effect<A, E, R>) => {
  const clock = new ManualClock()
  return Effect.withClock(body(clock), clock)
}

type Outcome = "success" | "failure" | "ignored"
const outcomeArb: fc.Arbitrary<Outcome> = fc.constantFrom("success", "failure", "ignored")

/** Fails with "ignored" for an ignored outcome; the classifier below maps it. */
const resultOf = (outcome: Outcome): Effect.Effect<string, string> =>
  outcome === "success" ? Effect.succeed("ok") : Effect.fail(outcome)

const classify: CircuitBreaker.Classifier<string> = (exit) =>
  Exit.isSuccess(exit)
    ? "success"
    : Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error === "ignored"
    ? "ignored"
    : "failure"

const openDurationArb = fc.record({
  base: fc.integer({ min: 1, max: 20_000 }),
  factor: fc.constantFrom(1, 1.5, 2, 3),
  cap: fc.integer({ min: 1, max: 120_000 })
})

// ---------------------------------------------------------------------------
// 1. never admits while open before the deadline
// ---------------------------------------------------------------------------

const windowArb: fc.Arbitrary<CircuitBreaker.SlidingWindow> = fc.oneof(
  fc.integer({ min: 1, max: 10 }).map(CircuitBreaker.countWindow),
  fc.record({ seconds: fc.integer({ min: 1, max: 60 }), buckets: fc.integer({ min: 1, max: 10 }) })
    .map(({ buckets, seconds }) => CircuitBreaker.timeWindow(Duration.seconds(seconds), buckets))
)

const minimumCalls = (window: CircuitBreaker.SlidingWindow, wanted: number) =>
  window._tag === "CountWindow" ? Math.min(wanted, window.size) : wanted

const policyArb: fc.Arbitrary<CircuitBreaker.TripPolicy> = fc.oneof(
  fc.integer({ min: 1, max: 5 }).map(CircuitBreaker.consecutiveFailures),
  fc.record({ tenths: fc.integer({ min: 1, max: 10 }), window: windowArb, min: fc.integer({ min: 1, max: 10 }) })
    .map(({ min, tenths, window }) =>
      CircuitBreaker.failureRate({ threshold: tenths / 10, window, minimumCalls: minimumCalls(window, min) })
    ),
  fc.record({
    tenths: fc.integer({ min: 1, max: 10 }),
    window: windowArb,
    min: fc.integer({ min: 1, max: 10 }),
    slow: fc.integer({ min: 0, max: 2_000 })
  }).map(({ min, slow, tenths, window }) =>
    CircuitBreaker.slowCallRate({
      threshold: tenths / 10,
      window,
      minimumCalls: minimumCalls(window, min),
      slowCallDuration: Duration.millis(slow)
    })
  )
)

type Op =
  | { readonly _tag: "call"; readonly outcome: Outcome }
  | { readonly _tag: "permit"; readonly outcome: Outcome; readonly millis: number }
  | { readonly _tag: "advance"; readonly millis: number }
  /** Moves the clock to just before, at or just after the current open deadline. */
  | { readonly _tag: "toDeadline"; readonly offset: -1 | 0 | 1 }
  | { readonly _tag: "forceOpen"; readonly millis: number }
  | { readonly _tag: "remoteOpen"; readonly millis: number }
  | { readonly _tag: "isolate" }
  | { readonly _tag: "reset" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: outcomeArb.map((outcome) => ({ _tag: "call" as const, outcome })), weight: 6 },
  {
    arbitrary: fc.record({ outcome: outcomeArb, millis: fc.integer({ min: 0, max: 3_000 }) })
      .map((op) => ({ _tag: "permit" as const, ...op })),
    weight: 3
  },
  { arbitrary: fc.integer({ min: 0, max: 40_000 }).map((millis) => ({ _tag: "advance" as const, millis })), weight: 4 },
  {
    arbitrary: fc.constantFrom(-1 as const, 0 as const, 1 as const).map((offset) => ({ _tag: "toDeadline" as const, offset })),
    weight: 3
  },
  { arbitrary: fc.integer({ min: 0, max: 30_000 }).map((millis) => ({ _tag: "forceOpen" as const, millis })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 30_000 }).map((millis) => ({ _tag: "remoteOpen" as const, millis })), weight: 1 },
  { arbitrary: fc.constant({ _tag: "isolate" as const }), weight: 1 },
  { arbitrary: fc.constant({ _tag: "reset" as const }), weight: 1 }
)

/** A breaker (its trip policies, open duration and probes) and the operations run on it. */
const breakerRun = {
  trip: fc.array(policyArb, { minLength: 1, maxLength: 3 }),
  openDuration: openDurationArb,
  halfOpenProbes: fc.integer({ min: 1, max: 3 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 60 })
}

/** Where the transitions seen so far leave the breaker: blocked until a deadline, or admitting. */
const blockedUntil = (last: CircuitBreaker.Transition | undefined): number | undefined =>
  last === undefined ? undefined : last.to === "open" ? last.openUntil : last.to === "isolated" ? Infinity : undefined

describe("CircuitBreaker properties", () => {
  it.prop(
    "never admits a call while open before its deadline, and always admits while closed",
    breakerRun,
    ({ halfOpenProbes, openDuration, ops, trip }) =>
      Effect.runSync(withManualClock((clock) => Effect.scoped(Effect.gen(function*() {
        let apply: BreakerStore.Registration["apply"] | undefined
        const store = BreakerStore.make({ onRegister: (r) => Effect.sync(() => void (apply = r.apply)) })
        const breaker = yield* CircuitBreaker.make({
          name: "p",
          trip,
          halfOpenProbes,
          classify,
          store,
          openDuration: {
            base: Duration.millis(openDuration.base),
            factor: openDuration.factor,
            cap: Duration.millis(openDuration.cap)
          }
        })
        const subscription = yield* breaker.subscribe
        let last: CircuitBreaker.Transition | undefined
        const ran = yield* Ref.make(0)

        /** Checks one admission attempt against the transitions seen so far. */
        const admission = <A, E>(attempt: Effect.Effect<A, E>, didRun: Effect.Effect<boolean>) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const blocked = blockedUntil(last)
            const exit = yield* Effect.exit(attempt)
            const admitted = yield* didRun
            if (blocked !== undefined && now < blocked) {
              assert.isFalse(admitted, `admitted at ${now}, blocked until ${blocked}`)
              assert.isTrue(Exit.isFailure(exit))
              const error = (exit as Exit.Failure<A, E>).cause
              assert.strictEqual(error._tag, "Fail")
              const open = (error as { readonly error: CircuitBreaker.CircuitOpen }).error
              assert.instanceOf(open, CircuitBreaker.CircuitOpen)
              assert.strictEqual(Duration.toMillis(open.retryAfter), blocked - now)
            }
            if (last === undefined || last.to === "closed") assert.isTrue(admitted, `rejected while closed at ${now}`)
          })

        for (const op of ops) {
          switch (op._tag) {
            case "call": {
              const before = yield* Ref.get(ran)
              yield* admission(
                breaker.protect(Effect.zipRight(Ref.update(ran, (n) => n + 1), resultOf(op.outcome))),
                Effect.map(Ref.get(ran), (n) => n > before)
              )
              break
            }
            case "permit": {
              let acquired = false
              yield* admission(
                Effect.flatMap(breaker.acquire, (permit) => {
                  acquired = true
                  return permit.record(op.outcome, Duration.millis(op.millis))
                }),
                Effect.sync(() => acquired)
              )
              break
            }
            case "advance":
              yield* clock.adjust(op.millis)
              break
            case "toDeadline": {
              const now = yield* Clock.currentTimeMillis
              const blocked = blockedUntil(last)
              if (blocked !== undefined && Number.isFinite(blocked) && blocked + op.offset > now) {
                yield* clock.adjust(blocked + op.offset - now)
              }
              break
            }
            case "forceOpen":
              yield* breaker.forceOpen(Duration.millis(op.millis))
              break
            case "remoteOpen": {
              const now = yield* Clock.currentTimeMillis
              yield* apply!({ to: "open", openUntil: now + op.millis })
              break
            }
            case "isolate":
              yield* breaker.isolate
              break
            case "reset":
              yield* breaker.reset
              break
          }
          const seen = Chunk.toArray(yield* Queue.takeAll(subscription))
          if (seen.length > 0) last = seen[seen.length - 1]
        }
      })))),
    runs
  )

  // -------------------------------------------------------------------------
  // 2. at most N probes in flight
  // -------------------------------------------------------------------------

  type ProbeOp =
    | { readonly _tag: "start" }
    | { readonly _tag: "finish"; readonly index: number; readonly outcome: Outcome | "interrupt" }
    | { readonly _tag: "failNow" }
    | { readonly _tag: "advance"; readonly millis: number }

  const probeOpArb: fc.Arbitrary<ProbeOp> = fc.oneof(
    { arbitrary: fc.constant({ _tag: "start" as const }), weight: 5 },
    {
      arbitrary: fc.record({
        index: fc.nat(),
        outcome: fc.constantFrom<Outcome | "interrupt">("success", "failure", "ignored", "interrupt")
      }).map((op) => ({ _tag: "finish" as const, ...op })),
      weight: 4
    },
    { arbitrary: fc.constant({ _tag: "failNow" as const }), weight: 2 },
    { arbitrary: fc.integer({ min: 0, max: 8_000 }).map((millis) => ({ _tag: "advance" as const, millis })), weight: 2 }
  )

  interface Running {
    readonly fiber: Fiber.RuntimeFiber<unknown>
    readonly release: Deferred.Deferred<Outcome>
    /** The state, generation and failures in a row the call saw when it started running. */
    readonly info: { state?: CircuitBreaker.Status; generation?: number; failures?: number }
  }

  // Forked calls need the async runtime, so this property runs its cases
  // itself: `it.effect.prop` would build the test services anew for each
  // of the 1000 cases, which costs more than the cases.
  it.effect("never more than halfOpenProbes probes in flight when half-open, nor more than one when closed one failure short", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.record({
            threshold: fc.integer({ min: 1, max: 3 }),
            probeBeforeTrip: fc.boolean(),
            halfOpenProbes: fc.integer({ min: 1, max: 4 }),
            base: fc.integer({ min: 1, max: 5_000 }),
            ops: fc.array(probeOpArb, { minLength: 1, maxLength: 60 })
          }),
          (input) => Effect.runPromise(probesStayBounded(input))
        ),
        runs.fastCheck
      )
    ))

  const probesStayBounded = (
    { base, halfOpenProbes, ops, probeBeforeTrip, threshold }: {
      readonly threshold: number
      readonly probeBeforeTrip: boolean
      readonly halfOpenProbes: number
      readonly base: number
      readonly ops: ReadonlyArray<ProbeOp>
    }
  ) =>
      withManualClock((clock) => Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          trip: CircuitBreaker.consecutiveFailures(threshold),
          halfOpenProbes,
          classify,
          probeBeforeTrip,
          openDuration: { base: Duration.millis(base) }
        })
        let running: Array<Running> = []

        const start = Effect.gen(function*() {
          const release = yield* Deferred.make<Outcome>()
          const started = yield* Deferred.make<void>()
          const info: Running["info"] = {}
          const body = Effect.gen(function*() {
            const snapshot = yield* breaker.snapshot
            info.state = snapshot.state
            info.generation = snapshot.generation
            info.failures = snapshot.consecutiveFailures
            yield* Deferred.succeed(started, undefined)
            return yield* resultOf(yield* Deferred.await(release))
          })
          const fiber = yield* Effect.fork(
            Effect.exit(breaker.protect(body)).pipe(Effect.ensuring(Deferred.succeed(started, undefined)))
          )
          yield* Deferred.await(started)
          if (info.state !== undefined) running.push({ fiber, release, info })
        })

        const check = Effect.gen(function*() {
          const snapshot = yield* breaker.snapshot
          assert.isAtMost(snapshot.probesInFlight, halfOpenProbes)
          const probes = running.filter((r) =>
            r.info.state === "half-open" && r.info.generation === snapshot.generation
          ).length
          assert.isAtMost(probes, halfOpenProbes)
          // calls admitted while closed one failure short of the threshold: one at a time
          const trials = running.filter((r) =>
            r.info.state === "closed" && r.info.generation === snapshot.generation && threshold > 1 &&
            r.info.failures === threshold - 1
          ).length
          assert.isAtMost(trials, probeBeforeTrip ? 1 : Infinity)
          if (snapshot.state === "half-open") assert.strictEqual(snapshot.probesInFlight, probes)
          else if (snapshot.state === "closed") assert.strictEqual(snapshot.probesInFlight, probeBeforeTrip ? trials : 0)
          else assert.strictEqual(snapshot.probesInFlight, 0)
        })

        for (const op of ops) {
          switch (op._tag) {
            case "start":
              yield* start
              break
            case "finish": {
              if (running.length === 0) break
              const target = running[op.index % running.length]!
              running = running.filter((r) => r !== target)
              if (op.outcome === "interrupt") yield* Fiber.interrupt(target.fiber)
              else {
                yield* Deferred.succeed(target.release, op.outcome)
                yield* Fiber.await(target.fiber)
              }
              break
            }
            case "failNow":
              yield* Effect.exit(breaker.protect(resultOf("failure")))
              break
            case "advance":
              yield* clock.adjust(op.millis)
              break
          }
          yield* check
        }
        // releasing every call leaves no probe behind
        for (const r of running) yield* Fiber.interrupt(r.fiber)
        assert.strictEqual((yield* breaker.snapshot).probesInFlight, 0)
      }))

  // -------------------------------------------------------------------------
  // 3. consecutive failures against a reference model
  // -------------------------------------------------------------------------

  type ModelOp = { readonly _tag: "call"; readonly outcome: Outcome } | { readonly _tag: "advance"; readonly millis: number }

  const modelOpArb: fc.Arbitrary<ModelOp> = fc.oneof(
    { arbitrary: outcomeArb.map((outcome) => ({ _tag: "call" as const, outcome })), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 60_000 }).map((millis) => ({ _tag: "advance" as const, millis })), weight: 1 }
  )

  /** The consecutive-failures breaker, written as plainly as possible. */
  class Model {
    state: "closed" | "open" | "half-open" = "closed"
    failures = 0
    trips = 0
    openUntil = 0
    now = 0

    constructor(
      readonly threshold: number,
      readonly base: number,
      readonly factor: number,
      readonly cap: number
    ) {}

    refresh(): void {
      if (this.state === "open" && this.now >= this.openUntil) this.state = "half-open"
    }

    /** Returns the retryAfter in millis of a rejected call, or undefined when admitted. */
    call(outcome: Outcome): number | undefined {
      this.refresh()
      if (this.state === "open") return this.openUntil - this.now
      if (this.state === "half-open") {
        if (outcome === "failure") this.trip()
        if (outcome === "success") this.close()
        return undefined
      }
      if (outcome === "success") this.failures = 0
      if (outcome === "failure" && ++this.failures >= this.threshold) this.trip()
      return undefined
    }

    private trip(): void {
      this.trips++
      this.state = "open"
      this.openUntil = this.now + Math.min(this.cap, this.base * Math.pow(this.factor, this.trips - 1))
    }

    private close(): void {
      this.state = "closed"
      this.failures = 0
      this.trips = 0
    }
  }

  it.prop(
    "consecutive-failure counting matches a reference model",
    {
      threshold: fc.integer({ min: 1, max: 6 }),
      openDuration: openDurationArb,
      ops: fc.array(modelOpArb, { minLength: 1, maxLength: 80 })
    },
    ({ openDuration, ops, threshold }) =>
      Effect.runSync(withManualClock((clock) => Effect.gen(function*() {
        const { base, cap, factor } = openDuration
        const model = new Model(threshold, base, factor, cap)
        model.now = yield* Clock.currentTimeMillis
        const breaker = yield* CircuitBreaker.make({
          trip: CircuitBreaker.consecutiveFailures(threshold),
          classify,
          openDuration: { base: Duration.millis(base), factor, cap: Duration.millis(cap) }
        })
        for (const op of ops) {
          if (op._tag === "advance") {
            yield* clock.adjust(op.millis)
            model.now += op.millis
          } else {
            const expected = model.call(op.outcome)
            const exit = yield* Effect.exit(breaker.protect(resultOf(op.outcome)))
            if (expected === undefined) {
              assert.deepStrictEqual(exit, op.outcome === "success" ? Exit.succeed("ok") : Exit.fail(op.outcome))
            } else {
              assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Fail")
              const error = (exit as Exit.Failure<string, CircuitBreaker.CircuitOpen>).cause
              const open = (error as { readonly error: CircuitBreaker.CircuitOpen }).error
              assert.strictEqual(Duration.toMillis(open.retryAfter), expected)
            }
          }
          model.refresh()
          const snapshot = yield* breaker.snapshot
          assert.strictEqual(snapshot.state, model.state)
          assert.strictEqual(snapshot.consecutiveFailures, model.failures)
          assert.strictEqual(snapshot.trips, model.trips)
          assert.strictEqual(snapshot.openUntil, model.state === "open" ? model.openUntil : undefined)
        }
      }))),
    runs
  )
})

// ---------------------------------------------------------------------------
// 4. the store's Ref is never behind the breaker
// ---------------------------------------------------------------------------

describe("CircuitBreaker properties (store)", () => {
  it.prop(
    "after every operation the store's Ref holds the state the breaker decides from",
    breakerRun,
    ({ halfOpenProbes, openDuration, ops, trip }) =>
      Effect.runSync(withManualClock((clock) => Effect.gen(function*() {
        let cell: Ref.Ref<BreakerStore.State> | undefined
        let apply: BreakerStore.Registration["apply"] | undefined
        const store: BreakerStore.BreakerStore = {
          register: (registration) =>
            Effect.map(Ref.make(registration.initial), (ref) => {
              cell = ref
              apply = registration.apply
              return { ref, onTransition: () => {} }
            })
        }
        const breaker = yield* CircuitBreaker.make({
          trip,
          halfOpenProbes,
          classify,
          store,
          openDuration: {
            base: Duration.millis(openDuration.base),
            factor: openDuration.factor,
            cap: Duration.millis(openDuration.cap)
          }
        })
        for (const op of ops) {
          switch (op._tag) {
            case "call":
              yield* Effect.exit(breaker.protect(resultOf(op.outcome)))
              break
            case "permit":
              yield* Effect.exit(Effect.flatMap(breaker.acquire, (permit) => permit.record(op.outcome, Duration.millis(op.millis))))
              break
            case "advance":
              yield* clock.adjust(op.millis)
              break
            case "toDeadline": {
              const state = yield* Ref.get(cell!)
              const now = yield* Clock.currentTimeMillis
              if (state.status === "open" && state.openUntil + op.offset > now) {
                yield* clock.adjust(state.openUntil + op.offset - now)
              }
              break
            }
            case "forceOpen":
              yield* breaker.forceOpen(Duration.millis(op.millis))
              break
            case "remoteOpen":
              yield* apply!({ to: "open", openUntil: (yield* Clock.currentTimeMillis) + op.millis })
              break
            case "isolate":
              yield* breaker.isolate
              break
            case "reset":
              yield* breaker.reset
              break
          }
          const stored = yield* Ref.get(cell!)
          const now = yield* Clock.currentTimeMillis
          const snapshot = yield* breaker.snapshot
          if (stored.status === "open" && now >= stored.openUntil) {
            // the snapshot makes the lazy move to half-open itself
            assert.strictEqual(snapshot.state, "half-open")
            assert.strictEqual(snapshot.generation, stored.generation + 1)
          } else {
            assert.deepStrictEqual(
              [snapshot.state, snapshot.generation, snapshot.trips, snapshot.probesInFlight, snapshot.openUntil],
              [stored.status, stored.generation, stored.trips, stored.probes, stored.status === "open" ? stored.openUntil : undefined]
            )
          }
        }
      }))),
    runs
  )
})
