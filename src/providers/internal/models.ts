/**
 * Default context windows and list prices (US dollars per million tokens)
 * of well-known models, by id: a listed id is its model, and so are its
 * snapshots and aliases as each provider names them (the id and then a date,
 * `-2025-04-16`, `-20250514` or Vertex's `@20250514`; `-latest`; Gemini's
 * `-preview`, `-preview-06-05`, `-preview-09-2025` and versions, `-001`),
 * read after a vendor prefix (OpenRouter's `openai/gpt-4o`, `models/`). An
 * id that merely starts as a listed one is another model (`o3-pro` is not
 * `o3`, `gpt-4o-realtime-preview` not `gpt-4o`), priced only if listed
 * itself. These are the public list prices when this table was written; an
 * adapter's `info` option overrides them, and a model not listed gets its
 * provider's fallback window and a price of zero (set `info.price`, or the
 * config's `price`, for cost routing, the cost report and spend caps: the
 * config warns of such a model).
 *
 * `responseFormats` is what each model can be held to: the OpenAI models
 * listed take `json_object` and `json_schema` (but the first GPT-4o
 * snapshot JSON mode only, o1-mini and o1-preview neither); Anthropic's
 * structured outputs (`json_schema` only, no JSON mode) are on Claude Opus
 * 4.5 and 4.6, Sonnet 4.5 and 4.6 and Haiku 4.5; Gemini 3 and 2.5 take
 * both, 2.0 JSON mode only. A model not listed gets its provider's default: both for
 * OpenAI and compatible servers, structured outputs for a later Claude
 * (Opus, Sonnet or Haiku 4.5 and on), none for an earlier one, both for
 * Gemini, none for Gemma.
 *
 * `cache` is what the provider bills for its prompt cache, as multiples of
 * the input price (each model's list prices, as `infoFor` fills in
 * `Price.cachedInput`, `cacheWrite` and `longCacheWrite`): OpenAI's cached
 * input is a tenth of the input price on GPT-5, a quarter on GPT-4.1, o3
 * and o4-mini, half on GPT-4o, o1 and o3-mini (the first GPT-4o snapshot
 * has no cache); Gemini's is a tenth on Gemini 3 and 2.5, a quarter on 2.0
 * (Google's storage price of an explicit cache, per hour, is not a
 * request's and is left out); Anthropic's, on every Claude, a tenth for a
 * read, 1.25x for a write to the 5-minute cache and 2x to the 1-hour one
 * (the provider's defaults, as they are the same for every Claude, listed
 * or not; not for another's model behind an Anthropic-compatible
 * endpoint). Another model the table does not know has none, so its cache
 * is priced at the input price.
 *
 * Long-context tiers are not modelled: a `Price` has one input and one
 * output price, and the table holds each model's price for prompts up to
 * its provider's threshold. Listed models whose provider bills a longer
 * prompt more, the whole request at the higher price: Gemini 2.5 Pro over
 * 200,000 tokens ($2.50 in, $15 out, where $1.25 and $10), Gemini 3 Pro and
 * 3.1 Pro over 200,000 ($4 and $18, where $2 and $12); Claude Sonnet 4, 4.5
 * and Opus 4.6 with the 1M-token context (a beta header) over 200,000 (twice
 * the input price, 1.5x the output), which the table's 200,000-token windows
 * never send them unless a config raises `contextWindow`. Such a request is
 * priced low in `meta.cost`, the cost report, the metrics and spend caps,
 * and the cost strategy's estimate.
 *
 * @internal
 */
import type { ReasoningEffort } from "../../llm/Chat.js"
import type { ModelInfo, Price, ResponseFormatType } from "../../llm/ModelInfo.js"

/**
 * What a provider bills for its prompt cache, as multiples of the input
 * price: a token read from it, written to it, and written to its longer
 * cache. One left out is priced at the input price.
 *
 * @internal
 */
export interface CacheRates {
  readonly read: number
  readonly write?: number
  readonly longWrite?: number
}

interface Known {
  /** The model's id, without a snapshot's date or alias suffix (see `sameModel`). */
  readonly id: string
  readonly contextWindow: number
  readonly maxOutputTokens?: number
  readonly price: Price
  readonly responseFormats: ReadonlyArray<ResponseFormatType>
  readonly cache?: CacheRates
}

const both: ReadonlyArray<ResponseFormatType> = ["json_object", "json_schema"]
const schemaOnly: ReadonlyArray<ResponseFormatType> = ["json_schema"]
const objectOnly: ReadonlyArray<ResponseFormatType> = ["json_object"]
const prose: ReadonlyArray<ResponseFormatType> = []

// OpenAI's cached input (platform.openai.com/docs/pricing): GPT-5 $0.125 of $1.25, GPT-4.1 $0.50 of $2, GPT-4o $1.25 of $2.50, ...
const tenth: CacheRates = { read: 0.1 }
const quarter: CacheRates = { read: 0.25 }
const half: CacheRates = { read: 0.5 }
// Anthropic's prompt caching (docs.anthropic.com, "Prompt caching" pricing): the same multiples on every Claude
const claudeCache: CacheRates = { read: 0.1, write: 1.25, longWrite: 2 }

// OpenAI's pro models have no cached input (platform.openai.com/docs/pricing): the input price
const known: ReadonlyArray<Known> = [
  // the pro models: gpt-5-pro $15/$120, gpt-5.2-pro $21/$168 (the pricing page, as public price tables copy it)
  { id: "gpt-5-pro", contextWindow: 400_000, maxOutputTokens: 272_000, price: { input: 15, output: 120 }, responseFormats: both },
  { id: "gpt-5.2-pro", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 21, output: 168 }, responseFormats: both },
  { id: "gpt-5.2", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 1.75, output: 14 }, responseFormats: both, cache: tenth },
  { id: "gpt-5.1", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 1.25, output: 10 }, responseFormats: both, cache: tenth },
  // gpt-5-chat-latest: GPT-5's price, a chat model's window
  { id: "gpt-5-chat", contextWindow: 128_000, maxOutputTokens: 16_384, price: { input: 1.25, output: 10 }, responseFormats: both, cache: tenth },
  { id: "gpt-5-codex", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 1.25, output: 10 }, responseFormats: both, cache: tenth },
  { id: "gpt-5-nano", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 0.05, output: 0.4 }, responseFormats: both, cache: tenth },
  { id: "gpt-5-mini", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 0.25, output: 2 }, responseFormats: both, cache: tenth },
  { id: "gpt-5", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 1.25, output: 10 }, responseFormats: both, cache: tenth },
  { id: "gpt-4.1-nano", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 0.1, output: 0.4 }, responseFormats: both, cache: quarter },
  { id: "gpt-4.1-mini", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 0.4, output: 1.6 }, responseFormats: both, cache: quarter },
  { id: "gpt-4.1", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 2, output: 8 }, responseFormats: both, cache: quarter },
  { id: "gpt-4o-mini", contextWindow: 128_000, maxOutputTokens: 16_384, price: { input: 0.15, output: 0.6 }, responseFormats: both, cache: half },
  { id: "gpt-4o", contextWindow: 128_000, maxOutputTokens: 16_384, price: { input: 2.5, output: 10 }, responseFormats: both, cache: half },
  // the first GPT-4o snapshot predates structured outputs
  { id: "gpt-4o-2024-05-13", contextWindow: 128_000, maxOutputTokens: 4_096, price: { input: 5, output: 15 }, responseFormats: objectOnly },
  // deep research (OpenAI's announcement, community.openai.com "Deep research in the API"): o3's $10/$40, o4-mini's $2/$8
  { id: "o4-mini-deep-research", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 2, output: 8 }, responseFormats: both, cache: quarter },
  { id: "o3-deep-research", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 10, output: 40 }, responseFormats: both, cache: quarter },
  // o3-pro $20/$80, o1-pro $150/$600 (the pricing page; simonw/llm-openai-plugin#22 quotes o3-pro's)
  { id: "o3-pro", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 20, output: 80 }, responseFormats: both },
  { id: "o1-pro", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 150, output: 600 }, responseFormats: both },
  { id: "o4-mini", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 1.1, output: 4.4 }, responseFormats: both, cache: quarter },
  { id: "o3-mini", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 1.1, output: 4.4 }, responseFormats: both, cache: half },
  { id: "o3", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 2, output: 8 }, responseFormats: both, cache: quarter },
  { id: "o1-mini", contextWindow: 128_000, maxOutputTokens: 65_536, price: { input: 1.1, output: 4.4 }, responseFormats: prose, cache: half },
  { id: "o1-preview", contextWindow: 128_000, maxOutputTokens: 32_768, price: { input: 15, output: 60 }, responseFormats: prose, cache: half },
  { id: "o1", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 15, output: 60 }, responseFormats: both, cache: half },
  { id: "claude-opus-4-6", contextWindow: 200_000, maxOutputTokens: 128_000, price: { input: 5, output: 25 }, responseFormats: schemaOnly },
  { id: "claude-opus-4-5", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 5, output: 25 }, responseFormats: schemaOnly },
  // Opus 4 and 4.1, by their ids (`claude-opus-4-0`, `claude-opus-4-20250514`, `claude-opus-4-1...`): a later 4.x is not theirs
  { id: "claude-opus-4-0", contextWindow: 200_000, maxOutputTokens: 32_000, price: { input: 15, output: 75 }, responseFormats: prose },
  { id: "claude-opus-4", contextWindow: 200_000, maxOutputTokens: 32_000, price: { input: 15, output: 75 }, responseFormats: prose },
  { id: "claude-opus-4-1", contextWindow: 200_000, maxOutputTokens: 32_000, price: { input: 15, output: 75 }, responseFormats: prose },
  { id: "claude-sonnet-4-6", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 }, responseFormats: schemaOnly },
  { id: "claude-sonnet-4-5", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 }, responseFormats: schemaOnly },
  { id: "claude-sonnet-4-0", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 }, responseFormats: prose },
  { id: "claude-sonnet-4", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 }, responseFormats: prose },
  { id: "claude-3-7-sonnet", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 }, responseFormats: prose },
  { id: "claude-haiku-4-5", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 1, output: 5 }, responseFormats: schemaOnly },
  { id: "claude-3-5-haiku", contextWindow: 200_000, maxOutputTokens: 8_192, price: { input: 0.8, output: 4 }, responseFormats: prose },
  { id: "gemini-3.1-pro", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 2, output: 12 }, responseFormats: both, cache: tenth },
  { id: "gemini-3-pro", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 2, output: 12 }, responseFormats: both, cache: tenth },
  { id: "gemini-3-flash", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 0.5, output: 3 }, responseFormats: both, cache: tenth },
  { id: "gemini-2.5-pro", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 1.25, output: 10 }, responseFormats: both, cache: tenth },
  {
    id: "gemini-2.5-flash-lite",
    contextWindow: 1_048_576,
    maxOutputTokens: 65_536,
    price: { input: 0.1, output: 0.4 },
    responseFormats: both,
    cache: tenth
  },
  { id: "gemini-2.5-flash", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 0.3, output: 2.5 }, responseFormats: both, cache: tenth },
  { id: "gemini-2.0-flash", contextWindow: 1_048_576, maxOutputTokens: 8_192, price: { input: 0.1, output: 0.4 }, responseFormats: objectOnly, cache: quarter }
]

// longest first, so that "o1-preview" is itself, not o1's preview
const byLength = [...known].sort((a, b) => b.id.length - a.id.length)

/**
 * What may follow a listed id in another name of the same model: a
 * snapshot's date (OpenAI's `-2025-04-16`, Anthropic's `-20250514`, Vertex's
 * `@20250514`), `-latest`, Gemini's `-preview` (with its date, `-06-05` or
 * `-09-2025`) or version (`-001`). Anything else names another model.
 */
const sameModel = /^(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-latest|-preview(?:-\d{2}-\d{2}(?:\d{2})?)?|-\d{3})?$/

/** The table's entry of a model, by its id after any vendor prefix (`openai/gpt-4o`): the id itself or a snapshot of it. */
const entryOf = (model: string): Known | undefined => {
  const id = model.slice(model.lastIndexOf("/") + 1)
  return byLength.find((entry) => id.startsWith(entry.id) && sameModel.test(id.slice(entry.id.length)))
}

/**
 * Whether the table prices a model (by its id, as `infoFor` looks it up):
 * one it does not is priced 0 unless its caller gives a price.
 *
 * @example
 * isPriced("gpt-4.1-mini-2025-04-14") // true
 * isPriced("o3-pro") // true
 * isPriced("mistral-large-latest") // false
 *
 * @internal
 */
export const isPriced = (model: string): boolean => entryOf(model) !== undefined

/**
 * What a caller may override of a model's info.
 *
 * @internal
 */
export interface InfoOverrides {
  readonly contextWindow?: number | undefined
  readonly maxOutputTokens?: number | undefined
  readonly price?: Price | undefined
  readonly responseFormats?: ReadonlyArray<ResponseFormatType> | undefined
}

/**
 * What a provider's model not in the table gets.
 *
 * @internal
 */
export interface ProviderDefaults {
  readonly contextWindow: number
  readonly responseFormats: (model: string) => ReadonlyArray<ResponseFormatType>
  /** What the provider bills for the cache of a model the table does not know, when its rates hold for a whole family (Claude); else none. */
  readonly cache?: (model: string) => CacheRates | undefined
}

/** @internal */
export const openAiDefaults: ProviderDefaults = { contextWindow: 128_000, responseFormats: () => both }

/** Claude models after those in the table (Opus, Sonnet or Haiku 4.5 and later) have structured outputs; older ones not. */
const laterClaude = /^claude-(?:opus|sonnet|haiku)-(?:4-(?:[5-9]|\d{2,})|[5-9]|\d{2,})(?:[-.@]|$)/

/** @internal */
export const anthropicDefaults: ProviderDefaults = {
  contextWindow: 200_000,
  responseFormats: (model) => (laterClaude.test(model) ? schemaOnly : prose),
  // not another's model behind an Anthropic-compatible endpoint, which bills its cache as it likes
  cache: (model) => (model.startsWith("claude-") ? claudeCache : undefined)
}

/** @internal */
export const geminiDefaults: ProviderDefaults = {
  contextWindow: 1_048_576,
  // Gemma, served by the same API, has no JSON mode
  responseFormats: (model) => (model.startsWith("gemma") ? prose : both)
}

/** The o-series reasoning models, their snapshots and sizes: `o1`, `o3-mini`, `o4-mini-2025-04-16`, ... */
const oSeries = /^o\d+(?:-|$)/

/** GPT-5 and its snapshots and sizes (`gpt-5-mini`, `gpt-5-2025-08-07`, `gpt-5-pro`, ...), not its chat model. */
const gpt5 = /^gpt-5(?:-(?!chat)|$)/

/** GPT-5.1 and later models with no reasoning effort `none`: the pro and codex ones. */
const laterReasoning = /^gpt-5\.\d+-(?:pro|codex)(?:-|$)/

/**
 * Whether a model of OpenAI's refuses `temperature` and `top_p` other than
 * their defaults (and `presence_penalty` and `frequency_penalty`, which the
 * same models refuse as unsupported parameters), by its id (after a prefix such as OpenRouter's
 * `openai/`): OpenAI answers them 400 `unsupported_value` ("Only the
 * default (1) value is supported"), which would end a chain that the next
 * target could have served. OpenAI takes them only on a model with no
 * reasoning, or with reasoning effort `none`: not on the o-series, nor on
 * GPT-5 (`gpt-5-chat-latest` apart), whose reasoning cannot be turned off;
 * GPT-5.1 and later default to `none`, and take them, but for their pro and
 * codex models, which have no `none`.
 *
 * @example
 * refusesSampling("o4-mini") // true
 * refusesSampling("gpt-5-mini-2025-08-07") // true
 * refusesSampling("gpt-5-chat-latest") // false
 * refusesSampling("gpt-5.2") // false
 *
 * @internal
 */
export const refusesSampling = (model: string): boolean => {
  const id = model.slice(model.lastIndexOf("/") + 1)
  return oSeries.test(id) || gpt5.test(id) || laterReasoning.test(id)
}

/** A multiple of a price, to the billionth of a dollar a million tokens (so 3 x 0.1 is 0.3, not 0.30000000000000004). */
const times = (price: number, rate: number): number => Math.round(price * rate * 1e9) / 1e9

/**
 * A price with the cache prices it lacks filled in from `rates` (multiples
 * of its input price); a cache price it has, or one `rates` lacks, is left
 * as it is (the input price, to `ModelInfo.cost`).
 *
 * @example
 * withCachePrices({ input: 3, output: 15 }, { read: 0.1, write: 1.25, longWrite: 2 })
 * // { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, longCacheWrite: 6 }
 *
 * @internal
 */
export const withCachePrices = (price: Price, rates: CacheRates | undefined): Price => {
  // a free prompt (or the zero price of a model the table does not know) has nothing to take a multiple of
  if (rates === undefined || price.input === 0) return price
  const { longWrite, read, write } = rates
  return {
    ...price,
    ...(price.cachedInput === undefined ? { cachedInput: times(price.input, read) } : {}),
    ...(price.cacheWrite === undefined && write !== undefined ? { cacheWrite: times(price.input, write) } : {}),
    ...(price.longCacheWrite === undefined && longWrite !== undefined ? { longCacheWrite: times(price.input, longWrite) } : {})
  }
}

/**
 * The info of a model: the caller's overrides, else the table, else the
 * provider's defaults and a zero price. Its price gets the cache prices it
 * lacks from the model's cache rates (else the provider's), whether it is
 * the caller's or the table's: a config's `price: { input, output }` and an
 * adapter's `info.price` are both priced as the provider bills its cache.
 *
 * @internal
 */
export const infoFor = (
  provider: string,
  model: string,
  defaults: ProviderDefaults,
  overrides: InfoOverrides | undefined
): ModelInfo => {
  const entry = entryOf(model)
  const maxOutputTokens = overrides?.maxOutputTokens ?? entry?.maxOutputTokens
  return {
    provider,
    model,
    contextWindow: overrides?.contextWindow ?? entry?.contextWindow ?? defaults.contextWindow,
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    price: withCachePrices(overrides?.price ?? entry?.price ?? { input: 0, output: 0 }, entry?.cache ?? defaults.cache?.(model)),
    responseFormats: overrides?.responseFormats ?? entry?.responseFormats ?? defaults.responseFormats(model)
  }
}

/** The levels of `reasoning_effort` a family of OpenAI's models takes, and its name. */
interface EffortLevels {
  readonly family: RegExp
  readonly levels: ReadonlyArray<ReasoningEffort>
}

/**
 * OpenAI's reasoning models and the efforts each takes, most specific
 * first; an effort a model lacks is a 400 that would end the chain. The
 * chat models (`gpt-5-chat-latest`, ...) and o1-mini and o1-preview take
 * none.
 */
const effortLevels: ReadonlyArray<EffortLevels> = [
  { family: /^(?:o1-mini|o1-preview|gpt-5(?:\.\d+)?-chat)(?:-|$)/, levels: [] },
  { family: /^gpt-5(?:\.\d+)?-pro(?:-|$)/, levels: ["high"] },
  { family: /^gpt-5\.\d+-codex-max(?:-|$)/, levels: ["low", "medium", "high", "xhigh"] },
  { family: /^gpt-5(?:\.\d+)?-codex(?:-|$)/, levels: ["low", "medium", "high"] },
  { family: /^gpt-5\.1(?:-|$)/, levels: ["none", "low", "medium", "high"] },
  { family: /^gpt-5\.\d+(?:-|$)/, levels: ["none", "low", "medium", "high", "xhigh"] },
  { family: /^gpt-5(?:-|$)/, levels: ["minimal", "low", "medium", "high"] },
  { family: oSeries, levels: ["low", "medium", "high"] }
]

/** From least to most thought: the nearest level a model has is found along it. */
const effortScale: ReadonlyArray<ReasoningEffort> = ["none", "minimal", "low", "medium", "high", "xhigh"]

/** The level of `levels` nearest `effort`, the lesser of two as near (none when `levels` is empty). */
const nearestLevel = (effort: ReasoningEffort, levels: ReadonlyArray<ReasoningEffort>): ReasoningEffort | undefined => {
  const at = effortScale.indexOf(effort)
  let best: ReasoningEffort | undefined
  for (const level of levels) {
    if (best === undefined || Math.abs(effortScale.indexOf(level) - at) < Math.abs(effortScale.indexOf(best) - at)) best = level
  }
  return best
}

/**
 * The `reasoning_effort` an OpenAI model is sent for a request's effort: the
 * nearest level it has (o3 has no `minimal`: `low`; GPT-5 has no `none`:
 * `minimal`), by its id after a prefix such as `openai/`; none for a model
 * that does not reason, or that this table does not know (a compatible
 * server's own model may refuse the field).
 *
 * @example
 * openAiEffort("o4-mini", "minimal") // "low"
 * openAiEffort("gpt-5-mini", "none") // "minimal"
 * openAiEffort("gpt-4.1", "high") // undefined
 *
 * @internal
 */
export const openAiEffort = (model: string, effort: ReasoningEffort): ReasoningEffort | undefined => {
  const id = model.slice(model.lastIndexOf("/") + 1)
  const known = effortLevels.find((entry) => entry.family.test(id))
  return known === undefined ? undefined : nearestLevel(effort, known.levels)
}

/** Gemini 2.5's thinking budgets for OpenAI's efforts, as Google's OpenAI-compatible endpoint maps them (and 512 for `minimal`). */
const thinkingBudgets: Readonly<Record<ReasoningEffort, number>> = {
  none: 0,
  minimal: 512,
  low: 1_024,
  medium: 8_192,
  high: 24_576,
  xhigh: 24_576
}

/**
 * Gemini's `thinkingConfig` for a request's effort, by model: Gemini 3 and
 * later a `thinkingLevel` (`low` or `high`, the two every Gemini 3 model
 * has: `none` to `low` ask `low`); Gemini 2.5 a `thinkingBudget` (2.5 Pro
 * cannot stop thinking: `none` is its least budget, 128). None for a model
 * that does not think (Gemini 2.0, Gemma, the image and speech models).
 *
 * @example
 * geminiThinking("gemini-3-pro-preview", "medium") // { thinkingLevel: "high" }
 * geminiThinking("gemini-2.5-flash", "low") // { thinkingBudget: 1024 }
 *
 * @internal
 */
export const geminiThinking = (
  model: string,
  effort: ReasoningEffort
): { readonly thinkingLevel: "low" | "high" } | { readonly thinkingBudget: number } | undefined => {
  const id = model.slice(model.lastIndexOf("/") + 1)
  const version = /^gemini-(\d+)(?:\.(\d+))?/.exec(id)
  // image and speech models do not think ("Thinking is not enabled for models/gemini-2.5-flash-image-preview")
  if (version === null || /-(?:image|tts)(?:-|$)/.test(id)) return undefined
  const major = Number(version[1])
  const minor = Number(version[2] ?? 0)
  if (major >= 3) return { thinkingLevel: effortScale.indexOf(effort) <= effortScale.indexOf("low") ? "low" : "high" }
  if (major === 2 && minor >= 5) {
    const budget = thinkingBudgets[effort]
    return { thinkingBudget: /-pro(?:-|$)/.test(id) ? Math.max(128, budget) : budget }
  }
  return undefined
}
