/**
 * The OpenAI Chat Completions adapter against the mock server: the exact
 * wire request, JSON and streamed answers with usage and tool calls, and
 * OpenAI's own failure shapes. (The fault matrix shared by the three
 * adapters is in HttpErrors.test.ts.)
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Effect, Either, FiberRef, Layer, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import { isStoppedAnswer } from "../src/llm/index.js"
import * as LanguageModel from "../src/llm/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as AnthropicWire from "../src/providers/internal/anthropicWire.js"
import * as GeminiWire from "../src/providers/internal/geminiWire.js"
import * as Wire from "../src/providers/internal/openAiWire.js"
import * as MockServer from "../src/testing/MockServer.js"
import { listen } from "./support/servers.js"

const key = Redacted.make("sk-openai-test")

const conversation: Chat.ChatRequest = {
  messages: [
    { role: "system", content: "You are terse." },
    {
      role: "user",
      content: [
        { type: "text", text: "What is in this picture?" },
        { type: "image", url: "https://example.com/cat.png" }
      ]
    },
    { role: "assistant", toolCalls: [{ id: "call_1", name: "lookup", arguments: "{\"q\":\"cat\"}" }] },
    { role: "tool", toolCallId: "call_1", content: "a cat" },
    { role: "user", content: "So?" }
  ],
  temperature: 0.2,
  topP: 0.9,
  maxTokens: 64,
  stop: ["END"],
  tools: [{ name: "lookup", description: "Look a thing up", parameters: { type: "object", properties: {} } }],
  toolChoice: { name: "lookup" }
}

const toolReply: MockServer.Reply = {
  text: "It is a cat.",
  toolCalls: [{ id: "call_9", name: "lookup", arguments: { q: "breed" } }],
  usage: { inputTokens: 42, outputTokens: 7 }
}

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("OpenAi", (it) => {
  describe("wire request", () => {
    it("a tool choice of auto or none without tools goes to no provider, which OpenAI would refuse; required or a function goes, to be refused", () => {
      const sent = (request: Chat.ChatRequest) => [
        Wire.encodeRequest(request, "gpt-4.1", "max_tokens", false)["tool_choice"],
        AnthropicWire.encodeRequest(request, "claude-sonnet-4-5", 1024, false)["tool_choice"],
        GeminiWire.encodeRequest(request, "gemini-2.5-flash")["toolConfig"]
      ]
      expect(sent({ ...Chat.prompt("hi"), toolChoice: "auto" })).toEqual([undefined, undefined, undefined])
      expect(sent({ ...Chat.prompt("hi"), toolChoice: "none", tools: [] })).toEqual([undefined, undefined, undefined])
      const tools = [{ name: "f", parameters: { type: "object" } }]
      expect(sent({ ...Chat.prompt("hi"), toolChoice: "none", tools })).toEqual([
        "none",
        { type: "none" },
        { functionCallingConfig: { mode: "NONE" } }
      ])
      expect(sent({ ...Chat.prompt("hi"), toolChoice: "required" }).every((choice) => choice !== undefined)).toBe(true)
    })

    it.scoped("maps messages, parts, tool calls and results, options and tools", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* OpenAi.make({
          model: "gpt-4.1-mini",
          apiKey: key,
          baseUrl: server.baseUrls.openai,
          headers: { "openai-organization": "org-1" }
        })
        yield* model.complete(conversation)
        const [sent] = server.requests()
        expect(sent?.path).toBe("/v1/chat/completions")
        expect(sent?.headers.authorization).toBe("Bearer sk-openai-test")
        expect(sent?.headers["openai-organization"]).toBe("org-1")
        expect(sent?.headers.accept).toBe("application/json")
        expect(sent?.headers["content-type"]).toBe("application/json")
        expect(sent?.body).toEqual({
          model: "gpt-4.1-mini",
          messages: [
            { role: "system", content: "You are terse." },
            {
              role: "user",
              content: [
                { type: "text", text: "What is in this picture?" },
                { type: "image_url", image_url: { url: "https://example.com/cat.png" } }
              ]
            },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{\"q\":\"cat\"}" } }]
            },
            { role: "tool", tool_call_id: "call_1", content: "a cat" },
            { role: "user", content: "So?" }
          ],
          temperature: 0.2,
          top_p: 0.9,
          max_tokens: 64,
          stop: ["END"],
          tools: [
            {
              type: "function",
              function: { name: "lookup", description: "Look a thing up", parameters: { type: "object", properties: {} } }
            }
          ],
          tool_choice: { type: "function", function: { name: "lookup" } }
        })
      })
    )

    it.scoped("sends seed and the penalties; never top_k nor another provider's options, which OpenAI does not take", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const adapter = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: server.url })
        yield* adapter.complete({
          ...Chat.prompt("hi"),
          seed: 42,
          presencePenalty: -0.5,
          frequencyPenalty: 1.5,
          topK: 40,
          providerOptions: { anthropic: { betas: ["context-1m-2025-08-07"] }, gemini: { safetySettings: [{ category: "C", threshold: "T" }] } }
        })
        yield* Stream.runDrain(adapter.stream(Chat.prompt("hi", { seed: 0, presencePenalty: 0 })))
        yield* adapter.complete(Chat.prompt("hi"))
        const [first, second, third] = server.requests()
        expect(first?.body).toEqual({
          model: "gpt-4.1-mini",
          messages: [{ role: "user", content: "hi" }],
          seed: 42,
          presence_penalty: -0.5,
          frequency_penalty: 1.5
        })
        expect(first?.headers["anthropic-beta"]).toBeUndefined()
        expect([(second?.body as Record<string, unknown>)["seed"], (second?.body as Record<string, unknown>)["presence_penalty"]]).toEqual([0, 0])
        expect(third?.body).toEqual({ model: "gpt-4.1-mini", messages: [{ role: "user", content: "hi" }] })
      })
    )

    it.scoped("leaves temperature, top_p and the penalties out for the reasoning models that refuse them, on any base URL; seed goes to all", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const sampling = (model: string) =>
          Effect.gen(function* () {
            server.clear()
            const adapter = yield* OpenAi.make({ model, apiKey: key, baseUrl: server.url })
            yield* adapter.complete({ ...Chat.prompt("hi", { temperature: 0.2, topP: 0.9 }), presencePenalty: 0.1, frequencyPenalty: 0.3, seed: 7 })
            const body = server.requests()[0]?.body as Record<string, unknown>
            return [model, body["temperature"], body["top_p"], body["presence_penalty"], body["frequency_penalty"], body["seed"]]
          })
        // OpenAI answers these 400 unsupported_value ("Only the default (1) value is supported")
        const refusing = [
          "o1", "o1-mini", "o1-2024-12-17", "o3", "o3-mini", "o3-pro", "o4-mini", "o4-mini-2025-04-16",
          "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5-2025-08-07", "gpt-5-nano-2025-08-07", "gpt-5-pro", "gpt-5-codex",
          // later models without the reasoning effort "none", the only one that takes sampling
          "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.2-pro", "gpt-5.2-pro-2025-12-11",
          // OpenRouter's name for it
          "openai/o3"
        ]
        for (const model of refusing) expect(yield* sampling(model)).toEqual([model, undefined, undefined, undefined, undefined, 7])
        // GPT-5's chat model takes them, and so do GPT-5.1 and later, whose default reasoning effort is "none"
        const taking = ["gpt-5-chat-latest", "gpt-5.1", "gpt-5.2", "gpt-5.2-2025-12-11", "gpt-5.2-chat-latest", "gpt-4.1-mini", "gpt-4o", "llama3.2", "omni-7b"]
        for (const model of taking) expect(yield* sampling(model)).toEqual([model, 0.2, 0.9, 0.1, 0.3, 7])
      })
    )

    it.scoped("asks a stream for its usage and for server-sent events", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* OpenAi.make({ model: "gpt-4o", apiKey: key, baseUrl: server.url })
        yield* Stream.runDrain(model.stream(Chat.prompt("hi", { toolChoice: "required" })))
        const [sent] = server.requests()
        expect(sent?.path).toBe("/chat/completions")
        expect(sent?.headers.accept).toBe("text/event-stream")
        expect(sent?.body).toEqual({
          model: "gpt-4o",
          messages: [{ role: "user", content: "hi" }],
          tool_choice: "required",
          stream: true,
          stream_options: { include_usage: true }
        })
      })
    )

    it.scoped("sends response_format: json_object as is, json_schema with its name, description, schema and strict", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: server.url })
        const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false }
        yield* model.complete(Chat.prompt("a", { responseFormat: { type: "json_object" } }))
        yield* Stream.runDrain(
          model.stream(Chat.prompt("b", { responseFormat: { type: "json_schema", name: "n", description: "A number", schema, strict: true } }))
        )
        yield* model.complete(Chat.prompt("c", { responseFormat: { type: "json_schema", name: "m", schema } }))
        yield* model.complete(Chat.prompt("d"))
        // OpenAI wants JSON mode asked for in words too: a request that does not gets a system line saying so
        const messages = server.requests().map((r) => (r.body as { messages: Array<{ role: string; content: string }> }).messages)
        expect(messages[0]).toEqual([
          { role: "system", content: "Respond with a JSON object." },
          { role: "user", content: "a" }
        ])
        expect(messages.slice(1).every((m) => m.length === 1)).toBe(true)
        yield* model.complete(Chat.prompt("Name a prime in json.", { responseFormat: { type: "json_object" } }))
        expect((server.requests()[4]?.body as { messages: Array<unknown> }).messages).toHaveLength(1)
        // a request with a system message of its own: the line joins it (some servers take one system message only)
        yield* model.complete(Chat.prompt("a", { system: "Be terse.", responseFormat: { type: "json_object" } }))
        expect((server.requests()[5]?.body as { messages: Array<unknown> }).messages).toEqual([
          { role: "system", content: "Be terse.\n\nRespond with a JSON object." },
          { role: "user", content: "a" }
        ])
        expect(server.requests().slice(0, 4).map((r) => (r.body as Record<string, unknown>).response_format)).toEqual([
          { type: "json_object" },
          { type: "json_schema", json_schema: { name: "n", description: "A number", schema, strict: true } },
          { type: "json_schema", json_schema: { name: "m", schema } },
          undefined
        ])
      })
    )

    it.scoped("a server said to give no JSON answers (responseFormats: []) gets no request for one: InvalidRequest", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* OpenAi.make({ model: "llama3.2", baseUrl: server.url, info: { responseFormats: [] } })
        const error = yield* Effect.flip(model.complete(Chat.prompt("a", { responseFormat: { type: "json_object" } })))
        expect(error._tag).toBe("InvalidRequest")
        expect(error.message).toBe("openai/llama3.2 cannot answer in the response format 'json_object' (its responseFormats: [])")
        expect(server.count()).toBe(0)
      })
    )

    it.scoped("reads Gemini's thought signature from a call's extra_content (Google's endpoint); sends it back there only", () =>
      Effect.gen(function* () {
        const call = { id: "c1", type: "function", function: { name: "f", arguments: "{}" }, extra_content: { google: { thought_signature: "sig-A" } } }
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(200, {
              body: { id: "x", choices: [{ message: { role: "assistant", content: null, tool_calls: [call] }, finish_reason: "tool_calls" }] }
            }),
            MockServer.status(200, {
              body: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...call }] } }] })}\n\ndata: [DONE]\n\n`
            })
          ]
        })
        const model = yield* OpenAi.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect(response.toolCalls).toEqual([{ id: "c1", name: "f", arguments: "{}", signature: "sig-A" }])
        const streamed = yield* Chat.collect(model.stream(Chat.prompt("hi")), { id: "s", provider: "p", model: "m" })
        expect(streamed.toolCalls).toEqual(response.toolCalls)
        // a server that is not Google's gets no extra_content: OpenAI's own has no such field
        const turn = { messages: [...Chat.prompt("hi").messages, { role: "assistant", toolCalls: response.toolCalls }] } satisfies Chat.ChatRequest
        yield* model.complete(turn)
        const sent = server.requests()[2]?.body as { messages: Array<{ tool_calls?: Array<Record<string, unknown>> }> }
        expect(sent.messages[1]?.tool_calls).toEqual([{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }])
        expect(Wire.encodeRequest(turn, "gemini-2.5-flash", "max_tokens", false, true)["messages"]).toMatchObject([
          {},
          { tool_calls: [{ id: "c1", extra_content: { google: { thought_signature: "sig-A" } } }] }
        ])
        // to Gemini 3 there, a turn another provider made gets the placeholder on its first call
        const unsigned = {
          messages: [
            { role: "user", content: "hi" },
            { role: "assistant", toolCalls: [{ id: "x", name: "f", arguments: "{}" }, { id: "y", name: "f", arguments: "{}" }] }
          ]
        } satisfies Chat.ChatRequest
        const calls = (model: string) =>
          (Wire.encodeRequest(unsigned, model, "max_tokens", false, true)["messages"] as Array<{ tool_calls?: Array<Record<string, unknown>> }>)[1]?.tool_calls
        expect(calls("gemini-3-flash-preview")?.map((c) => c["extra_content"])).toEqual([
          { google: { thought_signature: "skip_thought_signature_validator" } },
          undefined
        ])
        expect(calls("gemini-2.5-flash")?.map((c) => c["extra_content"])).toEqual([undefined, undefined])
        // Vertex's OpenAI-compatible endpoint names its models with a publisher prefix
        expect(calls("google/gemini-3-pro-preview")?.[0]?.["extra_content"]).toEqual({ google: { thought_signature: "skip_thought_signature_validator" } })
      })
    )

    it.scoped("thoughtSignatures: a proxy in front of Google's endpoint gets the signatures back when told; Google's endpoint not, when told not", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const turn = {
          messages: [
            { role: "user", content: "hi" },
            { role: "assistant", toolCalls: [{ id: "c1", name: "f", arguments: "{}", signature: "sig-A" }] },
            { role: "tool", toolCallId: "c1", content: "{}" }
          ]
        } satisfies Chat.ChatRequest
        const sentCall = (index: number) =>
          (server.requests()[index]?.body as { messages: Array<{ tool_calls?: Array<Record<string, unknown>> }> }).messages[1]?.tool_calls?.[0]
        const proxied = yield* OpenAi.make({ model: "gemini-3-flash-preview", baseUrl: server.url, thoughtSignatures: true })
        yield* proxied.complete(turn)
        expect(sentCall(0)?.["extra_content"]).toEqual({ google: { thought_signature: "sig-A" } })
        const plain = yield* OpenAi.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        yield* plain.complete(turn)
        expect(sentCall(1)?.["extra_content"]).toBeUndefined()
        // Google's own host, told not to: what it would send is checked on the encoder the adapter uses
        const off = yield* OpenAi.make({
          model: "gemini-3-flash-preview",
          baseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
          thoughtSignatures: false,
          transformClient: (client) => client.pipe(HttpClient.mapRequest(HttpClientRequest.setUrl(`${server.url}/chat/completions`)))
        })
        yield* off.complete(turn)
        expect(sentCall(2)?.["extra_content"]).toBeUndefined()
      })
    )

    it.scoped("sends reasoning_effort to the models that reason, at the nearest level each has, and then no sampling unless it is none", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const sent = (model: string, reasoningEffort: Chat.ReasoningEffort) =>
          Effect.gen(function* () {
            server.clear()
            const adapter = yield* OpenAi.make({ model, apiKey: key, baseUrl: server.url })
            yield* adapter.complete({ ...Chat.prompt("hi", { temperature: 0.2 }), reasoningEffort })
            const body = server.requests()[0]?.body as Record<string, unknown>
            return [model, reasoningEffort, body["reasoning_effort"], body["temperature"]]
          })
        const cases: ReadonlyArray<readonly [string, Chat.ReasoningEffort, string | undefined, number | undefined]> = [
          // the o-series: low, medium, high
          ["o4-mini", "minimal", "low", undefined],
          ["o3", "xhigh", "high", undefined],
          ["openai/o3-mini", "medium", "medium", undefined],
          // GPT-5: minimal to high, no none
          ["gpt-5-mini", "none", "minimal", undefined],
          ["gpt-5-pro", "low", "high", undefined],
          // GPT-5.1 and later: none takes sampling, any other effort does not
          ["gpt-5.1", "none", "none", 0.2],
          ["gpt-5.2", "high", "high", undefined],
          ["gpt-5.2", "xhigh", "xhigh", undefined],
          // models that do not reason, or that the table does not know, get no reasoning_effort
          ["gpt-4.1", "high", undefined, 0.2],
          ["gpt-5-chat-latest", "high", undefined, 0.2],
          ["o1-mini", "high", undefined, undefined],
          ["llama3.2", "high", undefined, 0.2]
        ]
        for (const [model, effort, expected, temperature] of cases) {
          expect(yield* sent(model, effort)).toEqual([model, effort, expected, temperature])
        }
      })
    )

    it.scoped("a 400 refusing the reasoning effort is asked once more without it, which the adapter's later calls leave out; another 400 is not", () =>
      Effect.gen(function* () {
        const refusal = () =>
          MockServer.status(400, { message: "Unsupported value: 'reasoning_effort' does not support 'low' with this model. Supported values are: 'high'." })
        const server = yield* MockServer.make({ faults: [refusal(), MockServer.reply({}), refusal(), MockServer.reply({})] })
        const make = OpenAi.make({ model: "gpt-5-pro-2026-01-01", apiKey: key, baseUrl: server.url })
        const adapter = yield* make
        const request: Chat.ChatRequest = { ...Chat.prompt("hi"), reasoningEffort: "low" }
        const efforts = () => server.requests().map((r) => (r.body as Record<string, unknown>)["reasoning_effort"])
        const streamed = (model: typeof adapter) =>
          Chat.collect(model.stream(request), { id: "s", provider: "openai", model: "m" }).pipe(Effect.map((r) => r.text))
        // streamed by another adapter, which has not been refused: asked with it, then without
        expect(yield* streamed(yield* make)).toBe("Hello from the mock server.")
        expect((yield* adapter.complete(request)).text).toBe("Hello from the mock server.")
        expect(efforts()).toEqual(["high", undefined, "high", undefined])
        // refused once, the effort is left out of the adapter's later calls, whole or streamed; another effort is not
        server.enqueue(MockServer.reply({}), MockServer.reply({}), MockServer.reply({}))
        yield* adapter.complete(request)
        expect(yield* streamed(adapter)).toBe("Hello from the mock server.")
        yield* adapter.complete({ ...request, reasoningEffort: "high" })
        expect(efforts().slice(4)).toEqual([undefined, undefined, "high"])
        // a request without an effort, or another 400, is sent once
        server.enqueue(refusal(), MockServer.status(400, { message: "Invalid value for 'tool_choice'." }))
        expect((yield* Effect.flip(adapter.complete(Chat.prompt("hi"))))._tag).toBe("InvalidRequest")
        expect((yield* Effect.flip(adapter.complete({ ...request, reasoningEffort: "high" })))._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(9)
      })
    )

    it.scoped("on Google's endpoint: a 400 refusing the signatures is asked once more with the placeholder; Gemma gets none", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.status(400, { message: "Corrupted thought signature." }), MockServer.reply({}), MockServer.reply({})]
        })
        const google = "https://generativelanguage.googleapis.com/v1beta/openai"
        const toMock = HttpClient.mapRequest((request: HttpClientRequest.HttpClientRequest) =>
          HttpClientRequest.setUrl(request, request.url.replace(google, server.baseUrls.openai))
        )
        const turn = {
          messages: [
            { role: "user", content: "hi" },
            { role: "assistant", toolCalls: [{ id: "c1", name: "f", arguments: "{}", signature: "sig-A" }, { id: "c2", name: "f", arguments: "{}" }] },
            { role: "tool", toolCallId: "c1", content: "1" },
            { role: "tool", toolCallId: "c2", content: "2" }
          ]
        } satisfies Chat.ChatRequest
        const gemini = yield* OpenAi.make({ model: "gemini-3-flash-preview", baseUrl: google, apiKey: key, transformClient: toMock })
        expect((yield* gemini.complete(turn)).text).toBe("Hello from the mock server.")
        const gemma = yield* OpenAi.make({ model: "gemma-3-27b-it", baseUrl: google, apiKey: key, transformClient: toMock })
        yield* gemma.complete(turn)
        const extra = server.requests().map((r) =>
          (r.body as { messages: Array<{ tool_calls?: Array<Record<string, unknown>> }> }).messages[1]?.tool_calls?.map((c) => c["extra_content"])
        )
        expect(extra).toEqual([
          [{ google: { thought_signature: "sig-A" } }, undefined],
          [{ google: { thought_signature: "skip_thought_signature_validator" } }, undefined],
          [undefined, undefined]
        ])
        // elsewhere such a 400 is the request's own: sent once
        server.enqueue(MockServer.status(400, { message: "Corrupted thought signature." }))
        const elsewhere = yield* OpenAi.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        expect((yield* Effect.flip(elsewhere.complete(turn)))._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(4)
      })
    )

    it.scoped("sends max_completion_tokens to OpenAI itself, max_tokens elsewhere, or what it is told", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        // reach "api.openai.com" through transformClient, which must run last
        const toMock = HttpClient.mapRequest((request: HttpClientRequest.HttpClientRequest) =>
          HttpClientRequest.setUrl(request, request.url.replace(OpenAi.defaultBaseUrl, server.baseUrls.openai))
        )
        const official = yield* OpenAi.make({ model: "o4-mini", apiKey: key, transformClient: toMock })
        const compatible = yield* OpenAi.make({ model: "llama", baseUrl: server.url })
        const told = yield* OpenAi.make({ model: "x", baseUrl: server.url, maxTokensField: "max_completion_tokens" })
        const request = Chat.prompt("hi", { maxTokens: 5 })
        yield* official.complete(request)
        yield* compatible.complete(request)
        yield* told.complete(request)
        const bodies = server.requests().map((r) => r.body as Record<string, unknown>)
        expect(bodies.map((b) => [b.max_tokens, b.max_completion_tokens])).toEqual([
          [undefined, 5],
          [5, undefined],
          [undefined, 5]
        ])
        expect(server.requests()[0]?.path).toBe("/v1/chat/completions")
      })
    )

    it.scoped("sends no Authorization header without a key (Ollama, vLLM)", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* OpenAi.make({ model: "llama3.2", baseUrl: server.url, provider: "ollama" })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect(response.provider).toBe("ollama")
        expect(server.requests()[0]?.headers.authorization).toBeUndefined()
      })
    )

    it.scoped("redacts the auth headers in the client's spans and logs while it calls", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const seen: Array<ReadonlyArray<string | RegExp>> = []
        const model = yield* OpenAi.make({
          model: "m",
          apiKey: key,
          baseUrl: server.url,
          transformClient: HttpClient.tapRequest(() =>
            Effect.map(FiberRef.get(Headers.currentRedactedNames), (names) => seen.push(names))
          )
        })
        yield* model.complete(Chat.prompt("hi"))
        expect(seen[0]).toEqual(expect.arrayContaining(["authorization", "x-api-key", "x-goog-api-key", "api-key"]))
      })
    )
  })

  describe("answers", () => {
    it.scoped("reads a JSON completion with text, tool calls and usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: toolReply })
        const model = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: server.url })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect(response).toEqual({
          id: "chatcmpl-mock-0",
          provider: "openai",
          model: "gpt-4.1",
          text: "It is a cat.",
          toolCalls: [{ id: "call_9", name: "lookup", arguments: "{\"q\":\"breed\"}" }],
          finishReason: "tool_calls",
          usage: { inputTokens: 42, outputTokens: 7 }
        })
      })
    )

    it.scoped("streams text and tool-call deltas, then the finish, then the usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: toolReply })
        const model = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: server.url })
        const chunks = Array.from(yield* Stream.runCollect(model.stream(Chat.prompt("hi"))))
        expect(chunks).toEqual([
          { _tag: "TextDelta", text: "It " },
          { _tag: "TextDelta", text: "is " },
          { _tag: "TextDelta", text: "a " },
          { _tag: "TextDelta", text: "cat." },
          { _tag: "ToolCallDelta", index: 0, id: "call_9", name: "lookup", arguments: "" },
          { _tag: "ToolCallDelta", index: 0, arguments: "{\"q\":\"" },
          { _tag: "ToolCallDelta", index: 0, arguments: "breed\"}" },
          { _tag: "Finish", reason: "tool_calls" },
          { _tag: "Usage", usage: { inputTokens: 42, outputTokens: 7 } }
        ])
        const collected = yield* Chat.collect(model.stream(Chat.prompt("hi")), { id: "s", provider: "openai", model: "gpt-4.1" })
        expect(collected.toolCalls).toEqual([{ id: "call_9", name: "lookup", arguments: "{\"q\":\"breed\"}" }])
        expect(collected.text).toBe("It is a cat.")
      })
    )

    it.scoped("maps finish reasons, and reads a null content as empty text", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: { text: "", finishReason: "length" } })
        const model = yield* OpenAi.make({ model: "m", baseUrl: server.url })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect([response.text, response.finishReason]).toEqual(["", "length"])
      })
    )
  })

  describe("failures", () => {
    it.scoped("a content_filter finish or a refusal is ContentFiltered", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: { text: "Some of it", finishReason: "content_filter" } })
        const model = yield* OpenAi.make({ model: "m", baseUrl: server.url })
        const json = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect(json._tag === "ContentFiltered" && json.reason).toBe("content_filter")
        const streamed = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        expect(streamed._tag === "ContentFiltered" && streamed.reason).toBe("content_filter")
        // an answer stopped, not a prompt refused: the text before the stop (streamed, the text that went out) goes with it
        for (const error of [json, streamed]) expect(error).toMatchObject({ partialText: "Some of it", usage: { inputTokens: 10 } })
        expect(isStoppedAnswer(json)).toBe(true)
        // a stream's usage, which OpenAI sends after the finish, goes out before the failure
        const counted = yield* MockServer.make({
          reply: { text: "Some of it", finishReason: "content_filter", usage: { inputTokens: 1000, outputTokens: 3 } }
        })
        const seen: Array<Chat.ChatChunk> = []
        const failure = yield* Effect.flip(
          Stream.runForEach(
            (yield* OpenAi.make({ model: "m", baseUrl: counted.url })).stream(Chat.prompt("hi")),
            (chunk) => Effect.sync(() => void seen.push(chunk))
          )
        )
        expect(failure._tag).toBe("ContentFiltered")
        expect(seen.filter((c) => c._tag === "Usage")).toEqual([{ _tag: "Usage", usage: { inputTokens: 1000, outputTokens: 3 } }])
        expect(seen.map((c) => (c._tag === "TextDelta" ? c.text : "")).join("")).toBe("Some of it")
        // a body that ends after such a finish, without the usage or [DONE], is still the refusal
        counted.enqueue(
          MockServer.status(200, {
            body: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Some" }, finish_reason: null }] })}\n\n` +
              `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "content_filter" }] })}\n\n`
          })
        )
        const cut = yield* Effect.flip(Stream.runDrain((yield* OpenAi.make({ model: "m", baseUrl: counted.url })).stream(Chat.prompt("hi"))))
        expect(cut._tag).toBe("ContentFiltered")
        // and one that stays open after it, sending nothing more: the refusal once the idle deadline passes, not a Timeout
        const port = yield* listen((_req, res) => {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Some" }, finish_reason: null }] })}\n\n`)
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "content_filter" }] })}\n\n`)
        })
        const quiet = yield* OpenAi.make({ model: "m", baseUrl: `http://127.0.0.1:${port}/v1`, timeouts: { idle: "100 millis" } })
        const held = yield* Effect.flip(Stream.runDrain(quiet.stream(Chat.prompt("hi"))))
        expect(held._tag).toBe("ContentFiltered")

        server.enqueue(
          MockServer.status(200, {
            body: {
              id: "x",
              choices: [{ message: { content: null, refusal: "I can't help with that." }, finish_reason: "stop" }]
            }
          })
        )
        const refused = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect(refused._tag === "ContentFiltered" && [refused.reason, refused.message]).toEqual([
          "refusal",
          "openai refused: I can't help with that."
        ])
        expect(refused).toMatchObject({ partialText: "", refusal: "I can't help with that." })
        // streamed, a refusal comes in pieces, then its finish and the usage: the whole of it goes with the error
        const chunk = (delta: unknown, finish: string | null = null) =>
          `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
        server.enqueue(
          MockServer.status(200, {
            body: chunk({ role: "assistant", refusal: "" }) + chunk({ refusal: "I can't " }) + chunk({ refusal: "help with that." }) +
              chunk({}, "stop") + `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 6 } })}\n\n` +
              "data: [DONE]\n\n"
          })
        )
        const refusedStream = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        expect(refusedStream).toMatchObject({
          _tag: "ContentFiltered",
          reason: "refusal",
          partialText: "",
          refusal: "I can't help with that.",
          usage: { inputTokens: 9, outputTokens: 6 }
        })
        // a prompt refused (a 400) is no stopped answer
        server.enqueue(MockServer.refuse)
        const prompted = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect([prompted._tag, isStoppedAnswer(prompted)]).toEqual(["ContentFiltered", false])
      })
    )

    it.scoped("context_length_exceeded is ContextLengthExceeded with the window and the tokens asked", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ faults: [MockServer.contextLengthExceeded] })
        const model = yield* OpenAi.make({ model: "gpt-4o", baseUrl: server.url })
        const error = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect(error).toMatchObject({
          _tag: "ContextLengthExceeded",
          status: 400,
          contextWindow: 128000,
          requestedTokens: 130000
        })
      })
    )

    it.scoped("a completion without choices or of the wrong shape is MalformedResponse", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(200, { body: { id: "x", choices: [] } }),
            MockServer.status(200, { body: { id: "x", choices: [{ message: { content: 3 } }] } })
          ]
        })
        const model = yield* OpenAi.make({ model: "m", baseUrl: server.url })
        const empty = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        const wrong = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect([empty._tag, wrong._tag]).toEqual(["MalformedResponse", "MalformedResponse"])
        expect(wrong.message).toContain("unexpected chat completion")
      })
    )
  })

  describe("info and layers", () => {
    it.scoped("knows list prices and windows, takes overrides and falls back for unknown models", () =>
      Effect.gen(function* () {
        const known = yield* OpenAi.make({ model: "gpt-4.1-mini-2025-04-14" })
        expect(known.info).toEqual({
          provider: "openai",
          model: "gpt-4.1-mini-2025-04-14",
          contextWindow: 1_047_576,
          maxOutputTokens: 32_768,
          // cached input at a quarter of the input price, as GPT-4.1 bills it
          price: { input: 0.4, output: 1.6, cachedInput: 0.1 },
          responseFormats: ["json_object", "json_schema"]
        })
        const unknown = yield* OpenAi.make({ model: "my-finetune", provider: "together" })
        expect(unknown.info).toEqual({
          provider: "together",
          model: "my-finetune",
          contextWindow: 128_000,
          price: { input: 0, output: 0 },
          responseFormats: ["json_object", "json_schema"]
        })
        const formats = (model: string) => Effect.map(OpenAi.make({ model }), (m) => m.info.responseFormats)
        expect(yield* formats("gpt-4o-2024-08-06")).toEqual(["json_object", "json_schema"])
        expect(yield* formats("gpt-4o-2024-05-13")).toEqual(["json_object"])
        expect(yield* formats("o1-mini")).toEqual([])
        expect(yield* formats("o1-2024-12-17")).toEqual(["json_object", "json_schema"])
        const overridden = yield* OpenAi.make({
          model: "gpt-4o",
          info: { contextWindow: 64_000, price: { input: 1, output: 2 }, responseFormats: [] }
        })
        expect([overridden.info.contextWindow, overridden.info.price, overridden.info.responseFormats]).toEqual([
          64_000,
          { input: 1, output: 2, cachedInput: 0.5 },
          []
        ])
      })
    )

    it.scoped("layerConfig reads OPENAI_API_KEY and provides LanguageModel; a missing key is a ConfigError", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const withKey = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-from-env"]])))
        const text = yield* LanguageModel.complete(Chat.prompt("hi")).pipe(
          Effect.map((response) => response.text),
          Effect.provide(OpenAi.layerConfig({ model: "m", baseUrl: server.url }).pipe(Layer.provide(withKey)))
        )
        expect(text).toBe("Hello from the mock server.")
        expect(server.requests()[0]?.headers.authorization).toBe("Bearer sk-from-env")

        const empty = Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))
        const missing = yield* Effect.either(
          Layer.build(OpenAi.layerConfig({ model: "m", baseUrl: server.url }).pipe(Layer.provide(empty)))
        )
        expect(Either.isLeft(missing) && ConfigError.isMissingDataOnly(missing.left)).toBe(true)
        expect(Either.isLeft(missing) && String(missing.left)).toContain("OPENAI_API_KEY")

        const keyless = yield* LanguageModel.complete(Chat.prompt("hi")).pipe(
          Effect.provide(
            OpenAi.layerConfig({ model: "m", baseUrl: server.url, apiKey: Config.succeed(undefined) }).pipe(
              Layer.provide(empty)
            )
          )
        )
        expect(keyless.provider).toBe("openai")
        expect(server.requests()[1]?.headers.authorization).toBeUndefined()
      })
    )
  })
})
