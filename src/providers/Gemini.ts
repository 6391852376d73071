/**
 * The Google Gemini adapter (Generative Language API), over
 * `@effect/platform`'s `HttpClient`.
 *
 * Calls `POST {baseUrl}/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse` with the key in `x-goog-api-key` (never in
 * the URL), roles `user` / `model`, system messages in `systemInstruction`,
 * tools as `functionDeclarations`. A request's `seed` (an int32 to Gemini:
 * a larger one is left out), `presencePenalty`, `frequencyPenalty` and
 * `topK` go in `generationConfig` (a model that refuses the penalties,
 * Gemini 2.5 and later, is asked once more without them, and not sent
 * them again); its `providerOptions.gemini.safetySettings`
 * are sent as `safetySettings` (no other provider's adapter reads them).
 * A stream ends on the event whose candidate
 * has a `finishReason`; one that ends before it fails with
 * `MalformedResponse`. `RESOURCE_EXHAUSTED` is `RateLimited` (its
 * `RetryInfo` delay kept); a SAFETY-like finish (with the text before it,
 * `partialText`) or a blocked prompt is `ContentFiltered`; a finish that left no answer (`MALFORMED_FUNCTION_CALL`,
 * or `OTHER` with nothing in it) is `MalformedResponse`, so it is retried or
 * failed over; "input token count ... exceeds the maximum" is
 * `ContextLengthExceeded`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as LanguageModel from "../llm/LanguageModel.js"
import type { ProviderError } from "../llm/ProviderError.js"
import { signatureUse } from "../llm/internal/extraContent.js"
import * as Wire from "./internal/geminiWire.js"
import * as Http from "./internal/http.js"
import * as Models from "./internal/models.js"
import * as Shared from "./internal/options.js"
import type * as InternalTimeouts from "./internal/timeouts.js"

/**
 * The Generative Language API root, the default `baseUrl`.
 *
 * @example
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * Gemini.defaultBaseUrl // "https://generativelanguage.googleapis.com/v1beta"
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://generativelanguage.googleapis.com/v1beta"

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
 * import { Redacted } from "effect"
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * // a first token within 20 seconds; the other deadlines keep their defaults
 * const timeouts: Gemini.Timeouts = { firstToken: "20 seconds" }
 * const flash = Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make("AIza..."), timeouts })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts extends InternalTimeouts.Timeouts {}

/**
 * What to call and how.
 *
 * - `model`: the model id, e.g. `"gemini-2.5-flash"` (a `models/` prefix is
 *   accepted).
 * - `apiKey`: sent as `x-goog-api-key`, never as a `key` query parameter, so
 *   no logged or traced URL holds it.
 * - `baseUrl`: default {@link defaultBaseUrl}.
 * - `provider`: the name in `info` and errors, default `"gemini"`.
 * - `info`: overrides of the context window (default: a table of known
 *   models, else 1,048,576), output cap, price and the JSON answers it gives
 *   (`responseFormats`; default both, JSON mode only for Gemini 2.0).
 * - `headers`: extra headers sent with every request. A `Redacted` value is
 *   a secret: its header is redacted in the HTTP client's spans and logs
 *   during the call (not globally), and its value, like the key's, is
 *   scrubbed from every error. A plain value under a credential's name
 *   (`*auth*`, `*-key`, `*-token`) or with a `Bearer` / `Basic` value is
 *   treated as a secret too.
 * - `timeouts`, `transformClient`.
 *
 * @example
 * import { Redacted } from "effect"
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * // through a proxy that checks its own token
 * const options: Gemini.Options = {
 *   model: "gemini-2.5-flash",
 *   apiKey: Redacted.make("AIza..."),
 *   baseUrl: "https://llm-proxy.example.com/v1beta",
 *   headers: { "x-proxy-token": Redacted.make("tok-...") }
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Shared.CommonOptions {}

/**
 * The options of {@link layerConfig}: the key is a `Config`.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Layer } from "effect"
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * // the key from GOOGLE_API_KEY instead of GEMINI_API_KEY
 * const options: Gemini.ConfigOptions = { model: "gemini-2.5-pro", apiKey: Config.redacted("GOOGLE_API_KEY") }
 * const Pro = Gemini.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions extends Omit<Options, "apiKey"> {
  /** Default `Config.redacted("GEMINI_API_KEY")`. */
  readonly apiKey?: Shared.ApiKeyConfig | undefined
}

/**
 * Builds the adapter for one model from the ambient `HttpClient`.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make("AIza...") })
 *   const response = yield* model.complete(Chat.prompt("Say hi"))
 *   return response.text
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient> => {
  const provider = options.provider ?? "gemini"
  const model = options.model.replace(/^models\//, "")
  const info = Models.infoFor(provider, model, Models.geminiDefaults, options.info)
  const generate = `/models/${model}:generateContent`
  const streamGenerate = `/models/${model}:streamGenerateContent`
  return Effect.zipRight(
    Shared.checkOptions("Gemini", options.baseUrl ?? defaultBaseUrl, options.timeouts),
    Effect.map(
      Http.makeEndpoint({
        provider,
        model,
        baseUrl: options.baseUrl ?? defaultBaseUrl,
        apiKey: options.apiKey,
        auth: (key) => ({ "x-goog-api-key": key }),
        headers: options.headers,
        timeouts: options.timeouts,
        transformClient: options.transformClient
      }),
      (endpoint) => ({
        info,
        ...Http.chatCalls(endpoint, {
          path: generate,
          streamPath: streamGenerate,
          streamUrlParams: { alt: "sse" },
          encode: (request) => Wire.encodeRequest(request, model),
          decodeResponse: Wire.decodeResponse,
          streamDecoder: Wire.streamDecoder,
          signatures: signatureUse(model) !== "none"
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
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * const Flash = Gemini.layer({ model: "gemini-2.5-flash", apiKey: Redacted.make("AIza...") }).pipe(
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
 * (default `GEMINI_API_KEY`).
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { Gemini } from "effect-llm-failover/providers"
 *
 * const Flash = Gemini.layerConfig({ model: "gemini-2.5-flash" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Shared.layerConfig(make, options, "GEMINI_API_KEY")
