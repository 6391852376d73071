/**
 * The admin listener (`admin`): the routes that ask no key (observability's
 * `/metrics`, `/status`, `/status.json`) served on a second address and gone
 * from the main one, the keyed `/v1/usage` left on the main one, a 404 in
 * OpenAI's error JSON for anything else, and the `Host` check of a keyless
 * loopback address. Real HTTP on 127.0.0.1 (port 0).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Redacted, Scope } from "effect"
import * as Net from "node:net"
import * as Config from "../src/config/Config.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Observability from "../src/observability/Observability.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { send } from "./support/raw.js"

const key = "gw-admin-test-key"



const setup = (keys: ReadonlyArray<Redacted.Redacted>) =>
  Effect.gen(function* () {
    const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
    const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
    const { handlers } = yield* Observability.attach(router, { telemetry: { tracing: false } })
    return yield* Gateway.make({
      router,
      port: 0,
      keys,
      admin: { port: 0 },
      routes: [
        { path: "/metrics", handler: handlers.metrics },
        { path: "/status", handler: handlers.status },
        { path: "/status.json", handler: handlers.statusJson },
        { path: "/v1/usage", handler: handlers.usage, requireKey: true }
      ]
    })
  })

const chat = JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }] })

describe("Gateway admin listener", () => {
  it.scopedLive("serves /metrics, /status and /status.json on its own address, and the main one no longer does", () =>
    Effect.gen(function* () {
      const gateway = yield* setup([Redacted.make(key)])
      const admin = gateway.admin!
      expect(admin.host).toBe("127.0.0.1")
      expect(admin.port).not.toBe(gateway.port)
      expect(admin.url).toBe(`http://127.0.0.1:${admin.port}`)
      const served = yield* send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json", authorization: `Bearer ${key}` }, chat)
      expect(served.status).toBe(200)
      const metrics = yield* send(admin.url, "GET", "/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.text).toContain("llm_requests_total")
      expect((yield* send(admin.url, "GET", "/status")).text).toContain("<html")
      expect(JSON.parse((yield* send(admin.url, "GET", "/status.json")).text)).toHaveProperty("targets")
      expect(JSON.parse((yield* send(admin.url, "GET", "/healthz")).text)).toEqual({ status: "ok" })
      for (const path of ["/metrics", "/status", "/status.json"]) {
        const gone = yield* send(gateway.url, "GET", path, { authorization: `Bearer ${key}` })
        expect(gone.status, path).toBe(404)
      }
      // the keyed route stays on the main listener, and asks its key there
      expect((yield* send(gateway.url, "GET", "/v1/usage")).status).toBe(401)
      expect((yield* send(gateway.url, "GET", "/v1/usage", { authorization: `Bearer ${key}` })).status).toBe(200)
      expect((yield* send(admin.url, "GET", "/v1/usage")).status).toBe(404)
    })
  )

  it.scopedLive("answers anything else with a 404 in OpenAI's error JSON, a chat request included, and its own paths asked with another method with a 405", () =>
    Effect.gen(function* () {
      const gateway = yield* setup([Redacted.make(key)])
      for (const [method, path] of [["GET", "/nope"], ["POST", "/v1/chat/completions"], ["GET", "/v1/models"]] as const) {
        const answer = yield* send(gateway.admin!.url, method, path, { "content-type": "application/json" }, method === "POST" ? chat : undefined)
        expect(answer.status, path).toBe(404)
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: "unknown_url", type: "invalid_request_error" } })
      }
      // its own paths asked with another method: 405, naming GET
      for (const path of ["/metrics", "/healthz"]) {
        const answer = yield* send(gateway.admin!.url, "POST", path, { "content-type": "application/json" }, "{}")
        expect(answer.status, path).toBe(405)
        expect(answer.headers["allow"]).toBe("GET")
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: "method_not_allowed" } })
      }
    })
  )

  it.scopedLive("on a loopback address it answers only a loopback Host (DNS rebinding), whatever the gateway's keys", () =>
    Effect.gen(function* () {
      const gateway = yield* setup([Redacted.make(key)])
      const refused = yield* send(gateway.admin!.url, "GET", "/status.json", { host: "evil.example" })
      expect(refused.status).toBe(403)
      expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "host_not_allowed" } })
      expect((yield* send(gateway.admin!.url, "GET", "/status.json", { host: "localhost" })).status).toBe(200)
    })
  )

  it.scoped("a bad admin address is refused: by Gateway.make, and by a config at its path", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const port = yield* Effect.exit(Gateway.make({ router, port: 0, admin: { port: 70_000 } }))
      expect(port._tag === "Failure" && Cause.pretty(port.cause)).toContain("Gateway: admin.port must be a whole number from 0 to 65535")
      const host = yield* Effect.exit(Gateway.make({ router, port: 0, admin: { host: " ", port: 0 } }))
      expect(host._tag === "Failure" && Cause.pretty(host.cause)).toContain("Gateway: admin.host must name an interface")
      const parsed = yield* Effect.either(
        Config.parse(
          ["providers: { sim: { type: simulated } }", "models: { mini: { provider: sim, model: m } }", "gateway: { admin: { host: '', port: -1 } }"].join("\n")
        )
      )
      const text = parsed._tag === "Left" ? JSON.stringify(parsed.left) : ""
      expect(text).toContain("gateway.admin.host")
      expect(text).toContain("gateway.admin.port")
      const good = yield* Config.parse(
        ["providers: { sim: { type: simulated } }", "models: { mini: { provider: sim, model: m } }", "gateway: { admin: { port: 9464 } }"].join("\n")
      )
      expect(Config.gatewaySettings(good.config).admin).toEqual({ port: 9464 })
    })
  )
})

describe("Gateway admin listener shutdown", () => {
  it.live("a connection held open on the admin listener does not hold the shutdown past the drain", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const scope = yield* Scope.make()
      const gateway = yield* Gateway.make({ router, port: 0, admin: { port: 0 }, drainTimeout: "1 second" }).pipe(Scope.extend(scope))
      // a client that connected and sent nothing, and one that sent half a request's head
      const sockets = [Net.connect(gateway.admin!.port, "127.0.0.1"), Net.connect(gateway.admin!.port, "127.0.0.1")]
      yield* Effect.promise(() => Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once("connect", resolve)))))
      sockets[1]!.write("GET /status HTTP/1.1\r\nHost: localhost\r\n")
      yield* Effect.sleep("100 millis")
      const startedAt = Date.now()
      const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
      const done = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const poll = setInterval(() => {
            if (Date.now() - startedAt > 6_000 || sockets.every((socket) => socket.destroyed || socket.readableEnded)) {
              clearInterval(poll)
              resolve(Date.now() - startedAt)
            }
          }, 20)
        })
      )
      for (const socket of sockets) socket.destroy()
      yield* closed.await
      expect(done).toBeLessThan(3_000)
    }).pipe(Effect.scoped), 15_000)
})
