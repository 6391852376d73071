/**
 * Rolling health windows per key: success rate, approximate latency and
 * time-to-first-token quantiles, and a degraded flag, over the last `window`
 * of Effect's `Clock` (so `TestClock` drives expiry).
 *
 * The window is a ring of `buckets` time buckets of `window / buckets` each;
 * a bucket expires whole, so a sample counts for between
 * `window - window / buckets` and `window`. Recording is O(1) and memory per
 * key is fixed (a log-scale histogram per bucket), whatever the traffic.
 *
 * Quantiles are nearest-rank and approximate: a reported quantile is within
 * {@link RELATIVE_ACCURACY} (2%) of the exact nearest-rank quantile of the
 * recorded values, for values between 10 µs and 10,000 s (outside that range
 * values are clamped to it; exactly zero is reported as zero).
 *
 * Keys are compared like `Map` keys (SameValueZero): use strings or numbers.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Context from "effect/Context"
import * as Option from "effect/Option"
import * as internal from "./internal/health.js"
import * as quantile from "./internal/quantile.js"

/**
 * Identifies a {@link HealthTracker}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * const program = Effect.map(Health.make<string>(), (tracker) => Health.TypeId in tracker) // true
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * The type of {@link TypeId}.
 *
 * @example
 * ```ts
 * import { Health } from "effect-llm-failover/resilience"
 *
 * // a type guard, e.g. for an option that takes a tracker or its options
 * const isTracker = (u: unknown): u is Health.HealthTracker<string> =>
 *   typeof u === "object" && u !== null &&
 *   (u as { readonly [Health.TypeId]?: Health.TypeId })[Health.TypeId] === Health.TypeId
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The bound on the relative error of every reported quantile: 0.02 (2%).
 *
 * @example
 * import { Health } from "effect-llm-failover/resilience"
 *
 * // a p95 of 2 seconds read from the window lies within this share of the true one
 * const within = 2_000 * Health.RELATIVE_ACCURACY
 *
 * @since 0.1.0
 * @category constants
 */
export const RELATIVE_ACCURACY: number = quantile.RELATIVE_ACCURACY

/**
 * Options of {@link make}.
 *
 * @example
 * ```ts
 * import { Health } from "effect-llm-failover/resilience"
 *
 * // degraded under 90% success or over 4 s p95, over the last 5 minutes, from 20 calls
 * const options: Health.HealthOptions = {
 *   window: "5 minutes",
 *   buckets: 10,
 *   degradedBelow: 0.9,
 *   minimumCalls: 20,
 *   degradedLatency: "4 seconds"
 * }
 * const tracker = Health.make<string>(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthOptions {
  /** How far back the window reaches. Default 60 seconds. */
  readonly window?: Duration.DurationInput
  /** Time buckets in the window (a whole number from 1 to {@link maxBuckets}). Default 12. */
  readonly buckets?: number
  /** A key whose success rate is below this (0..1) is degraded. Default 0.8. */
  readonly degradedBelow?: number
  /** Calls in the window before a key can be degraded. Default 5. */
  readonly minimumCalls?: number
  /** If set, a key whose p95 latency is above this is degraded. */
  readonly degradedLatency?: Duration.DurationInput
  /**
   * Names the tracker for a {@link Store}: trackers of the same name on
   * several instances share their samples (string keys only). Without a
   * name the tracker stays local.
   */
  readonly name?: string
  /** Where a named tracker's samples are mirrored. Default: the provided {@link CurrentStore}, if any. */
  readonly store?: Store
}

/**
 * One sample as a store carries it between instances: `outcome` 1 for a
 * success, 0 for a failure, 2 for a slow sample; `latency` and
 * `timeToFirstToken` in milliseconds; `at` the epoch millis it was recorded.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * // what a store sends for a success of 850 ms that streamed its first token at 300 ms
 * const toWire = (sample: Health.HealthSample, at: number): Health.WireSample => ({
 *   outcome: sample.slow === true ? 2 : sample.success ? 1 : 0,
 *   latency: Duration.toMillis(sample.latency),
 *   ...(sample.timeToFirstToken === undefined ? {} : { timeToFirstToken: Duration.toMillis(sample.timeToFirstToken) }),
 *   at
 * })
 * const wire = toWire({ success: true, latency: "850 millis", timeToFirstToken: "300 millis" }, Date.now())
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export interface WireSample {
  readonly outcome: 0 | 1 | 2
  readonly latency: number
  readonly timeToFirstToken?: number
  readonly at: number
}

/**
 * What a named tracker tells its store when it is made.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * // keep each named tracker's registration, to feed it other instances' samples
 * const trackers = new Map<string, Health.Registration>()
 * const store: Health.Store = {
 *   register: (registration) =>
 *     Effect.sync(() => {
 *       trackers.set(registration.name, registration)
 *       return { onSample: () => {} }
 *     })
 * }
 * const received = (tracker: string, key: string, samples: ReadonlyArray<Health.WireSample>) =>
 *   trackers.get(tracker)?.apply(key, samples) ?? Effect.void
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export interface Registration {
  readonly name: string
  /** Records samples of other instances, each in the bucket of its own `at` (older than the window: dropped). */
  readonly apply: (key: string, samples: ReadonlyArray<WireSample>) => Effect.Effect<void>
}

/**
 * What a store gives a named tracker: a hook that sees every local sample,
 * synchronously (keep it quick; anything it throws is ignored).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * // batch every local sample for a fiber to publish
 * const outbox: Array<{ readonly key: string; readonly sample: Health.WireSample }> = []
 * const mirror: Health.Mirror = { onSample: (key, sample) => void outbox.push({ key, sample }) }
 * const store: Health.Store = { register: () => Effect.succeed(mirror) }
 * const tracker = Health.make<string>({ name: "targets", store })
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export interface Mirror {
  readonly onSample: (key: string, sample: WireSample) => void
}

/**
 * A place to share named trackers' samples across instances
 * (`SharedState` implements it on Redis).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * // a store that only counts what it would send
 * let seen = 0
 * const counting: Health.Store = { register: () => Effect.succeed({ onSample: () => void seen++ }) }
 * const tracker = Health.make<string>({ name: "targets", store: counting })
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export interface Store {
  readonly register: (registration: Registration) => Effect.Effect<Mirror>
}

/**
 * The store named trackers use when their options name none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * declare const store: Health.Store
 * const tracker = Health.make<string>({ name: "targets" }).pipe(Effect.provideService(Health.CurrentStore, store))
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export class CurrentStore extends Context.Tag("effect-llm-failover/resilience/Health/Store")<CurrentStore, Store>() {}

/**
 * One finished call, or one abandoned as slow.
 *
 * A slow sample (`slow: true`) is a call its caller gave up on after it had
 * run `latency`, because it was too slow (e.g. it lost a hedge or a race to
 * a faster alternative). It neither succeeded nor failed, so it is not one
 * of the `calls` and leaves the success rate alone; its `latency` is a lower
 * bound of how long it would have taken, and it feeds the latency quantiles
 * (so the window keeps the slow tail that abandoning calls would otherwise
 * hide) and the snapshot's `slow` count.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * const answered: Health.HealthSample = { success: true, latency: Duration.millis(800) }
 * const lostHedge: Health.HealthSample = { success: false, slow: true, latency: Duration.seconds(3) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthSample {
  /** Whether the call succeeded (not read for a slow sample). */
  readonly success: boolean
  /**
   * How long the call took. Successful calls and slow samples feed the
   * latency quantiles. The router gives a stream's wait for its first
   * content: the rest is the model writing at its own pace.
   */
  readonly latency: Duration.DurationInput
  /** How long until the first chunk of a streamed answer arrived, when known. */
  readonly timeToFirstToken?: Duration.DurationInput
  /** The call was abandoned as slow after `latency`; see above. */
  readonly slow?: boolean
}

/**
 * Approximate latency quantiles of the successful calls in the window.
 *
 * @example
 * ```ts
 * import { Duration, Effect, Option } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * declare const health: Health.HealthTracker<string>
 *
 * const format = (q: Health.LatencyQuantiles) =>
 *   `p50 ${Duration.format(q.p50)}, p95 ${Duration.format(q.p95)}, p99 ${Duration.format(q.p99)}`
 * const program = Effect.map(health.snapshot("openai"), (s) => Option.match(s.latency, { onNone: () => "no calls", onSome: format }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LatencyQuantiles {
  readonly p50: Duration.Duration
  readonly p95: Duration.Duration
  readonly p99: Duration.Duration
}

/**
 * Approximate time-to-first-token quantiles in the window.
 *
 * @example
 * ```ts
 * import { Duration, Effect, Option } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * declare const health: Health.HealthTracker<string>
 *
 * // streams feel slow when half of them wait over a second for their first token
 * const sluggish = (q: Health.TimeToFirstTokenQuantiles) => Duration.greaterThan(q.p50, Duration.seconds(1))
 * const program = Effect.map(health.snapshot("anthropic"), (s) => Option.exists(s.timeToFirstToken, sluggish))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TimeToFirstTokenQuantiles {
  readonly p50: Duration.Duration
  readonly p95: Duration.Duration
}

/**
 * The health of one key over the window.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Health } from "effect-llm-failover/resilience"
 *
 * declare const health: Health.HealthTracker<string>
 *
 * const program = Effect.gen(function* () {
 *   const snapshot: Health.HealthSnapshot = yield* health.snapshot("openai")
 *   if (snapshot.degraded) {
 *     yield* Effect.logWarning(`openai degraded: ${snapshot.failures}/${snapshot.calls} failed, ${snapshot.slow} abandoned as slow`)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthSnapshot {
  /** Calls that ended (succeeded or failed); slow samples are not among them. */
  readonly calls: number
  readonly successes: number
  readonly failures: number
  /** Calls abandoned as slow (see {@link HealthSample}). */
  readonly slow: number
  /** successes / calls; 1 when there were no calls. */
  readonly successRate: number
  /** Over successful calls and slow samples; None when the window holds neither. */
  readonly latency: Option.Option<LatencyQuantiles>
  /** None when no call in the window reported a time to first token. */
  readonly timeToFirstToken: Option.Option<TimeToFirstTokenQuantiles>
  /**
   * At least `minimumCalls` calls, and a success rate below `degradedBelow`
   * or (if `degradedLatency` is set) at least `minimumCalls` calls and slow
   * samples together, and a p95 latency above it.
   */
  readonly degraded: boolean
}

/**
 * Rolling health windows, one per key.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * declare const callModel: Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function* () {
 *   const health: Health.HealthTracker<string> = yield* Health.make<string>()
 *   const [elapsed, exit] = yield* Effect.timed(Effect.exit(callModel))
 *   yield* health.record("openai", { success: exit._tag === "Success", latency: elapsed })
 *   const all = yield* health.snapshotAll
 *   return [...all].filter(([, s]) => s.degraded).map(([key]) => key)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthTracker<K> {
  readonly [TypeId]: TypeId
  /** Records one finished call for `key`, at the clock's current time. */
  readonly record: (key: K, sample: HealthSample) => Effect.Effect<void>
  /** The health of `key` now (an empty snapshot for an unknown key). */
  readonly snapshot: (key: K) => Effect.Effect<HealthSnapshot>
  /** The health of every key ever recorded. */
  readonly snapshotAll: Effect.Effect<ReadonlyMap<K, HealthSnapshot>>
}

/**
 * The most time buckets a health window may have: each keeps a histogram of
 * latencies (about 2 KB) for every target.
 *
 * @example
 * import { Health } from "effect-llm-failover/resilience"
 *
 * const tracker = Health.make<string>({ window: "5 minutes", buckets: Math.min(300, Health.maxBuckets) })
 *
 * @since 0.1.0
 * @category constructors
 */
export const maxBuckets = 1_000

/**
 * Creates a health tracker. Invalid options are a defect.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const health = yield* Health.make<string>({ window: "1 minute", degradedLatency: "5 seconds" })
 *   yield* health.record("openai", { success: true, latency: Duration.millis(420) })
 *   yield* health.record("openai", { success: false, latency: Duration.seconds(30) })
 *   const snapshot = yield* health.snapshot("openai")
 *   return snapshot.successRate // 0.5
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K>(options: HealthOptions = {}): Effect.Effect<HealthTracker<K>> =>
  Effect.suspend(() => {
    const windowMillis = Duration.toMillis(options.window ?? Duration.minutes(1))
    const buckets = options.buckets ?? 12
    const degradedBelow = options.degradedBelow ?? 0.8
    const minimumCalls = options.minimumCalls ?? 5
    const problem = !(windowMillis > 0 && Number.isFinite(windowMillis))
      ? `window must be a positive finite duration`
      : !(Number.isInteger(buckets) && buckets > 0 && buckets <= maxBuckets)
      ? `buckets must be a whole number from 1 to ${maxBuckets}, got ${buckets}`
      : !(degradedBelow >= 0 && degradedBelow <= 1)
      ? `degradedBelow must be between 0 and 1, got ${degradedBelow}`
      : !(Number.isInteger(minimumCalls) && minimumCalls >= 0)
      ? `minimumCalls must be a non-negative integer, got ${minimumCalls}`
      : undefined
    if (problem !== undefined) return Effect.die(new Cause.IllegalArgumentException(`Health: ${problem}`))
    const tracker = new internal.HealthTrackerImpl<K>({
      windowMillis,
      buckets,
      degradedBelow,
      minimumCalls,
      degradedLatencyMillis: options.degradedLatency === undefined
        ? undefined
        : Duration.toMillis(options.degradedLatency)
    })
    const name = options.name
    if (name === undefined) return Effect.succeed<HealthTracker<K>>(tracker)
    const store = options.store === undefined
      ? Effect.map(Effect.serviceOption(CurrentStore), Option.getOrUndefined)
      : Effect.succeed(options.store)
    return Effect.flatMap(store, (store) =>
      store === undefined
        ? Effect.succeed<HealthTracker<K>>(tracker)
        : Effect.map(
          store.register({
            name,
            apply: (key, samples) =>
              Effect.clockWith((clock) =>
                Effect.sync(() => tracker.applyRemote(key as K, samples, clock.unsafeCurrentTimeMillis()))
              )
          }),
          (mirror): HealthTracker<K> => {
            tracker.mirror = mirror
            return tracker
          }
        ))
  })

/**
 * Runs an effect and records its outcome and latency (measured with the
 * `Clock`) for `key`. A failure or a defect counts as a failed call; an
 * interruption is not recorded.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const health = yield* Health.make<string>()
 *   yield* Effect.succeed("answer").pipe(Health.track(health, "primary"))
 *   return yield* health.snapshot("primary") // calls: 1, successes: 1
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const track: {
  <K>(tracker: HealthTracker<K>, key: K): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R, K>(effect: Effect.Effect<A, E, R>, tracker: HealthTracker<K>, key: K): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, K>(effect: Effect.Effect<A, E, R>, tracker: HealthTracker<K>, key: K): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (start) =>
      Effect.onExit(effect, (exit) =>
        Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (end) =>
            tracker.record(key, { success: Exit.isSuccess(exit), latency: Duration.millis(end - start) })
          )))
)
