/**
 * The wire formats the gateway answers in over the same router: each a
 * request decoder, the JSON of a whole answer (and of one its provider
 * stopped on policy), and a stream encoder. The chat route speaks Chat
 * Completions (`request.ts`, `response.ts`); the responses route the
 * Responses API (`responsesRequest.ts`, `responsesResponse.ts`); the
 * messages route Anthropic's Messages API (`messagesRequest.ts`,
 * `messagesResponse.ts`), with Anthropic's error JSON and its `x-api-key`;
 * the Gemini routes the Gemini API (`geminiRequest.ts`,
 * `geminiResponse.ts`), with Google's error JSON and its `x-goog-api-key`.
 *
 * @internal
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Either from "effect/Either"
import { randomUUID } from "node:crypto"
import type { ChatResponse } from "../../llm/Chat.js"
import type { StreamInterrupted } from "../../llm/FailoverError.js"
import type { ContentFiltered, ProviderError } from "../../llm/ProviderError.js"
import * as Tokens from "../../llm/Tokens.js"
import * as Cors from "./cors.js"
import * as Errors from "./errors.js"
import * as GeminiRequest from "./geminiRequest.js"
import * as GeminiResponse from "./geminiResponse.js"
import * as MessagesRequest from "./messagesRequest.js"
import * as MessagesResponse from "./messagesResponse.js"
import * as WireRequest from "./request.js"
import * as WireResponse from "./response.js"
import * as ResponsesRequest from "./responsesRequest.js"
import * as ResponsesResponse from "./responsesResponse.js"

/**
 * A wire format: `D` is what its decoder makes of a request (the neutral
 * request, the chain it names, whether it streams, and what else its
 * answers need).
 *
 * @internal
 */
export interface Wire<D extends WireRequest.Decoded> {
  /**
   * Decodes a parsed JSON body, with the request's headers at hand (the
   * messages route reads `anthropic-beta`; no route sends a client's header
   * upstream but as a field of the neutral request); the left side names the
   * wrong field.
   */
  readonly decode: (body: unknown, header: (name: string) => string | undefined) => Either.Either<D, WireRequest.InvalidField>
  /** The JSON body of a whole answer, created at `created` (Unix seconds). */
  readonly completion: (decoded: D, created: number, response: ChatResponse) => unknown
  /** The JSON body of an answer its provider stopped on policy (see `isStoppedAnswer`). */
  readonly stopped: (decoded: D, created: number, error: ContentFiltered) => unknown
  /** The encoder of one streamed answer, served by `model`. */
  readonly encoder: (decoded: D, created: number, model: string) => WireResponse.StreamEncoder
  /** The JSON body of a failure (OpenAI's `Errors.body` but on the messages route). */
  readonly error: (failure: Errors.Failure) => unknown
  /** A header that may carry the gateway key bare, beside `Authorization: Bearer` (the messages route's `x-api-key`). */
  readonly keyHeader?: string
  /** A failure of the route as its wire format answers it, if not as the gateway does (the messages route's 529). */
  readonly failure?: (failure: Errors.Failure) => Errors.Failure
}

const completionId = (): string => `chatcmpl-${randomUUID().replaceAll("-", "")}`

/**
 * Chat Completions (`POST /v1/chat/completions`).
 *
 * @internal
 */
export const chat: Wire<WireRequest.Decoded> = {
  decode: WireRequest.decode,
  completion: (_, created, response) => WireResponse.completion(completionId(), created, response),
  stopped: (_, created, error) => WireResponse.stoppedCompletion(completionId(), created, error),
  encoder: (decoded, created, model) => new WireResponse.ChunkEncoder(completionId(), created, model, decoded.includeUsage),
  error: Errors.body
}

/**
 * The Responses API (`POST /v1/responses`), stateless.
 *
 * @internal
 */
export const responses: Wire<ResponsesRequest.Decoded> = {
  decode: ResponsesRequest.decode,
  completion: (decoded, created, response) => ResponsesResponse.completion(ResponsesResponse.responseId(), created, decoded.echo, response),
  stopped: (decoded, created, error) => ResponsesResponse.stoppedCompletion(ResponsesResponse.responseId(), created, decoded.echo, error),
  encoder: (decoded, created, model) => new ResponsesResponse.ResponseEncoder(ResponsesResponse.responseId(), created, model, decoded.echo),
  error: Errors.body
}

/**
 * Anthropic's Messages API (`POST /v1/messages`): its errors in Anthropic's
 * JSON (an exhausted chain a 529, as Anthropic answers its overload), the
 * key also taken from `x-api-key`.
 *
 * @internal
 */
export const messages: Wire<MessagesRequest.Decoded> = {
  decode: (body, header) => MessagesRequest.decode(body, header("anthropic-beta")),
  completion: (decoded, __, response) => MessagesResponse.completion(MessagesResponse.messageId(), response, decoded.request.messages),
  stopped: (_, __, error) => MessagesResponse.stoppedCompletion(MessagesResponse.messageId(), error),
  encoder: (decoded, _, model) =>
    new MessagesResponse.MessageEncoder(MessagesResponse.messageId(), model, Tokens.estimate(decoded.request), decoded.request.messages),
  error: MessagesResponse.errorJson,
  keyHeader: "x-api-key",
  failure: MessagesResponse.anthropicStatus
}

/**
 * The body of `POST /v1/messages/count_tokens` (a Messages request without
 * `max_tokens`), answered by the gateway itself, in the messages route's
 * wire format otherwise.
 *
 * @internal
 */
export const messageTokens: Wire<MessagesRequest.Decoded> = { ...messages, decode: (body) => MessagesRequest.decodeCount(body) }

/**
 * The body of `POST /v1/responses/input_tokens` (a Responses request),
 * answered by the gateway itself, in the Responses route's wire format
 * otherwise.
 *
 * @internal
 */
export const responseTokens: Wire<ResponsesRequest.Decoded> = { ...responses, decode: (body) => ResponsesRequest.decodeCount(body) }

/** The header Google's clients send the key in, bare. @internal */
export const geminiKeyHeader = "x-goog-api-key"

/** A query parameter named as keys are (`key`, `api_key`, `access_token`, ...). */
const queryKeyName = /^(?:(?:x-)?(?:goog-)?api[-_]?key|key|(?:access[-_]?)?token|auth|secret)$/i

/**
 * Whether a request's URL carries what may be a key in its query (`?key=`,
 * as Gemini's API takes it): the gateway takes none there, and such a URL
 * is kept out of spans.
 *
 * @internal
 */
export const carriesQueryKey = (url: string): boolean => {
  const at = url.indexOf("?")
  if (at < 0) return false
  for (const pair of url.slice(at + 1).split("&")) {
    const name = pair.split("=", 1)[0] ?? ""
    let decoded = name
    try {
      decoded = decodeURIComponent(name)
    } catch {
      // a name that is not valid percent-encoding is judged as it is written
    }
    if (queryKeyName.test(decoded)) return true
  }
  return false
}

/** Every header a client may send the gateway's key in: redacted in the server's spans. @internal */
export const keyHeaderNames: ReadonlyArray<string> = ["authorization", "x-api-key", geminiKeyHeader]

/**
 * The Gemini API (`POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent`, as SSE with `alt=sse`, else a JSON array), for
 * the call a request's URL names (its model and method are there, not in
 * the body): its errors in
 * Google's JSON, the key also taken from `x-goog-api-key`.
 *
 * @internal
 */
export const gemini = (call: GeminiRequest.Call): Wire<GeminiRequest.Decoded> => ({
  decode: (body) => GeminiRequest.decode(body, call),
  completion: (_, __, response) => GeminiResponse.completion(GeminiResponse.responseId(), response),
  stopped: (_, __, error) => GeminiResponse.stoppedCompletion(GeminiResponse.responseId(), error),
  encoder: (_, __, model) => new GeminiResponse.ResponseEncoder(GeminiResponse.responseId(), model, call.sse ? "sse" : "array"),
  error: GeminiResponse.errorJson,
  keyHeader: geminiKeyHeader
})

/**
 * A Gemini route's 401 for a request without a key that has one in its
 * query (`?key=`, as Google's curl examples send it): the message says
 * that key is not taken, and why (a URL is recorded where a header is
 * not: access logs, proxies, traces), never quoting it; any other failure
 * as it is.
 *
 * @internal
 */
export const geminiQueryKey = (failure: Errors.Failure): Errors.Failure =>
  failure.status !== 401
    ? failure
    : new Errors.Failure({
        status: failure.status,
        type: failure.type,
        code: failure.code,
        param: failure.param,
        message: `You didn't provide an API key: a key in the URL ('?key=') is not taken, as URLs are recorded where headers are not ` +
          `(access logs, proxies, traces). Send it in the ${geminiKeyHeader} header ('${geminiKeyHeader}: YOUR_KEY') or the ` +
          "Authorization header ('Authorization: Bearer YOUR_KEY').",
        ...(failure.headers !== undefined ? { headers: failure.headers } : {})
      })

/**
 * The body of `POST /v1beta/models/{model}:countTokens` (`contents`, or a
 * whole request as `generateContentRequest`), answered by the gateway
 * itself, in the Gemini routes' wire format otherwise.
 *
 * @internal
 */
export const geminiTokens = (call: GeminiRequest.Call): Wire<GeminiRequest.Decoded> => ({
  ...gemini(call),
  decode: (body) => GeminiRequest.decodeCount(body, call)
})

/**
 * The status a failure of this kind has before a stream's first event (an
 * overload 503, a rate limit 429, a timeout 504, else 502): what the
 * messages route types its error event by (Anthropic's own streams send
 * `overloaded_error`, `rate_limit_error`, ... there). The other routes'
 * error events carry no status.
 */
const interruptedStatus = (cause: ProviderError): number => {
  switch (cause._tag) {
    case "Overloaded":
      return 503
    case "RateLimited":
      return 429
    case "Timeout":
      return 504
    default:
      return 502
  }
}

/**
 * The failure that ends a stream after its first event: the gateway's own
 * (its deadline passed) as it is; a provider's failure after content was
 * sent `stream_interrupted`, its status by its cause's kind (see
 * `interruptedStatus`), its message naming the cause's tag.
 *
 * @internal
 */
export const streamFailure = (error: StreamInterrupted | Errors.Failure): Errors.Failure =>
  error._tag === "GatewayFailure"
    ? error
    : new Errors.Failure({
        status: interruptedStatus(error.cause),
        type: "server_error",
        code: "stream_interrupted",
        param: null,
        message: `The stream from ${error.provider}/${error.model} failed after content was sent (${error.cause._tag}); the answer is incomplete.`
      })

/** A request's header by its lower-case name. @internal */
export type Header = (name: string) => string | undefined

/**
 * A request URL's path as the platform's router reads it to find a route
 * (`find-my-way-ts`, with its duplicate slashes ignored, a trailing slash
 * ignored, and case ignored): an absolute-form URL's scheme and host
 * dropped, cut at the query and at `;` or `#` (which it reads as one),
 * doubled slashes made one, the percent-escapes of what is not a
 * delimiter decoded (and `%3A`, which it decodes in a Gemini route's
 * `{model}:{method}`), a trailing slash dropped, and the routes' own
 * words lower-cased (`/V1/Messages` is `/v1/messages`; a Gemini model's
 * name and method after `/models/` are kept as written, as the route reads
 * them). Every choice made by path (the error shape, the wire headers, a
 * 405, the `Host` check) is made on it, so that a path the router takes to
 * a route is answered as that route's (an Anthropic client's errors in
 * Anthropic's JSON however its path is written).
 *
 * @internal
 */
export const routePath = (url: string): string => {
  let path = url.charCodeAt(0) === 47 ? url : url.replace(/^https?:\/\/.*?\//, "/")
  const cut = path.search(/[?;#]/)
  if (cut >= 0) path = path.slice(0, cut)
  if (path.includes("//")) path = path.replace(/\/{2,}/g, "/")
  if (path.includes("%")) {
    try {
      path = decodeURI(path).replace(/%3a/gi, ":")
    } catch {
      // not percent-encoding: no route's (a 400 or 404 names it as sent)
    }
  }
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1)
  const lower = path.toLowerCase()
  const models = /^\/v1(beta)?\/models\//.exec(lower)
  return models === null ? lower : models[0] + path.slice(models[0].length)
}

/**
 * The wire format whose error JSON answers a request for `path`, whatever
 * fails (a route, or what comes before one: a 404, a 405, the `Host`
 * check): Anthropic's under `/v1/messages` and on the model list asked
 * with `anthropic-version` (see `isAnthropic`), Google's on the Gemini
 * routes (see `isGemini`; an array of it for a JSON-array stream, as
 * Gemini answers one, `query` being the request's), OpenAI's elsewhere.
 *
 * @internal
 */
export const errorsOf = (path: string, header?: Header, query = ""): (failure: Errors.Failure) => unknown =>
  isAnthropic(path, header)
    ? messages.error
    : !isGemini(path)
    ? Errors.body
    : isArrayStream(path, query)
    ? geminiArrayError
    : GeminiResponse.errorJson

/** Google's error JSON as a JSON-array stream's whole body: an array of the one error, as Gemini answers it. */
const geminiArrayError = (failure: Errors.Failure): unknown => [GeminiResponse.errorJson(failure)]

/** Whether a request asks for Gemini's JSON-array stream: `:streamGenerateContent` with no `alt`, or `alt=json`. */
const isArrayStream = (path: string, query: string): boolean => {
  if (!path.endsWith(":streamGenerateContent")) return false
  const alt = new URLSearchParams(query).get("alt")
  return alt === null || alt === "json"
}

/** Whether `path` is the model list or a model under it, whose format `anthropic-version` chooses (see `isAnthropic`). */
const isModelList = (path: string): boolean => path === "/v1/models" || (path.startsWith("/v1/models/") && !geminiV1.test(path))

/** Whether `path` is the messages route or under it, where Anthropic's wire format answers. @internal */
export const isMessages = (path: string): boolean => path === "/v1/messages" || path.startsWith("/v1/messages/")

/**
 * Whether a request is answered in Anthropic's wire format: the messages
 * route's, and one for `/v1/models` or a model under it (not a Gemini
 * method's path) with an `anthropic-version` header, which Anthropic's
 * SDKs send with every request (`client.models.list()`).
 *
 * @internal
 */
export const isAnthropic = (path: string, header?: Header): boolean =>
  isMessages(path) || (isModelList(path) && header !== undefined && header("anthropic-version") !== undefined)

/**
 * Whether `path` is a Gemini route's, where Google's wire format answers:
 * anything under `/v1beta/`, and a Gemini method's path under `/v1/models/`
 * (`/v1/models/{model}:generateContent`; `GET /v1/models/{id}` stays
 * OpenAI's).
 *
 * @internal
 */
export const isGemini = (path: string): boolean => path.startsWith("/v1beta/") || geminiV1.test(path)

const geminiV1 = /^\/v1\/models\/.+:(generateContent|streamGenerateContent|countTokens)$/

/**
 * The headers an answer's wire format adds: on the model list `Vary:
 * anthropic-version` (its errors too: the header chooses their format),
 * and in Anthropic's wire format (see `isAnthropic`) the request id as
 * Anthropic sends it, `request-id` (beside `x-request-id`):
 * Anthropic's SDK reads that header into a message's `_request_id` and an
 * error's `requestID` and message, so the id a user quotes is the one on
 * the gateway's log line.
 *
 * @internal
 */
export const withWireHeaders = (
  path: string,
  requestId: string,
  response: HttpServerResponse.HttpServerResponse,
  header?: Header
): HttpServerResponse.HttpServerResponse => {
  // the model list answers in the format anthropic-version chooses, its errors too: a cache must keep them apart
  const varied = isModelList(path)
    ? HttpServerResponse.setHeader(response, "vary", Cors.varyWith(response.headers["vary"], "anthropic-version"))
    : response
  return isAnthropic(path, header) ? HttpServerResponse.setHeader(varied, "request-id", requestId) : varied
}
