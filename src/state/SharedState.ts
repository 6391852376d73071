/**
 * One view of provider health across many instances: circuit breakers,
 * health windows, rate limits and retry budgets shared through Redis.
 *
 * Provide {@link layer} (or {@link layerRedis}) around a router, or around
 * anything that makes breakers, named health trackers, rate limiters or
 * named retry budgets, and they are shared by every instance using the same
 * Redis and namespace:
 *
 * - every call a breaker counts reaches the same breaker on the others with
 *   the next sync (a failure wakes it), so they trip on their combined
 *   traffic; a breaker one instance opens is open on the others after one
 *   round trip, until the same deadline plus `probeGrace`, so the opener
 *   probes first; a probe running anywhere holds the others back (for up to
 *   a minute); an
 *   instance that starts late starts open; a recovery closes it everywhere,
 *   and leaves a tombstone in the breaker's key; each instance re-reads its
 *   breakers every second and when its subscription comes back, so a
 *   transition it missed, a closing included, is repaired, and writes its
 *   open ones back if Redis restarts empty (unless a newer tombstone says
 *   they closed meanwhile);
 * - a named health tracker (the router's is `"targets"`) records the others'
 *   samples too, so health-, latency- and cost-aware routing rank targets on
 *   every instance's calls (up to 1,000 samples per target per sync from each);
 * - a rate limit (`rpm`, `tpm`) counts every instance's requests and tokens
 *   (while Redis is out of reach, each instance keeps to its fair part of the
 *   limit on its own counts);
 * - a named retry budget is one gRPC A6 bucket for all instances, so an
 *   outage one of them sees throttles the retries of all.
 *
 * The hot path never waits on Redis: decisions are made from local state,
 * and one fiber per instance sends what changed and reads back what the
 * others wrote, in one pipelined round trip per interval (plus a pub/sub
 * channel for breaker transitions). If Redis is down or slow, every instance
 * keeps serving on its local state, logs one warning (naming why, e.g. a
 * refused password), and resyncs when Redis is back. If Redis refuses some
 * commands (an ACL user without the channel, `maxmemory` reached), each kind
 * is warned of once and counted in {@link Status}, and a breaker's
 * transition is written again with every sync until Redis takes it. Every
 * key has a TTL.
 *
 * Keys, under the namespace `<ns>`: `<ns>:breaker:<name>` (a breaker's
 * latest shared state: open, isolated, or the tombstone of its closing),
 * `<ns>:rl:<name>:<bucket start>` (a rate limit's bucket),
 * `<ns>:budget:{<name>}` and `<ns>:budget:{<name>}:batches` (a retry
 * budget's count and the batches applied), `<ns>:instances` (heartbeats),
 * `<ns>:marker` (tells when Redis lost its state), and the channel
 * `<ns>:events`. The braces are a Redis Cluster hash tag: the budget's
 * script touches both its keys, which must hash to one slot; no other
 * script or command touches two keys. (Earlier builds kept a budget in
 * `<ns>:budget:<name>`: during a rolling upgrade from one, old and new
 * instances keep separate budgets until every instance runs this one; and
 * they read a tombstone as an absent key, as they always have.) On a Redis
 * Cluster (`cluster: true`), every key and the channel start with the
 * namespace as one hash tag instead, `{<ns>}` (or the namespace as it is,
 * when it holds a `{...}` already): a sync's pipeline touches many keys, and
 * a cluster client sends a pipeline to one node only.
 *
 * Not shared: bulkheads (concurrency is each instance's own) and the
 * degraded-mode cache.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, type Scope } from "effect"
import * as BreakerStore from "../resilience/BreakerStore.js"
import * as Health from "../resilience/Health.js"
import * as RateLimit from "../resilience/RateLimit.js"
import * as RetryBudget from "../resilience/RetryBudget.js"
import * as internal from "./internal/sync.js"
import * as Redis from "./Redis.js"

/**
 * Settings.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Redis, SharedState } from "effect-llm-failover/state"
 *
 * // instances of the checkout service share state every 250 ms, named after their pod
 * const options: SharedState.Options = {
 *   namespace: "checkout",
 *   instance: process.env["HOSTNAME"] ?? "local",
 *   syncInterval: "250 millis",
 *   probeGrace: "5 seconds"
 * }
 * const Shared = SharedState.layer(options).pipe(Layer.provide(Redis.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of every key and of the channel: instances share state only within one namespace. Default `"llm-failover"`. */
  readonly namespace?: string
  /** This instance's id. Default: a random UUID. */
  readonly instance?: string
  /** How often changes are sent and the others' read. Default 100 ms. */
  readonly syncInterval?: Duration.DurationInput
  /**
   * How long an isolation is kept in Redis for instances that start later,
   * and the tombstone a closing leaves, for instances that missed it.
   * Default 1 hour.
   */
  readonly isolatedTtl?: Duration.DurationInput
  /** How long an untouched retry budget is kept (it starts full after that). Default 10 minutes. */
  readonly budgetTtl?: Duration.DurationInput
  /**
   * How long past another instance's open deadline this one waits before it
   * probes the target itself: the opener probes first, and its result (open
   * again, or closed) reaches the others before their grace ends, so one
   * probe serves every instance. While a probe runs, its instance says so
   * again every half grace (for up to a minute), so a probe longer than the
   * grace holds the others back until its result arrives. Default 2 seconds.
   */
  readonly probeGrace?: Duration.DurationInput
}

/**
 * What an instance knows of its sync.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SharedState } from "effect-llm-failover/state"
 *
 * // a readiness probe's view of the shared state
 * const program = Effect.gen(function*() {
 *   const shared = yield* SharedState.SharedState
 *   const status: SharedState.Status = yield* shared.status
 *   const age = status.lastSync === undefined ? "never" : `${Date.now() - status.lastSync} ms ago`
 *   yield* Effect.log(`${status.instance}: ${status.connected ? "connected" : "local only"}, last sync ${age}, ${status.failures} failed syncs`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly instance: string
  /** Whether the last sync reached Redis. */
  readonly connected: boolean
  /** Syncs that reached Redis, and syncs that did not. */
  readonly syncs: number
  readonly failures: number
  /** Messages received from other instances (transitions, outcomes, health samples). */
  readonly received: number
  /** Health samples not sent because a key passed its 1,000 per sync. */
  readonly droppedSamples: number
  /**
   * Commands Redis answered with an error in syncs that reached it: a user
   * without the rights (`NOPERM`), a full memory (`OOM`). Each kind of
   * command it starts refusing is logged once, until it accepts one again;
   * a breaker's transition is written again with every sync until Redis
   * accepts it.
   */
  readonly rejected: number
  /** When the last successful sync ended, epoch millis. */
  readonly lastSync?: number
  /** Breakers, limiters and budgets registered. */
  readonly breakers: number
  readonly limits: number
  readonly budgets: number
}

/**
 * The shared state of one instance: its four stores, and its status.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, RetryBudget } from "effect-llm-failover/resilience"
 * import { Redis, SharedState } from "effect-llm-failover/state"
 *
 * // pick the stores by hand instead of providing `SharedState.context`
 * const program = Effect.gen(function*() {
 *   const shared: SharedState.Service = yield* SharedState.make({ namespace: "search" })
 *   const breaker = yield* CircuitBreaker.make({ name: "search-api", store: shared.breakers })
 *   const budget = yield* RetryBudget.make({ name: "search-api", store: shared.budgets })
 *   yield* shared.sync
 *   return { breaker, budget }
 * }).pipe(Effect.provide(Redis.layer({ url: "redis://127.0.0.1:6379" })), Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly instance: string
  readonly breakers: BreakerStore.BreakerStore
  readonly limits: RateLimit.Store
  readonly budgets: RetryBudget.Store
  readonly health: Health.Store
  readonly status: Effect.Effect<Status>
  /** Runs one sync now, whatever the interval (its failure is only counted). */
  readonly sync: Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SharedState } from "effect-llm-failover/state"
 *
 * const connected = Effect.map(SharedState.SharedState, (state) => state.status)
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export class SharedState extends Context.Tag("effect-llm-failover/state/SharedState")<SharedState, Service>() {}

/**
 * Starts syncing over the provided {@link Redis.Redis} connection until the
 * scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 * import { Redis, SharedState } from "effect-llm-failover/state"
 *
 * const program = Effect.gen(function*() {
 *   const shared = yield* SharedState.make({ namespace: "checkout" })
 *   const breaker = yield* CircuitBreaker.make({ name: "gpt-4o", store: shared.breakers })
 *   return breaker
 * }).pipe(Effect.provide(Redis.layer({ url: "redis://127.0.0.1:6379" })), Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, Redis.Redis | Scope.Scope> =>
  Effect.flatMap(Redis.Redis, (redis) => internal.make(redis, options))

/**
 * The context an instance's state provides: itself and its three stores, so
 * that every breaker, rate limiter and named retry budget made inside uses
 * them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 * import { SharedState } from "effect-llm-failover/state"
 *
 * declare const config: Router.Config
 * const program = Effect.gen(function*() {
 *   const shared = yield* SharedState.make()
 *   return yield* Router.make(config).pipe(Effect.provide(SharedState.context(shared)))
 * })
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export const context = (
  state: Service
): Context.Context<SharedState | BreakerStore.CurrentBreakerStore | RateLimit.CurrentStore | RetryBudget.CurrentStore | Health.CurrentStore> =>
  Context.make(SharedState, state).pipe(
    Context.add(BreakerStore.CurrentBreakerStore, state.breakers),
    Context.add(RateLimit.CurrentStore, state.limits),
    Context.add(RetryBudget.CurrentStore, state.budgets),
    Context.add(Health.CurrentStore, state.health)
  )

/**
 * A layer sharing every breaker, rate limiter and named retry budget made
 * inside it, over the provided {@link Redis.Redis}.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Redis, SharedState } from "effect-llm-failover/state"
 *
 * const Shared = SharedState.layer({ namespace: "gateway" }).pipe(
 *   Layer.provide(Redis.layer({ url: "redis://127.0.0.1:6379" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SharedState | BreakerStore.CurrentBreakerStore | RateLimit.CurrentStore | RetryBudget.CurrentStore | Health.CurrentStore, never, Redis.Redis> =>
  Layer.scopedContext(Effect.map(make(options), context))

/**
 * {@link layer} with its own Redis connection.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 * import { SharedState } from "effect-llm-failover/state"
 *
 * declare const config: Router.Config
 * // every instance running this shares breakers, limits and budgets
 * const program = Router.make(config).pipe(
 *   Effect.provide(SharedState.layerRedis({ url: "redis://127.0.0.1:6379" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (
  options: Options & Redis.Options
): Layer.Layer<SharedState | BreakerStore.CurrentBreakerStore | RateLimit.CurrentStore | RetryBudget.CurrentStore | Health.CurrentStore> =>
  layer(options).pipe(Layer.provide(Redis.layer(options)))
