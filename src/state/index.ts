/**
 * State shared across instances: a Redis connection as an Effect service,
 * and the stores that share circuit breakers, rate limits and retry budgets
 * through it.
 *
 * @since 0.1.0
 */
export * as Redis from "./Redis.js"
export * as SharedState from "./SharedState.js"
