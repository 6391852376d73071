/**
 * Our gateway built from the library, in a process of its own, for the
 * `gateway-parts` suite: the same config file and the same router as
 * `llm-failover serve`, with parts of what `serve` adds switched off, to
 * tell what each part costs. (The `gateway` suite, and the first row of
 * `gateway-parts`, run the real command line, `src/cli/bin.ts serve`.)
 *
 * Settings come from the environment:
 * - `BENCH_CONFIG`: the config file; `BENCH_PORT`: the port (127.0.0.1).
 * - `BENCH_OBSERVABILITY`: `"1"` attaches observability as `serve` does
 *   (metrics, logs and spans of router events, health, cost ledger, and its
 *   routes); anything else does not.
 * - `BENCH_LOG_LEVEL`: the minimum log level (`"info"` as `serve` by
 *   default, `"none"` for no log line at all).
 * - `BENCH_ROUTER`: `"stub"` puts a router in front of the real one whose
 *   `complete` and `stream` answer at once with the results of one real
 *   call and one real stream made at start (no upstream call per request):
 *   what the gateway's HTTP side costs alone. `BENCH_SERVER=platform` serves that canned answer from a
 *   bare `@effect/platform` Node server instead (one route, no gateway):
 *   the floor the gateway stands on.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeContext, NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Chunk, Effect, Layer, Logger, LogLevel, Stream } from "effect"
import { createServer } from "node:http"
import * as HeapGrowth from "../../../src/cli/internal/heapGrowth.js"
import * as ServeRefs from "../../../src/cli/internal/serveRefs.js"
import * as Config from "../../../src/config/Config.js"
import * as Chat from "../../../src/llm/Chat.js"
import * as Gateway from "../../../src/gateway/Gateway.js"
import * as Observability from "../../../src/observability/Observability.js"
import * as UndiciHttpClient from "../../../src/providers/UndiciHttpClient.js"
import * as Router from "../../../src/router/Router.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}

const levels: Readonly<Record<string, LogLevel.LogLevel>> = {
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  none: LogLevel.None
}

const level = levels[process.env["BENCH_LOG_LEVEL"] ?? "info"]
if (level === undefined) throw new Error(`BENCH_LOG_LEVEL must be one of ${Object.keys(levels).join(", ")}`)

/**
 * The answers of one real call and one real stream through `router`, then
 * a router that gives them back at once: `complete` the answer, `stream`
 * the stream's chunks, all at once.
 */
const stubbed = (router: Router.Service) =>
  Effect.gen(function* () {
    const chain = router.chains[0]!
    const request = Chat.prompt("Say hello")
    const canned = yield* router.complete(request, { chain })
    const streamed = yield* Effect.scoped(
      Effect.flatMap(router.stream(request, { chain }), (started) =>
        Effect.zip(Stream.runCollect(started.chunks), started.done).pipe(
          Effect.map(([chunks, meta]) => ({ chunks: Chunk.toReadonlyArray(chunks), meta }))
        )
      )
    )
    const stub: Router.Service = {
      ...router,
      complete: () => Effect.succeed(canned),
      stream: () =>
        Effect.succeed({
          meta: streamed.meta,
          chunks: Stream.fromIterable(streamed.chunks),
          done: Effect.succeed(streamed.meta)
        })
    }
    return { stub, canned }
  })

const platformFloor = (router: Router.Service, port: number) =>
  Effect.gen(function* () {
    const { canned } = yield* stubbed(router)
    const body = {
      id: "chatcmpl-floor",
      object: "chat.completion",
      created: 0,
      model: canned.response.model,
      choices: [{ index: 0, message: { role: "assistant", content: canned.response.text }, finish_reason: "stop" }]
    }
    const app = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/v1/chat/completions",
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.json).pipe(
          Effect.as(HttpServerResponse.unsafeJson(body)),
          Effect.orDie
        )
      ),
      HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" })))
    )
    return yield* Layer.launch(
      HttpServer.serve(app).pipe(Layer.provide(NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port })))
    )
  })

const main = Effect.gen(function* () {
  const parsed = yield* Config.load(env("BENCH_CONFIG"))
  const real = yield* Router.make(yield* Config.toRouterConfig(parsed.config))
  if (process.env["BENCH_SERVER"] === "platform") return yield* platformFloor(real, Number(env("BENCH_PORT")))
  const router = process.env["BENCH_ROUTER"] === "stub" ? (yield* stubbed(real)).stub : real
  const routes: Array<Gateway.Route> = []
  if (process.env["BENCH_OBSERVABILITY"] === "1") {
    const observability = yield* Observability.attach(router, { telemetry: { tracing: false } })
    routes.push(
      { path: "/metrics", handler: observability.handlers.metrics },
      { path: "/status", handler: observability.handlers.status },
      { path: "/status.json", handler: observability.handlers.statusJson },
      { path: "/v1/usage", handler: observability.handlers.usage, requireKey: true }
    )
  }
  yield* Gateway.serve({ ...Config.gatewaySettings(parsed.config), router, routes, port: Number(env("BENCH_PORT")) })
}).pipe(Effect.scoped)

// as serve: the same heap growth, set before the server starts
HeapGrowth.set(HeapGrowth.defaultPercent).pipe(
  Effect.zipRight(main),
  // as serve: no exporter, so no spans; the providers' built-in auth header names redacted once
  ServeRefs.withServeRefs(),
  Logger.withMinimumLogLevel(level),
  // as serve: this package's undici client
  Effect.provide(Layer.mergeAll(NodeContext.layer, UndiciHttpClient.layer)),
  NodeRuntime.runMain
)
