/**
 * The floor under our gateway's CPU a completion, rung by rung, for
 * `bench/ab.ts`: a bare Node proxy of the same request, then the same proxy
 * with one more layer of ours at each rung. Not a gateway (no validation of
 * the request, no errors, no streams): what each layer costs, measured side
 * by side against `llm-failover serve` itself.
 *
 * Run as `serve` is under `ab.ts` (`<bundle> serve --config FILE`, the
 * gateway suite's config): it listens on the config's port and calls the
 * config's `up` provider (the mock). The rung is `LADDER_RUNG`:
 * - `raw`: Node's HTTP server, `JSON.parse`, undici's `request` to the mock
 *   (on an `Agent` of its own, as `UndiciHttpClient` sends),
 *   `JSON.stringify` of the answer;
 * - `fiber`: the same call run in an Effect fiber (`runPromise`);
 * - `router` (the default): the config's router (`Router.make`, the OpenAI
 *   adapter over `UndiciHttpClient`), `router.complete` of the request's
 *   messages on the healthy chain;
 * - `observed`: the same, with `Observability.attach` as `serve` has it.
 *
 *   npx tsx scripts/bundle.ts /tmp/ladder/ladder.mjs bench/lib/servers/ladder.ts
 *   npx tsx bench/ab.ts serve=dist/llm-failover.mjs raw=/tmp/ladder/ladder.mjs,LADDER_RUNG=raw \
 *     router=/tmp/ladder/ladder.mjs,LADDER_RUNG=router
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Logger, LogLevel, ManagedRuntime, Scope } from "effect"
import { createServer } from "node:http"
import { Agent } from "undici"
import * as HeapGrowth from "../../../src/cli/internal/heapGrowth.js"
import * as ServeRefs from "../../../src/cli/internal/serveRefs.js"
import * as Config from "../../../src/config/Config.js"
import type * as Chat from "../../../src/llm/Chat.js"
import * as Observability from "../../../src/observability/Observability.js"
import * as UndiciHttpClient from "../../../src/providers/UndiciHttpClient.js"
import * as Router from "../../../src/router/Router.js"

const rungs = ["raw", "fiber", "router", "observed"] as const
const rung = process.env["LADDER_RUNG"] ?? "router"
if (!(rungs as ReadonlyArray<string>).includes(rung)) throw new Error(`LADDER_RUNG must be one of ${rungs.join(", ")}`)

const at = process.argv.indexOf("--config")
const configPath = at < 0 ? undefined : process.argv[at + 1]
if (configPath === undefined) throw new Error("usage: ladder.mjs serve --config FILE")

const runtime = ManagedRuntime.make(
  Layer.mergeAll(NodeContext.layer, UndiciHttpClient.layer, Logger.minimumLogLevel(LogLevel.Warning))
)
const parsed = await runtime.runPromise(Config.load(configPath))
const port = parsed.config.gateway?.port
const up = parsed.config.providers["up"]
if (port === undefined || up === undefined || up.type !== "openai" || up.baseUrl === undefined) {
  throw new Error("the config must be the gateway suite's (bench/lib/chat.ts): a gateway port and an openai provider `up`")
}
const upstream = new URL(`${up.baseUrl}/chat/completions`)
const key = process.env["BENCH_UPSTREAM_KEY"] ?? ""
const agent = new Agent()
// the router's and observability's scope: open while the server runs (closed, the router's listeners are gone)
const scope = await runtime.runPromise(Scope.make())
const router = await runtime.runPromise(
  Effect.gen(function* () {
    // as serve: the same heap growth
    yield* HeapGrowth.set(HeapGrowth.defaultPercent)
    const made = yield* Router.make(yield* Config.toRouterConfig(parsed.config))
    if (rung === "observed") yield* Observability.attach(made, { telemetry: { tracing: false } })
    return made
  }).pipe(Scope.extend(scope))
)

interface Answer {
  readonly text: string
  readonly model: string
}

const callUpstream = async (messages: unknown): Promise<Answer> => {
  const response = await agent.request({
    origin: upstream.origin,
    path: upstream.pathname,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "gpt-4o-mini", messages })
  })
  const json = (await response.body.json()) as { choices: Array<{ message: { content: string } }>; model: string }
  return { text: json.choices[0]!.message.content, model: json.model }
}

/** The gateway suite's request: its messages are plain text, as a `ChatRequest`'s are (`bench/lib/chat.ts`). */
interface Body {
  readonly messages: Chat.ChatRequest["messages"]
}

const answer = (body: Body): Promise<Answer> => {
  switch (rung) {
    case "raw":
      return callUpstream(body.messages)
    case "fiber":
      return runtime.runPromise(Effect.promise(() => callUpstream(body.messages)))
    default:
      return runtime.runPromise(
        ServeRefs.withServeRefs()(
          Effect.map(router.complete({ messages: body.messages }, { chain: "healthy" }), ({ response }) => ({
            text: response.text,
            model: response.model
          }))
        )
      )
  }
}

const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.end("ok")
    return
  }
  const chunks: Array<Buffer> = []
  req.on("data", (chunk: Buffer) => chunks.push(chunk))
  req.on("end", () => {
    answer(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Body).then(
      ({ model, text }) => {
        const out = JSON.stringify({
          id: "chatcmpl-ladder",
          object: "chat.completion",
          created: 0,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }]
        })
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) })
        res.end(out)
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" })
        res.end(String(error))
      }
    )
  })
})
server.listen(port, "127.0.0.1")
process.once("SIGTERM", () => {
  server.close()
  void runtime.runPromise(Scope.close(scope, Exit.void)).finally(() => runtime.dispose()).finally(() => process.exit(0))
})
