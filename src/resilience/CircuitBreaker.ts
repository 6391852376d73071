/**
 * A circuit breaker for any effect: stops calling a dependency that keeps
 * failing, and lets a few probe calls through once it may have recovered.
 *
 * ## States
 *
 * - `closed`: calls run. Each outcome feeds the trip strategies; when one
 *   of them says so, the breaker opens.
 *
 *   With `probeBeforeTrip` (off by default; the router turns it on), a
 *   breaker one failure short of a trip (one failure short of a
 *   {@link consecutiveFailures} threshold) admits one call at a time, its
 *   trial, as it admits probes: the others are rejected with a zero
 *   `retryAfter` until the trial settles, and a caller with an alternative
 *   goes there. Once a streak stands one failure short, a dependency that
 *   went down gets one more call, not every call of a burst that arrives
 *   while the last failures are on their way back. (Calls admitted before
 *   that point are not held back.) A success of a call started after the
 *   latest failing call started ends the streak. The trial keeps its slot
 *   until it settles, even past the streak's end, or until its caller gives
 *   it back ({@link Permit}'s `freeSlot`, as the router does at a stream's
 *   first content); a caller with no alternative
 *   takes {@link CircuitBreaker.acquireLastResort}, which the rule does not
 *   hold back.
 * - `open`: calls fail at once with {@link CircuitOpen}, without running,
 *   until the open deadline. The open duration of the n-th trip since the
 *   last recovery is `min(cap, base * factor^(n - 1))`.
 * - `half-open`: after the deadline, exactly `halfOpenProbes` calls are
 *   admitted as probes; the rest are rejected. A successful probe keeps its
 *   slot, an ignored (e.g. interrupted) one gives it back, and so does one
 *   whose caller frees it before its outcome (`freeSlot`), which then
 *   counts as the probe's all the same. When
 *   `halfOpenProbes` probes have succeeded the breaker closes (and the trip
 *   count starts over); the first probe that fails re-opens it for the next,
 *   longer, duration. A
 *   successful probe slower than a slow-call strategy's `slowCallDuration`
 *   counts as failed. The move from open to half-open is made lazily, by the
 *   first `acquire`, `protect`, `isAvailable` or `snapshot` after the deadline,
 *   or early, before it, by {@link CircuitBreaker.acquireProbe}.
 * - `isolated`: held open by {@link CircuitBreaker.isolate} until
 *   {@link CircuitBreaker.reset}.
 *
 * ## Outcomes
 *
 * Each call's `Exit` is classified `"success"`, `"failure"` or `"ignored"`
 * (default: success, failure, and interruption ignored). Ignored calls change
 * nothing, except that an ignored probe frees its half-open slot.
 *
 * A fourth outcome, `"slow"`, is for a call its caller abandoned after it
 * had run too long (e.g. it lost a hedge or a race to a faster
 * alternative): it is known to be slow, but it neither succeeded nor failed.
 * Only slow-call strategies count it (as a slow call); consecutive-failure
 * and failure-rate counting skip it. As a half-open probe it fails the probe
 * when a slow-call strategy says so, and otherwise frees its slot.
 *
 * A call belongs to the generation of the state that admitted it; every
 * transition starts a new generation, and results of older generations are
 * dropped. So a success from before a trip cannot close the breaker, and a
 * failure from before a reset does not count against the fresh window.
 *
 * ## Defaults
 *
 * | option            | default                                                                                 |
 * |-------------------|-----------------------------------------------------------------------------------------|
 * | `name`            | `"circuit-breaker"`                                                                     |
 * | `trip`            | `consecutiveFailures(5)`                                                                |
 * | `openDuration`    | `{ base: "30 seconds", factor: 2, cap: "5 minutes" }`                                   |
 * | `halfOpenProbes`  | `1`                                                                                     |
 * | `probeBeforeTrip` | `false`                                                                                 |
 * | `classify`        | {@link defaultClassifier}                                                               |
 * | `store`           | the provided {@link BreakerStore.CurrentBreakerStore}, else {@link BreakerStore.memory} |
 *
 * All times are read from the Effect `Clock` of the context the breaker was
 * made in (one time base for every caller), so `TestClock` drives them.
 *
 * @since 0.1.0
 */
import type { Queue, Scope, Stream } from "effect"
import { Cause, Duration, Effect, Exit, Schema } from "effect"
import { dual } from "effect/Function"
import type * as BreakerStore from "./BreakerStore.js"
import * as internal from "./internal/circuitBreaker.js"
import * as consecutive from "./internal/circuitBreakerConsecutive.js"
import * as rate from "./internal/circuitBreakerRate.js"
import * as window from "./internal/window.js"

/**
 * The breaker's states. See {@link BreakerStore.Status}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * const label = (status: CircuitBreaker.Status) =>
 *   status === "closed" ? "serving" : status === "half-open" ? "probing" : "not called"
 * const program = Effect.flatMap(breaker.snapshot, (s) => Effect.log(`${s.name}: ${label(s.state)}`))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Status = BreakerStore.Status

/**
 * A change of state, as published on {@link CircuitBreaker.changes}. See
 * {@link BreakerStore.Transition}.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const logTransition = (t: CircuitBreaker.Transition) =>
 *   Effect.log(`${t.name}: ${t.from} -> ${t.to} (${t.reason})`)
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ name: "search" })
 *   yield* Effect.forkScoped(Stream.runForEach(breaker.changes, logTransition))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Transition = BreakerStore.Transition

/**
 * The error of a call the breaker rejected without running it.
 *
 * - `name`: the breaker's name;
 * - `retryAfter`: how long until the breaker would admit a call again:
 *   the time left until the open deadline; zero when half-open with every
 *   probe slot taken, or closed with a trial running (see `probeBeforeTrip`;
 *   a slot may free at any moment); infinite when isolated.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const fallback = <A, R>(call: Effect.Effect<A, CircuitBreaker.CircuitOpen, R>) =>
 *   call.pipe(
 *     Effect.catchTag("CircuitOpen", (e) =>
 *       Effect.logWarning(`${e.name} is open for ${Duration.format(e.retryAfter)}`).pipe(
 *         Effect.zipRight(Effect.fail(e))
 *       ))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  name: Schema.String,
  retryAfter: Schema.Duration,
  /**
   * `true` while the breaker is held open by {@link CircuitBreaker.forceOpen},
   * which the router calls with a server's Retry-After (a 429, or a 529 with
   * a wait): the server asked for the wait, as a rate limit does. A program
   * that forces a breaker open itself (for maintenance) reads the same; it
   * can `isolate` it instead.
   */
  serverAsked: Schema.optional(Schema.Boolean)
}) {
  override get message(): string {
    return Duration.isFinite(this.retryAfter)
      ? `Circuit breaker "${this.name}" is open; retry after ${Duration.format(this.retryAfter)}`
      : `Circuit breaker "${this.name}" is isolated until it is reset`
  }
}

/**
 * How one call counts: `"failure"` and `"success"` feed the trip strategies
 * and settle probes; `"ignored"` changes nothing (and frees a probe slot);
 * `"slow"` is a call abandoned after running too long (see the module docs):
 * a slow call for slow-call strategies, nothing for the others.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // a hedged call that lost to a faster backup after 3 seconds: slow, not failed
 * const lostHedge = (permit: CircuitBreaker.Permit) => permit.record("slow", "3 seconds")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "success" | "failure" | "ignored" | "slow"

/**
 * The outcome of a call a {@link TripStrategy} counts: every
 * {@link Outcome} but `"ignored"`, which never reaches a strategy.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // Opens after 3 slow or abandoned calls in a row; a success ends the run.
 * class SlowStreak implements CircuitBreaker.TripStrategy {
 *   readonly usesTime = false
 *   private run = 0
 *   record(outcome: CircuitBreaker.CountedOutcome) {
 *     this.run = outcome === "slow" ? this.run + 1 : outcome === "success" ? 0 : this.run
 *     return this.run >= 3 ? "slow-streak" : undefined
 *   }
 *   rejectsProbe() { return false }
 *   reset() { this.run = 0 }
 *   metrics() { return undefined }
 * }
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export type CountedOutcome = Exclude<Outcome, "ignored">

/**
 * Classifies a call's `Exit`. Example: ignore a client error, which says
 * nothing about the dependency's health.
 *
 * @example
 * ```ts
 * import { Cause, Exit, Option } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * class BadRequest { readonly _tag = "BadRequest" }
 * class Unavailable { readonly _tag = "Unavailable" }
 *
 * const classify: CircuitBreaker.Classifier<BadRequest | Unavailable> = (exit) =>
 *   Exit.isFailure(exit) &&
 *     Option.exists(Cause.failureOption(exit.cause), (e) => e._tag === "BadRequest")
 *     ? "ignored"
 *     : CircuitBreaker.defaultClassifier(exit)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Classifier<E = unknown> = (exit: Exit.Exit<unknown, E>) => Outcome

/**
 * The default {@link Classifier}: success is `"success"`, a failure or defect
 * is `"failure"`, and an interruption (alone) is `"ignored"`.
 *
 * @example
 * import { Exit, FiberId } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * CircuitBreaker.defaultClassifier(Exit.succeed("answer")) // "success"
 * CircuitBreaker.defaultClassifier(Exit.fail("overloaded")) // "failure"
 * CircuitBreaker.defaultClassifier(Exit.die(new Error("bug"))) // "failure"
 * CircuitBreaker.defaultClassifier(Exit.interrupt(FiberId.none)) // "ignored": the caller gave up, the target did not fail
 *
 * @since 0.1.0
 * @category classifiers
 */
export const defaultClassifier: Classifier = (exit) =>
  Exit.isSuccess(exit) ? "success" : Cause.isInterruptedOnly(exit.cause) ? "ignored" : "failure"

/**
 * Why a strategy trips: the `reason` of the closed-to-open transition.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import type { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * const explain = (reason: CircuitBreaker.TripReason) =>
 *   reason === "slow-call-rate" ? "too slow" : reason === "failure-rate" ? "failing often" : `tripped (${reason})`
 * const program = Stream.runForEach(
 *   Stream.filter(breaker.changes, (t) => t.from === "closed" && t.to === "open"),
 *   (t) => Effect.logWarning(`${t.name}: ${explain(t.reason)}`)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TripReason =
  | "consecutive-failures"
  | "consecutive-slow-calls"
  | "failure-rate"
  | "slow-call-rate"
  | (string & {})

/**
 * Figures a windowed strategy reports in a {@link Snapshot}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * // a snapshot carries its rate strategies' figures (none without one)
 * const struggling = (metrics: CircuitBreaker.WindowMetrics) =>
 *   (metrics.callsInWindow ?? 0) >= 20 && (metrics.failureRate ?? 0) > 0.2
 * const program = Effect.map(breaker.snapshot, struggling)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowMetrics {
  readonly callsInWindow?: number
  /** Failed calls / calls in the window, 0..1. */
  readonly failureRate?: number
  /** Slow calls / calls in the window, 0..1. */
  readonly slowCallRate?: number
}

/**
 * One breaker's instance of a trip rule. Strategies are small mutable
 * objects, driven synchronously inside the breaker's atomic state update,
 * so they need no synchronisation of their own; keep every method O(1) and
 * allocation-free, as `record` runs on every call.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // Opens on the first failure slower than 10 seconds.
 * class SlowFailure implements CircuitBreaker.TripStrategy {
 *   readonly usesTime = true
 *   record(outcome: CircuitBreaker.CountedOutcome, durationMillis: number) {
 *     return outcome === "failure" && durationMillis > 10_000 ? "slow-failure" : undefined
 *   }
 *   rejectsProbe() { return false }
 *   reset() {}
 *   metrics() { return undefined }
 * }
 *
 * const policy: CircuitBreaker.TripPolicy = { make: () => new SlowFailure() }
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export interface TripStrategy {
  /**
   * True when `record` reads its `durationMillis` or `startedAtMillis`. When
   * no strategy does, the breaker does not time closed-state calls and
   * passes 0 for both.
   */
  readonly usesTime: boolean
  /**
   * Counts one call made while closed (ignored calls are not counted):
   * `outcome` is how it ended, `durationMillis` how long it ran,
   * `nowMillis` the time it ended and `startedAtMillis` the time it was
   * admitted (so a strategy can tell a call that started before some
   * earlier outcome from one that started after it). Calls that overlap
   * reach `record` in the order they end. Returns the reason to open, or
   * `undefined` to stay closed.
   */
  record(
    outcome: CountedOutcome,
    durationMillis: number,
    nowMillis: number,
    startedAtMillis: number
  ): TripReason | undefined
  /**
   * Whether a half-open probe that succeeded, or was abandoned as slow, in
   * `durationMillis` still counts as failed (e.g. too slow). A slow probe
   * that no strategy rejects frees its slot, like an ignored one.
   */
  rejectsProbe(outcome: "success" | "slow", durationMillis: number): boolean
  /** Forgets every call: the breaker (re)entered closed. */
  reset(nowMillis: number): void
  /** Figures for {@link Snapshot}, if this strategy keeps any. */
  metrics(nowMillis: number): WindowMetrics | undefined
  /**
   * Optional: whether one more failure would trip it now. While one
   * strategy says so, the closed breaker admits one call at a time (see
   * the module docs). {@link consecutiveFailures} implements it; the rate
   * strategies do not, as a rate that hovers near its threshold in a gray
   * failure would hold every caller to one call at a time for as long.
   */
  oneFailureShort?(): boolean
}

/**
 * A trip rule: makes a fresh {@link TripStrategy} for each breaker.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // open on 5 failures in a row, or on half the calls of the last minute failing
 * const policies: ReadonlyArray<CircuitBreaker.TripPolicy> = [
 *   CircuitBreaker.consecutiveFailures(5),
 *   CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.timeWindow("1 minute") })
 * ]
 * const breaker = CircuitBreaker.make({ name: "search", trip: policies })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export interface TripPolicy {
  readonly make: () => TripStrategy
}

/**
 * Opens after `threshold` failures in a row. A success resets the count
 * only if its call started at or after the latest counted failing call
 * started: a slow call admitted before an outage began, that succeeds once
 * the outage is under way, says nothing about the dependency now, so it
 * does not hide the failures; a call that overlapped a failing one, started
 * after it, does end the run. Abandoned slow calls (outcome `"slow"`)
 * neither count nor reset.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const breaker = CircuitBreaker.make({ trip: CircuitBreaker.consecutiveFailures(3) })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const consecutiveFailures = (threshold: number): TripPolicy => consecutive.consecutiveFailures(threshold)

/**
 * Opens after `threshold` calls in a row abandoned as slow (outcome
 * `"slow"`: a hedge or race lost to a faster alternative). A success ends
 * the run only if its call started at or after the latest abandoned call
 * started, as for {@link consecutiveFailures}; failures neither count nor
 * reset. A half-open probe abandoned as slow fails.
 *
 * Where a slow-call rate over a window waits until slow calls are most of
 * the window (a minute of healthy calls before a dependency starts to hang
 * takes a minute of slow ones to outweigh), this opens as soon as every
 * call of a short run loses, however busy the window was: a dependency that
 * hangs, or fails only after tens of seconds, is found after `threshold`
 * lost hedges. Successes come back sooner than the calls that lose their
 * hedge, so a healthy dependency's occasional slow call, or a brief stall
 * while others succeed, makes no run.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // hedged calls: open when 5 in a row lose to the backup, or on 5 failures in a row
 * const breaker = CircuitBreaker.make({
 *   trip: [CircuitBreaker.consecutiveFailures(5), CircuitBreaker.consecutiveSlowCalls(5)]
 * })
 * ```
 *
 * @throws RangeError unless `threshold` is a positive whole number.
 * @since 0.1.0
 * @category strategies
 */
export const consecutiveSlowCalls = (threshold: number): TripPolicy => consecutive.consecutiveSlowCalls(threshold)

/**
 * The calls a rate strategy looks at: the last N calls
 * ({@link countWindow}) or the calls of the last period ({@link timeWindow}).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // the last 100 calls for a busy dependency, the last 5 minutes for a quiet one
 * const windowFor = (callsPerMinute: number): CircuitBreaker.SlidingWindow =>
 *   callsPerMinute > 100 ? CircuitBreaker.countWindow(100) : CircuitBreaker.timeWindow("5 minutes")
 * const trip = CircuitBreaker.failureRate({ threshold: 0.5, window: windowFor(20) })
 * ```
 *
 * @since 0.1.0
 * @category windows
 */
export type SlidingWindow =
  | { readonly _tag: "CountWindow"; readonly size: number }
  | { readonly _tag: "TimeWindow"; readonly durationMillis: number; readonly buckets: number }

/**
 * The last `size` calls (a ring buffer).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const last100 = CircuitBreaker.countWindow(100)
 * ```
 *
 * @since 0.1.0
 * @category windows
 */
export const countWindow = (size: number): SlidingWindow => window.countWindow(size)

/**
 * The calls of the last `duration`, kept in `buckets` equal buckets
 * (default 10) that expire whole: the window spans between
 * `duration - duration / buckets` and `duration` of history.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const lastMinute = CircuitBreaker.timeWindow("60 seconds", 10) // 6-second buckets
 * ```
 *
 * @since 0.1.0
 * @category windows
 */
export const timeWindow = (duration: Duration.DurationInput, buckets: number = 10): SlidingWindow =>
  window.timeWindow(Duration.toMillis(Duration.decode(duration)), buckets)

/**
 * Options of {@link failureRate}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // 25% of the last 200 calls failed, once 50 have been counted
 * const options: CircuitBreaker.FailureRateOptions = {
 *   threshold: 0.25,
 *   window: CircuitBreaker.countWindow(200),
 *   minimumCalls: 50
 * }
 * const breaker = CircuitBreaker.make({ name: "search", trip: CircuitBreaker.failureRate(options) })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export interface FailureRateOptions {
  /** Opens when failed / counted calls in the window is at least this, in (0, 1]. */
  readonly threshold: number
  readonly window: SlidingWindow
  /** No trip before the window holds this many calls. Default 10 (at most the size of a count window). */
  readonly minimumCalls?: number
}

/**
 * Opens when the failure rate over the window reaches `threshold`, once the
 * window holds `minimumCalls` calls. Checked after every counted call.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // Half of the calls of the last minute failed, out of at least 20.
 * const trip = CircuitBreaker.failureRate({
 *   threshold: 0.5,
 *   window: CircuitBreaker.timeWindow("1 minute"),
 *   minimumCalls: 20
 * })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const failureRate = (options: FailureRateOptions): TripPolicy => rate.failureRate(options)

/**
 * Options of {@link slowCallRate}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // 60% of the calls of the last 2 minutes took longer than 8 seconds, out of at least 10
 * const options: CircuitBreaker.SlowCallRateOptions = {
 *   threshold: 0.6,
 *   slowCallDuration: "8 seconds",
 *   window: CircuitBreaker.timeWindow("2 minutes"),
 *   minimumCalls: 10
 * }
 * const breaker = CircuitBreaker.make({ name: "llm", trip: CircuitBreaker.slowCallRate(options) })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export interface SlowCallRateOptions extends FailureRateOptions {
  /** A call that takes longer than this is slow, whether it succeeded or failed. */
  readonly slowCallDuration: Duration.DurationInput
}

/**
 * Opens when the share of slow calls over the window reaches `threshold`,
 * once the window holds `minimumCalls` calls. A call is slow when it ran
 * longer than `slowCallDuration`, or when its caller abandoned it as slow
 * (outcome `"slow"`, e.g. it lost a hedge), however long it ran. A half-open
 * probe that succeeds but is slow, or is abandoned as slow, counts as failed.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const trip = CircuitBreaker.slowCallRate({
 *   threshold: 0.8,
 *   slowCallDuration: "5 seconds",
 *   window: CircuitBreaker.countWindow(50)
 * })
 * ```
 *
 * @throws RangeError on a threshold outside (0, 1], a bad `minimumCalls`,
 * or a negative `slowCallDuration`.
 * @since 0.1.0
 * @category strategies
 */
export const slowCallRate = (options: SlowCallRateOptions): TripPolicy => rate.slowCallRate(options)

/**
 * How long the breaker stays open: `min(cap, base * factor^(n - 1))` for
 * the n-th trip since the last recovery.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // open for 5s, then 15s, 45s, ... up to 10 minutes on repeated trips
 * const openDuration: CircuitBreaker.OpenDuration = { base: "5 seconds", factor: 3, cap: "10 minutes" }
 * const breaker = CircuitBreaker.make({ name: "search", openDuration })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenDuration {
  /** Default 30 seconds. */
  readonly base?: Duration.DurationInput
  /** Default 2 (at least 1). */
  readonly factor?: number
  /** Default 5 minutes. */
  readonly cap?: Duration.DurationInput
}

/**
 * Options of {@link make}. Every field is optional; see the module docs for
 * the defaults.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * class Timeout { readonly _tag = "Timeout" }
 *
 * const options: CircuitBreaker.Options<Timeout> = {
 *   name: "inventory",
 *   trip: CircuitBreaker.consecutiveFailures(3),
 *   openDuration: { base: "10 seconds" },
 *   halfOpenProbes: 2,
 *   probeBeforeTrip: true
 * }
 * const breaker = CircuitBreaker.make(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E = unknown> {
  /** Names the breaker in {@link CircuitOpen}, transitions and snapshots. */
  readonly name?: string
  /** When to open; several policies open on the first that trips. */
  readonly trip?: TripPolicy | ReadonlyArray<TripPolicy>
  readonly openDuration?: OpenDuration
  /** Probes admitted at a time when half-open, and successes needed to close. */
  readonly halfOpenProbes?: number
  readonly classify?: Classifier<E>
  readonly store?: BreakerStore.BreakerStore
  /**
   * One failure short of a trip, admit one call at a time (default
   * `false`; see the module docs). For callers that have somewhere else to
   * go (the router turns it on for its targets): it sends them there while
   * a streak is being decided, instead of to a dependency that may have
   * gone down.
   */
  readonly probeBeforeTrip?: boolean
}

/**
 * A permit to make one call, from {@link CircuitBreaker.acquire}. Record the
 * call's outcome exactly once; later records are no-ops. A permit never
 * recorded keeps a half-open probe slot taken (or, with `probeBeforeTrip`,
 * a closed breaker's trial slot, which no deadline frees), so record
 * `"ignored"` when giving up on a call.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker<Error>
 * declare const tokens: Stream.Stream<string, Error>
 *
 * // a stream cannot be wrapped by `protect`: take a permit, record how it ended
 * const guarded = Effect.gen(function*() {
 *   const permit: CircuitBreaker.Permit<Error> = yield* breaker.acquire
 *   return tokens.pipe(Stream.ensuringWith((exit) => permit.recordExit(exit)))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Permit<E = unknown> {
  /**
   * Records the outcome. `duration` defaults to the time since the permit
   * was acquired (0 when no strategy reads durations).
   */
  readonly record: (outcome: Outcome, duration?: Duration.DurationInput) => Effect.Effect<void>
  /** Classifies the exit with the breaker's classifier, then records it. */
  readonly recordExit: (exit: Exit.Exit<unknown, E>) => Effect.Effect<void>
  /**
   * Whether this call holds a slot others wait for, until it is recorded or
   * the slot is freed: a half-open probe, or the one trial call of a breaker
   * one failure short of a trip.
   */
  readonly holdsSlot: boolean
  /**
   * Gives back the slot this permit holds (see `holdsSlot`; nothing
   * otherwise), its outcome still to be recorded, and still counted as a
   * probe's or trial's when it is: for a call whose answer comes in pieces
   * (a stream), once its first piece shows it under way, so that the next
   * call need not wait for the whole answer (go elsewhere meanwhile), nor
   * for as long as its reader stops reading.
   */
  readonly freeSlot: Effect.Effect<void>
}

/**
 * A breaker's state at one moment.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import type { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * const describe = (s: CircuitBreaker.Snapshot) =>
 *   s.state === "closed"
 *     ? `${s.name}: closed, ${s.consecutiveFailures} failures in a row`
 *     : `${s.name}: ${s.state}, retry in ${Duration.format(s.retryAfter)} (trip ${s.trips})`
 * const program = Effect.flatMap(breaker.snapshot, (s) => Effect.log(describe(s)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot extends WindowMetrics {
  readonly name: string
  readonly state: Status
  /** How long until a call would be admitted; see {@link CircuitOpen}. Zero when one would be now. */
  readonly retryAfter: Duration.Duration
  /** When open: the deadline, in epoch millis by the Effect `Clock`. */
  readonly openUntil?: number
  /**
   * When open and held by {@link CircuitBreaker.forceOpen} (a server's
   * Retry-After): until when, in epoch millis; no early probe
   * ({@link CircuitBreaker.acquireProbe}) is admitted before it.
   */
  readonly forcedUntil?: number
  /** Failures in a row since the last success (closed state). */
  readonly consecutiveFailures: number
  /** Trips since the last recovery. */
  readonly trips: number
  /**
   * Probes holding a slot: when half-open, and when closed the trial (see
   * `probeBeforeTrip`; at most 1) until it settles, which may be after its
   * streak ended. One whose caller freed its slot (`Permit.freeSlot`) is
   * not counted, though its outcome is still to come.
   */
  readonly probesInFlight: number
  readonly generation: number
}

/**
 * A circuit breaker. Make one with {@link make}; share it between every
 * caller of the dependency it guards.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const search: (query: string) => Effect.Effect<ReadonlyArray<string>, Error>
 *
 * const program = Effect.gen(function*() {
 *   const breaker: CircuitBreaker.CircuitBreaker<Error> = yield* CircuitBreaker.make<Error>({ name: "search" })
 *   const results = yield* breaker.protect(search("effect")).pipe(
 *     Effect.catchTag("CircuitOpen", () => Effect.succeed([]))
 *   )
 *   // an operator takes the dependency out of rotation, then back
 *   yield* breaker.isolate
 *   yield* breaker.reset
 *   return results
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker<E = unknown> {
  readonly name: string
  /**
   * Runs `self` if the breaker admits it, records its outcome, and fails
   * with {@link CircuitOpen} otherwise (without running it).
   */
  readonly protect: <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E1 | CircuitOpen, R>
  /**
   * Admission for calls that cannot be wrapped as one effect (e.g. streams).
   * The permit must be recorded however the call ends, interrupted too: a
   * half-open probe's permit never recorded holds its slot for good, and the
   * breaker admits no other call. Prefer {@link CircuitBreaker.acquireScoped},
   * or record it in a finalizer.
   */
  readonly acquire: Effect.Effect<Permit<E>, CircuitOpen>
  /**
   * Admission as {@link CircuitBreaker.acquire}, with the permit recorded
   * `"ignored"` when the scope closes, unless it was recorded before: a
   * caller interrupted before it could record its outcome frees its slot.
   *
   * @example
   * ```ts
   * import { Effect, Stream } from "effect"
   * import type { CircuitBreaker } from "effect-llm-failover/resilience"
   *
   * declare const breaker: CircuitBreaker.CircuitBreaker
   * declare const tokens: Stream.Stream<string, Error>
   * // a stream judged by its first token; if the caller is interrupted first, the permit is recorded ignored
   * const firstToken = Effect.scoped(
   *   Effect.gen(function* () {
   *     const permit = yield* breaker.acquireScoped
   *     const first = yield* Effect.exit(Stream.runHead(tokens))
   *     yield* permit.recordExit(first)
   *     return yield* first
   *   })
   * )
   * ```
   */
  readonly acquireScoped: Effect.Effect<Permit<E>, CircuitOpen, Scope.Scope>
  /**
   * Admission as an early probe: like {@link CircuitBreaker.acquire}, except
   * that an open breaker does not wait for its deadline: it moves to
   * half-open at once (transition reason `"early-probe"`) and admits this
   * call as its probe. The probe settles like any other: enough successes
   * close the breaker, a failure re-opens it for its next (backed-off)
   * duration. An isolated breaker still rejects, and so does one held open
   * by {@link CircuitBreaker.forceOpen} (the server said when to come back),
   * and a half-open one whose probe slots are taken; a closed breaker admits
   * as `acquire` does (so one with a trial running rejects too).
   *
   * For a caller with no alternative left, e.g. a router whose every target
   * is open: one early probe to the target whose deadline is nearest finds
   * a recovery at once, instead of failing every request until a deadline
   * passes. Keep such probes rare (one in flight at a time).
   */
  readonly acquireProbe: Effect.Effect<Permit<E>, CircuitOpen>
  /**
   * Admission for a caller with no alternative left: like
   * {@link CircuitBreaker.acquire}, except that a closed breaker admits the
   * call even while a trial runs (see `probeBeforeTrip`). The rule exists
   * to send callers elsewhere while a streak is decided; with nowhere else
   * to go, the call runs as it would without the rule. Open, half-open and
   * isolated breakers admit as `acquire` does.
   */
  readonly acquireLastResort: Effect.Effect<Permit<E>, CircuitOpen>
  /** Whether a call would be admitted now, without taking a permit. */
  readonly isAvailable: Effect.Effect<boolean>
  readonly snapshot: Effect.Effect<Snapshot>
  /** Every transition from when the stream starts running, in order. */
  readonly changes: Stream.Stream<Transition>
  /**
   * A subscription to every transition from when this effect completes, in
   * order: use it when no transition may be missed between starting a
   * consumer and the next call.
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Transition>, never, Scope.Scope>
  /**
   * Opens until now + `duration` (e.g. a server's Retry-After), or keeps a
   * later deadline. Does not count as a trip, and no early probe is
   * admitted before it ends. No effect when isolated.
   */
  readonly forceOpen: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Holds the breaker open until {@link CircuitBreaker.reset}. */
  readonly isolate: Effect.Effect<void>
  /** Closes the breaker and clears every counter and the trip count. */
  readonly reset: Effect.Effect<void>
}

/**
 * Makes a circuit breaker.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({
 *     name: "search",
 *     trip: [
 *       CircuitBreaker.consecutiveFailures(5),
 *       CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.countWindow(100) })
 *     ],
 *     openDuration: { base: "10 seconds", factor: 2, cap: "2 minutes" }
 *   })
 *   return yield* breaker.protect(Effect.succeed("result"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = unknown>(options: Options<E> = {}): Effect.Effect<CircuitBreaker<E>> => internal.make(options)

/**
 * Runs an effect through a breaker: `CircuitBreaker.protect(effect, breaker)`
 * or `effect.pipe(CircuitBreaker.protect(breaker))`. Same as
 * `breaker.protect(effect)`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ name: "search" })
 *   const a = yield* Effect.succeed(1).pipe(CircuitBreaker.protect(breaker))
 *   const b = yield* CircuitBreaker.protect(Effect.succeed(2), breaker)
 *   return a + b
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <E>(breaker: CircuitBreaker<E>): <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E1 | CircuitOpen, R>
  <A, E1 extends E, R, E>(self: Effect.Effect<A, E1, R>, breaker: CircuitBreaker<E>): Effect.Effect<A, E1 | CircuitOpen, R>
} = dual(
  2,
  <A, E1 extends E, R, E>(self: Effect.Effect<A, E1, R>, breaker: CircuitBreaker<E>) => breaker.protect(self)
)
