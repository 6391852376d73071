/**
 * The router: failover chains over LLM targets, with retries, circuit
 * breakers, strategies, racing, hedging, streaming fallback and degraded
 * mode. It provides `LanguageModel`.
 *
 * @since 0.1.0
 */
export * as Classifier from "./Classifier.js"
export * as DegradedCache from "./DegradedCache.js"
export * as Events from "./Events.js"
export * as Policy from "./Policy.js"
export * as Router from "./Router.js"
export * as Strategy from "./Strategy.js"
