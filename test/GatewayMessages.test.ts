/**
 * The gateway's Anthropic Messages API (`POST /v1/messages`) as a client
 * sees it: started on 127.0.0.1 (port 0) over a router of real adapters
 * (OpenAI, then Gemini) pointed at mock upstream servers, and driven by the
 * official `@anthropic-ai/sdk` client (`messages.create`, `.stream`,
 * `finalMessage()`). Covers whole and streamed answers, tool use both ways,
 * images, failover, a stream that fails mid-way, the errors in Anthropic's
 * JSON (so the SDK raises its own classes), the `x-api-key` header, and the
 * stream encoder against the SDK's own accumulator.
 */
import Anthropic from "@anthropic-ai/sdk"
import * as Http from "node:http"
import { MessageStream } from "@anthropic-ai/sdk/lib/MessageStream"
import type { ContentBlock, Message, MessageCreateParamsNonStreaming, Usage } from "@anthropic-ai/sdk/resources/messages"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Duration, Effect, Either, FastCheck, Redacted } from "effect"
import * as Errors from "../src/gateway/internal/errors.js"
import * as MessagesRequest from "../src/gateway/internal/messagesRequest.js"
import * as Wire from "../src/gateway/internal/wire.js"
import { anthropicStatus, errorJson, MessageEncoder, stopReason, usageJson } from "../src/gateway/internal/messagesResponse.js"
import type { ChatChunk, FinishReason } from "../src/llm/Chat.js"
import { StreamInterrupted } from "../src/llm/FailoverError.js"
import {
  ContentFiltered,
  MalformedResponse,
  Overloaded,
  type ProviderError,
  RateLimited,
  ServerError,
  Timeout,
  TransportError
} from "../src/llm/ProviderError.js"
import * as Tokens from "../src/llm/Tokens.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as AnthropicAdapter from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { allEvents as events, rejection } from "./support/client.js"
import * as Upstreams from "./support/upstreams.js"

/** Every field of the SDK's `Usage`, sorted (a field the SDK adds fails the type check here). */
const usageFields = Object.keys({
  cache_creation: true,
  cache_creation_input_tokens: true,
  cache_read_input_tokens: true,
  inference_geo: true,
  input_tokens: true,
  output_tokens: true,
  output_tokens_details: true,
  server_tool_use: true,
  service_tier: true,
  speed: true
} satisfies Record<keyof Usage, true>).sort()

const prompt = "What is the airspeed velocity of an unladen swallow?"

/** Two upstreams (OpenAI's wire format, then Gemini's), the chain `default` over them, the gateway, and Anthropic's SDK. */
const setup = (options: Upstreams.Options = {}) =>
  Effect.map(Upstreams.make("gemini", options, true), (made) => ({
    ...made,
    client: new Anthropic({ baseURL: made.gateway.url, apiKey: options.apiKey ?? "unused", maxRetries: 0, timeout: 10_000 })
  }))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A raw POST to `/v1/messages`: status, headers and body text. */
const post = (gateway: Gateway.Server, body: unknown, headers: Record<string, string> = {}, path = "/v1/messages") =>
  promise(() =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    }).then(async (res) => ({ status: res.status, headers: res.headers, text: await res.text() }))
  )

const ask = { model: "default", max_tokens: 64, messages: [{ role: "user" as const, content: prompt }] }

const weatherTool = {
  name: "weather",
  description: "The weather now in a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] }
}

/** The SSE frames of a body: each `event:` name beside its parsed `data:`. */
const frames = (body: string) =>
  body
    .split("\n\n")
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      const [event, data, ...rest] = frame.split("\n")
      expect(rest).toEqual([])
      return { event: event!.slice("event: ".length), data: JSON.parse(data!.slice("data: ".length)) as { type: string } & Record<string, unknown> }
    })

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Gateway: Anthropic's Messages API", (it) => {
  describe("whole answers", () => {
    it.scoped("a message object as Anthropic sends it, usage, and the router's headers; system and sampling reach OpenAI", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "About 11 metres a second.", usage: { inputTokens: 12, outputTokens: 6 } } }
        })
        const { data, response } = yield* promise(() =>
          client.messages
            .create({
              ...ask,
              system: [{ type: "text", text: "Be brief." }, { type: "text", text: " Be kind.", cache_control: { type: "ephemeral" } }],
              temperature: 0.3,
              top_p: 0.9,
              top_k: 40,
              stop_sequences: ["\n\n"],
              metadata: { user_id: "user-1" }
            } as MessageCreateParamsNonStreaming)
            .withResponse()
        )
        expect(data).toEqual({
          id: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
          type: "message",
          role: "assistant",
          model: "gpt-4.1-mini",
          content: [{ type: "text", text: "About 11 metres a second." }],
          stop_reason: "end_turn",
          stop_sequence: null,
          stop_details: null,
          // Anthropic's usage object: every field its SDK's Usage declares, null where the gateway knows nothing of it
          usage: {
            input_tokens: 12,
            output_tokens: 6,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
            output_tokens_details: null,
            server_tool_use: null,
            inference_geo: null,
            service_tier: "standard",
            speed: null
          }
        })
        expect(Object.keys(data.usage).sort()).toEqual(usageFields)
        expect(response.headers.get("x-llm-target")).toBe("primary")
        expect(response.headers.get("x-llm-provider")).toBe("openai")
        expect(response.headers.get("x-llm-fallbacks")).toBe("0")
        expect(response.headers.get("x-request-id")).toMatch(/^req_/)
        // the id as Anthropic's SDK reads it (`request-id`): a message's `_request_id`, an error's `requestID`
        expect((data as { _request_id?: string | null })._request_id).toBe(response.headers.get("x-request-id"))
        expect(primary.requests()[0]?.body).toMatchObject({
          messages: [
            { role: "system", content: "Be brief.\n\n Be kind." },
            { role: "user", content: prompt }
          ],
          temperature: 0.3,
          top_p: 0.9,
          stop: ["\n\n"]
        })
        const sent = primary.requests()[0]?.body as Record<string, unknown>
        expect(sent["top_k"]).toBeUndefined()
        expect(sent["max_completion_tokens"] ?? sent["max_tokens"]).toBe(64)
      })
    )

    it.scoped("content blocks: text and images (base64 and url) reach the provider as chat parts; thinking sent back is left out", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        yield* promise(() =>
          client.messages.create({
            model: "primary",
            max_tokens: 32,
            messages: [
              {
                role: "user",
                content: [
                  { type: "text", text: "What is this?" },
                  { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
                  { type: "image", source: { type: "url", url: "https://example.com/sky.png" } }
                ]
              },
              {
                role: "assistant",
                content: [
                  { type: "thinking", thinking: "Looks blue.", signature: "sig" },
                  { type: "redacted_thinking", data: "opaque" },
                  { type: "text", text: "A sky." }
                ]
              },
              { role: "assistant", content: [{ type: "thinking", thinking: "Only this.", signature: "sig" }] },
              { role: "user", content: "Sure?" }
            ]
          })
        )
        expect((primary.requests()[0]?.body as { messages: unknown }).messages).toEqual([
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
              { type: "image_url", image_url: { url: "https://example.com/sky.png" } }
            ]
          },
          { role: "assistant", content: "A sky." },
          { role: "user", content: "Sure?" }
        ])
      })
    )

    it.scoped("a length stop is max_tokens", () =>
      Effect.gen(function* () {
        const { client } = yield* setup({ primary: { reply: { text: "It depends", finishReason: "length" } } })
        const data = yield* promise(() => client.messages.create(ask))
        expect(data.stop_reason).toBe("max_tokens")
      })
    )

    it.scoped("thinking's budget reaches a reasoning model as reasoning_effort", () =>
      Effect.gen(function* () {
        const primary = yield* MockServer.make()
        const o4 = yield* OpenAi.make({ model: "o4-mini", apiKey: Redacted.make(Upstreams.upstreamKey), baseUrl: primary.baseUrls.openai })
        const router = yield* Router.make({ targets: { reasoner: { model: o4 } }, chains: { default: ["reasoner"] } })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Upstreams.quiet)
        const client = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 })
        yield* promise(() => client.messages.create({ ...ask, thinking: { type: "enabled", budget_tokens: 8_000 } }))
        expect(primary.requests()[0]?.body).toMatchObject({ reasoning_effort: "medium" })
      })
    )
  })

  describe("streams", () => {
    it.scoped("the events Anthropic sends, in order; the SDK's stream helper's text and finalMessage()", () =>
      Effect.gen(function* () {
        const text = "It depends on the swallow."
        const { client } = yield* setup({ primary: { reply: { text, usage: { inputTokens: 9, outputTokens: 5 } } } })
        const { data: stream, response } = yield* promise(() => client.messages.create({ ...ask, stream: true }).withResponse())
        expect(response.headers.get("content-type")).toContain("text/event-stream")
        expect(response.headers.get("x-llm-target")).toBe("primary")
        const seen = yield* events(stream)
        const deltas = seen.flatMap((e) => (e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : []))
        expect(seen.map((e) => e.type)).toEqual([
          "message_start",
          "content_block_start",
          ...deltas.map(() => "content_block_delta"),
          "content_block_stop",
          "message_delta",
          "message_stop"
        ])
        expect(deltas.length).toBeGreaterThan(1)
        expect(deltas.join("")).toBe(text)
        expect(seen[0]).toMatchObject({ message: { id: expect.stringMatching(/^msg_/), model: "gpt-4.1-mini", content: [], stop_reason: null } })
        // the input's estimate first (erring high), the provider's count at the end
        const estimate = seen[0]?.type === "message_start" ? seen[0].message.usage.input_tokens : 0
        expect(estimate).toBeGreaterThanOrEqual(Math.ceil(prompt.length / 4))
        expect(seen[0]).toMatchObject({ message: { stop_details: null, usage: { service_tier: "standard" } } })
        // message_start's usage has every field of the SDK's Usage; its cache writes by lifetime are null (the SDK keeps
        // them from there, and the provider's counts come with message_delta, whose usage, as Anthropic's, has no service tier)
        expect(seen[0]?.type === "message_start" && seen[0].message.usage.cache_creation).toBeNull()
        expect(seen[0]?.type === "message_start" && Object.keys(seen[0].message.usage).sort()).toEqual(usageFields)
        const delta = seen.at(-2)
        expect(delta?.type === "message_delta" && "service_tier" in delta.usage).toBe(false)
        expect(seen.at(-2)).toMatchObject({
          delta: { stop_reason: "end_turn", stop_sequence: null, stop_details: null },
          usage: { input_tokens: 9, output_tokens: 5 }
        })

        const helper = client.messages.stream(ask)
        const collected: Array<string> = []
        helper.on("text", (delta) => collected.push(delta))
        const final = yield* promise(() => helper.finalMessage())
        expect(collected.join("")).toBe(text)
        expect(final.content).toEqual([{ type: "text", text }])
        expect(final.stop_reason).toBe("end_turn")
        expect(final.usage).toMatchObject({ input_tokens: 9, output_tokens: 5 })
        // what type-correct code reads of it is there: a null, not undefined
        expect(Object.keys(final.usage).sort()).toEqual(usageFields)
        expect(final.usage).toMatchObject({ cache_creation: null, server_tool_use: null, inference_geo: null, output_tokens_details: null })
      })
    )

    it.scoped("one ping on the wire, after the first content_block_start, as Anthropic sends it (the SDK skips it)", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ primary: { reply: { text: "Fast." } } })
        const raw = yield* post(gateway, { ...ask, stream: true })
        const all = frames(raw.text)
        expect(all.slice(0, 4).map((f) => f.event)).toEqual(["message_start", "content_block_start", "ping", "content_block_delta"])
        expect(all[2]).toEqual({ event: "ping", data: { type: "ping" } })
        expect(all.filter((f) => f.event === "ping")).toHaveLength(1)
      })
    )

    it.scoped("a stream that fails after its first token ends with an error event, no message_stop; the SDK raises it", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({
          primary: { faults: [MockServer.resetAfter(3)], reply: { text: "one two three four five six" } }
        })
        const helper = client.messages.stream(ask)
        const collected: Array<string> = []
        helper.on("text", (delta) => collected.push(delta))
        const error = yield* rejection(() => helper.finalMessage())
        expect(collected.length).toBeGreaterThan(0)
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("api_error")
        expect((error as InstanceType<typeof Anthropic.APIError>).message).toContain("failed after content was sent")

        // the wire: each event named as its data's type, the last an error event
        primary.enqueue(MockServer.resetAfter(3))
        const raw = yield* post(gateway, { ...ask, stream: true })
        const all = frames(raw.text)
        for (const frame of all) expect(frame.data.type).toBe(frame.event)
        expect(all.at(-1)).toEqual({
          event: "error",
          data: { type: "error", error: { type: "api_error", message: expect.stringContaining("failed after content was sent") } }
        })
        expect(all.some((f) => f.event === "message_stop")).toBe(false)
      })
    )

    it.scoped("an upstream's overload after content: the error event is Anthropic's overloaded_error, as its own streams send it", () =>
      Effect.gen(function* () {
        // the primary down before any content; Gemini's UNAVAILABLE error event after three events
        const { client, gateway } = yield* setup({
          primary: { faults: [MockServer.status(503), MockServer.status(503)] },
          secondary: { faults: [MockServer.streamError(3), MockServer.streamError(3)], reply: { text: "one two three four five six" } }
        })
        const error = yield* rejection(() => client.messages.stream(ask).finalMessage())
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error")
        const raw = yield* post(gateway, { ...ask, stream: true })
        expect(frames(raw.text).at(-1)).toEqual({
          event: "error",
          data: { type: "error", error: { type: "overloaded_error", message: expect.stringContaining("(Overloaded)") } }
        })
      })
    )
  })

  describe("tool use", () => {
    it.scoped("tool_use, then tool_result: the round trip reaches OpenAI as chat tool messages", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "", toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const first = yield* promise(() =>
          client.messages.create({
            model: "primary",
            max_tokens: 64,
            messages: [{ role: "user", content: "Weather in Paris?" }],
            tools: [weatherTool],
            tool_choice: { type: "tool", name: "weather", disable_parallel_tool_use: true }
          })
        )
        expect(first.stop_reason).toBe("tool_use")
        expect(first.content).toEqual([{ type: "tool_use", id: "call_1", name: "weather", input: { city: "Paris" } }])
        expect(primary.requests()[0]?.body).toMatchObject({
          tools: [{ type: "function", function: { name: "weather", parameters: weatherTool.input_schema } }],
          tool_choice: { type: "function", function: { name: "weather" } },
          parallel_tool_calls: false
        })

        primary.setReply({ text: "Sunny, 21 degrees." })
        const second = yield* promise(() =>
          client.messages.create({
            model: "primary",
            max_tokens: 64,
            messages: [
              { role: "user", content: "Weather in Paris?" },
              { role: "assistant", content: first.content },
              {
                role: "user",
                content: [
                  { type: "tool_result", tool_use_id: "call_1", content: [{ type: "text", text: '{"celsius":21}' }] },
                  { type: "text", text: "And tomorrow?" }
                ]
              }
            ],
            tools: [weatherTool]
          })
        )
        expect(second.content).toEqual([{ type: "text", text: "Sunny, 21 degrees." }])
        expect((primary.requests()[1]?.body as { messages: unknown }).messages).toEqual([
          { role: "user", content: "Weather in Paris?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }]
          },
          { role: "tool", tool_call_id: "call_1", content: '{"celsius":21}' },
          { role: "user", content: [{ type: "text", text: "And tomorrow?" }] }
        ])
      })
    )

    it.scoped("a backend's call id already used in the conversation, or twice in one answer, is renamed toolu_..., whole and streamed", () =>
      Effect.gen(function* () {
        // an OpenAI-compatible server may number its calls afresh in every answer (Grok's call_0), or repeat one
        const { client } = yield* setup({
          primary: {
            reply: {
              text: "",
              toolCalls: [
                { id: "call_1", name: "weather", arguments: { city: "Paris" } },
                { id: "call_2", name: "weather", arguments: { city: "Rome" } },
                { id: "call_2", name: "weather", arguments: { city: "Oslo" } },
                { id: "toolu_0", name: "weather", arguments: { city: "Bern" } }
              ]
            }
          }
        })
        const body = {
          model: "primary",
          max_tokens: 64,
          tools: [weatherTool],
          messages: [
            { role: "user" as const, content: "Weather in Paris?" },
            { role: "assistant" as const, content: [{ type: "tool_use" as const, id: "call_1", name: "weather", input: { city: "Paris" } }] },
            {
              role: "user" as const,
              content: [
                { type: "tool_result" as const, tool_use_id: "call_1", content: "sunny" },
                { type: "tool_result" as const, tool_use_id: "toolu_0", content: "an orphan result's id counts too" },
                { type: "text" as const, text: "And Rome, Oslo and Bern?" }
              ]
            }
          ]
        }
        const check = (content: ReadonlyArray<ContentBlock>) => {
          const ids = content.flatMap((block) => (block.type === "tool_use" ? [block.id] : []))
          expect(ids).toHaveLength(4)
          expect(ids[0]).toMatch(/^toolu_[0-9a-f]{32}$/)
          expect(ids[1]).toBe("call_2")
          expect(ids[2]).toMatch(/^toolu_[0-9a-f]{32}$/)
          expect(ids[3]).toMatch(/^toolu_[0-9a-f]{32}$/)
          expect(new Set([...ids, "call_1", "toolu_0"]).size).toBe(6)
          expect(content.flatMap((block) => (block.type === "tool_use" ? [(block.input as { city: string }).city] : []))).toEqual(["Paris", "Rome", "Oslo", "Bern"])
        }
        check((yield* promise(() => client.messages.create(body))).content)
        check((yield* promise(() => client.messages.stream(body).finalMessage())).content)
        // a conversation with none of its ids: each as the backend gave it
        const fresh = yield* promise(() => client.messages.create({ ...body, messages: [{ role: "user", content: "Weather?" }] }))
        expect(fresh.content.flatMap((block) => (block.type === "tool_use" ? [block.id] : []))).toEqual(["call_1", "call_2", expect.stringMatching(/^toolu_/), "toolu_0"])
      })
    )

    it.scoped("streamed from Gemini: a tool_use block, its input as input_json_delta, rebuilt by the SDK's finalMessage()", () =>
      Effect.gen(function* () {
        const { client, secondary } = yield* setup({
          secondary: { reply: { text: "Let me check.", toolCalls: [{ name: "weather", arguments: { city: "Rome" } }] } }
        })
        const { data: stream } = yield* promise(() =>
          client.messages.create({ ...ask, model: "secondary", tools: [weatherTool], stream: true }).withResponse()
        )
        const seen = yield* events(stream)
        expect(seen.flatMap((e) => (e.type === "content_block_start" ? [e.content_block.type] : []))).toEqual(["text", "tool_use"])
        expect(seen.some((e) => e.type === "content_block_delta" && e.delta.type === "input_json_delta")).toBe(true)
        const final = yield* promise(() => client.messages.stream({ ...ask, model: "secondary", tools: [weatherTool] }).finalMessage())
        expect(final.content).toEqual([
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: expect.any(String), name: "weather", input: { city: "Rome" } }
        ])
        expect(final.stop_reason).toBe("tool_use")
        expect(secondary.requests()[0]?.provider).toBe("gemini")
      })
    )

    it.scoped("an error result (is_error) reaches Claude as one, its text as the client sent it", () =>
      Effect.gen(function* () {
        const made = yield* Upstreams.make("anthropic", {}, true)
        const client = new Anthropic({ baseURL: made.gateway.url, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        yield* promise(() =>
          client.messages.create({
            model: "secondary",
            max_tokens: 64,
            messages: [
              { role: "user", content: "Weather in Paris?" },
              { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "weather", input: { city: "Paris" } }] },
              { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "service down", is_error: true }] }
            ],
            tools: [weatherTool]
          })
        )
        const sent = (made.secondary.requests()[0]?.body as { messages: Array<{ content: unknown }> }).messages.at(-1)
        expect(sent?.content).toEqual([{ type: "tool_result", tool_use_id: "call_1", content: "service down", is_error: true }])
      })
    )

    it.scoped("an answer Claude stopped on a stop sequence says which, whole and streamed; one another provider stopped on says end_turn", () =>
      Effect.gen(function* () {
        const made = yield* Upstreams.make("anthropic", { secondary: { reply: { text: "1, 2, 3, ", stopSequence: "4" } } }, true)
        const client = new Anthropic({ baseURL: made.gateway.url, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const ask = { model: "secondary", max_tokens: 64, stop_sequences: ["4"], messages: [{ role: "user" as const, content: "Count" }] }
        const whole = yield* promise(() => client.messages.create(ask))
        expect([whole.stop_reason, whole.stop_sequence]).toEqual(["stop_sequence", "4"])
        const streamed = yield* promise(() => client.messages.stream(ask).finalMessage())
        expect([streamed.stop_reason, streamed.stop_sequence, streamed.content]).toEqual(["stop_sequence", "4", [{ type: "text", text: "1, 2, 3, " }]])
        // OpenAI's wire says only "stop"
        made.primary.setReply({ text: "1, 2, 3, ", stopSequence: "4" })
        const other = yield* promise(() => client.messages.create({ ...ask, model: "primary" }))
        expect([other.stop_reason, other.stop_sequence]).toEqual(["end_turn", null])
      })
    )

    it.scoped("an error result (is_error) reaches the provider marked as one", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        yield* promise(() =>
          client.messages.create({
            model: "primary",
            max_tokens: 64,
            messages: [
              { role: "user", content: "Weather in Paris?" },
              { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "weather", input: { city: "Paris" } }] },
              { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "service down", is_error: true }] }
            ],
            tools: [weatherTool]
          })
        )
        expect((primary.requests()[0]?.body as { messages: Array<unknown> }).messages.at(-1)).toEqual({
          role: "tool",
          tool_call_id: "call_1",
          content: "Error: service down"
        })
      })
    )
  })

  describe("stops on content policy", () => {
    it.scoped("a provider's stop after some text: a 200 with stop_reason refusal and the text so far; streamed the same", () =>
      Effect.gen(function* () {
        const reply = { text: "partial text", finishReason: "content_filter" as const, usage: { inputTokens: 12, outputTokens: 2 } }
        const { client, primary } = yield* setup({ primary: { reply } })
        const data = yield* promise(() => client.messages.create({ ...ask, model: "primary" }))
        expect(data.stop_reason).toBe("refusal")
        // Anthropic's details of a refusal: no provider behind a chain names a category
        const details = { type: "refusal", category: null, explanation: null }
        expect(data.stop_details).toEqual(details)
        expect(data.content).toEqual([{ type: "text", text: "partial text" }])
        const final = yield* promise(() => client.messages.stream({ ...ask, model: "primary" }).finalMessage())
        expect(final.stop_reason).toBe("refusal")
        expect(final.stop_details).toEqual(details)
        expect(final.content).toEqual([{ type: "text", text: "partial text" }])
        expect(primary.count()).toBe(2)
      })
    )
  })

  describe("failover", () => {
    it.scoped("the primary's 503: the secondary (Gemini) serves, and the headers say so, whole or streamed", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503), MockServer.status(503)] },
          secondary: { reply: { text: "From the fallback." } }
        })
        const { data, response } = yield* promise(() => client.messages.create(ask).withResponse())
        expect(data.content).toEqual([{ type: "text", text: "From the fallback." }])
        expect(data.model).toBe("gemini-2.5-flash")
        expect(response.headers.get("x-llm-provider")).toBe("gemini")
        expect(response.headers.get("x-llm-fallbacks")).toBe("1")

        const streamed = yield* promise(() => client.messages.create({ ...ask, stream: true }).withResponse())
        expect(streamed.response.headers.get("x-llm-target")).toBe("secondary")
        const seen = yield* events(streamed.data)
        expect(seen[0]).toMatchObject({ type: "message_start", message: { model: "gemini-2.5-flash" } })
        expect(seen.at(-1)?.type).toBe("message_stop")
        expect([primary.count(), secondary.count()]).toEqual([2, 2])
      })
    )

    it.scoped("every target down: Anthropic's overload, a 529 overloaded_error, before any event; the SDK's OverloadedError", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* setup({
          primary: { faults: [MockServer.status(503), MockServer.status(503), MockServer.status(503)] },
          secondary: { faults: [MockServer.status(503), MockServer.status(503), MockServer.status(503)] }
        })
        const error = yield* rejection(() => client.messages.create({ ...ask, stream: true }))
        expect(error).toBeInstanceOf(Anthropic.OverloadedError)
        expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529)
        expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error")
        expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
          type: "error",
          error: { type: "overloaded_error", message: expect.stringContaining("Every target of 'default' failed"), attempts: expect.any(Array) }
        })
        // whole too, with the chain's headers; the chat route keeps its 503
        const whole = yield* rejection(() => client.messages.create(ask))
        expect((whole as InstanceType<typeof Anthropic.APIError>).status).toBe(529)
        expect((whole as InstanceType<typeof Anthropic.APIError>).headers?.get("x-llm-chain")).toBe("default")
        const chat = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "default", messages: [{ role: "user", content: prompt }] })
          }).then((res) => res.status)
        )
        expect(chat).toBe(503)
      })
    )
  })

  describe("anthropic-beta and top_k, to Claude and no other", () => {
    /** Claude first (its adapter configured with a beta of its own), then OpenAI; the gateway over them. */
    const claudeFirst = (claude: MockServer.Options = {}) =>
      Effect.gen(function* () {
        const anthropic = yield* MockServer.make(claude)
        const openai = yield* MockServer.make()
        const sonnet = yield* AnthropicAdapter.make({
          model: "claude-sonnet-4-5",
          apiKey: Redacted.make(Upstreams.upstreamKey),
          baseUrl: anthropic.baseUrls.anthropic,
          headers: { "anthropic-beta": "configured-1" }
        })
        const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(Upstreams.upstreamKey), baseUrl: openai.baseUrls.openai })
        const router = yield* Router.make({
          targets: { claude: { model: sonnet }, gpt: { model: gpt } },
          chains: { default: ["claude", "gpt"] },
          policy: { retry: { maxAttempts: 1 } }
        })
        const gateway = yield* Upstreams.quiet(Gateway.make({ router, port: 0 }))
        return { anthropic, openai, gateway }
      })

    /** A POST with headers as node sends them: an array is the header repeated, a line each. */
    const rawPost = (gateway: Gateway.Server, body: unknown, headers: Record<string, string | Array<string>>) =>
      Effect.async<{ readonly status: number; readonly text: string }>((resume) => {
        const req = Http.request(`${gateway.url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
          let text = ""
          res.setEncoding("utf8")
          res.on("data", (chunk: string) => (text += chunk))
          res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, text })))
        })
        req.end(JSON.stringify(body))
      })

    it.scoped("a client's betas (the header repeated, or comma-separated) reach Claude after the configured one, each once, with top_k; no other client header goes upstream", () =>
      Effect.gen(function* () {
        const { anthropic, gateway } = yield* claudeFirst()
        const answer = yield* rawPost(gateway, { ...ask, top_k: 40 }, {
          "anthropic-beta": ["context-1m-2025-08-07", "configured-1, interleaved-thinking-2025-05-14"],
          "x-custom": "secret-ish",
          authorization: "Bearer client-token",
          "anthropic-version": "2099-01-01"
        })
        expect(answer.status).toBe(200)
        const [sent] = anthropic.requests()
        expect(sent?.headers["anthropic-beta"]).toBe("configured-1,context-1m-2025-08-07,interleaved-thinking-2025-05-14")
        expect((sent?.body as Record<string, unknown>)["top_k"]).toBe(40)
        expect(sent?.headers["x-custom"]).toBeUndefined()
        expect(sent?.headers.authorization).toBeUndefined()
        expect(sent?.headers["x-api-key"]).toBe(Upstreams.upstreamKey)
        expect(sent?.headers["anthropic-version"]).toBe("2023-06-01")
        // the SDK's own way to send them (`betas`), and a request without: the configured header as it is
        const { client } = { client: new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 }) }
        yield* promise(() => client.beta.messages.create({ ...ask, betas: ["files-api-2025-04-14"] }))
        yield* promise(() => client.messages.create(ask))
        expect(anthropic.requests().slice(1).map((r) => r.headers["anthropic-beta"])).toEqual(["configured-1,files-api-2025-04-14", "configured-1"])
      })
    )

    it.scoped("an OAuth beta (Claude Code's, signed in with a subscription) is not passed on: the gateway calls Claude with its own key", () =>
      Effect.gen(function* () {
        const { anthropic, gateway } = yield* claudeFirst()
        const answer = yield* rawPost(gateway, ask, { "anthropic-beta": "oauth-2025-04-20,claude-code-20250219" })
        expect(answer.status).toBe(200)
        expect(anthropic.requests()[0]?.headers["anthropic-beta"]).toBe("configured-1,claude-code-20250219")
      })
    )

    it.scoped("failed over to OpenAI, the request goes without the betas and top_k, which OpenAI does not take", () =>
      Effect.gen(function* () {
        const { anthropic, openai, gateway } = yield* claudeFirst({ faults: [MockServer.status(529)] })
        const answer = yield* rawPost(gateway, { ...ask, top_k: 40 }, { "anthropic-beta": "context-1m-2025-08-07" })
        expect(answer.status).toBe(200)
        expect(anthropic.requests()[0]?.headers["anthropic-beta"]).toBe("configured-1,context-1m-2025-08-07")
        const [sent] = openai.requests()
        expect(sent?.headers["anthropic-beta"]).toBeUndefined()
        const body = sent?.body as Record<string, unknown>
        expect(body["top_k"]).toBeUndefined()
        expect(Object.keys(body).filter((key) => /beta|provider/i.test(key))).toEqual([])
      })
    )

    it.scoped("a beta that is no plain token is a 400 naming anthropic-beta, and no upstream call; an empty header is none", () =>
      Effect.gen(function* () {
        const { anthropic, openai, gateway } = yield* claudeFirst()
        for (const header of ["a;b", "ok, x y", "x=1", "ok,\u00e9t\u00e9"]) {
          const answer = yield* rawPost(gateway, ask, { "anthropic-beta": header })
          expect(answer.status, header).toBe(400)
          const body = JSON.parse(answer.text) as { type: string; error: { type: string; message: string } }
          expect(body.error.type, header).toBe("invalid_request_error")
          expect(body.error.message, header).toContain("'anthropic-beta'")
        }
        expect(anthropic.count() + openai.count()).toBe(0)
        expect((yield* rawPost(gateway, ask, { "anthropic-beta": " , " })).status).toBe(200)
        expect(anthropic.requests()[0]?.headers["anthropic-beta"]).toBe("configured-1")
      })
    )
  })

  it("a tool named twice is refused at the second one's name, before any provider (each refuses it with a 400)", () => {
    const decoded = MessagesRequest.decode({
      ...ask,
      tools: [weatherTool, { ...weatherTool, description: "again" }]
    })
    expect(Either.isLeft(decoded) && [decoded.left.param, decoded.left.message]).toEqual([
      "tools[1].name",
      "Invalid 'tools[1].name': a tool named 'weather' is defined already; each tool needs a name of its own (Claude and Gemini refuse a name given twice)."
    ])
  })

  describe("count_tokens", () => {
    it.scoped("the router's own estimate of the prompt (Tokens.estimate), no provider called; max_tokens not asked; 404, 405 and 401 as on the route", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({ gateway: { keys: [Redacted.make("gw-key")] }, apiKey: "gw-key" })
        const params = { model: "default", system: "Be brief.", messages: [{ role: "user" as const, content: prompt }], tools: [weatherTool] }
        const counted = yield* promise(() => client.messages.countTokens(params))
        const decoded = MessagesRequest.decodeCount(params)
        expect(Either.isRight(decoded) && counted.input_tokens === Tokens.estimate(decoded.right.request)).toBe(true)
        expect(counted.input_tokens).toBeGreaterThan(prompt.length / 4)
        expect(primary.count()).toBe(0)
        const unknown = yield* rejection(() => client.messages.countTokens({ ...params, model: "nope" }))
        expect(unknown).toBeInstanceOf(Anthropic.NotFoundError)
        const keyless = yield* post(gateway, params, {}, "/v1/messages/count_tokens")
        expect([keyless.status, JSON.parse(keyless.text).error.type]).toEqual([401, "authentication_error"])
        const get = yield* promise(() => fetch(`${gateway.url}/v1/messages/count_tokens`))
        expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"])
      })
    )
  })

  describe("errors, in Anthropic's JSON", () => {
    it.scoped("the gateway key: from x-api-key or Authorization: Bearer; a wrong or missing one is the SDK's AuthenticationError", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ gateway: { keys: [Redacted.make("gw-key-1"), Redacted.make("gw-key-2")] } })
        const viaHeader = (key: string) => new Anthropic({ baseURL: gateway.url, apiKey: null, defaultHeaders: { "x-api-key": key }, maxRetries: 0 })
        expect((yield* promise(() => viaHeader("gw-key-2").messages.create(ask))).type).toBe("message")
        const bearer = new Anthropic({ baseURL: gateway.url, apiKey: "gw-key-1", maxRetries: 0 })
        expect((yield* promise(() => bearer.messages.create(ask))).type).toBe("message")

        const wrong = yield* rejection(() => viaHeader("not-the-key").messages.create(ask))
        expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError)
        expect((wrong as InstanceType<typeof Anthropic.APIError>).error).toEqual({
          type: "error",
          error: { type: "authentication_error", message: "Incorrect API key provided." }
        })
        const missing = yield* post(gateway, ask)
        expect(missing.status).toBe(401)
        const body = JSON.parse(missing.text) as { error: { type: string; message: string } }
        expect(body.error.type).toBe("authentication_error")
        expect(body.error.message).toContain("x-api-key")
        // no key echoed, in the body or a header
        const echoed = yield* post(gateway, ask, { "x-api-key": "sk-secret-guess" })
        expect(echoed.text + JSON.stringify([...echoed.headers])).not.toContain("sk-secret-guess")
      })
    )

    it.scoped("400 for a missing max_tokens (named), 404 for an unknown model, 413 for a body too large, 405 and 404 for other asks", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({ gateway: { maxBodyBytes: 1024 } })
        const noMax = yield* rejection(() => client.messages.create({ model: "default", messages: ask.messages } as unknown as MessageCreateParamsNonStreaming))
        expect(noMax).toBeInstanceOf(Anthropic.BadRequestError)
        expect((noMax as InstanceType<typeof Anthropic.APIError>).type).toBe("invalid_request_error")
        expect((noMax as InstanceType<typeof Anthropic.APIError>).message).toContain("'max_tokens'")

        const unknown = yield* rejection(() => client.messages.create({ ...ask, model: "nope" }))
        expect(unknown).toBeInstanceOf(Anthropic.NotFoundError)
        expect((unknown as InstanceType<typeof Anthropic.APIError>).type).toBe("not_found_error")

        const large = yield* rejection(() => client.messages.create({ ...ask, messages: [{ role: "user", content: "x".repeat(2048) }] }))
        expect((large as InstanceType<typeof Anthropic.APIError>).status).toBe(413)
        expect((large as InstanceType<typeof Anthropic.APIError>).type).toBe("request_too_large")

        const badJson = yield* post(gateway, "{not json")
        expect([badJson.status, JSON.parse(badJson.text).error.type]).toEqual([400, "invalid_request_error"])
        const get = yield* promise(() => fetch(`${gateway.url}/v1/messages`))
        expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"])
        expect(yield* promise(() => get.json())).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
        const other = yield* post(gateway, ask, {}, "/v1/messages/batches")
        expect([other.status, JSON.parse(other.text)]).toEqual([404, { type: "error", error: { type: "not_found_error", message: expect.any(String) } }])
        expect(other.headers.get("x-request-id")).toMatch(/^req_/)
        expect(other.headers.get("request-id")).toBe(other.headers.get("x-request-id"))
        expect((unknown as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^req_/)
        expect((unknown as Error).message).toContain(`request_id: ${(unknown as InstanceType<typeof Anthropic.APIError>).requestID}`)
        // the chat route's answers keep OpenAI's header alone
        const chatAnswer = yield* post(gateway, { model: "nope", messages: ask.messages }, {}, "/v1/chat/completions")
        expect(chatAnswer.headers.get("request-id")).toBeNull()
        // the chat route keeps OpenAI's
        const chat = yield* post(gateway, { model: "nope", messages: ask.messages }, {}, "/v1/chat/completions")
        expect(JSON.parse(chat.text)).toMatchObject({ error: { code: "model_not_found", param: "model" } })
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("a prompt no target's window holds: 400 whose message says 'prompt is too long', as Claude Code looks for to compact its history", () =>
      Effect.gen(function* () {
        const { client, gateway, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.contextLengthExceeded] },
          secondary: { faults: [MockServer.contextLengthExceeded] }
        })
        const error = yield* rejection(() => client.messages.create(ask))
        expect(error).toBeInstanceOf(Anthropic.BadRequestError)
        expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("invalid_request_error")
        // Claude Code's check: the SDK error's message, lower-cased, includes "prompt is too long"
        expect((error as Error).message.toLowerCase()).toContain("prompt is too long")
        expect((error as InstanceType<typeof Anthropic.APIError>).apiMessage).toMatch(/^prompt is too long: /)
        // the chat route keeps the gateway's own words
        primary.enqueue(MockServer.contextLengthExceeded)
        secondary.enqueue(MockServer.contextLengthExceeded)
        const chat = yield* post(gateway, { model: "default", messages: ask.messages }, {}, "/v1/chat/completions")
        expect(JSON.parse(chat.text)).toMatchObject({ error: { code: "context_length_exceeded" } })
        expect(JSON.parse(chat.text).error.message).not.toContain("prompt is too long")
      })
    )

    const refused: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
      ["no max_tokens", { max_tokens: undefined }, "max_tokens"],
      ["max_tokens of 0", { max_tokens: 0 }, "max_tokens"],
      ["no messages", { messages: undefined }, "messages"],
      ["a tool role among messages", { messages: [{ role: "tool", content: "x" }] }, "messages[0].role"],
      ["an image in a system message", { messages: [{ role: "system", content: [{ type: "image", source: { type: "url", url: "https://example.com/a.png" } }] }] }, "messages[0].content[0].type"],
      ["a server tool", { tools: [{ type: "web_search_20250305", name: "web_search" }] }, "tools[0].type"],
      ["a computer tool", { tools: [weatherTool, { type: "computer_20250124", name: "computer", display_width_px: 1024, display_height_px: 768 }] }, "tools[1].type"],
      ["a tool without input_schema", { tools: [{ name: "clock" }] }, "tools[0].input_schema"],
      ["a tool choice of no tool", { tools: [weatherTool], tool_choice: { type: "tool", name: "clock" } }, "tool_choice.name"],
      ["a tool choice of any without tools", { tool_choice: { type: "any" } }, "tool_choice"],
      ["MCP servers", { mcp_servers: [{ type: "url", url: "https://mcp.example.com", name: "x" }] }, "mcp_servers"],
      ["a container", { container: "container_1" }, "container"],
      ["an unknown thinking type", { thinking: { type: "deep" } }, "thinking.type"],
      ["a tool choice of an unknown type", { tools: [weatherTool], tool_choice: { type: "all" } }, "tool_choice.type"],
      ["a document block", { messages: [{ role: "user", content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "x" } }] }] }, "messages[0].content[0].type"],
      ["an image by file id", { messages: [{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "file_1" } }] }] }, "messages[0].content[0].source.type"],
      ["a document in a tool result", { messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "x" } }] }] }] }, "messages[0].content[0].content[0].type"],
      ["image data that is not base64", { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR w0KGgo=" } }] }] }, "messages[0].content[0].source.data"],
      ["image data badly padded", { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo==" } }] }] }, "messages[0].content[0].source.data"],
      ["empty image data", { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "" } }] }] }, "messages[0].content[0].source.data"],
      ["image data of a text", { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "text/plain", data: "aGk=" } }] }] }, "messages[0].content[0].source.media_type"],
      ["bad image data in a tool result", { messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "!!!!" } }] }] }] }, "messages[0].content[0].content[0].source.data"],
      ["a temperature over Anthropic's 1", { temperature: 1.5 }, "temperature"],
      ["too many stop sequences", { stop_sequences: ["a", "b", "c", "d", "e"] }, "stop_sequences"],
      ["a thinking budget under 1024", { thinking: { type: "enabled", budget_tokens: 100 } }, "thinking.budget_tokens"],
      ["a top_k that is no integer", { top_k: "many" }, "top_k"],
      ["a negative top_k", { top_k: -1 }, "top_k"],
      ["only thinking", { messages: [{ role: "assistant", content: [{ type: "thinking", thinking: "x", signature: "s" }] }] }, "messages"]
    ]

    it.scoped("each refused field: a 400 whose message names it, and no upstream call", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        for (const [name, fields, param] of refused) {
          const body = { ...ask, ...fields } as unknown as MessageCreateParamsNonStreaming
          const error = yield* rejection(() => client.messages.create(body))
          expect(error, name).toBeInstanceOf(Anthropic.BadRequestError)
          expect((error as InstanceType<typeof Anthropic.APIError>).type, name).toBe("invalid_request_error")
          expect((error as InstanceType<typeof Anthropic.APIError>).message, name).toContain(`'${param}'`)
        }
        expect(primary.count()).toBe(0)
      })
    )
  })
})

describe("messagesRequest.decode", () => {
  const decoded = (fields: Record<string, unknown>) => {
    const result = MessagesRequest.decode({ ...ask, ...fields })
    if (Either.isLeft(result)) throw new Error(result.left.message)
    return result.right
  }

  it("metadata.user_id is the chat route's user; top_k is the request's topK (0 none); any is required; output_config's format and effort", () => {
    expect(decoded({ metadata: { user_id: "u-1" }, top_k: 5 }).request).toEqual({
      messages: [{ role: "user", content: prompt }],
      maxTokens: 64,
      topK: 5,
      metadata: { user: "u-1" }
    })
    expect(decoded({ top_k: 0 }).request).toEqual({ messages: [{ role: "user", content: prompt }], maxTokens: 64 })
    expect(decoded({ tools: [weatherTool], tool_choice: { type: "any" } }).request.toolChoice).toBe("required")
    expect(decoded({ tools: [weatherTool], tool_choice: { type: "none" } }).request.toolChoice).toBe("none")
    const schema = { type: "object", properties: { a: { type: "string" } } }
    expect(decoded({ output_config: { effort: "max", format: { type: "json_schema", schema } } }).request).toMatchObject({
      reasoningEffort: "xhigh",
      responseFormat: { type: "json_schema", name: "output", schema }
    })
    expect(decoded({ thinking: { type: "adaptive" } }).request.reasoningEffort).toBeUndefined()
    expect(decoded({ thinking: { type: "between_tools" } }).request.reasoningEffort).toBeUndefined()
    // an unknown type's message lists every type taken
    const deep = MessagesRequest.decode({ ...ask, thinking: { type: "deep" } })
    expect(Either.isLeft(deep) && deep.left.message).toContain("'between_tools'")
    expect([1_024, 4_096, 16_384].map((budget) => decoded({ thinking: { type: "enabled", budget_tokens: budget } }).request.reasoningEffort)).toEqual([
      "low",
      "medium",
      "high"
    ])
    expect(decoded({ stream: true }).stream).toBe(true)
    expect(decoded({ context_management: { edits: [] } }).request.messages).toHaveLength(1)
  })

  it("a system message among the messages (Anthropic's mid-conversation system message): a system message in its place, its text blocks joined by a blank line", () => {
    const messages = [
      { role: "user", content: "Hi" },
      { role: "system", content: [{ type: "text", text: "Answer in French." }, { type: "text", text: " Be brief.", cache_control: { type: "ephemeral" } }] },
      { role: "assistant", content: "Bonjour." },
      { role: "user", content: "Ça va ?" },
      { role: "system", content: "Now in English." }
    ]
    expect(decoded({ system: "Be kind.", messages }).request.messages).toEqual([
      { role: "system", content: "Be kind." },
      { role: "user", content: "Hi" },
      { role: "system", content: "Answer in French.\n\n Be brief.", cache: "5m" },
      { role: "assistant", content: "Bonjour." },
      { role: "user", content: "Ça va ?" },
      { role: "system", content: "Now in English." }
    ])
  })

  it("a tool result's images, which a tool message cannot carry, go in the user message after the turn's tool messages", () => {
    const sky = { type: "image", source: { type: "url", url: "https://example.com/sky.png" } }
    const turn = {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "call_1", content: [{ type: "text", text: "a photo:" }, sky] },
        { type: "tool_result", tool_use_id: "call_2", content: "done" },
        { type: "text", text: "Describe it." }
      ]
    }
    expect(decoded({ messages: [turn] }).request.messages).toEqual([
      { role: "tool", toolCallId: "call_1", content: "a photo:" },
      { role: "tool", toolCallId: "call_2", content: "done" },
      { role: "user", content: [{ type: "image", url: "https://example.com/sky.png" }, { type: "text", text: "Describe it." }] }
    ])
  })
})

describe("Anthropic's usage", () => {
  it("input without the cache's reads and writes, beside them; a reasoning model's thinking tokens as output_tokens_details", () => {
    expect(usageJson({ inputTokens: 1_000, outputTokens: 300, cacheReadTokens: 600, cacheWriteTokens: 100, reasoningTokens: 250 })).toEqual({
      input_tokens: 300,
      cache_creation_input_tokens: 100,
      cache_read_input_tokens: 600,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
      output_tokens: 300,
      output_tokens_details: { thinking_tokens: 250 }
    })
    expect(usageJson({ inputTokens: 10, outputTokens: 3 })).toEqual({
      input_tokens: 10,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 3
    })
  })
})

describe("Anthropic's error JSON", () => {
  const failures: ReadonlyArray<readonly [Errors.Failure, string, new (...args: never) => unknown]> = [
    [Errors.badRequest("bad", "x"), "invalid_request_error", Anthropic.BadRequestError],
    [Errors.unauthorized(true), "authentication_error", Anthropic.AuthenticationError],
    [Errors.hostNotAllowed(), "permission_error", Anthropic.PermissionDeniedError],
    [Errors.modelNotFound("x"), "not_found_error", Anthropic.NotFoundError],
    [Errors.unknownUrl("POST", "/v1/x"), "not_found_error", Anthropic.NotFoundError],
    [Errors.methodNotAllowed("GET", "/v1/messages", ["POST"]), "invalid_request_error", Anthropic.APIError],
    [Errors.bodyTimedOut(Duration.seconds(1)), "timeout_error", Anthropic.APIError],
    [Errors.tooLarge(10), "request_too_large", Anthropic.APIError],
    [Errors.unsupportedMediaType(), "invalid_request_error", Anthropic.APIError],
    [Errors.busy(), "rate_limit_error", Anthropic.RateLimitError],
    [Errors.uploadsFull(), "rate_limit_error", Anthropic.RateLimitError],
    [Errors.shuttingDown(), "overloaded_error", Anthropic.InternalServerError],
    [Errors.timedOut(Duration.seconds(1)), "timeout_error", Anthropic.InternalServerError],
    [Errors.internal(), "api_error", Anthropic.InternalServerError]
  ]

  it("every gateway failure: the type for its status, and the SDK's class for it", () => {
    for (const [failure, type, Class] of failures) {
      const body = errorJson(failure)
      expect(body, failure.code ?? failure.type).toEqual({ type: "error", error: { type, message: failure.message } })
      const error = Anthropic.APIError.generate(failure.status, body, undefined, new Headers(failure.headers))
      expect(error, failure.code ?? failure.type).toBeInstanceOf(Class)
      expect(error.type).toBe(type)
    }
  })

  it("an exhausted chain is Anthropic's 529 (its SDK's OverloadedError), headers and attempts kept; a draining gateway stays a 503", () => {
    const exhausted = new Errors.Failure({
      status: 503,
      type: "server_error",
      code: "chain_exhausted",
      param: null,
      message: "Every target of 'default' failed: a (Overloaded 529).",
      headers: { "x-llm-chain": "default", "retry-after": "3" },
      details: { attempts: [] }
    })
    const mapped = anthropicStatus(exhausted)
    expect([mapped.status, mapped.headers, mapped.details, mapped.message]).toEqual([529, exhausted.headers, exhausted.details, exhausted.message])
    expect(Anthropic.APIError.generate(529, errorJson(mapped), undefined, new Headers())).toBeInstanceOf(Anthropic.OverloadedError)
    expect(errorJson(mapped).error.type).toBe("overloaded_error")
    for (const kept of [Errors.shuttingDown(), Errors.busy(), Errors.timedOut(Duration.seconds(1)), Errors.internal()]) {
      expect(anthropicStatus(kept), kept.code ?? kept.type).toBe(kept)
    }
  })
})

describe("a stream's failure after its first event", () => {
  const interrupted = (cause: ProviderError) =>
    new StreamInterrupted({ chain: "default", provider: cause.provider, model: cause.model, message: "cut", partialText: "Hi", cause })
  const base = { provider: "openai", model: "gpt-4.1-mini", message: "upstream" }

  it("its error event's type by what the provider said, as Anthropic's own streams type theirs", () => {
    const cases: ReadonlyArray<readonly [ProviderError, string]> = [
      [new Overloaded({ ...base, status: 529 }), "overloaded_error"],
      [new RateLimited({ ...base, status: 429 }), "rate_limit_error"],
      [new Timeout({ ...base, phase: "idle" }), "timeout_error"],
      [new ServerError({ ...base, status: 500 }), "api_error"],
      [new TransportError({ ...base, code: "ECONNRESET" }), "api_error"],
      [new MalformedResponse({ ...base }), "api_error"]
    ]
    for (const [cause, type] of cases) {
      const failure = Wire.streamFailure(interrupted(cause))
      expect([failure.code, errorJson(failure).error.type], cause._tag).toEqual(["stream_interrupted", type])
      // the other routes' error events carry no status: the same OpenAI JSON whatever the cause
      expect(Errors.body(failure), cause._tag).toEqual({
        error: { type: "server_error", code: "stream_interrupted", param: null, message: expect.stringContaining(`(${cause._tag})`) }
      })
    }
  })
})

describe("MessageEncoder", () => {
  type Segment =
    | { readonly _tag: "text"; readonly pieces: ReadonlyArray<string> }
    | { readonly _tag: "tool"; readonly name: string; readonly input: Record<string, unknown>; readonly cuts: ReadonlyArray<number> }

  const value = FastCheck.oneof(FastCheck.string(), FastCheck.integer(), FastCheck.boolean(), FastCheck.constant(null), FastCheck.array(FastCheck.string(), { maxLength: 3 }))
  const segment: FastCheck.Arbitrary<Segment> = FastCheck.oneof(
    FastCheck.array(FastCheck.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }).map((pieces) => ({ _tag: "text" as const, pieces })),
    FastCheck.record({
      name: FastCheck.stringMatching(/^[a-z_]{1,12}$/),
      input: FastCheck.dictionary(FastCheck.string(), value, { maxKeys: 4 }),
      cuts: FastCheck.array(FastCheck.nat(), { maxLength: 3 })
    }).map((tool) => ({ _tag: "tool" as const, ...tool }))
  )
  const finish = FastCheck.option(FastCheck.constantFrom<FinishReason>("stop", "length", "tool_calls", "error", "unknown"), { nil: undefined })
  const usage = FastCheck.record({ inputTokens: FastCheck.nat(10_000), outputTokens: FastCheck.nat(10_000) })

  /** A tool call's arguments cut into pieces, as an adapter streams them. */
  const pieces = (text: string, cuts: ReadonlyArray<number>): ReadonlyArray<string> => {
    const at = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
    return [0, ...at].map((from, i) => text.slice(from, [...at, text.length][i]))
  }

  /** The chunks of the segments, and the content blocks they make (adjacent text segments one block). */
  const scenario = (segments: ReadonlyArray<Segment>) => {
    const chunks: Array<ChatChunk> = []
    const blocks: Array<ContentBlock | { readonly type: "text"; text: string }> = []
    segments.forEach((s, i) => {
      if (s._tag === "text") {
        for (const text of s.pieces) chunks.push({ _tag: "TextDelta", text })
        const last = blocks.at(-1)
        if (last?.type === "text") last.text += s.pieces.join("")
        else blocks.push({ type: "text", text: s.pieces.join("") })
        return
      }
      const args = JSON.stringify(s.input)
      pieces(args, s.cuts).forEach((piece, j) =>
        chunks.push({ _tag: "ToolCallDelta", index: i, arguments: piece, ...(j === 0 ? { id: `call_${i}`, name: s.name } : {}) })
      )
      blocks.push({ type: "tool_use", id: `call_${i}`, name: s.name, input: JSON.parse(args) as unknown } as ContentBlock)
    })
    return { chunks, blocks: blocks.length === 0 ? [{ type: "text", text: "" }] : blocks }
  }

  /** The SSE body as the SDK's stream reads a readable stream: one event's JSON a line. */
  const accumulate = (wire: string): Promise<Message> => {
    const lines = frames(wire).map((frame) => JSON.stringify(frame.data)).join("\n") + "\n"
    const readable = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(lines))
        controller.close()
      }
    })
    return MessageStream.fromReadableStream(readable).finalMessage()
  }

  it("its events, named as their data's type, build in the SDK's MessageStream the text blocks and tool inputs sent", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(FastCheck.array(segment, { maxLength: 6 }), finish, usage, async (segments, reason, tokens) => {
        const { blocks, chunks } = scenario(segments)
        const encoder = new MessageEncoder("msg_1", "gpt-4.1-mini")
        let wire = encoder.start()
        for (const chunk of chunks) wire += encoder.chunk(chunk) ?? ""
        if (reason !== undefined) wire += encoder.chunk({ _tag: "Finish", reason }) ?? ""
        wire += encoder.end(tokens)
        for (const frame of frames(wire)) expect(frame.data.type).toBe(frame.event)
        // one ping, right after the first block opens, as Anthropic's stream has it
        expect(frames(wire).slice(0, 3).map((f) => f.event)).toEqual(["message_start", "content_block_start", "ping"])
        expect(frames(wire).filter((f) => f.event === "ping")).toHaveLength(1)
        const message = await accumulate(wire)
        expect(message.content).toEqual(blocks)
        const calls = segments.some((s) => s._tag === "tool")
        expect(message.stop_reason).toBe(stopReason(reason ?? "unknown", calls))
        expect(message.usage).toMatchObject({ input_tokens: tokens.inputTokens, output_tokens: tokens.outputTokens })
      }),
      { numRuns: 1000 }
    )
  })

  it("a failure after content: one error event last, in Anthropic's JSON; a stop on policy: stop_reason refusal, the refusal as text", async () => {
    const encoder = new MessageEncoder("msg_1", "gpt-4.1-mini")
    const wire = encoder.start() + (encoder.chunk({ _tag: "TextDelta", text: "Hi" }) ?? "") +
      encoder.failed(new Errors.Failure({ status: 502, type: "server_error", code: "stream_interrupted", param: null, message: "cut" }))
    expect(frames(wire).at(-1)).toEqual({ event: "error", data: { type: "error", error: { type: "api_error", message: "cut" } } })

    const stopped = new MessageEncoder("msg_2", "gpt-4.1-mini")
    const error = new ContentFiltered({ provider: "openai", model: "gpt-4.1-mini", message: "stopped", partialText: "I ", refusal: "can't help." })
    const message = await accumulate(stopped.stoppedStream(error))
    expect(message.content).toEqual([{ type: "text", text: "I can't help." }])
    expect(message.stop_reason).toBe("refusal")
  })
})
