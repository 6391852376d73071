/**
 * The options every HTTP adapter takes, and the layer plumbing they share.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as LanguageModel from "../../llm/LanguageModel.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import { isNegative } from "../../resilience/internal/duration.js"
import type { InfoOverrides } from "./models.js"
import type { Timeouts } from "./timeouts.js"

/**
 * An extra header's value: `Redacted` for a secret (a proxy's key,
 * `Helicone-Auth`, an organization id read from the environment), which is
 * then redacted in the HTTP client's spans and logs and scrubbed from every
 * error; a plain string for the rest (`anthropic-beta`).
 *
 * @internal
 */
export type HeaderValue = string | Redacted.Redacted<string>

/**
 * @internal
 */
export interface CommonOptions {
  /** The model id sent upstream, e.g. `"gpt-4.1-mini"`. */
  readonly model: string
  /** The API key. Absent: no auth header is sent (local servers). */
  readonly apiKey?: Redacted.Redacted | undefined
  /** The URL the endpoint paths are appended to, version included: http:// or https:// (else `make` dies). */
  readonly baseUrl?: string | undefined
  /** The provider's name in `info` and in errors. */
  readonly provider?: string | undefined
  /** Overrides of the model's context window, output cap and price. */
  readonly info?: InfoOverrides | undefined
  /**
   * Extra headers sent with every request: a `Redacted` value is a secret
   * (redacted in spans and logs, scrubbed from errors), and so is a plain one
   * under a credential's name (`authorization`, `*-key`, `*-token`,
   * `*auth*`, ...).
   */
  readonly headers?: Readonly<Record<string, HeaderValue>> | undefined
  /** The connect, first-token and idle deadlines, each longer than zero (else `make` dies). */
  readonly timeouts?: Timeouts | undefined
  /** A last transform of the configured client (e.g. a proxy or tracing). */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The key as a `Config`, for `layerConfig`: `undefined` sends no key.
 *
 * @internal
 */
export type ApiKeyConfig = Config.Config<Redacted.Redacted | undefined> | Config.Config<Redacted.Redacted>

/**
 * The `LanguageModel` layer of an adapter.
 *
 * @internal
 */
export const layer = <O>(
  make: (options: O) => Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient>,
  options: O
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * The `LanguageModel` layer of an adapter, its key read through `Config`.
 *
 * @internal
 */
export const layerConfig = <O extends CommonOptions>(
  make: (options: O) => Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient>,
  options: Omit<O, "apiKey"> & { readonly apiKey?: ApiKeyConfig | undefined },
  variable: string
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.flatMap(options.apiKey ?? Config.redacted(variable), (apiKey) => make({ ...options, apiKey } as unknown as O))
  )

/**
 * Checks an adapter's `baseUrl` and `timeouts` when it is made: a baseUrl
 * that is no http(s) URL (a typo, a missing `http://`), or a deadline that is
 * no duration or not longer than zero (`Duration` reads a negative one as
 * zero), is a defect naming the option, not a retriable `TransportError` or
 * `Timeout` on every call. The URL is not quoted: it may hold a password.
 *
 * @internal
 */
export const checkOptions = (adapter: string, baseUrl: string, timeouts: Timeouts | undefined): Effect.Effect<void> =>
  Effect.suspend(() => {
    const die = (problem: string) => Effect.die(new RangeError(`${adapter}.make: ${problem}`))
    const url = URL.canParse(baseUrl) ? new URL(baseUrl) : undefined
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      return die("baseUrl must be an http:// or https:// URL (with its version, e.g. /v1)")
    }
    for (const key of ["connect", "firstToken", "idle"] as const) {
      const input = timeouts?.[key]
      if (input === undefined) continue
      const decoded = Duration.decodeUnknown(input)
      if (Option.isNone(decoded)) return die(`timeouts.${key} must be a duration (e.g. "30 seconds")`)
      if (isNegative(input) || !Duration.greaterThan(decoded.value, Duration.zero)) {
        return die(`timeouts.${key} must be longer than zero, got ${String(input)}`)
      }
    }
    return Effect.void
  })
