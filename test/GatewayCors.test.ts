/**
 * Cross-origin requests (`cors`): a browser's preflight answered before any
 * key is asked, the headers that let an allowed page read an answer (a
 * completion, a stream, an error), nothing for another origin, and the
 * settings checked where they are given. Real HTTP on 127.0.0.1 (port 0);
 * the last case drives headless Chromium (Debian's `chromium` package)
 * through playwright-core: a page on one port calls the gateway on another.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Redacted } from "effect"
import { existsSync } from "node:fs"
import * as Http from "node:http"
import { chromium } from "playwright-core"
import * as Config from "../src/config/Config.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { type RawResponse, send } from "./support/raw.js"

const key = "gw-cors-test-key"
const page = "https://app.example.com"



const gateway = (options: { readonly [K in keyof Gateway.Options]?: Gateway.Options[K] | undefined } = {}) =>
  Effect.gen(function* () {
    const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
    const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
    const { cors = { origins: [page] }, keys = [Redacted.make(key)], routes = [] } = options
    return yield* Gateway.make({ router, port: 0, keys, routes, ...("cors" in options && options.cors === undefined ? {} : { cors }) })
  })

const chat = (stream = false) => JSON.stringify({ model: "default", stream, messages: [{ role: "user", content: "hi" }] })
const authed = { "content-type": "application/json", authorization: `Bearer ${key}` }

describe("Gateway CORS", () => {
  it.scopedLive("a preflight from an allowed page: 204 before any key, with the methods, the headers asked and a max age", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway()
      const answer = yield* send(url, "OPTIONS", "/v1/chat/completions", {
        origin: page,
        "access-control-request-method": "POST",
        "access-control-request-headers": "Authorization, Content-Type, X-Stainless-OS, bad header"
      })
      expect(answer.status).toBe(204)
      expect(answer.text).toBe("")
      expect(answer.headers["access-control-allow-origin"]).toBe(page)
      expect(answer.headers["access-control-allow-methods"]).toBe("GET, POST, OPTIONS")
      // names only: "bad header" is no header name
      expect(answer.headers["access-control-allow-headers"]).toBe("authorization, content-type, x-stainless-os")
      expect(answer.headers["access-control-max-age"]).toBe("600")
      expect(answer.headers["vary"]).toBe("origin, access-control-request-headers, access-control-request-private-network")
      expect(answer.headers["x-request-id"]).toMatch(/^req_/)
    })
  )

  describe("Private Network Access (Chrome's preflight to a private or local address)", () => {
    const askPrivate = { "access-control-request-method": "POST", "access-control-request-private-network": "true" }

    it.scopedLive("an allowed page asking for the private network is allowed it, the answer varying on the ask", () =>
      Effect.gen(function* () {
        const { url } = yield* gateway()
        const answer = yield* send(url, "OPTIONS", "/v1/chat/completions", { origin: page, ...askPrivate })
        expect(answer.status).toBe(204)
        expect(answer.headers["access-control-allow-origin"]).toBe(page)
        expect(answer.headers["access-control-allow-private-network"]).toBe("true")
        expect(String(answer.headers["vary"]).split(", ")).toContain("access-control-request-private-network")
        const any = yield* gateway({ cors: { origins: ["*"] } })
        const anyAnswer = yield* send(any.url, "OPTIONS", "/v1/models", { origin: "https://anywhere.example", ...askPrivate })
        expect(anyAnswer.status).toBe(204)
        expect(anyAnswer.headers["access-control-allow-private-network"]).toBe("true")
      })
    )

    it.scopedLive("a preflight that does not ask (or asks with another value than true) is not answered it, nor is any other request", () =>
      Effect.gen(function* () {
        const { url } = yield* gateway()
        const plain = yield* send(url, "OPTIONS", "/v1/chat/completions", { origin: page, "access-control-request-method": "POST" })
        expect(plain.status).toBe(204)
        expect(plain.headers["access-control-allow-private-network"]).toBeUndefined()
        const other = yield* send(url, "OPTIONS", "/v1/chat/completions", {
          origin: page,
          ...askPrivate,
          "access-control-request-private-network": "false"
        })
        expect(other.headers["access-control-allow-private-network"]).toBeUndefined()
        const post = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: page, ...askPrivate }, chat())
        expect(post.status).toBe(200)
        expect(post.headers["access-control-allow-private-network"]).toBeUndefined()
      })
    )

    it.scopedLive("a page that may not call is refused as ever: 403, no private network allowed", () =>
      Effect.gen(function* () {
        const { url } = yield* gateway()
        const answer = yield* send(url, "OPTIONS", "/v1/chat/completions", { origin: "https://evil.example", ...askPrivate })
        expect(answer.status).toBe(403)
        expect(answer.headers["access-control-allow-private-network"]).toBeUndefined()
        expect(answer.headers["access-control-allow-origin"]).toBeUndefined()
      })
    )
  })

  it.scopedLive("a preflight from another page: 403 origin_not_allowed, with no CORS header", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway()
      const answer = yield* send(url, "OPTIONS", "/v1/models", {
        origin: "https://evil.example",
        "access-control-request-method": "GET"
      })
      expect(answer.status).toBe(403)
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: "origin_not_allowed", type: "invalid_request_error" } })
      expect(answer.headers["access-control-allow-origin"]).toBeUndefined()
    })
  )

  it.scopedLive("an allowed page reads a completion, a stream and an error, with the x-llm-* headers exposed", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway()
      const exposed = (answer: RawResponse) => String(answer.headers["access-control-expose-headers"]).split(", ")
      const completion = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: page }, chat())
      expect(completion.status).toBe(200)
      expect(completion.headers["access-control-allow-origin"]).toBe(page)
      expect(completion.headers["vary"]).toBe("origin")
      expect(exposed(completion)).toEqual(expect.arrayContaining(["x-request-id", "x-llm-target", "x-llm-fallbacks", "retry-after"]))
      const stream = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: page }, chat(true))
      expect(stream.status).toBe(200)
      expect(stream.text).toContain("data: [DONE]")
      expect(stream.headers["access-control-allow-origin"]).toBe(page)
      // an error the page can read: no key
      const refused = yield* send(url, "POST", "/v1/chat/completions", { "content-type": "application/json", origin: page }, chat())
      expect(refused.status).toBe(401)
      expect(refused.headers["access-control-allow-origin"]).toBe(page)
      const models = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin: page })
      expect(models.status).toBe(200)
      expect(models.headers["access-control-allow-origin"]).toBe(page)
    })
  )

  it.scopedLive("another page, or no Origin at all, gets no CORS header; the answer is served as ever", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway()
      const other = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: "https://evil.example" }, chat())
      expect(other.status).toBe(200)
      expect(other.headers["access-control-allow-origin"]).toBeUndefined()
      const none = yield* send(url, "POST", "/v1/chat/completions", authed, chat())
      expect(none.status).toBe(200)
      expect(none.headers["access-control-allow-origin"]).toBeUndefined()
    })
  )

  it.scopedLive("\"*\" allows any page, without Vary; origins match whatever their case", () =>
    Effect.gen(function* () {
      const any = yield* gateway({ cors: { origins: ["*"], maxAge: "1 hour" } })
      const answer = yield* send(any.url, "POST", "/v1/chat/completions", { ...authed, origin: "https://anywhere.example" }, chat())
      expect(answer.headers["access-control-allow-origin"]).toBe("*")
      expect(answer.headers["vary"]).toBeUndefined()
      const preflight = yield* send(any.url, "OPTIONS", "/v1/chat/completions", {
        origin: "https://anywhere.example",
        "access-control-request-method": "POST"
      })
      expect(preflight.headers["access-control-max-age"]).toBe("3600")
      expect(preflight.headers["access-control-allow-headers"]).toBeUndefined()
      const cased = yield* gateway({ cors: { origins: ["https://App.Example.com"] } })
      const upper = yield* send(cased.url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin: page })
      expect(upper.headers["access-control-allow-origin"]).toBe(page)
    })
  )

  it.scopedLive("CORS covers the API alone: the routes that ask no key (status, metrics, health) are no page's to read, even with \"*\"", () =>
    Effect.gen(function* () {
      const status = { path: "/status.json", handler: Effect.succeed(HttpServerResponse.unsafeJson({ targets: [] })) }
      const { url } = yield* gateway({ cors: { origins: ["*"] }, routes: [status] })
      for (const path of ["/status.json", "/healthz"]) {
        const answer = yield* send(url, "GET", path, { origin: page })
        expect(answer.status, path).toBe(200)
        expect(answer.headers["access-control-allow-origin"], path).toBeUndefined()
        const preflight = yield* send(url, "OPTIONS", path, { origin: page, "access-control-request-method": "GET" })
        // no route answers OPTIONS there: 404 for an extra route, 405 for a known one
        expect(preflight.status, path).toBe(path === "/healthz" ? 405 : 404)
        expect(preflight.headers["access-control-allow-origin"], path).toBeUndefined()
      }
      const models = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin: page })
      expect(models.headers["access-control-allow-origin"]).toBe("*")
    })
  )

  it.scopedLive("without cors, an OPTIONS is a 405 as before and no answer carries a CORS header", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway({ cors: undefined })
      const preflight = yield* send(url, "OPTIONS", "/v1/chat/completions", { origin: page, "access-control-request-method": "POST" })
      expect(preflight.status).toBe(405)
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined()
      const answer = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: page }, chat())
      expect(answer.status).toBe(200)
      expect(answer.headers["access-control-allow-origin"]).toBeUndefined()
    })
  )

  it.scopedLive("a keyless loopback gateway still refuses a Host that is no loopback name, preflight or not", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway({ keys: [] })
      const answer = yield* send(url, "OPTIONS", "/v1/chat/completions", {
        host: "evil.example",
        origin: page,
        "access-control-request-method": "POST"
      })
      expect(answer.status).toBe(403)
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: "host_not_allowed" } })
    })
  )

  it.scopedLive("a bad origin or max age is refused where it is given: by Gateway.make, and by a config at its path", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const path = yield* Effect.exit(Gateway.make({ router, port: 0, cors: { origins: ["https://app.example.com/"] } }))
      expect(path._tag === "Failure" && Cause.pretty(path.cause)).toContain("cors.origins: \"https://app.example.com/\" is not an origin")
      const age = yield* Effect.exit(Gateway.make({ router, port: 0, cors: { origins: ["*"], maxAge: "-1 second" } }))
      expect(age._tag === "Failure" && Cause.pretty(age.cause)).toContain("cors.maxAge must be a finite duration")
      const parsed = yield* Effect.either(
        Config.parse(
          [
            "providers: { sim: { type: simulated } }",
            "models: { mini: { provider: sim, model: m } }",
            "chains: { default: [mini] }",
            "gateway:",
            "  cors:",
            "    origins: [\"https://ok.example\", \"app.example.com\"]",
            "    maxAge: soon"
          ].join("\n")
        )
      )
      expect(parsed._tag).toBe("Left")
      const text = parsed._tag === "Left" ? JSON.stringify(parsed.left) : ""
      expect(text).toContain("gateway.cors.origins[1]")
      expect(text).toContain("is not an origin")
      expect(text).toContain("gateway.cors.maxAge")
    })
  )
})

describe("Gateway CORS and HTTP caches", () => {
  // https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches: an answer whose
  // Access-Control-Allow-Origin depends on the Origin says so (Vary) whatever the
  // Origin, none included; with "*" the header goes on every answer, without Vary
  it.scopedLive("with a list of origins, every answer varies on Origin: one with no Origin, or from another page, too", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway()
      const none = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}` })
      expect(none.status).toBe(200)
      expect(none.headers["access-control-allow-origin"]).toBeUndefined()
      // the list's own Vary (its format follows anthropic-version), Origin added
      expect(none.headers["vary"]).toBe("anthropic-version, origin")
      const other = yield* send(url, "POST", "/v1/chat/completions", { ...authed, origin: "https://evil.example" }, chat())
      expect(other.headers["access-control-allow-origin"]).toBeUndefined()
      expect(other.headers["vary"]).toBe("origin")
      const lean = yield* send(url, "POST", "/v1/chat/completions", authed, chat())
      expect(lean.headers["vary"]).toBe("origin")
    })
  )

  it.scopedLive("with \"*\", every answer carries it, one to a request with no Origin too", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway({ cors: { origins: ["*"] } })
      const models = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}` })
      expect(models.headers["access-control-allow-origin"]).toBe("*")
      expect(models.headers["vary"]).toBe("anthropic-version") // the list's own, no Origin
      const completion = yield* send(url, "POST", "/v1/chat/completions", authed, chat())
      expect(completion.headers["access-control-allow-origin"]).toBe("*")
    })
  )

  it.scopedLive("a route's own Vary is kept, Origin added to it", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const handler = Effect.succeed(HttpServerResponse.text("hi", { headers: { vary: "accept-encoding" } }))
      const { url } = yield* Gateway.make({ router, port: 0, cors: { origins: [page] }, routes: [{ path: "/v1/page", handler }] })
      const allowed = yield* send(url, "GET", "/v1/page", { origin: page })
      expect(allowed.headers["access-control-allow-origin"]).toBe(page)
      expect(allowed.headers["vary"]).toBe("accept-encoding, origin")
      const none = yield* send(url, "GET", "/v1/page", {})
      expect(none.headers["vary"]).toBe("accept-encoding, origin")
    })
  )
})

describe("Gateway CORS origins as browsers send them", () => {
  it.scopedLive("an extension's or an app's origin (chrome-extension://, moz-extension://, tauri://, capacitor://) may be listed, in Gateway.make and in a config", () =>
    Effect.gen(function* () {
      const origins = [
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "moz-extension://0b1f9a3c-3c4e-4d7a-9b0e-5f2c8f3d6a11",
        "tauri://localhost",
        "capacitor://localhost"
      ]
      const { url } = yield* gateway({ cors: { origins } })
      for (const origin of origins) {
        const answer = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin })
        expect(answer.headers["access-control-allow-origin"], origin).toBe(origin)
      }
      const parsed = yield* Config.parse(
        [
          "providers: { sim: { type: simulated } }",
          "models: { mini: { provider: sim, model: m } }",
          "gateway:",
          "  cors:",
          `    origins: [${origins.map((origin) => JSON.stringify(origin)).join(", ")}]`
        ].join("\n")
      )
      expect(Config.gatewaySettings(parsed.config).cors?.origins).toEqual(origins)
    })
  )

  it.scopedLive("an origin written with its scheme's default port matches the page, which sends none", () =>
    Effect.gen(function* () {
      const { url } = yield* gateway({ cors: { origins: ["https://app.example.com:443", "http://intranet.example:80"] } })
      const https = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin: page })
      expect(https.headers["access-control-allow-origin"]).toBe(page)
      const http = yield* send(url, "GET", "/v1/models", { authorization: `Bearer ${key}`, origin: "http://intranet.example" })
      expect(http.headers["access-control-allow-origin"]).toBe("http://intranet.example")
    })
  )
})

const executablePath = "/usr/bin/chromium"
const hasChromium = existsSync(executablePath)
if (!hasChromium) console.warn(`GatewayCors.test.ts: SKIPPED the browser case: no Chromium at ${executablePath}`)

describe.skipIf(!hasChromium)("Gateway CORS in a browser", () => {
  it.scopedLive("a page on another port calls the gateway with its key and reads the answer and its x-llm-target; a page of another origin cannot", () =>
    Effect.gen(function* () {
      // the page's own server: any path answers a blank page
      const pages = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((_request, response) => {
            response.writeHead(200, { "content-type": "text/html" })
            response.end("<!doctype html><title>app</title>")
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const pagePort = (pages.address() as { port: number }).port
      const origin = `http://127.0.0.1:${pagePort}`
      const { url } = yield* gateway({ cors: { origins: [origin] } })
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() => chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu"] })),
        (b) => Effect.promise(() => b.close())
      )
      const call = (from: string) =>
        Effect.promise(async () => {
          const tab = await browser.newPage()
          await tab.goto(from)
          return tab.evaluate(
            async ({ url, key, body }) => {
              try {
                const response = await fetch(`${url}/v1/chat/completions`, {
                  method: "POST",
                  headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
                  body
                })
                const json = (await response.json()) as { choices: Array<{ message: { content: string } }> }
                return { status: response.status, target: response.headers.get("x-llm-target"), content: json.choices[0]!.message.content }
              } catch (error) {
                return { failed: String(error) }
              }
            },
            { url, key, body: chat() }
          )
        })
      const allowed = yield* call(`${origin}/`)
      expect(allowed).toMatchObject({ status: 200, target: "mini" })
      expect("content" in allowed && allowed.content.length).toBeGreaterThan(0)
      // localhost is another origin than 127.0.0.1, same port and all
      const refused = yield* call(`http://localhost:${pagePort}/`)
      expect(refused).toMatchObject({ failed: expect.stringContaining("Failed to fetch") })
    }), 60_000)
})
