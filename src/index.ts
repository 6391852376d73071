/**
 * effect-llm-failover: resilient multi-provider LLM calls for Effect.
 *
 * Each layer is also published on its own path:
 * `effect-llm-failover/llm`, `/resilience`, `/providers`, `/router`,
 * `/testing`, `/observability`, `/config`, `/gateway`, `/simulator`, `/cli`.
 *
 * @since 0.1.0
 */
export * from "./llm/index.js"
export * from "./observability/index.js"
export * from "./providers/index.js"
export * from "./resilience/index.js"
export * from "./router/index.js"
// `Timeout` is both the LLM error class and the resilience combinator module:
// at the root it is the error; the combinators are `effect-llm-failover/resilience`'s `Timeout`.
export { Timeout } from "./llm/index.js"
