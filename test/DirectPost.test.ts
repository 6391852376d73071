/**
 * An adapter on an `UndiciHttpClient` as it was made sends its calls
 * straight on the client's dispatcher (`Undici.directPoster`), not through
 * the platform's request and the client's pipeline: the provider must get
 * the same request either way. Each adapter's completion and stream, sent
 * directly and through the pipeline (the same client with a transform,
 * which turns the direct path off), reach the mock upstream with the same
 * method, path, query, headers and body, and answer the same.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import type * as Net from "node:net"
import { Chunk, Effect, Redacted, Stream, Tracer } from "effect"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import * as Chat from "../src/llm/Chat.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as ProviderHttp from "../src/providers/internal/http.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as MockServer from "../src/testing/MockServer.js"
import { recordingTracer } from "./support/tracing.js"

type Transform = ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined

const adapters = {
  openai: (server: MockServer.MockServer, transformClient: Transform, suffix = "") =>
    OpenAi.make({
      model: "gpt-4o-mini",
      apiKey: Redacted.make("sk-direct-secret"),
      baseUrl: server.baseUrls.openai + suffix,
      // the config's headers over the request's own, whatever their case; a secret one sent in plain
      headers: { "X-Team": "search", "OpenAI-Organization": "org-1", Accept: "application/json; v=2", "X-Secret": Redacted.make("s3cr3t") },
      transformClient
    }),
  anthropic: (server: MockServer.MockServer, transformClient: Transform, suffix = "") =>
    Anthropic.make({
      model: "claude-haiku-4-5",
      apiKey: Redacted.make("sk-ant-secret"),
      baseUrl: server.baseUrls.anthropic + suffix,
      transformClient
    }),
  gemini: (server: MockServer.MockServer, transformClient: Transform, suffix = "") =>
    Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make("gm-secret"), baseUrl: server.baseUrls.gemini + suffix, transformClient })
}

/** What the upstream saw of a request, but for the headers that differ between any two requests. */
const seen = (request: MockServer.RecordedRequest) => {
  const { "content-length": _length, host: _host, connection: _connection, ...headers } = request.headers
  return { method: request.method, path: request.path, query: request.query, headers, body: request.body }
}

/**
 * A server on 127.0.0.1 that records each request's raw URL (as sent: MockServer's
 * `query` keeps one value a name) and answers 404, for as long as the scope.
 */
const urlRecorder = Effect.gen(function* () {
  const urls: Array<string> = []
  const server = Http.createServer((request, response) => {
    urls.push(request.url ?? "")
    response.writeHead(404, { "content-type": "application/json" }).end("{}")
  })
  yield* Effect.acquireRelease(
    Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
    () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )
  return { origin: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`, urls }
})

describe("an adapter's calls sent straight on UndiciHttpClient's dispatcher", () => {
  for (const [name, make] of Object.entries(adapters)) {
    // the live clock: the direct path is taken there only
    it.live(`${name}: the same requests and answers as through the client's pipeline`, () =>
      Effect.gen(function* () {
        const runs = []
        for (const transform of [undefined, (client: HttpClient.HttpClient) => client.pipe((c) => c)] as const) {
          const server = yield* MockServer.make({ reply: { text: "Same either way.", usage: { inputTokens: 3, outputTokens: 4 } } })
          const model = yield* make(server, transform)
          const completion = yield* model.complete(Chat.prompt("hello", { system: "Be brief.", maxTokens: 20 }))
          const chunks = yield* Stream.runCollect(model.stream(Chat.prompt("again")))
          runs.push({
            requests: server.requests().map(seen),
            text: completion.text,
            streamed: Chunk.toArray(chunks).map((chunk) => (chunk._tag === "TextDelta" ? chunk.text : chunk._tag)).join("|")
          })
        }
        const [direct, pipeline] = runs
        expect(direct?.requests).toHaveLength(2)
        expect(direct).toEqual(pipeline)
        expect(direct?.text).toBe("Same either way.")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

    it.live(`${name}: a traced call goes through the client, which makes its span and sends the trace context`, () =>
      Effect.gen(function* () {
        const { names, tracer } = yield* recordingTracer
        const server = yield* MockServer.make({ reply: { text: "Traced." } })
        const model = yield* make(server, undefined)
        yield* model.complete(Chat.prompt("hello")).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
        yield* Stream.runDrain(model.stream(Chat.prompt("again"))).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
        expect(names.filter((spanName) => spanName === "http.client POST")).toHaveLength(2)
        expect(server.requests().map((request) => request.headers["traceparent"])).toEqual([
          expect.stringMatching(/^00-[0-9a-f]{32}-/),
          expect.stringMatching(/^00-[0-9a-f]{32}-/)
        ])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))
  }

  // a base URL with trailing slashes, a query string, a model with `?` or `#` (broken URLs, but the same ones)
  it.live("odd base URLs and model names reach the server as the client's pipeline makes them", () =>
    Effect.gen(function* () {
      const { origin, urls } = yield* urlRecorder
      const direct = undefined
      const pipeline = (client: HttpClient.HttpClient) => client.pipe((c) => c)
      const cases = [
        { base: "/v1//", model: "gemini-2.5-flash" },
        { base: "/v1beta?x=1", model: "gemini-2.5-flash" },
        { base: "/v1beta", model: "gem?ini" },
        { base: "/v1beta", model: "gem#ini" }
      ]
      for (const { base, model } of cases) {
        const seenBy = []
        for (const transformClient of [direct, pipeline]) {
          urls.length = 0
          const gemini = yield* Gemini.make({ model, apiKey: Redacted.make("gm-secret"), baseUrl: origin + base, transformClient })
          yield* Effect.either(gemini.complete(Chat.prompt("hello")))
          yield* Effect.either(Stream.runDrain(gemini.stream(Chat.prompt("hello"))))
          seenBy.push([...urls])
        }
        expect(seenBy[0], `${base} ${model}`).toHaveLength(2)
        expect(seenBy[0], `${base} ${model}`).toEqual(seenBy[1])
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  // a base URL's param that a call sets itself (Gemini's alt=sse) is sent once, the call's: two would leave the upstream to pick one
  it.live("a call's own query param replaces the base URL's of the same name, directly, through the pipeline and traced alike", () =>
    Effect.gen(function* () {
      const { origin, urls } = yield* urlRecorder
      const baseUrl = `${origin}/v1beta?alt=json&key=gm-url-key`
      const { tracer } = yield* recordingTracer
      for (const transformClient of [undefined, (client: HttpClient.HttpClient) => client.pipe((c) => c)]) {
        const gemini = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make("gm-secret"), baseUrl, transformClient })
        yield* Effect.either(Stream.runDrain(gemini.stream(Chat.prompt("hello"))))
        yield* Effect.either(Stream.runDrain(gemini.stream(Chat.prompt("hello")))).pipe(Effect.withTracer(tracer))
        yield* Effect.either(gemini.complete(Chat.prompt("hello")))
      }
      expect(urls).toHaveLength(6)
      for (const [i, url] of urls.entries()) {
        const query = new URLSearchParams(url.slice(url.indexOf("?") + 1))
        expect(query.getAll("key")).toEqual(["gm-url-key"])
        expect(query.getAll("alt")).toEqual(i % 3 === 2 ? ["json"] : ["sse"])
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  // a key in the base URL's query (Azure's ?api-key=): sent on every path, shown on none
  it.live("a base URL's query reaches the server directly, through the pipeline and traced alike; the span shows its names only", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make()
      const baseUrl = `${server.baseUrls.openai}?api-key=sk-secret-in-url&api-version=2024-10-21`
      const spans: Array<ReadonlyMap<string, unknown>> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span.attributes)
          return span
        },
        context: native.context
      })
      for (const transformClient of [undefined, (client: HttpClient.HttpClient) => client.pipe((c) => c)]) {
        const model = yield* OpenAi.make({ model: "gpt-4o-mini", apiKey: Redacted.make("sk-direct-secret"), baseUrl, transformClient })
        yield* model.complete(Chat.prompt("hello"))
        yield* model.complete(Chat.prompt("hello")).pipe(Effect.withTracer(tracer))
        yield* Stream.runDrain(model.stream(Chat.prompt("again")))
      }
      const sent = server.requests()
      expect(sent).toHaveLength(6)
      for (const request of sent) {
        expect(request.path).toBe("/v1/chat/completions")
        expect(request.query).toEqual({ "api-key": "sk-secret-in-url", "api-version": "2024-10-21" })
      }
      const http = spans.filter((attributes) => attributes.has("url.full"))
      expect(http).toHaveLength(2)
      for (const attributes of http) {
        expect(attributes.get("url.full")).toBe(`${server.baseUrls.openai}/chat/completions?api-key=%3Credacted%3E&api-version=%3Credacted%3E`)
        expect(attributes.get("url.query")).toBe("api-key=%3Credacted%3E&api-version=%3Credacted%3E")
        expect(JSON.stringify([...attributes].map(([key, value]) => [key, String(value)]))).not.toContain("sk-secret-in-url")
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it("sent directly on UndiciHttpClient as it was made, through the pipeline on a client transformed or any other", () =>
    Effect.gen(function* () {
      const options = { provider: "openai", model: "m", baseUrl: "http://127.0.0.1:1/v1", apiKey: undefined, auth: () => ({}) }
      expect((yield* ProviderHttp.makeEndpoint(options).pipe(Effect.provide(UndiciHttpClient.layer))).direct).toBeDefined()
      const transformed = ProviderHttp.makeEndpoint({ ...options, transformClient: (client) => client })
      expect((yield* transformed.pipe(Effect.provide(UndiciHttpClient.layer))).direct).toBeUndefined()
      expect((yield* ProviderHttp.makeEndpoint(options).pipe(Effect.provide(NodeHttpClient.layerUndici))).direct).toBeUndefined()
    }).pipe(Effect.runPromise))
})
