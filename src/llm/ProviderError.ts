/**
 * The errors a provider call can fail with, split in the types into the
 * three groups the router acts on:
 *
 * - {@link Retriable}: retry on the same target (by schedule and budget),
 *   then fail over: `RateLimited`, `Overloaded`, `ServerError`, `Timeout`,
 *   `TransportError`, `MalformedResponse`.
 * - {@link Skippable}: do not retry, go to the next target at once:
 *   `Unauthorized`, `ModelNotFound`, `ContextLengthExceeded`,
 *   `ProviderDefect` (the call died: a bug, not the provider's answer).
 * - {@link Fatal}: the request itself is at fault, so it would fail
 *   everywhere: `InvalidRequest`, `ContentFiltered` (which a content-policy
 *   chain may still take).
 *
 * Every error carries `provider`, `model` and a `message` that never holds a
 * secret; HTTP-born errors also carry the `status`.
 *
 * @since 0.1.0
 */
import { Duration, Option, Predicate, Schema } from "effect"
import { Usage } from "./Chat.js"
import * as Defect from "./internal/defect.js"

const fields = {
  /** The provider that failed, e.g. `"openai"`. */
  provider: Schema.String,
  /** The model id that was asked, e.g. `"gpt-4.1-mini"`. */
  model: Schema.String,
  /** A human-readable reason. Never contains a secret. */
  message: Schema.String,
  /** The HTTP status, when the failure came from one. */
  status: Schema.optional(Schema.Number)
}

const retryAfterField = {
  /** How long the provider asked us to wait (Retry-After, retry-after-ms). */
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}

const retryHereField = {
  /**
   * `false` when the provider said a retry would not help (its
   * `x-should-retry: false`, as OpenAI and Anthropic send it): the router
   * moves on to the next target without retrying this one (see
   * {@link shouldRetry}). Absent: the class decides.
   */
  retryHere: Schema.optional(Schema.Literal(false))
}

/**
 * The provider is rate limiting us (HTTP 429, Gemini `RESOURCE_EXHAUSTED`).
 *
 * @example
 * import { Duration } from "effect"
 * import { RateLimited } from "effect-llm-failover/llm"
 *
 * const error = new RateLimited({
 *   provider: "openai", model: "gpt-4.1-mini", message: "slow down",
 *   status: 429, retryAfter: Duration.seconds(2)
 * })
 *
 * @since 0.1.0
 * @category retriable
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("effect-llm-failover/RateLimited")("RateLimited", {
  ...fields,
  ...retryAfterField,
  ...retryHereField
}) {}

/**
 * The provider is overloaded (HTTP 503, Anthropic 529 or an in-stream
 * `overloaded_error`).
 *
 * @example
 * import { Overloaded } from "effect-llm-failover/llm"
 *
 * const error = new Overloaded({ provider: "anthropic", model: "claude-sonnet-4-5", message: "Overloaded", status: 529 })
 *
 * @since 0.1.0
 * @category retriable
 */
export class Overloaded extends Schema.TaggedError<Overloaded>("effect-llm-failover/Overloaded")("Overloaded", {
  ...fields,
  ...retryAfterField,
  ...retryHereField
}) {}

/**
 * Any other 5xx answer.
 *
 * @example
 * import { ServerError } from "effect-llm-failover/llm"
 *
 * const error = new ServerError({ provider: "openai", model: "gpt-4.1", message: "Bad gateway", status: 502 })
 *
 * @since 0.1.0
 * @category retriable
 */
export class ServerError extends Schema.TaggedError<ServerError>("effect-llm-failover/ServerError")("ServerError", {
  ...fields,
  ...retryHereField
}) {}

/**
 * Where in a call a deadline passed.
 *
 * - `connect`: no response headers in time.
 * - `first-token`: a stream sent no content in time.
 * - `idle`: a stream went quiet between chunks for too long.
 * - `attempt`: one attempt took longer than its per-attempt timeout.
 * - `total`: the request's deadline across every attempt and target.
 *
 * @example
 * import { Schema } from "effect"
 * import { TimeoutPhase } from "effect-llm-failover/llm"
 *
 * Schema.is(TimeoutPhase)("first-token") // true
 *
 * @since 0.1.0
 * @category models
 */
export const TimeoutPhase = Schema.Literal("connect", "first-token", "idle", "attempt", "total")

/**
 * Where in a call a deadline passed.
 *
 * @example
 * ```ts
 * import type { Timeout, TimeoutPhase } from "effect-llm-failover/llm"
 *
 * declare const error: Timeout
 * const explain = (phase: TimeoutPhase): string =>
 *   phase === "connect" ? "unreachable" : phase === "total" ? "the request's deadline passed" : "too slow"
 * explain(error.phase)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TimeoutPhase = typeof TimeoutPhase.Type

/**
 * A deadline passed.
 *
 * @example
 * import { Duration } from "effect"
 * import { Timeout } from "effect-llm-failover/llm"
 *
 * const error = new Timeout({
 *   provider: "gemini", model: "gemini-2.5-flash", message: "no first token in 10 seconds",
 *   phase: "first-token", after: Duration.seconds(10)
 * })
 *
 * @since 0.1.0
 * @category retriable
 */
export class Timeout extends Schema.TaggedError<Timeout>("effect-llm-failover/Timeout")("Timeout", {
  ...fields,
  phase: TimeoutPhase,
  /** The deadline that passed. */
  after: Schema.optional(Schema.DurationFromMillis)
}) {}

/**
 * The connection failed: refused, reset, DNS, TLS.
 *
 * @example
 * import { TransportError } from "effect-llm-failover/llm"
 *
 * const error = new TransportError({ provider: "openai", model: "gpt-4.1", message: "socket hang up", code: "ECONNRESET" })
 *
 * @since 0.1.0
 * @category retriable
 */
export class TransportError extends Schema.TaggedError<TransportError>("effect-llm-failover/TransportError")(
  "TransportError",
  {
    ...fields,
    /** A system error code such as `ECONNREFUSED`, when known. */
    code: Schema.optional(Schema.String)
  }
) {}

/**
 * The provider answered with something we could not read: bad JSON, a bad
 * SSE event, or a stream that ended without its terminal event.
 *
 * @example
 * import { MalformedResponse } from "effect-llm-failover/llm"
 *
 * const error = new MalformedResponse({ provider: "anthropic", model: "claude-haiku-4-5", message: "stream ended before message_stop" })
 *
 * @since 0.1.0
 * @category retriable
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>("effect-llm-failover/MalformedResponse")(
  "MalformedResponse",
  { ...fields }
) {}

/**
 * The key or its account was refused: HTTP 401 or 403, 402 (payment
 * required), or what the adapters read as the account's fault whatever the
 * status (an exhausted quota or balance, billing, a spend limit, a request
 * larger than the account's per-minute token limit, a key Google refuses in
 * a 400). Another target may serve the request, so the router skips this
 * one.
 * The key itself never appears.
 *
 * @example
 * import { Unauthorized } from "effect-llm-failover/llm"
 *
 * const error = new Unauthorized({ provider: "openai", model: "gpt-4.1", message: "Incorrect API key provided", status: 401 })
 *
 * @since 0.1.0
 * @category skippable
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("effect-llm-failover/Unauthorized")(
  "Unauthorized",
  { ...fields }
) {}

/**
 * The model does not exist at this provider (HTTP 404).
 *
 * @example
 * import { ModelNotFound } from "effect-llm-failover/llm"
 *
 * const error = new ModelNotFound({ provider: "openai", model: "gpt-5-ultra", message: "The model does not exist", status: 404 })
 *
 * @since 0.1.0
 * @category skippable
 */
export class ModelNotFound extends Schema.TaggedError<ModelNotFound>("effect-llm-failover/ModelNotFound")(
  "ModelNotFound",
  { ...fields }
) {}

/**
 * The provider's call died instead of failing with a provider error: a
 * defect in its adapter, or in a model of your own (a promise that rejected
 * under `Effect.promise` rather than `Effect.tryPromise`, a throw in a
 * `map`). The router makes one of this from the defect, so that a bug in
 * one provider's code costs that provider the request, not the request
 * itself: it counts against the target's breaker and health, is reported as
 * the attempt's failure, and the chain goes on to its next target without
 * retrying (a bug would die again). Interruptions are not defects.
 *
 * `message` names the defect's class and where it was thrown, not its text
 * (a defect's own text may hold anything, a secret included); the defect
 * itself is the error's `cause`, for a debugger or your own logs.
 *
 * @example
 * import { Effect } from "effect"
 * import { ProviderDefect } from "effect-llm-failover/llm"
 *
 * const error = ProviderDefect.fromDefect("my-provider", "my-model", new TypeError("cannot read 'choices'"))
 * error.message // "my-provider/my-model's call died: TypeError at <file>:<line>:<column> (a defect, not an answer of the provider)"
 * error.cause // the TypeError
 *
 * @since 0.1.0
 * @category skippable
 */
export class ProviderDefect extends Schema.TaggedError<ProviderDefect>("effect-llm-failover/ProviderDefect")(
  "ProviderDefect",
  { ...fields }
) {
  /** The error for `defect`, the value a call of `provider`'s `model` died with; the defect is its `cause`. */
  static fromDefect(provider: string, model: string, defect: unknown): ProviderDefect {
    const error = new ProviderDefect({
      provider,
      model,
      message: `${provider}/${model}'s call died: ${Defect.describe(defect)} (a defect, not an answer of the provider)`
    })
    Object.defineProperty(error, "cause", { value: defect, enumerable: false, configurable: true, writable: true })
    return error
  }
}

/**
 * The prompt does not fit this model's context window. The router skips to a
 * target whose window fits.
 *
 * @example
 * import { ContextLengthExceeded } from "effect-llm-failover/llm"
 *
 * const error = new ContextLengthExceeded({
 *   provider: "openai", model: "gpt-4.1-mini", message: "maximum context length is 128000 tokens", status: 400,
 *   contextWindow: 128000
 * })
 *
 * @since 0.1.0
 * @category skippable
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>(
  "effect-llm-failover/ContextLengthExceeded"
)("ContextLengthExceeded", {
  ...fields,
  /** The model's window, when the provider said it. */
  contextWindow: Schema.optional(Schema.Number),
  /** The tokens the request needed, when the provider said it. */
  requestedTokens: Schema.optional(Schema.Number)
}) {}

/**
 * The provider refused on content policy: it refused the prompt (an HTTP
 * 400, Gemini's blocked prompt), or it stopped its answer (a finish on its
 * content filter or on SAFETY, Claude's `refusal` stop, a model's refusal).
 *
 * A stopped answer carries what the provider had answered: `partialText`
 * (set for a stopped answer only, if empty), the model's own `refusal`
 * text when it gave one (OpenAI's structured-output refusals), and the
 * provider's `usage`. OpenAI answers both in full (a 200 with
 * `finish_reason: "content_filter"`, or `message.refusal`), and the gateway
 * does the same: see `isStoppedAnswer`.
 *
 * @example
 * import { ContentFiltered } from "effect-llm-failover/llm"
 *
 * // the prompt refused
 * const refused = new ContentFiltered({ provider: "gemini", model: "gemini-2.5-flash", message: "blocked", reason: "SAFETY" })
 * // an answer stopped after some text
 * const stopped = new ContentFiltered({
 *   provider: "openai", model: "gpt-4.1", message: "stopped on its content filter", reason: "content_filter",
 *   partialText: "Once upon a", usage: { inputTokens: 12, outputTokens: 3 }
 * })
 *
 * @since 0.1.0
 * @category fatal
 */
export class ContentFiltered extends Schema.TaggedError<ContentFiltered>("effect-llm-failover/ContentFiltered")(
  "ContentFiltered",
  {
    ...fields,
    /** The provider's own category or finish reason. */
    reason: Schema.optional(Schema.String),
    /**
     * The text of the answer before the provider stopped it (in a stream,
     * the text it streamed), `""` if none, and `""` in the copies a router
     * keeps in its attempts and events. Absent when the prompt itself was
     * refused: it is what tells the two apart.
     */
    partialText: Schema.optional(Schema.String),
    /** The model's refusal, in its words, when it answered with one instead of an answer. */
    refusal: Schema.optional(Schema.String),
    /** The provider's count of a stopped answer, when it sent one. */
    usage: Schema.optional(Usage)
  }
) {}

/**
 * Whether an error is a provider's stop of its own answer on content
 * policy, which OpenAI answers with a 200 (`finish_reason:
 * "content_filter"`, or `message.refusal`), not a refusal of the prompt,
 * which it answers with a 400.
 *
 * @example
 * import { ContentFiltered, isStoppedAnswer } from "effect-llm-failover/llm"
 *
 * isStoppedAnswer(new ContentFiltered({ provider: "p", model: "m", message: "stopped", partialText: "" })) // true
 * isStoppedAnswer(new ContentFiltered({ provider: "p", model: "m", message: "refused", status: 400 })) // false
 *
 * @since 0.1.0
 * @category refinements
 */
export const isStoppedAnswer = (u: unknown): u is ContentFiltered & { readonly partialText: string } =>
  Predicate.hasProperty(u, "_tag") && u._tag === "ContentFiltered" && Predicate.hasProperty(u, "partialText") &&
  typeof u.partialText === "string"

/**
 * Any other 4xx: the request is at fault and would fail everywhere.
 *
 * @example
 * import { InvalidRequest } from "effect-llm-failover/llm"
 *
 * const error = new InvalidRequest({ provider: "openai", model: "gpt-4.1", message: "temperature must be <= 2", status: 400 })
 *
 * @since 0.1.0
 * @category fatal
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("effect-llm-failover/InvalidRequest")(
  "InvalidRequest",
  { ...fields }
) {}

/**
 * Errors worth retrying on the same target, then failing over.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { isRetriable, type ProviderError, type Retriable } from "effect-llm-failover/llm"
 *
 * // how long to wait before trying the same target again
 * const wait = (error: Retriable): Duration.Duration =>
 *   (error._tag === "RateLimited" || error._tag === "Overloaded") && error.retryAfter !== undefined
 *     ? error.retryAfter
 *     : Duration.millis(250)
 * declare const error: ProviderError
 * const delay = isRetriable(error) ? wait(error) : undefined // undefined: do not retry
 * ```
 *
 * @since 0.1.0
 * @category groups
 */
export type Retriable = RateLimited | Overloaded | ServerError | Timeout | TransportError | MalformedResponse

/**
 * Errors that skip the target at once, without a retry.
 *
 * @example
 * ```ts
 * import type { Skippable } from "effect-llm-failover/llm"
 *
 * // what an operator should fix after the router skipped a target
 * const fix = (error: Skippable): string => {
 *   switch (error._tag) {
 *     case "Unauthorized":
 *       return `check the key of ${error.provider}`
 *     case "ModelNotFound":
 *       return `${error.provider} does not serve ${error.model}`
 *     case "ContextLengthExceeded":
 *       return `add a model with a window over ${error.contextWindow ?? "this one's"} tokens`
 *     case "ProviderDefect":
 *       return `a bug in the code that calls ${error.provider}: see the error's cause`
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category groups
 */
export type Skippable = Unauthorized | ModelNotFound | ContextLengthExceeded | ProviderDefect

/**
 * Errors that end the request: it would fail on every target.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat, type Fatal, isFatal, LanguageModel } from "effect-llm-failover/llm"
 *
 * // the request's own fault: tell the user instead of failing
 * const answer = LanguageModel.complete(Chat.prompt("Hi")).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.catchIf(isFatal, (error: Fatal) =>
 *     Effect.succeed(error._tag === "ContentFiltered" ? "I can't help with that." : `bad request: ${error.message}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category groups
 */
export type Fatal = InvalidRequest | ContentFiltered

/**
 * Every error a provider call can fail with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ProviderError } from "effect-llm-failover/llm"
 *
 * declare const call: Effect.Effect<string, ProviderError>
 * // every provider error has `provider`, `model` and `message`, and `status` when HTTP said it
 * const logged = call.pipe(
 *   Effect.tapError((error: ProviderError) =>
 *     Effect.logWarning(`${error._tag} from ${error.provider}/${error.model} (${error.status ?? "no status"}): ${error.message}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ProviderError = Retriable | Skippable | Fatal

/**
 * The schema of {@link ProviderError}, to encode errors on the wire or decode
 * them back.
 *
 * @example
 * import { Schema } from "effect"
 * import { ProviderError, ServerError } from "effect-llm-failover/llm"
 *
 * const json = Schema.encodeSync(ProviderError)(new ServerError({ provider: "p", model: "m", message: "boom", status: 500 }))
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProviderError: Schema.Union<
  [
    typeof RateLimited,
    typeof Overloaded,
    typeof ServerError,
    typeof Timeout,
    typeof TransportError,
    typeof MalformedResponse,
    typeof Unauthorized,
    typeof ModelNotFound,
    typeof ContextLengthExceeded,
    typeof ProviderDefect,
    typeof ContentFiltered,
    typeof InvalidRequest
  ]
> = Schema.Union(
  RateLimited,
  Overloaded,
  ServerError,
  Timeout,
  TransportError,
  MalformedResponse,
  Unauthorized,
  ModelNotFound,
  ContextLengthExceeded,
  ProviderDefect,
  ContentFiltered,
  InvalidRequest
)

/**
 * The `_tag` of every error in each group.
 *
 * @example
 * import { groups } from "effect-llm-failover/llm"
 *
 * groups.skippable.includes("ModelNotFound") // true: the router moves on to the next target
 *
 * @since 0.1.0
 * @category groups
 */
export const groups = {
  retriable: ["RateLimited", "Overloaded", "ServerError", "Timeout", "TransportError", "MalformedResponse"],
  skippable: ["Unauthorized", "ModelNotFound", "ContextLengthExceeded", "ProviderDefect"],
  fatal: ["InvalidRequest", "ContentFiltered"]
} as const satisfies {
  readonly retriable: ReadonlyArray<Retriable["_tag"]>
  readonly skippable: ReadonlyArray<Skippable["_tag"]>
  readonly fatal: ReadonlyArray<Fatal["_tag"]>
}

const retriableTags: ReadonlySet<string> = new Set(groups.retriable)
const skippableTags: ReadonlySet<string> = new Set(groups.skippable)
const fatalTags: ReadonlySet<string> = new Set(groups.fatal)

const hasTagIn =
  (tags: ReadonlySet<string>) =>
  (u: unknown): boolean =>
    Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag)

/**
 * Whether an error is worth retrying on the same target.
 *
 * @example
 * import { Effect } from "effect"
 * import { isRetriable, type ProviderError } from "effect-llm-failover/llm"
 *
 * declare const call: Effect.Effect<string, ProviderError>
 * const retried = call.pipe(Effect.retry({ times: 2, while: isRetriable }))
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRetriable: (u: unknown) => u is Retriable = hasTagIn(retriableTags) as (u: unknown) => u is Retriable

/**
 * Whether an error skips the target without a retry.
 *
 * @example
 * import { isSkippable, ModelNotFound } from "effect-llm-failover/llm"
 *
 * isSkippable(new ModelNotFound({ provider: "p", model: "m", message: "no" })) // true
 *
 * @since 0.1.0
 * @category refinements
 */
export const isSkippable: (u: unknown) => u is Skippable = hasTagIn(skippableTags) as (u: unknown) => u is Skippable

/**
 * Whether an error ends the request on every target.
 *
 * @example
 * import { isFatal, InvalidRequest } from "effect-llm-failover/llm"
 *
 * isFatal(new InvalidRequest({ provider: "p", model: "m", message: "bad" })) // true
 *
 * @since 0.1.0
 * @category refinements
 */
export const isFatal: (u: unknown) => u is Fatal = hasTagIn(fatalTags) as (u: unknown) => u is Fatal

/**
 * Whether a value is any {@link ProviderError}.
 *
 * @example
 * import { isProviderError } from "effect-llm-failover/llm"
 *
 * isProviderError(new Error("plain")) // false
 *
 * @since 0.1.0
 * @category refinements
 */
export const isProviderError = (u: unknown): u is ProviderError => isRetriable(u) || isSkippable(u) || isFatal(u)

/**
 * The delay a provider asked for, if the error carries one.
 *
 * @example
 * import { Duration, Option } from "effect"
 * import { retryAfter, RateLimited } from "effect-llm-failover/llm"
 *
 * retryAfter(new RateLimited({ provider: "p", model: "m", message: "429", retryAfter: Duration.seconds(3) }))
 * // Option.some(Duration.seconds(3))
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfter = (error: ProviderError): Option.Option<Duration.Duration> =>
  (error._tag === "RateLimited" || error._tag === "Overloaded") && error.retryAfter !== undefined
    ? Option.some(error.retryAfter)
    : Option.none()

/**
 * The context of an HTTP failure, for {@link fromStatus}.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { fromStatus, type StatusContext } from "effect-llm-failover/llm"
 *
 * // an adapter of your own maps a failed HTTP answer
 * const context: StatusContext = { provider: "my-llm", model: "m-1", message: "too many requests", retryAfter: Duration.seconds(5) }
 * fromStatus(429, context) // a RateLimited that asks for 5 seconds
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export interface StatusContext {
  readonly provider: string
  readonly model: string
  readonly message: string
  readonly retryAfter?: Duration.Duration | undefined
  /** `false`: the provider said a retry would not help (`x-should-retry: false`); kept on a retriable class. */
  readonly retryHere?: false | undefined
}

/**
 * Maps an HTTP error status to exactly one error class, by status alone:
 *
 * | status | class |
 * |---|---|
 * | 401, 402, 403 | `Unauthorized` |
 * | 404 | `ModelNotFound` |
 * | 408 | `Timeout` (phase `attempt`: the server gave up waiting) |
 * | 409 | `ServerError` (a transient conflict; the providers' SDKs retry it) |
 * | 413 | `ContextLengthExceeded` (the request is too large for this target) |
 * | 429 | `RateLimited` |
 * | 499 | `ServerError` (Gemini's `CANCELLED`: its backend gave up on the call under load) |
 * | 503, 529 | `Overloaded` |
 * | other 5xx | `ServerError` |
 * | other 4xx | `InvalidRequest` |
 *
 * Adapters refine an answer by its body first (context length, content
 * filter, the account's faults).
 *
 * @example
 * import { fromStatus } from "effect-llm-failover/llm"
 *
 * fromStatus(529, { provider: "anthropic", model: "claude-sonnet-4-5", message: "Overloaded" })._tag // "Overloaded"
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStatus = (status: number, context: StatusContext): ProviderError => {
  const { provider, model, message } = context
  const base = { provider, model, message, status }
  const noRetry = context.retryHere === false ? { ...base, retryHere: false as const } : base
  const withRetryAfter = context.retryAfter === undefined ? noRetry : { ...noRetry, retryAfter: context.retryAfter }
  switch (status) {
    case 401:
    case 402:
    case 403:
      return new Unauthorized(base)
    case 404:
      return new ModelNotFound(base)
    case 408:
      return new Timeout({ ...base, phase: "attempt" })
    case 409:
    case 499:
      return new ServerError(noRetry)
    case 413:
      return new ContextLengthExceeded(base)
    case 429:
      return new RateLimited(withRetryAfter)
    case 503:
    case 529:
      return new Overloaded(withRetryAfter)
  }
  return status >= 500 ? new ServerError(noRetry) : new InvalidRequest(base)
}

/**
 * Transport failures no retry cures: an unknown host, a URL that is not
 * one, a TLS handshake or certificate refused. `EAI_AGAIN` (a resolver that
 * did not answer) is not one of them.
 */
const permanentTransport = /^(?:ENOTFOUND|ERR_INVALID_URL|ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(?:VERIFY|GET)_|ERR_OSSL_)/

/**
 * Whether this error is worth retrying on the same target: a retriable
 * class ({@link isRetriable}), unless the provider said a retry would not
 * help (`retryHere: false`, from its `x-should-retry: false`) or the
 * connection failed in a way no retry cures (an unknown host, a TLS or
 * certificate error: `TransportError` codes such as `ENOTFOUND`,
 * `ERR_SSL_WRONG_VERSION_NUMBER`, `CERT_HAS_EXPIRED`). The router retries
 * what this says, and moves on to the next target at once otherwise.
 *
 * @example
 * import { ServerError, shouldRetry, TransportError } from "effect-llm-failover/llm"
 *
 * shouldRetry(new ServerError({ provider: "p", model: "m", message: "502", status: 502 })) // true
 * shouldRetry(new ServerError({ provider: "p", model: "m", message: "500", status: 500, retryHere: false })) // false
 * shouldRetry(new TransportError({ provider: "p", model: "m", message: "getaddrinfo ENOTFOUND", code: "ENOTFOUND" })) // false
 *
 * @since 0.1.0
 * @category refinements
 */
export const shouldRetry = (u: unknown): u is Retriable => {
  if (!isRetriable(u)) return false
  if (u._tag === "TransportError") return u.code === undefined || !permanentTransport.test(u.code)
  return !("retryHere" in u) || u.retryHere !== false
}
