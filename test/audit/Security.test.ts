/**
 * The gateway as an attacker or a careless operator meets it (the security
 * audit): no key (an upstream's, the gateway's) in an answer, a log line at
 * debug level, a metric, the status page or the usage report, whatever an
 * upstream echoes; keys checked on every route that calls a provider; bad
 * input answered with a clean 4xx. Real HTTP on 127.0.0.1 (port 0), against
 * raw upstreams.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Logger, LogLevel, Redacted } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Config from "../../src/config/Config.js"
import * as Gateway from "../../src/gateway/Gateway.js"
import { isLoopbackHost } from "../../src/gateway/internal/app.js"
import * as Observability from "../../src/observability/Observability.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Simulated from "../../src/providers/Simulated.js"
import * as Router from "../../src/router/Router.js"
import { json, rawUpstream, type RawResponse, send, sse } from "../support/raw.js"

const upstreamKey = "sk-proj-UPSTREAMsecret0123456789abcdef"
const gatewayKey = "gw-GATEWAYsecret-0123456789"



const chat = (model: string, stream = false) =>
  JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] })

/** What an OpenAI upstream says to a wrong key: the key, echoed. */
const keyEcho = `Incorrect API key provided: ${upstreamKey}. You can find your API key at https://platform.openai.com/account/api-keys.`

/**
 * An OpenAI upstream answering by the model asked: `unauthorized` a 401
 * echoing the key, `invalid` a 400 echoing it, `midstream` one token then an
 * error event echoing it.
 */
const upstream = rawUpstream((_url, body) => {
  switch (body?.model) {
    case "unauthorized":
      return json(401, { error: { message: keyEcho, type: "invalid_request_error", param: null, code: "invalid_api_key" } })
    case "invalid":
      return json(400, { error: { message: keyEcho, type: "invalid_request_error", param: null, code: null } })
    default:
      return {
        body: sse(
          { id: "c", object: "chat.completion.chunk", created: 1, model: "midstream", choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] },
          { error: { message: keyEcho, type: "server_error", code: null } }
        )
      }
  }
})

const setup = Effect.gen(function* () {
  const { baseUrl } = yield* upstream
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, message }) => {
    lines.push(`${Array.isArray(message) ? message.join(" ") : String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
  })
  const target = (model: string) => Effect.map(OpenAi.make({ model, apiKey: Redacted.make(upstreamKey), baseUrl }), (m) => ({ model: m }))
  const router = yield* Router.make({
    targets: { unauthorized: yield* target("unauthorized"), invalid: yield* target("invalid"), midstream: yield* target("midstream") },
    chains: { default: ["unauthorized"] },
    policy: { retry: { maxAttempts: 1 } }
  })
  const logged = Logger.replace(Logger.defaultLogger, logger)
  // the router's log lines are written by a fiber attach forks: with its logger
  const observability = yield* Observability.attach(router, { telemetry: { tracing: false } }).pipe(Effect.provide(logged))
  const gateway = yield* Gateway.make({
    router,
    port: 0,
    keys: [Redacted.make(gatewayKey)],
    routes: [
      { path: "/metrics", handler: observability.handlers.metrics },
      { path: "/status", handler: observability.handlers.status },
      { path: "/status.json", handler: observability.handlers.statusJson },
      { path: "/v1/usage", handler: observability.handlers.usage, requireKey: true }
    ]
  }).pipe(Effect.provide(logged))
  return { url: gateway.url, lines }
}).pipe(Logger.withMinimumLogLevel(LogLevel.All))

const auth = { "content-type": "application/json", authorization: `Bearer ${gatewayKey}` }

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Security", (it) => {
  describe("an upstream that echoes its key", () => {
    it.scoped("never shows it: not in an answer (completion, stream, mid-stream error), a log line at debug, /metrics, /status, /status.json, /v1/usage", () =>
      Effect.gen(function* () {
        const { lines, url } = yield* setup
        const answers: Array<RawResponse> = []
        for (const model of ["unauthorized", "invalid", "midstream"]) {
          answers.push(yield* send(url, "POST", "/v1/chat/completions", auth, chat(model)))
          answers.push(yield* send(url, "POST", "/v1/chat/completions", auth, chat(model, true)))
        }
        for (const path of ["/metrics", "/status", "/status.json", "/v1/usage"]) answers.push(yield* send(url, "GET", path, auth))
        expect(answers.map((a) => a.status)).toContain(200)
        // the router's lines are there, the attempts' at debug level among them
        expect(lines.some((line) => line.startsWith("LLM attempt on unauthorized failed (Unauthorized)"))).toBe(true)
        expect(lines.some((line) => line.startsWith("LLM stream on midstream failed after its first content"))).toBe(true)
        const everything = [...answers.map((a) => `${JSON.stringify(a.headers)} ${a.text}`), ...lines].join("\n")
        expect(everything).not.toContain("UPSTREAMsecret")
        expect(everything).not.toContain("GATEWAYsecret")
      }))
  })

  describe("a config that holds a secret where a mapping key goes", () => {
    const base = `models: { mini: { provider: openai, model: gpt-4.1-mini } }\nchains: { default: [mini] }\n`
    const problemsOf = (yaml: string) =>
      Effect.map(Effect.either(Config.parse(yaml)), (parsed) => (Either.isLeft(parsed) ? parsed.left.message : "parsed"))

    it.effect("is never quoted in a problem: an unknown key that is a key, a gateway.keys mapping, a header name holding a bearer token", () =>
      Effect.gen(function* () {
        const unknownKey = yield* problemsOf(`providers:\n  openai:\n    type: openai\n    apiKey: sk-x\n    sk-proj-SECRETmappingkey0123456789: true\n${base}`)
        const keysMapping = yield* problemsOf(`providers: { openai: { type: openai, apiKey: sk-x } }\n${base}gateway:\n  keys: { gw-SECRETkeyAsMapping: admin }\n`)
        const headerName = yield* problemsOf(
          `providers:\n  openai:\n    type: openai\n    apiKey: sk-x\n    headers: { "Authorization: Bearer sk-SECRETinheadername": yes }\n${base}`
        )
        for (const message of [unknownKey, keysMapping, headerName]) {
          expect(message).toMatch(/^invalid config/)
          expect(message).not.toContain("SECRET")
        }
        // still says where: the line and column of the key
        expect(unknownKey).toMatch(/providers\.openai\S*: unknown key .*\(line 5, column \d+\)/)
        expect(headerName).toMatch(/providers\.openai\.headers\S*: a header's name/)
      }))

    it.effect("an unknown key shaped like a field's name is still quoted (a typo is worth naming)", () =>
      Effect.gen(function* () {
        const typo = yield* problemsOf(`providers:\n  openai: { type: openai, apiKey: sk-x, baseURL: "http://127.0.0.1:1/v1" }\n${base}`)
        expect(typo).toContain("providers.openai.baseURL: unknown key")
        // a name with a scheme's word in it is no credential
        const named = yield* problemsOf(
          `providers: { openai: { type: openai, apiKey: sk-x } }\nmodels: { mini: { provider: openai, model: gpt-4.1-mini } }\nchains: { "basic tier": [nope] }\n`
        )
        expect(named).toContain('chains["basic tier"]')
      }))
  })

  describe("a body the gateway answers without reading", () => {
    /**
     * Sends a request's head and the start of a body announced as 100 MB,
     * then nothing more: the answer's head, and whether the server closed
     * the connection (within 5 s) rather than keep reading the body.
     */
    const unreadBody = (port: number, head: string) =>
      Effect.async<{ readonly head: string; readonly closed: boolean }>((resume) => {
        const socket = Net.connect(port, "127.0.0.1", () =>
          socket.write(`${head}\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n{"model":`)
        )
        let text = ""
        socket.on("data", (data: Buffer) => (text += data.toString("latin1")))
        const done = (closed: boolean) => {
          clearTimeout(timer)
          socket.destroy()
          resume(Effect.succeed({ head: text.split("\r\n\r\n", 1)[0] ?? "", closed }))
        }
        const timer = setTimeout(() => done(false), 5_000)
        socket.on("close", () => done(true))
        socket.on("error", () => undefined)
        return Effect.sync(() => done(false))
      })

    it.scoped("is not read on after the answer: a 401 (no key) or a 404 closes the connection, as a 413 does, so a client cannot upload past bodyTimeout", () =>
      Effect.gen(function* () {
        const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "1 millis", tokenDelay: 0 })
        const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
        const gateway = yield* Gateway.make({ router, port: 0, keys: [Redacted.make(gatewayKey)] }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none))
        )
        const unauthorized = yield* unreadBody(gateway.port, "POST /v1/chat/completions HTTP/1.1")
        expect(unauthorized.head).toMatch(/^HTTP\/1\.1 401/)
        expect(unauthorized.head).toMatch(/\r\nconnection: close/i)
        expect(unauthorized.closed).toBe(true)
        const unknown = yield* unreadBody(gateway.port, "POST /v1/embeddings HTTP/1.1")
        expect(unknown.head).toMatch(/^HTTP\/1\.1 404/)
        expect(unknown.head).toMatch(/\r\nconnection: close/i)
        expect(unknown.closed).toBe(true)
        // an answer to a request read whole keeps its connection
        const agent = new Http.Agent({ keepAlive: true })
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
        const kept = (method: string, path: string, headers: Record<string, string>, body?: string) =>
          Effect.promise(
            () =>
              new Promise<{ readonly status: number; readonly connection: string | undefined }>((resolve, reject) => {
                const request = Http.request(`${gateway.url}${path}`, { method, headers, agent }, (response) => {
                  response.resume()
                  response.on("end", () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }))
                })
                request.on("error", reject)
                request.end(body)
              })
          )
        expect(yield* kept("GET", "/healthz", {})).toMatchObject({ status: 200, connection: "keep-alive" })
        expect(yield* kept("POST", "/v1/chat/completions", auth, chat("default"))).toMatchObject({ status: 200, connection: "keep-alive" })
        expect(yield* kept("GET", "/v1/models", {})).toMatchObject({ status: 401, connection: "keep-alive" })
      }))
  })

  describe("names with CR/LF and non-ASCII (a config's, sent back by a client)", () => {
    it.scoped("make x-llm-* headers of printable ASCII: no header is injected, the answer goes out, and the status page escapes them", () =>
      Effect.gen(function* () {
        const evil = "t\r\nset-cookie: stolen=1 é <b>"
        const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "1 millis", tokenDelay: 0 })
        const router = yield* Router.make({ targets: { [evil]: { model } }, chains: { [`c${evil}`]: [evil] } })
        const observability = yield* Observability.attach(router, { telemetry: { tracing: false } })
        const gateway = yield* Gateway.make({ router, port: 0, routes: [{ path: "/status", handler: observability.handlers.status }] }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none))
        )
        const headers = { "content-type": "application/json" }
        for (const stream of [false, true]) {
          const answer = yield* send(gateway.url, "POST", "/v1/chat/completions", headers, chat(`c${evil}`, stream))
          expect(answer.status).toBe(200)
          expect(answer.headers["set-cookie"]).toBeUndefined()
          expect(answer.headers["x-llm-target"]).toBe("t??set-cookie: stolen=1 ? <b>")
          expect(answer.headers["x-llm-chain"]).toBe("ct??set-cookie: stolen=1 ? <b>")
        }
        const missing = yield* send(gateway.url, "POST", "/v1/chat/completions", headers, chat(`x${evil}`))
        expect(missing.status).toBe(404)
        expect(missing.headers["set-cookie"]).toBeUndefined()
        const status = yield* send(gateway.url, "GET", "/status", {})
        expect(status.text).toContain("&lt;b&gt;")
        expect(status.text).not.toContain("<b>")
      }))
  })

  describe("a page in a browser, its name rebound to 127.0.0.1 (DNS rebinding)", () => {
    /** A request to the gateway's port whose Host header names another site, as a rebound page's does. */
    const asHost = (url: string, host: string, method: string, path: string, headers: Record<string, string>, body?: string) =>
      send(url, method, path, { ...headers, host }, body)

    it.scoped("cannot reach a gateway on a loopback address with no keys: a Host that is not a loopback name gets a 403, and no provider is called", () =>
      Effect.gen(function* () {
        const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "1 millis", tokenDelay: 0 })
        const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
        const observability = yield* Observability.attach(router, { telemetry: { tracing: false } })
        const gateway = yield* Gateway.make({ router, port: 0, routes: [{ path: "/v1/usage", handler: observability.handlers.usage, requireKey: true }] }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none))
        )
        const headers = { "content-type": "application/json" }
        const rebound = `attacker.example:${gateway.port}`
        const refused = yield* asHost(gateway.url, rebound, "POST", "/v1/chat/completions", headers, chat("default"))
        expect(refused.status).toBe(403)
        expect(JSON.parse(refused.text).error.code).toBe("host_not_allowed")
        for (const [method, path] of [["POST", "/v1/chat/completions"], ["GET", "/v1/usage"], ["GET", "/v1/models"]] as const) {
          const answer = yield* asHost(gateway.url, rebound, method, path, headers, method === "POST" ? chat("default", true) : undefined)
          expect([path, answer.status]).toEqual([path, 403])
        }
        // the usage report counted no request: none reached the router
        const usage = yield* send(gateway.url, "GET", "/v1/usage", {})
        expect(JSON.parse(usage.text).totals.requests).toBe(0)
        // loopback names are served
        for (const host of [`localhost:${gateway.port}`, `127.0.0.1:${gateway.port}`, `[::1]:${gateway.port}`, "LOCALHOST.", "app.localhost"]) {
          const answer = yield* asHost(gateway.url, host, "POST", "/v1/chat/completions", headers, chat("default"))
          expect([host, answer.status]).toEqual([host, 200])
        }
      }))

    it("a loopback name: localhost and names under it, 127.x.x.x, ::1, with any port; not a name that only starts like one, nor every interface", () => {
      for (const host of ["localhost", "localhost:8787", "a.localhost", "127.0.0.1", "127.9.9.9:1", "[::1]:8787", "::1", "[::ffff:127.0.0.1]:80", undefined]) {
        expect([host, isLoopbackHost(host)]).toEqual([host, true])
      }
      for (const host of ["0.0.0.0", "::", "attacker.example", "localhost.attacker.example", "127.0.0.1.attacker.example:80", "[::2]:80", "10.0.0.1"]) {
        expect([host, isLoopbackHost(host)]).toEqual([host, false])
      }
    })

    it.scoped("with gateway keys the Host is not checked (a proxy may pass its own; a rebound page has no key)", () =>
      Effect.gen(function* () {
        const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "1 millis", tokenDelay: 0 })
        const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
        const gateway = yield* Gateway.make({ router, port: 0, keys: [Redacted.make(gatewayKey)] }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none))
        )
        const proxied = yield* asHost(gateway.url, "gateway.example.com", "POST", "/v1/chat/completions", auth, chat("default"))
        expect(proxied.status).toBe(200)
        const keyless = yield* asHost(gateway.url, "gateway.example.com", "POST", "/v1/chat/completions", { "content-type": "application/json" }, chat("default"))
        expect(keyless.status).toBe(401)
      }))
  })
})
