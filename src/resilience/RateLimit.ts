/**
 * Requests-per-minute and tokens-per-minute limits that never wait: a call
 * over its limit is refused at once, with the time until room frees up, so a
 * router can skip the target as it skips one whose breaker is open.
 *
 * (Effect's `RateLimiter` delays a call until it fits; in front of a
 * fallback chain a refusal is what is wanted, because the next target can
 * answer now.)
 *
 * Usage is counted in a sliding window (one minute by default) cut into
 * epoch-aligned buckets (12 of 5 seconds by default): usage leaves the window
 * one bucket at a time. An admission counts one request and the request's
 * estimated tokens; `adjust` corrects the tokens once the real usage is known
 * (taking an over-estimate back from the bucket the request was counted in),
 * and `giveBack` takes back the whole of a request that was never made.
 * A token limit refuses a request once the window's tokens plus its estimate
 * would pass it, except in an empty window (a request larger than the whole
 * limit still gets through alone).
 *
 * Counting is local and synchronous. A {@link Store} can mirror it across
 * instances: it sees every local count and pushes in the other instances'
 * counts per bucket, which admissions then add to their own. The default
 * store mirrors nothing.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, Option } from "effect"
import * as internal from "./internal/rateLimit.js"

/**
 * The limits of one target. A missing limit is no limit.
 *
 * @example
 * ```ts
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * // the provider's published limits for one model
 * const tier1: RateLimit.Limits = { rpm: 500, tpm: 30_000 }
 * const limiter = RateLimit.make({ name: "openai/gpt-4o", ...tier1 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Requests per window (per minute by default). */
  readonly rpm?: number
  /** Tokens (prompt plus completion) per window. */
  readonly tpm?: number
}

/**
 * Settings of a limiter.
 *
 * @example
 * ```ts
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * // 10,000 tokens a day, counted in hourly buckets
 * const options: RateLimit.Options = { name: "free-tier", tpm: 10_000, window: "1 day", buckets: 24 }
 * const limiter = RateLimit.make(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Limits {
  /** The limited thing, e.g. a router target; a shared store keys its counts by it. */
  readonly name: string
  /** The window's length. Default one minute. */
  readonly window?: Duration.DurationInput
  /** Buckets the window is cut into. Default 12. */
  readonly buckets?: number
  /** Where counts are mirrored. Default: the provided {@link CurrentStore}, else {@link memory}. */
  readonly store?: Store
}

/**
 * The answer to an admission.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import type { RateLimit } from "effect-llm-failover/resilience"
 *
 * declare const limiter: RateLimit.RateLimiter
 *
 * const explain = (admission: RateLimit.Admission) =>
 *   admission._tag === "Admitted"
 *     ? "go"
 *     : `over the ${admission.limit} limit, room in ${Duration.format(admission.retryAfter)}`
 * const program = Effect.map(limiter.tryAcquire(1_200), explain)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Admission =
  | { readonly _tag: "Admitted" }
  | {
    readonly _tag: "Limited"
    /** Which limit refused the request. */
    readonly limit: "rpm" | "tpm"
    /** When the oldest counted bucket leaves the window. */
    readonly retryAfter: Duration.Duration
  }

/**
 * Usage within the window, over every instance the store has reported.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { RateLimit } from "effect-llm-failover/resilience"
 *
 * declare const limiter: RateLimit.RateLimiter
 *
 * // how close the target is to its token limit
 * const program = Effect.gen(function* () {
 *   const usage: RateLimit.Usage = yield* limiter.usage
 *   const tpm = limiter.limits.tpm
 *   yield* Effect.log(`${usage.requests} requests, ${usage.tokens} tokens${tpm === undefined ? "" : ` of ${tpm}`}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly requests: number
  readonly tokens: number
  /**
   * When the oldest bucket that counts anything leaves the window (epoch
   * millis): the first moment the usage can fall. Absent for an empty window.
   */
  readonly leavesAt?: number
}

/**
 * A rate limiter.
 *
 * @example
 * ```ts
 * import { Clock, Effect } from "effect"
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * declare const callModel: (prompt: string) => Effect.Effect<{ readonly totalTokens: number }, Error>
 *
 * const program = Effect.gen(function* () {
 *   const limiter: RateLimit.RateLimiter = yield* RateLimit.make({ name: "gpt-4o", rpm: 500, tpm: 30_000 })
 *   const estimate = 800
 *   const admittedAt = yield* Clock.currentTimeMillis
 *   const admission = yield* limiter.tryAcquire(estimate)
 *   if (admission._tag === "Limited") return yield* Effect.fail(new Error(`limited by ${admission.limit}`))
 *   const answer = yield* callModel("Hello")
 *   // count the tokens really used, not the estimate
 *   yield* limiter.adjust(answer.totalTokens - estimate, admittedAt)
 *   return answer
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiter {
  readonly name: string
  readonly limits: Limits
  /** Admits one request and counts it with its estimated tokens, or refuses it. Never waits. */
  readonly tryAcquire: (estimatedTokens: number) => Effect.Effect<Admission>
  /**
   * Corrects a request's estimate by `tokenDelta` tokens once its real usage
   * is known. More tokens go to the current bucket. Fewer (a negative delta)
   * are taken back from the bucket the request was counted in, the one of
   * `admittedAt` (epoch millis, when `tryAcquire` admitted it), and never
   * below zero: once that bucket has left the window the estimate has left
   * with it, and nothing is taken back. Without `admittedAt` they are taken
   * from the current bucket, never below zero (a request admitted in an
   * earlier bucket then gets back less than it could).
   */
  readonly adjust: (tokenDelta: number, admittedAt?: number) => Effect.Effect<void>
  /**
   * Gives back an admitted request that was never made (refused or dropped
   * before it reached what the limiter guards): its request and its
   * `estimatedTokens` are taken back from the bucket of `admittedAt` (epoch
   * millis, when `tryAcquire` admitted it; default now), never below zero
   * there, and nothing once that bucket has left the window, as `adjust`
   * takes back an over-estimate. A store sees it as a negative count.
   *
   * @example
   * ```ts
   * import { Clock, Effect } from "effect"
   * import type { RateLimit } from "effect-llm-failover/resilience"
   *
   * declare const limiter: RateLimit.RateLimiter
   * declare const queueFull: Effect.Effect<boolean>
   *
   * const program = Effect.gen(function* () {
   *   const admittedAt = yield* Clock.currentTimeMillis
   *   const admission = yield* limiter.tryAcquire(800)
   *   if (admission._tag === "Limited") return "limited"
   *   // refused on this side before any call: the request does not count
   *   if (yield* queueFull) return yield* Effect.as(limiter.giveBack(800, admittedAt), "busy")
   *   return "called"
   * })
   * ```
   */
  readonly giveBack: (estimatedTokens: number, admittedAt?: number) => Effect.Effect<void>
  /** Usage within the window now. */
  readonly usage: Effect.Effect<Usage>
  /**
   * Lets the store forget this limiter (see {@link Mirror.unregister}), for
   * one that is replaced or no longer used: its counts stay local from then
   * on, and the others' no longer reach it. It still counts and admits.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { RateLimit } from "effect-llm-failover/resilience"
   *
   * // new limits for "gpt-4o": the old limiter is let go, so a shared store stops mirroring it
   * const replace = (old: RateLimit.RateLimiter, limits: RateLimit.Limits) =>
   *   Effect.zipLeft(RateLimit.make({ name: old.name, ...limits }), old.unregister)
   * ```
   */
  readonly unregister: Effect.Effect<void>
}

/**
 * One local count, as a store sees it: deltas in the bucket starting at `start` (epoch millis).
 *
 * @example
 * ```ts
 * import { Effect, Queue } from "effect"
 * import type { RateLimit } from "effect-llm-failover/resilience"
 *
 * // a store that queues every local count for a fiber to add to a shared counter
 * const program = Effect.gen(function* () {
 *   const outbox = yield* Queue.unbounded<{ readonly name: string; readonly count: RateLimit.Count }>()
 *   const store: RateLimit.Store = {
 *     register: (registration) =>
 *       Effect.succeed({ onCount: (count: RateLimit.Count) => Queue.unsafeOffer(outbox, { name: registration.name, count }) })
 *   }
 *   return { store, outbox }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Count {
  readonly start: number
  readonly requests: number
  readonly tokens: number
}

/**
 * The other instances' totals in one bucket, as a store reports them.
 *
 * @example
 * ```ts
 * import type { RateLimit } from "effect-llm-failover/resilience"
 *
 * declare const registration: RateLimit.Registration
 *
 * // the other instances' totals of the last two buckets; this instance gets a third of the room left
 * const bucket = Math.floor(Date.now() / registration.bucketMillis) * registration.bucketMillis
 * const remote: ReadonlyArray<RateLimit.RemoteBucket> = [
 *   { start: bucket - registration.bucketMillis, requests: 40, tokens: 12_000 },
 *   { start: bucket, requests: 7, tokens: 2_100 }
 * ]
 * const program = registration.apply(remote, 1 / 3)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteBucket {
  readonly start: number
  readonly requests: number
  readonly tokens: number
}

/**
 * What a limiter tells its store when it is made.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { RateLimit } from "effect-llm-failover/resilience"
 *
 * // keep each limiter's registration, to push in the other instances' counts
 * const limiters = new Map<string, RateLimit.Registration>()
 * const store: RateLimit.Store = {
 *   register: (registration) =>
 *     Effect.sync(() => {
 *       limiters.set(registration.name, registration)
 *       return { onCount: () => {} }
 *     })
 * }
 * // the shared backend went away: each instance keeps to its share
 * const onSyncFailed = Effect.forEach(limiters.values(), (r) => r.disconnected, { discard: true })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly name: string
  readonly limits: Limits
  /** Bucket length in millis; bucket starts are multiples of it. */
  readonly bucketMillis: number
  /** Buckets in the window. */
  readonly buckets: number
  /**
   * Replaces the other instances' totals of the buckets given (older ones
   * are ignored). `share`, when given, is this instance's part (e.g. `1/n`
   * of `n` live instances) of the room left now: until the next report the
   * limiter admits no more than that part, so instances that cannot see each
   * other's latest counts cannot together overshoot the limit.
   */
  readonly apply: (remote: ReadonlyArray<RemoteBucket>, share?: number) => Effect.Effect<void>
  /**
   * Tells the limiter that the store has lost touch with the others (a sync
   * failed): until the next `apply`, it admits while its own usage of the
   * window stays within its share of each limit (the `share` of the last
   * `apply`, at least one request), so each instance keeps serving on its
   * own and together they stay within the limit. The others' last reported
   * counts no longer count: they are as old as the outage.
   */
  readonly disconnected: Effect.Effect<void>
}

/**
 * What a store gives a limiter.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * // a store that totals local tokens per limiter, e.g. for a usage report
 * const tokens = new Map<string, number>()
 * const store: RateLimit.Store = {
 *   register: ({ name }) =>
 *     Effect.succeed<RateLimit.Mirror>({ onCount: (count) => void tokens.set(name, (tokens.get(name) ?? 0) + count.tokens) })
 * }
 * const limiter = RateLimit.make({ name: "gpt-4o", tpm: 30_000, store })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Mirror {
  /**
   * Sees every local count, synchronously. Keep it quick: hand the count to a
   * queue a fiber of the store drains. Anything it throws is ignored.
   */
  readonly onCount: (count: Count) => void
  /**
   * The limiter is let go ({@link RateLimiter.unregister}): the store stops
   * mirroring it and forgets its registration (a limiter of the same name
   * registered since is another's: keep it). Called at most once, after
   * which `onCount` is not called again. Absent: the store keeps nothing
   * per limiter.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { RateLimit } from "effect-llm-failover/resilience"
   *
   * // a store that keeps each limiter's registration, until it is let go
   * const limiters = new Map<string, RateLimit.Registration>()
   * const store: RateLimit.Store = {
   *   register: (registration) =>
   *     Effect.sync(() => {
   *       limiters.set(registration.name, registration)
   *       return {
   *         onCount: () => {},
   *         unregister: Effect.sync(() => {
   *           if (limiters.get(registration.name) === registration) limiters.delete(registration.name)
   *         })
   *       }
   *     })
   * }
   * ```
   */
  readonly unregister?: Effect.Effect<void>
}

/**
 * Where limiters mirror their counts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * // log every limiter as it is made, counts kept local
 * const logging: RateLimit.Store = {
 *   register: (registration) =>
 *     Effect.as(Effect.log(`limiter ${registration.name}: ${JSON.stringify(registration.limits)}`), { onCount: () => {} })
 * }
 * const program = RateLimit.make({ name: "gpt-4o", rpm: 500 }).pipe(Effect.provide(RateLimit.layer(logging)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  readonly register: (registration: Registration) => Effect.Effect<Mirror>
}

/**
 * Creates a limiter.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimit.make({ name: "gpt-4o", rpm: 2 })
 *   yield* limiter.tryAcquire(100) // Admitted
 *   yield* limiter.tryAcquire(100) // Admitted
 *   const third = yield* limiter.tryAcquire(100)
 *   return third._tag // "Limited", with limit "rpm" and a retryAfter
 * })
 * ```
 *
 * @throws RangeError (as a defect) unless limits are finite and at least 1
 * and the window holds at least 1 ms per bucket.
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<RateLimiter> =>
  options.store !== undefined
    ? internal.make(options, options.store)
    : Effect.flatMap(Effect.serviceOption(CurrentStore), (store) => internal.make(options, Option.getOrElse(store, () => memory)))

/**
 * The default store: counts stay in this process.
 *
 * @example
 * ```ts
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * const limiter = RateLimit.make({ name: "gpt-4o", rpm: 500, store: RateLimit.memory })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory: Store = {
  register: () => Effect.succeed({ onCount: () => {}, unregister: Effect.void })
}

/**
 * The store limiters use when their options name none. Provide it (e.g. with
 * a Redis-backed store) to share every limit made inside.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * const program = RateLimit.make({ name: "gpt-4o", rpm: 500 }).pipe(
 *   Effect.provide(RateLimit.layer(RateLimit.memory))
 * )
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export class CurrentStore extends Context.Tag("effect-llm-failover/resilience/RateLimit/Store")<CurrentStore, Store>() {}

/**
 * A layer providing {@link CurrentStore}.
 *
 * @example
 * ```ts
 * import { RateLimit } from "effect-llm-failover/resilience"
 *
 * const SharedLimits = RateLimit.layer(RateLimit.memory)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (store: Store): Layer.Layer<CurrentStore> => Layer.succeed(CurrentStore, store)
