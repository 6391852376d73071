/**
 * Generic resilience combinators for any Effect: backoff schedules, retries
 * bounded by a retry budget, circuit breakers, bulkheads, rate limits, hedging, health
 * windows and chaos injection. Nothing here knows about LLMs.
 *
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"
export * as BreakerStore from "./BreakerStore.js"
export * as Bulkhead from "./Bulkhead.js"
export * as Chaos from "./Chaos.js"
export * as CircuitBreaker from "./CircuitBreaker.js"
export * as Health from "./Health.js"
export * as RateLimit from "./RateLimit.js"
export * as Hedge from "./Hedge.js"
export * as Retry from "./Retry.js"
export * as RetryBudget from "./RetryBudget.js"
export * as Timeout from "./Timeout.js"
