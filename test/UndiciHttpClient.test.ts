/**
 * `UndiciHttpClient` against the platform's undici client, over real HTTP on
 * 127.0.0.1: the same answers for the same requests, the same errors, the
 * request aborted upstream when a call is interrupted or a body dropped, and
 * the platform's spans when a tracer that exports is installed.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Fiber, Layer, Option, Stream, Tracer } from "effect"
import * as http from "node:http"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import type { AddressInfo } from "node:net"
import * as Undici from "../src/providers/internal/undici.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"

interface TestServer {
  readonly url: string
  /** Resolved with the path of each request whose connection closed before its answer ended. */
  readonly aborted: Deferred.Deferred<string>
  /** The headers of the last request. */
  readonly lastHeaders: () => http.IncomingHttpHeaders
}

/** A server on 127.0.0.1 and a random port, with one route per behaviour under test. */
const server = Effect.acquireRelease(
  Effect.async<{ readonly node: http.Server; readonly test: TestServer }>((resume) => {
    const aborted = Deferred.unsafeMake<string>(undefined as never)
    let lastHeaders: http.IncomingHttpHeaders = {}
    const node = http.createServer((request, response) => {
      lastHeaders = request.headers
      const path = request.url ?? "/"
      response.on("close", () => {
        if (!response.writableFinished) Deferred.unsafeDone(aborted, Effect.succeed(path.split("?")[0]!))
      })
      const parts: Array<Buffer> = []
      request.on("data", (part: Buffer) => parts.push(part))
      request.on("end", () => {
        const body = Buffer.concat(parts).toString("utf8")
        if (path.startsWith("/echo")) {
          response.writeHead(201, { "content-type": "application/json", "x-answer": "42" })
          response.end(JSON.stringify({ method: request.method, url: path, body, type: request.headers["content-type"] }))
        } else if (path === "/text") {
          response.writeHead(200, { "content-type": "text/plain", "set-cookie": ["a=1; Path=/", "b=2"] })
          response.end("plain text")
        } else if (path === "/form") {
          response.writeHead(200, { "content-type": "application/x-www-form-urlencoded" })
          response.end("a=1&b=two")
        } else if (path === "/empty") {
          response.writeHead(204)
          response.end()
        } else if (path === "/stream") {
          response.writeHead(200, { "content-type": "text/event-stream" })
          response.write("one,")
          setImmediate(() => {
            response.write("two,")
            setImmediate(() => response.end("three"))
          })
        } else if (path === "/half") {
          // half an answer, then silence: the client must leave it
          response.writeHead(200, { "content-type": "text/event-stream" })
          response.write("first")
        } else if (path === "/hang") {
          // no answer at all
        } else {
          response.writeHead(404)
          response.end()
        }
      })
    })
    node.listen(0, "127.0.0.1", () => {
      const { port } = node.address() as AddressInfo
      resume(
        Effect.succeed({ node, test: { url: `http://127.0.0.1:${port}`, aborted, lastHeaders: () => lastHeaders } })
      )
    })
  }),
  ({ node }) =>
    Effect.async<void>((resume) => {
      node.closeAllConnections()
      node.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ test }) => test))

/** The client of `layer`, built in the test's scope. */
const clientOf = (layer: Layer.Layer<HttpClient.HttpClient>) =>
  Effect.map(Layer.build(layer), Context.get(HttpClient.HttpClient))

/** Both clients, each on an agent of its own, for the test's scope. */
const bothClients = Effect.all({
  platform: clientOf(NodeHttpClient.layerUndici),
  ours: clientOf(UndiciHttpClient.layer)
})

/** What a response shows of itself, read the way `read` says. */
const observe = (client: HttpClient.HttpClient, request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function* () {
    const response = yield* client.execute(request)
    const text = yield* response.text
    // a second read gets the same text, as the platform's does
    const again = yield* response.text
    return {
      status: response.status,
      contentType: response.headers["content-type"],
      answer: response.headers["x-answer"],
      cookies: Object.keys(response.cookies.cookies).sort(),
      text,
      again
    }
  })

describe("UndiciHttpClient", () => {
  it.scoped("answers as the platform's client does: status, headers, cookies, text, JSON, bytes, forms, bodies", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      const { ours, platform } = yield* bothClients
      const requests = [
        HttpClientRequest.get(`${url}/echo`).pipe(HttpClientRequest.setUrlParams({ q: "a b", n: "1" })),
        HttpClientRequest.post(`${url}/echo`).pipe(HttpClientRequest.bodyUnsafeJson({ hello: "world" })),
        HttpClientRequest.post(`${url}/echo`).pipe(HttpClientRequest.bodyText("some text")),
        HttpClientRequest.put(`${url}/echo`).pipe(
          HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("stre"), new TextEncoder().encode("amed")), {
            contentType: "application/octet-stream"
          })
        ),
        HttpClientRequest.get(`${url}/text`),
        HttpClientRequest.get(`${url}/empty`),
        HttpClientRequest.get(`${url}/missing`)
      ]
      for (const request of requests) {
        const [theirs, mine] = [yield* observe(platform, request), yield* observe(ours, request)]
        expect(mine).toEqual(theirs)
        expect(mine.text).toBe(mine.again)
      }
      const echoed = JSON.parse((yield* observe(ours, requests[3]!)).text)
      expect(echoed).toEqual({ method: "PUT", url: "/echo", body: "streamed", type: "application/octet-stream" })
      expect((yield* observe(ours, requests[4]!)).cookies).toEqual(["a", "b"])

      const json = yield* Effect.flatMap(ours.execute(requests[1]!), (response) => response.json)
      expect(json).toEqual({ method: "POST", url: "/echo", body: '{"hello":"world"}', type: "application/json" })
      const bytes = yield* Effect.flatMap(ours.get(`${url}/text`), (response) => response.arrayBuffer)
      expect(new TextDecoder().decode(bytes)).toBe("plain text")
      const form = yield* Effect.flatMap(ours.get(`${url}/form`), (response) => response.urlParamsBody)
      expect(form).toEqual([["a", "1"], ["b", "two"]])
      const streamed = yield* Effect.flatMap(ours.get(`${url}/stream`), (response) =>
        Stream.runCollect(Stream.decodeText(response.stream))
      )
      expect(Chunk.join(streamed, "")).toBe("one,two,three")
    }))

  it.scoped("fails as the platform's client does: a bad URL, a refused connection, JSON that is not", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      const { ours, platform } = yield* bothClients
      const errorOf = (client: HttpClient.HttpClient, request: HttpClientRequest.HttpClientRequest) =>
        Effect.flip(Effect.flatMap(client.execute(request), (response) => response.json)).pipe(
          Effect.map((error) => ({ tag: error._tag, reason: error.reason }))
        )
      const refused = yield* Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            const probe = http.createServer()
            probe.listen(0, "127.0.0.1", () => {
              const { port } = probe.address() as AddressInfo
              probe.close(() => resolve(`http://127.0.0.1:${port}/`))
            })
          })
      )
      const cases = [
        [HttpClientRequest.get("http://[not a url"), { tag: "RequestError", reason: "InvalidUrl" }],
        [HttpClientRequest.get(refused), { tag: "RequestError", reason: "Transport" }],
        [HttpClientRequest.get(`${url}/text`), { tag: "ResponseError", reason: "Decode" }]
      ] as const
      for (const [request, expected] of cases) {
        expect(yield* errorOf(ours, request)).toEqual(expected)
        expect(yield* errorOf(platform, request)).toEqual(expected)
      }
    }))

  it.scoped("interrupting a call waiting for its answer aborts the request upstream", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      const call = yield* Effect.fork(ours.get(`${test.url}/hang`))
      // the server has the request once its headers are in
      while (test.lastHeaders()["host"] === undefined) yield* Effect.yieldNow()
      yield* Fiber.interrupt(call)
      expect(yield* Deferred.await(test.aborted)).toBe("/hang")
    }))

  // the live clock: the adapters send directly only there
  it.live("a direct post under a headers deadline fails once it passes and aborts the request; one in time answers as execute does", () =>
    Effect.gen(function* () {
      const { ours } = yield* bothClients
      const post = Undici.directPoster(ours)
      if (post === undefined) throw new Error("UndiciHttpClient.layer's client sends no direct posts")
      const headers = { "content-type": "application/json" }
      const hanging = yield* server
      const error = yield* Effect.flip(post(Context.empty(), { url: new URL(`${hanging.url}/hang`), headers, body: "{}" }, 50))
      expect(error.reason).toBe("Transport")
      expect(error.cause).toEqual(new Undici.HeadersTimeout(50))
      expect(error.request.url).toBe(`${hanging.url}/hang`)
      expect(yield* Deferred.await(hanging.aborted)).toBe("/hang")
      const test = yield* server
      const response = yield* post(Context.empty(), { url: new URL(`${test.url}/echo`), headers, body: '{"hello":"world"}' }, 5_000)
      expect(yield* response.json).toEqual({ method: "POST", url: "/echo", body: '{"hello":"world"}', type: "application/json" })
      // a client derived from it by a combinator sends no direct posts
      expect(Undici.directPoster(ours.pipe(HttpClient.filterStatusOk))).toBeUndefined()
    }).pipe(Effect.scoped))

  it.scoped("leaving a streamed body before its end aborts the request upstream", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      const first = yield* Effect.scoped(
        Effect.flatMap(ours.get(`${test.url}/half`), (response) => Stream.runHead(response.stream))
      )
      expect(Option.map(first, (bytes) => new TextDecoder().decode(bytes))).toEqual(Option.some("first"))
      expect(yield* Deferred.await(test.aborted)).toBe("/half")
    }))

  it.scoped("under HttpClient.withScope, closing the scope aborts a request whose body was left unread", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      const status = yield* Effect.scoped(Effect.map(HttpClient.withScope(ours).get(`${test.url}/half`), (r) => r.status))
      expect(status).toBe(200)
      expect(yield* Deferred.await(test.aborted)).toBe("/half")
    }))

  it.scoped("a response dropped unread is destroyed once collected, which aborts its request upstream", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      // read nothing of the body, keep nothing of the response
      const status = yield* Effect.map(ours.get(`${test.url}/half`), (response) => response.status)
      expect(status).toBe(200)
      // collect, a turn of the event loop at a time, until the registry has destroyed the body (its
      // callback runs in a task after a collection) and the server has seen its connection close
      setFlagsFromString("--expose-gc")
      const gc = runInNewContext("gc") as () => void
      let aborted = Option.none<string>()
      for (let turn = 0; turn < 200 && Option.isNone(aborted); turn++) {
        gc()
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        aborted = yield* Effect.flatMap(Deferred.poll(test.aborted), Effect.transposeOption)
      }
      expect(aborted).toEqual(Option.some("/half"))
    }))

  it.scoped("undici's request options given to the layer reach every call", () =>
    Effect.gen(function* () {
      const test = yield* server
      // (as with the platform's client, a request's own method, path and headers win over these)
      const options = { query: { from: "layer" } } as unknown as NodeHttpClient.UndiciRequestOptions["Type"]
      const withOptions = UndiciHttpClient.layer.pipe(Layer.provide(Layer.succeed(NodeHttpClient.UndiciRequestOptions, options)))
      const client = yield* clientOf(withOptions)
      const echoed = yield* Effect.flatMap(client.get(`${test.url}/echo`), (response) => response.json)
      expect(echoed).toMatchObject({ url: "/echo?from=layer" })
    }))

  it.scoped("interrupting a read of a whole body aborts the request upstream", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      const response = yield* ours.get(`${test.url}/half`)
      const read = yield* Effect.fork(response.text)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(read)
      expect(yield* Deferred.await(test.aborted)).toBe("/half")
    }))

  it.scoped("under a tracer that exports, a call makes the platform's span and sends its trace header", () =>
    Effect.gen(function* () {
      const test = yield* server
      const { ours } = yield* bothClients
      const spans: Array<Tracer.Span> = []
      const builtIn = yield* Effect.tracer
      const recording = Tracer.make({
        span: (...args) => {
          const span = builtIn.span(...args)
          spans.push(span)
          return span
        },
        context: builtIn.context
      })
      yield* Effect.flatMap(ours.get(`${test.url}/text`), (response) => response.text).pipe(Effect.withTracer(recording))
      expect(spans.map((span) => [span.name, span.kind, span.attributes.get("http.request.method")])).toEqual([
        ["http.client GET", "client", "GET"]
      ])
      expect(test.lastHeaders()["traceparent"]).toContain(spans[0]!.traceId)

      // under the built-in tracer: no span, no trace header
      yield* Effect.flatMap(ours.get(`${test.url}/text`), (response) => response.text)
      expect(spans).toHaveLength(1)
      expect(test.lastHeaders()["traceparent"]).toBeUndefined()
    }))
})
