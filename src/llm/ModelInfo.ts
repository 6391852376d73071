/**
 * What the router needs to know about a model: who serves it, how much it
 * fits and what it costs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { ChatRequest, Usage } from "./Chat.js"

/**
 * Prices in US dollars per million tokens: of the prompt (`input`), of the
 * answer (`output`), and of the prompt's tokens the provider's cache served
 * or stored (see `Chat.Usage`):
 *
 * - `cachedInput`: a token read from the cache;
 * - `cacheWrite`: a token written to it (Anthropic's 5-minute cache);
 * - `longCacheWrite`: a token written to it for longer (Anthropic's 1-hour
 *   cache).
 *
 * A cache price left out is the input price in {@link cost} (no discount,
 * no premium). The adapters fill in those their model table knows, from the
 * input price given or listed: Anthropic's reads at 0.1x, writes at 1.25x
 * and 1-hour writes at 2x; OpenAI's and Gemini's reads at their model's
 * discount.
 *
 * @example
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * const sonnet: ModelInfo.Price = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, longCacheWrite: 6 }
 *
 * @since 0.1.0
 * @category schemas
 */
export const Price = Schema.Struct({
  input: Schema.NonNegative,
  output: Schema.NonNegative,
  cachedInput: Schema.optionalWith(Schema.NonNegative, { exact: true }),
  cacheWrite: Schema.optionalWith(Schema.NonNegative, { exact: true }),
  longCacheWrite: Schema.optionalWith(Schema.NonNegative, { exact: true })
})

/**
 * A model's prices in US dollars per million tokens.
 *
 * @example
 * ```ts
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * declare const info: ModelInfo.ModelInfo
 * const price: ModelInfo.Price = info.price
 * // a million-token prompt whose cache serves 90% of it
 * ModelInfo.cost(price, { inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 900_000 })
 * ```
 *
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
 * A kind of JSON answer a model can be held to.
 *
 * @example
 * ```ts
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * declare const models: ReadonlyArray<ModelInfo.ModelInfo>
 * const wanted: ModelInfo.ResponseFormatType = "json_schema"
 * models.filter((info) => info.responseFormats?.includes(wanted) === true).map((info) => info.model)
 * ```
 *
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
 * A model as the router sees it: provider, model id, context window, price
 * and JSON answers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel, type ModelInfo } from "effect-llm-failover/llm"
 *
 * const describe = Effect.gen(function* () {
 *   const model = yield* LanguageModel.LanguageModel
 *   const info: ModelInfo.ModelInfo = model.info
 *   return `${info.provider}/${info.model}: ${info.contextWindow} tokens, $${info.price.output} per million out`
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelInfo extends Schema.Schema.Type<typeof ModelInfo> {}

/**
 * The cost of a call in US dollars: the prompt's tokens read from the
 * provider's cache at `cachedInput`, those written to it at `cacheWrite`
 * (`longCacheWrite` for the longer cache), the rest of the prompt at
 * `input`, the answer at `output`. A cache price the price lacks is its
 * `input` price (a 1-hour write without `longCacheWrite`: `cacheWrite`).
 *
 * @example
 * import { ModelInfo } from "effect-llm-failover/llm"
 *
 * ModelInfo.cost({ input: 3, output: 15 }, { inputTokens: 1_000, outputTokens: 500 }) // 0.0105
 * // 100 fresh tokens and 100,000 read from the cache, at a tenth of the input price
 * ModelInfo.cost(
 *   { input: 3, output: 15, cachedInput: 0.3 },
 *   { inputTokens: 100_100, outputTokens: 10, cacheReadTokens: 100_000 }
 * ) // 0.03045
 *
 * @since 0.1.0
 * @category pricing
 */
export const cost = (price: Price, usage: Usage): number => {
  const read = usage.cacheReadTokens ?? 0
  const written = usage.cacheWriteTokens ?? 0
  if (read === 0 && written === 0) return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000
  const longWritten = Math.min(usage.longCacheWriteTokens ?? 0, written)
  // a provider's counts that do not add up are priced as they say, never as negative fresh input
  const fresh = Math.max(0, usage.inputTokens - read - written)
  const cacheWrite = price.cacheWrite ?? price.input
  return (
    (fresh * price.input +
      read * (price.cachedInput ?? price.input) +
      (written - longWritten) * cacheWrite +
      longWritten * (price.longCacheWrite ?? cacheWrite) +
      usage.outputTokens * price.output) /
    1_000_000
  )
}

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
