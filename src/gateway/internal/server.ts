/**
 * The gateway's Node HTTP server: listens, serves the app, counts requests
 * in flight, and on shutdown stops accepting, drains, then closes.
 *
 * @internal
 */
import { NodeHttpServer } from "@effect/platform-node"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServer from "@effect/platform/HttpServer"
import { clientAbortFiberId, type ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { Duplex } from "node:stream"
import { spansGoSomewhere } from "../../llm/internal/tracing.js"
import * as App from "./app.js"
import * as Errors from "./errors.js"
import * as Wire from "./wire.js"

/** Runs a refusal's count and line where the server's app runs (its logger, its `LogSink`). */
type Run = (effect: Effect.Effect<void>) => void

/** @internal */
export interface ServerSettings extends App.Settings {
  readonly host: string
  readonly port: number
  readonly drainTimeout: Duration.Duration
  /** How long it goes on serving, `/readyz` at 503, before it drains. */
  readonly shutdownDelay: Duration.Duration
  /** A second listener for the routes that ask no key, which then leave the main one. */
  readonly admin?: { readonly host: string; readonly port: number }
  /** The connections the main listener holds at once; one past it is closed as it comes (absent: no limit). */
  readonly maxConnections?: number
}

/**
 * How long a client may take to send a request's head, on either listener
 * (Node's default: 60 seconds): a connection that sends a few bytes of it
 * and stalls is closed (408) once it passes.
 *
 * @internal
 */
export const headersTimeout = Duration.seconds(10)

/**
 * Node's server settings: `headersTimeout`, checked every second (Node's
 * default: every 30 seconds, so a stalled head could hold its connection
 * 30 seconds past it), and a `requestTimeout` for the whole request, head
 * and body, past the gateway's own `bodyTimeout` (whose 408 comes first;
 * this is the backstop of a body nobody reads), none when that has none.
 *
 * @internal
 */
export const nodeOptions = (bodyTimeout: Duration.Duration): Http.ServerOptions => {
  const head = Duration.toMillis(headersTimeout)
  const body = Duration.toMillis(bodyTimeout)
  return {
    headersTimeout: head,
    requestTimeout: Number.isFinite(body) ? Math.ceil(head + body + 5_000) : 0,
    connectionsCheckingInterval: 1_000
  }
}

/**
 * What Node's HTTP parser refuses before any route sees it (a head past its
 * size limit, a malformed header, `Content-Length` or chunk, a head that
 * timed out), answered as the gateway answers any bad request: in the error
 * JSON of the path's API (read from the request line, when the bytes the
 * parser failed on hold it; OpenAI's otherwise), with the status Node gives
 * it (see `Errors.malformedHttp`), the connection closed; not Node's bare
 * status line, which a client's SDK reports with no message; counted in
 * `Errors.refusals` as the app's refusals are. As Node does, nothing is
 * written once an answer on the connection has begun. For either
 * listener's `clientError`.
 *
 * @internal
 */
export const clientError = (
  error: Error & { readonly code?: string; readonly rawPacket?: unknown },
  socket: Duplex,
  run: Run = Effect.runSync
): void => {
  // a connection that sent nothing before the head's timeout (a browser's preconnect, a load balancer's check) made
  // no request: closed without an answer, and counted nowhere (Node 20 times a head from the connection's start)
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT" && (socket as { readonly bytesRead?: number }).bytesRead === 0) {
    socket.destroy()
    return
  }
  const answering = (socket as { readonly _httpMessage?: Http.ServerResponse | null })._httpMessage
  if (socket.writable && (answering === undefined || answering === null || !answering.headersSent)) {
    const failure = Errors.malformedHttp(error.code)
    const line = Buffer.isBuffer(error.rawPacket) ? /^([A-Z]+) (\S+) HTTP\//.exec(error.rawPacket.toString("latin1", 0, 8_192)) : null
    const url = line?.[2] ?? "/"
    const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : ""
    const body = JSON.stringify(Wire.errorsOf(Wire.routePath(url), undefined, query)(failure))
    // its headers are what the parser refused: no id of the client's is read from them
    const refused = App.refusal(line?.[1] ?? "-", url, undefined, failure)
    const head = [
      `HTTP/1.1 ${failure.status} ${Http.STATUS_CODES[failure.status] ?? ""}`,
      "content-type: application/json",
      `content-length: ${Buffer.byteLength(body)}`,
      `x-request-id: ${refused.requestId}`
    ]
    for (const [name, value] of Object.entries(failure.headers ?? {})) head.push(`${name}: ${value}`)
    socket.write(`${head.join("\r\n")}\r\n\r\n${body}`)
    run(Effect.zipRight(Errors.countRefusal(failure), refused.line))
  }
  socket.destroy(error)
}

/**
 * A request with an `Expect` other than `100-continue` (Node's
 * `checkExpectation`): its 417 in the error JSON of the path's API, where
 * Node answers an empty body. Its body is left unread; the connection
 * closes. For either listener.
 *
 * @internal
 */
export const expectationFailed = (request: Http.IncomingMessage, response: Http.ServerResponse, run: Run = Effect.runSync): void =>
  refuse(request, response, Errors.expectationFailed(request.headers["expect"] ?? ""), run)

/**
 * Answers `failure` before (and without) the app, as Node's own refusals
 * come (an `Expect` it does not know, a missing `Host`): in the error JSON
 * of the path's API, its body left unread; counted in `Errors.refusals`.
 */
const refuse = (request: Http.IncomingMessage, response: Http.ServerResponse, failure: Errors.Failure, run: Run = Effect.runSync): void => {
  const url = request.url ?? "/"
  const header = (name: string): string | undefined => {
    const value = request.headers[name]
    return Array.isArray(value) ? value[0] : value
  }
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : ""
  const body = JSON.stringify(Wire.errorsOf(Wire.routePath(url), header, query)(failure))
  const refused = App.refusal(request.method ?? "-", url, header("x-request-id"), failure)
  response.writeHead(failure.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-request-id": refused.requestId,
    ...failure.headers
  })
  response.end(body)
  run(Effect.zipRight(Errors.countRefusal(failure), refused.line))
}

/** An HTTP/1.1 request without a `Host`, as Node's own check (`requireHostHeader`) reads one. */
const hostless = (request: Http.IncomingMessage): boolean =>
  request.headers.host === undefined && request.httpVersionMajor === 1 && request.httpVersionMinor === 1

/** The Node server of a running gateway, for its tests. @internal */
export const nodeServers = new WeakMap<Running, Http.Server>()

/** @internal */
export interface Running {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly inFlight: Effect.Effect<number>
  readonly draining: Effect.Effect<boolean>
  /** Shutting down, but serving still for its `shutdownDelay`. */
  readonly leaving: Effect.Effect<boolean>
  readonly admin?: Listening
}

/** @internal */
export interface Listening {
  readonly host: string
  readonly port: number
  readonly url: string
}

/**
 * Serves the admin app on its own Node server, in the scope (closed with
 * it, after the main server's drain: a scrape during the drain is answered).
 * Closing stops it accepting and closes every connection left: the
 * platform's own close waits for each to end, and one a client holds open
 * (connected, or halfway through a request's head) would hold the
 * shutdown past `drainTimeout`, up to Node's own header timeout.
 */
const startAdmin = (admin: NonNullable<ServerSettings["admin"]>, routes: App.Settings["routes"]) =>
  Effect.gen(function* () {
    const app = yield* App.makeAdmin(routes, App.isLoopbackHost(admin.host))
    const run: Run = Runtime.runSync(yield* Effect.runtime<never>())
    // its routes read no body: the head's timeout is its requests' whole
    const node = Http.createServer(nodeOptions(Duration.zero))
    node.on("clientError", (error: Error, socket: Duplex) => clientError(error, socket, run))
    node.on("checkExpectation", (request: Http.IncomingMessage, response: Http.ServerResponse) => expectationFailed(request, response, run))
    const server = yield* NodeHttpServer.make(() => node, { host: admin.host, port: admin.port })
    // added after the platform's, so it runs before it
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        node.close()
        node.closeAllConnections()
      })
    )
    yield* server.serve(app)
    return listening(admin.host, server.address, admin.port)
  })

const listening = (host: string, address: HttpServer.Address, asked: number): Listening => {
  const port = address._tag === "TcpAddress" ? address.port : asked
  return { host, port, url: `http://${urlHost(host)}:${port}` }
}

/** Counts requests from their arrival to their response's close, and tells when none is left. */
class InFlight {
  count = 0
  private waiters: Array<() => void> = []

  enter(): void {
    this.count++
  }

  leave(): void {
    this.count--
    if (this.count === 0) {
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
    }
  }

  readonly idle: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.count === 0) return resume(Effect.void)
    const wake = () => resume(Effect.void)
    this.waiters.push(wake)
    return Effect.sync(() => {
      this.waiters = this.waiters.filter((w) => w !== wake)
    })
  })
}

const urlHost = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/**
 * Goes on serving for `delay`, `/readyz` answering 503 (a load balancer's
 * readiness checks take it out of rotation meanwhile), then stops accepting
 * connections (and closes the idle ones), waits for the requests in flight
 * up to `drainTimeout`, then closes every connection left (which interrupts
 * their requests and aborts their upstream calls).
 */
const drain = (node: Http.Server, lifecycle: App.Lifecycle, inFlight: InFlight, delay: Duration.Duration, timeout: Duration.Duration) =>
  Effect.gen(function* () {
    if (Duration.greaterThan(delay, Duration.zero)) {
      lifecycle.leaving = true
      yield* Effect.logInfo(`gateway shutting down: /readyz answers 503, serving for ${Duration.format(delay)} before the drain`)
      // not interruptible: a shutdown by interruption (NodeRuntime.runMain's on SIGTERM) would cut it at once;
      // a second signal ends the process, as it finds no listener left
      yield* Effect.sleep(delay)
    }
    lifecycle.draining = true
    yield* Effect.logInfo(`gateway shutting down: draining ${inFlight.count} request(s) in flight`)
    node.close()
    // finalizers run uninterruptibly: the wait must be interruptible for its timeout to cut it
    const drained = yield* Effect.timeout(Effect.interruptible(inFlight.idle), timeout).pipe(Effect.option)
    if (Option.isNone(drained)) {
      yield* Effect.logWarning(
        `gateway drain timeout of ${Duration.format(timeout)} passed: closing ${inFlight.count} request(s) still in flight`
      )
    }
    node.closeAllConnections()
    yield* Effect.logInfo("gateway stopped")
  })

const chatPath = "/v1/chat/completions"

/** Headers that carry a client's trace context (those the platform's `HttpTraceContext` reads). */
const traceHeaders = ["traceparent", "b3", "x-b3-traceid"]

/**
 * Whether a request is one `App.NodeChat` answers, when the lean path is
 * on: `POST /v1/chat/completions`, with or without a query string, and,
 * with tracing on (`tracing`), carrying no trace context: the platform's
 * server then continues a client's trace, so that an upstream call made
 * under it by a client that propagates the trace (the platform's own)
 * carries its trace id. With tracing off (as under `serve`), nothing
 * continues it, on either path.
 *
 * @internal
 */
export const isLeanRoute = (request: Http.IncomingMessage, tracing: boolean): boolean => {
  const { url } = request
  return (
    request.method === "POST" &&
    url !== undefined &&
    url.startsWith(chatPath) &&
    (url.length === chatPath.length || url[chatPath.length] === "?") &&
    (!tracing || traceHeaders.every((name) => request.headers[name] === undefined))
  )
}

type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

/**
 * Runs a request's chat handler in the request's scope, closed with its
 * exit, as `Effect.scoped` does, but with the scope put into the fiber's
 * context by setting it rather than by `provideService`, which restores
 * the context after the effect in an acquire-use-release of its own (25
 * Effect operations a request): the handler is its fiber's whole run, so
 * nothing runs after it in that context.
 */
const inRequestScope = (handler: Effect.Effect<void, never, Scope.Scope>): Effect.Effect<void> =>
  Effect.flatMap(Scope.make(), (scope) =>
    Effect.onExit(
      Effect.zipRight(
        FiberRef.update(FiberRef.currentContext, (context) => Context.add(context, Scope.Scope, scope)),
        handler as Effect.Effect<void>
      ),
      (exit) => Scope.close(scope, exit)
    ))

/**
 * The chat route's handler straight from Node's server (`App.NodeChat`),
 * for the requests it takes (`isLeanRoute`; it says whether it took one),
 * run in this fiber's runtime as the platform's handler runs the app, and,
 * as the platform's router runs a route, interruptible whatever the
 * runtime's flags (a gateway started in a resource's acquisition, say): its
 * fiber is interrupted when its client leaves before the answer is written.
 * `undefined` where the platform's server must answer chat too: when spans
 * go somewhere (its middleware makes each request's span), or when
 * pre-response handlers are set (`HttpApp.withPreResponseHandler`), which
 * only the platform's server applies. Read once, at start, as the
 * platform's handler takes its runtime then.
 */
const leanChat = (chat: App.NodeChat) =>
  Effect.withFiberRuntime<((request: Http.IncomingMessage, response: Http.ServerResponse) => boolean) | undefined>((fiber) => {
    if (spansGoSomewhere(fiber) || Option.isSome(fiber.getFiberRef(HttpApp.currentPreResponseHandlers))) {
      return Effect.succeed(undefined)
    }
    const tracing = fiber.getFiberRef(FiberRef.currentTracerEnabled)
    return Effect.map(Effect.runtime<never>(), (runtime) => {
      const runFork = Runtime.runFork(runtime)
      return (request: Http.IncomingMessage, response: Http.ServerResponse) => {
        if (!isLeanRoute(request, tracing)) return false
        const running = runFork(Effect.interruptible(inRequestScope(chat(request, response))))
        response.once("close", () => {
          if (!response.writableEnded) running.unsafeInterruptAsFork(clientAbortFiberId)
        })
        return true
      }
    })
  })

/**
 * Serves `app` on the platform's server, then takes over the request
 * listener the platform installed (its upgrade listener stays, for a route
 * that upgrades to a WebSocket): what the returned handler is not handed
 * goes to the platform's.
 */
const serveWith = (server: HttpServer.HttpServer, node: Http.Server, app: HttpApp.Default, handle: (platform: Handler) => Handler) =>
  Effect.gen(function* () {
    const before = new Set(node.listeners("request"))
    yield* server.serve(app)
    const added = node.listeners("request").filter((listener) => !before.has(listener))
    if (added.length !== 1) return yield* Effect.dieMessage(`expected the platform's server to add one request listener, found ${added.length}`)
    const platform = added[0] as Handler
    const handler = handle(platform)
    node.off("request", platform)
    node.on("request", handler)
    yield* Effect.addFinalizer(() => Effect.sync(() => node.off("request", handler)))
  })

/**
 * Starts the server in the scope; closing the scope drains it.
 *
 * @internal
 */
export const start = (settings: ServerSettings): Effect.Effect<Running, ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const lifecycle: App.Lifecycle = { leaving: false, draining: false }
    const inFlight = new InFlight()
    // nothing wraps the app here: it may write a stream's answer itself; on a loopback address with no
    // keys, only requests addressed to a loopback name are answered (DNS rebinding: see `loopbackHostsOnly`)
    const loopbackHostsOnly = (settings.keys === undefined || settings.keys.length === 0) && App.isLoopbackHost(settings.host)
    // with an admin listener, the routes that ask no key (observability's) are served there alone
    const admin = settings.admin === undefined
      ? undefined
      : yield* startAdmin(settings.admin, settings.routes.filter((route) => route.requireKey !== true))
    const routes = admin === undefined ? settings.routes : settings.routes.filter((route) => route.requireKey === true)
    // with keys too, the routes that ask none (`/metrics`, `/status`, `/healthz`) answer loopback names only
    const loopbackHostsOnOpenRoutes = App.isLoopbackHost(settings.host)
    const { app, chat } = yield* App.makeServed({ ...settings, routes, loopbackHostsOnly, loopbackHostsOnOpenRoutes }, lifecycle)
    const lean = yield* leanChat(chat)
    // an HTTP/1.1 request without a Host is refused below, in the path's error JSON (Node's own check answers an empty 400)
    const node = Http.createServer({ ...nodeOptions(settings.bodyTimeout), requireHostHeader: false })
    // what Node refuses itself (its parser, an Expect it does not know), in the path's error JSON (Node answers a bare status)
    // the server's own refusals run where the app does: their lines go where the app's go (`LogSink`, or the logger)
    const run: Run = Runtime.runSync(yield* Effect.runtime<never>())
    node.on("clientError", (error: Error, socket: Duplex) => clientError(error, socket, run))
    // without a Host, the 400 comes before whatever an Expect asks (Node checks the Host first, too)
    node.on("checkExpectation", (request: Http.IncomingMessage, response: Http.ServerResponse) =>
      hostless(request) ? refuse(request, response, Errors.missingHost(), run) : expectationFailed(request, response, run))
    // past it, Node closes a connection as it comes (its "drop" event), before any byte of it is read
    if (settings.maxConnections !== undefined) node.maxConnections = settings.maxConnections
    // a client that asks before it sends its body (`Expect: 100-continue`) is told to go on only when
    // the length it announces is within the limit: past it, the app answers 413 unread, and the client
    // never sends the body (Node would have said "100 Continue" to every one)
    node.on("checkContinue", (request, response) => {
      if (!hostless(request) && !(Number(request.headers["content-length"]) > settings.maxBodyBytes)) response.writeContinue()
      node.emit("request", request, response)
    })
    const server = yield* NodeHttpServer.make(() => node, { host: settings.host, port: settings.port })
    yield* serveWith(server, node, app, (platform) => (request, response) => {
      inFlight.enter()
      response.once("close", () => inFlight.leave())
      if (lifecycle.draining) response.setHeader("connection", "close")
      if (hostless(request)) return refuse(request, response, Errors.missingHost(), run)
      if (lean === undefined || !lean(request, response)) platform(request, response)
    })
    // added last, so it runs first on close: the app still answers while draining
    yield* Effect.addFinalizer(() => drain(node, lifecycle, inFlight, settings.shutdownDelay, settings.drainTimeout))
    const running: Running = {
      ...listening(settings.host, server.address, settings.port),
      inFlight: Effect.sync(() => inFlight.count),
      draining: Effect.sync(() => lifecycle.draining),
      leaving: Effect.sync(() => lifecycle.leaving),
      ...(admin === undefined ? {} : { admin })
    }
    nodeServers.set(running, node)
    return running
  })
