/**
 * The Gemini adapter against the mock server: the exact wire request (roles
 * user/model, systemInstruction, functionDeclarations, functionResponse by
 * name, the key in a header and never in the URL), JSON and streamed
 * answers (CRLF-framed SSE) with usage, and Gemini's own failure shapes
 * (RESOURCE_EXHAUSTED with RetryInfo, SAFETY finishes, blocked prompts, the
 * input-token-count error). (The fault matrix shared by the three adapters
 * is in HttpErrors.test.ts.)
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import { signatureUse } from "../src/llm/internal/extraContent.js"
import { isStoppedAnswer } from "../src/llm/index.js"
import { isRetriable } from "../src/llm/ProviderError.js"
import * as LanguageModel from "../src/llm/LanguageModel.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

const key = Redacted.make("AIza-test-key")

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Gemini", (it) => {
  describe("wire request", () => {
    it.scoped("uses roles user/model, systemInstruction, functionDeclarations and functionResponse by name", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "models/gemini-2.5-flash", apiKey: key, baseUrl: server.baseUrls.gemini })
        yield* model.complete({
          messages: [
            { role: "system", content: "Be terse." },
            {
              role: "user",
              content: [
                { type: "text", text: "Weather here?" },
                { type: "image", url: "data:image/jpeg;base64,/9j/4AAQ" },
                { type: "image", url: "gs://bucket/map.png", mediaType: "image/png" }
              ]
            },
            {
              role: "assistant",
              content: "Checking.",
              toolCalls: [{ id: "call_0", name: "weather", arguments: "{\"city\":\"Paris\"}" }]
            },
            { role: "tool", toolCallId: "call_0", content: "{\"celsius\":21}" },
            { role: "tool", toolCallId: "unknown", content: "plain text" },
            { role: "user", content: "Thanks" }
          ],
          temperature: 1.5,
          topP: 0.8,
          maxTokens: 256,
          stop: ["STOP"],
          tools: [{ name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
          toolChoice: { name: "weather" }
        })
        const [sent] = server.requests()
        expect(sent?.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent")
        expect(sent?.query).toEqual({})
        expect(sent?.headers["x-goog-api-key"]).toBe("AIza-test-key")
        expect(sent?.headers.authorization).toBeUndefined()
        expect(sent?.body).toEqual({
          contents: [
            {
              role: "user",
              parts: [
                { text: "Weather here?" },
                { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQ" } },
                { fileData: { fileUri: "gs://bucket/map.png", mimeType: "image/png" } }
              ]
            },
            {
              role: "model",
              parts: [{ text: "Checking." }, { functionCall: { name: "weather", args: { city: "Paris" } } }]
            },
            {
              role: "user",
              parts: [
                { functionResponse: { name: "weather", response: { celsius: 21 } } },
                { functionResponse: { name: "unknown", response: { result: "plain text" } } },
                { text: "Thanks" }
              ]
            }
          ],
          systemInstruction: { parts: [{ text: "Be terse." }] },
          generationConfig: { temperature: 1.5, topP: 0.8, maxOutputTokens: 256, stopSequences: ["STOP"] },
          tools: [
            {
              functionDeclarations: [
                { name: "weather", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } }
              ]
            }
          ],
          toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } }
        })
      })
    )

    it.scoped("a tool result goes by the name of its call in the latest assistant turn before it, though ids repeat across turns", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        yield* model.complete({
          messages: [
            { role: "user", content: "Weather, then time?" },
            { role: "assistant", content: "", toolCalls: [{ id: "call_0", name: "weather", arguments: "{}" }] },
            { role: "tool", toolCallId: "call_0", content: "sunny" },
            { role: "assistant", content: "", toolCalls: [{ id: "call_0", name: "time", arguments: "{}" }] },
            { role: "tool", toolCallId: "call_0", content: "noon" }
          ]
        })
        const contents = (server.requests()[0]?.body as { contents: Array<{ parts: Array<{ functionResponse?: { name: string } }> }> }).contents
        expect(contents.flatMap((c) => c.parts.flatMap((p) => (p.functionResponse === undefined ? [] : [p.functionResponse.name])))).toEqual([
          "weather",
          "time"
        ])
      })
    )

    it.scoped("JSON mode is responseMimeType application/json; structured outputs add the schema as responseJsonSchema", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false }
        yield* model.complete(Chat.prompt("hi", { maxTokens: 9, responseFormat: { type: "json_object" } }))
        yield* Stream.runDrain(model.stream(Chat.prompt("hi", { responseFormat: { type: "json_schema", name: "ok", schema, strict: true } })))
        const [object, structured] = server.requests().map((r) => (r.body as { generationConfig?: unknown }).generationConfig)
        expect(object).toEqual({ maxOutputTokens: 9, responseMimeType: "application/json" })
        expect(structured).toEqual({ responseMimeType: "application/json", responseJsonSchema: schema })
      })
    )

    it.scoped("a $ref with siblings goes as an anyOf of the bare $ref, its siblings beside it, in a response schema and in tool parameters", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const address = { type: "object", properties: { city: { type: "string" } } }
        const schema = {
          $schema: "https://json-schema.org/draft/2020-12/schema",
          type: "object",
          properties: {
            home: { $ref: "#/$defs/Address", description: "Where they live." },
            work: { $ref: "#/$defs/Address" },
            past: { type: "array", items: { $ref: "#/$defs/Address", title: "A past address" } },
            // a property named "$ref" is a name, not a keyword
            names: { type: "object", properties: { $ref: { type: "string" } } }
          },
          required: ["home"],
          $defs: { Address: address, Pair: { type: "array", prefixItems: [{ $ref: "#/$defs/Address", description: "first" }] } },
          enum: [{ $ref: "a value", description: "not a schema" }]
        }
        const wrapped = {
          $schema: "https://json-schema.org/draft/2020-12/schema",
          type: "object",
          properties: {
            home: { anyOf: [{ $ref: "#/$defs/Address" }], description: "Where they live." },
            work: { $ref: "#/$defs/Address" },
            past: { type: "array", items: { anyOf: [{ $ref: "#/$defs/Address" }], title: "A past address" } },
            names: { type: "object", properties: { $ref: { type: "string" } } }
          },
          required: ["home"],
          $defs: { Address: address, Pair: { type: "array", prefixItems: [{ anyOf: [{ $ref: "#/$defs/Address" }], description: "first" }] } },
          enum: [{ $ref: "a value", description: "not a schema" }]
        }
        yield* model.complete(Chat.prompt("hi", {
          responseFormat: { type: "json_schema", name: "r", schema },
          tools: [{ name: "save", parameters: schema }]
        }))
        const body = server.requests()[0]?.body as {
          generationConfig: { responseJsonSchema: unknown }
          tools: [{ functionDeclarations: [{ parametersJsonSchema: unknown }] }]
        }
        expect(body.generationConfig.responseJsonSchema).toEqual(wrapped)
        expect(body.tools[0].functionDeclarations[0].parametersJsonSchema).toEqual(wrapped)
      })
    )

    it.scoped("a reasoning effort is a thinking level on Gemini 3, a thinking budget on Gemini 2.5, nothing before; refused, asked once more without", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const thinking = (model: string, reasoningEffort: Chat.ReasoningEffort) =>
          Effect.gen(function* () {
            server.clear()
            const adapter = yield* Gemini.make({ model, apiKey: key, baseUrl: server.url })
            yield* adapter.complete({ ...Chat.prompt("hi"), reasoningEffort })
            return [model, reasoningEffort, (server.requests()[0]?.body as { generationConfig?: { thinkingConfig?: unknown } }).generationConfig?.thinkingConfig]
          })
        const cases: ReadonlyArray<readonly [string, Chat.ReasoningEffort, unknown]> = [
          // the two levels every Gemini 3 model has
          ["gemini-3-pro-preview", "minimal", { thinkingLevel: "low" }],
          ["gemini-3-flash-preview", "medium", { thinkingLevel: "high" }],
          // Google's budgets for OpenAI's efforts; 2.5 Pro cannot stop thinking
          ["gemini-2.5-flash", "none", { thinkingBudget: 0 }],
          ["gemini-2.5-flash-lite", "low", { thinkingBudget: 1_024 }],
          ["gemini-2.5-pro", "none", { thinkingBudget: 128 }],
          ["gemini-2.5-pro", "high", { thinkingBudget: 24_576 }],
          ["gemini-2.0-flash", "high", undefined],
          ["gemma-3-27b-it", "high", undefined],
          // image and speech models do not think
          ["gemini-2.5-flash-image-preview", "high", undefined],
          ["gemini-2.5-flash-preview-tts", "low", undefined]
        ]
        for (const [model, effort, expected] of cases) expect(yield* thinking(model, effort)).toEqual([model, effort, expected])
        server.clear()
        server.enqueue(MockServer.status(400, { message: "Thinking is not enabled for models/gemini-3-nano-preview" }))
        const preview = yield* Gemini.make({ model: "gemini-3-nano-preview", apiKey: key, baseUrl: server.url })
        expect((yield* preview.complete({ ...Chat.prompt("hi"), reasoningEffort: "high" })).text).toBe("Hello from the mock server.")
        expect(server.requests().map((r) => (r.body as { generationConfig?: unknown }).generationConfig)).toEqual([
          { thinkingConfig: { thinkingLevel: "high" } },
          undefined
        ])
      })
    )

    it.scoped("a model without JSON answers (Gemini 2.0 has no structured outputs) refuses one with InvalidRequest, calling nothing", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.0-flash", apiKey: key, baseUrl: server.url })
        expect(model.info.responseFormats).toEqual(["json_object"])
        expect((yield* Gemini.make({ model: "gemma-3-27b-it", baseUrl: server.url })).info.responseFormats).toEqual([])
        expect((yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: server.url })).info.responseFormats).toEqual(["json_object", "json_schema"])
        // JSON mode, the mime type alone
        yield* model.complete(Chat.prompt("hi", { responseFormat: { type: "json_object" } }))
        expect((server.requests()[0]?.body as { generationConfig: unknown }).generationConfig).toEqual({ responseMimeType: "application/json" })
        server.clear()
        const request = Chat.prompt("hi", { responseFormat: { type: "json_schema", name: "x", schema: {} } })
        const completed = yield* Effect.flip(model.complete(request))
        const streamed = yield* Effect.flip(Stream.runDrain(model.stream(request)))
        for (const error of [completed, streamed]) {
          expect(error._tag).toBe("InvalidRequest")
          expect(error.message).toMatch(/cannot answer in the response format 'json_schema'/)
        }
        expect(server.count()).toBe(0)
      })
    )

    it.scoped("sends seed, the penalties and topK in generationConfig, a seed past Gemini's int32 not; never another provider's options", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        yield* model.complete({
          ...Chat.prompt("hi"),
          seed: -3,
          presencePenalty: 0.5,
          frequencyPenalty: -0.25,
          topK: 40,
          providerOptions: { anthropic: { betas: ["context-1m-2025-08-07"] } }
        })
        yield* Stream.runDrain(model.stream(Chat.prompt("hi", { seed: 2 ** 31, topK: 1 })))
        const [first, second] = server.requests()
        expect(first?.body).toEqual({
          contents: [{ role: "user", parts: [{ text: "hi" }] }],
          generationConfig: { topK: 40, seed: -3, presencePenalty: 0.5, frequencyPenalty: -0.25 }
        })
        expect(first?.headers["anthropic-beta"]).toBeUndefined()
        expect((second?.body as Record<string, unknown>)["generationConfig"]).toEqual({ topK: 1 })
      })
    )

    it.scoped("a model that refuses penalties (400 'Penalty is not enabled') is asked once more without them, and not sent them again", () =>
      Effect.gen(function* () {
        // Gemini 2.5 and later refuse presencePenalty and frequencyPenalty: the 400 would end a chain the model can serve
        const refusal = MockServer.status(400, { message: "Penalty is not enabled for models/gemini-2.5-flash", code: "INVALID_ARGUMENT" })
        const server = yield* MockServer.make({ faults: [refusal] })
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const answer = yield* model.complete({ ...Chat.prompt("hi"), seed: 7, presencePenalty: 0.5, frequencyPenalty: 0.25 })
        expect(answer.text).toBe("Hello from the mock server.")
        yield* Stream.runDrain(model.stream({ ...Chat.prompt("hi"), presencePenalty: 0.5 }))
        const configs = server.requests().map((r) => (r.body as Record<string, unknown>)["generationConfig"])
        expect(configs).toEqual([{ seed: 7, presencePenalty: 0.5, frequencyPenalty: 0.25 }, { seed: 7 }, undefined])
      })
    )

    it.scoped("sends the request's safetySettings as they are, none when empty; never Anthropic's betas", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const safetySettings = [
          { category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_ONLY_HIGH" },
          { category: "HARM_CATEGORY_DANGEROUS_CONTENT", threshold: "BLOCK_NONE" }
        ]
        yield* model.complete({ ...Chat.prompt("hi"), providerOptions: { gemini: { safetySettings }, anthropic: { betas: ["b"] } } })
        yield* Stream.runDrain(model.stream({ ...Chat.prompt("hi"), providerOptions: { gemini: { safetySettings } } }))
        yield* model.complete({ ...Chat.prompt("hi"), providerOptions: { gemini: { safetySettings: [] } } })
        const [first, second, third] = server.requests()
        expect(first?.body).toEqual({ contents: [{ role: "user", parts: [{ text: "hi" }] }], safetySettings })
        expect(first?.headers["anthropic-beta"]).toBeUndefined()
        expect((second?.body as Record<string, unknown>)["safetySettings"]).toEqual(safetySettings)
        expect(third?.body).toEqual({ contents: [{ role: "user", parts: [{ text: "hi" }] }] })
      })
    )

    it.scoped("streams from :streamGenerateContent?alt=sse and sends no empty generationConfig", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-pro", apiKey: key, baseUrl: server.url })
        yield* Stream.runDrain(model.stream(Chat.prompt("hi", { toolChoice: "none", tools: [{ name: "f", parameters: { type: "object" } }] })))
        const [sent] = server.requests()
        expect(sent?.path).toBe("/models/gemini-2.5-pro:streamGenerateContent")
        expect(sent?.query).toEqual({ alt: "sse" })
        expect(sent?.headers.accept).toBe("text/event-stream")
        expect(sent?.body).toEqual({
          contents: [{ role: "user", parts: [{ text: "hi" }] }],
          tools: [{ functionDeclarations: [{ name: "f", parametersJsonSchema: { type: "object" } }] }],
          toolConfig: { functionCallingConfig: { mode: "NONE" } }
        })
      })
    )

    it.scoped("what OpenAI takes and Gemini refuses is made valid: no empty text part, and system messages alone as the one user turn", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        // system messages alone: `contents` is required
        yield* model.complete({ messages: [{ role: "system", content: "Write a haiku about rain." }, { role: "system", content: "" }] })
        // an empty text part Gemini refuses (400 "required oneof field 'data' must have one initialized field")
        yield* model.complete({
          messages: [
            { role: "system", content: "" },
            { role: "user", content: "" },
            { role: "user", content: [{ type: "text", text: "" }, { type: "text", text: "Hi" }] }
          ]
        })
        yield* Stream.runDrain(model.stream({ messages: [{ role: "system", content: "Say hello." }, { role: "user", content: "" }] }))
        // no text anywhere (a blank message, which OpenAI answers): a turn of its own, not none
        yield* model.complete({ messages: [{ role: "user", content: " \n" }] })
        const bodies = server.requests().map((r) => r.body as Record<string, unknown>)
        expect(bodies.map((b) => [b.systemInstruction, b.contents])).toEqual([
          [undefined, [{ role: "user", parts: [{ text: "Write a haiku about rain." }] }]],
          [undefined, [{ role: "user", parts: [{ text: "Hi" }] }]],
          [undefined, [{ role: "user", parts: [{ text: "Say hello." }] }]],
          [undefined, [{ role: "user", parts: [{ text: "(The conversation starts.)" }] }]]
        ])
      })
    )
  })

  describe("answers", () => {
    const reply: MockServer.Reply = {
      text: "Sunny and warm",
      toolCalls: [{ name: "weather", arguments: { city: "Rome" } }],
      usage: { inputTokens: 8, outputTokens: 5 }
    }

    it.scoped("reads a JSON answer with text, function calls and usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply })
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        expect(yield* model.complete(Chat.prompt("hi"))).toEqual({
          id: "resp-mock-0",
          provider: "gemini",
          model: "gemini-2.5-flash",
          text: "Sunny and warm",
          toolCalls: [{ id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: "weather", arguments: "{\"city\":\"Rome\"}" }],
          finishReason: "tool_calls",
          usage: { inputTokens: 8, outputTokens: 5 }
        })
        // Gemini gives no id: each call gets one of its own, so a later turn's calls never share one with an earlier turn's
        const [first, second] = [yield* model.complete(Chat.prompt("hi")), yield* model.complete(Chat.prompt("hi"))]
        expect(first.toolCalls[0]!.id).not.toBe(second.toolCalls[0]!.id)
      })
    )

    it.scoped("streams CRLF-framed events, a whole function call each, and ends on the finish with usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply })
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        expect(Array.from(yield* Stream.runCollect(model.stream(Chat.prompt("hi"))))).toEqual([
          { _tag: "TextDelta", text: "Sunny " },
          { _tag: "TextDelta", text: "and " },
          { _tag: "TextDelta", text: "warm" },
          { _tag: "ToolCallDelta", index: 0, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: "weather", arguments: "{\"city\":\"Rome\"}" },
          { _tag: "Finish", reason: "tool_calls" },
          { _tag: "Usage", usage: { inputTokens: 8, outputTokens: 5 } }
        ])
      })
    )

    it.scoped("counts thinking tokens as output and leaves thought parts out of the text", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(200, {
              body: {
                candidates: [
                  {
                    content: { role: "model", parts: [{ text: "plan...", thought: true }, { text: "Answer." }] },
                    finishReason: "MAX_TOKENS"
                  }
                ],
                usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, thoughtsTokenCount: 20 }
              }
            })
          ]
        })
        const model = yield* Gemini.make({ model: "gemini-2.5-pro", baseUrl: server.url })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect([response.text, response.finishReason, response.usage]).toEqual([
          "Answer.",
          "length",
          // the thinking tokens are the answer's reasoning part too
          { inputTokens: 3, outputTokens: 24, reasoningTokens: 20 }
        ])
      })
    )
  })

  describe("thought signatures (Gemini 3)", () => {
    /** The signatures a request's function calls went with, in order. */
    const sentSignatures = (body: unknown) =>
      (body as { contents: Array<{ parts: Array<{ functionCall?: unknown; thoughtSignature?: string }> }> }).contents
        .flatMap((c) => c.parts)
        .filter((p) => p.functionCall !== undefined)
        .map((p) => p.thoughtSignature)

    const signed = {
      candidates: [
        {
          content: {
            role: "model",
            parts: [
              { functionCall: { name: "weather", args: { city: "Rome" } }, thoughtSignature: "sig-A" },
              { functionCall: { name: "time", args: {} } }
            ]
          },
          finishReason: "STOP"
        }
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }
    }

    it.scoped("a function call's thoughtSignature is kept on its call, answered whole or streamed", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(200, { body: signed }),
            MockServer.status(200, { body: `data: ${JSON.stringify(signed)}\r\n\r\n` })
          ]
        })
        const model = yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        const response = yield* model.complete(Chat.prompt("hi"))
        expect(response.toolCalls.map((c) => [c.name, c.signature])).toEqual([
          ["weather", "sig-A"],
          ["time", undefined]
        ])
        const streamed = yield* Chat.collect(model.stream(Chat.prompt("hi")), { id: "s", provider: "gemini", model: "m" })
        expect(streamed.toolCalls).toEqual(response.toolCalls.map((c, i) => ({ ...c, id: streamed.toolCalls[i]!.id })))
      })
    )

    it.scoped("sends each call's signature back; a Gemini 3 turn whose first call has none gets the documented placeholder on it, Gemini 2.5 nothing", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const conversation = {
          messages: [
            { role: "user", content: "Weather and time?" },
            {
              role: "assistant",
              toolCalls: [
                { id: "a", name: "weather", arguments: "{}", signature: "sig-A" },
                { id: "b", name: "time", arguments: "{}" }
              ]
            },
            { role: "tool", toolCallId: "a", content: "sunny" },
            { role: "tool", toolCallId: "b", content: "noon" },
            // a turn another provider answered, before a fallback
            { role: "assistant", toolCalls: [{ id: "c", name: "weather", arguments: "{}" }, { id: "d", name: "time", arguments: "{}" }] },
            { role: "tool", toolCallId: "c", content: "rain" },
            { role: "tool", toolCallId: "d", content: "one" }
          ]
        } satisfies Chat.ChatRequest
        for (const name of ["gemini-3-flash-preview", "gemini-3.1-pro-preview", "gemini-flash-latest", "gemini-2.5-flash"]) {
          const model = yield* Gemini.make({ model: name, baseUrl: server.url })
          yield* model.complete(conversation)
        }
        const signatures = server.requests().map((r) => sentSignatures(r.body))
        const placeholder = "skip_thought_signature_validator"
        expect(signatures).toEqual([
          ["sig-A", undefined, placeholder, undefined],
          ["sig-A", undefined, placeholder, undefined],
          ["sig-A", undefined, placeholder, undefined],
          ["sig-A", undefined, undefined, undefined]
        ])
      })
    )

    const turn = {
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          toolCalls: [
            { id: "a", name: "weather", arguments: "{}", signature: "sig-from-another-model" },
            { id: "b", name: "time", arguments: "{}", signature: "sig-B" }
          ]
        },
        { role: "tool", toolCallId: "a", content: "sunny" },
        { role: "tool", toolCallId: "b", content: "noon" }
      ]
    } satisfies Chat.ChatRequest

    it.scoped("a 400 refusing the signatures is asked once more with the placeholder in their place, whole or streamed", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(400, { message: "Corrupted thought signature." }),
            MockServer.reply({}),
            MockServer.status(400, { message: "Invalid thought signature." }),
            MockServer.reply({})
          ]
        })
        const model = yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        const response = yield* model.complete(turn)
        expect(response.text).toBe("Hello from the mock server.")
        const streamed = yield* Chat.collect(model.stream(turn), { id: "s", provider: "gemini", model: "m" })
        expect(streamed.text).toBe("Hello from the mock server.")
        const placeholder = "skip_thought_signature_validator"
        expect(server.requests().map((r) => sentSignatures(r.body))).toEqual([
          ["sig-from-another-model", "sig-B"],
          [placeholder, undefined],
          ["sig-from-another-model", "sig-B"],
          [placeholder, undefined]
        ])
      })
    )

    it.scoped("asks once more only once, only after a 400 about signatures, and never with the same body", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            // refused again with the placeholder: that answer stands, whole or streamed
            MockServer.status(400, { message: "Corrupted thought signature." }),
            MockServer.status(400, { message: "Corrupted thought signature." }),
            MockServer.status(400, { message: "Invalid thought signature." }),
            MockServer.status(400, { message: "Invalid thought signature." }),
            // another 400 is the request's own fault
            MockServer.status(400, { message: "Invalid JSON payload received." }),
            // a conversation whose calls already go with the placeholder: the same body would be refused the same way
            MockServer.status(400, { message: "Function call is missing a thought_signature in functionCall parts." }),
            // no function call, no signature to give up
            MockServer.status(400, { message: "Corrupted thought signature." })
          ]
        })
        const model = yield* Gemini.make({ model: "gemini-3-flash-preview", baseUrl: server.url })
        const twice = yield* Effect.flip(model.complete(turn))
        expect(twice).toMatchObject({ _tag: "InvalidRequest", status: 400 })
        expect(twice.message).toContain("Corrupted thought signature.")
        expect(server.count()).toBe(2)
        const streamedTwice = yield* Effect.flip(Stream.runDrain(model.stream(turn)))
        expect(streamedTwice.message).toContain("Invalid thought signature.")
        expect(server.count()).toBe(4)
        expect((yield* Effect.flip(Stream.runDrain(model.stream(turn))))._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(5)
        const unsigned = {
          messages: [turn.messages[0], { role: "assistant", toolCalls: [{ id: "a", name: "weather", arguments: "{}" }] }, turn.messages[2]]
        } satisfies Chat.ChatRequest
        expect((yield* Effect.flip(model.complete(unsigned)))._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(6)
        expect((yield* Effect.flip(model.complete(Chat.prompt("hi"))))._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(7)
      })
    )

    it("how a model takes signatures, by its id: Gemma and a partner's model on Vertex none, Gemini 3 checks them, the rest their own", () => {
      const uses = Object.fromEntries(
        [
          "gemini-3-pro-preview",
          "models/gemini-3-flash-preview",
          "google/gemini-3.1-pro-preview",
          "gemini-flash-latest",
          "gemini-2.5-flash",
          "models/gemini-2.0-flash",
          "gemma-3-27b-it",
          "models/gemma-3n-e4b-it",
          "meta/llama-3.3-70b-instruct-maas",
          "openai/gpt-oss-120b-maas",
          "tunedModels/my-tuned-model",
          "projects/p/locations/us-central1/endpoints/123",
          "smart"
        ].map((model) => [model, signatureUse(model)])
      )
      expect(uses).toEqual({
        "gemini-3-pro-preview": "checked",
        "models/gemini-3-flash-preview": "checked",
        "google/gemini-3.1-pro-preview": "checked",
        "gemini-flash-latest": "checked",
        "gemini-2.5-flash": "own",
        "models/gemini-2.0-flash": "own",
        "gemma-3-27b-it": "none",
        "models/gemma-3n-e4b-it": "none",
        "meta/llama-3.3-70b-instruct-maas": "none",
        "openai/gpt-oss-120b-maas": "none",
        "tunedModels/my-tuned-model": "own",
        "projects/p/locations/us-central1/endpoints/123": "own",
        smart: "own"
      })
    })

    it.scoped("Gemma gets no signatures, and Gemini 2.5 the placeholder only when it refused them", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.reply({}), MockServer.status(400, { message: "Invalid thought signature." })]
        })
        const gemma = yield* Gemini.make({ model: "gemma-3-27b-it", baseUrl: server.url })
        yield* gemma.complete(turn)
        const flash = yield* Gemini.make({ model: "models/gemini-2.5-flash", baseUrl: server.url })
        yield* flash.complete(turn)
        expect(server.requests().map((r) => sentSignatures(r.body))).toEqual([
          [undefined, undefined],
          ["sig-from-another-model", "sig-B"],
          ["skip_thought_signature_validator", undefined]
        ])
      })
    )
  })

  describe("failures", () => {
    it.scoped("RESOURCE_EXHAUSTED is RateLimited, its RetryInfo delay kept", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.status(429, { retryAfter: { seconds: 37 } }), MockServer.status(429)]
        })
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        const withDelay = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect(withDelay._tag === "RateLimited" && withDelay.retryAfter).toEqual(Duration.seconds(37))
        expect(server.requests()[0]?.headers["retry-after"]).toBeUndefined()
        const plain = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        expect(plain).toMatchObject({ _tag: "RateLimited", status: 429 })
      })
    )

    it.scoped("a 499 CANCELLED (its backend gave up under load, gemini-cli#20309) is a retriable ServerError, whole and streamed", () =>
      Effect.gen(function* () {
        const cancelled = {
          error: {
            code: 499,
            message: "The operation was cancelled.",
            errors: [{ message: "The operation was cancelled.", domain: "global", reason: "backendError" }],
            status: "CANCELLED"
          }
        }
        // as Gemini sends it: one error object to a JSON call, an array of one to a stream
        const server = yield* MockServer.make({
          faults: [MockServer.status(499, { body: cancelled }), MockServer.status(499, { body: [cancelled] })]
        })
        const model = yield* Gemini.make({ model: "gemini-2.5-pro", baseUrl: server.url })
        const whole = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        const streamedError = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        for (const error of [whole, streamedError]) {
          expect(error).toMatchObject({ _tag: "ServerError", status: 499 })
          expect(isRetriable(error)).toBe(true)
        }
      })
    )

    it.scoped("a SAFETY finish and a blocked prompt are ContentFiltered, JSON and streaming", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: { text: "Partial answer", finishReason: "content_filter" } })
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        const finishes = [
          yield* Effect.flip(model.complete(Chat.prompt("hi"))),
          yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        ]
        // a stopped answer carries the text before the stop (streamed, the text that went out) and the usage
        for (const error of finishes) {
          expect(error).toMatchObject({ _tag: "ContentFiltered", reason: "SAFETY", partialText: "Partial answer" })
          expect(error._tag === "ContentFiltered" && error.usage?.inputTokens).toBe(10)
        }
        server.enqueue(MockServer.refuse, MockServer.refuse)
        const blocked = [
          yield* Effect.flip(model.complete(Chat.prompt("hi"))),
          yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        ]
        for (const error of blocked) {
          expect(error).toMatchObject({ _tag: "ContentFiltered", reason: "SAFETY" })
          expect(error.message).toContain("blocked the prompt")
          // the prompt refused: no answer was stopped
          expect(isStoppedAnswer(error)).toBe(false)
        }
      })
    )

    it.scoped("streamed, the text of the event that finishes on SAFETY goes out, then its usage, then the refusal", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          reply: { text: "partial text", finishReason: "content_filter", usage: { inputTokens: 3, outputTokens: 2 } }
        })
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        // the mock sends "partial " alone, then "text" with finishReason SAFETY, as Gemini does
        const seen = yield* Stream.runCollect(Stream.either(model.stream(Chat.prompt("hi"))))
        expect(Array.from(seen, (e) => (e._tag === "Right" ? e.right : { failed: e.left._tag, reason: (e.left as { reason?: string }).reason }))).toEqual([
          { _tag: "TextDelta", text: "partial " },
          { _tag: "TextDelta", text: "text" },
          { _tag: "Usage", usage: { inputTokens: 3, outputTokens: 2 } },
          { failed: "ContentFiltered", reason: "SAFETY" }
        ])
      })
    )

    /** A JSON answer, and the same candidate as one SSE event, finishing on `finish` (`parts` undefined: a content without any). */
    const finishing = (finish: string, parts: ReadonlyArray<unknown> | undefined) => {
      const body = {
        candidates: [{ content: parts === undefined ? { role: "model" } : { role: "model", parts }, finishReason: finish, index: 0 }],
        usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 0 }
      }
      return { json: MockServer.status(200, { body }), sse: MockServer.status(200, { body: `data: ${JSON.stringify(body)}\r\n\r\n` }) }
    }

    /** What a stream sent, its failure last (as its tag). */
    const streamed = (model: LanguageModel.Service) =>
      Effect.map(Stream.runCollect(Stream.either(model.stream(Chat.prompt("hi")))), (all) =>
        Array.from(all, (e) => (e._tag === "Right" ? e.right._tag : `failed: ${e.left._tag}`)))

    it.scoped("a malformed function call, or OTHER or STOP with nothing in it, is a MalformedResponse (retriable), whole and streamed", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", baseUrl: server.url })
        const noAnswers = [
          finishing("MALFORMED_FUNCTION_CALL", []),
          // the narration before a call that could not be made is not the answer either
          finishing("MALFORMED_FUNCTION_CALL", [{ text: "Let me look that up." }]),
          finishing("OTHER", []),
          finishing("OTHER", [{ text: "" }]),
          // a STOP with no part at all, which Gemini sends now and then and a second call mends (litellm#24442)
          finishing("STOP", undefined),
          finishing("STOP", [{ text: "" }])
        ]
        for (const { json, sse } of noAnswers) {
          server.enqueue(json, sse)
          const whole = yield* Effect.flip(model.complete(Chat.prompt("hi")))
          expect(whole._tag).toBe("MalformedResponse")
          expect(whole.message).toMatch(/finishReason (MALFORMED_FUNCTION_CALL|OTHER|STOP)/)
          const events = yield* streamed(model)
          expect(events.at(-1)).toBe("failed: MalformedResponse")
        }
        // OTHER after an answer keeps the answer
        const other = finishing("OTHER", [{ text: "Rome." }])
        server.enqueue(other.json, other.sse)
        expect(yield* model.complete(Chat.prompt("hi"))).toMatchObject({ text: "Rome.", finishReason: "unknown" })
        expect(yield* streamed(model)).toEqual(["TextDelta", "Finish", "Usage"])
      })
    )

    it.scoped("a stream ends with its body, not at the first STOP: every event may carry one, and the last usage is the answer's", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "gemini-1.5-flash", baseUrl: server.url })
        const event = (text: string | undefined, output: number) => ({
          candidates: [{ content: { role: "model", parts: text === undefined ? [] : [{ text }] }, finishReason: "STOP", index: 0 }],
          usageMetadata: { promptTokenCount: 5, candidatesTokenCount: output, totalTokenCount: 5 + output }
        })
        // STOP on every event, running totals (as Gemini 1.0 and 1.5 sent them), then an event with no part
        const body = [event("Rome ", 1), event("is the ", 3), event("capital.", 4), event(undefined, 4)]
          .map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join("")
        server.enqueue(MockServer.status(200, { body }))
        const chunks = Array.from(yield* Stream.runCollect(model.stream(Chat.prompt("hi"))))
        expect(chunks.filter((c) => c._tag === "TextDelta").map((c) => c.text).join("")).toBe("Rome is the capital.")
        expect(chunks.slice(-2)).toEqual([
          { _tag: "Finish", reason: "stop" },
          { _tag: "Usage", usage: { inputTokens: 5, outputTokens: 4 } }
        ])
        // a body that ends with no finish at all was cut: a MalformedResponse after what it held
        server.enqueue(MockServer.status(200, { body: `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "Rome " }] }, index: 0 }] })}\r\n\r\n` }))
        expect(yield* streamed(model)).toEqual(["TextDelta", "failed: MalformedResponse"])
      })
    )

    it.scoped("a malformed function call fails over to the next target", () =>
      Effect.gen(function* () {
        const failing = yield* MockServer.make({ faults: [finishing("MALFORMED_FUNCTION_CALL", []).json] })
        const answering = yield* MockServer.make()
        const router = yield* Router.make({
          targets: {
            gemini: { model: yield* Gemini.make({ model: "gemini-2.5-flash", baseUrl: failing.url }) },
            next: { model: yield* Gemini.make({ model: "gemini-2.5-flash", baseUrl: answering.url }) }
          },
          chains: { default: ["gemini", "next"] },
          policy: { retry: { maxAttempts: 1 } }
        })
        const { meta, response } = yield* router.complete(Chat.prompt("hi"), { chain: "default" })
        expect([meta.target, response.text]).toEqual(["next", "Hello from the mock server."])
      })
    )

    it.scoped("the image refusals (IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION) are ContentFiltered, whole and streamed", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        for (const reason of ["IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"]) {
          const { json, sse } = finishing(reason, [])
          server.enqueue(json, sse)
          expect(yield* Effect.flip(model.complete(Chat.prompt("hi")))).toMatchObject({ _tag: "ContentFiltered", reason })
          expect(yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))).toMatchObject({ _tag: "ContentFiltered", reason })
        }
      })
    )

    it.scoped("'input token count exceeds the maximum' is ContextLengthExceeded with both numbers", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ faults: [MockServer.contextLengthExceeded] })
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        expect(yield* Effect.flip(model.complete(Chat.prompt("hi")))).toMatchObject({
          _tag: "ContextLengthExceeded",
          contextWindow: 1048576,
          requestedTokens: 1200293
        })
      })
    )

    it.scoped("an answer without candidates is MalformedResponse; an in-stream error fails the stream", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.status(200, { body: { usageMetadata: {} } }), MockServer.streamError(2)]
        })
        const model = yield* Gemini.make({ model: "m", baseUrl: server.url })
        expect((yield* Effect.flip(model.complete(Chat.prompt("hi"))))._tag).toBe("MalformedResponse")
        expect(yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))).toMatchObject({
          _tag: "Overloaded",
          status: 503
        })
      })
    )
  })

  it.scoped("info defaults to known windows and prices; layerConfig reads GEMINI_API_KEY", () =>
    Effect.gen(function* () {
      const flash = yield* Gemini.make({ model: "gemini-2.5-flash-lite" })
      // the cached part of a prompt at a tenth of the input price, as Gemini 2.5 bills it
      expect([flash.info.contextWindow, flash.info.price]).toEqual([1_048_576, { input: 0.1, output: 0.4, cachedInput: 0.01 }])
      expect((yield* Gemini.make({ model: "gemini-9" })).info.contextWindow).toBe(1_048_576)

      const server = yield* MockServer.make()
      const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", "AIza-env"]])))
      yield* LanguageModel.complete(Chat.prompt("hi")).pipe(
        Effect.provide(Gemini.layerConfig({ model: "m", baseUrl: server.url }).pipe(Layer.provide(config)))
      )
      expect(server.requests()[0]?.headers["x-goog-api-key"]).toBe("AIza-env")
    })
  )
})
