/**
 * Mapping every foreign failure (an HTTP status and its error body, an
 * in-stream error event, a transport error) to exactly one `ProviderError`,
 * always through `fromStatus`, after refining a 400 by its body.
 *
 * @internal
 */
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import type { Usage } from "../../llm/Chat.js"
import {
  ContentFiltered,
  ContextLengthExceeded,
  fromStatus,
  InvalidRequest,
  MalformedResponse,
  ModelNotFound,
  Overloaded,
  type ProviderError,
  RateLimited,
  ServerError,
  Timeout,
  type TimeoutPhase,
  TransportError,
  Unauthorized
} from "../../llm/ProviderError.js"
import * as RetryAfter from "./retryAfter.js"
import { errorCode } from "../../llm/internal/errorCode.js"

/**
 * Who failed, and the secrets that must never show in an error: the API key
 * and the value of every header that carries a secret (one, several or
 * none).
 *
 * @internal
 */
export interface Context {
  readonly provider: string
  readonly model: string
  readonly secret: string | ReadonlyArray<string> | undefined
}

/**
 * The fields of a provider's error body, whichever of the wire shapes it came
 * in: OpenAI `{error:{message,type,code}}`, Anthropic
 * `{type:"error",error:{type,message}}`, Gemini `{error:{code,message,status,
 * details}}` (sometimes inside an array), vLLM `{object:"error",message,type,
 * code}`, Ollama `{error:"..."}`.
 *
 * @internal
 */
export interface ErrorInfo {
  readonly message: string
  /** OpenAI `code` (`context_length_exceeded`, ...), else Anthropic's `details.error_code` (`enforced_spend_limit_reached`). */
  readonly code?: string
  /** OpenAI or Anthropic `type` (`invalid_request_error`, `overloaded_error`, ...). */
  readonly type?: string
  /** Google's canonical status name (`RESOURCE_EXHAUSTED`, ...). */
  readonly status?: string
  /** An HTTP status the body itself names (Gemini `code`, vLLM `code`). */
  readonly httpStatus?: number
  /** Google `RetryInfo.retryDelay`. */
  readonly retryDelay?: Duration.Duration
  /** Google `ErrorInfo.reason` (`API_KEY_INVALID`, ...). */
  readonly reason?: string
}

const maxMessage = 500

const truncate = (text: string): string => (text.length > maxMessage ? `${text.slice(0, maxMessage)}...` : text)

/** The forms a secret may take in a text: as is, escaped in JSON, percent- or form-encoded in a URL. */
const formsOf = (secret: string): ReadonlyArray<string> => [
  secret,
  JSON.stringify(secret).slice(1, -1),
  encodeURIComponent(secret),
  new URLSearchParams({ s: secret }).toString().slice(2)
]

/**
 * Every form of every secret, longest first (so a secret that holds another
 * is replaced whole), empty ones dropped.
 *
 * @internal
 */
export const secretForms = (secret: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> => {
  if (secret === undefined) return []
  const forms = new Set<string>()
  for (const one of typeof secret === "string" ? [secret] : secret) {
    if (one.length > 0) for (const form of formsOf(one)) forms.add(form)
  }
  return [...forms].sort((a, b) => b.length - a.length)
}

/** The shortest run of a secret's first or last characters that is scrubbed where it stands alone. */
const minPartial = 8

/** The fewest of a secret's own characters about a mask (`sk-a****wxyz`) for the masked form to be scrubbed. */
const minMasked = 4

const redacted = "[redacted]"

/** `text` with the spans `[from, to)` (in order, apart) replaced by `[redacted]`. */
const cut = (text: string, spans: ReadonlyArray<readonly [number, number]>): string => {
  if (spans.length === 0) return text
  let out = ""
  let at = 0
  for (const [from, to] of spans) {
    out += text.slice(at, from) + redacted
    at = to
  }
  return out + text.slice(at)
}

/** Spans that overlap or touch merged, in order. */
const merged = (spans: Array<readonly [number, number]>): Array<readonly [number, number]> => {
  spans.sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  for (const [from, to] of spans) {
    const last = out.at(-1)
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to)
    else out.push([from, to])
  }
  return out
}

/**
 * The spans of `text` that show part of `secret`: a run of at least
 * `minPartial` of its first characters, or of its last (an upstream that
 * quotes a key cut short), and a masked form, as OpenAI quotes a key it
 * refused (`sk-proj-ABCD****wxyz`: a prefix of it, asterisks, a suffix of
 * it, at least `minMasked` of its characters about the mask).
 */
const partials = (text: string, secret: string): Array<readonly [number, number]> => {
  const spans: Array<readonly [number, number]> = []
  if (secret.length >= minPartial) {
    const head = secret.slice(0, minPartial)
    for (let at = text.indexOf(head); at >= 0; at = text.indexOf(head, at + 1)) {
      let n = minPartial
      while (n < secret.length && text[at + n] === secret[n]) n++
      spans.push([at, at + n])
    }
    const tail = secret.slice(-minPartial)
    for (let at = text.indexOf(tail); at >= 0; at = text.indexOf(tail, at + 1)) {
      const end = at + minPartial
      let n = minPartial
      while (n < secret.length && end - n - 1 >= 0 && text[end - n - 1] === secret[secret.length - n - 1]) n++
      spans.push([end - n, end])
    }
  }
  for (const mask of text.matchAll(/\*{3,}/g)) {
    const from = mask.index
    const to = from + mask[0].length
    let before = Math.min(secret.length - 1, from)
    while (before > 0 && text.slice(from - before, from) !== secret.slice(0, before)) before--
    let after = Math.min(secret.length - 1, text.length - to)
    while (after > 0 && text.slice(to, to + after) !== secret.slice(-after)) after--
    if (before + after >= minMasked) spans.push([from - before, to + after])
  }
  return spans
}

/**
 * Removes the secrets from a text that came from outside (an upstream error
 * message may echo a key or a header's value), in each form they may take
 * (as is, JSON-escaped, URL-encoded), and the parts of them it may show: a
 * run of 8 or more of a secret's first or last characters, and a masked
 * form (`sk-proj-ABCD****wxyz`, as OpenAI quotes a key it refused). Scrub
 * before truncating: a cut could leave a secret's prefix that no longer
 * matches.
 *
 * @internal
 */
export const scrub = (text: string, secret: string | ReadonlyArray<string> | undefined): string => {
  const forms = secretForms(secret)
  let out = text
  for (const form of forms) out = out.split(form).join(redacted)
  for (const form of forms) out = cut(out, merged(partials(out, form)))
  return out
}

/**
 * A text from outside, safe to show: its first 500 characters and as many
 * again as two of its secrets' longest form (so a secret across the cut is
 * whole in what is scrubbed), scrubbed, less the last longest form's length
 * (where a secret across the window's end may be left unknown), then cut
 * to 500. Nothing after that
 * window is shown, and a large error body (a proxy's HTML page, a hostile
 * upstream's) costs its window's scrub, not its whole length's.
 */
const safe = (text: string, secret: string | ReadonlyArray<string> | undefined): string => {
  const margin = secretForms(secret).reduce((longest, form) => Math.max(longest, form.length), 0)
  const window = maxMessage + 2 * margin
  if (text.length <= window) return truncate(scrub(text, secret))
  // a secret across the window's end may be left with too little of it to be known: its last `margin` characters go
  const scrubbed = scrub(text.slice(0, window), secret).slice(0, -margin || undefined)
  return scrubbed.length > maxMessage ? truncate(scrubbed) : `${scrubbed}...`
}

const stringField = (record: Record<string, unknown>, key: string): string | undefined => {
  const value = record[key]
  return typeof value === "string" && value.length > 0 ? value : undefined
}

const retryDelayOf = (details: unknown): Duration.Duration | undefined => {
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    if (Predicate.isRecord(detail) && typeof detail.retryDelay === "string") {
      return RetryAfter.fromProtobufDuration(detail.retryDelay)
    }
  }
  return undefined
}

/** The `reason` of a Google error's `ErrorInfo` detail (`API_KEY_INVALID`, ...). */
const reasonOf = (details: unknown): string | undefined => {
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    if (Predicate.isRecord(detail) && typeof detail.reason === "string" && detail.reason.length > 0) return detail.reason
  }
  return undefined
}

/**
 * The `error_code` of an error's `details` object: Anthropic says so which
 * `rate_limit_error` is a spend limit (`enforced_spend_limit_reached`,
 * `contract_spend_limit_reached`). Google's `details` is an array, read
 * apart.
 */
const detailsCodeOf = (details: unknown): string | undefined =>
  Predicate.isRecord(details) && typeof details.error_code === "string" && details.error_code.length > 0 ? details.error_code : undefined

const fromErrorObject = (error: Record<string, unknown>, outer: Record<string, unknown>): ErrorInfo => {
  const code = error.code ?? detailsCodeOf(error.details)
  const retryDelay = retryDelayOf(error.details)
  const reason = reasonOf(error.details)
  const type = stringField(error, "type") ?? stringField(outer, "type")
  const status = stringField(error, "status")
  return {
    message: stringField(error, "message") ?? stringField(outer, "message") ?? "",
    ...(typeof code === "string" && code.length > 0 ? { code } : {}),
    ...(typeof code === "number" ? { httpStatus: code } : {}),
    ...(type !== undefined && type !== "error" ? { type } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(retryDelay !== undefined ? { retryDelay } : {}),
    ...(reason !== undefined ? { reason } : {})
  }
}

/**
 * Reads the error fields from a parsed error body, or `undefined` when it has
 * none.
 *
 * @internal
 */
export const infoFromValue = (value: unknown): ErrorInfo | undefined => {
  const body = Array.isArray(value) ? value[0] : value
  if (!Predicate.isRecord(body)) return undefined
  const error = body.error
  if (Predicate.isRecord(error)) return fromErrorObject(error, body)
  if (typeof error === "string") return { message: error }
  if (body.object === "error" || typeof body.message === "string") return fromErrorObject(body, body)
  return undefined
}

/**
 * Reads the error fields from an error body's text.
 *
 * @internal
 */
export const infoFromText = (text: string): ErrorInfo | undefined => {
  try {
    return infoFromValue(JSON.parse(text))
  } catch {
    return undefined
  }
}

/** The HTTP status each provider's error type or Google status name stands for. */
const statusOfName: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  rate_limit_exceeded: 429,
  api_error: 500,
  server_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504
}

const contextLengthCodes: ReadonlySet<string> = new Set(["context_length_exceeded", "string_above_max_length"])
/**
 * Gemini's 400 for a request whose bytes are past its limit ("Request
 * payload size exceeds the limit: 20971520 bytes."): what a 413 says (as
 * Anthropic's `request_too_large`), a request too large for this target,
 * taken as a 413 is.
 */
const payloadTooLargeText = /request payload size exceeds the limit/i
const contextLengthText =
  /context[_ ]length|context window|maximum context|prompt is too long|too many (?:input )?tokens|input token count|exceeds? (?:the )?context limit|reduce the length of the (?:messages|prompt)|input is too long/i

const contentFilterCodes: ReadonlySet<string> = new Set([
  "content_filter",
  "content_policy_violation",
  "invalid_prompt",
  "responsible_ai_policy_violation"
])
const contentFilterText = /content (?:management )?polic|content[_ ]filter|safety system|usage polic|blocked by content/i

type Window = { readonly contextWindow?: number; readonly requestedTokens?: number }

/** The wordings that carry numbers: OpenAI (and vLLM), Anthropic, Gemini. */
const windowPatterns: ReadonlyArray<readonly [RegExp, (m: RegExpExecArray) => Window]> = [
  [
    /maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens/is,
    (m) => ({ contextWindow: Number(m[1]), requestedTokens: Number(m[2]) })
  ],
  [/maximum context length is (\d+) tokens/i, (m) => ({ contextWindow: Number(m[1]) })],
  [
    /prompt is too long: (\d+) tokens > (\d+) maximum/i,
    (m) => ({ requestedTokens: Number(m[1]), contextWindow: Number(m[2]) })
  ],
  [
    /(\d+) \+ (\d+) > (\d+)/,
    (m) => ({ requestedTokens: Number(m[1]) + Number(m[2]), contextWindow: Number(m[3]) })
  ],
  [
    /input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)/i,
    (m) => ({ requestedTokens: Number(m[1]), contextWindow: Number(m[2]) })
  ]
]

const windowOf = (message: string): Window => {
  for (const [pattern, read] of windowPatterns) {
    const match = pattern.exec(message)
    if (match !== null) return read(match)
  }
  return {}
}

const isContextLength = (info: ErrorInfo | undefined, message: string): boolean =>
  (info?.code !== undefined && contextLengthCodes.has(info.code)) || contextLengthText.test(message)

/** Whether the error's code or type is one of `names`. */
const namedIn = (info: ErrorInfo | undefined, names: ReadonlySet<string>): boolean =>
  (info?.code !== undefined && names.has(info.code)) || (info?.type !== undefined && names.has(info.type))

const isContentFilter = (info: ErrorInfo | undefined, message: string): boolean =>
  namedIn(info, contentFilterCodes) || contentFilterText.test(message)

/**
 * The HTTP status an error without one stands for (an error event in a
 * stream): by Google's status name or the provider's error type, else by
 * its code (OpenAI sends a rate limit mid-stream as `code:
 * "rate_limit_exceeded"` under a `type` of its own, such as `tokens`).
 */
const statusOfInfo = (info: ErrorInfo | undefined): number | undefined => {
  if (info === undefined) return undefined
  for (const name of [info.status, info.type, info.code]) {
    if (name !== undefined && Object.hasOwn(statusOfName, name)) return statusOfName[name]
  }
  return undefined
}

/**
 * What says that the target's account, not the request, is at fault: an
 * exhausted quota or balance, billing, a spend limit, a key Google calls
 * invalid in a 400, a project or region Google does not serve
 * (`FAILED_PRECONDITION`). Another target may serve the same request, so it
 * is skipped like a refused key. A spend limit comes as a 400: Anthropic's
 * organization or workspace limit ("You have reached your specified
 * (workspace) API usage limits", an `invalid_request_error`), Groq's
 * (`blocked_api_access`); either would otherwise end the request on every
 * target. A spend or credit limit may come as a 429, which no wait cures
 * either: OpenAI's `organization_spend_limit_exceeded`,
 * `project_spend_limit_exceeded`, `organization_usage_limit_exceeded`,
 * `credit_balance_exhausted` (under any `type`), Anthropic's
 * `rate_limit_error` whose `details.error_code` is
 * `enforced_spend_limit_reached` or `contract_spend_limit_reached`.
 */
const accountCodes: ReadonlySet<string> = new Set([
  "insufficient_quota",
  "billing_error",
  "billing_not_active",
  "blocked_api_access",
  "organization_spend_limit_exceeded",
  "project_spend_limit_exceeded",
  "organization_usage_limit_exceeded",
  "credit_balance_exhausted",
  "enforced_spend_limit_reached",
  "contract_spend_limit_reached"
])
const accountReasons: ReadonlySet<string> = new Set(["API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "BILLING_DISABLED"])
const accountText =
  /credit balance (?:is )?too low|insufficient (?:credits?|balance|funds)|exceeded your current quota|enable billing|billing (?:is not active|hard limit|details)|api key (?:not valid|expired)|reached your specified (?:workspace )?api usage limits/i

const isAccountFault = (status: number, info: ErrorInfo | undefined, message: string): boolean =>
  namedIn(info, accountCodes) ||
  (info?.reason !== undefined && accountReasons.has(info.reason)) ||
  (info?.status === "FAILED_PRECONDITION" && status === 400) ||
  // by its words only where the status says nothing else: Google's per-minute limit is a 429 that says
  // "exceeded your current quota" too, and stays RateLimited
  ((status === 400 || status === 402 || status === 403) && accountText.test(message))

/**
 * Codes that say the model's output, not the request, was at fault: Groq's
 * `tool_use_failed` (the model wrote a tool call that does not parse or
 * match the tool's schema; the body's `failed_generation` holds it), as a
 * 400 or an in-stream error event. The same request often succeeds when
 * asked again, as after Gemini's `MALFORMED_FUNCTION_CALL`, so it is a
 * `MalformedResponse` (retried, or failed over), not an `InvalidRequest`
 * that ends the chain.
 */
const malformedOutputCodes: ReadonlySet<string> = new Set(["tool_use_failed"])

/**
 * What says, in a 400, that the model asked for does not exist here: DeepSeek
 * answers an unknown model with a 400 "Model Not Exist" (an
 * `invalid_request_error`), where OpenAI answers a 404 `model_not_found`.
 * Another target may have the model, so it is skipped, as a 404 is. Only a
 * message about the model itself: "model not exist", "model not found", "the
 * model `…` does not exist", or the code `model_not_found`.
 */
const modelNotFoundCodes: ReadonlySet<string> = new Set(["model_not_found"])
const modelNotFoundText = /\bmodel (?:does )?not exists?\b|\bmodel not found\b|\bthe model [`'"][^`'"]+[`'"] does not exist\b/i

const isModelNotFound = (info: ErrorInfo | undefined, message: string): boolean =>
  namedIn(info, modelNotFoundCodes) || modelNotFoundText.test(message)

/**
 * What says that this one request is larger than the account's per-minute
 * token limit at this target, which no wait cures (OpenAI's and Groq's
 * "Request too large for … on tokens per min (TPM): Limit 30000, Requested
 * 45411", a 429, Groq's a 413, both with the code `rate_limit_exceeded`):
 * the target is skipped, as for the account's other limits. Not a
 * `ContextLengthExceeded`: the model's window may hold it, and the router
 * would pass over every target whose window is not larger. A limit that
 * the requests before this one reached ("Rate limit reached …: Limit
 * 30000, Used 25000, Requested 6000") stays a rate limit.
 */
const overTokenLimitText = /\brequest too large for\b[\s\S]*?\blimit (\d+), requested (\d+)/i

const isOverTokenLimit = (status: number, message: string): boolean => {
  if (status !== 429 && status !== 413) return false
  const match = overTokenLimitText.exec(message)
  return match !== null && Number(match[2]) > Number(match[1])
}

/** Statuses whose body may say the real cause is the context window or a policy. */
const refinable = (status: number): boolean => status === 400 || status === 422

/**
 * Maps a failure to exactly one error: the HTTP status (or, in a stream, the
 * status the error's body names or its type stands for; with none, it is
 * classified as a 500 and keeps no `status`) through `fromStatus`, after a 400 is
 * refined by its body to `ContextLengthExceeded` (Gemini's payload too large too), `ContentFiltered` or (a
 * malformed tool call the model wrote: Groq's `tool_use_failed`)
 * `MalformedResponse`, or (DeepSeek's "Model Not Exist") `ModelNotFound`,
 * and a
 * Google `RESOURCE_EXHAUSTED` or an Anthropic `overloaded_error` is taken
 * for what it says whatever the status. A fault of the account (an
 * exhausted quota or balance, billing, a spend limit, a key refused in a 400) is
 * `Unauthorized`, whatever the status: OpenAI's `insufficient_quota` is a
 * 429 that no wait cures, and Anthropic's and Google's come as 400s, which
 * would otherwise end the request on every target. So is a request larger
 * than the account's per-minute token limit (OpenAI's and Groq's "Request
 * too large for … (TPM): Limit …, Requested …"): no wait lets it through.
 *
 * @internal
 */
export const classify = (
  context: Context,
  httpStatus: number | undefined,
  info: ErrorInfo | undefined,
  retryAfter: Duration.Duration | undefined,
  fallbackMessage: string,
  retryHere?: false
): ProviderError => {
  // classified on the upstream's own words, shown scrubbed: a scrubbed secret
  // must not change the class nor the numbers read from the text
  const raw = truncate(info?.message || fallbackMessage)
  const message = safe(info?.message || fallbackMessage, context.secret)
  const wait = retryAfter ?? info?.retryDelay ?? RetryAfter.fromMessage(raw)
  const base = { provider: context.provider, model: context.model, message }
  // an error event or answer that names no status, nor a type that stands for one, is classified as a 500 and
  // keeps no status: none was sent
  const known = httpStatus ?? info?.httpStatus ?? statusOfInfo(info)
  const status = known ?? 500
  const withStatus = known === undefined ? base : { ...base, status }
  const noRetry = retryHere === false ? { retryHere } : {}
  if (info?.status === "RESOURCE_EXHAUSTED") {
    return new RateLimited({ ...withStatus, ...noRetry, ...(wait !== undefined ? { retryAfter: wait } : {}) })
  }
  if (info?.type === "overloaded_error") {
    return new Overloaded({ ...withStatus, ...noRetry, ...(wait !== undefined ? { retryAfter: wait } : {}) })
  }
  if (isAccountFault(status, info, raw) || isOverTokenLimit(status, raw)) return new Unauthorized(withStatus)
  if (refinable(status)) {
    if (info?.code !== undefined && malformedOutputCodes.has(info.code)) return new MalformedResponse({ ...base, status })
    if (isContextLength(info, raw)) return new ContextLengthExceeded({ ...base, status, ...windowOf(raw) })
    if (payloadTooLargeText.test(raw)) return new ContextLengthExceeded({ ...base, status })
    if (isContentFilter(info, raw)) {
      const reason = info?.code ?? info?.type
      return new ContentFiltered({ ...base, status, ...(reason !== undefined ? { reason: safe(reason, context.secret) } : {}) })
    }
    if (isModelNotFound(info, raw)) return new ModelNotFound({ ...base, status })
  }
  // what `fromStatus` makes of a 500, without the status
  return known === undefined ? new ServerError({ ...base, ...noRetry }) : fromStatus(status, { ...base, retryAfter: wait, ...noRetry })
}

/**
 * Maps a non-2xx answer: its status, headers (Retry-After, and
 * `x-should-retry: false`, which OpenAI and Anthropic send where a retry
 * would not help and their SDKs obey: kept on a retriable class as
 * `retryHere: false`; `true` is not read, as it would make a spend limit's
 * 429 retriable again) and body text.
 *
 * @internal
 */
export const fromResponse = (
  context: Context,
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  body: string,
  nowMillis: number
): ProviderError =>
  classify(
    context,
    status,
    infoFromText(body),
    RetryAfter.fromHeaders(headers, nowMillis),
    body.trim().length > 0 ? body.trim() : `HTTP ${status}`,
    headers["x-should-retry"]?.trim().toLowerCase() === "false" ? false : undefined
  )

/**
 * Maps an error event inside a stream (no HTTP status of its own).
 *
 * @internal
 */
export const fromStreamError = (context: Context, value: unknown): ProviderError =>
  classify(context, undefined, infoFromValue(value), undefined, "error event in the stream")

/**
 * Maps an error object sent as a whole answer with HTTP 200 (OpenRouter's
 * `{"error": {"code": 429, ...}}` when its upstream failed after the status
 * went out), read as an error event is.
 *
 * @internal
 */
export const fromAnswerError = (context: Context, value: unknown): ProviderError =>
  classify(context, undefined, infoFromValue(value), undefined, "error in an answer sent with HTTP 200")

/** Undici's codes for what Node's own client reports as system errors. */
const normalizedCodes: Readonly<Record<string, string>> = {
  UND_ERR_SOCKET: "ECONNRESET",
  UND_ERR_CLOSED: "ECONNRESET",
  UND_ERR_CONNECT_TIMEOUT: "ETIMEDOUT"
}

const codeOf = (cause: unknown): string | undefined => {
  const code = errorCode(cause)
  return code === undefined ? undefined : normalizedCodes[code] ?? code
}

const messageOf = (cause: unknown): string =>
  Predicate.isRecord(cause) && typeof cause.message === "string" && cause.message.length > 0
    ? cause.message
    : String(cause)

/**
 * Maps a transport or body-read failure of `@effect/platform`'s client.
 *
 * @internal
 */
export const fromHttpClientError = (context: Context, error: HttpClientError.HttpClientError): ProviderError => {
  const base = { provider: context.provider, model: context.model }
  const foreignCode = codeOf(error.cause)
  const code = foreignCode === undefined ? undefined : safe(foreignCode, context.secret)
  const detail = safe(messageOf(error.cause), context.secret)
  switch (error.reason) {
    case "Transport":
      return new TransportError({
        ...base,
        message: `${context.provider} request failed: ${detail}`,
        ...(code !== undefined ? { code } : {})
      })
    case "InvalidUrl":
      return new TransportError({ ...base, message: `invalid ${context.provider} URL: ${detail}`, code: "ERR_INVALID_URL" })
    case "Encode":
      return new InvalidRequest({ ...base, message: `could not encode the request: ${detail}` })
    case "Decode":
      return code !== undefined
        ? new TransportError({ ...base, message: `${context.provider} connection failed mid-response: ${detail}`, code })
        : new MalformedResponse({ ...base, message: `could not read the ${context.provider} response: ${detail}` })
    case "StatusCode":
    case "EmptyBody":
      return new MalformedResponse({ ...base, message: `unexpected ${context.provider} response: ${detail}` })
  }
}

/**
 * A deadline passed.
 *
 * @internal
 */
export const timeout = (context: Context, phase: TimeoutPhase, after: Duration.Duration, what: string): Timeout =>
  new Timeout({ provider: context.provider, model: context.model, phase, after, message: safe(what, context.secret) })

/**
 * The answer could not be read.
 *
 * @internal
 */
export const malformed = (context: Context, message: string): MalformedResponse =>
  new MalformedResponse({ provider: context.provider, model: context.model, message: safe(message, context.secret) })

/**
 * A whole answer with nothing in it (no text, no tool call) and no finish
 * reason the neutral model knows (none, or one it reads as `unknown`: Gemini's
 * `TOO_MANY_TOOL_CALLS`, Claude's `pause_turn`, a compatible server's own):
 * it said nothing, nor why it ended. A `MalformedResponse` (retried, or
 * failed over), as the router fails a stream that ends before any content
 * without a reasoned `Finish`. With a known finish (a stop, a length) an
 * empty answer is the model's, and is served.
 *
 * @internal
 */
export const emptyAnswer = (context: Context, finish: string | null | undefined): MalformedResponse =>
  malformed(
    context,
    finish == null || finish === ""
      ? `${context.provider} sent an answer with no content and no finish reason`
      : `${context.provider} sent an answer with no content (finish reason ${finish})`
  )

/**
 * The server gave up on the answer itself, after an HTTP 200: vLLM's engine
 * aborted it (`finish_reason: "abort"`, on a scale-down, a shutdown, a
 * sleep). A `ServerError` (retried, or failed over; a stream cut after its
 * content is interrupted), not an answer.
 *
 * @internal
 */
export const aborted = (context: Context, message: string): ServerError =>
  new ServerError({ provider: context.provider, model: context.model, message: safe(message, context.secret) })

/**
 * What a provider had answered when it stopped its answer on policy (see
 * `ContentFiltered`).
 *
 * @internal
 */
export interface StoppedAnswer {
  readonly partialText: string
  readonly refusal?: string | undefined
  readonly usage?: Usage | undefined
}

/**
 * The provider refused on policy, or, with `answer`, stopped its answer for
 * it.
 *
 * @internal
 */
export const contentFiltered = (context: Context, reason: string, message: string, answer?: StoppedAnswer): ContentFiltered =>
  new ContentFiltered({
    provider: context.provider,
    model: context.model,
    reason: safe(reason, context.secret),
    message: safe(message, context.secret),
    ...(answer === undefined
      ? {}
      : {
          partialText: answer.partialText,
          ...(answer.refusal !== undefined ? { refusal: answer.refusal } : {}),
          ...(answer.usage !== undefined ? { usage: answer.usage } : {})
        })
  })
