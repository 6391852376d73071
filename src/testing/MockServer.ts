/**
 * A real HTTP server on 127.0.0.1 (random port) that speaks the OpenAI,
 * Anthropic and Gemini wire formats, JSON and SSE, and injects the faults
 * real providers have: error statuses with Retry-After, resets, stalls,
 * malformed and truncated streams, in-stream error events.
 *
 * Routes go by path suffix, so any base URL prefix works:
 * `POST …/chat/completions` (OpenAI), `POST …/messages` (Anthropic),
 * `POST …/models/{model}:generateContent` and
 * `…:streamGenerateContent?alt=sse` (Gemini).
 *
 * Each request takes the next fault of the queue (`faults`, `enqueue`), or
 * else the one `faultFor(index)` names, or else answers normally with the
 * configured reply. Every request is recorded (parsed body, headers), and so
 * is every request the client gave up on before its answer ended (an
 * interrupted call must show there).
 *
 * Use it from Effect (`make`, scoped) or from any test runner (`start`).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/server.js"

/**
 * The wire format a request was routed to.
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // how many requests each wire format got
 * const requestsOf = (provider: MockServer.Provider): number =>
 *   server.requests().filter((request) => request.provider === provider).length
 * requestsOf("anthropic")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic" | "gemini"

/**
 * The answer to give. Defaults: the text `"Hello from the mock server."`,
 * no tool calls, 10 input tokens, one output token a stream event, finish
 * `"tool_calls"` when there are tool calls, else `"stop"`. Each provider
 * gets it in its own words (`"content_filter"` is OpenAI's `content_filter`,
 * Anthropic's `refusal`, Gemini's `SAFETY`).
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * // first a tool call, then, once the test has checked it, a plain answer
 * const callWeather: MockServer.Reply = {
 *   toolCalls: [{ id: "call_1", name: "get_weather", arguments: { city: "Rome" } }],
 *   usage: { inputTokens: 40, outputTokens: 12 }
 * }
 * const server = await MockServer.start({ reply: callWeather })
 * server.setReply({ text: "It is sunny in Rome." })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply {
  readonly text?: string | undefined
  readonly toolCalls?:
    | ReadonlyArray<{
        readonly id?: string | undefined
        readonly name: string
        /** A JSON text, or an object to serialize. */
        readonly arguments?: string | Readonly<Record<string, unknown>> | undefined
      }>
    | undefined
  /**
   * The usage the answer reports. `cacheReadTokens` and `cacheWriteTokens`
   * are the parts of `inputTokens` its prompt cache served and stored, sent
   * as each wire format counts them (OpenAI's `cached_tokens`, Anthropic's
   * `cache_read_input_tokens` and `cache_creation_input_tokens` beside the
   * rest of the prompt, Gemini's `cachedContentTokenCount`; OpenAI and
   * Gemini report no writes). Each is capped at what is left of the
   * prompt (reads first), so every wire reports the same prompt.
   */
  readonly usage?:
    | {
      readonly inputTokens: number
      readonly outputTokens: number
      readonly cacheReadTokens?: number | undefined
      readonly cacheWriteTokens?: number | undefined
    }
    | undefined
  readonly finishReason?: "stop" | "length" | "tool_calls" | "content_filter" | undefined
  /**
   * The stop sequence the answer stopped on (its `finishReason` is then
   * `stop`): Anthropic's wire says which (`stop_reason: "stop_sequence"`);
   * OpenAI's and Gemini's, which do not, answer a plain stop.
   */
  readonly stopSequence?: string | undefined
}

/**
 * How a status fault says when to come back: `Retry-After` in seconds (for
 * Gemini, a `RetryInfo` in the error body instead), `Retry-After` as an
 * HTTP date, or `retry-after-ms`.
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * const inFiveSeconds: MockServer.RetryAfter = { date: new Date(Date.now() + 5_000) }
 * const inHalfASecond: MockServer.RetryAfter = { ms: 500 }
 * server.enqueue(MockServer.status(429, { retryAfter: inFiveSeconds }), MockServer.status(503, { retryAfter: inHalfASecond }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type RetryAfter =
  | { readonly seconds: number }
  | { readonly date: Date }
  | { readonly ms: number }

/**
 * What can go wrong with one request. Stream faults counted in events
 * (`afterEvents`) count every SSE event the answer would have (role chunk,
 * `message_start`, `ping`, ...); on a JSON request they cut the body in
 * half instead.
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * // the model "broken" is always overloaded; every third other request is cut mid-stream
 * const faultFor = (index: number, request: MockServer.RecordedRequest): MockServer.Fault | undefined =>
 *   request.model === "broken" ? MockServer.status(529) : index % 3 === 0 ? { _tag: "ResetMidStream", afterEvents: 2 } : undefined
 * const server = await MockServer.start({ faultFor })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | {
      readonly _tag: "Status"
      readonly status: number
      readonly message?: string | undefined
      readonly code?: string | undefined
      readonly retryAfter?: RetryAfter | undefined
      /** Replaces the provider-shaped error body (a string is sent as is). */
      readonly body?: unknown
    }
  | { readonly _tag: "ContextLengthExceeded" }
  | { readonly _tag: "Refuse" }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "StallHeaders" }
  | { readonly _tag: "Malformed"; readonly afterEvents?: number | undefined }
  | { readonly _tag: "Truncate"; readonly afterEvents?: number | undefined }
  | { readonly _tag: "StallStream"; readonly afterEvents?: number | undefined }
  | { readonly _tag: "ResetMidStream"; readonly afterEvents?: number | undefined }
  | { readonly _tag: "StreamError"; readonly afterEvents?: number | undefined }
  | { readonly _tag: "Reply"; readonly reply: Reply }

/**
 * A request as the server saw it.
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // what the adapter sent last: its headers, whether it streamed, its body
 * const last: MockServer.RecordedRequest | undefined = server.requests().at(-1)
 * last?.headers["authorization"] // "Bearer sk-test"
 * last?.stream // true for a streamed call
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  /** Its position among all requests, from 0. */
  readonly index: number
  readonly provider: Provider
  readonly method: string
  /** The URL path, e.g. `"/v1/chat/completions"`. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body (the raw text when it is not JSON). */
  readonly body: unknown
  readonly stream: boolean
  readonly model: string | undefined
}

/**
 * How to run the server.
 *
 * - `reply`: the normal answer (see {@link Reply}).
 * - `faults`: scripted faults, one per request, first in first out.
 * - `faultFor`: when the queue is empty, the fault of request `index`
 *   (`undefined`: answer normally), e.g. `(i) => i % 2 === 0 ? status(503) : undefined`.
 * - `tokenDelay`: the pause between two events of a stream.
 * - `apiKey`: when set, a request with another key gets a 401 whose message
 *   quotes the key it sent (as some providers do).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * const options: MockServer.Options = {
 *   reply: { text: "pong" },
 *   faults: [MockServer.status(500), MockServer.reset], // the first two requests, in order
 *   tokenDelay: "20 millis",
 *   apiKey: "sk-test"
 * }
 * const program = Effect.scoped(Effect.flatMap(MockServer.make(options), (server) => Effect.log(server.url)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly reply?: Reply | undefined
  readonly faults?: ReadonlyArray<Fault> | undefined
  readonly faultFor?: ((index: number, request: RecordedRequest) => Fault | undefined) | undefined
  readonly tokenDelay?: Duration.DurationInput | undefined
  readonly apiKey?: string | undefined
}

/**
 * A running mock server.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Anthropic } from "effect-llm-failover/providers"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * const program = Effect.gen(function* () {
 *   const server: MockServer.MockServer = yield* MockServer.make()
 *   const model = yield* Anthropic.make({
 *     model: "claude-haiku-4-5",
 *     apiKey: Redacted.make("sk-ant-test"),
 *     baseUrl: server.baseUrls.anthropic
 *   })
 *   server.enqueue(MockServer.status(529))
 *   const first = yield* Effect.either(model.complete(Chat.prompt("hi"))) // Left(Overloaded)
 *   const second = yield* model.complete(Chat.prompt("hi")) // the reply
 *   return server.count() // 2
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MockServer {
  /** `http://127.0.0.1:{port}`: a `baseUrl` every adapter accepts. */
  readonly url: string
  /** The URL with each provider's real version prefix (`/v1`, `/v1`, `/v1beta`). */
  readonly baseUrls: { readonly openai: string; readonly anthropic: string; readonly gemini: string }
  /** Every request so far. */
  readonly requests: () => ReadonlyArray<RecordedRequest>
  /** How many requests so far. */
  readonly count: () => number
  /** The requests whose client closed the connection before the answer ended. */
  readonly aborted: () => ReadonlyArray<RecordedRequest>
  /** Resolves once at least `count` requests were aborted. */
  readonly whenAborted: (count: number) => Promise<ReadonlyArray<RecordedRequest>>
  /** Resolves once at least `count` requests came in. */
  readonly whenReceived: (count: number) => Promise<ReadonlyArray<RecordedRequest>>
  /** Queues faults for the next requests. */
  readonly enqueue: (...faults: ReadonlyArray<Fault>) => void
  /** Changes the normal answer. */
  readonly setReply: (reply: Reply | undefined) => void
  /** Forgets recorded requests and queued faults. */
  readonly clear: () => void
}

/**
 * A mock server started outside Effect, to close when done.
 *
 * @example
 * ```ts
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * // outside Effect: start it, point a client at it, close it
 * const server: MockServer.RunningMockServer = await MockServer.start({ reply: { text: "pong" } })
 * try {
 *   const res = await fetch(`${server.baseUrls.openai}/chat/completions`, {
 *     method: "POST",
 *     body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "ping" }] })
 *   })
 *   console.log(res.status, server.count()) // 200 1
 * } finally {
 *   await server.close()
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningMockServer extends MockServer {
  readonly close: () => Promise<void>
}

const toServerOptions = (options: Options): internal.ServerOptions => ({
  reply: options.reply,
  faults: options.faults,
  faultFor: options.faultFor,
  apiKey: options.apiKey,
  tokenDelayMillis: options.tokenDelay === undefined ? 0 : Duration.toMillis(Duration.decode(options.tokenDelay))
})

/**
 * Starts a server for plain test runners; `close()` it when done.
 *
 * @example
 * import { afterAll, beforeAll, expect, it } from "vitest"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * let server: MockServer.RunningMockServer
 * beforeAll(async () => {
 *   server = await MockServer.start({ reply: { text: "pong" } })
 * })
 * afterAll(() => server.close())
 *
 * it("answers", async () => {
 *   const res = await fetch(`${server.url}/v1/chat/completions`, {
 *     method: "POST",
 *     body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "ping" }] })
 *   })
 *   const body = (await res.json()) as { choices: Array<{ message: { content: string } }> }
 *   expect(body.choices[0]?.message.content).toBe("pong")
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (options: Options = {}): Promise<RunningMockServer> => internal.start(toServerOptions(options))

/**
 * Starts a server in a `Scope`; it closes (every connection dropped) when the
 * scope does.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { OpenAi } from "effect-llm-failover/providers"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * const program = Effect.gen(function* () {
 *   const server = yield* MockServer.make({ faults: [MockServer.status(429, { retryAfter: { seconds: 2 } })] })
 *   const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: server.url })
 *   const first = yield* Effect.flip(model.complete(Chat.prompt("hi"))) // RateLimited, retryAfter 2 seconds
 *   const second = yield* model.complete(Chat.prompt("hi")) // answers
 *   return [first._tag, second.text]
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<MockServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )

/**
 * Waits until at least `count` requests were aborted by their client.
 *
 * @example
 * import { Effect } from "effect"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * const aborted = MockServer.awaitAborted(server, 1).pipe(Effect.timeout("2 seconds"))
 *
 * @since 0.1.0
 * @category utils
 */
export const awaitAborted = (server: MockServer, count: number): Effect.Effect<ReadonlyArray<RecordedRequest>> =>
  Effect.promise(() => server.whenAborted(count))

/**
 * Waits until at least `count` requests came in (e.g. before interrupting a
 * call that is in flight).
 *
 * @example
 * import { Effect } from "effect"
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * const received = MockServer.awaitRequests(server, 1).pipe(Effect.timeout("2 seconds"))
 *
 * @since 0.1.0
 * @category utils
 */
export const awaitRequests = (server: MockServer, count: number): Effect.Effect<ReadonlyArray<RecordedRequest>> =>
  Effect.promise(() => server.whenReceived(count))

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/**
 * Answer with an error status in the provider's error format.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * MockServer.status(429, { retryAfter: { seconds: 3 } })
 * MockServer.status(529) // Anthropic's overloaded
 * MockServer.status(503, { retryAfter: { date: new Date(Date.now() + 5_000) } })
 *
 * @since 0.1.0
 * @category faults
 */
export const status = (
  code: number,
  options: {
    readonly message?: string | undefined
    readonly code?: string | undefined
    readonly retryAfter?: RetryAfter | undefined
    readonly body?: unknown
  } = {}
): Fault => ({ _tag: "Status", status: code, ...options })

/**
 * Answer 400 with the provider's own "prompt too long" wording (OpenAI
 * `context_length_exceeded`, Anthropic "prompt is too long", Gemini "input
 * token count exceeds").
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // the next request: the adapters fail with ContextLengthExceeded, which the router
 * // does not retry: it passes over to a target with a larger context window, if any
 * server.enqueue(MockServer.contextLengthExceeded)
 *
 * @since 0.1.0
 * @category faults
 */
export const contextLengthExceeded: Fault = { _tag: "ContextLengthExceeded" }

/**
 * Refuse the prompt on policy, as the provider does: OpenAI a 400
 * `content_policy_violation`, Anthropic a `refusal` stop, Gemini a
 * `promptFeedback.blockReason` of `SAFETY`.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * // the first request is refused (the adapters fail with ContentFiltered), the next answered
 * const server = await MockServer.start({ faults: [MockServer.refuse] })
 *
 * @since 0.1.0
 * @category faults
 */
export const refuse: Fault = { _tag: "Refuse" }

/**
 * Destroy the connection before any answer.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * // every other request: the connection drops (a TransportError, "other side closed")
 * const server = await MockServer.start({ faultFor: (index) => (index % 2 === 0 ? MockServer.reset : undefined) })
 *
 * @since 0.1.0
 * @category faults
 */
export const reset: Fault = { _tag: "Reset" }

/**
 * Never answer (until the client gives up or the server closes).
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // the next request hangs until the client's timeout (the router's `timeouts.attempt`, or
 * // `firstToken` for a stream) gives up on it; MockServer.awaitAborted sees it go
 * server.enqueue(MockServer.stall)
 *
 * @since 0.1.0
 * @category faults
 */
export const stall: Fault = { _tag: "StallHeaders" }

/**
 * Send a body that is not JSON: a cut JSON answer, or an SSE event whose
 * data is not JSON after `afterEvents` good events (default 0).
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // a JSON answer cut mid-object, then a stream whose fourth event is not JSON:
 * // both fail with MalformedResponse (the stream after its first tokens)
 * server.enqueue(MockServer.malformed(), MockServer.malformed(3))
 *
 * @since 0.1.0
 * @category faults
 */
export const malformed = (afterEvents?: number): Fault => ({ _tag: "Malformed", afterEvents })

/**
 * End the answer early, cleanly: a stream without its terminal event
 * (`[DONE]`, `message_stop`, the final candidate), or after `afterEvents`
 * events; a JSON body cut in half.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // a stream that ends cleanly after 3 events, without its [DONE]: the adapters
 * // fail with MalformedResponse ("stream ended before data: [DONE]") after the text so far
 * server.enqueue(MockServer.truncate(3))
 *
 * @since 0.1.0
 * @category faults
 */
export const truncate = (afterEvents?: number): Fault => ({ _tag: "Truncate", afterEvents })

/**
 * Send `afterEvents` events of a stream, then go silent with the connection
 * open.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // 3 events of a stream (the role chunk and two tokens), then silence with the connection
 * // open, until a deadline of the client's ends it or the client leaves
 * server.enqueue(MockServer.stallAfter(3))
 *
 * @since 0.1.0
 * @category faults
 */
export const stallAfter = (afterEvents: number): Fault => ({ _tag: "StallStream", afterEvents })

/**
 * Send `afterEvents` events of a stream, then destroy the connection.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // 3 events of a stream, then the connection drops: a TransportError
 * // ("connection failed mid-response") after the text so far
 * server.enqueue(MockServer.resetAfter(3))
 *
 * @since 0.1.0
 * @category faults
 */
export const resetAfter = (afterEvents: number): Fault => ({ _tag: "ResetMidStream", afterEvents })

/**
 * Send `afterEvents` events (default 1), then the provider's in-stream error
 * event (Anthropic `overloaded_error`, OpenAI a `server_error` chunk, Gemini
 * an `UNAVAILABLE` error); a JSON request gets the matching status instead
 * (529, 500, 503).
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * declare const server: MockServer.MockServer
 * // one event, then the provider's error event (Anthropic's overloaded_error, OpenAI's
 * // server_error chunk): Overloaded or ServerError, retryable; a JSON request gets 529, 500 or 503
 * server.enqueue(MockServer.streamError())
 *
 * @since 0.1.0
 * @category faults
 */
export const streamError = (afterEvents?: number): Fault => ({ _tag: "StreamError", afterEvents })

/**
 * Answer this one request with another reply.
 *
 * @example
 * import { MockServer } from "effect-llm-failover/testing"
 *
 * MockServer.reply({ toolCalls: [{ name: "weather", arguments: { city: "Paris" } }] })
 *
 * @since 0.1.0
 * @category faults
 */
export const reply = (answer: Reply): Fault => ({ _tag: "Reply", reply: answer })
