/**
 * Audit of the Responses route (`POST /v1/responses`) as a client of the
 * official `openai` SDK, the Agents SDK or a Codex-style loop meets it: a
 * stateless client's history sent back verbatim, and the stream's send
 * timeout on this package's own server.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, LogLevel, Redacted, TestClock } from "effect"
import OpenAI from "openai"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"
import { turns } from "../support/clock.js"
import { rawPost, rawUpstream, sse } from "../support/raw.js"

const setup = (options: MockServer.Options = {}) =>
  Effect.gen(function* () {
    const upstream = yield* MockServer.make(options)
    const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make("sk-up"), baseUrl: upstream.baseUrls.openai })
    const router = yield* Router.make({ targets: { primary: { model: gpt } }, chains: { default: ["primary"] }, policy: { retry: { maxAttempts: 1 } } })
    const gateway = yield* Gateway.make({ router, port: 0 })
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
    return { upstream, gateway, client }
  })

describe("Responses route: a stateless client's history", () => {
  it.scoped("reasoning items sent back verbatim (store: false, include reasoning.encrypted_content) are dropped, not refused", () =>
    Effect.gen(function* () {
      const { client, upstream } = yield* setup({ reply: { text: "Still 21 degrees." } })
      const response = yield* Effect.promise(() =>
        client.responses.create({
          model: "default",
          store: false,
          include: ["reasoning.encrypted_content"],
          input: [
            { role: "user", content: "Weather in Paris?" },
            // a previous output, as OpenAI's reasoning models answer it, sent back as the docs ask
            {
              type: "reasoning",
              id: "rs_1",
              summary: [{ type: "summary_text", text: "The user wants the weather." }],
              encrypted_content: "gAAAAABopaque=="
            },
            { type: "function_call", id: "fc_1", call_id: "call_1", name: "weather", arguments: '{"city":"Paris"}', status: "completed" },
            { type: "function_call_output", call_id: "call_1", output: '{"celsius":21}' },
            // an empty reasoning item, as some models send before a message
            { type: "reasoning", id: "rs_2", summary: [] },
            { type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: "21 degrees.", annotations: [] }] },
            { role: "user", content: "And now?" }
          ],
          tools: [{ type: "function", name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }]
        })
      )
      expect(response.output_text).toBe("Still 21 degrees.")
      expect((upstream.requests()[0]?.body as { messages: unknown }).messages).toEqual([
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }]
        },
        { role: "tool", tool_call_id: "call_1", content: '{"celsius":21}' },
        { role: "assistant", content: "21 degrees." },
        { role: "user", content: "And now?" }
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("Responses route: sendTimeout", () => {
  it.scoped("a client that stops reading a Responses stream has it closed after the send timeout, and the line says client-stalled", () =>
    Effect.gen(function* () {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: "gpt-4.1-mini",
        choices: [{ index: 0, delta, finish_reason: finish }]
      })
      const text = "x".repeat(8192)
      const body = sse(chunk({ role: "assistant", content: "" }), ...Array.from({ length: 3000 }, () => chunk({ content: text })), chunk({}, "stop"), "[DONE]")
      const { baseUrl } = yield* rawUpstream(() => ({ body }))
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push(`${Array.isArray(message) ? message.join(" ") : String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
      })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const gateway = yield* Gateway.make({ router, port: 0, sendTimeout: "60 seconds" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const request = JSON.stringify({ model: "default", stream: true, input: "hi" })
      const socket = yield* rawPost(gateway.port, "/v1/responses", `content-length: ${Buffer.byteLength(request)}\r\n`, request, { paused: true })
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
      yield* turns(1500)
      expect(lines.filter((line) => line.includes("POST /v1/responses"))).toEqual([])
      yield* TestClock.adjust(Duration.seconds(59))
      yield* turns(20)
      expect(lines.filter((line) => line.includes("POST /v1/responses"))).toEqual([])
      yield* TestClock.adjust(Duration.seconds(1))
      yield* turns(50)
      const line = lines.find((line) => line.includes("POST /v1/responses 200"))
      expect(line).toBeDefined()
      expect(line).toContain('"outcome":"client-stalled"')
      socket.resume()
      yield* Effect.promise(() => closed)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.All), Effect.provide(NodeHttpClient.layerUndici)))
})
