/**
 * What the router needs to know about a model: who serves it, how much it
 * fits and what it costs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { Usage } from "./Chat.js"

/**
 * Prices in US dollars per million tokens.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Price = Schema.Struct({
  input: Schema.NonNegative,
  output: Schema.NonNegative
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Price extends Schema.Schema.Type<typeof Price> {}

/**
 * A model as the router sees it.
 *
 * @example
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * const sonnet: ModelInfo.ModelInfo = {
 *   provider: "anthropic", model: "claude-sonnet-4-5",
 *   contextWindow: 200_000, price: { input: 3, output: 15 }
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelInfo = Schema.Struct({
  provider: Schema.String,
  model: Schema.String,
  contextWindow: Schema.Int.pipe(Schema.positive()),
  maxOutputTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  price: Price
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ModelInfo extends Schema.Schema.Type<typeof ModelInfo> {}

/**
 * The cost of a call in US dollars.
 *
 * @example
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * ModelInfo.cost({ input: 3, output: 15 }, { inputTokens: 1_000, outputTokens: 500 }) // 0.0105
 *
 * @since 0.1.0
 * @category pricing
 */
export const cost = (price: Price, usage: Usage): number =>
  (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000
