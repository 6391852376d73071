/**
 * A config reload under a gateway: a stream the gateway is sending when the
 * reload comes ends whole on the old router, which closes only then.
 */
import { FetchHttpClient } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Scope } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Reload from "../../src/cli/internal/reload.js"
import * as Config from "../../src/config/Config.js"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"
import { serveFile } from "../support/reload.js"

const text = (url: string) => `providers:\n  a: { type: openai, baseUrl: "${url}", apiKey: "sk-x" }\nmodels:\n  primary: { provider: a, model: gpt-4o-mini }\n`
const env = Layer.mergeAll(NodeFileSystem.layer, FetchHttpClient.layer, Logger.replace(Logger.defaultLogger, Logger.none))
const tick = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

it.scoped("a stream the gateway is sending across a reload ends whole on the old router, whose scope closes once the answer is sent", () =>
  Effect.gen(function* () {
    const old = yield* MockServer.make({ reply: { text: "one two three four five six" }, tokenDelay: "30 millis" })
    const next = yield* MockServer.make({ reply: { text: "new" } })
    const file = join(mkdtempSync(join(tmpdir(), "reload-gw-")), "config.yaml")
    writeFileSync(file, text(old.baseUrls.openai))
    const { state: serving, first, swappable, routerScope } = yield* serveFile(file)
    const closed: Array<string> = []
    yield* Scope.addFinalizer(routerScope, Effect.sync(() => closed.push("first")))
    const gateway = yield* Gateway.make({ router: swappable.router, port: 0 })
    const post = (stream: boolean) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "default", stream, messages: [{ role: "user", content: "count" }] })
      })
    const response = yield* Effect.promise(() => post(true))
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let body = decoder.decode((yield* Effect.promise(() => reader.read())).value)

    writeFileSync(file, text(next.baseUrls.openai))
    yield* Reload.reload(serving)
    expect(swappable.current()).not.toBe(first)
    const answer = yield* Effect.promise(() => post(false).then((r) => r.json() as Promise<{ choices: Array<{ message: { content: string } }> }>))
    expect(answer.choices[0]!.message.content).toBe("new")
    for (let i = 0; i < 20; i++) yield* tick
    expect(closed).toEqual([])

    for (;;) {
      const chunk = yield* Effect.promise(() => reader.read())
      if (chunk.done) break
      body += decoder.decode(chunk.value)
    }
    const content = body
      .split("\n")
      .filter((line) => line.startsWith("data: {"))
      .map((line) => (JSON.parse(line.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "")
      .join("")
    expect(content).toBe("one two three four five six")
    expect(body).toContain("data: [DONE]")
    for (let i = 0; i < 5000 && closed.length === 0; i++) yield* tick
    expect(closed).toEqual(["first"])
  }).pipe(Effect.provide(env)))

it.scoped("a request waiting for a slot whose model a swap then takes away gets a 404, as one sent after the swap does", () =>
  Effect.gen(function* () {
    const upstream = yield* MockServer.make({ faultFor: (index) => (index === 0 ? MockServer.stall : undefined) })
    const parsed = yield* Config.parse(`${text(upstream.baseUrls.openai)}chains:\n  default: [primary]\n  other: [primary]\n`)
    const first = yield* Effect.flatMap(Config.toRouterConfig(parsed.config), (c) => Router.make(c))
    const swappable = yield* Router.swappable(first)
    const gateway = yield* Gateway.make({ router: swappable.router, port: 0, maxConcurrent: 1, maxQueued: 1 })
    const post = (model: string, signal?: AbortSignal) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
        ...(signal === undefined ? {} : { signal })
      })
    // the first holds the one slot (its upstream never answers); the second waits for it
    const controller = new AbortController()
    const held = post("default", controller.signal).catch(() => undefined)
    yield* MockServer.awaitRequests(upstream, 1).pipe(Effect.timeout("2 seconds"))
    const waiting = post("other")
    for (let i = 0; i < 200 && (yield* gateway.inFlight) < 2; i++) yield* tick
    expect(yield* gateway.inFlight).toBe(2)

    const second = yield* Effect.flatMap(
      Config.parse(`${text(upstream.baseUrls.openai)}chains:\n  default: [primary]\n`),
      (reparsed) => Effect.flatMap(Config.toRouterConfig(reparsed.config), (c) => Router.make(c, { previous: first }))
    )
    yield* swappable.swap(second)
    controller.abort()
    yield* Effect.promise(() => held)
    const answer = yield* Effect.promise(() => waiting)
    expect(answer.status).toBe(404)
    expect(((yield* Effect.promise(() => answer.json())) as { error: { code: string } }).error.code).toBe("model_not_found")
  }).pipe(Effect.provide(env)))
