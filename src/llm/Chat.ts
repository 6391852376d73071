/**
 * The provider-neutral chat model: requests, responses and stream chunks as
 * `effect/Schema` values. Every provider adapter maps its wire format to and
 * from these.
 *
 * @since 0.1.0
 */
import { Effect, Schema, Stream } from "effect"

// ---------------------------------------------------------------------------
// Content and messages
// ---------------------------------------------------------------------------

/**
 * A prompt-cache breakpoint: the request's prefix up to and including the
 * part, message or tool it marks may be cached by the provider for this
 * long (`"5m"` or `"1h"`). Only providers with explicit caching read it
 * (Anthropic's `cache_control`); OpenAI and Gemini cache prefixes on their
 * own and ignore it, so a chain that fails over from Claude to GPT serves
 * the same request. A hint never fails a request: where a provider takes
 * fewer breakpoints than a request marks (Claude: 4), the last ones are
 * kept; where it wants longer lives first (Claude: a `"1h"` breakpoint may
 * not follow a `"5m"` one), a later `"1h"` is sent as `"5m"`.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const manual: string
 * // the long, stable system text cached for an hour; the question after it is not
 * const request: Chat.ChatRequest = {
 *   messages: [
 *     { role: "system", content: manual, cache: "1h" },
 *     { role: "user", content: "How do I reset the device?" }
 *   ]
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const CacheBreakpoint = Schema.Literal("5m", "1h")

/**
 * How long a marked prefix may stay cached (see {@link CacheBreakpoint}).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const ttl: Chat.CacheBreakpoint = "5m"
 *
 * @since 0.1.0
 * @category models
 */
export type CacheBreakpoint = typeof CacheBreakpoint.Type

/**
 * A text part of a user message.
 *
 * @example
 * import { Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const part = Schema.decodeUnknownSync(Chat.TextPart)({ type: "text", text: "What is in this picture?" })
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextPart = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String,
  /** A prompt-cache breakpoint after this part (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * An image part of a user message: an `https:` URL or a `data:` URL.
 *
 * @example
 * import { Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const part = Schema.decodeUnknownSync(Chat.ImagePart)({ type: "image", url: "https://example.com/cat.png", detail: "low" })
 *
 * @since 0.1.0
 * @category schemas
 */
export const ImagePart = Schema.Struct({
  type: Schema.Literal("image"),
  url: Schema.String,
  mediaType: Schema.optional(Schema.String),
  /** How closely to look, where the provider lets one say (OpenAI's `detail`); others ignore it. */
  detail: Schema.optional(Schema.Literal("auto", "low", "high")),
  /** A prompt-cache breakpoint after this part (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * @example
 * import { Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const parts = Schema.decodeUnknownSync(Schema.Array(Chat.ContentPart))([
 *   { type: "text", text: "Describe it." },
 *   { type: "image", url: "data:image/png;base64,iVBORw0KGgo=" }
 * ])
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentPart = Schema.Union(TextPart, ImagePart)

/**
 * A part of a user message's content: text or an image.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // the images a user message carries
 * const images = (parts: ReadonlyArray<Chat.ContentPart>): ReadonlyArray<string> =>
 *   parts.flatMap((part) => (part.type === "image" ? [part.url] : []))
 * images([{ type: "text", text: "Compare these." }, { type: "image", url: "https://example.com/a.png" }])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ContentPart = typeof ContentPart.Type

/**
 * A tool call the model made: `arguments` is the JSON text the model wrote.
 * `signature` is an opaque token its provider wants back with the call in
 * the next turn (Gemini 3's `thoughtSignature`); keep it with the call, and
 * other providers ignore it.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const call: Chat.ToolCall = { id: "call_1", name: "get_weather", arguments: JSON.stringify({ city: "Rome" }) }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  signature: Schema.optional(Schema.String)
})

/**
 * A tool call the model made, as a response carries it.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const request: Chat.ChatRequest
 * declare const response: Chat.ChatResponse
 * declare const runTool: (name: string, args: unknown) => string
 * // answer every call with a tool message that names it, in the next turn
 * const results = response.toolCalls.map((call: Chat.ToolCall): Chat.Message => ({
 *   role: "tool",
 *   toolCallId: call.id,
 *   content: runTool(call.name, JSON.parse(call.arguments))
 * }))
 * const next: Chat.ChatRequest = {
 *   ...request,
 *   messages: [...request.messages, { role: "assistant", toolCalls: response.toolCalls }, ...results]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

/**
 * A system prompt. `name` (as in the user and assistant messages) names the
 * participant, where the provider takes one (OpenAI); others ignore it.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const system: typeof Chat.SystemMessage.Type = { role: "system", content: "Answer in one sentence." }
 *
 * @since 0.1.0
 * @category schemas
 */
export const SystemMessage = Schema.Struct({
  role: Schema.Literal("system"),
  content: Schema.String,
  name: Schema.optional(Schema.String),
  /** A prompt-cache breakpoint after this message (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const user: typeof Chat.UserMessage.Type = {
 *   role: "user",
 *   content: [{ type: "text", text: "What is this?" }, { type: "image", url: "https://example.com/cat.png" }]
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserMessage = Schema.Struct({
  role: Schema.Literal("user"),
  content: Schema.Union(Schema.String, Schema.Array(ContentPart)),
  name: Schema.optional(Schema.String),
  /** A prompt-cache breakpoint after this message (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // a model's turn that called a tool, sent back with the tool's result in the next request
 * const turn: typeof Chat.AssistantMessage.Type = {
 *   role: "assistant",
 *   toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Rome"}' }]
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssistantMessage = Schema.Struct({
  role: Schema.Literal("assistant"),
  content: Schema.optional(Schema.String),
  toolCalls: Schema.optional(Schema.Array(ToolCall)),
  name: Schema.optional(Schema.String),
  /** A prompt-cache breakpoint after this message (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * The result of a tool call, sent back to the model. `isError` says the tool
 * failed and `content` is its error: Claude gets it as `is_error`, Gemini as
 * the `error` of its function response, and OpenAI (which has no such field)
 * as content that starts `Error: `.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const result: typeof Chat.ToolMessage.Type = { role: "tool", toolCallId: "call_1", content: '{"celsius":21}' }
 * const failed: typeof Chat.ToolMessage.Type = { role: "tool", toolCallId: "call_2", content: "the weather service timed out", isError: true }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolMessage = Schema.Struct({
  role: Schema.Literal("tool"),
  toolCallId: Schema.String,
  content: Schema.String,
  /** The tool failed: `content` is its error, not its result. */
  isError: Schema.optional(Schema.Boolean),
  /** A prompt-cache breakpoint after this message (see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * One message of a conversation.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const conversation: readonly [Chat.Message, ...Array<Chat.Message>] = [
 *   { role: "system", content: "Be brief." },
 *   { role: "user", content: "What is the capital of Italy?" },
 *   { role: "assistant", content: "Rome." },
 *   { role: "user", content: "And of France?" }
 * ]
 * const request: Chat.ChatRequest = { messages: conversation }
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage)

/**
 * One message of a conversation: system, user, assistant or tool, by `role`.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const request: Chat.ChatRequest
 * declare const response: Chat.ChatResponse
 * // the conversation goes on: the model's answer, then the user's next message
 * const reply: Chat.Message = { role: "assistant", content: response.text }
 * const next: Chat.ChatRequest = { ...request, messages: [...request.messages, reply, { role: "user", content: "Go on." }] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A tool the model may call; `parameters` is a JSON Schema object.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const tool: Chat.ToolDefinition = {
 *   name: "get_weather",
 *   description: "The weather now in a city",
 *   parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
 * }
 * const request: Chat.ChatRequest = { ...Chat.prompt("Weather in Rome?"), tools: [tool], toolChoice: "auto" }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolDefinition = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Whether the arguments must follow `parameters` exactly, where the provider enforces it (OpenAI's `strict`); others ignore it. */
  strict: Schema.optional(Schema.Boolean),
  /** A prompt-cache breakpoint after this tool (the tools come first in a prompt; see {@link CacheBreakpoint}). */
  cache: Schema.optional(CacheBreakpoint)
})

/**
 * A tool the model may call, as a request lists it.
 *
 * @example
 * ```ts
 * import { JSONSchema, Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // the parameters from an Effect schema
 * const Args = Schema.Struct({ city: Schema.String })
 * const tool: Chat.ToolDefinition = {
 *   name: "get_weather",
 *   parameters: JSONSchema.make(Args) as unknown as Record<string, unknown>,
 *   strict: true
 * }
 * const request = Chat.prompt("Weather in Rome?", { tools: [tool], toolChoice: { name: tool.name } })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolDefinition extends Schema.Schema.Type<typeof ToolDefinition> {}

/**
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // "auto" (the model decides), "none", "required" (some tool), or one tool by name
 * const forced: typeof Chat.ToolChoice.Type = { name: "get_weather" }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolChoice = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ name: Schema.String })
)

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/**
 * Asks for any JSON object as the answer (OpenAI's and Gemini's JSON mode).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request = Chat.prompt("List three primes as JSON.", { responseFormat: { type: "json_object" } })
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObjectFormat = Schema.Struct({ type: Schema.Literal("json_object") })

/**
 * Asks for JSON that follows `schema`, a JSON Schema (structured outputs).
 * `name` and `description` reach the providers that take them (OpenAI);
 * `strict` asks OpenAI to enforce the schema exactly (Anthropic and Gemini
 * always constrain their output to it).
 *
 * @example
 * import { JSONSchema, Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const Capital = Schema.Struct({ country: Schema.String, capital: Schema.String })
 * const format: typeof Chat.JsonSchemaFormat.Type = {
 *   type: "json_schema",
 *   name: "capital",
 *   schema: JSONSchema.make(Capital) as unknown as Record<string, unknown>,
 *   strict: true
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonSchemaFormat = Schema.Struct({
  type: Schema.Literal("json_schema"),
  name: Schema.String,
  description: Schema.optional(Schema.String),
  schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  strict: Schema.optional(Schema.Boolean)
})

/**
 * What form the answer must take, when not prose. The router sends a request
 * that has one only to targets whose model can honour it (`ModelInfo`'s
 * `responseFormats`), and passes over the others as it passes over a context
 * window too small.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request = Chat.prompt("Name a prime, as JSON.", {
 *   responseFormat: {
 *     type: "json_schema",
 *     name: "prime",
 *     schema: { type: "object", properties: { prime: { type: "integer" } }, required: ["prime"], additionalProperties: false }
 *   }
 * })
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponseFormat = Schema.Union(JsonObjectFormat, JsonSchemaFormat)

/**
 * The form a request's answer must take: any JSON object, or JSON following
 * a schema.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const json = (schema?: Record<string, unknown>): Chat.ResponseFormat =>
 *   schema === undefined ? { type: "json_object" } : { type: "json_schema", name: "answer", schema, strict: true }
 * const request = Chat.prompt("Three primes, as a JSON object.", { responseFormat: json() })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * How much a reasoning model thinks before it answers, in OpenAI's words
 * (`reasoning_effort`). Each adapter gives it in its provider's terms, to
 * the models that think, and the nearest level a model has when it lacks
 * the one asked: OpenAI's `reasoning_effort` (o-series, GPT-5 and later),
 * Gemini's thinking level (Gemini 3) or budget (Gemini 2.5). Claude and
 * models that do not reason answer as they would without it.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request: Chat.ChatRequest = { ...Chat.prompt("Prove it."), reasoningEffort: "high" }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningEffort = Schema.Literal("none", "minimal", "low", "medium", "high", "xhigh")

/**
 * How much a reasoning model thinks before it answers.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const effortFor = (hard: boolean): Chat.ReasoningEffort => (hard ? "high" : "minimal")
 * const request = Chat.prompt("Is 1009 prime? Show why.", { reasoningEffort: effortFor(true) })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ReasoningEffort = typeof ReasoningEffort.Type

/**
 * An `anthropic-beta` feature name, as Anthropic's API takes one in its
 * header (`"context-1m-2025-08-07"`): letters, digits, `-`, `_` and `.`
 * only, so that a name can neither add another to the comma-separated
 * header nor break out of it.
 *
 * @example
 * import { Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * Schema.is(Chat.AnthropicBeta)("interleaved-thinking-2025-05-14") // true
 * Schema.is(Chat.AnthropicBeta)("a, b") // false
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnthropicBeta = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]+$/))

/**
 * One of Gemini's safety settings, as its API takes it: a harm `category`
 * (`"HARM_CATEGORY_HARASSMENT"`, ...) and the `threshold` to block it at
 * (`"BLOCK_ONLY_HIGH"`, `"BLOCK_NONE"`, ...), both sent as they are.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const setting: typeof Chat.SafetySetting.Type = { category: "HARM_CATEGORY_DANGEROUS_CONTENT", threshold: "BLOCK_ONLY_HIGH" }
 *
 * @since 0.1.0
 * @category schemas
 */
export const SafetySetting = Schema.Struct({
  category: Schema.String,
  threshold: Schema.String
})

/**
 * Options of one provider's own, under its adapter's name: only that
 * adapter reads them, and every other provider of a chain serves the
 * request without them, so a chain that fails over from Claude to GPT
 * serves the same request.
 *
 * - `anthropic.betas`: `anthropic-beta` features, sent in that header after
 *   the adapter's configured ones (its `headers`), each once.
 * - `gemini.safetySettings`: Gemini's `safetySettings`, sent as they are.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request: Chat.ChatRequest = {
 *   ...Chat.prompt("Summarise this long contract."),
 *   providerOptions: {
 *     anthropic: { betas: ["context-1m-2025-08-07"] },
 *     gemini: { safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_ONLY_HIGH" }] }
 *   }
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProviderOptions = Schema.Struct({
  anthropic: Schema.optional(Schema.Struct({ betas: Schema.optional(Schema.Array(AnthropicBeta)) })),
  gemini: Schema.optional(Schema.Struct({ safetySettings: Schema.optional(Schema.Array(SafetySetting)) }))
})

/**
 * Options of one provider's own, which only its adapter reads (see
 * {@link ProviderOptions}).
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // Claude's 1M-token context for a long prompt; the other providers of the chain serve it as they are
 * const long = (request: Chat.ChatRequest): Chat.ChatRequest => ({
 *   ...request,
 *   providerOptions: { ...request.providerOptions, anthropic: { betas: ["context-1m-2025-08-07"] } }
 * })
 * long(Chat.prompt("Read the whole repository."))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderOptions extends Schema.Schema.Type<typeof ProviderOptions> {}

/**
 * A chat completion request, the same for every provider.
 *
 * `metadata` is free-form and never sent upstream: routers read it (for
 * example `metadata.task` or `metadata.tier` to pick a chain).
 *
 * The sampling hints each go to the providers that take them, and the
 * others serve the request without them, as they do `parallelToolCalls`:
 * `seed`, `presencePenalty` and `frequencyPenalty` to OpenAI and Gemini,
 * `topK` to Anthropic and Gemini.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request: Chat.ChatRequest = {
 *   messages: [
 *     { role: "system", content: "You are terse." },
 *     { role: "user", content: "Name a prime." }
 *   ],
 *   maxTokens: 16
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatRequest = Schema.Struct({
  messages: Schema.NonEmptyArray(Message),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  topP: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  /** The same answer for the same seed, as far as the provider can (OpenAI, Gemini); Claude ignores it. */
  seed: Schema.optional(Schema.Int),
  /** Penalises tokens that have appeared at all, -2 to 2 (OpenAI, Gemini); Claude ignores it. */
  presencePenalty: Schema.optional(Schema.Number.pipe(Schema.between(-2, 2))),
  /** Penalises tokens by how often they have appeared, -2 to 2 (OpenAI, Gemini); Claude ignores it. */
  frequencyPenalty: Schema.optional(Schema.Number.pipe(Schema.between(-2, 2))),
  /** Samples from the `topK` likeliest tokens only (Anthropic, Gemini); OpenAI ignores it. */
  topK: Schema.optional(Schema.Int.pipe(Schema.positive())),
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  stop: Schema.optional(Schema.Array(Schema.String)),
  tools: Schema.optional(Schema.Array(ToolDefinition)),
  toolChoice: Schema.optional(ToolChoice),
  /** `false`: at most one tool call an answer, where the provider can be told (OpenAI, Anthropic); Gemini ignores it. */
  parallelToolCalls: Schema.optional(Schema.Boolean),
  /** JSON mode or structured outputs; absent for prose. */
  responseFormat: Schema.optional(ResponseFormat),
  /** How much a reasoning model thinks (see {@link ReasoningEffort}); absent: the model's default. */
  reasoningEffort: Schema.optional(ReasoningEffort),
  /** Options of one provider's own, which only its adapter reads (see {@link ProviderOptions}). */
  providerOptions: Schema.optional(ProviderOptions),
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

/**
 * A chat completion request, the same for every provider.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // the same request for the router's "premium" chain (`metadata.chain`), with a cap on the answer
 * const premium = (request: Chat.ChatRequest): Chat.ChatRequest => ({
 *   ...request,
 *   maxTokens: 1_024,
 *   metadata: { ...request.metadata, chain: "premium" }
 * })
 * premium(Chat.prompt("Draft the release notes."))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatRequest extends Schema.Schema.Type<typeof ChatRequest> {}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

/**
 * Tokens a call consumed. `inputTokens` is the whole prompt, however the
 * provider billed it (so context windows and token rate limits count it
 * all); the cache fields say how much of it the provider's prompt cache
 * served or stored, for `ModelInfo.cost` to price apart:
 *
 * - `cacheReadTokens`: read from the cache (OpenAI's `cached_tokens`,
 *   Anthropic's `cache_read_input_tokens`, Gemini's
 *   `cachedContentTokenCount`), billed at a discount.
 * - `cacheWriteTokens`: written to the cache (Anthropic's
 *   `cache_creation_input_tokens`), billed at a premium.
 * - `longCacheWriteTokens`: the part of `cacheWriteTokens` written for
 *   longer than the provider's default (Anthropic's 1-hour cache), billed
 *   at a higher premium still.
 *
 * Each is part of the one before it (writes and reads of `inputTokens`),
 * and absent when there was none or the provider did not say.
 * `reasoningTokens` is the part of `outputTokens` the model spent reasoning
 * (OpenAI's `completion_tokens_details.reasoning_tokens`, Gemini's
 * `thoughtsTokenCount`), absent the same way.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // a 10,000-token prompt whose first 9,000 tokens came from the cache
 * const usage: Chat.Usage = { inputTokens: 10_000, outputTokens: 200, cacheReadTokens: 9_000 }
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.NonNegativeInt,
  outputTokens: Schema.NonNegativeInt,
  cacheReadTokens: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
  cacheWriteTokens: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
  longCacheWriteTokens: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
  reasoningTokens: Schema.optionalWith(Schema.NonNegativeInt, { exact: true })
})

/**
 * The tokens a call consumed, as a response carries them.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const response: Chat.ChatResponse
 * const usage: Chat.Usage = response.usage
 * const fresh = usage.inputTokens - (usage.cacheReadTokens ?? 0) // the prompt's tokens the cache did not serve
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * Two calls' usage as one, as when a stream resumed on another model: every
 * count added up, a cache (or reasoning) count absent only when both lack it.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * Chat.addUsage(
 *   { inputTokens: 1_000, outputTokens: 50, cacheReadTokens: 800 },
 *   { inputTokens: 1_100, outputTokens: 70 }
 * ) // { inputTokens: 2_100, outputTokens: 120, cacheReadTokens: 800 }
 *
 * @since 0.1.0
 * @category combinators
 */
export const addUsage = (first: Usage, second: Usage): Usage => ({
  inputTokens: first.inputTokens + second.inputTokens,
  outputTokens: first.outputTokens + second.outputTokens,
  ...addCount("cacheReadTokens", first, second),
  ...addCount("cacheWriteTokens", first, second),
  ...addCount("longCacheWriteTokens", first, second),
  ...addCount("reasoningTokens", first, second)
})

type CacheCount = "cacheReadTokens" | "cacheWriteTokens" | "longCacheWriteTokens" | "reasoningTokens"

/** One part count of two usages added up, as a field to spread; none when neither has it (absent means none). */
const addCount = (key: CacheCount, first: Usage, second: Usage): { readonly [K in CacheCount]?: number } =>
  first[key] === undefined && second[key] === undefined ? {} : { [key]: (first[key] ?? 0) + (second[key] ?? 0) }

/**
 * Why the model stopped.
 *
 * @example
 * import { Schema } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * Schema.is(Chat.FinishReason)("tool_calls") // true
 *
 * @since 0.1.0
 * @category schemas
 */
export const FinishReason = Schema.Literal("stop", "length", "tool_calls", "content_filter", "error", "unknown")

/**
 * Why the model stopped.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const response: Chat.ChatResponse
 * const explain = (reason: Chat.FinishReason): string =>
 *   reason === "length" ? "cut off at maxTokens" : reason === "tool_calls" ? "waiting for tool results" : "done"
 * explain(response.finishReason)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type FinishReason = typeof FinishReason.Type

/**
 * A whole chat completion.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* LanguageModel.LanguageModel
 *   const response: Chat.ChatResponse = yield* model.complete(Chat.prompt("Hi"))
 *   return `${response.text} (${response.finishReason}, ${response.usage.outputTokens} tokens)`
 * })
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatResponse = Schema.Struct({
  id: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  text: Schema.String,
  toolCalls: Schema.Array(ToolCall),
  finishReason: FinishReason,
  /**
   * The stop sequence (of the request's `stop`) the model stopped on, where
   * its provider says which (Claude does; OpenAI and Gemini do not, and
   * their answers that end on one have none here).
   */
  stopSequence: Schema.optional(Schema.String),
  usage: Usage
})

/**
 * A whole chat completion, as `complete` returns it.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * declare const chunks: Stream.Stream<Chat.ChatChunk>
 * const response: Effect.Effect<Chat.ChatResponse> = Chat.collect(chunks, { id: "1", provider: "openai", model: "gpt-4.1-mini" })
 * const line = Effect.map(response, (r) => `${r.provider}/${r.model}: ${r.usage.outputTokens} tokens, ${r.finishReason}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatResponse extends Schema.Schema.Type<typeof ChatResponse> {}

// ---------------------------------------------------------------------------
// Stream chunks
// ---------------------------------------------------------------------------

/**
 * A piece of the answer's text.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const chunk: Chat.ChatChunk = { _tag: "TextDelta", text: "Hel" }
 * Chat.isContent(chunk) // true
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextDelta = Schema.TaggedStruct("TextDelta", { text: Schema.String })

/**
 * A piece of a tool call: `index` identifies the call within the response;
 * `id` and `name` come with its first piece, `arguments` is appended, and
 * `signature` (see {@link ToolCall}) comes with the piece that has it.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // the first delta of call 0 names it; later ones add to its arguments
 * const chunks: ReadonlyArray<Chat.ChatChunk> = [
 *   { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "get_weather", arguments: '{"ci' },
 *   { _tag: "ToolCallDelta", index: 0, arguments: 'ty":"Rome"}' }
 * ]
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallDelta = Schema.TaggedStruct("ToolCallDelta", {
  index: Schema.NonNegativeInt,
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  arguments: Schema.String,
  signature: Schema.optional(Schema.String)
})

/**
 * The model stopped, and why; `stopSequence` is the stop sequence it
 * stopped on, where its provider says which (see {@link ChatResponse}).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const last: Chat.ChatChunk = { _tag: "Finish", reason: "stop" }
 * const onStop: Chat.ChatChunk = { _tag: "Finish", reason: "stop", stopSequence: "END" }
 *
 * @since 0.1.0
 * @category schemas
 */
export const Finish = Schema.TaggedStruct("Finish", { reason: FinishReason, stopSequence: Schema.optional(Schema.String) })

/**
 * The tokens consumed (some providers send this after `Finish`).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const usage: Chat.ChatChunk = { _tag: "Usage", usage: { inputTokens: 12, outputTokens: 40 } }
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageChunk = Schema.TaggedStruct("Usage", { usage: Usage })

/**
 * One event of a streamed completion.
 *
 * @example
 * import { Effect, Option, Stream } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * // the text of a stream, as it arrives
 * const program = Effect.gen(function* () {
 *   const model = yield* LanguageModel.LanguageModel
 *   return yield* model.stream(Chat.prompt("Count to 3")).pipe(
 *     Stream.filterMap((chunk) => (chunk._tag === "TextDelta" ? Option.some(chunk.text) : Option.none())),
 *     Stream.mkString
 *   )
 * })
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatChunk = Schema.Union(TextDelta, ToolCallDelta, Finish, UsageChunk)

/**
 * One event of a streamed completion: text, a piece of a tool call, the
 * finish, or the usage.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 *
 * // what a terminal shows of each chunk
 * const render = (chunk: Chat.ChatChunk): string => {
 *   switch (chunk._tag) {
 *     case "TextDelta":
 *       return chunk.text
 *     case "ToolCallDelta":
 *       return chunk.name === undefined ? "" : `[calling ${chunk.name}]`
 *     case "Finish":
 *       return chunk.reason === "stop" ? "\n" : `\n[stopped: ${chunk.reason}]\n`
 *     case "Usage":
 *       return ""
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChatChunk = typeof ChatChunk.Type

/**
 * Whether a chunk carries content the caller can see (text or a tool call):
 * once one has been sent, a stream can no longer fail over invisibly.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * Chat.isContent({ _tag: "TextDelta", text: "Hi" }) // true
 * Chat.isContent({ _tag: "Finish", reason: "stop" }) // false
 *
 * @since 0.1.0
 * @category predicates
 */
export const isContent = (chunk: ChatChunk): boolean =>
  chunk._tag === "TextDelta" ? chunk.text.length > 0 : chunk._tag === "ToolCallDelta"

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * A request of one user message (and an optional system prompt).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const request = Chat.prompt("Summarise this.", { system: "Be brief.", maxTokens: 100 })
 *
 * @since 0.1.0
 * @category constructors
 */
export const prompt = (
  text: string,
  options: Omit<ChatRequest, "messages"> & { readonly system?: string } = {}
): ChatRequest => {
  const { system, ...rest } = options
  return {
    ...rest,
    messages:
      system === undefined
        ? [{ role: "user", content: text }]
        : [
            { role: "system", content: system },
            { role: "user", content: text }
          ]
  }
}

/**
 * The text of a message's content, with image parts left out.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * Chat.messageText({ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }) // "ab"
 *
 * @since 0.1.0
 * @category getters
 */
export const messageText = (message: Message): string => {
  switch (message.role) {
    case "system":
    case "tool":
      return message.content
    case "assistant":
      return message.content ?? ""
    case "user":
      return typeof message.content === "string"
        ? message.content
        : message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
  }
}

/**
 * A folds-as-you-go accumulator of stream chunks into a {@link ChatResponse}.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const acc = Chat.accumulator({ id: "1", provider: "p", model: "m" })
 * acc.add({ _tag: "TextDelta", text: "Hel" })
 * acc.add({ _tag: "TextDelta", text: "lo" })
 * acc.add({ _tag: "Finish", reason: "stop" })
 * acc.response().text // "Hello"
 *
 * @since 0.1.0
 * @category constructors
 */
export const accumulator = (header: { readonly id: string; readonly provider: string; readonly model: string }) => {
  let text = ""
  // by index, in a map: an array filled up to a server's index of a billion would take seconds to read
  const calls = new Map<number, { id: string; name: string; arguments: string; signature?: string }>()
  let finishReason: FinishReason = "unknown"
  let stopSequence: string | undefined
  let usage: Usage = { inputTokens: 0, outputTokens: 0 }
  return {
    /** Folds one chunk in. */
    add(chunk: ChatChunk): void {
      switch (chunk._tag) {
        case "TextDelta":
          text += chunk.text
          break
        case "ToolCallDelta": {
          let call = calls.get(chunk.index)
          if (call === undefined) calls.set(chunk.index, (call = { id: "", name: "", arguments: "" }))
          if (chunk.id !== undefined) call.id = chunk.id
          if (chunk.name !== undefined) call.name = chunk.name
          if (chunk.signature !== undefined) call.signature = chunk.signature
          call.arguments += chunk.arguments
          break
        }
        case "Finish":
          finishReason = chunk.reason
          stopSequence = chunk.stopSequence
          break
        case "Usage":
          usage = chunk.usage
          break
      }
    },
    /** The text so far. */
    text: (): string => text,
    /** The response the chunks so far make up. */
    response: (): ChatResponse => ({
      ...header,
      text,
      toolCalls: [...calls.keys()].sort((a, b) => a - b).map((index) => calls.get(index)!),
      finishReason,
      ...(stopSequence !== undefined ? { stopSequence } : {}),
      usage
    })
  }
}

/**
 * Runs a stream to its end and folds it into one {@link ChatResponse}.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 *
 * const response = Chat.collect(
 *   Stream.make({ _tag: "TextDelta", text: "Hi" } as const, { _tag: "Finish", reason: "stop" } as const),
 *   { id: "1", provider: "p", model: "m" }
 * )
 *
 * @since 0.1.0
 * @category combinators
 */
export const collect = <E, R>(
  stream: Stream.Stream<ChatChunk, E, R>,
  header: { readonly id: string; readonly provider: string; readonly model: string }
): Effect.Effect<ChatResponse, E, R> =>
  Effect.suspend(() => {
    const acc = accumulator(header)
    return Stream.runForEach(stream, (chunk) => Effect.sync(() => acc.add(chunk))).pipe(Effect.map(acc.response))
  })
