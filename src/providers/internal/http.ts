/**
 * What the three adapters share: one configured base client (URL prefix,
 * auth and user headers, an optional user transform), the names of the
 * headers that carry secrets redacted in the client's spans and logs while
 * a request runs (locally, never globally), a JSON call and an SSE call that
 * map every foreign failure to a `ProviderError` where it enters, scrubbed of
 * every secret, and enforce the three deadlines.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { type ChatChunk, type ChatRequest, type ChatResponse, isContent } from "../../llm/Chat.js"
import * as CompleteWithin from "../../llm/internal/completeWithin.js"
import { hasToolCalls, refusedSignatures, withPlaceholders } from "../../llm/internal/extraContent.js"
import * as StreamWithin from "../../llm/internal/streamWithin.js"
import * as Pullable from "../../llm/internal/pullable.js"
import type * as LanguageModel from "../../llm/LanguageModel.js"
import type { ModelInfo } from "../../llm/ModelInfo.js"
import { spansGoSomewhere } from "../../llm/internal/tracing.js"
import * as ReadAhead from "../../resilience/internal/readAhead.js"
import { isLive, monotonicMillis } from "../../resilience/internal/timeout.js"
import * as Deadline from "../../resilience/Timeout.js"
import type { InvalidRequest, ProviderError, TimeoutPhase } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import { formatRefusal } from "./formats.js"
import type * as Shared from "./options.js"
import * as ReadableReader from "./readableReader.js"
import * as Sse from "./sse.js"
import * as Timeouts from "./timeouts.js"
import * as Undici from "./undici.js"
import * as Url from "./url.js"

/**
 * The header names that carry keys across the three providers (and Azure's
 * `api-key`): redacted in spans and logs of the HTTP client.
 *
 * @internal
 */
export const authHeaderNames: ReadonlyArray<string> = ["authorization", "x-api-key", "x-goog-api-key", "api-key"]

const credentialName = /auth|key$|token$|secret|password|credential|^cookie$/i
const credentialScheme = /^(?:bearer|basic)\s+\S/i

/**
 * Whether a plain header carries a credential all the same, by its name
 * (`authorization`, `x-portkey-api-key`, `helicone-auth`,
 * `x-session-token`, ...) or by its value (`Bearer ...`, `Basic ...`).
 *
 * @internal
 */
export const isCredentialHeader = (name: string, value: string): boolean =>
  credentialName.test(name) || credentialScheme.test(value)

/**
 * The headers an endpoint sends, as the wire wants them, and what of them
 * is secret.
 *
 * @internal
 */
export interface ResolvedHeaders {
  /** Every header with its real value: the user's, then the auth headers over them. */
  readonly headers: Readonly<Record<string, string>>
  /** The lower-cased names to redact in the client's spans and logs. */
  readonly redactedNames: ReadonlyArray<string>
  /** The secret values (the key, then each secret header's), to scrub from errors. */
  readonly secrets: ReadonlyArray<string>
}

/** The shortest value of a header without a credential's name that upstream messages are scrubbed of. */
const minScrubbedLength = 8

/**
 * Reads each header out of its `Redacted` and sorts out the secrets: the key,
 * every value that carries a credential ({@link isCredentialHeader}), and
 * every other `Redacted` value of 8 characters or more. Their names join {@link authHeaderNames} and
 * the auth headers' own names in the list to redact.
 *
 * @internal
 */
export const resolveHeaders = (
  headers: Readonly<Record<string, Shared.HeaderValue>> | undefined,
  apiKey: Redacted.Redacted | undefined,
  auth: (key: string) => Record<string, string>
): ResolvedHeaders => {
  const out: Record<string, string> = {}
  const names = new Set(authHeaderNames)
  const secrets = new Set<string>()
  const key = apiKey === undefined ? undefined : Redacted.value(apiKey)
  if (key !== undefined && key.length > 0) secrets.add(key)
  for (const [name, value] of Object.entries(headers ?? {})) {
    const plain = Redacted.isRedacted(value) ? Redacted.value(value as Redacted.Redacted<string>) : value
    out[name] = plain
    const credential = isCredentialHeader(name, plain)
    if (Redacted.isRedacted(value) || credential) {
      names.add(name.toLowerCase())
      // a short value of a header that carries no credential (`x-tier: e`) is no key, and scrubbing it from
      // upstream messages would garble them (and spell it out by the gaps)
      if (plain.length > 0 && (credential || plain.length >= minScrubbedLength)) secrets.add(plain)
    }
  }
  if (key !== undefined) {
    for (const [name, value] of Object.entries(auth(key))) {
      out[name] = value
      names.add(name.toLowerCase())
    }
  }
  return { headers: out, redactedNames: [...names], secrets: [...secrets] }
}

/**
 * `names` with those of `extra` it lacks added; `names` itself when it
 * lacks none.
 *
 * @internal
 */
export const addNames =
  (extra: ReadonlyArray<string>) =>
  (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => {
    const missing = extra.filter((name) => !names.includes(name))
    return missing.length === 0 ? names : [...names, ...missing]
  }

/**
 * Everything one adapter instance needs to call its provider.
 *
 * @internal
 */
export interface Endpoint extends Errors.Context {
  readonly client: HttpClient.HttpClient
  /**
   * With an `UndiciHttpClient` as it was made (no user transform): calls
   * sent straight on its dispatcher, with their connect deadline on a timer
   * (see `send`).
   */
  readonly direct: Direct | undefined
  /** The base URL's query params, sent with every call: a traced call's span shows them without their values. */
  readonly baseParams: UrlParams.UrlParams
  readonly timeouts: Timeouts.Resolved
  /** Adds the names of the secret headers to the client's redacted names (the same list when none is missing). */
  readonly redactNames: (names: ReadonlyArray<string | RegExp>) => ReadonlyArray<string | RegExp>
}

/**
 * An endpoint's calls sent straight on an `UndiciHttpClient`'s dispatcher
 * (`Undici.directPoster`), and what they are made of: the base URL and the
 * endpoint's headers, and the URLs (by path and query) and headers (by
 * `accept`) made from them once (see `directPost`).
 *
 * @internal
 */
export interface Direct {
  readonly send: NonNullable<ReturnType<typeof Undici.directPoster>>
  /** The base URL, with no user, query or trailing slash. */
  readonly prefix: string
  /** The base URL's query params, sent before a call's own. */
  readonly params: UrlParams.UrlParams
  /** The headers every call sends (auth, the config's own). */
  readonly headers: Readonly<Record<string, string>>
  readonly urls: Map<string, URL>
  readonly headersFor: Map<string, Readonly<Record<string, string>>>
}

/**
 * The options every adapter takes to build its endpoint.
 *
 * @internal
 */
export interface EndpointOptions {
  readonly provider: string
  readonly model: string
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted | undefined
  /** The auth headers built from the key's value. */
  readonly auth: (key: string) => Record<string, string>
  readonly headers?: Readonly<Record<string, Shared.HeaderValue>> | undefined
  readonly timeouts?: Timeouts.Timeouts | undefined
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * Builds the endpoint from the ambient `HttpClient`.
 *
 * @internal
 */
export const makeEndpoint = (options: EndpointOptions): Effect.Effect<Endpoint, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (base) => {
    const resolved = resolveHeaders(options.headers, options.apiKey, options.auth)
    const { headers, redactedNames } = resolved
    // the password never leaves: not sent (neither HTTP path sends a URL's credentials), not in a span's URL, and
    // scrubbed from what the upstream echoes; the query is sent with every call, shown without its values
    const { prefix, params, secrets } = Url.parseBaseUrl(options.baseUrl)
    const client = base.pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(HttpClientRequest.prependUrl(prefix), withBaseParams(params), HttpClientRequest.setHeaders(headers))
      ),
      options.transformClient ?? identity
    )
    return {
      provider: options.provider,
      model: options.model,
      secret: [...resolved.secrets, ...secrets],
      client,
      baseParams: params,
      direct: options.transformClient === undefined ? directOf(base, prefix, params, headers) : undefined,
      timeouts: Timeouts.resolve(options.timeouts),
      redactNames: addNames(redactedNames)
    }
  })

/**
 * The base URL's query params before a call's own, less those the call sets
 * itself (Gemini's `alt=sse` over a base URL's `alt=json`): the call's param
 * is sent, once, where two would leave the upstream to pick one.
 */
const baseThenOwn = (base: UrlParams.UrlParams, own: UrlParams.UrlParams): UrlParams.UrlParams => {
  if (own.length === 0) return base
  const set = new Set(own.map(([name]) => name))
  return [...base.filter(([name]) => !set.has(name)), ...own]
}

/** A request with the base URL's query params before its own (see `baseThenOwn`). */
const withBaseParams =
  (params: UrlParams.UrlParams) =>
  (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
    params.length === 0 ? request : HttpClientRequest.setUrlParams(request, baseThenOwn(params, request.urlParams))

const directOf = (
  base: HttpClient.HttpClient,
  prefix: string,
  params: UrlParams.UrlParams,
  headers: Readonly<Record<string, string>>
): Direct | undefined => {
  const send = Undici.directPoster(base)
  return send === undefined ? undefined : { send, prefix, params, headers, urls: new Map(), headersFor: new Map() }
}

const phaseText: Readonly<Record<TimeoutPhase, string>> = {
  connect: "no response headers",
  "first-token": "no first token",
  idle: "the stream went quiet",
  attempt: "the attempt took too long",
  total: "the request took too long"
}

const timeoutError = (endpoint: Endpoint, phase: TimeoutPhase, after: Duration.Duration) =>
  Errors.timeout(endpoint, phase, after, `${endpoint.provider}: ${phaseText[phase]} within ${Duration.format(after)}`)

const mapHttpError = (endpoint: Endpoint) => (error: HttpClientError.HttpClientError) =>
  Errors.fromHttpClientError(endpoint, error)

/**
 * A deadline over a whole call: when it ends, on the monotonic time of the
 * fiber's clock (`monotonicMillis`), and what the call then fails with.
 *
 * @internal
 */
export interface CallDeadline<E> {
  readonly at: number
  readonly onTimeout: () => E
}

/**
 * A deadline over a stream up to its first content: how long after the
 * stream opens, and what it then fails with.
 *
 * @internal
 */
export interface HeadDeadline<E> {
  readonly millis: number
  readonly onTimeout: () => E
}

/** A phase's deadline, or what is left of the call's when that is nearer: its length and what it fails with. */
interface Limit<E> {
  readonly duration: Duration.Duration
  readonly millis: number
  readonly onTimeout: () => ProviderError | E
}

const limitOf = <E>(
  phase: Duration.Duration,
  onPhase: () => ProviderError,
  call: CallDeadline<E> | undefined,
  now: number
): Limit<E> => {
  const millis = Duration.toMillis(phase)
  // the call's deadline wins a tie, as its timer (armed first) would have under `timeoutFail`
  if (call === undefined || call.at - now > millis) return { duration: phase, millis, onTimeout: onPhase }
  const left = Math.max(0, call.at - now)
  return { duration: Duration.millis(left), millis: left, onTimeout: call.onTimeout }
}

/** A POST an adapter makes: where, what it accepts, its JSON body, and headers of its own. */
interface Post {
  readonly path: string
  readonly urlParams?: Readonly<Record<string, string>> | undefined
  readonly accept: string
  readonly body: unknown
  /** Headers of this call alone, their names in lower case, over the endpoint's (see `Wire.headers`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** The platform's request for a post (the client adds the base URL and the endpoint's headers). */
const platformRequest = (post: Post): HttpClientRequest.HttpClientRequest => {
  const request = HttpClientRequest.post(post.path).pipe(
    HttpClientRequest.accept(post.accept),
    HttpClientRequest.bodyUnsafeJson(post.body)
  )
  return post.urlParams === undefined ? request : HttpClientRequest.setUrlParams(request, post.urlParams)
}

/** The endpoint's client, with a call's own headers set over the endpoint's, which the client sets on every request. */
const clientFor = (endpoint: Endpoint, post: Post): HttpClient.HttpClient => {
  const own = post.headers
  return own === undefined ? endpoint.client : HttpClient.mapRequest(endpoint.client, HttpClientRequest.setHeaders(own))
}

/**
 * The same post, sent straight on the dispatcher: its URL (made once a path)
 * and headers (once an `accept`), as the client's pipeline would make them,
 * the endpoint's headers over the request's own.
 */
const directPost = (direct: Direct, post: Post): Undici.DirectPost | undefined => {
  const { path, urlParams } = post
  const key = urlParams === undefined ? path : `${path}\u0000${new URLSearchParams(urlParams).toString()}`
  let url = direct.urls.get(key)
  if (url === undefined) {
    // made as the client makes it (`prependUrl`, then `UrlParams.makeUrl`)
    const params = baseThenOwn(direct.params, UrlParams.fromInput(urlParams ?? []))
    const made = UrlParams.makeUrl(direct.prefix + path, params, Option.none())
    // not a URL: the client's pipeline fails the call with its `InvalidUrl` error
    if (made._tag === "Left") return undefined
    direct.urls.set(key, (url = made.right))
  }
  let headers = direct.headersFor.get(post.accept)
  if (headers === undefined) {
    const all: Record<string, string> = { accept: post.accept, "content-type": "application/json" }
    for (const [name, value] of Object.entries(direct.headers)) all[name.toLowerCase()] = value
    direct.headersFor.set(post.accept, (headers = all))
  }
  // a call's own headers, over the endpoint's: a copy for that call alone
  if (post.headers !== undefined) headers = { ...headers, ...post.headers }
  return { url, headers, body: JSON.stringify(post.body) }
}

/**
 * Sends a post and waits for its headers, within the connect deadline (or
 * what is left of the call's, if nearer). On the live clock, an untraced
 * call on an `UndiciHttpClient` as it was made is sent straight on its
 * dispatcher (`Undici.directPoster`), the deadline on a timer; any other
 * goes through the client under `timeoutFail` (a fiber forked for it): a
 * traced one so that the client makes its span, with the secret
 * headers' names joining the fiber's redacted names for the call, unless
 * they are all there already (as under `serve`, which adds them once:
 * setting a `FiberRef` for a call and back copies the fiber's whole set of
 * them twice). A direct call makes no request of the platform's with
 * headers, so nothing of it is redacted.
 */
const send = <E = never>(
  endpoint: Endpoint,
  post: Post,
  deadline?: CallDeadline<E>
): Effect.Effect<HttpClientResponse.HttpClientResponse, ProviderError | E> =>
  Effect.withFiberRuntime((fiber) => {
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const { connect } = endpoint.timeouts
    const limit = limitOf(connect, () => timeoutError(endpoint, "connect", connect), deadline, monotonicMillis(clock))
    // a traced call goes through the client, which makes its span and sends its trace context
    const { direct } = endpoint
    const sent = direct !== undefined && isLive(clock) && !spansGoSomewhere(fiber) ? directPost(direct, post) : undefined
    if (direct !== undefined && sent !== undefined) {
      return Effect.mapError(direct.send(fiber.currentContext, sent, limit.millis), (error) =>
        error.cause instanceof Undici.HeadersTimeout ? limit.onTimeout() : mapHttpError(endpoint)(error)
      )
    }
    const call = clientFor(endpoint, post).execute(platformRequest(post)).pipe(
      Effect.mapError(mapHttpError(endpoint)),
      Deadline.timeoutFail({ duration: limit.duration, onTimeout: limit.onTimeout })
    )
    const redacted = fiber.getFiberRef(Headers.currentRedactedNames)
    const names = endpoint.redactNames(redacted)
    return withShownUrl(endpoint, fiber, names === redacted ? call : Effect.locally(call, Headers.currentRedactedNames, names))
  })

/** A traced call whose base URL holds a query, its span showing the query without its values. */
const withShownUrl = <A, E>(
  endpoint: Endpoint,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  call: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  endpoint.baseParams.length === 0 || !spansGoSomewhere(fiber)
    ? call
    : Effect.withTracer(call, Url.shownUrlTracer(Context.get(fiber.currentDefaultServices, Tracer.Tracer)))

/** A body that stopped coming: the idle deadline, between two of its pieces. */
const bodyIdleError = (endpoint: Endpoint, idle: Duration.Duration) =>
  Errors.timeout(endpoint, "idle", idle, `${endpoint.provider}: nothing more of the response body came within ${Duration.format(idle)}`)

/**
 * Reads a whole body as text, each wait for a piece of it within the idle
 * deadline (or what is left of the call's, if nearer): the idle deadline
 * starts again with every piece that comes (a body that trickles, such as
 * DeepSeek's keep-alive empty lines while it generates, is read as long as
 * it keeps coming), the call's stays where it is. On the live clock, a
 * response of `UndiciHttpClient` is read under a plain timer, re-armed on
 * each piece; any other is pulled from its stream, each pull under
 * `timeoutFail` (a fiber forked for it).
 */
const readText = <E = never>(
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse,
  deadline?: CallDeadline<E>
): Effect.Effect<string, ProviderError | E> =>
  Effect.clockWith((clock) => {
    const { idle } = endpoint.timeouts
    const onIdle = () => bodyIdleError(endpoint, idle)
    const limit = () => limitOf(idle, onIdle, deadline, monotonicMillis(clock))
    const timed = isLive(clock) ? Undici.textWithin(response, limit) : undefined
    return timed !== undefined
      ? Effect.mapError(timed, (error) =>
          error instanceof HttpClientError.ResponseError ? mapHttpError(endpoint)(error) : error
        )
      : pulledText(response, limit, mapHttpError(endpoint))
  })

/** The body as text, pulled from its stream, each pull within the limit `limit()` gives then (see `readText`). */
const pulledText = <E>(
  response: HttpClientResponse.HttpClientResponse,
  limit: () => Limit<E>,
  mapError: (error: HttpClientError.ResponseError) => ProviderError
): Effect.Effect<string, ProviderError | E> =>
  Effect.scoped(
    Effect.flatMap(Stream.toPull(response.stream), (pull) => {
      const decoder = new TextDecoder()
      let text = ""
      const next: Effect.Effect<string, ProviderError | E> = Effect.suspend(() => {
        const { duration, onTimeout } = limit()
        const read = Deadline.timeoutFail(Effect.mapError(pull, Option.map(mapError)), {
          duration,
          onTimeout: () => Option.some<ProviderError | E>(onTimeout())
        })
        return Effect.matchEffect(read, {
          onFailure: (error) => (Option.isSome(error) ? Effect.fail(error.value) : Effect.succeed(text + decoder.decode())),
          onSuccess: (chunk) => {
            for (const piece of chunk) text += decoder.decode(piece, { stream: true })
            return next
          }
        })
      })
      return next
    })
  )

/**
 * The most of an error's body that is read: a provider's JSON error is a
 * few hundred bytes, a proxy's HTML page a few KiB. Past it the body is
 * cut and its request aborted: a stranger's 400 MB page is not held.
 *
 * @internal
 */
export const maxErrorBody = 64 * 1024

/**
 * The longest an error's body is waited for, in all, after its headers
 * (or the idle deadline, if shorter): a provider sends its error whole.
 * When it is up the body is cut, its request aborted, and the error told
 * by its status and headers (and what of the body came): a 503 whose page
 * trickles, which the idle deadline (restarted by every piece) never ends,
 * costs this, not the attempt's whole timeout.
 *
 * @internal
 */
export const errorBodyWait = Duration.seconds(2)

/**
 * At most `maxErrorBody` bytes of an error's body, as text, within
 * `errorBodyWait` in all (or the idle deadline, if shorter): when the time
 * is up, what came; when the call's deadline is nearer, its error as
 * before. The body is destroyed once cut, which aborts its request (its
 * connection is closed, not reused with a body half read).
 */
const readErrorText = <E = never>(
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse,
  deadline?: CallDeadline<E>
): Effect.Effect<string, ProviderError | E> =>
  Effect.clockWith((clock) => {
    const wait = Duration.min(errorBodyWait, endpoint.timeouts.idle)
    const cut = () => bodyIdleError(endpoint, wait)
    const limit = limitOf(wait, cut, deadline, monotonicMillis(clock))
    // the call's deadline fails the read, as it failed a whole one; the error body's own time ends it with what came
    const onTimeout = limit.onTimeout === cut ? undefined : limit.onTimeout
    const timed = isLive(clock) ? Undici.prefixWithin(response, maxErrorBody, limit.millis, onTimeout) : undefined
    if (timed !== undefined) {
      return Effect.mapError(timed, (error) => (error instanceof HttpClientError.ResponseError ? mapHttpError(endpoint)(error) : error))
    }
    const mapError = mapHttpError(endpoint)
    return Effect.scoped(
      Effect.flatMap(Stream.toPull(response.stream), (pull) => {
        const pieces: Array<Uint8Array> = []
        let size = 0
        const text = () => new TextDecoder().decode(Buffer.concat(pieces).subarray(0, maxErrorBody))
        const next: Effect.Effect<string, ProviderError> = Effect.matchEffect(Effect.mapError(pull, Option.map(mapError)), {
          onFailure: (error) => (Option.isSome(error) ? Effect.fail(error.value) : Effect.sync(text)),
          onSuccess: (chunk) => {
            for (const piece of chunk) {
              pieces.push(piece)
              size += piece.length
            }
            // the scope's end interrupts the stream, which destroys the body
            return size >= maxErrorBody ? Effect.sync(text) : next
          }
        })
        return onTimeout === undefined
          ? Effect.timeoutTo(next, { duration: limit.duration, onSuccess: identity, onTimeout: text })
          : Deadline.timeoutFail(next, { duration: limit.duration, onTimeout })
      })
    )
  })

/**
 * Fails with the error a non-2xx answer stands for, read from its status,
 * headers and at most the first `maxErrorBody` bytes of its body that came
 * within `errorBodyWait` (see `readErrorText`).
 */
const failResponse = <E = never>(
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse,
  deadline?: CallDeadline<E>
): Effect.Effect<never, ProviderError | E> =>
  Effect.flatMap(Effect.zip(readErrorText(endpoint, response, deadline), Clock.currentTimeMillis), ([body, now]) =>
    Effect.fail(Errors.fromResponse(endpoint, response.status, response.headers, body, now))
  )

const isSuccess = (status: number): boolean => status >= 200 && status < 300

const jsonType = /^\s*application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/** Whether an answer says its body is JSON (`application/json`, `application/problem+json`, ...). */
const isJson = (response: HttpClientResponse.HttpClientResponse): boolean => {
  const type = response.headers["content-type"]
  return type !== undefined && jsonType.test(type)
}

/**
 * Fails with what a JSON answer with HTTP 200, where an event stream was
 * asked, stands for: the error it holds, classified as an error sent as a
 * whole answer is (OpenRouter's `{"error": {"code": 429, ...}}` after its
 * status went out; any provider's error shape), or else a
 * `MalformedResponse`. Its body is read as an error's is, at most
 * `maxErrorBody` within `errorBodyWait`.
 */
const failJsonAnswer = <E = never>(
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse,
  deadline?: CallDeadline<E>
): Effect.Effect<never, ProviderError | E> =>
  Effect.flatMap(readErrorText(endpoint, response, deadline), (text) => {
    const value = Either.getOrUndefined(parseJson(endpoint, text, "an answer"))
    return Effect.fail(
      Errors.infoFromValue(value) === undefined
        ? Errors.malformed(endpoint, `${endpoint.provider} sent JSON where an event stream was asked: ${text}`)
        : Errors.fromAnswerError(endpoint, value)
    )
  })

const describeParseError = (error: ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(error).replace(/\s+/g, " ")

/**
 * Parses JSON text, mapping a failure to `MalformedResponse`.
 *
 * @internal
 */
export const parseJson = (context: Errors.Context, text: string, what: string): Either.Either<unknown, ProviderError> => {
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left(Errors.malformed(context, `${context.provider} sent ${what} that is not JSON: ${text}`))
  }
}

/**
 * A decoder of parsed JSON by a schema, mapping failures to
 * `MalformedResponse`.
 *
 * With `accepts`, a plain check of the usual shape comes first: a value it
 * accepts is taken as it is (its excess properties are kept, not stripped:
 * nothing reads them), and only the others go through the schema, which
 * also words the error. Stream events are decoded on every read of a
 * stream, and the schema allocates about 4 KiB an event doing it, where the
 * check allocates nothing. `accepts` must accept no value the schema would
 * refuse or change: `test/WireChecks.prop.test.ts` holds each one to its
 * schema.
 *
 * @internal
 */
export const valueDecoder = <A, I>(schema: Schema.Schema<A, I>, accepts?: (value: unknown) => value is A) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (context: Errors.Context, value: unknown, what: string): Either.Either<A, ProviderError> =>
    accepts !== undefined && accepts(value)
      ? Either.right(value)
      : Either.mapLeft(decode(value), (error) =>
          Errors.malformed(context, `${context.provider} sent an unexpected ${what}: ${describeParseError(error)}`)
        )
}

/**
 * A decoder of JSON text by a schema, mapping failures to
 * `MalformedResponse`; after the plain check `accepts`, if any (see
 * `valueDecoder`).
 *
 * @internal
 */
export const jsonDecoder = <A, I>(schema: Schema.Schema<A, I>, accepts?: (value: unknown) => value is A) => {
  const decode = valueDecoder(schema, accepts)
  return (context: Errors.Context, text: string, what: string): Either.Either<A, ProviderError> =>
    Either.flatMap(parseJson(context, text, what), (value) => decode(context, value, what))
}

/**
 * POSTs a JSON body and reads a JSON answer, converted by `toResult` (which
 * may refuse it, e.g. a content-filter finish); with `deadline`, the whole
 * call within it (each phase's own deadline shortened to what is left).
 *
 * @internal
 */
export const postJson = <A, E = never>(
  endpoint: Endpoint,
  path: string,
  body: unknown,
  toResult: (text: string) => Either.Either<A, ProviderError>,
  deadline?: CallDeadline<E>,
  headers?: Readonly<Record<string, string>>
): Effect.Effect<A, ProviderError | E> =>
  Effect.flatMap(
    send(endpoint, { path, accept: "application/json", body, headers }, deadline),
    (response) =>
      isSuccess(response.status)
        ? Effect.flatMap(readText(endpoint, response, deadline), toResult)
        : failResponse(endpoint, response, deadline)
  )

/**
 * Turns the events of one streamed answer into chat chunks. Created afresh
 * for every call: it may keep state (block indices, usage so far).
 *
 * @internal
 */
export interface EventDecoder {
  /**
   * Handles one event, pushing the chunks it makes to `out`. Returns `true`
   * on the terminal event (the stream ends there), `false` to go on, or the
   * error the stream fails with.
   */
  readonly onEvent: (event: Sse.SseEvent, out: Array<ChatChunk>) => boolean | ProviderError
  /** The name of the terminal event, for the error when the body ends before it. */
  readonly terminal: string
  /**
   * The error the stream fails with when the body ends before the terminal
   * event, if the decoder holds one back (a refusal whose usage it waited
   * for); otherwise that end is a `MalformedResponse`.
   */
  readonly pending?: () => ProviderError | undefined
  /**
   * For a stream whose end is the body's end (Gemini's): called when the
   * body ends, it pushes what the decoder held back to `out` and returns
   * `true` (the stream ended well) or the error it fails with;
   * `undefined` leaves the end to `pending` and the missing terminal event.
   */
  readonly end?: (out: Array<ChatChunk>) => true | ProviderError | undefined
}

/**
 * The reader of a body of `UndiciHttpClient` on its Node `Readable` (see
 * `ReadableReader`), closed with `scope`; `undefined` for any other
 * response. The body leaves the client's care and enters the scope's in
 * one step, with no interruption in between.
 */
const readerOf = (
  response: HttpClientResponse.HttpClientResponse,
  mapError: (error: HttpClientError.ResponseError) => ProviderError,
  scope: Scope.Scope
): Effect.Effect<ReadAhead.ReadAhead<Chunk.Chunk<Uint8Array>, Option.Option<ProviderError>> | undefined> =>
  Effect.uninterruptible(
    Effect.suspend(() => {
      const readable = Undici.readableOf(response)
      if (readable === undefined) return Effect.succeed(undefined)
      const onError = (cause: unknown) =>
        mapError(new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause }))
      return ReadableReader.make(readable, onError, scope)
    })
  )

/** Reads a stream makes under `timeoutFail` before it reads ahead (see `decodeSse`). */
const readsBeforeReadAhead = 2

/**
 * Decodes an SSE body into chat chunks until the terminal event, within the
 * first-token and idle deadlines, in one stream stage: each read of the
 * body, under the deadline in force, is decoded at once (UTF-8 text, SSE
 * events, the adapter's decoder) into the chunks it holds. (A stream of
 * stages costs its overhead per read for each stage.)
 *
 * - `response` is the answer once its headers have come: the request
 *   itself runs in the stream's own stage too (a `Stream.unwrap` around
 *   it cost a stream about 60 KiB of allocation, 10% of the adapter's). It
 *   fails the stream as it fails (a non-2xx answer, no connection).
 * - The first content chunk must come within `firstToken` of the start
 *   (chunks without content do not count), and by the caller's deadline
 *   `head`, if any, when that is nearer (failing then as it says: the
 *   router's, see `StreamWithin`); after it, each pull must bring chunks
 *   within `idle` of when it was made (a read that brings none, such as a
 *   heartbeat comment, does not count; nor does the time the consumer took
 *   between two pulls).
 * - A failure of the body is mapped by `mapError`; a body that ends before
 *   the terminal event fails with `MalformedResponse`, after the chunks it
 *   did hold.
 * - Interrupting the pull closes the body (and so aborts the HTTP request).
 * - How a read waits, on the live clock: a response of this package's
 *   undici client (`UndiciHttpClient`) is read from its Node `Readable`,
 *   each read one `Effect.async` under a plain timer (`ReadableReader`).
 *   Any other body is read as its `Stream`: each read under `timeoutFail`
 *   (a fiber forked for it) at first, then, from the third read on, one
 *   read ahead by a fiber of the stream's scope, each read awaited under a
 *   plain timer (`ReadAhead`): a long answer reads once a token, and a
 *   fiber a read was a fifth of what its adapter allocated (8 of 41 KiB a
 *   read), where a short answer, one or two reads, would pay more for the
 *   reader (32 KiB) than it saves. On any other clock (virtual time), every
 *   read is the `Stream`'s, under `timeoutFail`.
 *
 * @internal
 */
export const decodeSse = <E = never>(
  endpoint: Errors.Context,
  response: (head: CallDeadline<E> | undefined) => Effect.Effect<HttpClientResponse.HttpClientResponse, ProviderError | E>,
  options: {
    readonly mapError: (error: HttpClientError.ResponseError) => ProviderError
    readonly makeDecoder: () => EventDecoder
    readonly timeouts: Timeouts.Resolved
    readonly onTimeout: (phase: TimeoutPhase, after: Duration.Duration) => ProviderError
    readonly head?: HeadDeadline<E> | undefined
  }
): Stream.Stream<ChatChunk, ProviderError | E> =>
  Pullable.make((scope) =>
    Effect.gen(function* () {
      const clock = yield* Effect.clock
      const opened = monotonicMillis(clock)
      const head: CallDeadline<E> | undefined =
        options.head === undefined ? undefined : { at: opened + options.head.millis, onTimeout: options.head.onTimeout }
      const answer = yield* response(head)
      const live = isLive(clock)
      /** The reader waiting on a timer: the `Readable`'s, or the stream's read ahead from its third read on; reads so far. */
      let ahead: ReadAhead.ReadAhead<Chunk.Chunk<Uint8Array>, Option.Option<ProviderError>> | undefined = live
        ? yield* readerOf(answer, options.mapError, scope)
        : undefined
      const pull = ahead === undefined
        ? Effect.mapError(yield* Scope.extend(Stream.toPull(answer.stream), scope), Option.map(options.mapError))
        : undefined
      let reads = 0
      const { firstToken, idle } = options.timeouts
      const idleMillis = Duration.toMillis(idle)
      const decoder = options.makeDecoder()
      const parser = new Sse.SseParser()
      const text = new TextDecoder()
      const events: Array<Sse.SseEvent> = []
      let sawContent = false
      let deadline = monotonicMillis(clock) + Duration.toMillis(firstToken)
      // the caller's deadline for the first content, when nearer (it wins a tie, as under `timeoutFail`)
      let onHead: (() => E) | undefined = undefined
      if (head !== undefined && head.at <= deadline) {
        deadline = head.at
        onHead = head.onTimeout
      }
      /** Set once the stream has nothing more to give: its end (`none`) or the failure due after the chunks out. */
      let last: Option.Option<ProviderError | E> | undefined
      const timedOut = (): Option.Option<ProviderError | E> =>
        Option.some(
          // a refusal the decoder holds (waiting for its usage) is what the stream ends with, not the silence after it
          decoder.pending?.() ??
          (sawContent
            ? options.onTimeout("idle", idle)
            : onHead !== undefined
            ? onHead()
            : options.onTimeout("first-token", firstToken))
        )

      /** Decodes `input` into `out`; sets `last` on the terminal event or a bad one. */
      const decode = (input: string, out: Array<ChatChunk>): void => {
        parser.feed(input, events)
        for (const event of events) {
          const step = decoder.onEvent(event, out)
          if (step === false) continue
          last = step === true ? Option.none() : Option.some(step)
          break
        }
        events.length = 0
      }

      /** Hands over what a read decoded, if anything, else reads on. */
      const emit = (out: Array<ChatChunk>): Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<ProviderError | E>> => {
        if (out.length > 0) {
          if (!sawContent && out.some(isContent)) sawContent = true
          return Effect.succeed(Chunk.unsafeFromArray(out))
        }
        return last === undefined ? readOn() : Effect.fail(last)
      }

      // past the first content, each pull waits up to `idle` from when it is made: the time its consumer took
      // since the last one (a slow client of the gateway, its socket full) is not the upstream's silence
      const next: Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<ProviderError | E>> = Effect.suspend(() => {
        if (sawContent) deadline = monotonicMillis(clock) + idleMillis
        return readOn()
      })

      /** One read under the deadline in force (a read that brings no chunk reads on under the same one). */
      const readOn = (): Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<ProviderError | E>> => {
        if (last !== undefined) return Effect.fail(last)
        const remaining = Math.max(0, deadline - monotonicMillis(clock))
        reads++
        const read =
          ahead !== undefined
            ? ahead.take(remaining, timedOut)
            : live && reads > readsBeforeReadAhead
            ? Effect.flatMap(ReadAhead.start(pull!, scope), (started) => {
                ahead = started
                return started.take(remaining, timedOut)
              })
            : Deadline.timeoutFail(pull!, { duration: Duration.millis(remaining), onTimeout: timedOut })
        return Effect.matchEffect(read, {
          onFailure: (error) => {
            if (Option.isSome(error)) return Effect.fail(error)
            // the body ended: what the decoder still held, then the end or the missing terminal event
            const out: Array<ChatChunk> = []
            decode(text.decode(), out)
            if (last === undefined) {
              const ended = decoder.end?.(out)
              last = ended === true ? Option.none() : Option.some(
                ended ?? decoder.pending?.() ?? Errors.malformed(endpoint, `${endpoint.provider} stream ended before ${decoder.terminal}`)
              )
            }
            return emit(out)
          },
          onSuccess: (chunk) => {
            const out: Array<ChatChunk> = []
            for (const part of chunk) {
              decode(text.decode(part, { stream: true }), out)
              if (last !== undefined) break
            }
            return emit(out)
          }
        })
      }
      return next
    })
  )

/**
 * POSTs a JSON body and streams the SSE answer as chat chunks, within the
 * connect, first-token and idle deadlines; with `head`, up to the first
 * content within it too (each phase's own deadline shortened to what is
 * left of it).
 *
 * With `again`, an answer that fails as `again.when` says, before the
 * stream began, is asked once more with `again.body`.
 *
 * @internal
 */
export const postStream = <E = never>(
  endpoint: Endpoint,
  post: Omit<Post, "accept">,
  makeDecoder: () => EventDecoder,
  head?: HeadDeadline<E>,
  again?: Again
): Stream.Stream<ChatChunk, ProviderError | E> => {
  const open = (body: unknown, deadline: CallDeadline<E> | undefined) =>
    Effect.flatMap(send(endpoint, { ...post, body, accept: "text/event-stream" }, deadline), (response) =>
      !isSuccess(response.status)
        ? failResponse(endpoint, response, deadline)
        : isJson(response)
        ? failJsonAnswer(endpoint, response, deadline)
        : Effect.succeed(response))
  return decodeSse(
    endpoint,
    (deadline) => orAgain(open(post.body, deadline), again, (body) => open(body, deadline)),
    {
      mapError: mapHttpError(endpoint),
      makeDecoder,
      timeouts: endpoint.timeouts,
      onTimeout: (phase, after) => timeoutError(endpoint, phase, after),
      head
    }
  )
}

/**
 * A call's second body, sent once when the first one's answer fails as
 * `when` says; made only then, and `undefined` when it would be the first
 * body again (the first answer's failure stands).
 *
 * @internal
 */
export interface Again {
  readonly body: (error: unknown) => unknown
  readonly when: (error: unknown) => boolean
}

/** `first`, or, when it fails as `again.when` says, the second body sent with `send` (see `Again`). */
const orAgain = <A, E, R>(
  first: Effect.Effect<A, E, R>,
  again: Again | undefined,
  send: (body: unknown) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  again === undefined ? first : Effect.catchIf(first, again.when, (error) => {
    const body = again.body(error)
    return body === undefined ? Effect.fail(error) : send(body)
  })

/** The request without its reasoning effort. */
const withoutEffort = ({ reasoningEffort: _, ...rest }: ChatRequest): ChatRequest => rest

/** The request without its stop sequences. */
const withoutStop = ({ stop: _, ...rest }: ChatRequest): ChatRequest => rest

/** The request without its presence and frequency penalties. */
const withoutPenalties = ({ frequencyPenalty: _, presencePenalty: __, ...rest }: ChatRequest): ChatRequest => rest

/**
 * Whether a 400 refuses the request's presence or frequency penalty, in
 * Gemini's words ("Penalty is not enabled for models/gemini-2.5-flash", from
 * Gemini 2.5 and later), which Gemini 2.0 and OpenAI take.
 *
 * @internal
 */
export const refusedPenalties = (error: unknown): boolean =>
  Predicate.isTagged(error, "InvalidRequest") && /penalty is not enabled/i.test((error as InvalidRequest).message)

/**
 * Whether a 400 refuses the request's stop sequences, in OpenAI's words
 * ("Unsupported parameter: 'stop' is not supported with this model.", from
 * its reasoning models: o3, o4-mini, GPT-5 and some later ones), which OpenAI
 * takes on its other models.
 *
 * @internal
 */
export const refusedStop = (error: unknown): boolean =>
  Predicate.isTagged(error, "InvalidRequest") && /unsupported parameter: 'stop'|'stop' is not supported/i.test((error as InvalidRequest).message)

/**
 * Whether a 400 refuses the request's reasoning effort: a model this
 * adapter's table placed wrong (a level it lacks, a model that does not
 * reason), in the words of OpenAI (`reasoning_effort`, `reasoning.effort`)
 * or Gemini (`thinking_level`, `thinking_budget`, `thinkingConfig`, "Thinking
 * is not enabled for models/…").
 *
 * @internal
 */
export const refusedReasoning = (error: unknown): boolean =>
  Predicate.isTagged(error, "InvalidRequest") &&
  /reasoning[._ ]?effort|thinking[._ ]?(?:level|budget|config)|thinking is not (?:enabled|supported)/i.test((error as InvalidRequest).message)

/**
 * How an adapter speaks its provider's wire: where it POSTs, how a request
 * is encoded, how an answer and a stream's events are decoded.
 *
 * @internal
 */
export interface Wire {
  /** The path of a completion, under the base URL. */
  readonly path: string
  /** The path of a stream, if not `path`. */
  readonly streamPath?: string | undefined
  /** Query parameters of a stream (Gemini's `alt=sse`). */
  readonly streamUrlParams?: Readonly<Record<string, string>> | undefined
  /** Encodes a request; `lean`, for a stream, without the optional field the server refused (see `streamOption`). */
  readonly encode: (request: ChatRequest, stream: boolean, lean?: boolean) => unknown
  readonly decodeResponse: (context: Errors.Context, text: string) => Either.Either<ChatResponse, ProviderError>
  readonly streamDecoder: (context: Errors.Context) => EventDecoder
  /**
   * Whether the model takes thought signatures, so that a 400 refusing a
   * conversation's signatures is answered by sending it once more with the
   * placeholder in their place (see `withPlaceholders`).
   */
  readonly signatures?: boolean | undefined
  /**
   * An optional field of a stream's request that some servers refuse with a
   * 400 (OpenAI's `stream_options`, see `refusedStreamOptions`), told apart
   * by `refused`: the stream is then asked once more `lean` (without it),
   * and every later stream of the adapter leaves it out.
   */
  readonly streamOption?: { readonly refused: (error: unknown) => boolean } | undefined
  /**
   * Headers of one request's own (Anthropic's `anthropic-beta` of the
   * request's betas and the configured ones), their names in lower case,
   * sent over the endpoint's; `undefined` for none, the case to keep cheap.
   */
  readonly headers?: ((request: ChatRequest) => Readonly<Record<string, string>> | undefined) | undefined
}

/**
 * An adapter's two calls on its endpoint: `complete` POSTs the encoded
 * request and decodes the JSON answer; `stream` POSTs it for SSE and
 * decodes the events, with a fresh decoder each call.
 *
 * @internal
 */
export const chatCalls = (
  endpoint: Endpoint,
  wire: Wire,
  info: ModelInfo
): Pick<LanguageModel.Service<ProviderError>, "complete" | "stream"> => {
  const streamPath = wire.streamPath ?? wire.path
  const decode = (text: string) => wire.decodeResponse(endpoint, text)
  // The reasoning efforts the model refused, left out of every later request: a model refuses a level on
  // every call, and each would pay a 400 first. Kept for the adapter's life (a model's levels change with
  // its snapshot, which is another model name).
  const refusedEfforts = new Set<ChatRequest["reasoningEffort"]>()
  // Whether the server refused the stream's optional field (`streamOption`): so does it on every stream,
  // and for the adapter's life (its server is one `baseUrl`).
  let lean = false
  // Whether the model refused stop sequences (see `refusedStop`): so does it on every call, and each would
  // pay a 400 first
  let stopRefused = false
  // Whether the model refused the penalties (see `refusedPenalties`): so does it on every call
  let penaltiesRefused = false
  const asked = (request: ChatRequest): ChatRequest => {
    const unpenalised = penaltiesRefused && (request.presencePenalty !== undefined || request.frequencyPenalty !== undefined)
      ? withoutPenalties(request)
      : request
    const stopped = stopRefused && unpenalised.stop !== undefined ? withoutStop(unpenalised) : unpenalised
    return stopped.reasoningEffort !== undefined && refusedEfforts.has(stopped.reasoningEffort) ? withoutEffort(stopped) : stopped
  }
  // asked once more, with what the model refused changed: a conversation's signatures the placeholder
  // (the router's next attempt at the target starts from the request's own signatures again: one more 400,
  // cheap), a stream's optional field left out, stop sequences, the penalties or a reasoning effort left out (the model
  // answers without them, where the 400 ends the chain)
  const again = (request: ChatRequest, stream: boolean, first: unknown, wasLean: boolean): Again | undefined => {
    const signatures = wire.signatures === true && hasToolCalls(request)
    const reasoning = request.reasoningEffort !== undefined
    const stops = request.stop !== undefined && request.stop.length > 0
    const penalties = request.presencePenalty !== undefined || request.frequencyPenalty !== undefined
    const option = stream && !wasLean ? wire.streamOption : undefined
    if (!signatures && !reasoning && !stops && !penalties && option === undefined) return undefined
    const signaturesRefused = (error: unknown) => signatures && refusedSignatures(error)
    const optionRefused = (error: unknown) => option !== undefined && option.refused(error)
    const stopsRefused = (error: unknown) => stops && refusedStop(error)
    const penaltiesRefusedBy = (error: unknown) => penalties && refusedPenalties(error)
    const body = (error: unknown) => {
      let encoded: unknown
      if (signaturesRefused(error)) encoded = wire.encode(withPlaceholders(request), stream, wasLean)
      else if (optionRefused(error)) {
        lean = true
        encoded = wire.encode(request, stream, true)
      } else if (stopsRefused(error)) {
        stopRefused = true
        encoded = wire.encode(withoutStop(request), stream, wasLean)
      } else if (penaltiesRefusedBy(error)) {
        penaltiesRefused = true
        encoded = wire.encode(withoutPenalties(request), stream, wasLean)
      } else {
        refusedEfforts.add(request.reasoningEffort)
        encoded = wire.encode(withoutEffort(request), stream, wasLean)
      }
      return JSON.stringify(encoded) === JSON.stringify(first) ? undefined : encoded
    }
    return {
      body,
      when: (error) =>
        signaturesRefused(error) || optionRefused(error) || stopsRefused(error) || penaltiesRefusedBy(error) ||
        (reasoning && refusedReasoning(error))
    }
  }
  const complete = <E = never>(whole: ChatRequest, deadline?: CallDeadline<E>): Effect.Effect<ChatResponse, ProviderError | E> => {
    const refused = formatRefusal(info, whole)
    if (refused !== undefined) return Effect.fail(refused)
    const request = asked(whole)
    const first = wire.encode(request, false)
    const headers = wire.headers?.(request)
    return orAgain(postJson(endpoint, wire.path, first, decode, deadline, headers), again(request, false, first, false), (body) =>
      postJson(endpoint, wire.path, body, decode, deadline, headers))
  }
  const stream = <E = never>(whole: ChatRequest, head?: HeadDeadline<E>): Stream.Stream<ChatChunk, ProviderError | E> => {
    const refused = formatRefusal(info, whole)
    if (refused !== undefined) return Stream.fail(refused)
    const request = asked(whole)
    const wasLean = lean
    const first = wire.encode(request, true, wasLean)
    const headers = wire.headers?.(request)
    return postStream(endpoint, { path: streamPath, urlParams: wire.streamUrlParams, body: first, headers }, () =>
      wire.streamDecoder(endpoint), head, again(request, true, first, wasLean))
  }
  // the router's deadlines kept on the client's and the reader's timers, not by a forked fiber (see `CompleteWithin`, `StreamWithin`)
  return {
    complete: CompleteWithin.attach(complete, (request, millis, onTimeout) =>
      Effect.clockWith((clock) => complete(request, { at: monotonicMillis(clock) + millis, onTimeout }))
    ),
    stream: StreamWithin.attach(stream, (request, millis, onTimeout) => stream(request, { millis, onTimeout }))
  }
}

/**
 * Parses an SSE event's data as JSON and decodes it with a schema, after
 * the plain check `accepts`, if any (see `valueDecoder`).
 *
 * @internal
 */
export const eventDecoder = <A, I>(schema: Schema.Schema<A, I>, accepts?: (value: unknown) => value is A) => {
  const decode = jsonDecoder(schema, accepts)
  return (context: Errors.Context, event: Sse.SseEvent): Either.Either<A, ProviderError> =>
    decode(context, event.data, "stream event")
}

/**
 * For `accepts` checks (see `valueDecoder`): a plain object, not an array.
 *
 * @internal
 */
export const isPlainObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** For `accepts` checks: absent, null or a string. @internal */
export const isOptionalString = (value: unknown): value is string | null | undefined =>
  value === undefined || value === null || typeof value === "string"

/** For `accepts` checks: absent, null or a number. @internal */
export const isOptionalNumber = (value: unknown): value is number | null | undefined =>
  value === undefined || value === null || typeof value === "number"

/** For `accepts` checks: absent, or of the type `kind` (`typeof`'s name for it). @internal */
export const isOptional = (value: unknown, kind: "string" | "number" | "boolean"): boolean =>
  value === undefined || typeof value === kind

/**
 * A fresh id for an answer whose provider sent none.
 *
 * @internal
 */
export const freshId = (provider: string): string => `${provider}-${crypto.randomUUID()}`
