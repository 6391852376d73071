/**
 * The gateway's Responses API (`POST /v1/responses`) as a client sees it:
 * started on 127.0.0.1 (port 0) over a router of real adapters (OpenAI and
 * Anthropic) pointed at mock upstream servers, and driven by the official
 * `openai` npm client (`responses.create`, `.stream`, `.parse`). Covers
 * whole and streamed answers, tool calls both ways, structured outputs,
 * failover, the fields a stateless gateway refuses, and a stream that
 * fails mid-way.
 */
import { HttpMiddleware, type HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as Http from "node:http"
import { describe, expect, it, layer } from "@effect/vitest"
import { Arbitrary, Effect, Either, FastCheck, Logger, Redacted, Schedule } from "effect"
import OpenAI from "openai"
import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator"
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses"
import * as Errors from "../src/gateway/internal/errors.js"
import { ResponseEncoder } from "../src/gateway/internal/responsesResponse.js"
import type { Echo } from "../src/gateway/internal/responsesRequest.js"
import * as ResponsesRequest from "../src/gateway/internal/responsesRequest.js"
import * as Tokens from "../src/llm/Tokens.js"
import { ChatChunk, Usage } from "../src/llm/Chat.js"
import { ContentFiltered } from "../src/llm/ProviderError.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { allEvents as events, rejection } from "./support/client.js"
import * as Upstreams from "./support/upstreams.js"

const prompt = "What is the airspeed velocity of an unladen swallow?"

/** Two upstreams (OpenAI's wire format, then Anthropic's), the chain `default` over them, the gateway, and OpenAI's SDK. */
const setup = (options: Upstreams.Options = {}) =>
  Effect.map(Upstreams.make("anthropic", options), (made) => ({
    ...made,
    client: new OpenAI({ baseURL: `${made.gateway.url}/v1`, apiKey: options.apiKey ?? "unused", maxRetries: 0, timeout: 10_000 })
  }))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** The raw SSE body of a streamed response of the chain `default`. */
const rawStream = (gateway: Gateway.Server, body: Record<string, unknown>) =>
  promise(() =>
    fetch(`${gateway.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "default", input: prompt, stream: true, ...body })
    }).then((res) => res.text())
  )

const weatherTool = {
  type: "function" as const,
  name: "weather",
  description: "The weather now in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true
}

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Gateway: the Responses API", (it) => {
  describe("whole answers", () => {
    it.scoped("a response object as OpenAI sends it, the client's output_text, usage, and the router's headers", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "About 11 metres a second.", usage: { inputTokens: 12, outputTokens: 6 } } }
        })
        const { data, response } = yield* promise(() =>
          client.responses
            .create({
              model: "default",
              instructions: "Be brief.",
              input: prompt,
              max_output_tokens: 40,
              temperature: 0.3,
              top_p: 0.9,
              metadata: { team: "birds" },
              user: "user-1",
              store: true
            })
            .withResponse()
        )
        expect(data.object).toBe("response")
        expect(data.id).toMatch(/^resp_[0-9a-f]{32}$/)
        expect(data.status).toBe("completed")
        expect(data.model).toBe("gpt-4.1-mini")
        expect(data.output_text).toBe("About 11 metres a second.")
        expect(data.output).toEqual([
          {
            id: expect.stringMatching(/^msg_/),
            type: "message",
            status: "completed",
            role: "assistant",
            content: [{ type: "output_text", text: "About 11 metres a second.", annotations: [], logprobs: [] }]
          }
        ])
        expect(data.usage).toEqual({
          input_tokens: 12,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 6,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 18
        })
        // the request's settings, echoed; nothing is stored
        expect(data).toMatchObject({
          instructions: "Be brief.",
          max_output_tokens: 40,
          temperature: 0.3,
          top_p: 0.9,
          metadata: { team: "birds" },
          user: "user-1",
          store: false,
          error: null,
          incomplete_details: null,
          tools: [],
          tool_choice: "auto",
          text: { format: { type: "text" } }
        })
        expect(response.headers.get("x-llm-chain")).toBe("default")
        expect(response.headers.get("x-llm-target")).toBe("primary")
        expect(response.headers.get("x-llm-fallbacks")).toBe("0")
        expect(response.headers.get("x-request-id")).toMatch(/^req_/)
        expect(primary.requests()[0]?.body).toMatchObject({
          model: "gpt-4.1-mini",
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: prompt }
          ],
          temperature: 0.3,
          top_p: 0.9,
          max_tokens: 40
        })
      })
    )

    it.scoped("input items: messages of every role, text parts and an image reach the provider as chat messages", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        yield* promise(() =>
          client.responses.create({
            model: "primary",
            input: [
              { role: "developer", content: "Referee." },
              {
                role: "user",
                content: [
                  { type: "input_text", text: "What is this?" },
                  { type: "input_image", image_url: "https://example.com/sky.png", detail: "high" }
                ]
              },
              // an earlier answer's output item, sent back as it came
              { type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: "A sky.", annotations: [] }] },
              { type: "message", role: "user", content: "Sure?" }
            ]
          })
        )
        expect((primary.requests()[0]?.body as { messages: unknown }).messages).toEqual([
          { role: "system", content: "Referee." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "https://example.com/sky.png", detail: "high" } }
            ]
          },
          { role: "assistant", content: "A sky." },
          { role: "user", content: "Sure?" }
        ])
      })
    )

    it.scoped("a length finish is an incomplete response: incomplete_details.reason max_output_tokens", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({ primary: { reply: { text: "It depends", finishReason: "length" } } })
        const data = yield* promise(() => client.responses.create({ model: "default", input: prompt, max_output_tokens: 2 }))
        expect(data.status).toBe("incomplete")
        expect(data.incomplete_details).toEqual({ reason: "max_output_tokens" })
        expect(data.output[0]).toMatchObject({ type: "message", status: "incomplete" })
        expect(data.output_text).toBe("It depends")
      })
    )
  })

  describe("streams", () => {
    it.scoped("the events OpenAI sends, in order, numbered; the stream helper's deltas and finalResponse()", () =>
      Effect.gen(function* () {
        const text = "It depends on the swallow."
        const { client } = yield* setup({ primary: { reply: { text, usage: { inputTokens: 9, outputTokens: 5 } } } })
        const { data: stream, response } = yield* promise(() =>
          client.responses.create({ model: "default", input: prompt, stream: true }).withResponse()
        )
        expect(response.headers.get("content-type")).toContain("text/event-stream")
        expect(response.headers.get("x-llm-target")).toBe("primary")
        const seen = yield* events(stream)
        expect(seen.map((e) => e.sequence_number)).toEqual(seen.map((_, i) => i))
        const types = seen.map((e) => e.type)
        const deltas = seen.flatMap((e) => (e.type === "response.output_text.delta" ? [e] : []))
        expect(types).toEqual([
          "response.created",
          "response.in_progress",
          "response.output_item.added",
          "response.content_part.added",
          ...deltas.map(() => "response.output_text.delta"),
          "response.output_text.done",
          "response.content_part.done",
          "response.output_item.done",
          "response.completed"
        ])
        expect(deltas.length).toBeGreaterThan(1)
        expect(deltas.map((e) => e.delta).join("")).toBe(text)
        const added = seen[2]
        expect(added?.type === "response.output_item.added" && added.item).toMatchObject({ type: "message", status: "in_progress", content: [] })
        const itemId = added?.type === "response.output_item.added" ? added.item.id : undefined
        expect(deltas.every((e) => e.item_id === itemId && e.output_index === 0 && e.content_index === 0)).toBe(true)
        const created = seen[0]
        expect(created?.type === "response.created" && created.response).toMatchObject({ status: "in_progress", output: [], usage: null })
        const completed = seen.at(-1)
        expect(completed?.type === "response.completed" && completed.response).toMatchObject({
          status: "completed",
          id: created?.type === "response.created" ? created.response.id : "",
          output: [{ id: itemId, type: "message", status: "completed", content: [{ type: "output_text", text }] }],
          usage: { input_tokens: 9, output_tokens: 5, total_tokens: 14 }
        })

        // the client's stream helper accumulates the same answer
        const helper = client.responses.stream({ model: "default", input: prompt })
        const collected: Array<string> = []
        helper.on("response.output_text.delta", (event) => collected.push(event.delta))
        const final = yield* promise(() => helper.finalResponse())
        expect(collected.join("")).toBe(text)
        expect(final.output_text).toBe(text)
        expect(final.status).toBe("completed")
      })
    )

    it.scoped("a length finish ends the stream with response.incomplete", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({ primary: { reply: { text: "It depends", finishReason: "length" } } })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true })))
        const last = seen.at(-1)
        expect(last?.type).toBe("response.incomplete")
        expect(last?.type === "response.incomplete" && last.response).toMatchObject({
          status: "incomplete",
          incomplete_details: { reason: "max_output_tokens" },
          output: [{ type: "message", status: "incomplete" }]
        })
        expect(seen.some((e) => e.type === "response.completed")).toBe(false)
      })
    )

    it.scoped("a stream that fails after content ends with an error event and response.failed, never response.completed", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({
          primary: { faults: [MockServer.resetAfter(3)], reply: { text: "one two three four five six" } }
        })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true })))
        expect(seen.some((e) => e.type === "response.output_text.delta")).toBe(true)
        const [error, failed] = seen.slice(-2)
        expect(error).toMatchObject({ type: "error", code: "stream_interrupted", param: null })
        expect(error?.type === "error" && error.message).toContain("failed after content was sent")
        expect(failed?.type).toBe("response.failed")
        expect(failed?.type === "response.failed" && failed.response).toMatchObject({
          status: "failed",
          error: { code: "server_error", message: expect.stringContaining("failed after content was sent") },
          output: [{ type: "message", status: "incomplete" }]
        })
        expect(seen.some((e) => e.type === "response.completed")).toBe(false)
        expect(seen.map((e) => e.sequence_number)).toEqual(seen.map((_, i) => i))
        // the wire: each event named, its data typed the same
        primary.enqueue(MockServer.resetAfter(3))
        const raw = yield* rawStream(gateway, {})
        const frames = raw.split("\n\n").filter((f) => f.length > 0)
        for (const frame of frames) {
          const [event, data] = frame.split("\n")
          expect(JSON.parse(data!.slice("data: ".length)).type).toBe(event!.slice("event: ".length))
        }
        expect(frames.at(-1)).toMatch(/^event: response\.failed\n/)
      })
    )
  })

  describe("stops on content policy", () => {
    it.scoped("a provider's stop after some text: a 200, incomplete for content_filter, the text so far; streamed the same", () =>
      Effect.gen(function* () {
        const { client, secondary } = yield* setup({
          primary: { reply: { text: "partial text", finishReason: "content_filter", usage: { inputTokens: 12, outputTokens: 2 } } }
        })
        const { data, response } = yield* promise(() => client.responses.create({ model: "default", input: prompt }).withResponse())
        expect(response.status).toBe(200)
        expect(response.headers.get("x-llm-provider")).toBe("openai")
        expect(data).toMatchObject({ status: "incomplete", incomplete_details: { reason: "content_filter" }, output_text: "partial text" })
        expect(data.usage).toMatchObject({ input_tokens: 12, output_tokens: 2 })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true })))
        const last = seen.at(-1)
        expect(last?.type).toBe("response.incomplete")
        expect(last?.type === "response.incomplete" && last.response).toMatchObject({
          incomplete_details: { reason: "content_filter" },
          output: [{ type: "message", content: [{ type: "output_text", text: "partial text" }] }]
        })
        expect(seen.some((e) => e.type === "error" || e.type === "response.failed")).toBe(false)
        expect(secondary.count()).toBe(0)
      })
    )

    it.scoped("a model's refusal: a refusal part of the message, the response completed; streamed as refusal events", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        const refusal = "I'm sorry, I can't help with that."
        const usage = { prompt_tokens: 9, completion_tokens: 8, total_tokens: 17 }
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
        const data = yield* promise(() => client.responses.create({ model: "default", input: prompt }))
        expect(data.status).toBe("completed")
        expect(data.output).toMatchObject([{ type: "message", status: "completed", content: [{ type: "refusal", refusal }] }])
        expect(data.output_text).toBe("")
        const chunk = (delta: unknown, finish: string | null = null) =>
          `data: ${JSON.stringify({ id: "u", object: "chat.completion.chunk", created: 1, model: "gpt-4.1-mini", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
        primary.enqueue(
          MockServer.status(200, {
            body: chunk({ role: "assistant", content: null, refusal: "" }) + chunk({ refusal: "I'm sorry, " }) +
              chunk({ refusal: "I can't help with that." }) + chunk({}, "stop") + "data: [DONE]\n\n"
          })
        )
        const stream = client.responses.stream({ model: "default", input: prompt })
        const types: Array<string> = []
        stream.on("event", (event) => types.push(event.type))
        const final = yield* promise(() => stream.finalResponse())
        expect(final.status).toBe("completed")
        expect(final.output).toMatchObject([{ type: "message", status: "completed", content: [{ type: "refusal", refusal }] }])
        expect(types).toEqual([
          "response.created",
          "response.in_progress",
          "response.output_item.added",
          "response.content_part.added",
          "response.refusal.delta",
          "response.refusal.done",
          "response.content_part.done",
          "response.output_item.done",
          "response.completed"
        ])
      })
    )
  })

  describe("tool calls", () => {
    it.scoped("a function_call item, then function_call_output input: the round trip reaches the provider as chat tool messages", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "", toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const first = yield* promise(() =>
          client.responses.create({
            model: "primary",
            input: "Weather in Paris?",
            tools: [weatherTool],
            tool_choice: { type: "function", name: "weather" },
            parallel_tool_calls: false
          })
        )
        expect(first.status).toBe("completed")
        expect(first.output).toEqual([
          {
            id: expect.stringMatching(/^fc_/),
            type: "function_call",
            status: "completed",
            call_id: "call_1",
            name: "weather",
            arguments: '{"city":"Paris"}'
          }
        ])
        expect(first.output_text).toBe("")
        expect(first.tools).toEqual([weatherTool])
        expect(first.tool_choice).toEqual({ type: "function", name: "weather" })
        expect(primary.requests()[0]?.body).toMatchObject({
          tools: [{ type: "function", function: { name: "weather", strict: true, parameters: weatherTool.parameters } }],
          tool_choice: { type: "function", function: { name: "weather" } },
          parallel_tool_calls: false
        })

        primary.setReply({ text: "Sunny, 21 degrees." })
        const second = yield* promise(() =>
          client.responses.create({
            model: "primary",
            input: [
              { role: "user", content: "Weather in Paris?" },
              ...first.output.flatMap((item) => (item.type === "function_call" ? [item] : [])),
              { type: "function_call_output", call_id: "call_1", output: '{"celsius":21}' }
            ],
            tools: [weatherTool]
          })
        )
        expect(second.output_text).toBe("Sunny, 21 degrees.")
        expect((primary.requests()[1]?.body as { messages: unknown }).messages).toEqual([
          { role: "user", content: "Weather in Paris?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }]
          },
          { role: "tool", tool_call_id: "call_1", content: '{"celsius":21}' }
        ])
      })
    )

    it.scoped("streamed: a function_call item per call, arguments as deltas, each closed before the next opens", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: {
            reply: {
              text: "",
              toolCalls: [
                { id: "call_1", name: "weather", arguments: { city: "Paris" } },
                { id: "call_2", name: "weather", arguments: { city: "Rome" } }
              ]
            }
          }
        })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "primary", input: "Paris and Rome?", tools: [weatherTool], stream: true })))
        const types = seen.map((e) => e.type).filter((t) => t !== "response.function_call_arguments.delta")
        expect(types).toEqual([
          "response.created",
          "response.in_progress",
          "response.output_item.added",
          "response.function_call_arguments.done",
          "response.output_item.done",
          "response.output_item.added",
          "response.function_call_arguments.done",
          "response.output_item.done",
          "response.completed"
        ])
        const argumentsOf = (index: number) =>
          seen.flatMap((e) => (e.type === "response.function_call_arguments.delta" && e.output_index === index ? [e.delta] : [])).join("")
        expect([argumentsOf(0), argumentsOf(1)]).toEqual(['{"city":"Paris"}', '{"city":"Rome"}'])
        const done = seen.filter((e) => e.type === "response.function_call_arguments.done")
        expect(done.map((e) => e.type === "response.function_call_arguments.done" && [e.name, e.arguments])).toEqual([
          ["weather", '{"city":"Paris"}'],
          ["weather", '{"city":"Rome"}']
        ])
        const completed = seen.at(-1)
        expect(completed?.type === "response.completed" && completed.response.output).toMatchObject([
          { type: "function_call", call_id: "call_1", name: "weather", arguments: '{"city":"Paris"}', status: "completed" },
          { type: "function_call", call_id: "call_2", name: "weather", arguments: '{"city":"Rome"}', status: "completed" }
        ])
      })
    )
    it.scoped("streamed text, then a call: the message item is closed before the call's opens", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { reply: { text: "Let me look.", toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "primary", input: "Paris?", tools: [weatherTool], stream: true })))
        const types = seen.map((e) => e.type).filter((t) => !t.endsWith(".delta"))
        expect(types).toEqual([
          "response.created",
          "response.in_progress",
          "response.output_item.added",
          "response.content_part.added",
          "response.output_text.done",
          "response.content_part.done",
          "response.output_item.done",
          "response.output_item.added",
          "response.function_call_arguments.done",
          "response.output_item.done",
          "response.completed"
        ])
        const completed = seen.at(-1)
        expect(completed?.type === "response.completed" && completed.response.output).toMatchObject([
          { type: "message", content: [{ type: "output_text", text: "Let me look." }] },
          { type: "function_call", call_id: "call_1", arguments: '{"city":"Paris"}' }
        ])
      })
    )
  })

  describe("structured outputs", () => {
    const person = {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" } },
      required: ["name", "age"],
      additionalProperties: false
    }

    it.scoped("text.format json_schema: the client's parse() hands over the object; it reaches OpenAI as response_format", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({ primary: { reply: { text: '{"name":"Ada","age":36}' } } })
        const parsed = yield* promise(() =>
          client.responses.parse({
            model: "default",
            input: "Who wrote the first program?",
            text: { format: { type: "json_schema", name: "person", schema: person, strict: true } }
          })
        )
        expect(parsed.output_parsed).toEqual({ name: "Ada", age: 36 })
        expect(parsed.text?.format).toEqual({ type: "json_schema", name: "person", schema: person, strict: true })
        expect(primary.requests()[0]?.body).toMatchObject({
          response_format: { type: "json_schema", json_schema: { name: "person", schema: person, strict: true } }
        })
      })
    )

    it.scoped("text.format json_object reaches OpenAI as JSON mode", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({ primary: { reply: { text: "{}" } } })
        yield* promise(() => client.responses.create({ model: "primary", input: "JSON please", text: { format: { type: "json_object" } } }))
        expect(primary.requests()[0]?.body).toMatchObject({ response_format: { type: "json_object" } })
      })
    )

    it.scoped("reasoning.effort reaches the provider as reasoning_effort", () =>
      Effect.gen(function* () {
        const primary = yield* MockServer.make()
        const o4 = yield* OpenAi.make({ model: "o4-mini", apiKey: Redacted.make(Upstreams.upstreamKey), baseUrl: primary.baseUrls.openai })
        const router = yield* Router.make({ targets: { reasoner: { model: o4 } }, chains: { default: ["reasoner"] } })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        const data = yield* promise(() => client.responses.create({ model: "default", input: prompt, reasoning: { effort: "high" } }))
        expect(data.reasoning).toEqual({ effort: "high", summary: null })
        expect(primary.requests()[0]?.body).toMatchObject({ reasoning_effort: "high" })
      })
    )
  })

  describe("Gemini 3's thought signatures", () => {
    it.scoped("go out on a function_call item as extra_content, whole or streamed, and come back to Gemini from the client's next turn", () =>
      Effect.gen(function* () {
        const signed = {
          candidates: [
            {
              content: { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Rome" } }, thoughtSignature: "sig-A" }] },
              finishReason: "STOP"
            }
          ],
          usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }
        }
        const upstream = yield* MockServer.make({
          faults: [MockServer.status(200, { body: signed }), MockServer.status(200, { body: `data: ${JSON.stringify(signed)}\r\n\r\n` })]
        })
        const gemini = yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: upstream.url })
        const router = yield* Router.make({ targets: { gemini: { model: gemini } }, chains: { default: ["gemini"] } })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const tools = [{ ...weatherTool, strict: null }]
        const first = yield* promise(() => client.responses.create({ model: "default", input: prompt, tools }))
        expect(first.output).toMatchObject([{ type: "function_call", name: "weather", extra_content: { google: { thought_signature: "sig-A" } } }])
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, tools, stream: true })))
        const added = seen.find((e) => e.type === "response.output_item.added")
        expect(added?.type === "response.output_item.added" && added.item).toMatchObject({ extra_content: { google: { thought_signature: "sig-A" } } })
        // the client sends back the items it got
        const calls = first.output.flatMap((item) => (item.type === "function_call" ? [item] : []))
        yield* promise(() =>
          client.responses.create({
            model: "default",
            tools,
            input: [{ role: "user", content: prompt }, ...calls, { type: "function_call_output", call_id: calls[0]!.call_id, output: "sunny" }]
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

  describe("input token counts", () => {
    it.scoped("the router's own estimate of the prompt, no provider called; 404, 405 and 401 in OpenAI's JSON", () =>
      Effect.gen(function* () {
        const { client, gateway, primary, secondary } = yield* setup({ gateway: { keys: [Redacted.make("gw-key")] }, apiKey: "gw-key" })
        const params = { model: "default", instructions: "Be brief.", input: prompt, tools: [weatherTool] }
        const counted = yield* promise(() => client.responses.inputTokens.count(params))
        const decoded = ResponsesRequest.decodeCount(params)
        expect(Either.isRight(decoded) && counted.input_tokens === Tokens.estimate(decoded.right.request)).toBe(true)
        expect(counted.object).toBe("response.input_tokens")
        expect(counted.input_tokens).toBeGreaterThan(prompt.length / 4)
        expect(primary.count() + secondary.count()).toBe(0)
        expect(yield* rejection(() => client.responses.inputTokens.count({ ...params, model: "nope" }))).toBeInstanceOf(OpenAI.NotFoundError)
        expect(yield* rejection(() => client.responses.inputTokens.count({ input: prompt }))).toBeInstanceOf(OpenAI.BadRequestError)
        const keyless = yield* promise(() =>
          fetch(`${gateway.url}/v1/responses/input_tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params) })
        )
        expect([keyless.status, ((yield* promise(() => keyless.json())) as { error: { code: string } }).error.code]).toEqual([401, "invalid_api_key"])
        const get = yield* promise(() => fetch(`${gateway.url}/v1/responses/input_tokens`))
        expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"])
      })
    )
  })

  describe("request timeout", () => {
    it.scoped("a stream past requestTimeout ends with an error event (request_timeout) and response.failed, and upstream is aborted", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "one two three four five six seven eight" }, tokenDelay: "100 millis" },
          gateway: { requestTimeout: "250 millis" }
        })
        const seen = yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true })))
        const [error, failed] = seen.slice(-2)
        expect(error).toMatchObject({ type: "error", code: "request_timeout" })
        expect(failed?.type).toBe("response.failed")
        const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
        expect(aborted).toHaveLength(1)
      })
    )
  })

  describe("failover", () => {
    it.scoped("the primary's 503: the secondary serves, and the headers say so, whole or streamed", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503), MockServer.status(503)] },
          secondary: { reply: { text: "From the fallback." } }
        })
        const { data, response } = yield* promise(() => client.responses.create({ model: "default", input: prompt }).withResponse())
        expect(data.output_text).toBe("From the fallback.")
        expect(data.model).toBe("claude-haiku-4-5")
        expect(response.headers.get("x-llm-provider")).toBe("anthropic")
        expect(response.headers.get("x-llm-target")).toBe("secondary")
        expect(response.headers.get("x-llm-fallbacks")).toBe("1")

        const streamed = yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true }).withResponse())
        expect(streamed.response.headers.get("x-llm-fallbacks")).toBe("1")
        const seen = yield* events(streamed.data)
        const last = seen.at(-1)
        expect(last?.type === "response.completed" && last.response).toMatchObject({ model: "claude-haiku-4-5", status: "completed" })
        expect([primary.count(), secondary.count()]).toEqual([2, 2])
      })
    )

    it.scoped("every target down: the chat route's 503 error JSON, before any event", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({
          primary: { faults: [MockServer.status(503)] },
          secondary: { faults: [MockServer.status(503)] }
        })
        const error = yield* rejection(() => client.responses.create({ model: "default", input: prompt, stream: true }))
        expect(error).toBeInstanceOf(OpenAI.APIError)
        expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("chain_exhausted")
      })
    )
  })

  describe("what the gateway refuses", () => {
    const refused: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
      ["previous_response_id", { previous_response_id: "resp_123" }, "previous_response_id"],
      ["conversation", { conversation: "conv_123" }, "conversation"],
      ["prompt", { prompt: { id: "pmpt_123" } }, "prompt"],
      ["background", { background: true }, "background"],
      ["a built-in tool", { tools: [{ type: "web_search" }] }, "tools[0].type"],
      ["file search", { tools: [weatherTool, { type: "file_search", vector_store_ids: ["vs_1"] }] }, "tools[1].type"],
      ["a built-in tool choice", { tools: [weatherTool], tool_choice: { type: "web_search_preview" } }, "tool_choice.type"],
      ["a tool choice of no tool", { tools: [weatherTool], tool_choice: { type: "function", name: "clock" } }, "tool_choice.name"],
      ["an item reference", { input: [{ type: "item_reference", id: "msg_123" }] }, "input[0].type"],
      // a reasoning item is left out (see test/audit/Responses.test.ts): none is left to answer
      ["reasoning items alone", { input: [{ type: "reasoning", id: "rs_1", summary: [] }] }, "input"],
      ["a file", { input: [{ role: "user", content: [{ type: "input_file", file_id: "file_1" }] }] }, "input[0].content[0].type"],
      ["an image by file id", { input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1", detail: "auto" }] }] }, "input[0].content[0].file_id"],
      ["image data that is not base64", { input: [{ role: "user", content: [{ type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=\n", detail: "auto" }] }] }, "input[0].content[0].image_url"],
      ["an image data URL of a PDF", { input: [{ role: "user", content: [{ type: "input_image", image_url: "data:application/pdf;base64,JVBE", detail: "auto" }] }] }, "input[0].content[0].image_url"],
      ["log probabilities", { top_logprobs: 2 }, "top_logprobs"],
      // how the Responses API asks for them: an answer without them would say there were none
      ["log probabilities by include", { include: ["reasoning.encrypted_content", "message.output_text.logprobs"] }, "include[1]"],
      ["an unknown format", { text: { format: { type: "yaml" } } }, "text.format.type"],
      ["a schema without a name", { text: { format: { type: "json_schema", schema: {} } } }, "text.format.name"],
      ["an unknown effort", { reasoning: { effort: "extreme" } }, "reasoning.effort"],
      ["an unknown role", { input: [{ role: "tool", content: "x" }] }, "input[0].role"],
      ["no input", { input: undefined }, "input"],
      ["instructions and no input", { input: undefined, instructions: "Be brief." }, "input"],
      ["an empty input after instructions", { input: [], instructions: "Be brief." }, "input"],
      ["an empty input", { input: [] }, "input"],
      ["a temperature out of range", { temperature: 3 }, "temperature"],
      ["max_output_tokens of 0", { max_output_tokens: 0 }, "max_output_tokens"]
    ]

    it.scoped("each with a 400 naming its param, and no upstream call", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        for (const [name, fields, param] of refused) {
          const body = { model: "default", input: prompt, ...fields } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming
          const error = yield* rejection(() => client.responses.create(body))
          expect(error, name).toBeInstanceOf(OpenAI.BadRequestError)
          expect((error as InstanceType<typeof OpenAI.BadRequestError>).param, name).toBe(param)
          expect((error as InstanceType<typeof OpenAI.BadRequestError>).type, name).toBe("invalid_request_error")
        }
        expect(primary.count()).toBe(0)
        // what is accepted and ignored: background false, store, include (but for log probabilities; Codex asks for reasoning so), truncation
        const data = yield* promise(() =>
          client.responses.create({ model: "default", input: prompt, background: false, store: true, include: ["reasoning.encrypted_content"], truncation: "auto" })
        )
        expect((data as unknown as { readonly store: boolean }).store).toBe(false)
        expect(primary.count()).toBe(1)
      })
    )

    it.scoped("a body over maxBodyBytes is a 413, one not declared JSON a 415, as on the chat route", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup({ gateway: { maxBodyBytes: 1024 } })
        const post = (body: string, contentType: string) =>
          promise(() =>
            fetch(`${gateway.url}/v1/responses`, { method: "POST", headers: { "content-type": contentType }, body }).then(async (res) => ({
              status: res.status,
              body: (await res.json()) as { error: { code: string } }
            }))
          )
        const large = yield* post(JSON.stringify({ model: "default", input: "x".repeat(2048) }), "application/json")
        expect([large.status, large.body.error.code]).toEqual([413, "request_too_large"])
        const text = yield* post(JSON.stringify({ model: "default", input: prompt }), "text/plain")
        expect([text.status, text.body.error.code]).toEqual([415, "unsupported_media_type"])
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("an unknown model is a 404, a wrong method a 405, a missing key a 401, as on the chat route", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* setup({ gateway: { keys: [Redacted.make("gw-key")] }, apiKey: "gw-key" })
        const unknown = yield* rejection(() => client.responses.create({ model: "nope", input: prompt }))
        expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
        expect((unknown as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found")
        const get = yield* promise(() => fetch(`${gateway.url}/v1/responses`, { headers: { authorization: "Bearer gw-key" } }))
        expect(get.status).toBe(405)
        expect(get.headers.get("allow")).toBe("POST")
        const keyless = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "wrong", maxRetries: 0 })
        expect(yield* rejection(() => keyless.responses.create({ model: "default", input: prompt }))).toBeInstanceOf(OpenAI.AuthenticationError)
      })
    )
  })

  it.scoped("Gateway.app under the platform's CORS middleware: whole and streamed answers carry the middleware's headers", () =>
    Effect.gen(function* () {
      const primary = yield* MockServer.make({ reply: { text: "It depends on the swallow." } })
      const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(Upstreams.upstreamKey), baseUrl: primary.baseUrls.openai })
      const router = yield* Router.make({ targets: { primary: { model: gpt } }, chains: { default: ["primary"] } })
      const app = yield* Gateway.app({ router })
      const server = yield* NodeHttpServer.make(() => Http.createServer(), { host: "127.0.0.1", port: 0 })
      yield* server.serve(app, HttpMiddleware.cors())
      const { port } = server.address as HttpServer.TcpAddress
      for (const stream of [false, true]) {
        const response = yield* promise(() =>
          fetch(`http://127.0.0.1:${port}/v1/responses`, {
            method: "POST",
            headers: { "content-type": "application/json", origin: "http://client.test" },
            body: JSON.stringify({ model: "default", stream, input: prompt })
          })
        )
        expect(response.status).toBe(200)
        expect(response.headers.get("access-control-allow-origin")).toBe("*")
        const body = yield* promise(() => response.text())
        expect(body).toContain(stream ? "event: response.completed" : '"text":"It depends on the swallow."')
      }
    })
  )

  it.scoped("a client leaving a stream mid-way aborts the upstream stream, and its one log line says so", () =>
    Effect.gen(function* () {
      const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push({ message: Array.isArray(message) ? message.join(" ") : String(message), annotations: Object.fromEntries(annotations) })
      })
      const { client, primary } = yield* setup({ primary: { faults: [MockServer.stallAfter(3)] } }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const controller = new AbortController()
      const stream = yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true }, { signal: controller.signal }))
      const first = yield* promise(() => stream[Symbol.asyncIterator]().next())
      expect(first.value?.type).toBe("response.created")
      controller.abort()
      const aborted = yield* MockServer.awaitAborted(primary, 1).pipe(Effect.timeout("2 seconds"))
      expect(aborted).toHaveLength(1)
      // the line is written as the stream's end is handled, just after the abort reached upstream
      const line = yield* Effect.suspend(() => {
        const found = lines.find((l) => l.message.startsWith("POST /v1/responses"))
        return found === undefined ? Effect.fail("no line yet") : Effect.succeed(found)
      }).pipe(Effect.retry(Schedule.spaced("5 millis")), Effect.timeout("2 seconds"))
      expect([line.message, line.annotations["outcome"]]).toEqual(["POST /v1/responses 200", "client-closed"])
    })
  )

  it.scoped("one log line a request, naming the route, its chain and target", () =>
    Effect.gen(function* () {
      const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push({ message: Array.isArray(message) ? message.join(" ") : String(message), annotations: Object.fromEntries(annotations) })
      })
      const { client } = yield* setup().pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      yield* promise(() => client.responses.create({ model: "default", input: prompt }))
      yield* events(yield* promise(() => client.responses.create({ model: "default", input: prompt, stream: true })))
      yield* rejection(() => client.responses.create({ model: "default", input: prompt, previous_response_id: "resp_1" }))
      const requests = lines.filter((l) => l.message.startsWith("POST /v1/responses"))
      expect(requests.map((l) => l.message)).toEqual(["POST /v1/responses 200", "POST /v1/responses 200", "POST /v1/responses 400"])
      expect(requests[0]?.annotations).toMatchObject({ chain: "default", target: "primary" })
      expect(requests[2]?.annotations).toMatchObject({ param: "previous_response_id" })
    })
  )
})

describe("ResponseEncoder", () => {
  const echo: Echo = {
    instructions: null,
    max_output_tokens: null,
    metadata: {},
    parallel_tool_calls: true,
    reasoning: { effort: null, summary: null },
    temperature: null,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: null
  }

  /**
   * Chunks as this package's adapters send them: a call's argument deltas
   * one after another, no text or other call amid them (a call's index, met
   * again after other content, is a new call's).
   */
  const chunks = FastCheck.array(Arbitrary.make(ChatChunk), { maxLength: 16 }).map((all) => {
    let next = 0
    let open: { readonly from: number; readonly to: number } | undefined
    return all.map((chunk): ChatChunk => {
      if (chunk._tag === "TextDelta" && chunk.text.length > 0) open = undefined
      if (chunk._tag !== "ToolCallDelta") return chunk
      if (open?.from !== chunk.index) open = { from: chunk.index, to: next++ }
      return { ...chunk, index: open.to }
    })
  })

  const ending = FastCheck.oneof(
    FastCheck.constant({ _tag: "end" as const }),
    FastCheck.constant({ _tag: "failed" as const }),
    FastCheck.option(FastCheck.string(), { nil: undefined }).map((refusal) => ({ _tag: "stopped" as const, refusal }))
  )

  const parse = (wire: string): Array<ResponseStreamEvent> =>
    wire
      .split("\n\n")
      .filter((frame) => frame !== "")
      .map((frame) => {
        const [event, data, ...rest] = frame.split("\n")
        expect(rest).toEqual([])
        const parsed = JSON.parse(data!.slice("data: ".length)) as ResponseStreamEvent
        expect(`event: ${parsed.type}`).toBe(event)
        return parsed
      })

  it("its events, numbered in order, build in the openai client's accumulator the output its last event carries", () => {
    FastCheck.assert(
      FastCheck.property(chunks, ending, Arbitrary.make(Usage), (chunks, end, usage) => {
        const encoder = new ResponseEncoder("resp_1", 1, "gpt-4.1-mini", echo)
        let wire = encoder.start()
        for (const chunk of chunks) wire += encoder.chunk(chunk) ?? ""
        if (end._tag === "end") wire += encoder.end(usage)
        else if (end._tag === "stopped") {
          const error = new ContentFiltered({ provider: "openai", model: "gpt-4.1-mini", message: "stopped", ...(end.refusal !== undefined ? { refusal: end.refusal } : {}) })
          wire += encoder.stopped(error) + encoder.end(usage)
        } else wire += encoder.failed(new Errors.Failure({ status: 502, message: "cut", type: "server_error", code: "stream_interrupted", param: null }))
        const events = parse(wire)
        expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
        let snapshot: Response | undefined
        for (const event of events.slice(0, -1)) snapshot = accumulateResponse(event, snapshot)
        const last = events.at(-1)!
        const finish = [...chunks].reverse().find((c) => c._tag === "Finish")
        const reason = end._tag === "stopped" ? (end.refusal !== undefined ? "stop" : "content_filter") : finish?._tag === "Finish" ? finish.reason : "unknown"
        if (end._tag === "failed") {
          expect(last.type).toBe("response.failed")
          expect(events.at(-2)?.type).toBe("error")
          return
        }
        const expected = reason === "length" || reason === "content_filter" ? "response.incomplete" : "response.completed"
        expect(last.type).toBe(expected)
        if (last.type !== "response.completed" && last.type !== "response.incomplete") return
        // every item the deltas built was closed with its final form: the accumulated output is the final one
        expect(snapshot?.output).toEqual(last.response.output)
        expect(last.response.usage?.total_tokens).toBe(usage.inputTokens + usage.outputTokens)
      }),
      { numRuns: 1000 }
    )
  })
})
