/**
 * The gateway's Node HTTP server: listens, serves the app, counts requests
 * in flight, and on shutdown stops accepting, drains, then closes.
 *
 * @internal
 */
import { NodeHttpServer } from "@effect/platform-node"
import { clientAbortFiberId, type ServeError } from "@effect/platform/HttpServerError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { spansGoSomewhere } from "../../observability/internal/tracing.js"
import * as App from "./app.js"

/** @internal */
export interface ServerSettings extends App.Settings {
  readonly host: string
  readonly port: number
  readonly drainTimeout: Duration.Duration
}

/** @internal */
export interface Running {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly inFlight: Effect.Effect<number>
  readonly draining: Effect.Effect<boolean>
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
 * Stops accepting connections (and closes the idle ones), waits for the
 * requests in flight up to `drainTimeout`, then closes every connection left
 * (which interrupts their requests and aborts their upstream calls).
 */
const drain = (node: Http.Server, lifecycle: App.Lifecycle, inFlight: InFlight, timeout: Duration.Duration) =>
  Effect.gen(function* () {
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

const isChatPath = (url: string | undefined): boolean =>
  url !== undefined && url.startsWith(chatPath) && (url.length === chatPath.length || url[chatPath.length] === "?")

/**
 * The chat route's handler straight from Node's server (`App.NodeChat`),
 * run in this fiber's runtime as the platform's handler runs the app, its
 * fiber interrupted when its client leaves before the answer is written;
 * `undefined` when spans go somewhere, for the platform's server
 * middleware to make each request's span.
 */
const leanChat = (chat: App.NodeChat) =>
  Effect.withFiberRuntime<((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined>((fiber) => {
    if (spansGoSomewhere(fiber)) return Effect.succeed(undefined)
    return Effect.map(Effect.runtime<never>(), (runtime) => {
      const runFork = Runtime.runFork(runtime)
      return (request: Http.IncomingMessage, response: Http.ServerResponse) => {
        const running = runFork(chat(request, response))
        response.once("close", () => {
          if (!response.writableEnded) running.unsafeInterruptAsFork(clientAbortFiberId)
        })
      }
    })
  })

/**
 * Starts the server in the scope; closing the scope drains it.
 *
 * @internal
 */
export const start = (settings: ServerSettings): Effect.Effect<Running, ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const lifecycle: App.Lifecycle = { draining: false }
    const inFlight = new InFlight()
    // nothing wraps the app here: it may write a stream's answer itself
    const { app, chat } = yield* App.makeServed(settings, lifecycle)
    const platform = yield* NodeHttpServer.makeHandler(app)
    const lean = yield* leanChat(chat)
    const node = Http.createServer()
    const handle = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      inFlight.enter()
      response.once("close", () => inFlight.leave())
      if (lifecycle.draining) response.setHeader("connection", "close")
      if (lean !== undefined && request.method === "POST" && isChatPath(request.url)) lean(request, response)
      else platform(request, response)
    }
    const server = yield* NodeHttpServer.make(() => node, { host: settings.host, port: settings.port })
    node.on("request", handle)
    yield* Effect.addFinalizer(() => Effect.sync(() => node.off("request", handle)))
    // added last, so it runs first on close: the app still answers while draining
    yield* Effect.addFinalizer(() => drain(node, lifecycle, inFlight, settings.drainTimeout))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : settings.port
    return {
      host: settings.host,
      port,
      url: `http://${urlHost(settings.host)}:${port}`,
      inFlight: Effect.sync(() => inFlight.count),
      draining: Effect.sync(() => lifecycle.draining)
    } satisfies Running
  })
