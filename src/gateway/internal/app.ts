/**
 * The gateway's HTTP app: the OpenAI-compatible routes (and Anthropic's
 * Messages API, and the Gemini API) over a router, auth, limits, error
 * mapping and one log line per request.
 *
 * @internal
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type { RouteNotFound } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { ChatChunk } from "../../llm/Chat.js"
import * as Tokens from "../../llm/Tokens.js"
import type { Attempt, ChainExhausted, StreamInterrupted } from "../../llm/FailoverError.js"
import { type ContentFiltered, type InvalidRequest, isStoppedAnswer } from "../../llm/ProviderError.js"
import { closest } from "../../llm/internal/names.js"
import * as Defect from "../../llm/internal/defect.js"
import * as Pullable from "../../llm/internal/pullable.js"
import * as Bulkhead from "../../resilience/Bulkhead.js"
import * as Deadlines from "../../resilience/Timeout.js"
import type { Listener } from "../../router/Events.js"
import type * as Router from "../../router/Router.js"
import * as LogSink from "../../observability/internal/logSink.js"
import * as Auth from "./auth.js"
import * as Body from "./body.js"
import * as Clients from "./clients.js"
import * as Cors from "./cors.js"
import * as Errors from "./errors.js"
import * as GeminiRequest from "./geminiRequest.js"
import * as ImageUrls from "./imageUrls.js"
import * as Models from "./models.js"
import * as NodeBody from "./nodeBody.js"
import * as WireRequest from "./request.js"
import * as WireResponse from "./response.js"
import * as Wire from "./wire.js"

/** The gateway's resolved settings. @internal */
export interface Settings {
  readonly router: Router.Service
  readonly keys: ReadonlyArray<Clients.KeyInput> | undefined
  /** Where the keys are read from when they can change while serving (`keys` is then its first keys). */
  readonly keyRing?: { readonly keys: ReadonlyArray<Clients.KeyInput> }
  readonly maxBodyBytes: number
  readonly bodyTimeout: Duration.Duration
  readonly maxConcurrent: number | undefined
  readonly maxQueued: number
  readonly requestTimeout: Duration.Duration | undefined
  readonly routes: ReadonlyArray<{ readonly path: string; readonly handler: HttpApp.Default; readonly requireKey?: boolean }>
  /**
   * Answer only requests whose `Host` names a loopback address (`localhost`,
   * `127.x.x.x`, `[::1]`): set by the server when it listens on one with no
   * keys, where a web page whose name a DNS rebinding pointed at 127.0.0.1
   * could otherwise call the providers and read the answers.
   */
  readonly loopbackHostsOnly?: boolean
  /**
   * Answer the routes that ask no key (`/healthz`, `/readyz`, the extra
   * routes without `requireKey`: observability's `/metrics`, `/status`)
   * only when the request's `Host` names a loopback address, keys or none:
   * set by the server when it listens on one, where a page that a DNS
   * rebinding pointed at 127.0.0.1 could otherwise read them.
   */
  readonly loopbackHostsOnOpenRoutes?: boolean
  /**
   * The bytes the request bodies being read at once may hold between them
   * (absent: no limit but each body's `maxBodyBytes`).
   */
  readonly maxBufferedBytes?: number
  /** Which web pages may call from a browser (none without it). */
  readonly cors?: Cors.Cors
  /** Send image URLs whose host is a loopback, private or link-local address upstream (see `ImageUrls`). */
  readonly allowPrivateImageUrls?: boolean
  /**
   * How long a client may leave a stream's socket full (not reading) before
   * its response is closed, on Node's server (absent: no limit).
   */
  readonly sendTimeout?: Duration.Duration
}

/**
 * What the server shares with the app: whether it is shutting down, and
 * how far (`leaving`: serving still, its `shutdownDelay`; `draining`:
 * refusing what comes, finishing what is in flight). @internal
 */
export interface Lifecycle {
  leaving: boolean
  draining: boolean
}

// ---------------------------------------------------------------------------
// The per-request log record
// ---------------------------------------------------------------------------

/** What one request's log line says beyond method, path, status and time. @internal */
export interface RequestLog {
  /** The client key's name (never the key). */
  key?: string
  chain?: string
  target?: string
  fallbacks?: number
  attempts?: number
  /** A failed chain's attempts, each its target and error tag (see `triedOf`). */
  tried?: string
  degraded?: string
  error?: string
  param?: string
  outcome?: string
  completed?: boolean
  /**
   * The router took the request (not logged): a failure from then on is the
   * router's, counted in its metrics; one before it is the gateway's own
   * refusal (`Errors.refusals`).
   */
  routed?: boolean
}

/** A request's id (`x-request-id`) and log record, for the route that serves it. */
interface Current {
  readonly requestId: string
  readonly log: RequestLog
}

class CurrentLog extends Context.Tag("effect-llm-failover/gateway/RequestLog")<CurrentLog, Current>() {}

const noteMeta = (log: RequestLog, meta: Router.Meta): void => {
  log.chain = meta.chain
  log.target = meta.target
  log.fallbacks = meta.fallbacks
  log.attempts = meta.attempts.length
  if (meta.degraded !== undefined) log.degraded = meta.degraded
}

/**
 * A failed chain's attempts, for its log line: each one's target (the
 * operator's name for it) and error tag, in the order they were made
 * (`ok` for one that answered), comma-separated and cut to 200 printable
 * characters; never an error's message, which may carry a provider's text.
 *
 * @internal
 */
export const triedOf = (attempts: ReadonlyArray<Attempt>): string =>
  Errors.printable(attempts.map((attempt) => `${attempt.target}:${attempt.error?._tag ?? "ok"}`).join(","), 200)

/** What the line of a request whose chain failed says of its attempts: how many, and `triedOf` them. */
const noteAttempts = (log: RequestLog, error: { readonly _tag: string }): void => {
  if (error._tag !== "ChainExhausted") return
  const attempts = (error as ChainExhausted).attempts
  log.attempts = attempts.length
  log.tried = triedOf(attempts)
}

const noteFailure = (log: RequestLog, failure: Errors.Failure): void => {
  log.error = failure.code ?? failure.type
  if (failure.param !== null) log.param = Errors.printable(failure.param, 100)
}

const logLine = (
  sink: LogSink.Sink,
  method: string,
  path: string,
  status: number,
  requestId: string,
  startedAt: number,
  log: RequestLog
) =>
  LogSink.logTimed(sink, status >= 500 ? LogLevel.Warning : LogLevel.Info, `${method} ${path} ${status}`, (now) => {
    const fields: Record<string, string | number> = { requestId, status, ms: now - startedAt }
    for (const [key, value] of Object.entries(log)) if (value !== undefined && key !== "completed" && key !== "routed") fields[key] = value
    return fields
  })

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const requestIdPattern = /^[\w.:-]{1,128}$/

const requestIdOf = (header: string | undefined): string =>
  header !== undefined && requestIdPattern.test(header) ? header : `req_${randomUUID().replaceAll("-", "")}`

const pathOf = (url: string): string => Errors.printable(url.split("?", 1)[0] ?? "/", 200)

const secondsOf = (clock: Clock.Clock): number => Math.floor(clock.unsafeCurrentTimeMillis() / 1000)

const unixSeconds = Effect.clockWith((clock) => Effect.succeed(secondsOf(clock)))

const header = (value: string): string => Errors.printable(value, 200)

/** The `x-llm-*` headers of a served request. @internal */
export const metaHeaders = (meta: Router.Meta): Record<string, string> => ({
  "x-llm-chain": header(meta.chain),
  "x-llm-target": header(meta.target),
  "x-llm-provider": header(meta.provider),
  "x-llm-model": header(meta.model),
  "x-llm-attempts": String(meta.attempts.length),
  "x-llm-fallbacks": String(meta.fallbacks),
  ...(meta.degraded !== undefined ? { "x-llm-degraded": meta.degraded } : {})
})

/**
 * The `x-llm-*` headers of an answer its provider stopped on policy: the
 * chain asked, and the provider and model that stopped it (the router's
 * meta goes with successes only).
 */
const stoppedHeaders = (chain: string, error: ContentFiltered): Record<string, string> => ({
  "x-llm-chain": header(chain),
  "x-llm-provider": header(error.provider),
  "x-llm-model": header(error.model)
})

/** The JSON answer to a failure, in OpenAI's error JSON or `render`'s. @internal */
export const failureResponse = (
  failure: Errors.Failure,
  render: (failure: Errors.Failure) => unknown = Errors.body
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(render(failure), {
    status: failure.status,
    ...(failure.headers !== undefined ? { headers: failure.headers } : {})
  })

/** Known routes and their methods, to tell a wrong method (405) from an unknown URL (404). */
const routes: ReadonlyArray<readonly [RegExp, ReadonlyArray<string>]> = [
  [/^\/v1\/chat\/completions$/, ["POST"]],
  [/^\/v1\/responses(\/input_tokens)?$/, ["POST"]],
  [/^\/v1\/messages(\/count_tokens)?$/, ["POST"]],
  [/^\/v1(beta)?\/models\/.+:(generateContent|streamGenerateContent|countTokens)$/, ["POST"]],
  [/^\/v1(beta)?\/models(\/.+)?$/, ["GET"]],
  [/^\/v1\/key$/, ["GET"]],
  [/^\/(healthz|readyz)$/, ["GET"]]
]

/**
 * The answer when no route matched: 405 for a known path asked with another
 * method, 400 for a known path and method whose URL could not be decoded
 * (bad percent-encoding), 404 otherwise; `path` as sent (for the message),
 * `routePath` as the router reads it (`Wire.routePath`).
 */
const notFound = (method: string, path: string, routePath: string): Errors.Failure => {
  const route = routes.find(([pattern]) => pattern.test(routePath))
  if (route === undefined) return Errors.unknownUrl(method, path)
  return route[1].includes(method === "HEAD" ? "GET" : method)
    ? Errors.badRequest(`The request URL is not valid percent-encoding: ${path}.`, null)
    : Errors.methodNotAllowed(method, path, route[1])
}

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

/**
 * Builds the app, as `Gateway.app` hands it to be mounted (perhaps under
 * middleware that adds headers or maps the response once the app returns,
 * so a stream is handed to the platform as a body). It never fails: every
 * error is an OpenAI error JSON (Anthropic's under `/v1/messages`,
 * Google's on the Gemini routes).
 *
 * @internal
 */
export const make = (settings: Settings, lifecycle: Lifecycle): Effect.Effect<HttpApp.Default> =>
  Effect.map(build(settings, lifecycle, false), (built) => built.app)

/**
 * The app as this package's own Node server serves it (it writes a
 * stream's answer itself), and the chat route served from Node's request
 * and response (`NodeChat`).
 *
 * @internal
 */
export const makeServed = (settings: Settings, lifecycle: Lifecycle): Effect.Effect<{ readonly app: HttpApp.Default; readonly chat: NodeChat }> =>
  build(settings, lifecycle, true)

/**
 * `writesStreams`: the app is served by this package's own Node server,
 * with nothing around it, so a stream's answer may be written by the
 * handler itself (`NodeBody`).
 */
const build = (settings: Settings, lifecycle: Lifecycle, writesStreams: boolean) =>
  Effect.gen(function* () {
    const { router, requestTimeout: timeout } = settings
    // keys that change while serving: the checker and the clients are made again once they do (a read per
    // request to see), the clients' limiters kept where their names and limits stay
    const ring = settings.keyRing
    let ringKeys = ring?.keys ?? settings.keys ?? []
    let authorize = Auth.make(ringKeys.map(Clients.secretOf))
    let clients = yield* Clients.make(ringKeys)
    // what the providers billed for a client's request that failed (see `reportBilled`): heard once per router
    if (!billingHeard.has(router)) {
      billingHeard.add(router)
      // for the router's life: an app has no end of its own (`Gateway.app`), and the listener does nothing
      // outside a client's request
      yield* Scope.extend(router.listen(reportBilled), yield* Scope.make())
    }
    const rebuilding = yield* Effect.makeSemaphore(1)
    const rebuild = (keys: ReadonlyArray<Clients.KeyInput>) =>
      rebuilding.withPermits(1)(Effect.suspend(() =>
        keys === ringKeys ? Effect.void : Effect.flatMap(Clients.make(keys, clients), (next) => {
          const previous = clients
          ringKeys = keys
          authorize = Auth.make(keys.map(Clients.secretOf))
          clients = next
          // the limiters not kept are let go: a shared store would mirror them for as long as it runs
          return Clients.release(previous, next)
        })
      ))
    /** Whether the ring's keys changed since the clients were made (then `rebuild(ring.keys)` first). */
    const stale = (): boolean => ring !== undefined && ring.keys !== ringKeys
    /**
     * The client a request's key belongs to (`undefined` when the gateway
     * has no keys), or the 401 to answer; `bare`: a header that may carry
     * the key bare. Synchronous, as a route's every step costs it CPU.
     */
    const identify = (authorization: string | undefined, bare?: string, apiKey?: string): Clients.Client | undefined | Errors.Failure => {
      const verdict = authorize(authorization, apiKey)
      return typeof verdict === "number" ? (verdict < 0 ? undefined : clients[verdict]) : Errors.unauthorized(verdict === "wrong", bare)
    }
    /** `identify` as an effect, the clients made again first if the keys changed. */
    const client = (authorization: string | undefined, bare?: string, apiKey?: string) =>
      Effect.suspend(() => {
        const check = () => {
          const caller = identify(authorization, bare, apiKey)
          return caller instanceof Errors.Failure ? Effect.fail(caller) : Effect.succeed(caller)
        }
        return stale() ? Effect.zipRight(rebuild(ring!.keys), Effect.suspend(check)) : check()
      })
    const bulkhead =
      settings.maxConcurrent === undefined
        ? undefined
        : yield* Bulkhead.make({ maxConcurrent: settings.maxConcurrent, maxQueued: settings.maxQueued })
    // a swappable router's chains and targets change with a config reload: the names accepted follow them
    let known = { chains: router.chains, targets: router.targets, names: new Set([...router.chains, ...router.targets]) }
    const names = (): ReadonlySet<string> => {
      if (known.chains !== router.chains || known.targets !== router.targets) {
        known = { chains: router.chains, targets: router.targets, names: new Set([...router.chains, ...router.targets]) }
      }
      return known.names
    }
    // the request bodies read at once, between them; those of one client's key, a quarter of that at most (but
    // a whole body), so that one client's slow uploads cannot hold it all and refuse every other's requests
    const budget = settings.maxBufferedBytes ?? Number.POSITIVE_INFINITY
    const allowPrivateImageUrls = settings.allowPrivateImageUrls === true
    const uploads = new Body.Budget(budget, Math.max(settings.maxBodyBytes, Math.floor(budget * keyShareOfUploads)))
    const startedAt = yield* unixSeconds

    // the key as any of the APIs' clients sends it: Anthropic's SDK lists models with `x-api-key`, Google's with `x-goog-api-key`
    const requireKey = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      client(request.headers["authorization"], undefined, request.headers["x-api-key"] ?? request.headers[Wire.geminiKeyHeader]))
    /** A bare key's request (or any, without keys), or a 403 for a client's key: the routes about the whole gateway. */
    const operatorKey = (path: string) =>
      Effect.flatMap(requireKey, (caller) =>
        caller === undefined || caller.bare ? Effect.void : Effect.fail(Errors.operatorsOnly(path, caller.name)))

    /**
     * `GET /v1/key`: the caller's key as the gateway sees it: its name, the
     * models it may call, its limits, and what it has spent in its cap's
     * window (never the key).
     */
    const keyInfo = Effect.flatMap(requireKey, (caller) =>
      Effect.map(caller === undefined ? Effect.succeed(undefined) : Clients.describe(caller), (described) =>
        HttpServerResponse.unsafeJson({ object: "key", ...(described ?? Clients.keyless) })))

    /** Whether a client may call a chain or model alias. */
    const allows = (caller: Clients.Client | undefined, model: string) => caller?.models === undefined || caller.models.has(model)
    /** A 403 for a model the client may not call, counted in its metric. */
    const notAllowed = (caller: Clients.Client, model: string) =>
      Effect.zipRight(caller.metrics.count("model_not_allowed"), Effect.fail(Errors.modelNotAllowed(model, caller.name)))

    /** The 404 of a model no chain or alias has, with a close name the caller may call, if there is one. */
    const unknownModel = (caller: Clients.Client | undefined, model: string) =>
      Errors.modelNotFound(model, closest(model, [...names()].filter((id) => allows(caller, id))))

    // -- models: OpenAI's, Anthropic's and Gemini's listings (see `Models`) --

    const models = Models.make({ router, startedAt, names, client, allows, notAllowed })

    // -- chat completions and responses -------------------------------------

    /** The request's body, read and checked: a generator the routes delegate to (no fiber step of its own). */
    const readRequest = function* <D extends WireRequest.Decoded>(wire: Wire.Wire<D>, request: ChatInput, caller: Clients.Client | undefined) {
      const length = request.header("content-length")
      if (length !== undefined && Number(length) > settings.maxBodyBytes) {
        return yield* Effect.fail(Errors.tooLarge(settings.maxBodyBytes))
      }
      const mediaType = request.header("content-type")?.split(";", 1)[0]?.trim().toLowerCase()
      if (mediaType !== "application/json") return yield* Effect.fail(Errors.unsupportedMediaType())
      // a client's key holds at most its share of the bodies' budget (see `uploads`); a bare key, any of it
      const owner = caller === undefined || caller.bare ? undefined : caller.name
      const bytes = yield* request.body(settings.maxBodyBytes, settings.bodyTimeout, uploads, owner).pipe(
        Effect.catchTags({
          TooLarge: () => Effect.fail(Errors.tooLarge(settings.maxBodyBytes)),
          OverBudget: (refused) => Effect.fail(refused.share ? Errors.keyUploadsFull(owner!) : Errors.uploadsFull()),
          TimedOut: () => Effect.fail(Errors.bodyTimedOut(settings.bodyTimeout)),
          ReadFailed: () => Effect.fail(Errors.badRequest("The request body could not be read.", null))
        })
      )
      const parsed = WireRequest.parseJson(bytes)
      // no closure a request for the decoder's headers: the parsed body and the request's reader passed as they are
      const decoded = Either.isLeft(parsed) ? parsed : wire.decode(parsed.right, request.header)
      if (Either.isLeft(decoded)) return yield* Effect.fail(Errors.badRequest(decoded.left.message, decoded.left.param))
      // an image URL of another scheme, or of a private address, sent to no provider (whichever API it came in)
      const image = ImageUrls.refusal(decoded.right.request, allowPrivateImageUrls)
      if (image !== undefined) return yield* Effect.fail(image)
      return decoded.right
    }

    // a permit is taken only once the request is whole and valid: a client
    // that uploads slowly (up to bodyTimeout) or sends a bad request holds none
    const admit = bulkhead === undefined ? Effect.void : Effect.mapError(bulkhead.acquire, Errors.busy)

    const completed = <D extends WireRequest.Decoded>(
      wire: Wire.Wire<D>,
      decoded: D,
      { log, requestId }: Current,
      tenant: string | undefined,
      admitted: Admitted | undefined
    ) => {
      const settle = admitted?.settle
      log.routed = true
      const call = router.complete(decoded.request, { chain: decoded.model, correlationId: requestId, tenant })
      const bill: Bill | undefined = settle === undefined ? undefined : { billed: undefined }
      return Effect.matchEffect(bill === undefined ? call : Effect.locally(call, failureBill, bill), {
        onFailure: (error) => {
          noteAttempts(log, error)
          const answer = isStoppedAnswer(error)
            ? Effect.map(unixSeconds, (created) => {
                log.outcome = "content_filter"
                const body = wire.stopped(decoded, created, error)
                return HttpServerResponse.unsafeJson(body, { headers: stoppedHeaders(decoded.model, error) })
              })
            : Effect.fail(Errors.fromChainError(error))
          // what the providers billed for it is charged as an answer's is (see `reportBilled`); one no provider was asked
          // for (the router refused it, or every target passed over) is given back, as the gateway's own refusals are
          if (bill?.billed !== undefined) return Effect.zipRight(settle!(bill.billed), answer)
          return admitted !== undefined && noProviderAsked(error) ? Effect.zipRight(admitted.giveBack, answer) : answer
        },
        // the answer made in the step that reads the clock for its `created`
        onSuccess: ({ response, meta }) => {
          const answer = Effect.clockWith((clock) => {
            noteMeta(log, meta)
            const body = wire.completion(decoded, secondsOf(clock), response)
            return Effect.succeed(HttpServerResponse.unsafeJson(body, { headers: metaHeaders(meta) }))
          })
          return settle === undefined ? answer : Effect.zipLeft(answer, settle(meta))
        }
      })
    }

    /**
     * A stream whose provider stopped its answer on policy before any of it
     * went out (so the router ended it, if no content-policy chain took it):
     * the whole stream OpenAI sends for it, as `completed` answers it whole.
     */
    const stoppedStream = <D extends WireRequest.Decoded>(wire: Wire.Wire<D>, decoded: D, log: RequestLog, error: ContentFiltered) =>
      Effect.map(unixSeconds, (created) => {
        log.outcome = "content_filter"
        const encoder = wire.encoder(decoded, created, error.model)
        return HttpServerResponse.text(encoder.stoppedStream(error), {
          contentType: encoder.contentType ?? "text/event-stream",
          headers: { ...stoppedHeaders(decoded.model, error), "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })

    const streamed = <D extends WireRequest.Decoded>(
      wire: Wire.Wire<D>,
      decoded: D,
      { log, requestId }: Current,
      tenant: string | undefined,
      deadline: Deadline | undefined,
      admitted: Admitted | undefined
    ) =>
      Effect.gen(function* () {
        const settle = admitted?.settle
        log.routed = true
        const call = router.stream(decoded.request, { chain: decoded.model, correlationId: requestId, tenant })
        const bill: Bill | undefined = settle === undefined ? undefined : { billed: undefined }
        const opened = yield* Effect.either(bill === undefined ? call : Effect.locally(call, failureBill, bill))
        if (Either.isLeft(opened)) {
          const error = opened.left
          noteAttempts(log, error)
          // failed before its first content (stopped on content policy, say): charged what the providers billed, if any
          if (bill?.billed !== undefined) yield* settle!(bill.billed)
          else if (admitted !== undefined && noProviderAsked(error)) yield* admitted.giveBack
          return yield* isStoppedAnswer(error) ? stoppedStream(wire, decoded, log, error) : Effect.fail(Errors.fromChainError(error))
        }
        const started = opened.right
        noteMeta(log, started.meta)
        const encoder = wire.encoder(decoded, yield* unixSeconds, started.meta.model)
        const events = yield* sseEvents(started, encoder, log, deadline, settle)
        return HttpServerResponse.stream(events, {
          contentType: encoder.contentType ?? "text/event-stream",
          headers: { ...metaHeaders(started.meta), "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })

    /**
     * The SSE body of a stream, as one stage (a stream of stages costs its
     * overhead per chunk for each stage), in the encoder's wire format: its
     * first events (chat's role event; the Responses API's
     * `response.created` and `response.in_progress`), then the events of
     * each read of the router's chunks, in one write a read (the first
     * events in the first one's, with its chunks', the closing events or
     * the error events: a read less a stream, 0.98x and 0.94x the CPU a
     * stream in two runs), then the closing events; a failure after the
     * first event (the stream was interrupted, or the request's deadline
     * passed) ends it with the encoder's error events, but for a provider's
     * stop on its content policy, which ends it as OpenAI does: for chat,
     * the model's refusal if any, `finish_reason` `"content_filter"`
     * (`"stop"` beside a refusal: see `stoppedFinish`), the usage if asked,
     * `[DONE]` (see `StreamEncoder.stopped`).
     */
    const sseEvents = (
      started: Router.StreamResult,
      encoder: WireResponse.StreamEncoder,
      log: RequestLog,
      deadline: Deadline | undefined,
      settle: Settle | undefined
    ) =>
      Effect.gen(function* () {
        // a client's counts are settled however the stream ends: at its end (`closing`), or, cut short (the
        // provider failed, the request's deadline passed, the client left), once the request's scope closes,
        // with what the router counted (its stream's finalizer, added after this one, settles it first)
        let unsettled = settle
        if (settle !== undefined) {
          yield* Scope.addFinalizer(
            yield* Effect.scope,
            Effect.suspend(() => {
              if (unsettled === undefined) return Effect.void
              unsettled = undefined
              return Effect.flatMap(started.done, settle)
            })
          )
        }
        // the router's stream is read without its `Stream` (see `Pullable`)
        const pull = yield* Pullable.toPull(started.chunks)
        const clock = yield* Effect.clock
        const bounded: Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<StreamInterrupted | Errors.Failure>> =
          deadline === undefined
            ? pull
            : Effect.suspend(() =>
                Deadlines.timeoutFail(pull, {
                  duration: Duration.millis(Math.max(0, deadline.at - clock.unsafeCurrentTimeMillis())),
                  onTimeout: () => Option.some(Errors.timedOut(deadline.limit))
                })
              )
        const utf8 = new TextEncoder()
        const send = (text: string) => Effect.succeed(Chunk.of(utf8.encode(text)))
        let phase: "body" | "last" | "ended" = "body"
        // the role event goes out with the first read's events: that read does not wait, as `Router.make`'s
        // router hands over a stream with its head (its first content, or its end) already read (a router of
        // the user's whose first read waits holds the headers and the role event until it returns)
        let ahead = encoder.start()
        const take = (): string => {
          const text = ahead
          ahead = ""
          return text
        }
        const failed = (error: StreamInterrupted | Errors.Failure) => {
          // a provider that stopped on its content policy after content went out: OpenAI's answer to that is a
          // stream that ends with finish_reason "content_filter" (or a refusal), not an error
          if (error._tag === "StreamInterrupted" && error.cause._tag === "ContentFiltered") {
            log.outcome = "content_filter"
            return closing(encoder.stopped(error.cause))
          }
          phase = "last"
          const failure = Wire.streamFailure(error)
          noteFailure(log, failure)
          log.outcome = failure.code ?? "failed"
          return send(take() + encoder.failed(failure))
        }
        /** The closing events, after `finish` (a finish chunk of the gateway's own, if any). */
        const closing = (finish: string) =>
          Effect.flatMap(started.done, (meta) => {
            phase = "last"
            noteMeta(log, meta)
            const last = send(take() + finish + encoder.end(meta.usage))
            const settling = unsettled
            unsettled = undefined
            return settling === undefined ? last : Effect.zipLeft(last, settling(meta))
          })
        const finished = closing("")
        const step: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>> = Effect.suspend(() => {
          switch (phase) {
            case "body":
              return Effect.matchEffect(bounded, {
                onSuccess: (chunks) => {
                  let text = take()
                  for (const chunk of chunks) text += encoder.chunk(chunk) ?? ""
                  return text === "" ? step : send(text)
                },
                onFailure: (error) => (Option.isSome(error) ? failed(error.value) : finished)
              })
            case "last":
              phase = "ended"
              log.completed = true
              return Effect.fail(Option.none())
            case "ended":
              return Effect.fail(Option.none())
          }
        })
        const events = Stream.repeatEffectChunkOption(step)
        ssePulls.set(events, step)
        return events
      })

    /**
     * A client's checks of a request, in order: the model is one it may call
     * (else 403), it is within its spending cap (else 429
     * `insufficient_quota`), and within its requests and tokens a minute
     * (else 429, with the wait): a refusal on its cap takes none of its
     * minute's requests. Succeeds with what settles the request's count
     * once its answer is done (the tokens it used, against the estimate
     * counted now, and its cost), and what gives the request back, its
     * estimate with it, if the gateway refuses it before any provider is
     * asked.
     */
    const admitClient = (caller: Clients.Client, decoded: WireRequest.Decoded) =>
      Effect.gen(function* () {
        if (!allows(caller, decoded.model)) return yield* notAllowed(caller, decoded.model)
        const { limiter, spend } = caller
        if (spend !== undefined) {
          const spent = yield* Clients.spentIn(caller)
          if (spent.usd >= spend.usd) {
            yield* caller.metrics.count("spend_cap")
            const now = yield* Clock.currentTimeMillis
            const wait = spent.leavesAt === undefined ? undefined : Duration.millis(Math.max(0, spent.leavesAt - now))
            return yield* Effect.fail(Errors.spendCapReached(caller.name, spent.usd, spend.usd, spend.window, wait))
          }
        }
        const estimated = limiter === undefined ? 0 : Tokens.estimate(decoded.request)
        const admittedAt = limiter === undefined ? 0 : yield* Clock.currentTimeMillis
        if (limiter !== undefined) {
          const admission = yield* limiter.tryAcquire(estimated)
          if (admission._tag === "Limited") {
            yield* caller.metrics.count("rate_limited")
            const value = admission.limit === "rpm" ? limiter.limits.rpm : limiter.limits.tpm
            return yield* Effect.fail(Errors.keyRateLimited(caller.name, admission.limit, value ?? 0, admission.retryAfter))
          }
        }
        yield* caller.metrics.count("admitted")
        const admitted: Admitted = {
          settle: (meta) =>
            Effect.zipRight(
              limiter === undefined
                ? Effect.void
                : limiter.adjust(meta.usage.inputTokens + meta.usage.outputTokens - estimated, admittedAt),
              Clients.charge(caller, meta.cost)
            ),
          giveBack: limiter === undefined ? Effect.void : limiter.giveBack(estimated, admittedAt)
        }
        return admitted
      })

    /**
     * A route that answers over the router in a wire format (see `Wire`),
     * over what it reads of a request: the chat route on either server (see
     * `NodeChat`), the responses route on the platform's.
     */
    const served = <D extends WireRequest.Decoded>(wire: Wire.Wire<D>) => (request: ChatInput, current: Current) => Effect.gen(function* () {
      const log = current.log
      // read only for a request's deadline (none without `requestTimeout`)
      const start = timeout === undefined ? 0 : yield* Clock.currentTimeMillis
      if (stale()) yield* rebuild(ring!.keys)
      const caller = identify(
        request.header("authorization"),
        wire.keyHeader,
        wire.keyHeader === undefined ? undefined : request.header(wire.keyHeader)
      )
      if (caller instanceof Errors.Failure) return yield* Effect.fail(caller)
      if (caller !== undefined) log.key = caller.name
      if (lifecycle.draining) return yield* Effect.fail(Errors.shuttingDown())
      const decoded = yield* readRequest(wire, request, caller)
      log.chain = Errors.printable(decoded.model, 100)
      if (!names().has(decoded.model)) return yield* Effect.fail(unknownModel(caller, decoded.model))
      const admitted = caller === undefined ? undefined : yield* admitClient(caller, decoded)
      // refused by the gateway itself before a provider was asked (its bulkhead full, or the request's deadline passed
      // or its client left while it waited for a slot): the client's request is given back, its tokens too
      yield* admitted === undefined || bulkhead === undefined ? admit : Effect.onError(admit, () => admitted.giveBack)
      // a reload may have taken the model away while the request waited for its slot: a 404, as after the reload
      if (bulkhead !== undefined && !names().has(decoded.model)) {
        if (admitted !== undefined) yield* admitted.giveBack
        return yield* Effect.fail(Errors.modelNotFound(decoded.model))
      }
      const deadline = timeout === undefined ? undefined : { at: start + Duration.toMillis(timeout), limit: timeout }
      // each gateway key its own part of degraded mode's cache: one client's answers are never another's
      const tenant = caller?.tenant
      return decoded.stream
        ? yield* streamed(wire, decoded, current, tenant, deadline, admitted)
        : yield* completed(wire, decoded, current, tenant, admitted)
    }).pipe(
      (handler) =>
        timeout === undefined
          ? handler
          : Effect.timeoutFail(handler, { duration: timeout, onTimeout: () => Errors.timedOut(timeout) }),
      (handler) => (wire.failure === undefined ? handler : Effect.mapError(handler, wire.failure))
    )

    const chat = served(Wire.chat)
    const platformRoute = (handler: (request: ChatInput, current: Current) => ReturnType<typeof chat>) =>
      Effect.flatMap(CurrentLog, (current) => Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => handler(platformInput(request), current)))
    const chatCompletions = platformRoute(chat)
    const responses = platformRoute(served(Wire.responses))
    const messages = platformRoute(served(Wire.messages))

    /**
     * A route that counts a request's prompt tokens, for a chain or model
     * alias: the router's own estimate (`Tokens.estimate`, about four
     * characters a token, erring high; the figure it checks context windows
     * with), in the wire's words (`answer`); no provider is called, no
     * permit taken, but a client's key counts it against its `rpm` (429
     * past it, and while the key's minute is over its `tpm`; it takes none
     * of the tokens). `POST /v1/messages/count_tokens` (`{ input_tokens }`),
     * `POST /v1/responses/input_tokens` (`{ object: "response.input_tokens",
     * input_tokens }`) and Gemini's `:countTokens` (`{ totalTokens }`).
     */
    const tokenCount = <D extends WireRequest.Decoded>(wire: Wire.Wire<D>, answer: (tokens: number) => unknown) =>
    (request: ChatInput, { log }: Current) =>
      Effect.gen(function* () {
        const bare = wire.keyHeader === undefined ? undefined : request.header(wire.keyHeader)
        const caller = yield* client(request.header("authorization"), wire.keyHeader, bare)
        if (caller !== undefined) log.key = caller.name
        if (lifecycle.draining) return yield* Effect.fail(Errors.shuttingDown())
        const decoded = yield* readRequest(wire, request, caller)
        log.chain = Errors.printable(decoded.model, 100)
        if (!names().has(decoded.model)) return yield* Effect.fail(unknownModel(caller, decoded.model))
        if (caller !== undefined && !allows(caller, decoded.model)) return yield* notAllowed(caller, decoded.model)
        // a count costs no provider call, but it reads a body and estimates it: a request against the key's rpm
        // (none of its tokens), so that a key is held to its minute's requests whichever route it calls
        const limiter = caller?.limiter
        if (limiter !== undefined) {
          const admission = yield* limiter.tryAcquire(0)
          if (admission._tag === "Limited") {
            yield* caller!.metrics.count("rate_limited")
            const value = admission.limit === "rpm" ? limiter.limits.rpm : limiter.limits.tpm
            return yield* Effect.fail(Errors.keyRateLimited(caller!.name, admission.limit, value ?? 0, admission.retryAfter))
          }
        }
        return HttpServerResponse.unsafeJson(answer(Tokens.estimate(decoded.request)))
      })
    const countTokens = platformRoute(tokenCount(Wire.messageTokens, (tokens) => ({ input_tokens: tokens })))
    const inputTokens = platformRoute(tokenCount(Wire.responseTokens, (tokens) => ({ object: "response.input_tokens", input_tokens: tokens })))

    // -- Gemini's API -------------------------------------------------------

    const geminiTokens = (call: GeminiRequest.Call) => tokenCount(Wire.geminiTokens(call), (tokens) => ({ totalTokens: tokens }))

    /**
     * `POST /v1beta/models/{model}:{method}` (and the same under `/v1/`):
     * the call its URL names (see `GeminiRequest.callOf`; any other method
     * a 404), served over the router in the Gemini API's wire format, or
     * counted (`geminiTokens`).
     */
    const gemini = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const query = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : ""
      const call = GeminiRequest.callOf((yield* HttpRouter.params)["*"] ?? "", query)
      if (call === undefined) return yield* Effect.fail(Errors.unknownUrl(request.method, pathOf(request.url)))
      const handler = call.method === "countTokens" ? geminiTokens(call) : served(Wire.gemini(call))
      const answer = handler(platformInput(request), yield* CurrentLog)
      // a key only in the query is not taken: the 401 says so (see `Wire.geminiQueryKey`)
      const keyless = request.headers["authorization"] === undefined && request.headers[Wire.geminiKeyHeader] === undefined
      return yield* keyless && new URLSearchParams(query).has("key") ? Effect.mapError(answer, Wire.geminiQueryKey) : answer
    })

    // -- health -------------------------------------------------------------

    const healthz = Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))
    const readyz = Effect.sync(() =>
      lifecycle.draining
        ? HttpServerResponse.unsafeJson({ status: "draining" }, { status: 503, headers: { connection: "close" } })
        : lifecycle.leaving
        ? HttpServerResponse.unsafeJson({ status: "leaving" }, { status: 503 })
        : HttpServerResponse.unsafeJson({ status: "ready" })
    )

    // an open route's Host is checked by the route itself too, whatever the path's spelling: the path check before
    // the router (`hostCheck`) reads it as the router does, and a route the router matches otherwise (a case it folds
    // in a parameter's segment, say) must not be reached by a page a DNS rebinding pointed here (found by a review)
    const openGuard = settings.loopbackHostsOnly !== true && settings.loopbackHostsOnOpenRoutes === true
      ? Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        isLoopbackHost(request.headers["host"]) ? Effect.void : Effect.fail(Errors.openRouteHostNotAllowed()))
      : undefined
    const routed = settings.routes.reduce(
      (app, route) =>
        HttpRouter.get(
          app,
          route.path as HttpRouter.PathInput,
          route.requireKey === true
            ? Effect.zipRight(operatorKey(route.path), route.handler)
            : openGuard === undefined
            ? route.handler
            : Effect.zipRight(openGuard, route.handler)
        ),
      HttpRouter.empty.pipe(
        HttpRouter.post("/v1/chat/completions", chatCompletions),
        HttpRouter.post("/v1/responses", responses),
        HttpRouter.post("/v1/responses/input_tokens", inputTokens),
        HttpRouter.post("/v1/messages", messages),
        HttpRouter.post("/v1/messages/count_tokens", countTokens),
        HttpRouter.post("/v1beta/models/*", gemini),
        HttpRouter.post("/v1/models/*", gemini),
        HttpRouter.get("/v1/models", models.list),
        HttpRouter.get("/v1/models/*", models.get),
        HttpRouter.get("/v1beta/models", models.geminiList),
        HttpRouter.get("/v1beta/models/*", models.geminiGet),
        HttpRouter.get("/v1/key", keyInfo),
        HttpRouter.get("/healthz", healthz),
        HttpRouter.get("/readyz", readyz)
      )
    )

    // a request's line goes to the sink in the context, if any (`LogSink`), else through Effect's logger
    const sink = Option.getOrUndefined(yield* Effect.serviceOption(LogSink.LogSink))
    const guard: Guard = {
      hostAllowed: hostCheck(settings),
      hostRefused: settings.loopbackHostsOnly === true ? Errors.hostNotAllowed : Errors.openRouteHostNotAllowed,
      cors: settings.cors
    }
    const sendTimeout = settings.sendTimeout ?? Duration.infinity
    return {
      app: withRequestLog(routed, writesStreams, sink, guard, notFound, sendTimeout),
      chat: nodeChat(chat, sink, guard, sendTimeout)
    }
  })

/**
 * The admin listener's app (`Gateway.Options.admin`): the extra routes that
 * ask no key (`/metrics`, `/status`, ...) and `/healthz`, with a log line a
 * request, the `Host` check of a keyless loopback address (a page a DNS
 * rebinding pointed at it would read the status and the costs), a 405 for
 * one of its paths asked with another method, and a 404 for anything else.
 *
 * @internal
 */
export const makeAdmin = (
  routes: Settings["routes"],
  loopbackHostsOnly: boolean
): Effect.Effect<HttpApp.Default> =>
  Effect.gen(function* () {
    const routed = routes.reduce(
      (app, route) => HttpRouter.get(app, route.path as HttpRouter.PathInput, route.handler),
      HttpRouter.get(HttpRouter.empty, "/healthz", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" })))
    )
    const sink = Option.getOrUndefined(yield* Effect.serviceOption(LogSink.LogSink))
    const guard: Guard = { hostAllowed: loopbackHostsOnly ? isLoopbackHost : allHosts, hostRefused: Errors.hostNotAllowed, cors: undefined }
    // a path it serves, asked with another method than GET: 405, as the main listener answers
    const paths = new Set(["/healthz", ...routes.map((route) => Wire.routePath(route.path))])
    const unrouted = (method: string, path: string, routePath: string) =>
      paths.has(routePath) && method !== "GET" ? Errors.methodNotAllowed(method, path, ["GET"]) : Errors.unknownUrl(method, path)
    return withRequestLog(routed, false, sink, guard, unrouted, Duration.infinity)
  })

/**
 * What every request meets before its route: the `Host` check (see
 * `Settings.loopbackHostsOnly`), and CORS when set (a browser's preflight
 * answered, the headers that let a page read an answer added to it).
 */
interface Guard {
  /** Whether a request to `path` (as the router reads it: `Wire.routePath`) with this `Host` is answered. */
  readonly hostAllowed: (host: string | undefined, path: string) => boolean
  /** The 403 of a request it refuses. */
  readonly hostRefused: () => Errors.Failure
  readonly cors: Cors.Cors | undefined
}

const allHosts = (): boolean => true

/**
 * The main listener's `Host` check: every route's on a loopback address
 * without keys (`loopbackHostsOnly`); else, on a loopback address, that of
 * the routes that ask no key (`loopbackHostsOnOpenRoutes`): `/healthz`,
 * `/readyz` and the extra routes without `requireKey`, and any other path
 * outside the API but the extra routes with it (an unknown one then meets a
 * 403 before its 404); none elsewhere.
 */
const hostCheck = (settings: Settings): Guard["hostAllowed"] => {
  if (settings.loopbackHostsOnly === true) return isLoopbackHost
  if (settings.loopbackHostsOnOpenRoutes !== true) return allHosts
  // as the router finds a route (see `Wire.routePath`): a doubled or trailing slash, case, a `;...` or an
  // escaped letter leads to the same one, and the paths asked are read so
  const open = new Set(settings.routes.filter((route) => route.requireKey !== true).map((route) => Wire.routePath(route.path)))
  const keyed = new Set(settings.routes.filter((route) => route.requireKey === true).map((route) => Wire.routePath(route.path)))
  return (host, path) => keyed.has(path) || (!open.has(path) && (path.startsWith("/v1/") || path.startsWith("/v1beta/"))) || isLoopbackHost(host)
}

/**
 * An answer with the CORS headers for the page that asked, if any may read
 * it, and the `Vary` that keeps an HTTP cache from handing it to another
 * (see `Cors.responseHeaders`; a route's own `Vary` is kept).
 */
const withCors = (
  guard: Guard,
  origin: string | undefined,
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => {
  if (guard.cors === undefined) return response
  const { vary, ...headers } = Cors.responseHeaders(guard.cors, origin)
  const corsed = HttpServerResponse.setHeaders(response, headers)
  return vary === undefined ? corsed : HttpServerResponse.setHeader(corsed, "vary", Cors.varyWith(response.headers["vary"], vary))
}

/**
 * A browser's preflight, answered before any route (it carries no key), or
 * `undefined` for any other request.
 */
const preflightOf = (
  guard: Guard,
  method: string,
  header: (name: string) => string | undefined
): Effect.Effect<HttpServerResponse.HttpServerResponse, Errors.Failure> | undefined => {
  if (guard.cors === undefined || !Cors.isPreflight(method, header)) return undefined
  const answer = Cors.preflight(guard.cors, header)
  return HttpServerResponse.isServerResponse(answer) ? Effect.succeed(answer) : Effect.fail(answer)
}

/**
 * The pull each SSE body is made of, by the body's stream: on Node the
 * response is written from the pull itself (see `NodeBody`).
 */
const ssePulls = new WeakMap<Stream.Stream<Uint8Array>, NodeBody.Pull>()

/**
 * Whether a `Host` header names a loopback address: `localhost` (or a name
 * under it), `127.x.x.x`, `[::1]`, with any port. A request without one
 * (HTTP/1.0) is no browser's.
 *
 * @internal
 */
export const isLoopbackHost = (host: string | undefined): boolean => {
  if (host === undefined) return true
  // `[::1]:8787`, `::1` (an address to bind), `localhost:8787`
  const bare = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.indexOf(":") !== host.lastIndexOf(":") ? host : host.split(":", 1)[0]!
  const name = bare.toLowerCase().replace(/\.$/, "")
  return (
    name === "localhost" ||
    name.endsWith(".localhost") ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    name === "::1" ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
  )
}

/** What a request's providers billed: a served request's meta, or what the router reported of a failed one. */
interface Billed {
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
  readonly cost: number
}

/** What settles a client's counts once its request's answer is done, or its failure (see `admitClient`). */
type Settle = (billed: Billed) => Effect.Effect<void>

/** Where `reportBilled` puts what a client's failed request was billed. */
interface Bill {
  billed: Billed | undefined
}

/** The `Bill` of the client's request the fiber runs, set around the router's call (`Effect.locally`). */
const failureBill = FiberRef.unsafeMake<Bill | undefined>(undefined)

/**
 * Hears the router's end of a request that failed though its providers
 * billed it (an answer stopped on content policy, with the usage its
 * provider reported; what targets billed before a content-policy chain that
 * then failed), as its `RequestFinished` says, and puts it in the request's
 * `Bill`: the listener's effect runs in the fiber that ends the request,
 * which carries the gateway's `failureBill`. A failure no provider reported
 * usage for leaves the bill empty: nothing is charged (the estimate counted
 * at admission stays the request's tokens).
 */
const reportBilled: Listener = (event) => {
  if (event._tag !== "RequestFinished" || event.outcome !== "failure") return undefined
  const usage = event.usage ?? event.billed?.reduce(
    (sum, part) => ({ inputTokens: sum.inputTokens + part.usage.inputTokens, outputTokens: sum.outputTokens + part.usage.outputTokens }),
    { inputTokens: 0, outputTokens: 0 }
  )
  if (usage === undefined) return undefined
  const billed: Billed = { usage, cost: event.cost }
  return FiberRef.getWith(failureBill, (bill) => {
    if (bill !== undefined) bill.billed = billed
    return Effect.void
  })
}

/** The routers `reportBilled` listens to, each once for its life. */
const billingHeard = new WeakSet<Router.Service>()

/** A client's request as `admitClient` admitted it. */
/**
 * Whether a chain's failure asked no provider: the router refused the
 * request itself (its `InvalidRequest` from `"router"`), or passed over
 * every target (each attempt `Rejected`: an open breaker, a full bulkhead, a
 * target's own rate limit, a window or format it lacks).
 */
const noProviderAsked = (error: { readonly _tag: string }): boolean =>
  error._tag === "InvalidRequest"
    ? (error as InvalidRequest).provider === "router"
    : error._tag === "ChainExhausted" && (error as ChainExhausted).attempts.every((attempt) => attempt.error?._tag === "Rejected")

interface Admitted {
  readonly settle: Settle
  /** The request refused by the gateway before any provider was asked: its count and estimate given back. */
  readonly giveBack: Effect.Effect<void>
}

/** When a request must be done by (epoch ms), and the limit that set it. */
interface Deadline {
  readonly at: number
  readonly limit: Duration.Duration
}

/** The part of the bodies' budget (`maxBufferedBytes`) the bodies of one client's key may hold (at least a whole body). */
const keyShareOfUploads = 1 / 4

/** What the chat route reads of a request, on either server. */
interface ChatInput {
  /** A header's value (the last, if sent more than once). */
  readonly header: (name: string) => string | undefined
  /** The whole body, within a size limit, a deadline and the bodies' budget, and its `owner`'s share of it (see `Body.read`). */
  readonly body: (limit: number, timeout: Duration.Duration, budget: Body.Budget, owner: string | undefined) => Effect.Effect<Uint8Array, Body.ReadError>
}

const platformInput = (request: HttpServerRequest.HttpServerRequest): ChatInput => ({
  header: (name) => request.headers[name],
  body: (limit, timeout, budget, owner) => Body.read(request, limit, timeout, budget, owner)
})

const nodeInput = (request: Http.IncomingMessage): ChatInput => ({
  header: (name) => {
    const value = request.headers[name]
    return typeof value === "string" ? value : value?.at(-1)
  },
  body: (limit, timeout, budget, owner) => Body.readIncoming(request, limit, timeout, budget, owner)
})

/** One request's record, and the effect writing its log line with a status. */
interface Logged extends Current {
  readonly line: (status: number) => Effect.Effect<void>
}

/**
 * A request the server refused before the app (what Node's parser refused,
 * a missing Host, an unknown Expect): its id (its own, when it sent a valid
 * one) and its log line, as the app's refusals have them.
 *
 * @internal
 */
export const refusal = (
  method: string,
  url: string,
  requestIdHeader: string | undefined,
  failure: Errors.Failure
): { readonly requestId: string; readonly line: Effect.Effect<void> } => {
  const requestId = requestIdOf(requestIdHeader)
  const log: RequestLog = {}
  noteFailure(log, failure)
  return {
    requestId,
    // where the app's lines go: the `LogSink` in the context, if any, else Effect's logger
    line: Effect.flatMap(Effect.serviceOption(LogSink.LogSink), (sink) =>
      Effect.clockWith((clock) =>
        logLine(Option.getOrUndefined(sink), method, pathOf(url), failure.status, requestId, clock.unsafeCurrentTimeMillis(), log)))
  }
}

const logged = (sink: LogSink.Sink, method: string, path: string, requestIdHeader: string | undefined): Effect.Effect<Logged> =>
  Effect.clockWith((clock) => {
    const startedAt = clock.unsafeCurrentTimeMillis()
    const requestId = requestIdOf(requestIdHeader)
    const log: RequestLog = {}
    return Effect.succeed({ requestId, log, line: (status: number) => logLine(sink, method, path, status, requestId, startedAt, log) })
  })

/**
 * The answer to a request whatever happens, with its id: a failure or a
 * defect as error JSON (OpenAI's, or `render`'s: see `Wire.errorsOf`),
 * noted in the log; a request interrupted (its client left) logged at once
 * as 499.
 */
const answer = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Errors.Failure, R>,
  { line, log, requestId }: Logged,
  render: (failure: Errors.Failure) => unknown = Errors.body
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  handler.pipe(
    // one step for what `catchAll`, then `catchAllDefect`, then the id's header did: a defect first (it is
    // the answer even beside a failure), then a failure; an interruption goes on to `onInterrupt`
    Effect.matchCauseEffect({
      onFailure: (cause) => {
        // as `catchAll` then `catchAllDefect`: beside a defect, a failure counts as one, and the first of them is the defect
        const defect = Cause.isDie(cause) ? Cause.find(cause, firstDefect) : Option.none()
        if (Option.isSome(defect)) {
          const value = defect.value
          log.error = "internal_error"
          // its class and place, not its text, which may hold anything (see `Defect.describe`)
          log.outcome = Errors.printable(Defect.describe(value), 200)
          return refused(log, Errors.internal(), identified(failureResponse(Errors.internal(), render), requestId))
        }
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure)) return Effect.failCause(cause as Cause.Cause<never>)
        noteFailure(log, failure.value)
        return refused(log, failure.value, identified(failureResponse(failure.value, render), requestId))
      },
      onSuccess: (response) => Effect.succeed(identified(response, requestId))
    }),
    Effect.onInterrupt(() => {
      log.outcome = "client-closed"
      return line(499)
    })
  )

/** The answer to a failure, counted in `Errors.refusals` if the router never took its request (see `RequestLog.routed`). */
const refused = (
  log: RequestLog,
  failure: Errors.Failure,
  response: HttpServerResponse.HttpServerResponse
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  log.routed === true ? Effect.succeed(response) : Effect.as(Errors.countRefusal(failure), response)

const firstDefect = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
  cause._tag === "Die" ? Option.some(cause.defect) : cause._tag === "Fail" ? Option.some(cause.error) : Option.none()

const identified = (response: HttpServerResponse.HttpServerResponse, requestId: string) =>
  HttpServerResponse.setHeader(response, "x-request-id", requestId)

/**
 * An answer given before its request's body was read whole (a 401, a 404,
 * a 405) closes the connection, as a 413 does: Node would otherwise read
 * and drop the rest of the body to keep the connection, for as long as the
 * client sends it (past `bodyTimeout`, up to Node's own `requestTimeout`),
 * with no key asked.
 */
const closingUnread = (request: Http.IncomingMessage, response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse =>
  // a request without a body may not be `complete` yet when it is answered at once (in its own event)
  request.complete || !hasBody(request) ? response : HttpServerResponse.setHeader(response, "connection", "close")

const hasBody = (request: Http.IncomingMessage): boolean => {
  const length = request.headers["content-length"]
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
}

/** A stream's log line, once it ended or its client left. */
const streamLine = ({ line, log }: Logged, status: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (log.completed !== true && log.outcome === undefined) log.outcome = "client-closed"
    return line(status)
  })

/**
 * Writes an SSE answer to Node's response from its pull (the platform then
 * finds the response ended); its log line once it ends or its client left.
 */
const writeStream = (
  response: Http.ServerResponse,
  answered: HttpServerResponse.HttpServerResponse,
  pull: NodeBody.Pull,
  logged: Logged,
  sendTimeout: Duration.Duration
) =>
  NodeBody.write(response, answered.status, answered.headers, pull, {
    sendTimeout,
    onStall: () => {
      logged.log.outcome = "client-stalled"
    }
  }).pipe(
    Effect.tapDefect(() =>
      Effect.sync(() => {
        logged.log.error = "internal_error"
        logged.log.outcome = "stream_failed"
      })
    ),
    Effect.ensuring(streamLine(logged, answered.status))
  )

/**
 * Wraps the routes: a request id, failures and defects as error JSON
 * (OpenAI's, Anthropic's under `/v1/messages`, Google's on the Gemini
 * routes: see `Wire.errorsOf`), and exactly one log line per request, written when its answer is done (for
 * a stream, when the stream ends or its client leaves).
 */
const withRequestLog = <R>(
  app: HttpApp.Default<Errors.Failure | RouteNotFound, R>,
  writesStreams: boolean,
  sink: LogSink.Sink,
  guard: Guard,
  unrouted: (method: string, path: string, routePath: string) => Errors.Failure,
  sendTimeout: Duration.Duration
): HttpApp.Default<never, Exclude<R, CurrentLog>> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const method = request.method
    const path = pathOf(request.url)
    // the path the router finds a route by: what is chosen by path is chosen by it (see `Wire.routePath`)
    const route = Wire.routePath(request.url)
    const record = yield* logged(sink, method, path, request.headers["x-request-id"])
    const header = (name: string): string | undefined => request.headers[name]
    const hostAllowed = guard.hostAllowed(header("host"), route)
    // CORS covers the API alone: a page of another origin reads no status page or metrics (they ask no key)
    const api = route.startsWith("/v1/") || route.startsWith("/v1beta/")
    const preflight = hostAllowed && api ? preflightOf(guard, method, header) : undefined
    const answered = Wire.withWireHeaders(route, record.requestId, yield* answer(
      (hostAllowed ? preflight ?? app : Effect.fail(guard.hostRefused())).pipe(
        Effect.provideService(CurrentLog, record),
        Effect.catchTag("RouteNotFound", () => Effect.fail(unrouted(method, path, route)))
      ),
      record,
      Wire.errorsOf(route, header, request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "")
    ), header)
    const shared = preflight === undefined && api ? withCors(guard, header("origin"), answered) : answered
    const identified = request.source instanceof Http.IncomingMessage ? closingUnread(request.source, shared) : shared
    const body = identified.body
    if (body._tag !== "Stream") {
      yield* record.line(identified.status)
      return identified
    }
    const pull = ssePulls.get(body.stream as Stream.Stream<Uint8Array>)
    if (
      writesStreams &&
      pull !== undefined &&
      request.source instanceof Http.IncomingMessage &&
      Cookies.isEmpty(identified.cookies) &&
      Option.isNone(yield* FiberRef.get(HttpApp.currentPreResponseHandlers))
    ) {
      yield* writeStream(NodeHttpServerRequest.toServerResponse(request), identified, pull, record, sendTimeout)
      return identified
    }
    return HttpServerResponse.setBody(
      identified,
      HttpBody.stream(Stream.ensuring(body.stream, streamLine(record, identified.status)), body.contentType, body.contentLength)
    )
  })

/**
 * The chat route served from Node's request and response themselves, not
 * through the platform's server (its request, router, middleware and
 * response handling cost a completion more CPU than the route's own HTTP
 * work: BENCHMARKS.md, "gateway"), with the same answers and log lines as
 * through the app (but for a head Node refuses: see `writeWhole`): `Server` hands it `POST /v1/chat/completions` when no
 * span would go anywhere, no pre-response handler is set and the request
 * carries no trace context (`isLeanRoute`), and everything else to the
 * platform's server.
 *
 * @internal
 */
export type NodeChat = (request: Http.IncomingMessage, response: Http.ServerResponse) => Effect.Effect<void, never, Scope.Scope>

const chatPath = "/v1/chat/completions"

const nodeChat = (
  chat: (request: ChatInput, current: Current) => Effect.Effect<HttpServerResponse.HttpServerResponse, Errors.Failure, Scope.Scope>,
  sink: LogSink.Sink,
  guard: Guard,
  sendTimeout: Duration.Duration
): NodeChat =>
(request, response) =>
  // in the request's scope (a stream's resources), closed once its answer is written (see `Server`)
  Effect.gen(function* () {
    const input = nodeInput(request)
    const record = yield* logged(sink, "POST", pathOf(request.url ?? "/"), input.header("x-request-id"))
    const handler = guard.hostAllowed(input.header("host"), chatPath) ? chat(input, record) : Effect.fail(guard.hostRefused())
    const answered = closingUnread(request, withCors(guard, input.header("origin"), yield* answer(handler, record)))
    const body = answered.body
    const pull = body._tag === "Stream" ? ssePulls.get(body.stream as Stream.Stream<Uint8Array>) : undefined
    if (pull !== undefined) return yield* writeStream(response, answered, pull, record, sendTimeout)
    // a chat answer is JSON, or the SSE stream this module made (above)
    const status = writeWhole(response, answered.status, answered.headers, body._tag === "Uint8Array" ? body.body : undefined, record.log)
    yield* record.line(status)
  })

/**
 * Writes a whole answer; if Node refuses it (a header it will not send),
 * a 500 in OpenAI's error JSON in its place (the platform's server answers
 * an empty 500), or, once the head went out, the connection cut; either
 * noted in `log`. The status sent.
 *
 * @internal
 */
export const writeWhole = (
  response: Http.ServerResponse,
  status: number,
  headers: Http.OutgoingHttpHeaders,
  body: Uint8Array | undefined,
  log: RequestLog
): number => {
  try {
    response.writeHead(status, headers)
    response.end(body)
    return status
  } catch (error) {
    log.error = "internal_error"
    log.outcome = Errors.printable(error instanceof Error ? error.message : String(error), 200)
    if (response.headersSent) {
      response.destroy()
      return status
    }
    // what was set before the refused header goes too, but for the server's own (`connection` while draining)
    for (const name of response.getHeaderNames()) if (name !== "connection") response.removeHeader(name)
    const failure = failureResponse(Errors.internal())
    const bytes = failure.body._tag === "Uint8Array" ? failure.body.body : undefined
    // the answer's CORS headers stay, so that a page allowed to call the gateway can read this error too
    const cors = corsOf(headers)
    try {
      response.writeHead(failure.status, { ...cors, ...failure.headers })
    } catch {
      for (const name of Object.keys(cors)) response.removeHeader(name)
      response.writeHead(failure.status, failure.headers)
    }
    response.end(bytes)
    return failure.status
  }
}

/** The CORS headers among an answer's (`Access-Control-*` and `Vary`). */
const corsOf = (headers: Http.OutgoingHttpHeaders): Http.OutgoingHttpHeaders => {
  const kept: Http.OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value !== undefined && (lower === "vary" || lower.startsWith("access-control-"))) kept[name] = value
  }
  return kept
}
