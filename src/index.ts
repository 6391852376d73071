/**
 * effect-llm-failover: resilient multi-provider LLM calls for Effect.
 *
 * Each layer is also published on its own path:
 * `effect-llm-failover/llm`, `/resilience`, `/providers`, `/router`,
 * `/testing`.
 *
 * @since 0.1.0
 */
export * from "./llm/index.js"
export * from "./providers/index.js"
export * from "./resilience/index.js"
export * from "./router/index.js"
export * from "./observability/index.js"
