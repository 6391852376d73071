/**
 * Every fault a provider can throw at us, over real HTTP on 127.0.0.1, for
 * each of the three adapters: which error class it becomes, that the key
 * never shows, that deadlines fire with their phase and that interrupting a
 * call aborts its request upstream. Plus the pieces under it: Retry-After
 * parsing, error-body classification and the SSE parser.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Duration, Effect, Fiber, Redacted, Stream } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as Chat from "../src/llm/Chat.js"
import type * as LanguageModel from "../src/llm/LanguageModel.js"
import { isRetriable, type ProviderError, shouldRetry, TransportError } from "../src/llm/ProviderError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as Errors from "../src/providers/internal/errors.js"
import * as Http from "../src/providers/internal/http.js"
import * as RetryAfter from "../src/providers/internal/retryAfter.js"
import { type SseEvent, SseParser } from "../src/providers/internal/sse.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

const key = "sk-test-0123456789-SECRET"

/** Deadlines no healthy local answer comes near, even on a loaded machine. */
const relaxed = { connect: "5 seconds", firstToken: "5 seconds", idle: "5 seconds" } as const

/** One tiny real deadline, the phase under test; the others relaxed. */
const tiny = (phase: "connect" | "firstToken" | "idle") => ({ ...relaxed, [phase]: "200 millis" })

interface Adapter {
  readonly name: "openai" | "anthropic" | "gemini"
  readonly make: (options: {
    readonly model: string
    readonly baseUrl: string
    readonly apiKey: Redacted.Redacted
    readonly timeouts: OpenAi.Timeouts
  }) => Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient>
  /** Stream events the mock sends before the first content event. */
  readonly beforeContent: number
  /** What its in-stream error event becomes. */
  readonly streamErrorTag: ProviderError["_tag"]
}

const adapters: ReadonlyArray<Adapter> = [
  { name: "openai", make: OpenAi.make, beforeContent: 1, streamErrorTag: "ServerError" },
  { name: "anthropic", make: Anthropic.make, beforeContent: 3, streamErrorTag: "Overloaded" },
  { name: "gemini", make: Gemini.make, beforeContent: 0, streamErrorTag: "Overloaded" }
]

const request = Chat.prompt("Tell me a story.", { system: "Be brief." })

const expectNoKey = (error: ProviderError) => {
  expect(error.message).not.toContain(key)
  expect(JSON.stringify(error)).not.toContain(key)
  expect(String(error)).not.toContain(key)
}

/** A port nobody listens on. */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
)

/**
 * Both clients the adapters are used with: the platform's undici client and
 * this package's (whose streams the adapters read from the Node `Readable`).
 */
const clients = [
  { name: "NodeHttpClient.layerUndici", layer: NodeHttpClient.layerUndici },
  { name: "UndiciHttpClient.layer", layer: UndiciHttpClient.layer }
] as const

// live services: the deadlines under test are real (and tiny)
for (const client of clients) layer(client.layer, { excludeTestServices: true })(`HTTP faults (${client.name})`, (it) => {
  describe.each(adapters)("$name", (adapter) => {
    const setup = (options: MockServer.Options = {}) =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ apiKey: key, ...options })
        const connect = (timeouts: OpenAi.Timeouts) =>
          adapter.make({ model: "test-model", baseUrl: server.url, apiKey: Redacted.make(key), timeouts })
        const model = yield* connect(relaxed)
        const complete = Effect.flip(model.complete(request))
        const stream = Effect.flip(Stream.runDrain(model.stream(request)))
        return { server, model, connect, complete, stream }
      })

    const statuses: ReadonlyArray<readonly [number, ProviderError["_tag"]]> = [
      [400, "InvalidRequest"],
      [401, "Unauthorized"],
      [403, "Unauthorized"],
      [404, "ModelNotFound"],
      [408, "Timeout"],
      [409, "ServerError"],
      [413, "ContextLengthExceeded"],
      [422, "InvalidRequest"],
      [429, "RateLimited"],
      [500, "ServerError"],
      [502, "ServerError"],
      [503, "Overloaded"],
      [504, "ServerError"],
      [529, "Overloaded"]
    ]

    it.scoped("maps each error status, JSON and streaming, through fromStatus", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        for (const [status, tag] of statuses) {
          server.enqueue(MockServer.status(status), MockServer.status(status))
          const errors = [yield* complete, yield* stream]
          for (const error of errors) {
            expect([status, error._tag]).toEqual([status, tag])
            expect(error.status).toBe(status)
            expect(error.provider).toBe(adapter.name)
            expect(error.model).toBe("test-model")
            expectNoKey(error)
          }
        }
      })
    )

    it.scoped("reads Retry-After in seconds, as an HTTP date, and retry-after-ms", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        server.enqueue(MockServer.status(429, { retryAfter: { seconds: 7 } }))
        const seconds = yield* complete
        expect(seconds._tag === "RateLimited" && seconds.retryAfter).toEqual(Duration.seconds(7))

        server.enqueue(MockServer.status(503, { retryAfter: { ms: 1500 } }))
        const ms = yield* stream
        expect(ms._tag === "Overloaded" && ms.retryAfter).toEqual(Duration.millis(1500))

        server.enqueue(MockServer.status(429, { retryAfter: { date: new Date(Date.now() + 30_000) } }))
        const date = yield* complete
        const waited = date._tag === "RateLimited" && date.retryAfter ? Duration.toMillis(date.retryAfter) : -1
        // an HTTP date has whole seconds
        expect(waited).toBeGreaterThan(27_000)
        expect(waited).toBeLessThanOrEqual(30_000)

        server.enqueue(MockServer.status(500, { retryAfter: { seconds: 3 } }))
        expect((yield* complete)._tag).toBe("ServerError")
      })
    )

    it.scoped("refines a 400 by its body: context length and content policy", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        server.enqueue(MockServer.contextLengthExceeded, MockServer.contextLengthExceeded)
        for (const error of [yield* complete, yield* stream]) {
          expect(error._tag).toBe("ContextLengthExceeded")
          if (error._tag === "ContextLengthExceeded") {
            expect(error.contextWindow).toBeGreaterThan(0)
            expect(error.requestedTokens).toBeGreaterThan(error.contextWindow ?? 0)
          }
        }
        server.enqueue(MockServer.refuse, MockServer.refuse)
        for (const error of [yield* complete, yield* stream]) {
          expect(error._tag).toBe("ContentFiltered")
          expectNoKey(error)
        }
      })
    )

    it.scoped("maps resets and refused connections to TransportError with a code", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        server.enqueue(MockServer.reset, MockServer.reset, MockServer.resetAfter(adapter.beforeContent + 1))
        for (const error of [yield* complete, yield* stream, yield* stream]) {
          expect(error._tag).toBe("TransportError")
          expect(error._tag === "TransportError" && error.code).toBe("ECONNRESET")
          expectNoKey(error)
        }
        const port = yield* closedPort
        const nowhere = yield* adapter.make({
          model: "test-model",
          baseUrl: `http://127.0.0.1:${port}`,
          apiKey: Redacted.make(key),
          timeouts: relaxed
        })
        const refused = yield* Effect.flip(nowhere.complete(request))
        expect(refused._tag).toBe("TransportError")
        expect(refused._tag === "TransportError" && refused.code).toBe("ECONNREFUSED")
        expectNoKey(refused)
      })
    )

    it.scoped("maps bad JSON, bad events and truncated answers to MalformedResponse", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        server.enqueue(
          MockServer.malformed(),
          MockServer.malformed(adapter.beforeContent + 1),
          MockServer.truncate(),
          MockServer.truncate(),
          MockServer.truncate(adapter.beforeContent)
        )
        const errors = [yield* complete, yield* stream, yield* complete, yield* stream, yield* stream]
        expect(errors.map((error) => error._tag)).toEqual(Array(5).fill("MalformedResponse"))
        expect(errors[3]?.message).toContain("stream ended before")
      })
    )

    it.scoped("fails a stream on the provider's in-stream error event, even after content", () =>
      Effect.gen(function* () {
        const { model, server, stream } = yield* setup()
        server.enqueue(MockServer.streamError(), MockServer.streamError(adapter.beforeContent + 2))
        expect((yield* stream)._tag).toBe(adapter.streamErrorTag)
        const chunks: Array<Chat.ChatChunk> = []
        const late = yield* Effect.flip(
          Stream.runForEach(model.stream(request), (chunk) => Effect.sync(() => chunks.push(chunk)))
        )
        expect(late._tag).toBe(adapter.streamErrorTag)
        expect(chunks.some(Chat.isContent)).toBe(true)
      })
    )

    it.scoped("a long stream that goes quiet late times out idle, and every chunk before is delivered", () =>
      Effect.gen(function* () {
        // one event every 2 ms, each a read of its own: the reads after the second are read ahead
        const words = Array.from({ length: 12 }, (_, i) => `w${i}`)
        const { connect, server } = yield* setup({ reply: { text: words.join(" ") }, tokenDelay: "2 millis" })
        const model = yield* connect({ ...relaxed, idle: "200 millis" })
        server.enqueue(MockServer.stallAfter(adapter.beforeContent + 10))
        const texts: Array<string> = []
        const error = yield* Effect.flip(
          Stream.runForEach(model.stream(request), (chunk) =>
            Effect.sync(() => {
              if (chunk._tag === "TextDelta") texts.push(chunk.text)
            })
          )
        )
        expect(error._tag === "Timeout" ? [error.phase, Duration.toMillis(error.after ?? Duration.zero)] : error._tag).toEqual(["idle", 200])
        expect(texts.join("").trim().split(/\s+/)).toEqual(words.slice(0, 10))
        const aborted = yield* MockServer.awaitAborted(server, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
      })
    )

    it.scoped("times out each phase and aborts the request upstream", () =>
      Effect.gen(function* () {
        const { connect, server } = yield* setup()
        const models = {
          connect: yield* connect(tiny("connect")),
          firstToken: yield* connect(tiny("firstToken")),
          idle: yield* connect(tiny("idle"))
        }
        server.enqueue(
          MockServer.stall,
          MockServer.stallAfter(adapter.beforeContent),
          MockServer.stallAfter(adapter.beforeContent + 1),
          MockServer.stallAfter(0)
        )
        const errors = [
          yield* Effect.flip(models.connect.complete(request)),
          yield* Effect.flip(Stream.runDrain(models.firstToken.stream(request))),
          yield* Effect.flip(Stream.runDrain(models.idle.stream(request))),
          // a JSON body that stops half way
          yield* Effect.flip(models.idle.complete(request))
        ]
        const phases = errors.map((error) =>
          error._tag === "Timeout" ? [error.phase, Duration.toMillis(error.after ?? Duration.zero)] : [error._tag]
        )
        expect(phases).toEqual([
          ["connect", 200],
          ["first-token", 200],
          ["idle", 200],
          ["idle", 200]
        ])
        const aborted = yield* MockServer.awaitAborted(server, 4).pipe(Effect.timeout("2 seconds"))
        expect(aborted.map((r) => r.index)).toEqual([0, 1, 2, 3])
      })
    )

    it.scoped("interrupting a call aborts its request upstream", () =>
      Effect.gen(function* () {
        const { model, server } = yield* setup({ tokenDelay: "20 millis", reply: { text: "a b c d e f g h i j k l" } })
        server.enqueue(MockServer.stall)
        const pending = yield* Effect.fork(model.complete(request))
        yield* MockServer.awaitRequests(server, 1)
        yield* Fiber.interrupt(pending)
        yield* MockServer.awaitAborted(server, 1).pipe(Effect.timeout("2 seconds"))

        // a stream read only in part is cut off too
        const firstTwo = yield* Stream.runCollect(model.stream(request).pipe(Stream.filter(Chat.isContent), Stream.take(2)))
        expect(firstTwo.length).toBe(2)
        yield* MockServer.awaitAborted(server, 2).pipe(Effect.timeout("2 seconds"))

        // and an interrupted stream consumer
        const consumer = yield* Effect.fork(Stream.runDrain(model.stream(request)))
        yield* MockServer.awaitRequests(server, 3)
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(consumer)
        const aborted = yield* MockServer.awaitAborted(server, 3).pipe(Effect.timeout("2 seconds"))
        expect(aborted.map((r) => r.index)).toEqual([0, 1, 2])

        // a stream read to its end is not
        const whole = yield* Chat.collect(model.stream(request), { id: "", provider: "", model: "" })
        expect(whole.text).toBe("a b c d e f g h i j k l")
        expect(server.aborted().length).toBe(3)
      })
    )

    it.scoped("never shows the key, even when the provider echoes it", () =>
      Effect.gen(function* () {
        const { complete, server, stream } = yield* setup()
        server.enqueue(
          MockServer.status(500, { message: `upstream failed for key ${key}` }),
          MockServer.status(400, { body: `bad request from ${key}` })
        )
        for (const error of [yield* complete, yield* stream]) {
          expect(error.message).toContain("[redacted]")
          expectNoKey(error)
        }
        const wrongKey = yield* adapter.make({
          model: "test-model",
          baseUrl: server.url,
          apiKey: Redacted.make(`${key}-WRONG`),
          timeouts: relaxed
        })
        const unauthorized = yield* Effect.flip(wrongKey.complete(request))
        expect(unauthorized._tag).toBe("Unauthorized")
        expect(unauthorized.message).toContain("Incorrect API key provided: [redacted]")
        expect(unauthorized.message).not.toContain(`${key}-WRONG`)
      })
    )
  })
})

/**
 * A server that answers every request with an error status whose body is
 * written by `body` (over time, as it likes), and says when each request's
 * connection closed before its body was all sent (the client aborted it).
 */
const errorServer = (body: (res: http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly server: http.Server; readonly aborted: Array<number> }>((resume) => {
      const aborted: Array<number> = []
      const server = http.createServer((req, res) => {
        req.resume()
        const started = Date.now()
        res.on("close", () => {
          if (!res.writableFinished) aborted.push(Date.now() - started)
        })
        body(res)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server, aborted }))
      )
    }),
    ({ server }) => Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  )

for (const client of clients) layer(client.layer, { excludeTestServices: true })(`error bodies, bounded (${client.name})`, (it) => {
  const modelAt = (url: string, idle: Duration.DurationInput) =>
    OpenAi.make({ model: "gpt-4.1-mini", baseUrl: `${url}/v1`, apiKey: Redacted.make(key), timeouts: { ...relaxed, idle } })
  /** Waits a little, in real time, for the server to see its connections closed. */
  const settle = (aborted: Array<number>, count: number) =>
    Effect.promise(async () => {
      for (let i = 0; i < 100 && aborted.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    })

  it.scoped("a 503 whose body trickles for ever is classified by its status and headers once its time is up, its request aborted", () =>
    Effect.gen(function* () {
      const timers: Array<NodeJS.Timeout> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => timers.forEach(clearInterval)))
      const { aborted, url } = yield* errorServer((res) => {
        res.writeHead(503, { "content-type": "text/html", "retry-after": "1" })
        const timer = setInterval(() => res.write("<p>busy</p>"), 50)
        timers.push(timer)
        res.on("close", () => clearInterval(timer))
      })
      // the idle deadline restarts with every piece: it alone never ends a body that keeps coming
      const model = yield* modelAt(url, "400 millis")
      const started = Date.now()
      for (const call of [Effect.flip(model.complete(request)), Effect.flip(Stream.runDrain(model.stream(request)))]) {
        const error = yield* call.pipe(Effect.timeout("5 seconds"))
        expect(error).toMatchObject({ _tag: "Overloaded", status: 503, retryAfter: Duration.seconds(1) })
        expect(error.message).toContain("<p>busy</p>")
      }
      expect(Date.now() - started).toBeLessThan(3_000)
      yield* settle(aborted, 2)
      expect(aborted).toHaveLength(2)
    }))

  it.scoped("a 500 whose body stalls after its headers is a ServerError by its status", () =>
    Effect.gen(function* () {
      const { aborted, url } = yield* errorServer((res) => {
        res.writeHead(500, { "content-type": "application/json" })
        res.write("{\"error\": {\"message\": \"the model")
      })
      const model = yield* modelAt(url, "300 millis")
      const error = yield* Effect.flip(model.complete(request)).pipe(Effect.timeout("5 seconds"))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500 })
      yield* settle(aborted, 1)
      expect(aborted).toHaveLength(1)
    }))

  it.scoped("a 500 with a huge body is read to its first 64 KiB, then its request aborted, the rest never sent", () =>
    Effect.gen(function* () {
      let sent = 0
      const { aborted, url } = yield* errorServer((res) => {
        res.writeHead(500, { "content-type": "text/plain" })
        const piece = Buffer.alloc(64 * 1024, 97)
        const pump = (): void => {
          while (sent < 64 * 1024 * 1024 && !res.destroyed) {
            sent += piece.length
            if (!res.write(piece)) return void res.once("drain", pump)
          }
          res.end()
        }
        pump()
      })
      const model = yield* modelAt(url, "5 seconds")
      const error = yield* Effect.flip(model.complete(request)).pipe(Effect.timeout("5 seconds"))
      expect(error).toMatchObject({ _tag: "ServerError", status: 500 })
      expect(error.message).toBe(`${"a".repeat(500)}...`)
      yield* settle(aborted, 1)
      expect(aborted).toHaveLength(1)
      // what the sockets' buffers held at most, not the 64 MiB
      expect(sent).toBeLessThan(16 * 1024 * 1024)
    }))
})

for (const client of clients) layer(client.layer, { excludeTestServices: true })(`a stream answered with JSON (${client.name})`, (it) => {
  const answers: ReadonlyArray<readonly [Adapter["name"], unknown, Partial<ProviderError>]> = [
    // OpenRouter's error after its 200 went out, sent whole where the stream was asked
    ["openai", { error: { message: "Rate limit", code: 429 } }, { _tag: "RateLimited", status: 429 }],
    ["anthropic", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, { _tag: "Overloaded" }],
    ["gemini", [{ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } }], { _tag: "Overloaded", status: 503 }],
    // JSON that holds no error is not a stream either
    ["openai", { id: "x", choices: [] }, { _tag: "MalformedResponse" }]
  ]

  it.scoped("an error object sent with HTTP 200 where an event stream was asked is classified, as the whole answer's is", () =>
    Effect.gen(function* () {
      let answer: unknown = undefined
      const { url } = yield* errorServer((res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(answer))
      })
      for (const [name, body, expected] of answers) {
        answer = body
        const adapter = adapters.find((one) => one.name === name)!
        const model = yield* adapter.make({ model: "test-model", baseUrl: name === "openai" ? `${url}/v1` : url, apiKey: Redacted.make(key), timeouts: relaxed })
        const error = yield* Effect.flip(Stream.runDrain(model.stream(request)))
        expect([name, body, error]).toMatchObject([name, body, expected])
        expectNoKey(error)
      }
    }))
})

describe("Retry-After", () => {
  const now = Date.parse("2025-06-01T12:00:00Z")

  it("reads delta seconds, fractional seconds, HTTP dates and retry-after-ms", () => {
    expect(RetryAfter.fromHeaders({ "retry-after": "5" }, now)).toEqual(Duration.seconds(5))
    expect(RetryAfter.fromHeaders({ "retry-after": " 1.5 " }, now)).toEqual(Duration.millis(1500))
    expect(RetryAfter.fromHeaders({ "retry-after": "Sun, 01 Jun 2025 12:00:30 GMT" }, now)).toEqual(Duration.seconds(30))
    expect(RetryAfter.fromHeaders({ "retry-after-ms": "250" }, now)).toEqual(Duration.millis(250))
  })

  it("prefers retry-after-ms, clamps past dates to zero and ignores garbage", () => {
    expect(RetryAfter.fromHeaders({ "retry-after-ms": "100", "retry-after": "9" }, now)).toEqual(Duration.millis(100))
    expect(RetryAfter.fromHeaders({ "retry-after-ms": "soon", "retry-after": "9" }, now)).toEqual(Duration.seconds(9))
    expect(RetryAfter.fromHeaders({ "retry-after": "Sun, 01 Jun 2025 11:00:00 GMT" }, now)).toEqual(Duration.zero)
    expect(RetryAfter.fromHeaders({ "retry-after": "tomorrow-ish" }, now)).toBeUndefined()
    expect(RetryAfter.fromHeaders({ "retry-after": "-3" }, now)).toBeUndefined()
    expect(RetryAfter.fromHeaders({}, now)).toBeUndefined()
  })

  it("takes a wait past a day as a day, so that a breaker it holds open is probed again", () => {
    // 400 digits are Infinity as a number: the breaker the router force-opens with it stayed open for good
    expect(RetryAfter.fromHeaders({ "retry-after": "9".repeat(400) }, now)).toEqual(Duration.days(1))
    expect(RetryAfter.fromHeaders({ "retry-after-ms": "9".repeat(400) }, now)).toEqual(Duration.days(1))
    expect(RetryAfter.fromHeaders({ "retry-after": "Fri, 01 Jun 2125 12:00:00 GMT" }, now)).toEqual(Duration.days(1))
    expect(RetryAfter.fromProtobufDuration(`${"9".repeat(400)}s`)).toEqual(Duration.days(1))
    // a day's quota, reset in 20 hours, is kept as it is
    expect(RetryAfter.fromHeaders({ "retry-after": "72000" }, now)).toEqual(Duration.hours(20))
  })

  it("without a Retry-After, reads the reset of a rate limit whose remaining is 0, the later when both are: OpenAI's durations, Anthropic's times", () => {
    // OpenAI: x-ratelimit-reset-* in Go's duration form
    const openAi = { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-remaining-tokens": "1200", "x-ratelimit-reset-tokens": "20ms" }
    expect(RetryAfter.fromHeaders(openAi, now)).toEqual(Duration.minutes(6))
    expect(RetryAfter.fromHeaders({ ...openAi, "x-ratelimit-remaining-requests": "3", "x-ratelimit-remaining-tokens": "0" }, now)).toEqual(Duration.millis(20))
    expect(RetryAfter.fromHeaders({ ...openAi, "x-ratelimit-remaining-tokens": "0" }, now)).toEqual(Duration.minutes(6))
    expect(RetryAfter.fromHeaders({ "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1h2m3.5s" }, now)).toEqual(Duration.millis(3_723_500))
    // nothing used up: nothing to wait for
    expect(RetryAfter.fromHeaders({ ...openAi, "x-ratelimit-remaining-requests": "1" }, now)).toBeUndefined()
    // Anthropic: anthropic-ratelimit-*-reset in RFC 3339
    const anthropic = {
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:30Z",
      "anthropic-ratelimit-input-tokens-remaining": "0",
      "anthropic-ratelimit-input-tokens-reset": "2025-06-01T12:00:45Z",
      "anthropic-ratelimit-output-tokens-remaining": "100",
      "anthropic-ratelimit-output-tokens-reset": "2025-06-01T12:05:00Z"
    }
    expect(RetryAfter.fromHeaders(anthropic, now)).toEqual(Duration.seconds(45))
    // a reset passed is no wait; one past a day is a day (longest); garbage is ignored
    expect(RetryAfter.fromHeaders({ "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2025-06-01T11:00:00Z" }, now)).toEqual(Duration.zero)
    expect(RetryAfter.fromHeaders({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "72h" }, now)).toEqual(Duration.days(1))
    expect(RetryAfter.fromHeaders({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon" }, now)).toBeUndefined()
    // a Retry-After wins over any reset
    expect(RetryAfter.fromHeaders({ ...openAi, "retry-after": "2" }, now)).toEqual(Duration.seconds(2))
    // through the error: a RateLimited that asks for the reset
    const limited = Errors.fromResponse({ provider: "p", model: "m", secret: key }, 429, openAi, JSON.stringify({ error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } }), now)
    expect(limited).toMatchObject({ _tag: "RateLimited", retryAfter: Duration.minutes(6) })
  })

  it("without a Retry-After, reads OpenAI's 'Please try again in 7m12s.' from a 429's message", () => {
    const limited = (message: string, headers: Record<string, string> = {}) =>
      Errors.fromResponse({ provider: "p", model: "m", secret: key }, 429, headers, JSON.stringify({ error: { message, type: "requests", code: "rate_limit_exceeded" } }), now)
    expect(limited("Rate limit reached for gpt-4o in organization org-x on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s."))
      .toMatchObject({ _tag: "RateLimited", retryAfter: Duration.seconds(432) })
    expect(limited("Rate limit reached on tokens per min (TPM). Please try again in 120ms. Visit …")).toMatchObject({ retryAfter: Duration.millis(120) })
    expect(limited("Please try again in 1.5s.", { "retry-after": "9" })).toMatchObject({ retryAfter: Duration.seconds(9) })
    expect(limited("Please try again later.")).not.toHaveProperty("retryAfter")
  })

  it("reads Google's RetryInfo delays", () => {
    expect(RetryAfter.fromProtobufDuration("37s")).toEqual(Duration.seconds(37))
    expect(RetryAfter.fromProtobufDuration("0.25s")).toEqual(Duration.millis(250))
    expect(RetryAfter.fromProtobufDuration("37")).toBeUndefined()
  })
})

describe("error bodies", () => {
  const context = { provider: "p", model: "m", secret: key }
  const classify = (status: number | undefined, body: unknown) =>
    Errors.classify(context, status, Errors.infoFromValue(body), undefined, "fallback")

  it("reads the OpenAI, Anthropic, Gemini, vLLM and Ollama shapes", () => {
    expect(Errors.infoFromValue({ error: { message: "m", type: "t", code: "c" } })).toEqual({
      message: "m",
      type: "t",
      code: "c"
    })
    expect(Errors.infoFromValue({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })).toEqual({
      message: "Overloaded",
      type: "overloaded_error"
    })
    expect(
      Errors.infoFromValue([
        {
          error: {
            code: 429,
            message: "quota",
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "12s" }]
          }
        }
      ])
    ).toEqual({ message: "quota", httpStatus: 429, status: "RESOURCE_EXHAUSTED", retryDelay: Duration.seconds(12) })
    expect(Errors.infoFromValue({ object: "error", message: "too long", type: "BadRequestError", code: 400 })).toEqual({
      message: "too long",
      type: "BadRequestError",
      httpStatus: 400
    })
    expect(Errors.infoFromValue({ error: "model 'x' not found" })).toEqual({ message: "model 'x' not found" })
    expect(Errors.infoFromValue("nope")).toBeUndefined()
  })

  it("takes the status an in-stream error's type stands for", () => {
    expect(classify(undefined, { type: "error", error: { type: "overloaded_error", message: "x" } })._tag).toBe(
      "Overloaded"
    )
    expect(classify(undefined, { type: "error", error: { type: "rate_limit_error", message: "x" } })._tag).toBe(
      "RateLimited"
    )
    expect(classify(undefined, { error: { code: 503, message: "x", status: "UNAVAILABLE" } })._tag).toBe("Overloaded")
    expect(classify(undefined, { error: { message: "x", type: "server_error" } })._tag).toBe("ServerError")
    // OpenAI's rate limit in the middle of a stream: a type of its own, the code says what it is
    expect(classify(undefined, { error: { message: "Rate limit reached for gpt-4o on tokens per min (TPM)", type: "tokens", code: "rate_limit_exceeded" } })._tag).toBe(
      "RateLimited"
    )
    // a name that is not its own key of the table (an inherited one) stands for nothing
    expect(classify(undefined, { error: { message: "x", type: "constructor" } })._tag).toBe("ServerError")
    expect(classify(undefined, {})._tag).toBe("ServerError")
  })

  it("gives an in-stream error the status its body names or its type stands for, and none where neither says one", () => {
    const quota = Errors.fromStreamError(context, { error: { message: "You exceeded your current quota", type: "insufficient_quota", code: "insufficient_quota" } })
    expect(quota._tag).toBe("Unauthorized")
    expect(quota).not.toHaveProperty("status")
    const unknown = Errors.fromStreamError(context, { error: { message: "upstream failed" } })
    expect(unknown._tag).toBe("ServerError")
    expect(unknown).not.toHaveProperty("status")
    expect(Errors.fromAnswerError(context, { error: { message: "x", type: "constructor" } })).not.toHaveProperty("status")
    // known ones are kept
    expect(Errors.fromStreamError(context, { error: { code: 503, message: "x", status: "UNAVAILABLE" } })).toMatchObject({ _tag: "Overloaded", status: 503 })
    expect(Errors.fromStreamError(context, { error: { message: "x", type: "server_error" } })).toMatchObject({ _tag: "ServerError", status: 500 })
  })

  it("keeps RESOURCE_EXHAUSTED's RetryInfo and an overloaded_error whatever the status", () => {
    const limited = classify(400, {
      error: {
        code: 429,
        message: "quota",
        status: "RESOURCE_EXHAUSTED",
        details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "12s" }]
      }
    })
    expect(limited._tag === "RateLimited" && limited.retryAfter).toEqual(Duration.seconds(12))
    expect(classify(500, { type: "error", error: { type: "overloaded_error", message: "x" } })._tag).toBe("Overloaded")
  })

  it("takes the account's faults for Unauthorized whatever the status: quota, balance, billing, a key Google refuses in a 400", () => {
    const cases: ReadonlyArray<readonly [number, unknown]> = [
      // OpenAI: billing exhausted, a 429 that no wait cures
      [429, { error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", code: "insufficient_quota" } }],
      // Anthropic: out of credit, as a 400, and its documented 402
      [400, { type: "error", error: { type: "invalid_request_error", message: "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits." } }],
      [402, { type: "error", error: { type: "billing_error", message: "billing" } }],
      // OpenRouter, DeepSeek
      [402, { error: { message: "Insufficient credits. Add more using https://openrouter.ai/settings/credits", code: 402 } }],
      [402, { error: { message: "Insufficient Balance", type: "unknown_error" } }],
      // Gemini: an invalid key as a 400, a region or project it does not serve
      [400, [{ error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }] } }]],
      [400, { error: { code: 400, message: "User location is not supported for the API use.", status: "FAILED_PRECONDITION" } }],
      [400, { error: { code: 400, message: "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.", status: "FAILED_PRECONDITION" } }]
    ]
    for (const [status, body] of cases) expect([body, classify(status, body)._tag]).toEqual([body, "Unauthorized"])
    // an in-stream billing_error takes its status from its type
    expect(classify(undefined, { type: "error", error: { type: "billing_error", message: "x" } })).toMatchObject({ _tag: "Unauthorized", status: 402 })
    // Google's per-minute limit says "exceeded your current quota" too: it stays RateLimited, and so does a 429 that only says so
    expect(classify(429, { error: { code: 429, message: "You exceeded your current quota, please check your plan and billing details.", status: "RESOURCE_EXHAUSTED" } })._tag).toBe("RateLimited")
    expect(classify(429, { error: { message: "You exceeded your current quota, please check your plan and billing details." } })._tag).toBe("RateLimited")
    // the request's own faults stay InvalidRequest
    expect(classify(400, { error: { message: "Invalid value for 'tool_choice'", type: "invalid_request_error" } })._tag).toBe("InvalidRequest")
    expect(classify(400, { error: { code: 400, message: "Invalid JSON payload received.", status: "INVALID_ARGUMENT" } })._tag).toBe("InvalidRequest")
    // Anthropic's documented 504 timeout_error, in a stream
    expect(classify(undefined, { type: "error", error: { type: "timeout_error", message: "x" } })._tag).toBe("ServerError")
  })

  it("takes a spend limit answered as a 400 for the account's fault: Anthropic's usage limits, Groq's blocked_api_access", () => {
    // platform.claude.com/docs/en/api/errors: "The API also returns a 400 when usage reaches an organization or workspace spend limit you set"
    for (const workspace of ["", "workspace "]) {
      const body = {
        type: "error",
        error: { type: "invalid_request_error", message: `You have reached your specified ${workspace}API usage limits. You will regain access on 2026-04-01 at 00:00 UTC.` }
      }
      expect(classify(400, body)).toMatchObject({ _tag: "Unauthorized", status: 400 })
    }
    // console.groq.com/docs/spend-limits: "will return a 400 with code blocked_api_access"
    const groq = { error: { message: "Organization has been restricted. Please reach out to support.", type: "invalid_request_error", code: "blocked_api_access" } }
    expect(classify(400, groq)).toMatchObject({ _tag: "Unauthorized", status: 400 })
    // a request that only speaks of limits stays the request's fault
    expect(classify(400, { error: { message: "max_tokens: 64000 > 32000, which is the maximum allowed number of output tokens", type: "invalid_request_error" } })._tag)
      .toBe("InvalidRequest")
  })

  it("takes a spend or credit limit answered as a 429 for the account's fault, not a rate limit: no wait restores it", () => {
    // developers.openai.com/api/docs/guides/spend-limits and help.openai.com/en/articles/6614457 ("Retrying these errors won't restore access")
    for (const code of ["organization_spend_limit_exceeded", "project_spend_limit_exceeded", "organization_usage_limit_exceeded", "credit_balance_exhausted"]) {
      for (const type of ["invalid_request_error", null, undefined]) {
        const body = { error: { message: "You have exceeded your limit.", type, code, param: null } }
        expect([code, type, classify(429, body)]).toMatchObject([code, type, { _tag: "Unauthorized", status: 429 }])
      }
    }
    // Anthropic: a rate_limit_error whose details say it is the organization's spend limit (its SDK's EnforcedSpendLimitReachedErrorDetails)
    for (const errorCode of ["enforced_spend_limit_reached", "contract_spend_limit_reached"]) {
      const body = { type: "error", error: { type: "rate_limit_error", message: "Your organization has reached its monthly spend limit.", details: { error_code: errorCode } } }
      expect(Errors.infoFromValue(body)?.code).toBe(errorCode)
      expect([errorCode, classify(429, body)]).toMatchObject([errorCode, { _tag: "Unauthorized", status: 429 }])
    }
    // a rate limit stays one, with details or not
    expect(classify(429, { type: "error", error: { type: "rate_limit_error", message: "rate", details: { error_code: "something_else" } } })._tag).toBe("RateLimited")
    expect(classify(429, { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } })._tag).toBe("RateLimited")
  })

  it("takes a request larger than the account's per-minute token limit for a skip, not a rate limit: no wait lets it through", () => {
    const openAi = {
      error: {
        message: "Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 45411. The input or output tokens must be reduced in order to run successfully.",
        type: "tokens",
        param: null,
        code: "rate_limit_exceeded"
      }
    }
    expect(classify(429, openAi)).toMatchObject({ _tag: "Unauthorized", status: 429 })
    // in a stream (its status from its code), and Groq's, a 413 (not a prompt too long for the model's window)
    expect(classify(undefined, openAi)).toMatchObject({ _tag: "Unauthorized" })
    const groq = {
      error: {
        message: "Request too large for model `llama-3.3-70b-versatile` in organization `org_x` service tier `on_demand` on tokens per minute (TPM): Limit 12000, Requested 19350, please reduce your message size and try again.",
        type: "tokens",
        code: "rate_limit_exceeded"
      }
    }
    expect(classify(413, groq)).toMatchObject({ _tag: "Unauthorized", status: 413 })
    // a limit reached by the requests before this one is a rate limit: a wait cures it
    const reached = {
      error: {
        message: "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 25000, Requested 6000. Please try again in 2s.",
        type: "tokens",
        code: "rate_limit_exceeded"
      }
    }
    expect(classify(429, reached)._tag).toBe("RateLimited")
    // Anthropic's 413 request_too_large (the request's bytes) stays a skip to a larger target
    expect(classify(413, { type: "error", error: { type: "request_too_large", message: "Request exceeds the maximum allowed number of bytes." } })._tag)
      .toBe("ContextLengthExceeded")
  })

  it("recognizes every provider's context-length wording, with its numbers", () => {
    const cases: ReadonlyArray<readonly [string, number | undefined, number | undefined]> = [
      [
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        8192,
        9000
      ],
      ["This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).", 4096, 5000],
      ["prompt is too long: 208310 tokens > 200000 maximum", 200000, 208310],
      ["input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length", 200000, 209573],
      ["The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).", 1048576, 1200293],
      ["Please reduce the length of the messages or completion.", undefined, undefined]
    ]
    for (const [message, contextWindow, requestedTokens] of cases) {
      const error = classify(400, { error: { message } })
      expect(error._tag).toBe("ContextLengthExceeded")
      if (error._tag === "ContextLengthExceeded") {
        expect([error.contextWindow, error.requestedTokens]).toEqual([contextWindow, requestedTokens])
      }
    }
    expect(classify(400, { error: { message: "x", code: "context_length_exceeded" } })._tag).toBe(
      "ContextLengthExceeded"
    )
    // only a 400 (or 422) is refined: a 500 that mentions the context stays a ServerError
    expect(classify(500, { error: { message: "prompt is too long: 3 tokens > 2 maximum" } })._tag).toBe("ServerError")
  })

  it("takes Gemini's 400 'Request payload size exceeds the limit' as a 413 is taken: too large for this target, not for every one", () => {
    const gemini = { error: { code: 400, message: "Request payload size exceeds the limit: 20971520 bytes.", status: "INVALID_ARGUMENT" } }
    expect(classify(400, gemini)).toMatchObject({ _tag: "ContextLengthExceeded", status: 400 })
    expect(classify(413, { type: "error", error: { type: "request_too_large", message: "Request exceeds the maximum size" } })._tag).toBe("ContextLengthExceeded")
  })

  it("recognizes content-policy refusals by code or wording", () => {
    const byCode = classify(400, { error: { message: "rejected", code: "content_policy_violation" } })
    expect(byCode._tag === "ContentFiltered" && byCode.reason).toBe("content_policy_violation")
    expect(
      classify(400, {
        error: { message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy." }
      })._tag
    ).toBe("ContentFiltered")
    expect(classify(400, { error: { message: "temperature must be <= 2" } })._tag).toBe("InvalidRequest")
  })

  it("takes Groq's tool_use_failed (a bad tool call the model wrote) for a retriable MalformedResponse, in a 400 or a stream", () => {
    const body = {
      error: { message: "Failed to call a function.", type: "invalid_request_error", code: "tool_use_failed", failed_generation: "f{" }
    }
    expect(classify(400, body)._tag).toBe("MalformedResponse")
    expect(classify(undefined, body)._tag).toBe("MalformedResponse")
    // the code only: another invalid_request_error stays what it is
    expect(classify(400, { error: { message: "Failed to call a function.", type: "invalid_request_error" } })._tag).toBe("InvalidRequest")
  })

  it("takes a 400 that says the model does not exist (DeepSeek's \"Model Not Exist\") for ModelNotFound, and no other 400", () => {
    const deepSeek = { error: { message: "Model Not Exist", type: "invalid_request_error", param: null, code: "invalid_request_error" } }
    expect(classify(400, deepSeek)._tag).toBe("ModelNotFound")
    expect(classify(400, deepSeek).status).toBe(400)
    expect(classify(400, { error: { message: "The model `gpt-9` does not exist or you do not have access to it.", code: "model_not_found" } })._tag)
      .toBe("ModelNotFound")
    expect(classify(400, { error: { message: "model not found: llama9" } })._tag).toBe("ModelNotFound")
    for (const message of [
      "Invalid model parameter",
      "The tool `lookup` does not exist",
      "messages[1]: role must be user or assistant; the model cannot continue",
      "Unrecognized request argument supplied: model_version"
    ]) {
      expect(classify(400, { error: { message, type: "invalid_request_error" } })._tag).toBe("InvalidRequest")
    }
  })

  it("scrubs the key from any message, and uses the body text when it is not JSON", () => {
    const error = Errors.fromResponse(context, 502, {}, `<html>bad gateway for ${key}</html>`, 0)
    expect(error._tag).toBe("ServerError")
    expect(error.message).toBe("<html>bad gateway for [redacted]</html>")
    expect(Errors.fromResponse(context, 503, {}, "", 0).message).toBe("HTTP 503")
  })

  it("scrubs every secret in every form before cutting a long message, so no prefix is left", () => {
    const header = "hdr/SECRET +v=\\q"
    const several = { provider: "p", model: "m", secret: [key, header] }
    // the key straddles the 500-character cut: scrubbed first, none of it survives
    const long = Errors.fromResponse(several, 500, {}, `${"x".repeat(495)}${key} and more`, 0)
    expect(long.message).toBe(`${"x".repeat(495)}[reda...`)
    expect(long.message).not.toContain("sk-t")
    // as is, JSON-escaped (in a raw body), percent- and form-encoded (in an echoed URL)
    const forms = [header, JSON.stringify(header).slice(1, -1), encodeURIComponent(header), new URLSearchParams({ h: header }).toString().slice(2)]
    expect(new Set(forms).size).toBe(4)
    for (const form of forms) {
      const error = Errors.fromResponse(several, 502, {}, `echo: ${form} / ${key}`, 0)
      expect(error.message).toBe("echo: [redacted] / [redacted]")
    }
    // a secret that holds another is replaced whole
    expect(Errors.scrub("a sk-test-0123456789-SECRET-LONG b", [key, `${key}-LONG`])).toBe("a [redacted] b")
    // an empty secret replaces nothing
    expect(Errors.scrub("nothing to hide", [""])).toBe("nothing to hide")
  })

  it("scrubs a secret's parts: a run of 8+ of its first or last characters, and its masked forms", () => {
    const secret = "sk-proj-SECREVabcdefghijklmnopqrstuvwxyz0123456789"
    // OpenAI's masked echo of a key it refused: a prefix, asterisks, a suffix
    expect(Errors.scrub(`key ${secret.slice(0, 14)}${"*".repeat(20)}${secret.slice(-4)}: bad`, secret)).toBe("key [redacted]: bad")
    expect(Errors.scrub(`key sk-p****6789 here`, secret)).toBe("key [redacted] here")
    // a key cut short, at either end
    expect(Errors.scrub(`got ${secret.slice(0, 20)}...`, secret)).toBe("got [redacted]...")
    expect(Errors.scrub(`got ...${secret.slice(-12)}.`, secret)).toBe("got ...[redacted].")
    // what shows too little of it is left: 7 characters, 3 about a mask, a mask of none of it
    expect(Errors.scrub(`got ${secret.slice(0, 7)} and ***9 and a *** b`, secret)).toBe(`got ${secret.slice(0, 7)} and ***9 and a *** b`)
  })

  it("a huge error body is scrubbed in the window it is shown from, not whole: its masks cost no more than a short one's", () => {
    const secret = "sk-proj-SECREVabcdefghijklmnopqrstuvwxyz0123456789"
    const several = { provider: "p", model: "m", secret }
    // 1 MiB of masks (each looked at against the secret), a key across the cut, and one past the window
    const body = `${"x".repeat(480)}${secret}${"x*** ".repeat(210_000)}${secret}`
    const started = performance.now()
    const error = Errors.fromResponse(several, 500, {}, body, 0)
    const took = performance.now() - started
    expect(error.message).toBe(`${"x".repeat(480)}[redacted]x*** x*** ...`)
    expect(error.message).not.toContain("sk-p")
    // scrubbed whole: 670 ms here; its window: a few milliseconds
    expect(took).toBeLessThan(200)
  })

  it("a secret the window cuts after its 7th character is not shown in part, though secrets before it shrank the window", () => {
    const secret = "QWERTYUIOPASDFGHJKLZXCVBNM0123456789qwertyuiopasdf" // 50 characters, every form alike
    const before = secret.repeat(3) // 150 characters, scrubbed to 30
    const text = `${before}${"x".repeat(600 - 7 - before.length)}${secret}${"y".repeat(1000)}`
    const error = Errors.fromResponse({ provider: "p", model: "m", secret }, 500, {}, text, 0)
    expect(error.message).not.toContain(secret.slice(0, 7))
    expect(error.message).toMatch(/^\[redacted\]\[redacted\]\[redacted\]x+\.\.\.$/)
  })

  it("classifies on the upstream's words, shows them scrubbed", () => {
    const short = { provider: "p", model: "m", secret: ["8192"] }
    const error = Errors.classify(
      short,
      400,
      Errors.infoFromValue({ error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens." } }),
      undefined,
      "fallback"
    )
    expect(error._tag).toBe("ContextLengthExceeded")
    if (error._tag === "ContextLengthExceeded") expect([error.contextWindow, error.requestedTokens]).toEqual([8192, 9000])
    expect(error.message).toBe("This model's maximum context length is [redacted] tokens. However, your messages resulted in 9000 tokens.")
  })

  it("scrubs the fields that come from outside: a refusal's reason, a transport error's code", () => {
    const filtered = classify(400, { error: { message: `blocked by content filter for ${key}`, code: `policy-${key}` } })
    expect(filtered._tag).toBe("ContentFiltered")
    expect(JSON.stringify(filtered)).not.toContain(key)
    expect(filtered._tag === "ContentFiltered" && filtered.reason).toBe("policy-[redacted]")
    const refused = Errors.contentFiltered(context, `SAFETY ${key}`, `blocked ${key}`)
    expect([refused.reason, refused.message]).toEqual(["SAFETY [redacted]", "blocked [redacted]"])
  })
})

describe("secret headers", () => {
  const auth = (value: string) => ({ authorization: `Bearer ${value}` })

  it("reads Redacted values out, and sorts out the secrets and the names to redact", () => {
    const resolved = Http.resolveHeaders(
      {
        "X-Proxy-Key": Redacted.make("proxy-secret"),
        "OpenAI-Organization": Redacted.make("org-secret"),
        "Helicone-Cache-Enabled": "true",
        "x-session-token": "plain-but-credential",
        "x-forwarded-for": "Bearer plain-by-value",
        "x-empty": Redacted.make("")
      },
      Redacted.make(key),
      auth
    )
    expect(resolved.headers).toEqual({
      "X-Proxy-Key": "proxy-secret",
      "OpenAI-Organization": "org-secret",
      "Helicone-Cache-Enabled": "true",
      "x-session-token": "plain-but-credential",
      "x-forwarded-for": "Bearer plain-by-value",
      "x-empty": "",
      authorization: `Bearer ${key}`
    })
    expect([...resolved.secrets].sort()).toEqual(
      [key, "proxy-secret", "org-secret", "plain-but-credential", "Bearer plain-by-value"].sort()
    )
    expect(resolved.redactedNames).toEqual(
      expect.arrayContaining([...Http.authHeaderNames, "x-proxy-key", "openai-organization", "x-session-token", "x-forwarded-for", "x-empty"])
    )
    expect(resolved.redactedNames).not.toContain("helicone-cache-enabled")
  })

  it("without a key: no auth header, the static auth names still redacted", () => {
    const resolved = Http.resolveHeaders({ "anthropic-beta": "tools" }, undefined, auth)
    expect(resolved.headers).toEqual({ "anthropic-beta": "tools" })
    expect(resolved.secrets).toEqual([])
    expect([...resolved.redactedNames].sort()).toEqual([...Http.authHeaderNames].sort())
  })

  it("the key's own header wins over a user header of the same name", () => {
    const resolved = Http.resolveHeaders({ authorization: Redacted.make("Bearer other") }, Redacted.make(key), auth)
    expect(resolved.headers.authorization).toBe(`Bearer ${key}`)
    expect(resolved.secrets).toEqual(expect.arrayContaining([key, "Bearer other"]))
  })
})

describe("SSE parser", () => {
  const parse = (...pieces: ReadonlyArray<string>): Array<SseEvent> => {
    const parser = new SseParser()
    const out: Array<SseEvent> = []
    for (const piece of pieces) parser.feed(piece, out)
    return out
  }

  it("dispatches on blank lines, with event names and joined data lines", () => {
    expect(parse("event: a\ndata: 1\n\ndata: x\ndata: y\n\n")).toEqual([
      { event: "a", data: "1" },
      { event: "message", data: "x\ny" }
    ])
  })

  it("accepts CRLF, CR and LF, also when a CRLF is split between reads", () => {
    expect(parse("data: 1\r\n\r\ndata: 2\r\r", "data: 3\r", "\n\r", "\n")).toEqual([
      { event: "message", data: "1" },
      { event: "message", data: "2" },
      { event: "message", data: "3" }
    ])
  })

  it("joins fields split between reads and keeps a value's own colons", () => {
    expect(parse("da", "ta: {\"a\":", "1}\n", "\n")).toEqual([{ event: "message", data: "{\"a\":1}" }])
    expect(parse("data:no-space\n\n")).toEqual([{ event: "message", data: "no-space" }])
  })

  it("skips comments and events without data, and drops an unterminated last event", () => {
    expect(parse(": keep-alive\n\nevent: ping\n\nid: 3\nretry: 10\n\ndata: last")).toEqual([])
    expect(parse("data: [DONE]\n\n")).toEqual([{ event: "message", data: "[DONE]" }])
  })
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("an account's fault fails over", (it) => {
  it.scoped("an Anthropic account out of credit (a 400) and an OpenAI quota used up (a 429) are skipped, once each, for the next target", () =>
    Effect.gen(function* () {
      const creditTooLow = MockServer.status(400, {
        body: {
          type: "error",
          error: { type: "invalid_request_error", message: "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits." }
        }
      })
      const quotaUsedUp = MockServer.status(429, {
        body: { error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", param: null, code: "insufficient_quota" } }
      })
      const server = yield* MockServer.make({ faults: [creditTooLow, quotaUsedUp] })
      const claude = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: Redacted.make(key), baseUrl: server.baseUrls.anthropic })
      const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(key), baseUrl: server.baseUrls.openai })
      const flash = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make(key), baseUrl: server.url })
      const router = yield* Router.make({
        targets: { claude: { model: claude }, gpt: { model: gpt }, flash: { model: flash } },
        chains: { default: ["claude", "gpt", "flash"] },
        // retries would not help an account: each is skipped at its first answer
        policy: { retry: { maxAttempts: 3, base: "10 millis", jitter: "none" } }
      })
      const { meta } = yield* router.complete(Chat.prompt("hi"))
      expect(meta.attempts.map((attempt) => [attempt.target, attempt.error?._tag])).toEqual([
        ["claude", "Unauthorized"],
        ["gpt", "Unauthorized"],
        ["flash", undefined]
      ])
      expect(server.count()).toBe(3)
    }))
})

describe("a retry the provider says would not help", () => {
  const context = { provider: "p", model: "m", secret: key }
  const now = Date.now()

  it("x-should-retry: false is kept on a retriable class as retryHere: false, and shouldRetry says no; true is not read", () => {
    const body = JSON.stringify({ error: { message: "The server had an error", type: "server_error" } })
    const refused = Errors.fromResponse(context, 500, { "x-should-retry": "false" }, body, now)
    expect(refused).toMatchObject({ _tag: "ServerError", status: 500, retryHere: false })
    expect(isRetriable(refused)).toBe(true)
    expect(shouldRetry(refused)).toBe(false)
    const limited = Errors.fromResponse(context, 429, { "x-should-retry": "False", "retry-after": "2" }, body, now)
    expect(limited).toMatchObject({ _tag: "RateLimited", retryHere: false, retryAfter: Duration.seconds(2) })
    expect(Errors.fromResponse(context, 529, { "x-should-retry": "false" }, body, now)).toMatchObject({ _tag: "Overloaded", retryHere: false })
    // "true" makes nothing retriable that is not (a spend limit's 429 stays Unauthorized)
    const spend = JSON.stringify({ error: { message: "over", type: "invalid_request_error", code: "project_spend_limit_exceeded" } })
    expect(Errors.fromResponse(context, 429, { "x-should-retry": "true" }, spend, now)._tag).toBe("Unauthorized")
    const plain = Errors.fromResponse(context, 500, {}, body, now)
    expect(plain).not.toHaveProperty("retryHere")
    expect(shouldRetry(plain)).toBe(true)
  })

  it("a transport failure no retry cures is not retried: an unknown host, a TLS or certificate error", () => {
    const transport = (code: string) => new TransportError({ provider: "p", model: "m", message: code, code })
    for (const code of ["ENOTFOUND", "ERR_SSL_WRONG_VERSION_NUMBER", "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_INVALID_URL"]) {
      expect([code, shouldRetry(transport(code))]).toEqual([code, false])
    }
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "EPIPE"]) {
      expect([code, shouldRetry(transport(code))]).toEqual([code, true])
    }
    expect(shouldRetry(new TransportError({ provider: "p", model: "m", message: "socket hang up" }))).toBe(true)
  })
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("the router and x-should-retry", (it) => {
  it.scoped("a 500 with x-should-retry: false moves the request to the next target at once, without a retry", () =>
    Effect.gen(function* () {
      const { url } = yield* errorServer((res) => {
        res.writeHead(500, { "content-type": "application/json", "x-should-retry": "false" })
        res.end(JSON.stringify({ error: { message: "The server had an error while processing your request.", type: "server_error" } }))
      })
      const server = yield* MockServer.make()
      const refusing = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: `${url}/v1`, apiKey: Redacted.make(key) })
      const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(key), baseUrl: server.baseUrls.openai })
      const router = yield* Router.make({
        targets: { refusing: { model: refusing }, gpt: { model: gpt } },
        chains: { default: ["refusing", "gpt"] },
        policy: { retry: { maxAttempts: 3, base: "10 millis", jitter: "none" } }
      })
      const { meta } = yield* router.complete(Chat.prompt("hi"))
      expect(meta.attempts.map((attempt) => [attempt.target, attempt.error?._tag])).toEqual([
        ["refusing", "ServerError"],
        ["gpt", undefined]
      ])
    }))
})
