/**
 * `llm_gateway_refusals_total{status,reason}`: the requests the gateway
 * answers itself with an error before its router takes them (a bad body, a
 * key, a model, a route, its limits), read from its `/metrics` on
 * 127.0.0.1, on either server (Node's lean chat route, and the platform's
 * when spans go somewhere). Its labels are the status and the gateway's own
 * error code, never what the client sent: five unknown model names are one
 * series. What the router answered (a served request, an exhausted chain)
 * is not counted here.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Redacted, Scope } from "effect"
import * as Net from "node:net"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Observability from "../src/observability/Observability.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { send } from "./support/raw.js"
import { recordingTracer } from "./support/tracing.js"

const admin = "gw-refusals-admin-0001"
const team = "gw-refusals-team-0002"
const question = [{ role: "user", content: "hi" }]

const setup = (around: (start: Effect.Effect<Gateway.Server, ServeError, Scope.Scope>) => Effect.Effect<Gateway.Server, ServeError, Scope.Scope>) =>
  Effect.gen(function* () {
    const up = yield* MockServer.make({ reply: { text: "Hi." } })
    const slow = yield* MockServer.make({ faults: [MockServer.stall] })
    const down = yield* MockServer.make({ faults: [MockServer.status(500)] })
    const model = (server: MockServer.MockServer) =>
      OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make("sk-upstream"), baseUrl: server.baseUrls.openai })
    const router = yield* Router.make({
      targets: { mini: { model: yield* model(up) }, slow: { model: yield* model(slow) }, broken: { model: yield* model(down) } },
      chains: { default: ["mini"], stalled: ["slow"], down: ["broken"] },
      policy: { retry: { maxAttempts: 1 } }
    })
    const { handlers } = yield* Observability.attach(router, { telemetry: { tracing: false } })
    const gateway = yield* around(Gateway.make({
      router,
      port: 0,
      keys: [Redacted.make(admin), { name: "team", key: Redacted.make(team), rpm: 1, models: ["default"] }],
      maxBodyBytes: 2_000,
      maxConcurrent: 1,
      maxQueued: 0,
      drainTimeout: "100 millis",
      bodyTimeout: "100 millis",
      routes: [{ path: "/metrics", handler: handlers.metrics }]
    }))
    return { gateway, slow }
  })

/** The refusal counter's series on `/metrics`, by `status reason`, and every label set seen. */
const refusals = (url: string) =>
  Effect.map(send(url, "GET", "/metrics"), (metrics) => {
    const counts = new Map<string, number>()
    const labels: Array<string> = []
    for (const line of metrics.text.split("\n")) {
      const match = /^llm_gateway_refusals_total\{([^}]*)\} (\S+)$/.exec(line)
      if (match === null) continue
      labels.push(match[1]!)
      const status = /status="([^"]*)"/.exec(match[1]!)?.[1]
      const reason = /reason="([^"]*)"/.exec(match[1]!)?.[1]
      counts.set(`${status} ${reason}`, Number(match[2]))
    }
    return { counts, labels }
  })

const difference = (before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>) =>
  Object.fromEntries([...after].map(([series, n]) => [series, n - (before.get(series) ?? 0)]).filter(([, n]) => n !== 0))

const post = (url: string, path: string, body: string, headers: Record<string, string> = {}) =>
  send(url, "POST", path, { "content-type": "application/json", authorization: `Bearer ${admin}`, ...headers }, body)

/** A request whose body stops after 9 of the 500 bytes it promised: the status line of the answer (408). */
const stalledBody = (port: number) =>
  Effect.promise(
    () =>
      new Promise<{ readonly status: number }>((resolve, reject) => {
        const socket = Net.connect(port, "127.0.0.1")
        let text = ""
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => (text += chunk))
        socket.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]) }))
        socket.on("error", reject)
        socket.write(
          "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
            `authorization: Bearer ${admin}\r\ncontent-length: 500\r\n\r\n{"model":`
        )
      })
  )

const chat = (model: string) => JSON.stringify({ model, messages: question })

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("llm_gateway_refusals_total", (it) => {
  describe("counts each refusal by status and the gateway's own code, on either server", () => {
    it.scoped("a bad body, a key, a model, a route, the size, the media type, a body too slow, a key's rate and the bulkhead", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        for (const around of [(start: Effect.Effect<Gateway.Server, ServeError, Scope.Scope>) => start, Effect.withTracer(tracer)]) {
          const { gateway, slow } = yield* setup(around)
          const url = gateway.url
          const before = yield* refusals(url)
          const statuses: Array<number> = []
          const note = (answer: { readonly status: number }) => void statuses.push(answer.status)
          note(yield* post(url, "/v1/chat/completions", "{"))
          note(yield* post(url, "/v1/chat/completions", JSON.stringify({ model: "default", messages: "no" })))
          note(yield* post(url, "/v1/chat/completions", chat("default"), { authorization: "" }))
          note(yield* post(url, "/v1/chat/completions", chat("default"), { authorization: "Bearer gw-wrong-key-0003" }))
          note(yield* post(url, "/v1/chat/completions", chat("stalled"), { authorization: `Bearer ${team}` }))
          for (let i = 0; i < 5; i++) note(yield* post(url, "/v1/chat/completions", chat(`no-such-model-${Math.random().toString(36).slice(2)}`)))
          note(yield* send(url, "GET", "/v2/nothing", { authorization: `Bearer ${admin}` }))
          note(yield* send(url, "GET", "/v1/chat/completions", { authorization: `Bearer ${admin}` }))
          note(yield* post(url, "/v1/chat/completions", JSON.stringify({ model: "default", messages: question, user: "x".repeat(3_000) })))
          note(yield* post(url, "/v1/chat/completions", chat("default"), { "content-type": "text/plain" }))
          note(yield* stalledBody(gateway.port))
          note(yield* post(url, "/v1/messages", JSON.stringify({ model: "default", max_tokens: 5 })))
          // what the router answered counts nowhere here: a served request, an exhausted chain
          note(yield* post(url, "/v1/chat/completions", chat("default"), { authorization: `Bearer ${team}` }))
          note(yield* post(url, "/v1/chat/completions", chat("down")))
          note(yield* post(url, "/v1/chat/completions", chat("default"), { authorization: `Bearer ${team}` }))
          // the bulkhead's one slot held by a stalled call: the next request is refused
          yield* Effect.fork(post(url, "/v1/chat/completions", chat("stalled")))
          yield* MockServer.awaitRequests(slow, 1).pipe(Effect.timeout("2 seconds"))
          note(yield* post(url, "/v1/chat/completions", chat("default")))
          expect(statuses).toEqual([400, 400, 401, 401, 403, 404, 404, 404, 404, 404, 404, 405, 413, 415, 408, 400, 200, 503, 429, 429])
          const after = yield* refusals(url)
          expect(difference(before.counts, after.counts)).toEqual({
            "400 invalid_request_error": 3,
            "401 invalid_api_key": 2,
            "403 model_not_allowed": 1,
            "404 model_not_found": 5,
            "404 unknown_url": 1,
            "405 method_not_allowed": 1,
            "408 request_timeout": 1,
            "413 request_too_large": 1,
            "415 unsupported_media_type": 1,
            "429 rate_limit_exceeded": 1,
            "429 gateway_busy": 1
          })
          // bounded labels: the status and the code, nothing the client sent
          for (const labels of after.labels) {
            expect([...labels.matchAll(/(\w+)="/g)].map((m) => m[1]).sort()).toEqual(["reason", "status"])
            expect(labels).not.toMatch(/no-such-model|gw-|team|default/)
          }
        }
      })
    )
  })
})
