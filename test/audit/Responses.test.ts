/**
 * Audit of the Responses route (`POST /v1/responses`) as a client of the
 * official `openai` SDK, the Agents SDK or a Codex-style loop meets it: a
 * stateless client's history sent back verbatim.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import OpenAI from "openai"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"

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
