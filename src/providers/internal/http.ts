/**
 * What the three adapters share: one configured base client (URL prefix,
 * auth and user headers, the auth header names redacted, an optional user
 * transform), a JSON call and an SSE call that map every foreign failure to
 * a `ProviderError` where it enters and enforce the three deadlines.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../llm/Chat.js"
import type { ProviderError, TimeoutPhase } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import * as Sse from "./sse.js"
import * as Timeouts from "./timeouts.js"

/**
 * The header names that carry keys across the three providers (and Azure's
 * `api-key`): redacted in spans and logs of the HTTP client.
 *
 * @internal
 */
export const authHeaderNames: ReadonlyArray<string> = ["authorization", "x-api-key", "x-goog-api-key", "api-key"]

const addAuthNames = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => {
  const missing = authHeaderNames.filter((name) => !names.includes(name))
  return missing.length === 0 ? names : [...names, ...missing]
}

/**
 * Everything one adapter instance needs to call its provider.
 *
 * @internal
 */
export interface Endpoint extends Errors.Context {
  readonly client: HttpClient.HttpClient
  readonly timeouts: Timeouts.Resolved
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
  readonly headers?: Readonly<Record<string, string>> | undefined
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
    const secret = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
    const headers = { ...options.headers, ...(secret === undefined ? {} : options.auth(secret)) }
    const prefix = options.baseUrl.replace(/\/+$/, "")
    const client = base.pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(HttpClientRequest.prependUrl(prefix), HttpClientRequest.setHeaders(headers))
      ),
      options.transformClient ?? identity
    )
    return {
      provider: options.provider,
      model: options.model,
      secret,
      client,
      timeouts: Timeouts.resolve(options.timeouts)
    }
  })

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

/** Sends a request and waits for its headers, within the connect deadline. */
const send = (
  endpoint: Endpoint,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, ProviderError> =>
  endpoint.client.execute(request).pipe(
    Effect.mapError(mapHttpError(endpoint)),
    Effect.timeoutFail({
      duration: endpoint.timeouts.connect,
      onTimeout: () => timeoutError(endpoint, "connect", endpoint.timeouts.connect)
    }),
    Effect.locallyWith(Headers.currentRedactedNames, addAuthNames)
  )

/** Reads a whole body as text, within the idle deadline. */
const readText = (
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, ProviderError> =>
  response.text.pipe(
    Effect.mapError(mapHttpError(endpoint)),
    Effect.timeoutFail({
      duration: endpoint.timeouts.idle,
      onTimeout: () => timeoutError(endpoint, "idle", endpoint.timeouts.idle)
    })
  )

/** Fails with the error a non-2xx answer stands for. */
const failResponse = (
  endpoint: Endpoint,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<never, ProviderError> =>
  Effect.flatMap(Effect.zip(readText(endpoint, response), Clock.currentTimeMillis), ([body, now]) =>
    Effect.fail(Errors.fromResponse(endpoint, response.status, response.headers, body, now))
  )

const isSuccess = (status: number): boolean => status >= 200 && status < 300

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
 * @internal
 */
export const valueDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (context: Errors.Context, value: unknown, what: string): Either.Either<A, ProviderError> =>
    Either.mapLeft(decode(value), (error) =>
      Errors.malformed(context, `${context.provider} sent an unexpected ${what}: ${describeParseError(error)}`)
    )
}

/**
 * A decoder of JSON text by a schema, mapping failures to
 * `MalformedResponse`.
 *
 * @internal
 */
export const jsonDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = valueDecoder(schema)
  return (context: Errors.Context, text: string, what: string): Either.Either<A, ProviderError> =>
    Either.flatMap(parseJson(context, text, what), (value) => decode(context, value, what))
}

/**
 * POSTs a JSON body and reads a JSON answer, converted by `toResult` (which
 * may refuse it, e.g. a content-filter finish).
 *
 * @internal
 */
export const postJson = <A>(
  endpoint: Endpoint,
  path: string,
  body: unknown,
  toResult: (text: string) => Either.Either<A, ProviderError>
): Effect.Effect<A, ProviderError> =>
  Effect.flatMap(
    send(endpoint, HttpClientRequest.post(path).pipe(HttpClientRequest.acceptJson, HttpClientRequest.bodyUnsafeJson(body))),
    (response) =>
      isSuccess(response.status)
        ? Effect.flatMap(readText(endpoint, response), toResult)
        : failResponse(endpoint, response)
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
}

const writeAll = (out: Array<ChatChunk>) =>
  out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))

/**
 * Decodes SSE events into chunks until the terminal event; a body that ends
 * before it fails with `MalformedResponse`.
 *
 * @internal
 */
export const decodeEvents = <E>(
  endpoint: Errors.Context,
  events: Stream.Stream<Sse.SseEvent, E>,
  makeDecoder: () => EventDecoder
): Stream.Stream<ChatChunk, E | ProviderError> =>
  Stream.suspend(() => {
    const decoder = makeDecoder()
    const loop: Channel.Channel<
      Chunk.Chunk<ChatChunk>,
      Chunk.Chunk<Sse.SseEvent>,
      E | ProviderError,
      E,
      unknown,
      unknown
    > = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Sse.SseEvent>) => {
        const out: Array<ChatChunk> = []
        for (const event of input) {
          const step = decoder.onEvent(event, out)
          if (step === false) continue
          return step === true ? writeAll(out) : Channel.zipRight(writeAll(out), Channel.fail(step))
        }
        return Channel.zipRight(writeAll(out), loop)
      },
      onFailure: Channel.failCause,
      onDone: () =>
        Channel.fail(Errors.malformed(endpoint, `${endpoint.provider} stream ended before ${decoder.terminal}`))
    })
    return Stream.pipeThroughChannelOrFail(events, loop)
  })

/**
 * POSTs a JSON body and streams the SSE answer as chat chunks, within the
 * connect, first-token and idle deadlines.
 *
 * @internal
 */
export const postStream = (
  endpoint: Endpoint,
  request: HttpClientRequest.HttpClientRequest,
  makeDecoder: () => EventDecoder
): Stream.Stream<ChatChunk, ProviderError> =>
  Stream.unwrap(
    Effect.flatMap(
      send(endpoint, request.pipe(HttpClientRequest.accept("text/event-stream"))),
      (response): Effect.Effect<Stream.Stream<ChatChunk, ProviderError>, ProviderError> =>
        isSuccess(response.status)
          ? Effect.succeed(
              Timeouts.withDeadlines(
                decodeEvents(endpoint, Sse.events(Stream.mapError(response.stream, mapHttpError(endpoint))), makeDecoder),
                endpoint.timeouts,
                (phase, after) => timeoutError(endpoint, phase, after)
              )
            )
          : failResponse(endpoint, response)
    )
  )

/**
 * Parses an SSE event's data as JSON and decodes it with a schema.
 *
 * @internal
 */
export const eventDecoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = jsonDecoder(schema)
  return (context: Errors.Context, event: Sse.SseEvent): Either.Either<A, ProviderError> =>
    decode(context, event.data, "stream event")
}

/**
 * A fresh id for an answer whose provider sent none.
 *
 * @internal
 */
export const freshId = (provider: string): string => `${provider}-${crypto.randomUUID()}`
