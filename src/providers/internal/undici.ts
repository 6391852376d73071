/**
 * The implementation of `UndiciHttpClient` (see its module's docs), and
 * what the adapters use of it: a call sent straight on its dispatcher, with
 * a deadline for its response headers on a timer, a response's Node
 * `Readable`, and its text under a plain timer.
 *
 * @internal
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { globalValue } from "effect/GlobalValue"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import type { Dispatcher } from "undici"
import { spansGoSomewhere } from "../../llm/internal/tracing.js"
import { armTimer } from "../../resilience/internal/timeout.js"

/**
 * Builds the client on `dispatcher` (see `UndiciHttpClient.make`).
 *
 * @internal
 */
export const make = (
  dispatcher: Dispatcher,
  layerOptions: Option.Option<Partial<Dispatcher.RequestOptions>> = Option.none()
): HttpClient.HttpClient => {
  const traced = NodeHttpClient.makeUndici(dispatcher)
  const send = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.withFiberRuntime<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((fiber) => {
      if (isTraced(fiber, request)) return traced.execute(request)
      const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
      if (url._tag === "Left") {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
      }
      const sending: Sending = {
        options: Option.orElse(Context.getOption(fiber.currentContext, NodeHttpClient.UndiciRequestOptions), () => layerOptions),
        deadline: undefined,
        scoped: scopedRequests.get(request)
      }
      const send = (body: RequestBody) =>
        dispatch(dispatcher, () => request, request.method, request.headers, url.right, body, sending)
      const body = request.body
      switch (body._tag) {
        case "Empty":
          return send(null)
        case "Uint8Array":
        case "Raw":
          return send(body.body as RequestBody)
        case "FormData":
          return send(body.formData as RequestBody)
        case "Stream":
          return Effect.flatMap(NodeStream.toReadable(body.stream), send)
      }
    })
  const client = HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (request) => Effect.flatMap(request, send),
    Effect.succeed
  )
  made.set(client, { dispatcher, layerOptions })
  return client
}

/** The clients `make` made (not those derived from them by `HttpClient` combinators), and what each sends with. */
const made = new WeakMap<
  HttpClient.HttpClient,
  { readonly dispatcher: Dispatcher; readonly layerOptions: Option.Option<Partial<Dispatcher.RequestOptions>> }
>()

/**
 * A POST of JSON text sent straight on a client's dispatcher: what a
 * request is, without the platform's request.
 *
 * @internal
 */
export interface DirectPost {
  readonly url: URL
  /** Every header, `content-type` included. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * Sends a POST on the dispatcher of `client`, a client `make` made with
 * nothing around it, as `execute` would send it but without building the
 * platform's request or going through the client's pipeline: for the
 * adapters' calls, which know their URL and headers when they are built,
 * when no span would go anywhere (such a call of `execute` makes none
 * either; the adapters send a traced call through `execute`). The response
 * once its headers have come within `headersMillis`, else a `RequestError`
 * whose cause is `HeadersTimeout`, the request aborted.
 * `NodeHttpClient.UndiciRequestOptions` in `context` apply, as they do to
 * `execute`. The platform request a response or a failure carries is made
 * only when needed (a response's when first read, a failure's with it), and
 * holds the method and URL, not the headers: no secret is in it.
 * `undefined` for any other client.
 *
 * @internal
 */
export const directPoster = (
  client: HttpClient.HttpClient
):
  | ((
      context: Context.Context<never>,
      post: DirectPost,
      headersMillis: number
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>)
  | undefined => {
  const sender = made.get(client)
  if (sender === undefined) return undefined
  const { dispatcher, layerOptions } = sender
  return (context, post, headersMillis) => {
    let request: HttpClientRequest.HttpClientRequest | undefined
    const requestOf = () => (request ??= HttpClientRequest.post(post.url))
    return dispatch(dispatcher, requestOf, "POST", post.headers, post.url, post.body, {
      options: Option.orElse(Context.getOption(context, NodeHttpClient.UndiciRequestOptions), () => layerOptions),
      deadline: headersMillis,
      scoped: undefined
    })
  }
}

/**
 * The cause of a direct call's failure when its headers deadline passed.
 *
 * @internal
 */
export class HeadersTimeout {
  readonly _tag = "HeadersTimeout"
  constructor(readonly millis: number) {}
}

const headersTimeout = (request: HttpClientRequest.HttpClientRequest, millis: number) =>
  new HttpClientError.RequestError({ request, reason: "Transport", cause: new HeadersTimeout(millis) })


/** Whether a call would make a span that goes somewhere (see `UndiciHttpClient`'s docs). */
const isTraced = (fiber: Fiber.RuntimeFiber<unknown, unknown>, request: HttpClientRequest.HttpClientRequest): boolean =>
  spansGoSomewhere(fiber) && !fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)(request)

/** What undici sends as a request's body. */
type RequestBody = Exclude<Dispatcher.RequestOptions["body"], undefined>

/**
 * The controllers of requests made under `HttpClient.withScope`, by
 * request: the platform's own registry (a global value), which aborts each
 * when its scope closes, so that the request and its body end with it.
 */
const scopedRequests = globalValue(
  "@effect/platform/HttpClient/scopedRequests",
  () => new WeakMap<HttpClientRequest.HttpClientRequest, AbortController>()
)

/** How one call is sent, besides the request. */
interface Sending {
  /** Undici's request options, from the fiber's context or else the layer's. */
  readonly options: Option.Option<Partial<Dispatcher.RequestOptions>>
  /** The headers deadline in milliseconds, if any (a direct call's). */
  readonly deadline: number | undefined
  /** The controller of a request under `HttpClient.withScope`, if it is one. */
  readonly scoped: AbortController | undefined
}

/**
 * Sends the request; the response once its headers have come, within the
 * deadline if any. Interrupting the wait, or the deadline passing, aborts
 * the request; so does closing the scope of a request under
 * `HttpClient.withScope`, then or later (its body too).
 */
const dispatch = (
  dispatcher: Dispatcher,
  requestOf: () => HttpClientRequest.HttpClientRequest,
  method: HttpMethod,
  headers: Readonly<Record<string, string>>,
  url: URL,
  body: RequestBody,
  { deadline, options, scoped }: Sending
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError> =>
  Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>((resume) => {
    const controller = scoped ?? new Abort()
    let done = false
    const finish = (result: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(result)
    }
    const timer =
      deadline === undefined
        ? undefined
        : armTimer(deadline, () => {
            finish(Effect.fail(headersTimeout(requestOf(), deadline)))
            controller.abort()
          })
    dispatcher
      .request({
        ...(options._tag === "Some" ? options.value : undefined),
        signal: controller.signal,
        method,
        headers,
        origin: url.origin,
        path: url.pathname + url.search + url.hash,
        body,
        // deadlines are the caller's (Effect's), as in the platform's client
        headersTimeout: 60 * 60 * 1000,
        bodyTimeout: 0
      })
      .then(
        (source) => {
          if (done) source.body.destroy()
          else finish(Effect.succeed(new UndiciResponse(requestOf, source)))
        },
        (cause) => finish(Effect.fail(new HttpClientError.RequestError({ request: requestOf(), reason: "Transport", cause })))
      )
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      controller.abort()
    })
  })

/**
 * What aborts a direct call that is not under `HttpClient.withScope`: an
 * emitter of one `abort` listener, which undici's request takes as a
 * `signal` as it takes an `AbortSignal` (it listens with `once` and stops
 * with `removeListener`), without the `EventTarget` an `AbortController`
 * makes for every call. Only a call still waiting for its headers is
 * aborted, so the reason undici sees (its own `RequestAbortedError`, not
 * an `AbortError`) reaches nobody.
 */
class Abort {
  aborted = false
  readonly reason = undefined
  private listener: (() => void) | undefined = undefined
  get signal(): this {
    return this
  }
  on(_event: "abort", listener: () => void): this {
    return this.once(_event, listener)
  }
  once(_event: "abort", listener: () => void): this {
    this.listener = listener
    return this
  }
  removeListener(_event: "abort", listener: () => void): this {
    if (this.listener === listener) this.listener = undefined
    return this
  }
  abort(): void {
    if (this.aborted) return
    this.aborted = true
    const listener = this.listener
    this.listener = undefined
    listener?.()
  }
}

/**
 * Bodies nobody read or dropped: destroyed when their response is
 * collected, so that their connection is not held for ever (what the
 * platform's client does with its `AbortController`).
 */
const unread = new FinalizationRegistry<Readable>((body) => {
  if (!body.destroyed) body.destroy()
})

const noop = () => {}

/**
 * The Node `Readable` of a response of this client, for a reader that
 * waits on it directly; `undefined` for any other response.
 *
 * @internal
 */
export const readableOf = (response: HttpClientResponse.HttpClientResponse): Readable | undefined =>
  response instanceof UndiciResponse ? response.take() : undefined

/**
 * How long a body read may wait for its next piece, and what it then fails
 * with (see `textWithin`).
 *
 * @internal
 */
export interface PieceLimit<E> {
  readonly millis: number
  readonly onTimeout: () => E
}

/**
 * The whole body of a response of this client as text, failing with the
 * limit's `onTimeout()` when a wait for the next piece of it passes the
 * limit's `millis`, the body then destroyed (which aborts its request). The
 * limit is asked for at the start and again each time a piece comes, so an
 * idle deadline restarts with every piece (a body that trickles, such as
 * DeepSeek's keep-alive empty lines before its JSON, is not cut while it
 * keeps coming), where a call's deadline, when nearer, stays where it is.
 * One wait under a plain timer, for the live clock only. `undefined` for
 * any other response.
 *
 * @internal
 */
export const textWithin = <E>(
  response: HttpClientResponse.HttpClientResponse,
  limit: () => PieceLimit<E>
): Effect.Effect<string, HttpClientError.ResponseError | E> | undefined =>
  response instanceof UndiciResponse ? response.textWithin(limit) : undefined

/**
 * At most `maxBytes` of the body of a response of this client, as text,
 * within `millis` in all (not restarted by a piece): the body is destroyed
 * (which aborts its request and closes its connection) when it has sent
 * that many bytes, and when the time is up, which fails with `onTimeout()`
 * or, without it, ends with what came. For an error's body, whose size and
 * pace are a stranger's. One wait under a plain timer, for the live clock
 * only. `undefined` for any other response.
 *
 * @internal
 */
export const prefixWithin = <E>(
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  millis: number,
  onTimeout: (() => E) | undefined
): Effect.Effect<string, HttpClientError.ResponseError | E> | undefined =>
  response instanceof UndiciResponse ? response.prefixWithin(maxBytes, millis, onTimeout) : undefined

class UndiciResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private taken = false
  private headersCache: Headers.Headers | undefined
  private cookiesCache: Cookies.Cookies | undefined
  private textPromise: Promise<string> | undefined
  private bytesPromise: Promise<ArrayBuffer> | undefined
  private formPromise: Promise<FormData> | undefined

  constructor(
    private readonly requestOf: () => HttpClientRequest.HttpClientRequest,
    private readonly source: Dispatcher.ResponseData
  ) {
    super()
    source.body.on("error", noop)
    unread.register(this, source.body, this)
  }

  get request(): HttpClientRequest.HttpClientRequest {
    return this.requestOf()
  }

  /** The body, now in someone's hands: no longer the registry's to destroy. */
  take(): Dispatcher.ResponseData["body"] {
    if (!this.taken) {
      this.taken = true
      unread.unregister(this)
    }
    return this.source.body
  }

  get status(): number {
    return this.source.statusCode
  }

  get headers(): Headers.Headers {
    return (this.headersCache ??= Headers.fromInput(this.source.headers as Headers.Input))
  }

  get cookies(): Cookies.Cookies {
    if (this.cookiesCache !== undefined) return this.cookiesCache
    const header = this.source.headers["set-cookie"]
    return (this.cookiesCache =
      header === undefined ? Cookies.empty : Cookies.fromSetCookie(Array.isArray(header) ? header : [header]))
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return NodeStream.fromReadable(
      () => this.take(),
      (cause) => this.decodeError(cause)
    )
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return this.read(() => (this.textPromise ??= this.take().text()))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => (text === "" ? null : JSON.parse(text)), catch: (cause) => this.decodeError(cause) })
    )
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return this.read(() => (this.bytesPromise ??= this.take().arrayBuffer()))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return this.read(() => (this.formPromise ??= this.take().formData() as Promise<FormData>))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: (cause) => this.decodeError(cause)
      })
    )
  }

  toJSON(): unknown {
    return HttpIncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }

  private decodeError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  /**
   * The body as text, each wait for a piece of it within the limit `limit()`
   * gives then (see `textWithin`). Interrupting the wait destroys the body,
   * as does the limit passing (the read then fails with its `onTimeout()`).
   */
  textWithin<E>(limit: () => PieceLimit<E>): Effect.Effect<string, HttpClientError.ResponseError | E> {
    return Effect.async<string, HttpClientError.ResponseError | E>((resume) => {
      const body = this.take()
      const pieces: Array<Uint8Array> = []
      let done = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = (result: Effect.Effect<string, HttpClientError.ResponseError | E>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        body.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose)
        resume(result)
      }
      const arm = () => {
        clearTimeout(timer)
        const { millis, onTimeout } = limit()
        timer = armTimer(millis, () => {
          finish(Effect.fail(onTimeout()))
          this.destroy()
        })
      }
      const onData = (piece: Uint8Array) => {
        pieces.push(piece)
        arm()
      }
      // as `text()` decodes (a UTF-8 byte order mark dropped)
      const onEnd = () => finish(Effect.succeed(new TextDecoder().decode(Buffer.concat(pieces))))
      const onError = (cause: unknown) => finish(Effect.fail(this.decodeError(cause)))
      const onClose = () => onError(new Error("the response body closed before its end"))
      // a body that failed or closed before this read began (its error already swallowed: see the constructor)
      if (body.errored !== null || body.destroyed) return void onError(body.errored ?? new Error("the response body closed before its end"))
      body.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose)
      arm()
      return Effect.sync(() => {
        done = true
        clearTimeout(timer)
        this.destroy()
      })
    })
  }

  /** At most `maxBytes` of the body within `millis` (see `prefixWithin`). Interrupting the wait destroys the body. */
  prefixWithin<E>(maxBytes: number, millis: number, onTimeout: (() => E) | undefined): Effect.Effect<string, HttpClientError.ResponseError | E> {
    return Effect.async<string, HttpClientError.ResponseError | E>((resume) => {
      const body = this.take()
      const pieces: Array<Uint8Array> = []
      let size = 0
      let done = false
      const text = () => new TextDecoder().decode(Buffer.concat(pieces).subarray(0, maxBytes))
      const finish = (result: Effect.Effect<string, HttpClientError.ResponseError | E>) => {
        if (done) return
        done = true
        clearTimeout(timer)
        body.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose)
        resume(result)
      }
      const onData = (piece: Uint8Array) => {
        pieces.push(piece)
        size += piece.length
        if (size < maxBytes) return
        finish(Effect.sync(text))
        this.destroy()
      }
      const onEnd = () => finish(Effect.sync(text))
      const onError = (cause: unknown) => finish(Effect.fail(this.decodeError(cause)))
      const onClose = () => onError(new Error("the response body closed before its end"))
      const timer = armTimer(millis, () => {
        finish(onTimeout === undefined ? Effect.sync(text) : Effect.fail(onTimeout()))
        this.destroy()
      })
      if (body.errored !== null || body.destroyed) return void onError(body.errored ?? new Error("the response body closed before its end"))
      body.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose)
      return Effect.sync(() => {
        done = true
        clearTimeout(timer)
        this.destroy()
      })
    })
  }

  /**
   * The body read whole by `start` (memoized, so a second read gets the
   * same). Interrupting the wait destroys the body.
   */
  private read<A>(start: () => Promise<A>): Effect.Effect<A, HttpClientError.ResponseError> {
    return Effect.async<A, HttpClientError.ResponseError>((resume) => {
      let done = false
      const finish = (result: Effect.Effect<A, HttpClientError.ResponseError>) => {
        if (done) return
        done = true
        resume(result)
      }
      start().then(
        (value) => finish(Effect.succeed(value)),
        (cause) => finish(Effect.fail(this.decodeError(cause)))
      )
      return Effect.sync(() => {
        done = true
        this.destroy()
      })
    })
  }

  private destroy(): void {
    if (!this.source.body.destroyed) this.source.body.destroy()
  }
}
