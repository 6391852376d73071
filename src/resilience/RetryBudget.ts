/**
 * A retry budget: gRPC A6 retry throttling as a token bucket, shared by
 * everything that retries or hedges against one upstream, so that an outage
 * cannot multiply the load sent to it.
 *
 * The bucket starts full at `maxTokens`. Every failed call takes 1 token
 * (never below 0), every successful call gives back `tokenRatio` (never
 * above `maxTokens`), and a retry or hedge is allowed only while
 * `tokens > maxTokens / 2`. First attempts are never throttled.
 *
 * **Bound under a total outage.** A retry asks the budget only after its
 * own failure has been recorded (`Retry.retry` does so). With no successes
 * the count only falls, and the i-th retry granted (in time order, across
 * all fibers) comes after at least i recorded failures, so it needs
 * `maxTokens - i > maxTokens / 2`. However many requests arrive, concurrent
 * or not, the budget therefore lets through at most
 *
 * `ceil(maxTokens / 2) - 1` retries in all
 *
 * (4 with the defaults), after which every request makes exactly one attempt
 * until successes refill the bucket. For sequential requests of
 * `maxAttempts` attempts each, the count is exactly `K - floor(K / maxAttempts)`
 * with `K = ceil(maxTokens / 2) - 1` (a request's last attempt cannot retry).
 * A hedge starts before its predecessor has failed, so concurrent hedges can
 * overshoot this bound by the number of attempts in flight when the outage
 * begins; sequentially they obey it too.
 *
 * **A slow target that does not fail** spends nothing: the call a hedge
 * beats is interrupted, not failed, so a hedge against a target that is
 * slow every time is asked of the budget and allowed every time. What stops
 * that load is the target's breaker: calls that lose their hedge count as
 * slow, and a slow-call rate opens it (the router's default), after which
 * requests go to the next target without a hedge.
 *
 * **Steady state.** With a failure fraction `p`, the count drifts by
 * `(1 - p) * tokenRatio - p` per call, so retries are cut off once
 * `p > tokenRatio / (1 + tokenRatio)`: about 9% failures with the defaults.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import * as internal from "./internal/budget.js"

/**
 * A shared retry budget.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge, Retry, RetryBudget } from "effect-llm-failover/resilience"
 *
 * declare const primary: Effect.Effect<string, Error>
 * declare const backup: Effect.Effect<string, Error>
 *
 * // one budget for every retry and hedge against one upstream
 * const program = Effect.gen(function*() {
 *   const budget: RetryBudget.RetryBudget = yield* RetryBudget.make()
 *   const retried = yield* Retry.retry(primary, { maxAttempts: 3, budget })
 *   const hedged = yield* Hedge.run([primary, backup], { delay: "300 millis", allow: budget.tryAcquire })
 *   yield* Effect.log(`${yield* budget.tokens} of ${budget.maxTokens} tokens left`)
 *   return [retried, hedged]
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget {
  /** The bucket's capacity (rounded to 3 decimal places). */
  readonly maxTokens: number
  /** Tokens refunded per success (rounded to 3 decimal places). */
  readonly tokenRatio: number
  /** Record a successful call: +tokenRatio, at most maxTokens. */
  readonly recordSuccess: Effect.Effect<void>
  /** Record a failed call: -1 token, at least 0. */
  readonly recordFailure: Effect.Effect<void>
  /**
   * Whether a retry or hedge may start now (`tokens > maxTokens / 2`). It
   * spends nothing: in A6 a call pays for itself only when it fails.
   */
  readonly tryAcquire: Effect.Effect<boolean>
  /** The current token count. */
  readonly tokens: Effect.Effect<number>
}

/**
 * Budget settings.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * // a larger bucket that refills faster: retries stop only above ~17% failures
 * const options: RetryBudget.RetryBudgetOptions = { maxTokens: 20, tokenRatio: 0.2, name: "anthropic/claude-sonnet-4-5" }
 * const budget = RetryBudget.make(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudgetOptions {
  /** Capacity and starting count. Default 10. Up to 3 decimal places. */
  readonly maxTokens?: number
  /** Tokens refunded per success. Default 0.1. Up to 3 decimal places. */
  readonly tokenRatio?: number
  /**
   * Names the budget so that a {@link Store} can share it across instances
   * (e.g. the router names each target's budget after the target). A budget
   * without a name, or made without a store, stays in process.
   */
  readonly name?: string
  /** Where a named budget is mirrored. Default: the provided {@link CurrentStore}, if any. */
  readonly store?: Store
}

/**
 * What a named budget tells its store when it is made.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { RetryBudget } from "effect-llm-failover/resilience"
 *
 * // keep each named budget's registration, to set it to the shared count
 * const budgets = new Map<string, RetryBudget.Registration>()
 * const store: RetryBudget.Store = {
 *   register: (registration) =>
 *     Effect.sync(() => {
 *       budgets.set(registration.name, registration)
 *       return { onChange: () => {} }
 *     })
 * }
 * const received = (name: string, sharedTokens: number) => budgets.get(name)?.apply(sharedTokens) ?? Effect.void
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly name: string
  readonly maxTokens: number
  readonly tokenRatio: number
  /**
   * Sets the local count (clamped to `[0, maxTokens]`), e.g. to the shared
   * count plus the local changes the store has not sent yet.
   */
  readonly apply: (tokens: number) => Effect.Effect<void>
}

/**
 * What a store gives a named budget.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * // sum the local changes of each budget until the next sync with the others
 * const pending = new Map<string, number>()
 * const store: RetryBudget.Store = {
 *   register: ({ name }) =>
 *     Effect.succeed<RetryBudget.Mirror>({ onChange: (delta) => void pending.set(name, (pending.get(name) ?? 0) + delta) })
 * }
 * const budget = RetryBudget.make({ name: "gpt-4o", store })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Mirror {
  /**
   * Sees every local change in tokens (after clamping; negative for a
   * failure), synchronously. Keep it quick; anything it throws is ignored.
   */
  readonly onChange: (deltaTokens: number) => void
}

/**
 * Where named budgets are shared. A store that sums every instance's
 * changes into one count and sends it back gives the instances one A6
 * bucket: an outage seen by one instance throttles the retries of all.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * // every named budget made inside shares one count per name, here in process
 * const counts = new Map<string, number>()
 * const store: RetryBudget.Store = {
 *   register: (r) =>
 *     Effect.succeed({ onChange: (delta) => void counts.set(r.name, (counts.get(r.name) ?? r.maxTokens) + delta) })
 * }
 * const program = RetryBudget.make({ name: "gpt-4o" }).pipe(Effect.provide(RetryBudget.layer(store)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  readonly register: (registration: Registration) => Effect.Effect<Mirror>
}

/**
 * The store named budgets use when their options name none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * // a store that only logs what it would share
 * const logging: RetryBudget.Store = {
 *   register: (r) => Effect.succeed({ onChange: (delta) => console.log(r.name, delta) })
 * }
 * const program = RetryBudget.make({ name: "gpt-4o" }).pipe(Effect.provide(RetryBudget.layer(logging)))
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export class CurrentStore extends Context.Tag("effect-llm-failover/resilience/RetryBudget/Store")<CurrentStore, Store>() {}

/**
 * A layer providing {@link CurrentStore}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * const silent = RetryBudget.layer({ register: () => Effect.succeed({ onChange: () => {} }) })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (store: Store): Layer.Layer<CurrentStore> => Layer.succeed(CurrentStore, store)

/**
 * Creates a full budget.
 *
 * @example
 * import { Effect } from "effect"
 * import { Retry, RetryBudget } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ maxTokens: 10, tokenRatio: 0.1 })
 *   const call = Effect.fail("unavailable")
 *   // every request shares the budget: a dead upstream gets at most 4 retries in all
 *   yield* Effect.forEach([1, 2, 3], () => Effect.either(Retry.retry(call, { budget })))
 *   return yield* budget.tokens
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: RetryBudgetOptions): Effect.Effect<RetryBudget> => {
  const name = options?.name
  if (name === undefined) return Effect.sync(() => internal.unsafeMake(options))
  if (options?.store !== undefined) return internal.mirrored(name, options, options.store)
  return Effect.flatMap(
    Effect.serviceOption(CurrentStore),
    (store) => Option.isSome(store) ? internal.mirrored(name, options, store.value) : Effect.sync(() => internal.unsafeMake(options))
  )
}

/**
 * Creates a full budget outside of `Effect`, e.g. for a module-level value.
 *
 * @example
 * import { RetryBudget } from "effect-llm-failover/resilience"
 *
 * const shared = RetryBudget.unsafeMake({ maxTokens: 20 })
 *
 * @throws RangeError unless `maxTokens` and `tokenRatio` are finite and at
 * least 0.001.
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (options?: RetryBudgetOptions): RetryBudget => internal.unsafeMake(options)

/**
 * A budget that always allows retries and records nothing, for callers that
 * want no throttling. `Retry.retry` skips its bookkeeping entirely for it.
 *
 * @example
 * import { Effect } from "effect"
 * import { Retry, RetryBudget } from "effect-llm-failover/resilience"
 *
 * const program = Retry.retry(Effect.fail("down"), { budget: RetryBudget.unlimited })
 *
 * @since 0.1.0
 * @category constructors
 */
export const unlimited: RetryBudget = internal.unlimited
