/**
 * The Messages API route as an audit reads it: every error path the chat
 * route has comes out on `/v1/messages` in Anthropic's JSON, with the
 * status the gateway always gives it (so Anthropic's SDK raises its class
 * for it), the request id and the `x-llm-*` headers kept; and what a
 * coding agent such as Claude Code sends goes through. Real HTTP on
 * 127.0.0.1, upstreams from `MockServer`.
 */
import Anthropic from "@anthropic-ai/sdk"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"
import { send } from "../support/raw.js"

const ask = { model: "default", max_tokens: 64, messages: [{ role: "user" as const, content: "Hello?" }] }

/** One OpenAI-format upstream behind the chain `default`, and the gateway over it (its lines kept). */
const setup = (upstream: MockServer.Options = {}, options: Omit<Gateway.Options, "router"> = {}) =>
  Effect.gen(function* () {
    const primary = yield* MockServer.make(upstream)
    const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make("sk-upstream"), baseUrl: primary.baseUrls.openai })
    const router = yield* Router.make({ targets: { primary: { model: gpt } }, chains: { default: ["primary"] }, policy: { retry: { maxAttempts: 1 } } })
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, message }) => lines.push(`${String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`))
    const gateway = yield* Gateway.make({ router, port: 0, ...options }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    const client = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
    return { primary, gateway, client, lines }
  })

const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => {
        throw new Error("expected the call to fail")
      },
      (error: unknown) => error as InstanceType<typeof Anthropic.APIError>
    )
  )

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("audit: the Messages API's errors and clients", (it) => {
  describe("every error path in Anthropic's JSON", () => {
    it.scoped("the gateway's bulkhead full: 429 rate_limit_error with Retry-After, the SDK's RateLimitError", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({ faults: [MockServer.stall] }, { maxConcurrent: 1, maxQueued: 0 })
        const controller = new AbortController()
        client.messages.create(ask, { signal: controller.signal }).catch(() => undefined)
        yield* MockServer.awaitRequests(primary, 1).pipe(Effect.timeout("2 seconds"))
        const error = yield* rejection(() => client.messages.create(ask))
        expect(error).toBeInstanceOf(Anthropic.RateLimitError)
        expect(error.type).toBe("rate_limit_error")
        expect(error.headers?.get("retry-after")).toBe("1")
        expect(error.headers?.get("x-request-id")).toMatch(/^req_/)
        controller.abort()
      })
    )

    it.scoped("every provider rate limited: 429 rate_limit_error with the chain's headers", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({ faults: [MockServer.status(429, { retryAfter: { seconds: 7 } })] })
        const error = yield* rejection(() => client.messages.create(ask))
        expect(error).toBeInstanceOf(Anthropic.RateLimitError)
        expect(error.type).toBe("rate_limit_error")
        expect(error.headers?.get("retry-after")).toBe("7")
        expect(error.headers?.get("x-llm-chain")).toBe("default")
      })
    )

    it.scoped("the gateway's requestTimeout: 504 timeout_error whole; an error event of timeout_error once a stream started", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup(
          { faults: [MockServer.stall], reply: { text: "one two three four five six seven eight" } },
          { requestTimeout: "300 millis" }
        )
        const whole = yield* rejection(() => client.messages.create(ask))
        expect(whole.status).toBe(504)
        expect(whole.type).toBe("timeout_error")
        primary.enqueue(MockServer.stallAfter(2))
        const stream = client.messages.stream(ask)
        const error = yield* rejection(() => stream.finalMessage())
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect(error.type).toBe("timeout_error")
        expect(error.message).toContain("within the gateway's limit")
      })
    )

    it.scoped("a body not declared JSON: 415 invalid_request_error; a page's Host on a keyless loopback gateway: 403 permission_error", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup()
        const text = yield* send(gateway.url, "POST", "/v1/messages", { "content-type": "text/plain" }, JSON.stringify(ask))
        expect([text.status, JSON.parse(text.text)]).toEqual([415, { type: "error", error: { type: "invalid_request_error", message: expect.any(String) } }])
        const rebound = yield* send(
          gateway.url,
          "POST",
          "/v1/messages",
          { "content-type": "application/json", host: `attacker.example:${gateway.port}` },
          JSON.stringify(ask)
        )
        expect(rebound.status).toBe(403)
        expect(JSON.parse(rebound.text)).toMatchObject({ type: "error", error: { type: "permission_error" } })
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("a provider's 400: the request's own fault, 400 invalid_request_error; its log line names the error", () =>
      Effect.gen(function* () {
        const { client, lines } = yield* setup({ faults: [MockServer.status(400, { message: "bad schema" })] })
        const error = yield* rejection(() => client.messages.create(ask))
        expect(error).toBeInstanceOf(Anthropic.BadRequestError)
        expect(error.type).toBe("invalid_request_error")
        expect(lines.find((line) => line.startsWith("POST /v1/messages 400"))).toContain('"error":"invalid_request"')
      })
    )
  })

  describe("what a coding agent sends", () => {
    it.scoped("Claude Code's shape: system blocks with cache_control, custom tools, metadata.user_id, thinking, a stream, the key as x-api-key", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup({}, { keys: [Redacted.make("gw-key")] })
        const client = new Anthropic({
          baseURL: gateway.url,
          apiKey: null,
          defaultHeaders: { "x-api-key": "gw-key", "anthropic-beta": "interleaved-thinking-2025-05-14" },
          maxRetries: 0
        })
        const final = yield* Effect.promise(() =>
          client.messages
            .stream({
              model: "default",
              max_tokens: 32_000,
              system: [
                { type: "text", text: "You are Claude Code." },
                { type: "text", text: "Project notes.", cache_control: { type: "ephemeral" } }
              ],
              messages: [{ role: "user", content: [{ type: "text", text: "List the files.", cache_control: { type: "ephemeral" } }] }],
              tools: [
                {
                  name: "Bash",
                  description: "Run a command",
                  input_schema: { type: "object", properties: { command: { type: "string" } }, required: ["command"] }
                }
              ],
              metadata: { user_id: "user_abc_account_1_session_2" },
              thinking: { type: "enabled", budget_tokens: 4_000 },
              temperature: 1
            })
            .finalMessage()
        )
        expect(final.content).toEqual([{ type: "text", text: "Hello from the mock server." }])
        // the path with a query, as Claude Code asks it (`/v1/messages?beta=true`): the same route, the same errors
        const headers = { "content-type": "application/json", "x-api-key": "gw-key" }
        const beta = yield* send(gateway.url, "POST", "/v1/messages?beta=true", headers, JSON.stringify(ask))
        expect([beta.status, JSON.parse(beta.text).type]).toEqual([200, "message"])
        const betaError = yield* send(gateway.url, "POST", "/v1/messages?beta=true", headers, JSON.stringify({ ...ask, model: "nope" }))
        expect([betaError.status, JSON.parse(betaError.text).error.type]).toEqual([404, "not_found_error"])
        expect(primary.requests()[0]?.body).toMatchObject({
          messages: [
            { role: "system", content: "You are Claude Code.\n\nProject notes." },
            { role: "user", content: [{ type: "text", text: "List the files." }] }
          ],
          tools: [{ type: "function", function: { name: "Bash" } }]
        })
        // the key never reaches the provider
        expect(JSON.stringify(primary.requests()[0]?.headers)).not.toContain("gw-key")
      })
    )
  })
})
