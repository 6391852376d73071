/**
 * The gateway as a client sees it: started on 127.0.0.1 (port 0) over a
 * router of real adapters (OpenAI and Anthropic) pointed at mock upstream
 * servers, and driven by the official `openai` npm client. Covers JSON and
 * streamed answers, failover visible in the headers, the model list, client
 * aborts reaching upstream, auth, rate limits with Retry-After, exhausted
 * chains, mid-stream failures, timeouts, the bulkhead, and graceful drain.
 */
import { HttpApp, HttpMiddleware, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as Http from "node:http"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, FiberId, FiberRefs, HashMap, Layer, List, Logger, LogLevel, Option, Redacted, Schedule, Scope } from "effect"
import * as Net from "node:net"
import type { ServeError } from "@effect/platform/HttpServerError"
import OpenAI from "openai"
import { ContentFilterFinishReasonError } from "openai/core/error"
import { WebSocket } from "undici"
import * as Gateway from "../src/gateway/Gateway.js"
import * as LogSink from "../src/observability/internal/logSink.js"
import * as App from "../src/gateway/internal/app.js"
import * as Errors from "../src/gateway/internal/errors.js"
import * as Server from "../src/gateway/internal/server.js"
import { ChainExhausted, ContentFiltered, InvalidRequest, Overloaded, RateLimited, Rejected, ServerError } from "../src/llm/index.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Simulated from "../src/providers/Simulated.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { recordingTracer } from "./support/tracing.js"
import { rejection } from "./support/client.js"

const upstreamKey = "sk-upstream-secret-123"
const prompt = "What is the airspeed velocity of an unladen swallow?"
const question = [{ role: "user" as const, content: prompt }]

interface Setup {
  /** The primary upstream (OpenAI wire format) and the secondary (Anthropic). */
  readonly primary: MockServer.MockServer
  readonly secondary: MockServer.MockServer
  readonly router: Router.Service
  readonly gateway: Gateway.Server
  readonly client: OpenAI
}

interface SetupOptions {
  readonly primary?: MockServer.Options
  readonly secondary?: MockServer.Options
  readonly gateway?: Omit<Gateway.Options, "router">
  /** The router's default policy (default: one attempt a target). */
  readonly policy?: Router.Config["policy"]
  readonly apiKey?: string
  /** The scope the gateway alone lives in (default: the test's), to shut it down mid-test. */
  readonly gatewayScope?: Scope.Scope
  /** What the gateway's start runs under (default: nothing): a tracer, pre-response handlers, interruption off. */
  readonly around?: (
    start: Effect.Effect<Gateway.Server, ServeError, Scope.Scope>
  ) => Effect.Effect<Gateway.Server, ServeError, Scope.Scope>
}

/** Two upstreams, a router with the chain `default` = [primary, secondary], and the gateway over it. */
const setup = (options: SetupOptions = {}) =>
  Effect.gen(function* () {
    const primary = yield* MockServer.make(options.primary)
    const secondary = yield* MockServer.make(options.secondary)
    const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(upstreamKey), baseUrl: primary.baseUrls.openai })
    const claude = yield* Anthropic.make({
      model: "claude-haiku-4-5",
      apiKey: Redacted.make(upstreamKey),
      baseUrl: secondary.baseUrls.anthropic
    })
    const router = yield* Router.make({
      targets: { primary: { model: gpt }, secondary: { model: claude } },
      chains: { default: ["primary", "secondary"] },
      policy: options.policy ?? { retry: { maxAttempts: 1 } }
    })
    const made = Gateway.make({ router, port: 0, ...options.gateway })
    const started = options.around === undefined ? made : options.around(made)
    const gateway = yield* options.gatewayScope === undefined ? started : Scope.extend(started, options.gatewayScope)
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: options.apiKey ?? "unused", maxRetries: 0, timeout: 10_000 })
    return { primary, secondary, router, gateway, client } satisfies Setup
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/**
 * Sends a completion, aborts it once the upstream has it, checks the client
 * saw its abort, and waits for the upstream call to be aborted too.
 */
const abortOnceUpstream = (client: OpenAI, upstream: MockServer.MockServer, model = "default") =>
  Effect.gen(function* () {
    const controller = new AbortController()
    const settled = client.chat.completions
      .create({ model, messages: question }, { signal: controller.signal })
      .then(() => "answered", (error: unknown) => (error instanceof OpenAI.APIUserAbortError ? "aborted" : String(error)))
    yield* MockServer.awaitRequests(upstream, 1).pipe(Effect.timeout("2 seconds"))
    controller.abort()
    expect(yield* promise(() => settled)).toBe("aborted")
    return yield* MockServer.awaitAborted(upstream, 1).pipe(Effect.timeout("2 seconds"))
  })

/** The raw body of a streamed completion of the chain `default`, as the wire carries it. */
const rawStream = (gateway: Gateway.Server) =>
  promise(() =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "default", messages: question, stream: true })
    }).then((res) => res.text())
  )

/** Records every log line (message and annotations). */
const captureLogs = () => {
  const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, message }) => {
    const text = Array.isArray(message) ? message.join(" ") : String(message)
    lines.push({ message: text, annotations: Object.fromEntries(annotations) })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const requestLines = <L extends { readonly message: string }>(lines: ReadonlyArray<L>) => lines.filter((l) => /^[A-Z]+ \/\S* \d{3}$/.test(l.message))

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Gateway", (it) => {
  describe("chat completions", () => {
    it.scoped("answers a JSON completion in OpenAI's format, with the router's headers", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "About 11 metres a second.", usage: { inputTokens: 12, outputTokens: 6 } } }
        })
        const { data, response } = yield* promise(() =>
          client.chat.completions
            .create({
              model: "default",
              messages: [{ role: "system", content: "Be brief." }, ...question],
              temperature: 0.3,
              max_tokens: 40,
              stop: "END",
              n: 1,
              seed: 7,
              presence_penalty: 0.5,
              frequency_penalty: -0.5,
              user: "user-1"
            })
            .withResponse()
        )
        expect(data.object).toBe("chat.completion")
        expect(data.id).toMatch(/^chatcmpl-/)
        expect(data.model).toBe("gpt-4.1-mini")
        expect(data.choices[0]?.message).toMatchObject({ role: "assistant", content: "About 11 metres a second." })
        expect(data.choices[0]?.finish_reason).toBe("stop")
        expect(data.usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 })
        expect(response.headers.get("x-llm-provider")).toBe("openai")
        expect(response.headers.get("x-llm-model")).toBe("gpt-4.1-mini")
        expect(response.headers.get("x-llm-chain")).toBe("default")
        expect(response.headers.get("x-llm-attempts")).toBe("1")
        expect(response.headers.get("x-llm-fallbacks")).toBe("0")
        expect(response.headers.get("x-request-id")).toMatch(/^req_/)
        // the upstream got the request mapped back to its own wire format
        const sent = primary.requests()[0]?.body as Record<string, unknown>
        expect(sent).toMatchObject({
          model: "gpt-4.1-mini",
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: prompt }
          ],
          temperature: 0.3,
          max_tokens: 40,
          stop: ["END"],
          // the sampling hints OpenAI takes
          seed: 7,
          presence_penalty: 0.5,
          frequency_penalty: -0.5
        })
        expect(primary.requests()[0]?.headers["authorization"]).toBe(`Bearer ${upstreamKey}`)
      })
    )

    it.scoped("a message's name reaches OpenAI; Anthropic, which has no such field, gets the messages without it", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup()
        const messages = [
          { role: "system" as const, content: "Referee.", name: "rules" },
          { role: "user" as const, content: "I move first.", name: "alice" },
          { role: "assistant" as const, content: "Go ahead.", name: "referee" },
          { role: "user" as const, content: "No, I do.", name: "bob" }
        ]
        yield* promise(() => client.chat.completions.create({ model: "primary", messages }))
        yield* promise(() => client.chat.completions.create({ model: "secondary", messages }))
        expect((primary.requests()[0]?.body as { messages: unknown }).messages).toEqual(messages)
        expect(JSON.stringify(secondary.requests()[0]?.body)).not.toMatch(/alice|bob|referee"|rules/)
      })
    )

    it.scoped("passes tools through and returns the model's tool calls", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const completion = yield* promise(() =>
          client.chat.completions.create({
            model: "primary",
            messages: [
              {
                role: "user",
                content: [
                  { type: "text", text: "Weather in Paris?" },
                  { type: "image_url", image_url: { url: "https://example.com/sky.png", detail: "high" } }
                ]
              }
            ],
            tools: [
              {
                type: "function",
                function: { name: "weather", strict: true, parameters: { type: "object", properties: { city: { type: "string" } } } }
              },
              // strict without parameters: the schema made for it must be a closed one, as OpenAI requires
              { type: "function", function: { name: "now", strict: true } }
            ],
            tool_choice: { type: "function", function: { name: "weather" } },
            parallel_tool_calls: false
          })
        )
        expect(completion.choices[0]?.finish_reason).toBe("tool_calls")
        expect(completion.choices[0]?.message.tool_calls).toEqual([
          { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }
        ])
        // a tool's strict and an image's detail reach an OpenAI upstream
        expect(primary.requests()[0]?.body).toMatchObject({
          messages: [{ content: [{ type: "text" }, { type: "image_url", image_url: { url: "https://example.com/sky.png", detail: "high" } }] }],
          tools: [
            { type: "function", function: { name: "weather", strict: true } },
            {
              type: "function",
              function: { name: "now", strict: true, parameters: { type: "object", properties: {}, required: [], additionalProperties: false } }
            }
          ],
          tool_choice: { type: "function", function: { name: "weather" } },
          parallel_tool_calls: false
        })
      })
    )

    it.scoped("streams chunks the client reads with for await, then usage and [DONE]", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { reply: { text: "It depends on the swallow.", usage: { inputTokens: 9, outputTokens: 5 } }, tokenDelay: "2 millis" }
        })
        const { data: stream, response } = yield* promise(() =>
          client.chat.completions
            .create({ model: "default", messages: question, stream: true, stream_options: { include_usage: true } })
            .withResponse()
        )
        expect(response.headers.get("content-type")).toContain("text/event-stream")
        expect(response.headers.get("x-llm-provider")).toBe("openai")
        expect(response.headers.get("x-llm-fallbacks")).toBe("0")
        const chunks = yield* promise(async () => {
          const all: Array<OpenAI.ChatCompletionChunk> = []
          for await (const chunk of stream) all.push(chunk)
          return all
        })
        expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant")
        expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0]?.id)).toBe(true)
        const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")
        expect(text).toBe("It depends on the swallow.")
        expect(chunks.filter((c) => c.choices[0]?.finish_reason === "stop")).toHaveLength(1)
        const last = chunks.at(-1)!
        expect(last.choices).toEqual([])
        expect(last.usage).toEqual({ prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 })
      })
    )

    it.scoped("Gateway.app under the platform's CORS middleware: a streamed answer carries the middleware's headers too", () =>
      Effect.gen(function* () {
        const { router } = yield* setup({ primary: { reply: { text: "It depends on the swallow." } } })
        const app = yield* Gateway.app({ router })
        const server = yield* NodeHttpServer.make(() => Http.createServer(), { host: "127.0.0.1", port: 0 })
        yield* server.serve(app, HttpMiddleware.cors())
        const { port } = server.address as HttpServer.TcpAddress
        for (const stream of [false, true]) {
          const response = yield* promise(() =>
            fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", origin: "http://client.test" },
              body: JSON.stringify({ model: "default", stream, messages: question })
            })
          )
          expect(response.status).toBe(200)
          expect(response.headers.get("access-control-allow-origin")).toBe("*")
          const body = yield* promise(() => response.text())
          expect(body).toContain(stream ? "data: [DONE]" : "It depends on the swallow.")
        }
      }))

    it.scoped("streams tool calls as deltas the client can assemble", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { reply: { toolCalls: [{ id: "call_7", name: "lookup", arguments: { q: "swallow" } }] } }
        })
        const stream = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true })
        )
        const chunks = yield* promise(async () => {
          const all: Array<OpenAI.ChatCompletionChunk> = []
          for await (const chunk of stream) all.push(chunk)
          return all
        })
        const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
        expect(deltas[0]).toMatchObject({ index: 0, id: "call_7", type: "function", function: { name: "lookup" } })
        expect(deltas.map((d) => d.function?.arguments ?? "").join("")).toBe('{"q":"swallow"}')
        expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls")
        expect(chunks.some((c) => c.usage != null)).toBe(false) // no usage chunk unless asked
      })
    )
  })

  describe("failover", () => {
    it.scoped("falls back from a failing upstream, and the headers say so", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503)] },
          secondary: { reply: { text: "From the fallback." } }
        })
        const { data, response } = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question }).withResponse()
        )
        expect(data.choices[0]?.message.content).toBe("From the fallback.")
        expect(data.model).toBe("claude-haiku-4-5")
        expect(response.headers.get("x-llm-provider")).toBe("anthropic")
        expect(response.headers.get("x-llm-target")).toBe("secondary")
        expect(response.headers.get("x-llm-attempts")).toBe("2")
        expect(response.headers.get("x-llm-fallbacks")).toBe("1")
        expect([primary.count(), secondary.count()]).toEqual([1, 1])
      })
    )

    it.scoped("a stream falls back before its first token, and its headers name the target that served", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.truncate(0)] },
          secondary: { reply: { text: "Streamed by Claude." } }
        })
        const { data: stream, response } = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true }).withResponse()
        )
        expect(response.headers.get("x-llm-provider")).toBe("anthropic")
        expect(response.headers.get("x-llm-fallbacks")).toBe("1")
        const text = yield* promise(async () => {
          let all = ""
          for await (const chunk of stream) all += chunk.choices[0]?.delta.content ?? ""
          return all
        })
        expect(text).toBe("Streamed by Claude.")
      })
    )

    it.scoped("the router's events of a request carry its id, the client's x-request-id or the gateway's own, on either server", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        for (const around of [undefined, Effect.withTracer(tracer)]) {
          const { client, gateway, router } = yield* setup({
            ...(around === undefined ? {} : { around }),
            // the first two calls (one a request) answered 503
            primary: { faults: [MockServer.status(503), MockServer.status(503)] },
            secondary: { reply: { text: "From the fallback." } }
          })
          const events: Array<RouterEvent> = []
          yield* router.listen((event) => void events.push(event))
          const given = yield* promise(() =>
            client.chat.completions
              .create({ model: "default", messages: question }, { headers: { "x-request-id": "client-id.1" } })
              .withResponse()
          )
          expect(given.response.headers.get("x-request-id")).toBe("client-id.1")
          const streamed = yield* promise(() =>
            fetch(`${gateway.url}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "default", messages: question, stream: true })
            })
          )
          yield* promise(() => streamed.text())
          const own = streamed.headers.get("x-request-id")
          expect(own).toMatch(/^req_[0-9a-f]{32}$/)
          const ids = [...new Set(events.map((e) => e.requestId))]
          expect(ids).toHaveLength(2)
          const byRequest = ids.map((id) => events.filter((e) => e.requestId === id))
          for (const [i, correlationId] of ["client-id.1", own].entries()) {
            const tags = byRequest[i]!.map((e) => e._tag)
            expect(tags).toEqual(expect.arrayContaining(["AttemptFailed", "Fallback", "AttemptSucceeded", "RequestFinished"]))
            expect(byRequest[i]!.map((e) => e.correlationId)).toEqual(tags.map(() => correlationId))
          }
        }
      })
    )

    it.scoped("every target rate limited: 429 with the smallest Retry-After", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.status(429, { retryAfter: { seconds: 7 } })] },
          secondary: { faults: [MockServer.status(429, { retryAfter: { ms: 2_500 } })] }
        })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        const apiError = error as InstanceType<typeof OpenAI.RateLimitError>
        expect(apiError.status).toBe(429)
        expect(apiError.headers.get("retry-after")).toBe("3")
        expect(apiError.code).toBe("rate_limit_exceeded")
        expect(apiError.message).toContain("primary (RateLimited 429)")
      })
    )

    it.scoped("every target rate limited, then held open by its Retry-After: the next request is a 429 too, not a 503", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.status(429, { retryAfter: { seconds: 30 } })] },
          secondary: { faults: [MockServer.status(429, { retryAfter: { seconds: 20 } })] }
        })
        const first = (yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))) as InstanceType<typeof OpenAI.APIError>
        expect(first.status).toBe(429)
        // no call made now: both breakers wait out what their servers asked
        const next = (yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))) as InstanceType<typeof OpenAI.APIError>
        expect(next.status).toBe(429)
        expect(next.code).toBe("rate_limit_exceeded")
        expect(next.message).toContain("primary (Rejected circuit-open)")
        expect(Number(next.headers!.get("retry-after"))).toBeGreaterThan(15)
        expect(Number(next.headers!.get("retry-after"))).toBeLessThanOrEqual(20)
      })
    )

    it.scoped("a chain cut by its total deadline: 504 deadline_exceeded naming the target it cut, and the gateway serves on", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.stall, MockServer.stall] },
          secondary: { faults: [MockServer.stall, MockServer.stall] },
          policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "10 seconds", total: "300 millis" } }
        })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        const apiError = error as InstanceType<typeof OpenAI.APIError>
        expect(apiError.status).toBe(504)
        const body = apiError.error as { message: string; code: string; attempts: Array<Record<string, unknown>> }
        expect(body.code).toBe("deadline_exceeded")
        expect(body.attempts).toEqual([
          { target: "primary", provider: "openai", model: "gpt-4.1-mini", error: "Timeout", reason: "total" }
        ])
        expect(body.message).toBe("No target of 'default' answered within the chain's total deadline: primary (Timeout total).")
        // a stream cut before its first content is the same 504
        const streamed = yield* rejection(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true }).then(async (s) => {
            for await (const _ of s) void _
          })
        )
        expect((streamed as InstanceType<typeof OpenAI.APIError>).status).toBe(504)
        const answered = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(answered.choices[0]?.message.content).toBe("Hello from the mock server.")
      })
    )

    it.scoped("an exhausted chain: 503 whose JSON names each failed target, without secrets or prompt text", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.status(500, { message: `upstream broke, key ${upstreamKey}` })] },
          secondary: { faults: [MockServer.status(401)] }
        })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.InternalServerError)
        const apiError = error as InstanceType<typeof OpenAI.InternalServerError>
        expect(apiError.status).toBe(503)
        const body = apiError.error as { message: string; code: string; attempts: Array<Record<string, unknown>> }
        expect(body.code).toBe("chain_exhausted")
        expect(body.attempts).toEqual([
          { target: "primary", provider: "openai", model: "gpt-4.1-mini", error: "ServerError", status: 500 },
          { target: "secondary", provider: "anthropic", model: "claude-haiku-4-5", error: "Unauthorized", status: 401 }
        ])
        expect(body.message).toBe("Every target of 'default' failed: primary (ServerError 500), secondary (Unauthorized 401).")
        const raw = JSON.stringify(apiError.error)
        expect(raw).not.toContain(upstreamKey)
        expect(raw).not.toContain("swallow")
      })
    )

    it.scoped("every circuit open after server errors: one early probe, and meanwhile 503 chain_exhausted naming each wait", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          // primary: fails, then hangs as the early probe of the second request
          primary: { faults: [MockServer.status(500), MockServer.stall] },
          secondary: { faults: [MockServer.status(500)] },
          gateway: { drainTimeout: "100 millis" },
          policy: {
            retry: { maxAttempts: 1 },
            breaker: { consecutiveFailures: 1, openDuration: { base: "30 seconds" } }
          }
        })
        const first = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect((first as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
        expect((first as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after")).toBeNull()

        // every breaker open: the next request probes the target whose deadline is nearest (primary) at once
        const probe = yield* Effect.fork(
          Effect.promise((signal) =>
            fetch(`${client.baseURL}/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "default", messages: question }),
              signal
            }).catch(() => undefined)
          )
        )
        yield* promise(() => primary.whenReceived(2))

        // one probe per chain at a time: this one is refused by both breakers without an upstream call
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.InternalServerError)
        const apiError = error as InstanceType<typeof OpenAI.InternalServerError>
        expect(apiError.status).toBe(503) // not 429: nobody asked to slow down, the targets are failing
        expect(apiError.code).toBe("chain_exhausted")
        // primary is half-open, its probe may answer any moment: no Retry-After for the whole chain
        expect(apiError.headers.get("retry-after")).toBeNull()
        const body = apiError.error as { message: string; attempts: Array<Record<string, unknown>> }
        expect(body.message).toBe(
          "Every target of 'default' failed: primary (Rejected circuit-open), secondary (Rejected circuit-open)."
        )
        expect(body.attempts[0]?.["retryAfterSeconds"]).toBe(0)
        // the secondary stays open for its 30 seconds, and says so
        const wait = body.attempts[1]?.["retryAfterSeconds"] as number
        expect(wait).toBeGreaterThanOrEqual(29)
        expect(wait).toBeLessThanOrEqual(30)
        yield* Fiber.interrupt(probe)
        expect(primary.count()).toBe(2)
        expect(secondary.count()).toBe(1)
      })
    )

    it.scoped("every target isolated: 503 without Retry-After, and no Infinity anywhere", () =>
      Effect.gen(function* () {
        const { client, primary, router } = yield* setup()
        yield* router.breaker("primary")!.isolate
        yield* router.breaker("secondary")!.isolate
        const response = yield* promise(() =>
          fetch(`${client.baseURL}/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "default", messages: question })
          })
        )
        const text = yield* promise(() => response.text())
        expect(response.status).toBe(503)
        expect(response.headers.get("retry-after")).toBeNull()
        expect(text).not.toMatch(/Infinity|NaN|retryAfterSeconds/)
        expect(JSON.parse(text).error).toMatchObject({
          code: "chain_exhausted",
          message: "Every target of 'default' failed: primary (Rejected circuit-open), secondary (Rejected circuit-open).",
          attempts: [
            { target: "primary", error: "Rejected", reason: "circuit-open" },
            { target: "secondary", error: "Rejected", reason: "circuit-open" }
          ]
        })
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("a provider's content-policy refusal of the prompt is a 400 with code content_filter, streamed or not", () =>
      Effect.gen(function* () {
        const { client, secondary } = yield* setup({ primary: { faults: [MockServer.refuse, MockServer.refuse] } })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.BadRequestError)
        expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("content_filter")
        const streamed = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question, stream: true }))
        expect((streamed as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("content_filter")
        expect(secondary.count()).toBe(0) // a refusal would happen everywhere: no fallback
      })
    )

    it.scoped("a stream that fails after content ends with an error event and no [DONE]", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({
          primary: { faults: [MockServer.resetAfter(3)], reply: { text: "one two three four five six" } }
        })
        const stream = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, stream: true }))
        const seen: Array<string> = []
        const error = yield* rejection(async () => {
          for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "")
        })
        expect(error).toBeInstanceOf(OpenAI.APIError)
        expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain("failed after content was sent")
        expect(seen.join("").length).toBeGreaterThan(0)
        // the raw wire: content events, then the error event last, and never [DONE]
        primary.enqueue(MockServer.resetAfter(3))
        const raw = yield* rawStream(gateway)
        const events = raw.split("\n\n").filter((e) => e.length > 0)
        expect(events.length).toBeGreaterThan(2)
        expect(JSON.parse(events.at(-1)!.slice("data: ".length))).toMatchObject({
          error: { type: "server_error", code: "stream_interrupted" }
        })
        expect(raw).not.toContain("[DONE]")
      })
    )

    it.scoped("a provider's stop on content policy after content went out ends the stream as OpenAI does: finish_reason content_filter, [DONE]", () =>
      Effect.gen(function* () {
        const { gateway, client } = yield* setup({ primary: { reply: { text: "one two three", finishReason: "content_filter" } } })
        const stream = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true, stream_options: { include_usage: true } })
        )
        const finishes: Array<string | null> = []
        let text = ""
        let usage = false
        yield* promise(async () => {
          for await (const chunk of stream) {
            text += chunk.choices[0]?.delta.content ?? ""
            if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason)
            if (chunk.usage) usage = true
          }
        })
        expect({ text, finishes, usage }).toEqual({ text: "one two three", finishes: ["content_filter"], usage: true })
        const raw = yield* rawStream(gateway)
        expect(raw).not.toContain('"error"')
        expect(raw.trimEnd().endsWith("data: [DONE]")).toBe(true)
      })
    )

    /** What a streamed completion of the chain `default` gave: its text, refusal, finishes and usage. */
    const readStream = (client: OpenAI, extra: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {}) =>
      promise(async () => {
        const stream = await client.chat.completions.create({
          model: "default",
          messages: question,
          stream: true,
          stream_options: { include_usage: true },
          ...extra
        })
        const seen = { text: "", refusal: "", finishes: [] as Array<string>, usage: undefined as OpenAI.CompletionUsage | undefined }
        for await (const chunk of stream) {
          seen.text += chunk.choices[0]?.delta.content ?? ""
          seen.refusal += chunk.choices[0]?.delta.refusal ?? ""
          if (chunk.choices[0]?.finish_reason) seen.finishes.push(chunk.choices[0].finish_reason)
          if (chunk.usage) seen.usage = chunk.usage
        }
        return seen
      })

    it.scoped("a provider's stop of the answer on content policy is a 200 as OpenAI answers it: the text so far, finish_reason content_filter; streamed the same", () =>
      Effect.gen(function* () {
        const { client, gateway, secondary } = yield* setup({
          primary: { reply: { text: "partial text", finishReason: "content_filter", usage: { inputTokens: 12, outputTokens: 2 } } }
        })
        const { data, response } = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }).withResponse())
        expect(response.status).toBe(200)
        expect(data.object).toBe("chat.completion")
        expect(data.model).toBe("gpt-4.1-mini")
        expect(data.choices[0]).toMatchObject({
          message: { role: "assistant", content: "partial text", refusal: null },
          finish_reason: "content_filter"
        })
        expect(data.usage).toEqual({ prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 })
        expect([response.headers.get("x-llm-provider"), response.headers.get("x-llm-model"), response.headers.get("x-llm-chain")]).toEqual([
          "openai",
          "gpt-4.1-mini",
          "default"
        ])
        // streamed (the stop comes after the text went out)
        expect(yield* readStream(client)).toEqual({
          text: "partial text",
          refusal: "",
          finishes: ["content_filter"],
          usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 }
        })
        // the client's structured-output helper meets it as it would OpenAI's: its own ContentFilterFinishReasonError
        const parsed = yield* rejection(() =>
          client.chat.completions.parse({
            model: "default",
            messages: question,
            response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } }
          })
        )
        expect(parsed).toBeInstanceOf(ContentFilterFinishReasonError)
        expect(secondary.count()).toBe(0) // the chain ended there: no fallback, as before
        // stopped before any text: content null; and streamed, the whole stream with no content, as OpenAI sends it
        const empty = yield* setup({ primary: { reply: { text: "", finishReason: "content_filter", usage: { inputTokens: 12, outputTokens: 0 } } } })
        const whole = yield* promise(() => empty.client.chat.completions.create({ model: "default", messages: question }))
        expect(whole.choices[0]).toMatchObject({ message: { content: null, refusal: null }, finish_reason: "content_filter" })
        expect(yield* readStream(empty.client)).toEqual({
          text: "",
          refusal: "",
          finishes: ["content_filter"],
          usage: { prompt_tokens: 12, completion_tokens: 0, total_tokens: 12 }
        })
        const raw = yield* rawStream(empty.gateway)
        expect(raw).not.toContain('"error"')
        expect(raw.trimEnd().endsWith("data: [DONE]")).toBe(true)
        expect(gateway.url).not.toBe(empty.gateway.url)
      })
    )

    it.scoped("a model's refusal is message.refusal with content null, as OpenAI answers it: the client's parse() hands it over; its stream() helper agrees", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        const refusal = "I'm sorry, I can't help with that."
        const usage = { prompt_tokens: 9, completion_tokens: 8, total_tokens: 17 }
        const responseFormat = {
          type: "json_schema",
          json_schema: {
            name: "answer",
            strict: true,
            schema: { type: "object", properties: { speed: { type: "number" } }, required: ["speed"], additionalProperties: false }
          }
        } as const
        primary.enqueue(
          MockServer.status(200, {
            body: {
              id: "chatcmpl-upstream",
              object: "chat.completion",
              model: "gpt-4.1-mini",
              choices: [{ index: 0, message: { role: "assistant", content: null, refusal }, finish_reason: "stop" }],
              usage
            }
          })
        )
        const parsed = yield* promise(() => client.chat.completions.parse({ model: "default", messages: question, response_format: responseFormat }))
        expect(parsed.choices[0]?.message).toMatchObject({ content: null, refusal, parsed: null })
        expect(parsed.choices[0]?.finish_reason).toBe("stop")
        expect(parsed.usage).toEqual(usage)
        // streamed: OpenAI sends the refusal in pieces, then its finish and the usage
        const chunk = (delta: unknown, finish: string | null = null) =>
          `data: ${JSON.stringify({ id: "u", object: "chat.completion.chunk", created: 1, model: "gpt-4.1-mini", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
        const refusalStream = () =>
          MockServer.status(200, {
            body: chunk({ role: "assistant", content: null, refusal: "" }) + chunk({ refusal: "I'm sorry, " }) +
              chunk({ refusal: "I can't help with that." }) + chunk({}, "stop") +
              `data: ${JSON.stringify({ id: "u", object: "chat.completion.chunk", created: 1, model: "gpt-4.1-mini", choices: [], usage })}\n\n` +
              "data: [DONE]\n\n"
          })
        primary.enqueue(refusalStream(), refusalStream())
        const final = yield* promise(() =>
          client.chat.completions.stream({ model: "default", messages: question, response_format: responseFormat }).finalChatCompletion()
        )
        expect(final.choices[0]?.message).toMatchObject({ content: null, refusal })
        expect(final.choices[0]?.finish_reason).toBe("stop")
        expect(yield* readStream(client, { response_format: responseFormat })).toEqual({ text: "", refusal, finishes: ["stop"], usage })
      })
    )

    it.scoped("a stopped answer still goes to the chain's content-policy chain when one is configured", () =>
      Effect.gen(function* () {
        // stopped before any text (after some, a stream is not handed over: the two answers would be spliced)
        const strict = yield* MockServer.make({ reply: { text: "", finishReason: "content_filter" } })
        const lenient = yield* MockServer.make({ reply: { text: "About 11 metres a second." } })
        const router = yield* Router.make({
          targets: {
            strict: { model: yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: strict.baseUrls.openai }) },
            lenient: { model: yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: lenient.baseUrls.anthropic }) }
          },
          chains: { default: { targets: ["strict"], contentPolicy: "open" }, open: ["lenient"] },
          policy: { retry: { maxAttempts: 1 } }
        })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const { data, response } = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }).withResponse())
        expect(data.choices[0]).toMatchObject({ message: { content: "About 11 metres a second." }, finish_reason: "stop" })
        expect([response.headers.get("x-llm-chain"), response.headers.get("x-llm-target")]).toEqual(["open", "lenient"])
        expect(yield* readStream(client)).toMatchObject({ text: "About 11 metres a second.", finishes: ["stop"] })
        expect([strict.count(), lenient.count()]).toEqual([2, 2])
      })
    )

    it.scoped("a stream past the request timeout ends with a timeout error event, and upstream is aborted", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "one two three four five six seven eight" }, tokenDelay: "100 millis" },
          gateway: { requestTimeout: "250 millis" }
        })
        const stream = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, stream: true }))
        const error = yield* rejection(async () => {
          for await (const _ of stream) {
            // read until the gateway gives up
          }
        })
        expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain("did not finish within")
        const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
      })
    )

    it.scoped("a degraded answer (every target down, static fallback) says so in x-llm-degraded", () =>
      Effect.gen(function* () {
        const upstream = yield* MockServer.make({ faultFor: () => MockServer.status(500) })
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({
          targets: { gpt: { model } },
          chains: { default: { targets: ["gpt"], fallbackResponse: "Service is busy, try later." } },
          policy: { retry: { maxAttempts: 1 } },
          cache: false
        })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        const { data, response } = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question }).withResponse()
        )
        expect(data.choices[0]?.message.content).toBe("Service is busy, try later.")
        expect(response.headers.get("x-llm-degraded")).toBe("static")
        expect(response.headers.get("x-llm-attempts")).toBe("1")
      })
    )
  })

  describe("reasoning_effort", () => {
    it.scoped("reaches an OpenAI reasoning model as reasoning_effort, and Gemini, after a fallback, as its thinking level", () =>
      Effect.gen(function* () {
        const upstream = yield* MockServer.make({ faults: [MockServer.status(503)] })
        const o3 = yield* OpenAi.make({ model: "o3", apiKey: Redacted.make("sk-test"), baseUrl: upstream.baseUrls.openai })
        const flash = yield* Gemini.make({ model: "gemini-3-flash-preview", apiKey: Redacted.make("AIza-test"), baseUrl: upstream.baseUrls.gemini })
        const router = yield* Router.make({
          targets: { o3: { model: o3 }, flash: { model: flash } },
          chains: { default: ["o3", "flash"] },
          policy: { retry: { maxAttempts: 1 } },
          cache: false
        })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        const { data } = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, reasoning_effort: "minimal" }).withResponse()
        )
        expect(data.choices[0]?.finish_reason).toBe("stop")
        const [first, second] = upstream.requests().map((r) => r.body as Record<string, { thinkingConfig?: unknown } | string | undefined>)
        // o3 has no "minimal": its nearest level; Gemini 3 gets one of its two
        expect(first?.["reasoning_effort"]).toBe("low")
        expect((second?.["generationConfig"] as { thinkingConfig?: unknown } | undefined)?.thinkingConfig).toEqual({ thinkingLevel: "low" })
      })
    )
  })

  describe("JSON mode and structured outputs", () => {
    const person = {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" } },
      required: ["name", "age"],
      additionalProperties: false
    }

    it.scoped("json_schema reaches OpenAI as sent, and Claude, after a fallback, as output_config.format", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503)] },
          secondary: { reply: { text: '{"name":"Ada","age":36}' } }
        })
        const { data, response } = yield* promise(() =>
          client.chat.completions
            .create({
              model: "default",
              messages: question,
              response_format: {
                type: "json_schema",
                json_schema: { name: "person", description: "Who", schema: person, strict: true }
              }
            })
            .withResponse()
        )
        expect(JSON.parse(data.choices[0]?.message.content ?? "")).toEqual({ name: "Ada", age: 36 })
        expect(response.headers.get("x-llm-target")).toBe("secondary")
        expect(response.headers.get("x-llm-fallbacks")).toBe("1")
        expect(primary.requests()[0]?.body).toMatchObject({
          response_format: { type: "json_schema", json_schema: { name: "person", description: "Who", schema: person, strict: true } }
        })
        const claudeBody = secondary.requests()[0]?.body as Record<string, unknown>
        expect(claudeBody["output_config"]).toEqual({ format: { type: "json_schema", schema: person } })
        expect(claudeBody).not.toHaveProperty("response_format")
      })
    )

    it.scoped("json_object never falls back to Claude, which has no JSON mode: the chain is OpenAI alone", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503)] },
          secondary: { reply: { text: "prose from Claude" } }
        })
        const failed = yield* promise(() =>
          client.chat.completions
            .create({ model: "default", messages: question, response_format: { type: "json_object" } })
            .then(() => undefined, (error: unknown) => error)
        )
        expect(failed).toBeInstanceOf(OpenAI.APIError)
        const error = failed as InstanceType<typeof OpenAI.APIError>
        expect(error.status).toBe(503)
        expect(error.message).toMatch(/primary/)
        expect(error.message).not.toMatch(/secondary/)
        expect([primary.count(), secondary.count()]).toEqual([1, 0])
        expect(primary.requests()[0]?.body).toMatchObject({ response_format: { type: "json_object" } })

        // streamed (the fault was for the first request only): OpenAI answers, sent response_format too
        const { data: stream, response } = yield* promise(() =>
          client.chat.completions
            .create({ model: "default", messages: question, response_format: { type: "json_object" }, stream: true })
            .withResponse()
        )
        expect(response.headers.get("x-llm-target")).toBe("primary")
        yield* promise(async () => {
          for await (const _ of stream) void _
        })
        expect(primary.requests()[1]?.body).toMatchObject({ stream: true, response_format: { type: "json_object" } })
        expect(secondary.count()).toBe(0)
      })
    )

    it.scoped("a chain none of whose models can give the format: 400 unsupported_response_format, and no upstream call", () =>
      Effect.gen(function* () {
        const { gateway, primary, secondary } = yield* setup()
        const answer = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            // the alias `secondary` is a one-model chain of Claude
            body: JSON.stringify({ model: "secondary", messages: question, response_format: { type: "json_object" } })
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: Record<string, unknown> } }))
        )
        expect(answer.status).toBe(400)
        expect(answer.body.error).toMatchObject({
          type: "invalid_request_error",
          code: "unsupported_response_format",
          param: "response_format"
        })
        expect(answer.body.error["message"]).toMatch(/secondary \(Rejected unsupported-format\)/)
        expect([primary.count(), secondary.count()]).toEqual([0, 0])
      })
    )
  })

  describe("Gemini 3's thought signatures", () => {
    const signed = {
      candidates: [
        {
          content: { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Rome" } }, thoughtSignature: "sig-A" }] },
          finishReason: "STOP"
        }
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }
    }

    it.scoped("go out on a tool call as extra_content.google.thought_signature, and come back to Gemini from the client's next turn", () =>
      Effect.gen(function* () {
        const upstream = yield* MockServer.make({
          faults: [
            MockServer.status(200, { body: signed }),
            MockServer.status(200, { body: `data: ${JSON.stringify(signed)}\r\n\r\n` })
          ]
        })
        const gemini = yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: upstream.url })
        const router = yield* Router.make({ targets: { gemini: { model: gemini } }, chains: { default: ["gemini"] } })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const tools = [{ type: "function" as const, function: { name: "weather", parameters: { type: "object" } } }]
        const first = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, tools }))
        const message = first.choices[0]!.message
        expect(message.tool_calls?.[0]).toMatchObject({ extra_content: { google: { thought_signature: "sig-A" } } })
        // streamed, the call's delta carries it
        const stream = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, tools, stream: true }))
        const deltas = yield* promise(async () => {
          const all: Array<unknown> = []
          for await (const chunk of stream) all.push(...(chunk.choices[0]?.delta.tool_calls ?? []))
          return all
        })
        expect(deltas).toMatchObject([{ index: 0, extra_content: { google: { thought_signature: "sig-A" } } }])
        // the client sends back the message it got, as the openai client's tool loops do
        const callId = message.tool_calls![0]!.id
        yield* promise(() =>
          client.chat.completions.create({
            model: "default",
            tools,
            messages: [...question, message, { role: "tool", tool_call_id: callId, content: "sunny" }]
          })
        )
        const sent = upstream.requests()[2]?.body as { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }> }
        expect(sent.contents[1]).toEqual({
          role: "model",
          parts: [{ functionCall: { name: "weather", args: { city: "Rome" } }, thoughtSignature: "sig-A" }]
        })
      })
    )
  })

  describe("models, auth, limits", () => {
    it.scoped("a body that stalls mid-way gets 408 within bodyTimeout, and the gateway goes on serving", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* setup({ gateway: { bodyTimeout: "200 millis" } })
        const answer = yield* promise(
          () =>
            new Promise<string>((resolve, reject) => {
              const socket = Net.connect(gateway.port, "127.0.0.1")
              let text = ""
              socket.setEncoding("utf8")
              socket.on("data", (chunk: string) => (text += chunk))
              socket.on("close", () => resolve(text))
              socket.on("error", reject)
              // 9 bytes of the 500 promised, then nothing
              socket.write(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"model\":"
              )
            })
        )
        expect(answer).toMatch(/^HTTP\/1\.1 408 /)
        expect(answer.toLowerCase()).toContain("connection: close")
        const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { error: { code: string; message: string } }
        expect(body.error).toMatchObject({ code: "request_timeout", message: "The request body did not arrive within 200ms." })
        const next = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(next.choices[0]?.message.content).toBeTruthy()
      })
    )

    it.scoped("a bodyTimeout past a timer's range (24.8 days) is no deadline: a body in two parts is read", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ gateway: { bodyTimeout: "30 days" } })
        const body = JSON.stringify({ model: "default", messages: question })
        const status = yield* promise(
          () =>
            new Promise<number>((resolve, reject) => {
              const request = Http.request(
                `${gateway.url}/v1/chat/completions`,
                { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
                (response) => {
                  response.resume()
                  response.on("end", () => resolve(response.statusCode ?? 0))
                }
              )
              request.on("error", reject)
              request.flushHeaders()
              request.write(body.slice(0, 10))
              setTimeout(() => request.end(body.slice(10)), 50)
            })
        )
        expect(status).toBe(200)
      })
    )

    it.scoped("an empty host is refused: Node would listen on every interface", () =>
      Effect.gen(function* () {
        const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
        const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
        const exit = yield* Effect.exit(Gateway.make({ router, port: 0, host: " " }))
        expect(exit._tag === "Failure" && Cause.pretty(exit.cause)).toContain("Gateway: host must name an interface")
      })
    )

    it.scoped("lists every chain and model alias", () =>
      Effect.gen(function* () {
        const { client } = yield* setup()
        const models = yield* promise(async () => {
          const ids: Array<string> = []
          for await (const model of client.models.list()) ids.push(model.id)
          return ids
        })
        expect(models).toEqual(["default", "primary", "secondary"])
        const one = yield* promise(() => client.models.retrieve("secondary"))
        expect(one).toMatchObject({ id: "secondary", object: "model", owned_by: "anthropic" })
      })
    )

    it.scoped("a model alias with a slash (OpenRouter style) is served by GET /v1/models/{id}, raw or percent-encoded", () =>
      Effect.gen(function* () {
        const upstream = yield* MockServer.make()
        const model = yield* OpenAi.make({ model: "gpt-4o", baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({
          targets: { "openai/gpt-4o": { model }, "meta-llama/llama-3.1-8b:free": { model } },
          chains: { default: ["openai/gpt-4o"] }
        })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        const get = (path: string) =>
          promise(async () => {
            const response = await fetch(`${gateway.url}${path}`)
            return { status: response.status, body: (await response.json()) as Record<string, any> }
          })

        for (const path of ["/v1/models/openai/gpt-4o", "/v1/models/openai%2Fgpt-4o", "/v1/models/openai%2fgpt-4o"]) {
          const { body, status } = yield* get(path)
          expect([path, status]).toEqual([path, 200])
          expect(body).toMatchObject({ id: "openai/gpt-4o", object: "model", owned_by: "openai" })
        }
        const free = yield* get(`/v1/models/${encodeURIComponent("meta-llama/llama-3.1-8b:free")}`)
        expect(free.body["id"]).toBe("meta-llama/llama-3.1-8b:free")
        // the official client
        expect(yield* promise(() => client.models.retrieve("openai/gpt-4o"))).toMatchObject({ id: "openai/gpt-4o" })
        const missing = yield* get("/v1/models/openai/gpt-5")
        expect(missing.status).toBe(404)
        expect(missing.body["error"]).toMatchObject({ code: "model_not_found", param: "model" })
        expect(missing.body["error"].message).toContain("'openai/gpt-5'")
        // and it names a chain for completions
        const { response } = yield* promise(() =>
          client.chat.completions.create({ model: "openai/gpt-4o", messages: question }).withResponse()
        )
        expect(response.headers.get("x-llm-chain")).toBe("openai/gpt-4o")
      })
    )

    it.scoped("a model alias is a one-target chain", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        const { response } = yield* promise(() =>
          client.chat.completions.create({ model: "secondary", messages: question }).withResponse()
        )
        expect(response.headers.get("x-llm-chain")).toBe("secondary")
        expect(response.headers.get("x-llm-provider")).toBe("anthropic")
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("with keys: 401 without a key or with a wrong one, 200 with a right one", () =>
      Effect.gen(function* () {
        const keys = [Redacted.make("gw-key-one"), Redacted.make("gw-key-two")]
        const { client, gateway, primary } = yield* setup({ gateway: { keys }, apiKey: "gw-key-two" })
        const ok = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(ok.choices[0]?.message.content).toBe("Hello from the mock server.")

        const wrong = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "gw-key-three", maxRetries: 0 })
        const error = yield* rejection(() => wrong.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
        expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("invalid_api_key")
        expect(JSON.stringify((error as InstanceType<typeof OpenAI.AuthenticationError>).error)).not.toContain("gw-key")

        const bare = yield* promise(() => fetch(`${gateway.url}/v1/models`))
        expect(bare.status).toBe(401)
        expect(((yield* promise(() => bare.json())) as { error: { code: string } }).error.code).toBe("invalid_api_key")
        expect((yield* promise(() => fetch(`${gateway.url}/healthz`))).status).toBe(200) // health needs no key
        expect(primary.count()).toBe(1) // refused requests never reached upstream
      })
    )

    it.scoped("with keys: degraded mode answers a key only from what was cached for it", () =>
      Effect.gen(function* () {
        let down = false
        const upstream = yield* MockServer.make({ faultFor: () => (down ? MockServer.status(500) : undefined) })
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
        const gateway = yield* Gateway.make({ router, port: 0, keys: [Redacted.make("gw-key-one"), Redacted.make("gw-key-two")] })
        const clientOf = (apiKey: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })
        yield* promise(() => clientOf("gw-key-one").chat.completions.create({ model: "default", messages: question }))
        down = true
        const { response } = yield* promise(() => clientOf("gw-key-one").chat.completions.create({ model: "default", messages: question }).withResponse())
        expect(response.headers.get("x-llm-degraded")).toBe("cache")
        const error = yield* rejection(() => clientOf("gw-key-two").chat.completions.create({ model: "default", messages: question }))
        expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
      })
    )

    it.scoped("the gateway's own bulkhead: past its queue, 429 with Retry-After", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { faults: [MockServer.stall] },
          gateway: { maxConcurrent: 1, maxQueued: 0 }
        })
        const controller = new AbortController()
        const held = client.chat.completions.create({ model: "default", messages: question }, { signal: controller.signal })
        held.catch(() => undefined)
        yield* MockServer.awaitRequests(primary, 1).pipe(Effect.timeout("2 seconds"))
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect((error as InstanceType<typeof OpenAI.RateLimitError>).status).toBe(429)
        expect((error as InstanceType<typeof OpenAI.RateLimitError>).code).toBe("gateway_busy")
        expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")).toBe("1")
        controller.abort()
        yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        // the permit came back with the aborted request
        const after = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(after.choices[0]?.message.content).toBe("Hello from the mock server.")
      })
    )

    it.scoped("a slow upload holds no bulkhead permit: a request whose body is still arriving leaves room for others", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* setup({ gateway: { maxConcurrent: 1, maxQueued: 0 } })
        const socket = Net.connect(gateway.port, "127.0.0.1")
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        // 10 bytes of the 100 promised, then nothing (the body timeout is the default 30s)
        socket.write(
          "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":\""
        )
        // the gateway has its headers, and waits for the rest of its body
        yield* Effect.repeat(gateway.inFlight, { until: (n) => n === 1, schedule: Schedule.spaced("1 millis") }).pipe(Effect.timeout("2 seconds"))
        const next = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(next.choices[0]?.message.content).toBe("Hello from the mock server.")
      })
    )

    it.scoped("the total request timeout: 504, and the upstream call is aborted", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { faults: [MockServer.stall] },
          gateway: { requestTimeout: "300 millis" }
        })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504)
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("request_timeout")
        const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
      })
    )
  })

  describe("a log sink in the gateway's context", () => {
    /** Records each request's record, and every Effect log line apart. */
    const capture = () => {
      const records: Array<LogSink.Line> = []
      const logs = captureLogs()
      return { records, logs, layer: Layer.merge(logs.layer, Layer.succeed(LogSink.LogSink, { write: (record) => void records.push(record) })) }
    }

    it.scoped("takes each request's line, on either server, in place of Effect's logger", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        for (const around of [undefined, Effect.withTracer(tracer)]) {
          const { layer, logs, records } = capture()
          const { client, gateway } = yield* setup({ ...(around === undefined ? {} : { around }), primary: { reply: { text: "Hi." } } }).pipe(
            Effect.provide(layer)
          )
          yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
          const bad = yield* promise(() =>
            fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "x-request-id": "bad-1" }, body: "{" })
          )
          expect(bad.status).toBe(400)
          yield* Effect.sleep("20 millis")
          expect(records.map((r) => [r.message, r.level.label])).toEqual([
            ["POST /v1/chat/completions 200", "INFO"],
            ["POST /v1/chat/completions 400", "INFO"]
          ])
          const [ok, refused] = records
          // the fields in order: the request's, then what the router and the answer said
          expect(Object.keys(ok!.fields)).toEqual(["requestId", "status", "ms", "chain", "target", "fallbacks", "attempts"])
          expect(ok!.fields).toMatchObject({ status: 200, chain: "default", target: "primary", fallbacks: 0, attempts: 1 })
          expect(refused!.fields).toMatchObject({ requestId: "bad-1", status: 400, error: "invalid_request_error" })
          expect(requestLines(logs.lines)).toEqual([])
        }
      })
    )

    it.scoped("gets nothing below the minimum log level, on either server: a 5xx (a warning) still, a 200 no more", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        const warningsOnly = Logger.withMinimumLogLevel(LogLevel.Warning)
        for (const around of [warningsOnly, <A, E, R>(effect: Effect.Effect<A, E, R>) => warningsOnly(Effect.withTracer(effect, tracer))]) {
          const { layer, records } = capture()
          const { client } = yield* setup({
            around,
            primary: { faults: [MockServer.status(500)] },
            secondary: { faults: [MockServer.status(401)] }
          }).pipe(Effect.provide(layer))
          const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
          expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
          yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
          yield* Effect.sleep("20 millis")
          expect(records.map((r) => [r.message, r.level.label])).toEqual([["POST /v1/chat/completions 503", "WARN"]])
        }
      })
    )

    it.scoped("a failed chain's line says how many attempts it made and each one's target and error tag, on either server", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        for (const around of [undefined, Effect.withTracer(tracer)]) {
          const { layer, records } = capture()
          const { client } = yield* setup({
            ...(around === undefined ? {} : { around }),
            primary: { faults: [MockServer.status(500), MockServer.status(500)] },
            secondary: { faults: [MockServer.status(401), MockServer.status(401)] }
          }).pipe(Effect.provide(layer))
          // a JSON answer, and a stream that failed before its first content
          for (const stream of [false, true]) {
            const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question, stream }))
            expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
          }
          yield* Effect.sleep("20 millis")
          expect(records).toHaveLength(2)
          for (const { fields } of records) {
            expect(fields).toMatchObject({ status: 503, chain: "default", attempts: 2, tried: "primary:ServerError,secondary:Unauthorized", error: "chain_exhausted" })
            expect(Object.keys(fields)).toEqual(["requestId", "status", "ms", "chain", "attempts", "tried", "error"])
          }
        }
      })
    )

    it("a line's tried names each attempt's target and error tag, never its message, within 200 characters", () => {
      const attempt = (target: string, error?: Overloaded | ServerError) => ({
        target,
        provider: "openai",
        model: "gpt",
        duration: Duration.millis(1),
        ...(error === undefined ? {} : { error })
      })
      const overloaded = new Overloaded({ provider: "openai", model: "gpt", message: "sk-secret said no", status: 529 })
      expect(App.triedOf([attempt("sonnet", overloaded), attempt("sonnet", overloaded), attempt("mini")])).toBe("sonnet:Overloaded,sonnet:Overloaded,mini:ok")
      const many = App.triedOf(Array.from({ length: 50 }, (_, i) => attempt(`target-${i}\n`, overloaded)))
      expect(many.length).toBeLessThanOrEqual(203)
      expect(many).toMatch(/^target-0\?:Overloaded,target-1\?:Overloaded,.*\.\.\.$/)
      expect(many).not.toContain("sk-secret")
    })

    it("writes a line as Effect's logfmt logger writes it, without the fiber", () => {
      // any code points, and the characters logfmt quotes or escapes
      const text = fc.oneof(
        fc.string({ unit: "binary" }),
        fc.string({ unit: fc.constantFrom(" ", "\t", "\n", '"', "=", "\\", "é", "😀", "a") })
      )
      const field = fc.oneof(text, fc.integer(), fc.double())
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 4_102_444_800_000 }),
          fc.constantFrom(LogLevel.Info, LogLevel.Warning, LogLevel.Error),
          text,
          // a key that is not an array index (the gateway's never are), as an object keeps those in insertion order
          text.filter((key) => key.length > 0 && !/^(0|[1-9]\d*)$/.test(key)),
          field,
          (timeMillis, level, message, key, value) => {
            const effects = Logger.logfmtLogger.log({
              fiberId: FiberId.none,
              logLevel: level,
              message,
              cause: Cause.empty,
              context: FiberRefs.empty(),
              spans: List.empty(),
              annotations: HashMap.make([key, value]),
              date: new Date(timeMillis)
            })
            expect(LogSink.logfmt({ timeMillis, level, message, fields: { [key]: value } })).toBe(effects.replace(" fiber= ", " "))
          }
        ),
        { numRuns: 2000 }
      )
      // several fields: in the record's order
      expect(
        LogSink.logfmt({ timeMillis: 0, level: LogLevel.Info, message: "GET / 200", fields: { requestId: "r", status: 200, error: "a b" } })
      ).toBe('timestamp=1970-01-01T00:00:00.000Z level=INFO message="GET / 200" requestId=r status=200 error="a b"')
    })
  })

  describe("cancellation", () => {
    it.scoped("a client abort cancels the request and aborts the upstream call", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const { client, primary, secondary } = yield* setup({ primary: { faults: [MockServer.stall] } }).pipe(
          Effect.provide(logs.layer)
        )
        const aborted = yield* abortOnceUpstream(client, primary)
        expect(aborted.map((r) => r.index)).toEqual([0])
        expect(secondary.count()).toBe(0) // cancelled, not failed over
        yield* Effect.sleep("50 millis")
        expect(requestLines(logs.lines).map((l) => [l.message, l.annotations["outcome"]])).toEqual([
          ["POST /v1/chat/completions 499", "client-closed"]
        ])
      })
    )

    it.scoped("a client leaving a stream mid-way aborts the upstream stream, and its one log line says so", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const { client, primary } = yield* setup({ primary: { faults: [MockServer.stallAfter(3)] } }).pipe(
          Effect.provide(logs.layer)
        )
        const controller = new AbortController()
        const stream = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true }, { signal: controller.signal })
        )
        const first = yield* promise(() => stream[Symbol.asyncIterator]().next())
        expect(first.done).toBe(false)
        controller.abort()
        const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
        yield* Effect.sleep("50 millis")
        expect(requestLines(logs.lines).map((l) => [l.message, l.annotations["outcome"]])).toEqual([
          ["POST /v1/chat/completions 200", "client-closed"]
        ])
      })
    )
  })

  // A chat request is served from Node's request and response themselves
  // when no span would go anywhere (every test above), and through the
  // platform's server, whose middleware makes each request's span, when
  // one would: the same answers and log lines either way.
  describe("served through the platform's server when spans go somewhere", () => {
    it.scoped("a completion and a stream, each under the server's span", () =>
      Effect.gen(function* () {
        const { names, tracer } = yield* recordingTracer
        const logs = captureLogs()
        const { client } = yield* setup({ around: Effect.withTracer(tracer), primary: { reply: { text: "Roughly 11 m/s." } } }).pipe(Effect.provide(logs.layer))
        const { data, response } = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question }).withResponse()
        )
        expect(data.choices[0]?.message.content).toBe("Roughly 11 m/s.")
        expect(response.headers.get("x-llm-target")).toBe("primary")
        expect(response.headers.get("x-request-id")).toMatch(/^req_/)
        const stream = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, stream: true }))
        const text = yield* promise(async () => {
          let all = ""
          for await (const chunk of stream) all += chunk.choices[0]?.delta.content ?? ""
          return all
        })
        expect(text).toBe("Roughly 11 m/s.")
        expect(names.filter((name) => name === "http.server POST")).toHaveLength(2)
        yield* Effect.sleep("20 millis")
        expect(requestLines(logs.lines).map((l) => [l.message, l.annotations["target"], l.annotations["outcome"]])).toEqual([
          ["POST /v1/chat/completions 200", "primary", undefined],
          ["POST /v1/chat/completions 200", "primary", undefined]
        ])
      })
    )

    it.scoped("a bad request is a 400 in OpenAI's format, and a client that leaves is logged as 499", () =>
      Effect.gen(function* () {
        const { tracer } = yield* recordingTracer
        const logs = captureLogs()
        const { client, gateway, primary } = yield* setup({ around: Effect.withTracer(tracer), primary: { faults: [MockServer.stall] } }).pipe(
          Effect.provide(logs.layer)
        )
        const bad = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" })
        )
        expect(bad.status).toBe(400)
        expect(((yield* promise(() => bad.json())) as { error: { type: string } }).error.type).toBe("invalid_request_error")
        yield* abortOnceUpstream(client, primary)
        yield* Effect.sleep("50 millis")
        expect(requestLines(logs.lines).map((l) => [l.message, l.annotations["error"] ?? l.annotations["outcome"]])).toEqual([
          ["POST /v1/chat/completions 400", "invalid_request_error"],
          ["POST /v1/chat/completions 499", "client-closed"]
        ])
      })
    )
  })

  describe("what the gateway is started under", () => {
    it.scoped("pre-response handlers set around it apply to chat answers too, JSON and streamed", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          around: (start) =>
            Effect.locally(
              start,
              HttpApp.currentPreResponseHandlers,
              Option.some((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, "x-extra", "yes")))
            ),
          primary: { reply: { text: "Yes." } }
        })
        const { response } = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }).withResponse())
        expect(response.headers.get("x-extra")).toBe("yes")
        const streamed = yield* promise(() =>
          client.chat.completions.create({ model: "default", messages: question, stream: true }).withResponse()
        )
        expect(streamed.response.headers.get("x-extra")).toBe("yes")
        const text = yield* promise(async () => {
          let all = ""
          for await (const chunk of streamed.data) all += chunk.choices[0]?.delta.content ?? ""
          return all
        })
        expect(text).toBe("Yes.")
      })
    )

    it.scoped("started with interruption off (in a resource's acquisition, say), a client abort still cancels its request", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const { client, gateway, primary } = yield* setup({
          around: Effect.uninterruptible,
          primary: { faults: [MockServer.stall] },
          gateway: { maxConcurrent: 1, maxQueued: 0 }
        }).pipe(Effect.provide(logs.layer))
        yield* abortOnceUpstream(client, primary, "primary")
        yield* Effect.sleep("50 millis")
        expect(requestLines(logs.lines).map((l) => [l.message, l.annotations["outcome"]])).toEqual([
          ["POST /v1/chat/completions 499", "client-closed"]
        ])
        // its bulkhead permit came back: the next request is let in
        expect(yield* gateway.inFlight).toBe(0)
      })
    )

    it.scoped("a route of its own can upgrade to a WebSocket", () =>
      Effect.gen(function* () {
        const socketRoute = Effect.gen(function* () {
          const socket = yield* HttpServerRequest.upgrade
          const write = yield* socket.writer
          yield* Effect.fork(socket.runRaw(() => {}))
          yield* write("hello")
          yield* Effect.sleep("100 millis")
          return HttpServerResponse.empty()
        }).pipe(Effect.scoped, Effect.orDie)
        const { gateway } = yield* setup({ gateway: { routes: [{ path: "/ws", handler: socketRoute }] } })
        const message = yield* promise(
          () =>
            new Promise<string>((resolve, reject) => {
              const socket = new WebSocket(`${gateway.url.replace("http", "ws")}/ws`)
              socket.addEventListener("message", (event) => {
                resolve(String(event.data))
                socket.close()
              })
              socket.addEventListener("error", () => reject(new Error("the WebSocket failed")))
            })
        )
        expect(message).toBe("hello")
      })
    )
  })

  describe("the chat route's URL", () => {
    it("POST /v1/chat/completions, with or without a query string, is the lean path's, and with tracing on only without a client's trace context", () => {
      const request = (method: string, url: string, headers: Record<string, string> = {}) =>
        Object.assign(new Http.IncomingMessage(new Net.Socket()), { method, url, headers })
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions"), true)).toBe(true)
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions?trace=1"), true)).toBe(true)
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completionsx"), true)).toBe(false)
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions/"), true)).toBe(false)
      expect(Server.isLeanRoute(request("GET", "/v1/chat/completions"), true)).toBe(false)
      expect(Server.isLeanRoute(request("POST", "/v1/models"), true)).toBe(false)
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions", { traceparent }), true)).toBe(false)
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions", { traceparent }), false)).toBe(true)
      expect(Server.isLeanRoute(request("POST", "/v1/chat/completions", { b3: "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1" }), true)).toBe(false)
    })

    it.scoped("a client's trace context reaches the upstream call", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup({ primary: { reply: { text: "Yes." } } })
        const traceId = "0af7651916cd43dd8448eb211c80319c"
        const answered = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", traceparent: `00-${traceId}-b7ad6b7169203331-01` },
            body: JSON.stringify({ model: "default", messages: question })
          })
        )
        expect(answered.status).toBe(200)
        expect(primary.requests()[0]?.headers["traceparent"]).toContain(traceId)
      })
    )

    it.scoped("a query string is the same route; a longer path is not", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ primary: { reply: { text: "Yes." } } })
        const post = (path: string) =>
          promise(() =>
            fetch(`${gateway.url}${path}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "default", messages: question })
            })
          )
        const withQuery = yield* post("/v1/chat/completions?trace=1")
        expect(withQuery.status).toBe(200)
        expect(((yield* promise(() => withQuery.json())) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe("Yes.")
        const longer = yield* post("/v1/chat/completionsx")
        expect(longer.status).toBe(404)
        expect(((yield* promise(() => longer.json())) as { error: { code: string } }).error.code).toBe("unknown_url")
      })
    )
  })

  describe("shutdown", () => {
    it.scoped("drains: a slow request in flight completes; new connections are refused", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const { client, gateway } = yield* setup({
          primary: { reply: { text: "one two three four five six seven eight nine ten" }, tokenDelay: "30 millis" },
          gatewayScope: scope
        })
        const stream = yield* promise(() => client.chat.completions.create({ model: "default", messages: question, stream: true }))
        const iterator = stream[Symbol.asyncIterator]()
        const first = yield* promise(() => iterator.next())
        expect(first.done).toBe(false)

        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        while (!(yield* gateway.draining)) yield* Effect.sleep("5 millis")
        expect(yield* gateway.inFlight).toBe(1)
        const refused = yield* rejection(() => fetch(`${gateway.url}/readyz`))
        expect(String((refused as Error & { cause?: { code?: string } }).cause?.code)).toBe("ECONNREFUSED")

        const rest = yield* promise(async () => {
          let text = ""
          for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
            text += next.value.choices[0]?.delta.content ?? ""
          }
          return text
        })
        expect(`${first.value.choices[0]?.delta.content ?? ""}${rest}`).toBe("one two three four five six seven eight nine ten")
        yield* Fiber.join(closing).pipe(Effect.timeout("2 seconds"))
        expect(yield* gateway.inFlight).toBe(0)
      })
    )

    it.scoped("with a shutdownDelay, it goes on serving new connections, /readyz at 503 and /healthz at 200, then drains", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const { client, gateway } = yield* setup({ gateway: { shutdownDelay: "400 millis" }, gatewayScope: scope })
        const status = (path: string) => promise(() => fetch(`${gateway.url}${path}`).then((res) => res.status))
        expect(yield* status("/readyz")).toBe(200)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        while (!(yield* gateway.leaving)) yield* Effect.sleep("5 millis")
        // new connections (fetch opens one each) are served: a load balancer's probe sees 503 and takes it out
        expect([yield* status("/readyz"), yield* status("/healthz")]).toEqual([503, 200])
        const answer = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(answer.choices[0]?.message.content).toBe("Hello from the mock server.")
        expect(yield* gateway.draining).toBe(false)
        // then it drains, and refuses connections
        while (!(yield* gateway.draining)) yield* Effect.sleep("5 millis")
        const refused = yield* rejection(() => fetch(`${gateway.url}/readyz`))
        expect(String((refused as Error & { cause?: { code?: string } }).cause?.code)).toBe("ECONNREFUSED")
        yield* Fiber.join(closing).pipe(Effect.timeout("2 seconds"))
      })
    )

    it.scoped("with a shutdownDelay, Gateway.serve interrupted (as runMain does on SIGTERM) goes on serving, /readyz at 503, before it drains", () =>
      Effect.gen(function* () {
        const { router } = yield* setup()
        const listening = yield* Deferred.make<Gateway.Server>()
        // no signal of its own: its fiber interrupted is the process's signal, as NodeRuntime.runMain delivers it
        const serving = yield* Effect.fork(
          Gateway.serve({ router, port: 0, shutdownDelay: "400 millis", signals: [], onListening: (server) => Deferred.succeed(listening, server) })
        )
        const gateway = yield* Deferred.await(listening)
        const status = (path: string) => promise(() => fetch(`${gateway.url}${path}`).then((res) => res.status))
        const started = Date.now()
        const stopping = yield* Effect.fork(Fiber.interrupt(serving))
        while (!(yield* gateway.leaving) && Date.now() - started < 1_000) yield* Effect.sleep("5 millis")
        expect(yield* gateway.leaving).toBe(true)
        expect([yield* status("/readyz"), yield* status("/healthz")]).toEqual([503, 200])
        expect(yield* gateway.draining).toBe(false)
        yield* Fiber.join(stopping).pipe(Effect.timeout("2 seconds"))
        expect(Date.now() - started).toBeGreaterThanOrEqual(350)
      })
    )

    it.scoped("past the drain timeout, requests still in flight are cut and their upstream calls aborted", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const { client, primary } = yield* setup({
          primary: { faults: [MockServer.stall] },
          gateway: { drainTimeout: "200 millis" },
          gatewayScope: scope
        })
        const call = client.chat.completions.create({ model: "default", messages: question })
        const settled = call.then(
          () => "answered",
          () => "failed"
        )
        yield* MockServer.awaitRequests(primary, 1).pipe(Effect.timeout("2 seconds"))
        const started = Date.now()
        yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("2 seconds"))
        expect(Date.now() - started).toBeGreaterThanOrEqual(150)
        expect(yield* promise(() => settled)).toBe("failed")
        const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
      })
    )

    it.scoped("serve: runs until SIGTERM, logs its URL, serves, then drains and returns", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const listeners = [process.listenerCount("SIGTERM"), process.listenerCount("SIGINT")]
        const upstream = yield* MockServer.make({ reply: { text: "served" } })
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] } })
        const fiber = yield* Effect.fork(Gateway.serve({ router, port: 0 }).pipe(Effect.provide(logs.layer)))
        while (!logs.lines.some((l) => l.message.startsWith("gateway listening on "))) yield* Effect.sleep("5 millis")
        const url = logs.lines.find((l) => l.message.startsWith("gateway listening on "))!.message.slice(21)
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
        const answer = yield* promise(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(answer.choices[0]?.message.content).toBe("served")
        process.emit("SIGTERM")
        yield* Fiber.join(fiber).pipe(Effect.timeout("2 seconds"))
        expect(logs.lines.map((l) => l.message)).toContain("gateway received SIGTERM")
        expect(logs.lines.map((l) => l.message)).toContain("gateway stopped")
        // its handlers are gone, SIGINT's too: a later signal is no longer its (nor logged as received)
        expect([process.listenerCount("SIGTERM"), process.listenerCount("SIGINT")]).toEqual(listeners)
        yield* rejection(() => fetch(`${url}/healthz`))
      })
    )

    it.scoped("serve: a logger that throws on the signal's line costs the line, not the drain", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const throwing = Logger.make(({ message }) => {
          if (String(message).startsWith("gateway received")) throw new Error("the logger broke")
        })
        const upstream = yield* MockServer.make({ reply: { text: "served" } })
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] } })
        const fiber = yield* Effect.fork(
          Gateway.serve({ router, port: 0, signals: ["SIGUSR2"] }).pipe(Effect.provide(Layer.merge(logs.layer, Logger.add(throwing))))
        )
        while (!logs.lines.some((l) => l.message.startsWith("gateway listening on "))) yield* Effect.sleep("5 millis")
        process.emit("SIGUSR2")
        expect(Exit.isSuccess(yield* Fiber.await(fiber).pipe(Effect.timeout("2 seconds")))).toBe(true)
        expect(logs.lines.map((l) => l.message)).toContain("gateway stopped")
      })
    )
  })
})

describe("an exhausted chain's answer", () => {
  type Failed = RateLimited | Overloaded | ServerError | Rejected | InvalidRequest | ContentFiltered
  const who = (i: number) => ({ provider: `p${i}`, model: `m${i}` })
  const waitOf = (retryAfter: Duration.Duration | undefined) => (retryAfter === undefined ? {} : { retryAfter })
  const rateLimited = (i: number, retryAfter?: Duration.Duration) =>
    new RateLimited({ ...who(i), message: "slow down", status: 429, ...waitOf(retryAfter) })
  const overloaded = (i: number, retryAfter?: Duration.Duration) =>
    new Overloaded({ ...who(i), message: "busy", status: 503, ...waitOf(retryAfter) })
  const serverError = (i: number) => new ServerError({ ...who(i), message: "broke", status: 500 })
  const circuitOpen = (i: number, retryAfter?: Duration.Duration) =>
    new Rejected({ ...who(i), reason: "circuit-open", message: "circuit open", ...waitOf(retryAfter) })
  const bulkheadFull = (i: number) => new Rejected({ ...who(i), reason: "bulkhead-full", message: "full" })

  /** The gateway's answer when target `t<i>` failed with `errors[i]`. */
  const answer = (errors: ReadonlyArray<Failed>) =>
    Errors.fromChainError(
      new ChainExhausted({
        chain: "default",
        message: "exhausted",
        attempts: errors.map((error, i) => ({ target: `t${i}`, ...who(i), error, duration: Duration.millis(5) }))
      })
    )

  it("no target could give the JSON answer asked for: 400 unsupported_response_format, whatever else stood in the way", () => {
    const unsupported = (i: number) => new Rejected({ ...who(i), reason: "unsupported-format", message: "no JSON mode" })
    const schemaRefused = (i: number) => new InvalidRequest({ ...who(i), message: "Invalid schema for response_format", status: 400 })
    const tooSmall = (i: number) => new Rejected({ ...who(i), reason: "context-too-small", message: "small" })
    const refusedOnPolicy = (i: number) => new ContentFiltered({ ...who(i), message: "refused" })
    for (const errors of [[unsupported(0)], [schemaRefused(0), unsupported(1)], [tooSmall(0), schemaRefused(1)], [refusedOnPolicy(0), unsupported(1)]]) {
      expect(answer(errors)).toMatchObject({ status: 400, code: "unsupported_response_format", param: "response_format" })
    }
    expect(answer([schemaRefused(0)]).message).toBe(
      "No target of 'default' can answer in the requested response_format: t0 (InvalidRequest 400). p0 400: Invalid schema for response_format"
    )
    // a target that failed for itself, or only windows too small, say otherwise
    expect(answer([schemaRefused(0), serverError(1)])).toMatchObject({ status: 503, code: "chain_exhausted" })
    expect(answer([tooSmall(0)])).toMatchObject({ status: 400, code: "context_length_exceeded" })
  })

  it("a chain its total deadline ended is a 504 deadline_exceeded, whatever its attempts asked; the request's own faults stay 400s", () => {
    const late = (errors: ReadonlyArray<Failed>) =>
      Errors.fromChainError(
        new ChainExhausted({
          chain: "default",
          message: "exhausted; the request's deadline of 2m passed",
          attempts: errors.map((error, i) => ({ target: `t${i}`, ...who(i), error, duration: Duration.millis(5) })),
          deadlinePassed: true
        })
      )
    expect(late([serverError(0), rateLimited(1, Duration.seconds(5))])).toMatchObject({ status: 504, code: "deadline_exceeded" })
    expect(late([rateLimited(0, Duration.seconds(5))]).headers?.["retry-after"]).toBeUndefined()
    expect(late([])).toMatchObject({ status: 504, message: "No target of 'default' answered within the chain's total deadline: no target could be tried." })
    const tooSmall = new Rejected({ ...who(0), reason: "context-too-small", message: "small" })
    expect(late([tooSmall])).toMatchObject({ status: 400, code: "context_length_exceeded" })
  })

  it("lists each target once, in the order the chain tried them, with its last failure", () => {
    const attempts = [circuitOpen(0), serverError(1), rateLimited(0)].map((error) => ({
      target: error.provider === "p0" ? "t0" : "t1",
      ...who(error.provider === "p0" ? 0 : 1),
      error,
      duration: Duration.millis(5)
    }))
    const failure = Errors.fromChainError(new ChainExhausted({ chain: "default", message: "exhausted", attempts }))
    // t0 was retried after t1 failed (a breaker's probe, a hedge): still listed first, as the log's tried= has it
    expect(failure.message).toBe("Every target of 'default' failed: t0 (RateLimited 429), t1 (ServerError 500).")
  })

  it("an isolated target (an infinite wait) is a 503 without Retry-After", () => {
    const failure = answer([circuitOpen(0, Duration.infinity)])
    expect(failure).toMatchObject({ status: 503, code: "chain_exhausted", message: "Every target of 'default' failed: t0 (Rejected circuit-open)." })
    expect(failure.headers?.["retry-after"]).toBeUndefined()
    expect(JSON.stringify(Errors.body(failure))).not.toMatch(/retryAfterSeconds|Infinity|NaN/)
  })

  it("a half-open rejection (no wait left) is a 503 without Retry-After", () => {
    const failure = answer([circuitOpen(0, Duration.zero), circuitOpen(1, Duration.seconds(20))])
    expect(failure.status).toBe(503)
    expect(failure.headers?.["retry-after"]).toBeUndefined()
  })

  it("circuits that reopen: a 503 whose Retry-After is the shortest wait, even beside a rate limit", () => {
    const failure = answer([circuitOpen(0, Duration.millis(24_200)), rateLimited(1, Duration.seconds(40))])
    expect(failure).toMatchObject({ status: 503, code: "chain_exhausted" })
    expect(failure.headers?.["retry-after"]).toBe("25")
    expect(failure.message).toBe("Every target of 'default' failed: t0 (Rejected circuit-open), t1 (RateLimited 429). Retry after 25 seconds.")
    expect(answer([circuitOpen(0, Duration.seconds(25)), serverError(1)]).headers?.["retry-after"]).toBeUndefined()
  })

  it("only targets asking to wait make a 429: rate limits (the provider's or the router's own) and overloads with Retry-After", () => {
    const limited = answer([rateLimited(0), overloaded(1, Duration.millis(2_500))])
    expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
    expect(limited.headers?.["retry-after"]).toBe("3")
    expect(limited.message).toContain("is rate limited")
    expect(answer([rateLimited(0, Duration.zero)]).headers?.["retry-after"]).toBe("1")
    expect(answer([rateLimited(0), overloaded(1)]).status).toBe(503)
    expect(answer([rateLimited(0), bulkheadFull(1)]).status).toBe(503)
    const throttled = new Rejected({ ...who(0), reason: "rate-limit", message: "local limit", retryAfter: Duration.seconds(4) })
    expect(answer([throttled]).headers?.["retry-after"]).toBe("4")
    // a breaker its server's Retry-After holds open asked to wait too; one opened by failures did not
    const held = new Rejected({ ...who(0), reason: "circuit-open", message: "circuit open", retryAfter: Duration.seconds(9), serverAsked: true })
    expect(answer([held, rateLimited(1)])).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
    expect(answer([held]).headers?.["retry-after"]).toBe("9")
    expect(answer([circuitOpen(0, Duration.seconds(9))]).status).toBe(503)
  })

  const wait = fc.oneof(
    fc.constant(undefined),
    fc.constant(Duration.zero),
    fc.constant(Duration.infinity),
    fc.integer({ min: 1, max: 10_000_000 }).map(Duration.millis)
  )
  const failed = (i: number): fc.Arbitrary<Failed> =>
    fc.oneof(
      wait.map((w) => rateLimited(i, w)),
      wait.map((w) => overloaded(i, w)),
      wait.map((w) => circuitOpen(i, w)),
      wait.map((w) => new Rejected({ ...who(i), reason: "circuit-open", message: "held open", serverAsked: true, ...waitOf(w) })),
      fc.constant(serverError(i)),
      fc.constant(bulkheadFull(i))
    )
  const failures = fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => failed(i))))

  const usable = (error: Failed) => {
    const retryAfter = "retryAfter" in error ? error.retryAfter : undefined
    if (retryAfter === undefined || !Duration.isFinite(retryAfter)) return undefined
    const millis = Duration.toMillis(retryAfter)
    return millis > 0 ? millis : undefined
  }
  const asksToWait = (error: Failed) =>
    error._tag === "RateLimited" || (error._tag === "Overloaded" && error.retryAfter !== undefined) ||
    (error._tag === "Rejected" && error.serverAsked === true)

  it.prop(
    "429 only when every provider asked to wait; Retry-After a whole number of seconds >= 1 or absent; never Infinity or NaN",
    { errors: failures },
    ({ errors }) => {
      const failure = answer(errors)
      const header = failure.headers?.["retry-after"]
      const waits = errors.map(usable)
      const known = waits.filter((w): w is number => w !== undefined)
      if (errors.every(asksToWait)) {
        expect(failure.status).toBe(429)
        expect(header).toBe(String(known.length === 0 ? 1 : Math.ceil(Math.min(...known) / 1000)))
      } else {
        expect(failure.status).toBe(503)
        expect(header).toBe(known.length === errors.length ? String(Math.ceil(Math.min(...known) / 1000)) : undefined)
      }
      if (header !== undefined) expect(header).toMatch(/^[1-9]\d*$/)
      const text = `${failure.message} ${JSON.stringify(Errors.body(failure))} ${JSON.stringify(failure.headers)}`
      expect(text).not.toMatch(/Infinity|NaN|"retryAfterSeconds":null/)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("writing a whole answer on Node's response", () => {
  it("a head Node refuses becomes a 500 in OpenAI's format, noted in the request's log", async () => {
    const log: App.RequestLog = {}
    const statuses: Array<number> = []
    const server = Http.createServer((_request, response) => {
      // as the server sets it while draining: kept; the answer's own headers before the refused one: gone
      response.setHeader("connection", "close")
      const headers = { "x-llm-chain": "default", "x-bad": "line\nbreak" }
      statuses.push(App.writeWhole(response, 200, headers, new TextEncoder().encode("{}"), log))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as Net.AddressInfo
      const answer = await fetch(`http://127.0.0.1:${port}/`)
      expect(answer.status).toBe(500)
      expect(answer.headers.get("x-llm-chain")).toBeNull()
      expect(answer.headers.get("connection")).toBe("close")
      expect(((await answer.json()) as { error: { type: string } }).error.type).toBe("server_error")
      expect(statuses).toEqual([500])
      expect(log.error).toBe("internal_error")
      expect(log.outcome).toMatch(/invalid character/i)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it("keeps the answer's CORS headers on that 500, so an allowed page can read it", async () => {
    const server = Http.createServer((_request, response) => {
      const headers = {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-expose-headers": "x-request-id",
        vary: "Origin",
        "x-bad": "line\nbreak"
      }
      App.writeWhole(response, 200, headers, new TextEncoder().encode("{}"), {})
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as Net.AddressInfo
      const answer = await fetch(`http://127.0.0.1:${port}/`)
      expect(answer.status).toBe(500)
      expect(answer.headers.get("access-control-allow-origin")).toBe("https://app.example.com")
      expect(answer.headers.get("access-control-expose-headers")).toBe("x-request-id")
      expect(answer.headers.get("vary")).toBe("Origin")
      expect(answer.headers.get("x-bad")).toBeNull()
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
