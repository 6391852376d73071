/**
 * The Anthropic Messages adapter, over `@effect/platform`'s `HttpClient`.
 *
 * Sends the key as `x-api-key` with `anthropic-version: 2023-06-01`, lifts
 * system messages into the top-level `system` field, always sends
 * `max_tokens` (the API requires it), caps the temperature at 1
 * (Anthropic's maximum, so a request meant for any provider is not refused),
 * leaves `top_p` out beside a temperature (Claude 4.x refuses the two
 * together), sends `topK` as `top_k` (not `seed` nor the penalties, which
 * Claude does not take), and maps tool calls to `tool_use` / `tool_result` blocks.
 * A request's own betas (`providerOptions.anthropic.betas`) are sent in
 * `anthropic-beta` after those the `headers` option configures, each once;
 * no other provider's adapter reads them.
 * A request's prompt-cache breakpoints (`Chat.CacheBreakpoint`) become
 * `cache_control` on the blocks they mark, fitted to Claude's rules (the
 * last 4 kept; a `"1h"` after a `"5m"` sent as `"5m"`; one on text of
 * whitespace alone, which is not sent, on the block before it), so a hint
 * never fails a request.
 * Streams end on `message_stop`; one that ends before it fails with
 * `MalformedResponse`.
 * HTTP 529 and an in-stream `overloaded_error` are `Overloaded`; "prompt is
 * too long" is `ContextLengthExceeded`; a `refusal` stop is
 * `ContentFiltered`, with the text before it (`partialText`).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as LanguageModel from "../llm/LanguageModel.js"
import type { ProviderError } from "../llm/ProviderError.js"
import * as Wire from "./internal/anthropicWire.js"
import * as Http from "./internal/http.js"
import * as Models from "./internal/models.js"
import * as Shared from "./internal/options.js"
import type * as InternalTimeouts from "./internal/timeouts.js"

/**
 * Anthropic's API root, the default `baseUrl`.
 *
 * @example
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * Anthropic.defaultBaseUrl // "https://api.anthropic.com/v1"
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.anthropic.com/v1"

/**
 * The API version sent in `anthropic-version` unless `version` says another.
 *
 * @example
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * const headers = { "anthropic-version": Anthropic.defaultVersion }
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultVersion = "2023-06-01"

/**
 * The `max_tokens` sent when neither the request nor `maxTokens` sets one.
 *
 * @example
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * Anthropic.defaultMaxTokens // sent as max_tokens when the request sets none
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTokens = 4096

/**
 * The deadlines of a call, as consecutive phases: `connect` until the
 * response headers (default 60 seconds; a non-streamed answer sends its
 * headers only when it is complete, so this bounds its whole generation),
 * `firstToken` from the headers to a stream's first content chunk (default
 * 60 seconds; pings do not count), `idle` the longest gap between two chunks
 * after that, or between two pieces of a JSON body (default 30 seconds: a
 * body that trickles is read as long as it keeps coming). Each passes as a
 * `Timeout` error with its phase, and aborts the request.
 *
 * @example
 * ```ts
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * // an app that only streams: fail over soon when the model does not start
 * const timeouts: Anthropic.Timeouts = { connect: "10 seconds", firstToken: "15 seconds", idle: "10 seconds" }
 * const haiku = Anthropic.layerConfig({ model: "claude-haiku-4-5", timeouts })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts extends InternalTimeouts.Timeouts {}

/**
 * What to call and how.
 *
 * - `model`: the model id, e.g. `"claude-sonnet-4-5"`.
 * - `apiKey`: sent as `x-api-key`.
 * - `baseUrl`: default {@link defaultBaseUrl}.
 * - `provider`: the name in `info` and errors, default `"anthropic"`.
 * - `info`: overrides of the context window (default: a table of known
 *   models, else 200,000), output cap, price and the JSON answers it gives
 *   (`responseFormats`; default `["json_schema"]` for the models with
 *   structured outputs in the table, else none: say `["json_schema"]` for a
 *   newer model that has them). Anthropic has no JSON mode (`json_object`).
 * - `maxTokens`: the `max_tokens` of requests that set none (default
 *   {@link defaultMaxTokens}).
 * - `version`: the `anthropic-version` header (default {@link defaultVersion}).
 * - `headers`: extra headers sent with every request, e.g. `anthropic-beta`
 *   (a plain string; a request's own betas, `providerOptions.anthropic.betas`,
 *   are sent after its names). A `Redacted` value is a secret (a gateway's key): its
 *   header is redacted in the HTTP client's spans and logs during the call
 *   (not globally), and its value, like the key's, is scrubbed from every
 *   error. A plain value under a credential's name (`*auth*`, `*-key`,
 *   `*-token`) or with a `Bearer` / `Basic` value is treated as a secret too.
 * - `timeouts`, `transformClient`.
 *
 * @example
 * import { Redacted } from "effect"
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * // through a gateway that wants its own key beside Anthropic's
 * const options: Anthropic.Options = {
 *   model: "claude-sonnet-4-5",
 *   apiKey: Redacted.make("sk-ant-..."),
 *   baseUrl: "https://gateway.example.com/anthropic/v1",
 *   headers: { "x-portkey-api-key": Redacted.make("pk-..."), "anthropic-beta": "prompt-caching-2024-07-31" }
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Shared.CommonOptions {
  readonly maxTokens?: number | undefined
  readonly version?: string | undefined
}

/**
 * The options of {@link layerConfig}: the key is a `Config`.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Layer, Option } from "effect"
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * // the key when ANTHROPIC_API_KEY is set, none for a local proxy that adds its own
 * const options: Anthropic.ConfigOptions = {
 *   model: "claude-sonnet-4-5",
 *   baseUrl: "http://127.0.0.1:4000/v1",
 *   apiKey: Config.option(Config.redacted("ANTHROPIC_API_KEY")).pipe(Config.map(Option.getOrUndefined))
 * }
 * const Sonnet = Anthropic.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions extends Omit<Options, "apiKey"> {
  /** Default `Config.redacted("ANTHROPIC_API_KEY")`. */
  readonly apiKey?: Shared.ApiKeyConfig | undefined
}

const path = "/messages"

/**
 * Builds the adapter for one model from the ambient `HttpClient`.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: Redacted.make("sk-ant-...") })
 *   const response = yield* model.complete(Chat.prompt("Say hi", { system: "Be brief." }))
 *   return response.text
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient> => {
  const provider = options.provider ?? "anthropic"
  const version = options.version ?? defaultVersion
  const info = Models.infoFor(provider, options.model, Models.anthropicDefaults, options.info)
  const maxTokens = options.maxTokens ?? defaultMaxTokens
  const betas = Wire.configuredBetas(options.headers)
  return Effect.zipRight(
    Shared.checkOptions("Anthropic", options.baseUrl ?? defaultBaseUrl, options.timeouts),
    Effect.map(
      Http.makeEndpoint({
        provider,
        model: options.model,
        baseUrl: options.baseUrl ?? defaultBaseUrl,
        apiKey: options.apiKey,
        auth: (key) => ({ "x-api-key": key }),
        headers: { "anthropic-version": version, ...options.headers },
        timeouts: options.timeouts,
        transformClient: options.transformClient
      }),
      (endpoint) => ({
        info,
        ...Http.chatCalls(endpoint, {
          path,
          encode: (request, stream) => Wire.encodeRequest(request, options.model, maxTokens, stream),
          headers: (request) => Wire.betaHeader(betas, request),
          decodeResponse: Wire.decodeResponse,
          streamDecoder: Wire.streamDecoder
        }, info)
      })
    )
  )
}

/**
 * The adapter as the `LanguageModel` service.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer, Redacted } from "effect"
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * const Claude = Anthropic.layer({ model: "claude-sonnet-4-5", apiKey: Redacted.make("sk-ant-...") }).pipe(
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
 * (default `ANTHROPIC_API_KEY`).
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { Anthropic } from "effect-llm-failover/providers"
 *
 * const Claude = Anthropic.layerConfig({ model: "claude-haiku-4-5" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Shared.layerConfig(make, options, "ANTHROPIC_API_KEY")
