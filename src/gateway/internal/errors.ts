/**
 * Every way a gateway request can fail, as an HTTP status and OpenAI's error
 * JSON `{ "error": { "message", "type", "param", "code" } }`, and the
 * mapping of the router's errors onto them.
 *
 * Messages name fields, targets, error tags and statuses; they never hold a
 * key, an upstream's own error text (which may quote a key) or prompt text.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { Attempt, ChainExhausted, Rejected } from "../../llm/FailoverError.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import type { ChainError } from "../../router/Router.js"

/**
 * A request the gateway answers with an error.
 *
 * @internal
 */
export class Failure extends Data.TaggedError("GatewayFailure")<{
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly param: string | null
  readonly message: string
  readonly headers?: Readonly<Record<string, string>>
  /** Extra fields of the `error` object (e.g. the attempts of an exhausted chain). */
  readonly details?: Readonly<Record<string, unknown>>
}> {}

/** The JSON body of a failure. @internal */
export const body = (failure: Failure) => ({
  error: {
    message: failure.message,
    type: failure.type,
    param: failure.param,
    code: failure.code,
    ...failure.details
  }
})

const invalidRequest = (status: number, message: string, code: string | null, param: string | null = null, headers?: Record<string, string>) =>
  new Failure({ status, type: "invalid_request_error", code, param, message, ...(headers ? { headers } : {}) })

/** 400: a field is wrong, or the body is not JSON. @internal */
export const badRequest = (message: string, param: string | null): Failure => invalidRequest(400, message, null, param)

/**
 * 401: no key, or not one of the gateway's keys; `bare` names a header
 * that may carry the key bare, on routes that take one (`x-api-key`).
 *
 * @internal
 */
export const unauthorized = (sent: boolean, bare?: string): Failure =>
  invalidRequest(
    401,
    sent
      ? "Incorrect API key provided."
      : bare === undefined
      ? "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'."
      : `You didn't provide an API key. Send it in the ${bare} header ('${bare}: YOUR_KEY') or the Authorization header ('Authorization: Bearer YOUR_KEY').`,
    "invalid_api_key",
    null,
    { "www-authenticate": 'Bearer realm="gateway"' }
  )

/** 404: no chain and no model alias of that name; `near`, a name of the caller's that is close to it. @internal */
export const modelNotFound = (model: string, near?: string): Failure =>
  invalidRequest(
    404,
    `The model '${printable(model, 100)}' does not exist${near === undefined ? "" : ` (did you mean '${printable(near, 100)}'?)`}: ` +
      `name a chain or a model alias (GET /v1/models lists them).`,
    "model_not_found",
    "model"
  )

/** 403: the client's key may not call this chain or model alias (`Gateway.ClientKey.models`). @internal */
export const modelNotAllowed = (model: string, client: string): Failure =>
  invalidRequest(
    403,
    `The key '${printable(client, 100)}' may not call the model '${printable(model, 100)}' (GET /v1/models lists the models it may call).`,
    "model_not_allowed",
    "model"
  )

/** 403: a route for the gateway's own keys (bare ones), asked with a client's key. @internal */
export const operatorsOnly = (path: string, client: string): Failure =>
  invalidRequest(
    403,
    `The key '${printable(client, 100)}' is a client's key: ${printable(path, 200)} answers the gateway's own keys (those without a name) only.`,
    "key_not_allowed"
  )

/** 429: the client's key is over its requests or tokens a minute (`Gateway.ClientKey.rpm`, `tpm`). @internal */
export const keyRateLimited = (client: string, limit: "rpm" | "tpm", value: number, retryAfter: Duration.Duration): Failure => {
  const seconds = Math.max(1, Math.ceil(Duration.toMillis(retryAfter) / 1000))
  const what = limit === "rpm" ? "requests per minute (RPM)" : "tokens per minute (TPM)"
  return new Failure({
    status: 429,
    type: limit === "rpm" ? "requests" : "tokens",
    code: "rate_limit_exceeded",
    param: null,
    message: `Rate limit reached for the key '${printable(client, 100)}' on ${what}: limit ${value}. Please try again in ${seconds}s.`,
    headers: { "retry-after": String(seconds) }
  })
}

/**
 * 429: the client's key has spent its cap for the window (`Gateway.ClientKey.spend`),
 * with `x-should-retry: false`, which the OpenAI and Anthropic SDKs obey: their
 * retries, moments apart, would find it spent still. @internal
 */
export const spendCapReached = (
  client: string,
  spent: number,
  usd: number,
  window: Duration.Duration,
  firstLeaves: Duration.Duration | undefined
): Failure => {
  // when the first of what it spent leaves the window: the earliest it can be under the cap again
  const seconds = firstLeaves === undefined ? undefined : Math.max(1, Math.ceil(Duration.toMillis(firstLeaves) / 1000))
  return new Failure({
    status: 429,
    type: "insufficient_quota",
    code: "insufficient_quota",
    param: null,
    message: `The key '${printable(client, 100)}' has spent $${spent.toFixed(4)} of its cap of $${usd.toFixed(2)} for a window of ` +
      `${Duration.format(window)}; what it spent leaves the window a 24th of it at a time` +
      `${seconds === undefined ? "" : `, the first of it in ${seconds}s`}.`,
    // OpenAI's and Anthropic's SDKs retry a 429 unless told not to; Google's reads the wait (`retry-after` as RetryInfo)
    headers: { "x-should-retry": "false", ...(seconds === undefined ? {} : { "retry-after": String(seconds) }) }
  })
}

/** 404: no such route. @internal */
export const unknownUrl = (method: string, path: string): Failure =>
  invalidRequest(404, `Unknown request URL: ${method} ${printable(path, 200)}.`, "unknown_url")

/** 405: the route exists, with other methods. @internal */
export const methodNotAllowed = (method: string, path: string, allowed: ReadonlyArray<string>): Failure =>
  invalidRequest(405, `Method ${method} is not allowed on ${path}: use ${allowed.join(" or ")}.`, "method_not_allowed", null, {
    allow: allowed.join(", ")
  })

/** 413: the body is larger than the limit. The connection closes: its rest is never read. @internal */
export const tooLarge = (limit: number): Failure =>
  invalidRequest(413, `The request body is larger than the limit of ${limit} bytes.`, "request_too_large", null, {
    connection: "close"
  })

/** 408: the body did not arrive in time; the connection closes, its rest unread. @internal */
export const bodyTimedOut = (after: Duration.Duration): Failure =>
  invalidRequest(408, `The request body did not arrive within ${Duration.format(after)}.`, "request_timeout", null, {
    connection: "close"
  })

/**
 * What Node's HTTP parser refused, by its error's code: a head past its size
 * limit (431), chunk extensions past theirs (413), a head that did not
 * arrive in time (408), else a request that is not valid HTTP/1.1 (400,
 * naming the parser's code). The connection closes. @internal
 */
export const malformedHttp = (code: string | undefined): Failure => {
  const close = { connection: "close" }
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return invalidRequest(431, "The request's head (its request line and headers) is larger than the server's limit.", "request_header_fields_too_large", null, close)
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return invalidRequest(413, "The request's chunk extensions are larger than the server's limit.", "request_too_large", null, close)
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return invalidRequest(408, "The request did not arrive in time.", "request_timeout", null, close)
    default:
      return invalidRequest(400, `The request is not valid HTTP/1.1${code === undefined ? "" : ` (${printable(code, 60)})`}.`, "invalid_http", null, close)
  }
}

/** 400: an HTTP/1.1 request without a `Host` header, which HTTP/1.1 asks of every request. The connection closes. @internal */
export const missingHost = (): Failure =>
  invalidRequest(400, "The request has no Host header, which HTTP/1.1 requires.", "missing_host", null, { connection: "close" })

/** 417: an `Expect` other than `100-continue`, which no route honours. The connection closes. @internal */
export const expectationFailed = (expectation: string): Failure =>
  invalidRequest(417, `The Expect header '${printable(expectation, 60)}' is not supported: only 100-continue is.`, "expectation_failed", null, {
    connection: "close"
  })

/** 415: the body is not declared as JSON. @internal */
export const unsupportedMediaType = (): Failure =>
  invalidRequest(415, "The Content-Type must be application/json.", "unsupported_media_type", null, { connection: "close" })

/**
 * 403: a request addressed to another name than a loopback one, to a
 * gateway on a loopback address with no keys (a page whose name a DNS
 * rebinding pointed at 127.0.0.1). The connection closes.
 *
 * @internal
 */
export const hostNotAllowed = (): Failure =>
  invalidRequest(
    403,
    "This gateway listens on a loopback address with no gateway keys: it answers requests addressed to localhost or a loopback address only. Set gateway.keys to serve it under another name.",
    "host_not_allowed",
    null,
    { connection: "close" }
  )

/**
 * 403: a route that asks no key (`/metrics`, `/status`, `/healthz`) on a
 * gateway that listens on a loopback address, asked under a name that is
 * not a loopback one (a page whose name a DNS rebinding pointed at
 * 127.0.0.1, say), with the connection closed.
 *
 * @internal
 */
export const openRouteHostNotAllowed = (): Failure =>
  invalidRequest(
    403,
    "This gateway listens on a loopback address: the routes that ask no key answer requests addressed to localhost or a loopback address only. Send Host: localhost, or serve them on the admin listener.",
    "host_not_allowed",
    null,
    { connection: "close" }
  )

/**
 * 403: a browser's preflight from a page whose origin is not among
 * `cors.origins`.
 *
 * @internal
 */
export const originNotAllowed = (origin: string): Failure =>
  invalidRequest(
    403,
    `Cross-origin requests from ${printable(origin, 100)} are not allowed: add the origin to gateway.cors.origins.`,
    "origin_not_allowed",
    null
  )

/** 429: the gateway's own queue is full. @internal */
export const busy = (): Failure =>
  new Failure({
    status: 429,
    type: "rate_limit_exceeded",
    code: "gateway_busy",
    param: null,
    message: "The gateway is at its limit of concurrent requests and its queue is full. Retry shortly.",
    headers: { "retry-after": "1" }
  })

/**
 * 429: the request bodies being read at once hold the gateway's whole
 * allowance for them (`maxBufferedBytes`). The connection closes: this
 * body is not read.
 *
 * @internal
 */
export const uploadsFull = (): Failure =>
  new Failure({
    status: 429,
    type: "rate_limit_exceeded",
    code: "gateway_busy",
    param: null,
    message: "The gateway is reading as many request bodies as it holds at once. Retry shortly.",
    headers: { "retry-after": "1", connection: "close" }
  })

/**
 * 429: the request bodies of one client's key being read at once hold its
 * share of the gateway's allowance for them (a quarter of
 * `maxBufferedBytes`, at least one whole body). The connection closes: this
 * body is not read.
 *
 * @internal
 */
export const keyUploadsFull = (name: string): Failure =>
  new Failure({
    status: 429,
    type: "rate_limit_exceeded",
    code: "gateway_busy",
    param: null,
    message: `The gateway is reading as many request bodies of the key '${printable(name, 100)}' as it holds at once for one key. Retry shortly.`,
    headers: { "retry-after": "1", connection: "close" }
  })

/** 503: the gateway is shutting down. @internal */
export const shuttingDown = (): Failure =>
  new Failure({
    status: 503,
    type: "server_error",
    code: "shutting_down",
    param: null,
    message: "The gateway is shutting down. Retry on another instance.",
    headers: { connection: "close", "retry-after": "1" }
  })

/** 504: the gateway's own deadline for the request passed. @internal */
export const timedOut = (after: Duration.Duration): Failure =>
  new Failure({
    status: 504,
    type: "timeout",
    code: "request_timeout",
    param: null,
    message: `The request did not finish within the gateway's limit of ${Duration.format(after)}.`
  })

/** 500: a bug. The details go to the log, not to the client. @internal */
export const internal = (): Failure =>
  new Failure({ status: 500, type: "server_error", code: "internal_error", param: null, message: "The gateway failed unexpectedly." })

// ---------------------------------------------------------------------------
// The gateway's own refusals, counted
// ---------------------------------------------------------------------------

/**
 * The requests the gateway answered itself with an error, its router never
 * asked (a bad body, a key, a model, a route, its limits, its shutdown), by
 * status and reason: the failure's code (its type when it has none), one of
 * this module's own, never anything the client sent.
 *
 * @internal
 */
export const refusals = Metric.counter("llm_gateway_refusals_total", {
  description:
    "Requests the gateway answered itself with an error before its router, by status and reason (the error's code: invalid_request_error, invalid_api_key, model_not_found, unknown_url, rate_limit_exceeded, gateway_busy, ...)",
  incremental: true
})

/** Each series of `refusals` tagged once, by status and reason. */
const refusalSeries = new Map<string, Effect.Effect<void>>()

/** Counts `failure` in `refusals`. @internal */
export const countRefusal = (failure: Failure): Effect.Effect<void> => {
  const reason = failure.code ?? failure.type
  const series = `${failure.status} ${reason}`
  let counted = refusalSeries.get(series)
  if (counted === undefined) {
    counted = Metric.increment(Metric.tagged(Metric.tagged(refusals, "status", String(failure.status)), "reason", reason))
    refusalSeries.set(series, counted)
  }
  return counted
}

// ---------------------------------------------------------------------------
// The router's errors
// ---------------------------------------------------------------------------

/** Text safe for a message or a log: printable ASCII, bounded. @internal */
export const printable = (text: string, max: number): string => {
  const clean = text.replace(/[^\x20-\x7e]/g, "?")
  return clean.length > max ? `${clean.slice(0, max)}...` : clean
}

/** One target's last failure, in words and as data. @internal */
export interface TargetFailure {
  readonly target: string
  readonly provider: string
  readonly model: string
  readonly error: string
  readonly status?: number
  readonly reason?: string
  readonly retryAfterSeconds?: number
}

const retryAfterOf = (error: ProviderError | Rejected): Duration.Duration | undefined =>
  error._tag === "RateLimited" || error._tag === "Overloaded" || error._tag === "Rejected" ? error.retryAfter : undefined

const reasonOf = (error: ProviderError | Rejected): string | undefined => {
  switch (error._tag) {
    case "Rejected":
      return error.reason
    case "Timeout":
      return error.phase
    case "TransportError":
      return error.code
    default:
      return undefined
  }
}

/**
 * A wait worth telling a client, in milliseconds: finite and positive. An
 * isolated breaker's infinite wait and a half-open breaker's zero are not.
 */
const usableWait = (duration: Duration.Duration | undefined): number | undefined => {
  if (duration === undefined || !Duration.isFinite(duration)) return undefined
  const millis = Duration.toMillis(duration)
  return millis > 0 ? millis : undefined
}

const wholeSeconds = (millis: number): number => Math.ceil(millis / 1000)

/** Each target's last failure, in the order the targets were first tried. @internal */
export const lastFailures = (attempts: ReadonlyArray<Attempt>): ReadonlyArray<TargetFailure & { readonly cause: ProviderError | Rejected }> => {
  const last = new Map<string, Attempt & { readonly error: ProviderError | Rejected }>()
  for (const attempt of attempts) {
    if (attempt.error !== undefined) {
      // a target tried again keeps its place (a Map keeps first insertions' order), with its last failure
      last.set(attempt.target, attempt as Attempt & { readonly error: ProviderError | Rejected })
    }
  }
  return [...last.values()].map((attempt) => {
    const error = attempt.error
    const status = error._tag === "Rejected" ? undefined : error.status
    const reason = reasonOf(error)
    const retryAfter = retryAfterOf(error)
    const finite = retryAfter !== undefined && Duration.isFinite(retryAfter) ? Duration.toMillis(retryAfter) : undefined
    return {
      target: attempt.target,
      provider: attempt.provider,
      model: attempt.model,
      error: error._tag,
      ...(status !== undefined ? { status } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(finite !== undefined ? { retryAfterSeconds: wholeSeconds(finite) } : {}),
      cause: error
    }
  })
}

/**
 * Whether a failure only asks the caller to come back later: a provider's
 * rate limit, an overload with a Retry-After, or the router's own rate limit
 * for the target. An open circuit is not: it may have been opened by server
 * errors, and an isolated one never reopens by itself.
 */
const isPushback = (error: ProviderError | Rejected): boolean => {
  switch (error._tag) {
    case "RateLimited":
      return true
    case "Overloaded":
      return error.retryAfter !== undefined
    case "Rejected":
      // the router's own limit, or a breaker held open by its server's Retry-After (a 429 before)
      return error.reason === "rate-limit" || error.serverAsked === true
    default:
      return false
  }
}

/**
 * The longest Retry-After (seconds) an exhausted chain leaves to the SDKs'
 * own retries. The OpenAI and Anthropic SDKs sleep whatever Retry-After
 * says before they retry (their older versions only up to a minute), and
 * neither their timeout nor, for OpenAI's, an abort ends the sleep: past a
 * minute, the answer says `x-should-retry: false`, which they obey, and
 * the client gets the 429 or 503 at once, with its Retry-After, to decide.
 */
const sdkRetryWait = 60

/** What an exhausted chain tells the client about coming back. */
interface Advice {
  /** Every target only asked to come back later: answer 429, not 503. */
  readonly rateLimited: boolean
  /** The Retry-After to send, in whole seconds (>= 1), if any. */
  readonly retryAfter?: number
}

type Failed = { readonly cause: ProviderError | Rejected }

/** The smallest usable wait of the failures, in whole seconds; `undefined` if one of them has none. */
const commonWait = (failures: ReadonlyArray<Failed>): number | undefined => {
  let smallest = Infinity
  for (const failure of failures) {
    const wait = usableWait(retryAfterOf(failure.cause))
    if (wait === undefined) return undefined
    smallest = Math.min(smallest, wait)
  }
  return failures.length === 0 ? undefined : wholeSeconds(smallest)
}

/**
 * How an exhausted chain asks the client to come back. When every target's
 * last failure was a rate limit (see `isPushback`), it is rate limited and
 * Retry-After is the smallest wait in whole seconds, rounded up (1 when no
 * target said how long). Otherwise it is not, and Retry-After is sent only
 * when every target gave a finite, positive wait (e.g. open circuits that
 * close again): the smallest of them.
 */
const advice = (failures: ReadonlyArray<Failed>): Advice => {
  if (failures.length > 0 && failures.every((f) => isPushback(f.cause))) {
    const waits = failures.filter((f) => usableWait(retryAfterOf(f.cause)) !== undefined)
    return { rateLimited: true, retryAfter: commonWait(waits) ?? 1 }
  }
  const wait = commonWait(failures)
  return wait === undefined ? { rateLimited: false } : { rateLimited: false, retryAfter: wait }
}

const describe = (failure: TargetFailure): string => {
  const detail = [failure.status, failure.reason].filter((x) => x !== undefined).join(", ")
  return `${failure.target} (${failure.error}${detail.length > 0 ? ` ${detail}` : ""})`
}

/** A failure saying the request is too long: a provider's, or the router's before calling (the window is too small). */
const tooLong = (error: ProviderError | Rejected): boolean =>
  error._tag === "ContextLengthExceeded" || (error._tag === "Rejected" && error.reason === "context-too-small")

/**
 * A target that cannot give the JSON answer asked for: passed over by the
 * router, or refused by its provider as invalid (an exhausted chain holds an
 * `InvalidRequest` only then: any other ends the request at once).
 */
const formatRefused = (error: ProviderError | Rejected): boolean =>
  (error._tag === "Rejected" && error.reason === "unsupported-format") || error._tag === "InvalidRequest"

/**
 * What the first provider that refused the format said, when one did: its
 * message as the adapter scrubbed it (no key, no secret header), cut to 300
 * printable characters, as the `invalid_request` answer gives it. A server
 * that echoes part of the request echoes the caller's own.
 */
const providerSaid = (failures: ReadonlyArray<Failed>): string => {
  const refusal = failures.find((f) => f.cause._tag === "InvalidRequest")?.cause
  return refusal === undefined || refusal._tag === "Rejected"
    ? ""
    : ` ${refusal.provider}${refusal.status === undefined ? "" : ` ${refusal.status}`}: ${printable(refusal.message, 300)}`
}

const exhausted = (error: ChainExhausted): Failure => {
  const failures = lastFailures(error.attempts)
  const list = failures.map(describe).join(", ") || "no target could be tried"
  const attempts = failures.map(({ cause: _, ...rest }) => rest)
  const headers: Record<string, string> = {
    "x-llm-chain": printable(error.chain, 200),
    "x-llm-attempts": String(error.attempts.length)
  }
  if (failures.length > 0 && failures.every((f) => tooLong(f.cause))) {
    // the request's own fault: no target's window holds it, and a retry would not change that
    return new Failure({
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "messages",
      message: `The request does not fit the context window of any target of '${error.chain}': ${list}.`,
      headers,
      details: { attempts }
    })
  }
  if (
    failures.length > 0 &&
    failures.some((f) => formatRefused(f.cause)) &&
    failures.every((f) => formatRefused(f.cause) || tooLong(f.cause) || f.cause._tag === "ContentFiltered")
  ) {
    // as above: no target can give the answer in the form asked for (a content-policy refusal that handed it
    // to a chain that cannot is the request's own fault too)
    return new Failure({
      status: 400,
      type: "invalid_request_error",
      code: "unsupported_response_format",
      param: "response_format",
      message: `No target of '${error.chain}' can answer in the requested response_format: ${list}.${providerSaid(failures)}`,
      headers,
      details: { attempts }
    })
  }
  if (error.deadlinePassed === true) {
    return new Failure({
      status: 504,
      type: "timeout",
      code: "deadline_exceeded",
      param: null,
      message: `No target of '${error.chain}' answered within the chain's total deadline: ${list}.`,
      headers,
      details: { attempts }
    })
  }
  const { rateLimited, retryAfter } = advice(failures)
  const retry = retryAfter === undefined ? "" : ` Retry after ${retryAfter} seconds.`
  if (retryAfter !== undefined) {
    headers["retry-after"] = String(retryAfter)
    if (retryAfter > sdkRetryWait) headers["x-should-retry"] = "false"
  }
  return rateLimited
    ? new Failure({
        status: 429,
        type: "rate_limit_exceeded",
        code: "rate_limit_exceeded",
        param: null,
        message: `Every target of '${error.chain}' is rate limited: ${list}.${retry}`,
        headers,
        details: { attempts }
      })
    : new Failure({
        status: 503,
        type: "server_error",
        code: "chain_exhausted",
        param: null,
        message: `Every target of '${error.chain}' failed: ${list}.${retry}`,
        headers,
        details: { attempts }
      })
}

/**
 * The answer to a router failure: 400 for a request every provider would
 * refuse (`content_filter` for a policy refusal of the prompt,
 * `context_length_exceeded` when no target's window holds it), 429 or 503
 * for an exhausted chain. (A provider's stop of its own answer on policy is
 * no failure: the app answers it with a 200, as OpenAI does; see
 * `isStoppedAnswer`.)
 *
 * @internal
 */
export const fromChainError = (error: ChainError): Failure => {
  switch (error._tag) {
    case "InvalidRequest":
      return new Failure({
        status: 400,
        type: "invalid_request_error",
        code: "invalid_request",
        param: null,
        message: `The provider refused the request as invalid (${error.provider}${error.status === undefined ? "" : ` ${error.status}`}): ${printable(error.message, 500)}`
      })
    case "ContentFiltered":
      return new Failure({
        status: 400,
        type: "invalid_request_error",
        code: "content_filter",
        param: null,
        message: `The provider (${error.provider}) refused the request on its content policy.`
      })
    case "ChainExhausted":
      return exhausted(error)
  }
}
