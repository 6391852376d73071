/**
 * The OpenAI Chat Completions adapter, over `@effect/platform`'s
 * `HttpClient`. With `baseUrl` it speaks to every OpenAI-compatible server:
 * Groq, DeepSeek, OpenRouter, Together, vLLM, Ollama (without a key it sends
 * no `Authorization` header).
 *
 * Streams ask for `stream_options.include_usage`, so they end with a usage
 * chunk, then `data: [DONE]`; a stream that ends before `[DONE]` fails with
 * `MalformedResponse`. A `content_filter` finish or a refusal fails with
 * `ContentFiltered`, with the text so far and the refusal (`partialText`,
 * `refusal`); a 400 `context_length_exceeded` with
 * `ContextLengthExceeded`.
 *
 * Compatible servers that part from OpenAI are read for what they mean:
 *
 * - A server that refuses `stream_options` with a 400 naming it (Azure
 *   before its 2024-09 API, Fireworks, old vLLM) is asked once more without
 *   it, and the adapter leaves it out of its later streams, whose usage is
 *   then what the server sends unasked, or none.
 * - Google's OpenAI-compatible endpoint streams each tool call whole,
 *   without its `index`: such a delta continues the call with its `id`,
 *   starts the next one when its `id` is new, and continues the last one
 *   when it has no `id`. A turn that called tools but finishes with `stop`
 *   (as that endpoint finishes them) finishes as `tool_calls`, streamed or
 *   not.
 * - A `content` that is a list of parts (Mistral's chunks, in a message or a
 *   stream's delta) is read as the text of its `text` parts; a `thinking`
 *   part (Magistral's reasoning), or any other, is skipped.
 * - Groq's `tool_use_failed` (a 400 or an in-stream error: the model wrote a
 *   tool call that does not parse) fails with a retriable
 *   `MalformedResponse`, not `InvalidRequest`.
 * - A 400 that says the model does not exist (DeepSeek's "Model Not Exist")
 *   fails with `ModelNotFound`, skipped as a 404 is.
 * - vLLM's `finish_reason: "abort"` (its engine gave the answer up: a
 *   scale-down, a shutdown) fails a completion, or a stream after the usage
 *   it sends, with a retriable `ServerError`, not an answer.
 *
 * A request's `seed`, `presencePenalty` and `frequencyPenalty` are sent as
 * `seed`, `presence_penalty` and `frequency_penalty`; its `topK` is not
 * (OpenAI has none). Its `temperature`, `topP` and penalties are left out for OpenAI's reasoning
 * models that refuse them (the o-series, GPT-5 but its chat model, the pro
 * and codex models of GPT-5.1 and later), known by the model id on any
 * `baseUrl` (Azure, a proxy): they would answer 400, which ends the chain.
 * A model that refuses `stop` (a 400 "Unsupported parameter: 'stop'", from
 * o3, o4-mini, GPT-5 and others) is asked once more without it, and the
 * adapter leaves stop sequences out of its later requests.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { signatureUse } from "../llm/internal/extraContent.js"
import type * as LanguageModel from "../llm/LanguageModel.js"
import type { ProviderError } from "../llm/ProviderError.js"
import * as Http from "./internal/http.js"
import * as Models from "./internal/models.js"
import * as Shared from "./internal/options.js"
import type * as InternalTimeouts from "./internal/timeouts.js"
import * as Wire from "./internal/openAiWire.js"

/**
 * OpenAI's own API root, the default `baseUrl`.
 *
 * @example
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * OpenAi.defaultBaseUrl // "https://api.openai.com/v1"
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.openai.com/v1"

/**
 * The deadlines of a call, as consecutive phases: `connect` until the
 * response headers (default 60 seconds; a non-streamed answer sends its
 * headers only when it is complete, so this bounds its whole generation),
 * `firstToken` from the headers to a stream's first content chunk (default
 * 60 seconds), `idle` the longest gap between two chunks after that, or
 * between two pieces of a JSON body (default 30 seconds: a body that
 * trickles, as DeepSeek's keep-alive empty lines do, is read as long as it
 * keeps coming). Each passes as a `Timeout` error with its phase, and aborts
 * the request.
 *
 * @example
 * ```ts
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * // a reasoning model: a non-streamed answer may take minutes, and so may a stream's first token
 * const timeouts: OpenAi.Timeouts = { connect: "5 minutes", firstToken: "3 minutes", idle: "20 seconds" }
 * const o3 = OpenAi.layerConfig({ model: "o3", timeouts })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts extends InternalTimeouts.Timeouts {}

/**
 * What to call and how.
 *
 * - `model`: the model id sent upstream.
 * - `apiKey`: sent as `Authorization: Bearer`; absent, no header is sent.
 * - `baseUrl`: default {@link defaultBaseUrl}; e.g.
 *   `"https://api.groq.com/openai/v1"` or `"http://localhost:11434/v1"`.
 * - `provider`: the name in `info` and errors, default `"openai"` (say
 *   `"groq"` for Groq).
 * - `info`: overrides of the context window (default: a table of known
 *   models, else 128,000), output cap and price (default: known list
 *   prices, else zero) and the JSON answers it gives (`responseFormats`;
 *   default both, as OpenAI and most compatible servers take
 *   `response_format`; say `[]` for a server that does not).
 * - `headers`: extra headers sent with every request. A `Redacted` value is
 *   a secret (`OpenAI-Organization`, a proxy's `x-api-key`,
 *   `Helicone-Auth`): its header is redacted in the HTTP client's spans and
 *   logs during the call (not globally), and its value, like the key's, is
 *   scrubbed from every error. A plain string is sent as is, and treated as
 *   a secret too when its name or value says credential (`*auth*`, `*-key`,
 *   `*-token`, `Bearer ...`).
 * - `timeouts`, `transformClient`: see {@link Timeouts}.
 * - `maxTokensField`: where `maxTokens` goes; default
 *   `"max_completion_tokens"` for OpenAI itself (its reasoning models refuse
 *   `max_tokens`) and `"max_tokens"` for any other `baseUrl`.
 * - `thoughtSignatures`: whether the server is Google's OpenAI-compatible
 *   endpoint, which wants each Gemini tool call's thought signature back
 *   (`extra_content.google.thought_signature`; Gemini 3 answers a 400
 *   without it). Default: when `baseUrl` is on `googleapis.com` (the Gemini
 *   API, Vertex AI); say `true` for a proxy in front of it (LiteLLM, an AI
 *   gateway), `false` to never send one.
 *
 * @example
 * import { Redacted } from "effect"
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * // through Helicone: its key is a secret header, the organization too
 * const options: OpenAi.Options = {
 *   model: "gpt-4.1-mini",
 *   apiKey: Redacted.make("sk-..."),
 *   baseUrl: "https://oai.helicone.ai/v1",
 *   headers: {
 *     "Helicone-Auth": Redacted.make("Bearer sk-helicone-..."),
 *     "OpenAI-Organization": Redacted.make("org-..."),
 *     "Helicone-Cache-Enabled": "true"
 *   }
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Shared.CommonOptions {
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens" | undefined
  readonly thoughtSignatures?: boolean | undefined
}

/**
 * The options of {@link layerConfig}: the key is a `Config`.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Layer } from "effect"
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * // DeepSeek's key from DEEPSEEK_API_KEY instead of OPENAI_API_KEY
 * const options: OpenAi.ConfigOptions = {
 *   model: "deepseek-chat",
 *   provider: "deepseek",
 *   baseUrl: "https://api.deepseek.com/v1",
 *   apiKey: Config.redacted("DEEPSEEK_API_KEY"),
 *   maxTokensField: "max_tokens"
 * }
 * const DeepSeek = OpenAi.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions extends Omit<Options, "apiKey"> {
  /** Default `Config.redacted("OPENAI_API_KEY")`. */
  readonly apiKey?: Shared.ApiKeyConfig | undefined
}

const path = "/chat/completions"

/**
 * Builds the adapter for one model from the ambient `HttpClient`.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make("sk-...") })
 *   const response = yield* model.complete(Chat.prompt("Say hi"))
 *   return response.text
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient> => {
  const provider = options.provider ?? "openai"
  const baseUrl = options.baseUrl ?? defaultBaseUrl
  const field = options.maxTokensField ?? (baseUrl === defaultBaseUrl ? "max_completion_tokens" : "max_tokens")
  const info = Models.infoFor(provider, options.model, Models.openAiDefaults, options.info)
  const google = options.thoughtSignatures ?? isGoogle(baseUrl)
  return Effect.zipRight(
    Shared.checkOptions("OpenAi", baseUrl, options.timeouts),
    Effect.map(
      Http.makeEndpoint({
        provider,
        model: options.model,
        baseUrl,
        apiKey: options.apiKey,
        auth: (key) => ({ authorization: `Bearer ${key}` }),
        headers: options.headers,
        timeouts: options.timeouts,
        transformClient: options.transformClient
      }),
      (endpoint) => ({
        info,
        ...Http.chatCalls(endpoint, {
          path,
          encode: (request, stream, lean) => Wire.encodeRequest(request, options.model, field, stream, google, lean !== true),
          decodeResponse: Wire.decodeResponse,
          streamDecoder: Wire.streamDecoder,
          signatures: google && signatureUse(options.model) !== "none",
          streamOption: { refused: Wire.refusedStreamOptions }
        }, info)
      })
    )
  )
}

/**
 * Whether the base URL is Google's OpenAI-compatible endpoint, which wants a
 * Gemini tool call's thought signature back (`extra_content`); OpenAI and
 * other servers get no such field.
 */
const isGoogle = (baseUrl: string): boolean => {
  try {
    return /(^|\.)googleapis\.com$/.test(new URL(baseUrl).hostname)
  } catch {
    return false
  }
}

/**
 * The adapter as the `LanguageModel` service.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * // any OpenAI-compatible server: here a local Ollama, without a key
 * const Ollama = OpenAi.layer({ model: "llama3.2", baseUrl: "http://localhost:11434/v1", provider: "ollama" }).pipe(
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Shared.layer(make, options)

/**
 * The adapter as the `LanguageModel` service, its key read through `Config`
 * (default `OPENAI_API_KEY`), so it never sits in code.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Layer } from "effect"
 * import { OpenAi } from "effect-llm-failover/providers"
 *
 * const Groq = OpenAi.layerConfig({
 *   model: "llama-3.3-70b-versatile",
 *   provider: "groq",
 *   baseUrl: "https://api.groq.com/openai/v1",
 *   apiKey: Config.redacted("GROQ_API_KEY")
 * }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Shared.layerConfig(make, options, "OPENAI_API_KEY")
