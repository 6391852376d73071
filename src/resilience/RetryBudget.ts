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
 * **Steady state.** With a failure fraction `p`, the count drifts by
 * `(1 - p) * tokenRatio - p` per call, so retries are cut off once
 * `p > tokenRatio / (1 + tokenRatio)`: about 9% failures with the defaults.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as internal from "./internal/budget.js"

/**
 * A shared retry budget.
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
 * @since 0.1.0
 * @category models
 */
export interface RetryBudgetOptions {
  /** Capacity and starting count. Default 10. Up to 3 decimal places. */
  readonly maxTokens?: number
  /** Tokens refunded per success. Default 0.1. Up to 3 decimal places. */
  readonly tokenRatio?: number
}

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
export const make = (options?: RetryBudgetOptions): Effect.Effect<RetryBudget> =>
  Effect.sync(() => internal.unsafeMake(options))

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
