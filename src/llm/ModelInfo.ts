/**
 * What the router needs to know about a model: who serves it, how much it
 * fits and what it costs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { ChatRequest, Usage } from "./Chat.js"

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
 * A kind of JSON answer a model can be held to: `json_object` (any JSON
 * object, "JSON mode") or `json_schema` (JSON following a given schema,
 * "structured outputs").
 *
 * @example
 * import { Schema } from "effect"
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * Schema.is(ModelInfo.ResponseFormatType)("json_schema") // true
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponseFormatType = Schema.Literal("json_object", "json_schema")

/**
 * @since 0.1.0
 * @category models
 */
export type ResponseFormatType = typeof ResponseFormatType.Type

/**
 * A model as the router sees it. `responseFormats` lists the JSON answers it
 * can be held to; absent or empty, it answers in prose only, and the router
 * passes it over for a request with a `responseFormat`.
 *
 * @example
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * const sonnet: ModelInfo.ModelInfo = {
 *   provider: "anthropic", model: "claude-sonnet-4-5",
 *   contextWindow: 200_000, price: { input: 3, output: 15 },
 *   responseFormats: ["json_schema"]
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
  price: Price,
  responseFormats: Schema.optional(Schema.Array(ResponseFormatType))
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

/**
 * Whether a model can give the answer a request asks for: any model for a
 * prose answer, one listing the request's `responseFormat` type otherwise.
 *
 * @example
 * import { Chat, ModelInfo } from "effect-llm-failover/llm"
 *
 * const info: ModelInfo.ModelInfo = {
 *   provider: "anthropic", model: "claude-haiku-4-5", contextWindow: 200_000,
 *   price: { input: 1, output: 5 }, responseFormats: ["json_schema"]
 * }
 * ModelInfo.honours(info, Chat.prompt("Hi")) // true
 * ModelInfo.honours(info, Chat.prompt("Hi", { responseFormat: { type: "json_object" } })) // false
 *
 * @since 0.1.0
 * @category predicates
 */
export const honours = (info: ModelInfo, request: ChatRequest): boolean =>
  request.responseFormat === undefined || info.responseFormats?.includes(request.responseFormat.type) === true
