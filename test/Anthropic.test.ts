/**
 * The Anthropic Messages adapter against the mock server: the exact wire
 * request (system lifted, max_tokens always sent, tool_use / tool_result
 * blocks), JSON and streamed answers with usage, and Anthropic's own failure
 * shapes (529, in-stream overloaded_error, "prompt is too long", refusal).
 * (The fault matrix shared by the three adapters is in HttpErrors.test.ts.)
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it as plain, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, FastCheck, Layer, Option, Redacted, Stream } from "effect"
import type { ChatChunk } from "../src/llm/Chat.js"
import * as Chat from "../src/llm/Chat.js"
import * as LanguageModel from "../src/llm/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import { betaHeader, betaNames, configuredBetas } from "../src/providers/internal/anthropicWire.js"
import * as MockServer from "../src/testing/MockServer.js"

const key = Redacted.make("sk-ant-test")

/** An SSE body the mock sends as is, to feed the decoder events it never makes. */
const sse = (...events: ReadonlyArray<{ readonly type: string; readonly [key: string]: unknown }>) =>
  MockServer.status(200, {
    body: events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("")
  })

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Anthropic", (it) => {
  describe("wire request", () => {
    it.scoped("lifts system messages, always sends max_tokens, maps tools, results and images", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({
          model: "claude-sonnet-4-5",
          apiKey: key,
          baseUrl: server.baseUrls.anthropic,
          headers: { "anthropic-beta": "tools-2024" }
        })
        yield* model.complete({
          messages: [
            { role: "system", content: "Be terse." },
            { role: "system", content: "Answer in English." },
            {
              role: "user",
              content: [
                { type: "text", text: "Look:" },
                { type: "image", url: "data:image/png;base64,iVBORw0KGgo=" },
                { type: "image", url: "https://example.com/cat.png" }
              ]
            },
            {
              role: "assistant",
              content: "Let me check.",
              toolCalls: [
                { id: "toolu_1", name: "lookup", arguments: "{\"q\":\"cat\"}" },
                { id: "toolu_2", name: "lookup", arguments: "not json" }
              ]
            },
            { role: "tool", toolCallId: "toolu_1", content: "a cat" },
            { role: "tool", toolCallId: "toolu_2", content: "no idea" },
            { role: "user", content: "So?" }
          ],
          temperature: 1.5,
          topP: 0.5,
          stop: ["\n\nHuman:"],
          tools: [{ name: "lookup", description: "Look up", parameters: { type: "object" } }],
          toolChoice: "required"
        })
        const [sent] = server.requests()
        expect(sent?.path).toBe("/v1/messages")
        expect(sent?.headers["x-api-key"]).toBe("sk-ant-test")
        expect(sent?.headers["anthropic-version"]).toBe("2023-06-01")
        expect(sent?.headers["anthropic-beta"]).toBe("tools-2024")
        expect(sent?.headers.authorization).toBeUndefined()
        expect(sent?.body).toEqual({
          model: "claude-sonnet-4-5",
          max_tokens: 4096,
          system: "Be terse.\n\nAnswer in English.",
          messages: [
            {
              role: "user",
              content: [
                { type: "text", text: "Look:" },
                { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
                { type: "image", source: { type: "url", url: "https://example.com/cat.png" } }
              ]
            },
            {
              role: "assistant",
              content: [
                { type: "text", text: "Let me check." },
                { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "cat" } },
                { type: "tool_use", id: "toolu_2", name: "lookup", input: {} }
              ]
            },
            {
              role: "user",
              content: [
                { type: "tool_result", tool_use_id: "toolu_1", content: "a cat" },
                { type: "tool_result", tool_use_id: "toolu_2", content: "no idea" },
                { type: "text", text: "So?" }
              ]
            }
          ],
          temperature: 1,
          // no top_p beside the temperature: Claude 4.x refuses the two together
          stop_sequences: ["\n\nHuman:"],
          tools: [{ name: "lookup", description: "Look up", input_schema: { type: "object" } }],
          tool_choice: { type: "any" }
        })
      })
    )

    it.scoped("max_tokens comes from the request, else the maxTokens option; tool choices map", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url, maxTokens: 1000, version: "2099-01-01" })
        yield* model.complete(Chat.prompt("a"))
        yield* model.complete(Chat.prompt("b", { maxTokens: 12, toolChoice: { name: "f" } }))
        yield* Stream.runDrain(model.stream(Chat.prompt("c", { toolChoice: "none", tools: [{ name: "f", parameters: { type: "object" } }] })))
        const bodies = server.requests().map((r) => r.body as Record<string, unknown>)
        expect(bodies.map((b) => [b.max_tokens, b.tool_choice, b.stream])).toEqual([
          [1000, undefined, undefined],
          [12, { type: "tool", name: "f" }, undefined],
          [1000, { type: "none" }, true]
        ])
        expect(bodies[0]?.messages).toEqual([{ role: "user", content: "a" }])
        expect(server.requests()[0]?.headers["anthropic-version"]).toBe("2099-01-01")
        expect(server.requests()[2]?.headers.accept).toBe("text/event-stream")
      })
    )

    it.scoped("what OpenAI takes and Claude refuses is made valid: no empty text block, and system messages alone as the one user turn", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        // system messages alone: Claude wants one turn at least (400 "at least one message is required")
        yield* model.complete({ messages: [{ role: "system", content: "Write a haiku about rain." }, { role: "system", content: " " }] })
        // empty or blank text: Claude refuses the block (400 "text content blocks must be non-empty")
        yield* model.complete({
          messages: [
            { role: "system", content: "Be terse." },
            { role: "user", content: "" },
            { role: "user", content: [{ type: "text", text: " \n" }, { type: "text", text: "Hi" }] },
            { role: "assistant", content: "  ", toolCalls: [{ id: "toolu_1", name: "f", arguments: "{}" }] },
            { role: "tool", toolCallId: "toolu_1", content: "" },
            { role: "user", content: "" }
          ]
        })
        // a conversation that is nothing but an empty user message and a system message
        yield* model.complete({ messages: [{ role: "system", content: "Say hello." }, { role: "user", content: "" }] })
        // no text anywhere (a blank message, which OpenAI answers): a turn of its own, not none
        yield* model.complete({ messages: [{ role: "user", content: "   " }] })
        const bodies = server.requests().map((r) => r.body as Record<string, unknown>)
        expect(bodies.map((b) => [b.system, b.messages])).toEqual([
          [undefined, [{ role: "user", content: "Write a haiku about rain." }]],
          [
            "Be terse.",
            [
              { role: "user", content: "Hi" },
              { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "f", input: {} }] },
              { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1" }] }
            ]
          ],
          [undefined, [{ role: "user", content: "Say hello." }]],
          [undefined, [{ role: "user", content: "(The conversation starts.)" }]]
        ])
      })
    )

    it.scoped("parallelToolCalls false disables parallel tool use in the tool choice, auto when none was given; never with 'none' or without tools", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        const tools = [{ name: "f", parameters: { type: "object" } }]
        yield* model.complete({ ...Chat.prompt("a"), tools, parallelToolCalls: false })
        yield* model.complete({ ...Chat.prompt("b"), tools, toolChoice: "required", parallelToolCalls: false })
        yield* model.complete({ ...Chat.prompt("c"), tools, toolChoice: "none", parallelToolCalls: false })
        yield* model.complete({ ...Chat.prompt("d"), parallelToolCalls: false })
        yield* model.complete({ ...Chat.prompt("e"), tools, parallelToolCalls: true })
        expect(server.requests().map((r) => (r.body as Record<string, unknown>).tool_choice)).toEqual([
          { type: "auto", disable_parallel_tool_use: true },
          { type: "any", disable_parallel_tool_use: true },
          { type: "none" },
          undefined,
          undefined
        ])
      })
    )
  })

  describe("sampling hints", () => {
    it.scoped("sends top_k; never seed, the penalties nor another provider's options, which Claude does not take", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        yield* model.complete({
          ...Chat.prompt("a"),
          topK: 5,
          seed: 42,
          presencePenalty: 1,
          frequencyPenalty: -1,
          providerOptions: { gemini: { safetySettings: [{ category: "C", threshold: "T" }] } }
        })
        yield* Stream.runDrain(model.stream(Chat.prompt("b", { topK: 1 })))
        const [first, second] = server.requests()
        expect(first?.body).toEqual({ model: "m", max_tokens: 4096, messages: [{ role: "user", content: "a" }], top_k: 5 })
        expect((second?.body as Record<string, unknown>)["top_k"]).toBe(1)
      })
    )
  })

  describe("a request's own betas", () => {
    it.scoped("go in anthropic-beta after the configured ones, each once, whole or streamed, on either HTTP path; a request without them sends the configured header as it is", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const request = { ...Chat.prompt("a"), providerOptions: { anthropic: { betas: ["b", "context-1m-2025-08-07", "context-1m-2025-08-07"] } } }
        const configured = { "Anthropic-Beta": "tools-2024, b" }
        const direct = yield* Anthropic.make({ model: "m", baseUrl: server.url, headers: configured })
        // a user transform: the call goes through the client's pipeline, not straight on the dispatcher
        const piped = yield* Anthropic.make({ model: "m", baseUrl: server.url, headers: configured, transformClient: (client) => client })
        const bare = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        for (const model of [direct, piped]) {
          yield* model.complete(request)
          yield* Stream.runDrain(model.stream(request))
          yield* model.complete(Chat.prompt("b"))
          yield* model.complete({ ...Chat.prompt("c"), providerOptions: { anthropic: { betas: ["tools-2024"] } } })
        }
        yield* bare.complete(request)
        yield* bare.complete(Chat.prompt("d"))
        const sent = server.requests().map((r) => r.headers["anthropic-beta"])
        const merged = "tools-2024,b,context-1m-2025-08-07"
        expect(sent).toEqual([merged, merged, "tools-2024, b", "tools-2024, b", merged, merged, "tools-2024, b", "tools-2024, b", "b,context-1m-2025-08-07", undefined])
        // never in the body
        expect(server.requests().every((r) => !("providerOptions" in (r.body as object)) && !("betas" in (r.body as object)))).toBe(true)
      })
    )

    it.scoped("a name that is no plain token is not sent: no other name, no other header", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        yield* model.complete({ ...Chat.prompt("a"), providerOptions: { anthropic: { betas: ["ok-1", "a,b", "x\r\nx-evil: 1", " "] } } })
        const [sent] = server.requests()
        expect(sent?.headers["anthropic-beta"]).toBe("ok-1")
        expect(sent?.headers["x-evil"]).toBeUndefined()
      })
    )
  })

  describe("structured outputs", () => {
    it.scoped("a json_schema goes as output_config.format on the models that have it; json_object is refused, calling nothing", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const haiku = yield* Anthropic.make({ model: "claude-haiku-4-5-20251001", baseUrl: server.url })
        expect(haiku.info.responseFormats).toEqual(["json_schema"])
        const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false }
        yield* haiku.complete(Chat.prompt("a", { responseFormat: { type: "json_schema", name: "ok", schema, strict: true } }))
        yield* Stream.runDrain(haiku.stream(Chat.prompt("b", { responseFormat: { type: "json_schema", name: "ok", schema } })))
        expect(server.requests().map((r) => (r.body as Record<string, unknown>).output_config)).toEqual([
          { format: { type: "json_schema", schema } },
          { format: { type: "json_schema", schema } }
        ])
        const refused = yield* Effect.flip(haiku.complete(Chat.prompt("c", { responseFormat: { type: "json_object" } })))
        expect(refused._tag).toBe("InvalidRequest")
        expect(server.count()).toBe(2)
      })
    )

    it.scoped("the schema goes as Claude takes it: objects closed, oneOf as anyOf, what it does not take written into the description, a map as it is", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const haiku = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const schema = {
          type: "object",
          description: "A reading.",
          properties: {
            celsius: { type: "number", minimum: -90, maximum: 60 },
            station: { type: "string", maxLength: 8, format: "hostname" },
            code: { type: "string", format: "int64" },
            tags: { type: "array", items: { type: "string" }, minItems: 3, maxItems: 5 },
            where: { oneOf: [{ type: "object", properties: { lat: { type: "number" } } }, { type: "null" }] },
            either: { anyOf: [{ type: "string" }, { type: "number" }], oneOf: [{ type: "number" }, { type: "boolean" }] },
            odd: { type: "integer", not: { const: 3 } },
            // a map: Claude refuses it, as it is, and the request moves on
            scores: { type: "object", additionalProperties: { type: "number" } }
          },
          required: ["celsius"],
          $defs: { unused: { type: "object", properties: {} } },
          $schema: "http://json-schema.org/draft-07/schema#"
        }
        yield* haiku.complete(Chat.prompt("a", { responseFormat: { type: "json_schema", name: "r", schema } }))
        const sent = (server.requests()[0]?.body as { output_config: { format: { schema: unknown } } }).output_config.format.schema
        expect(sent).toEqual({
          type: "object",
          description: "A reading.",
          properties: {
            celsius: { type: "number", description: '{"minimum":-90,"maximum":60}' },
            station: { type: "string", format: "hostname", description: '{"maxLength":8}' },
            code: { type: "string", description: '{"format":"int64"}' },
            tags: { type: "array", items: { type: "string" }, minItems: 1, description: '{"minItems":3,"maxItems":5}' },
            where: { anyOf: [{ type: "object", properties: { lat: { type: "number" } }, additionalProperties: false }, { type: "null" }] },
            either: { anyOf: [{ type: "string" }, { type: "number" }], allOf: [{ anyOf: [{ type: "number" }, { type: "boolean" }] }] },
            odd: { type: "integer", description: '{"not":{"const":3}}' },
            scores: { type: "object", additionalProperties: { type: "number" } }
          },
          required: ["celsius"],
          $defs: { unused: { type: "object", properties: {}, additionalProperties: false } },
          additionalProperties: false
        })
      })
    )

    it.scoped("an allOf of objects is folded into one, and a map by patternProperties goes as it is", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const haiku = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const schema = {
          allOf: [
            { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
            { type: "object", properties: { b: { type: "number" } }, required: ["b"] }
          ],
          properties: { tags: { type: "object", patternProperties: { "^[a-z]+$": { type: "string" } } } }
        }
        yield* haiku.complete(Chat.prompt("a", { responseFormat: { type: "json_schema", name: "r", schema } }))
        const sent = (server.requests()[0]?.body as { output_config: { format: { schema: unknown } } }).output_config.format.schema
        expect(sent).toEqual({
          type: "object",
          properties: {
            tags: { type: "object", patternProperties: { "^[a-z]+$": { type: "string" } } },
            a: { type: "string" },
            b: { type: "number" }
          },
          required: ["a", "b"],
          additionalProperties: false
        })
      })
    )

    it.scoped("folding an allOf keeps every constraint: a property named twice, a branch's other keywords, an explicit false; a $ref branch leaves it open", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const haiku = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const send = (schema: Record<string, unknown>) =>
          Effect.map(haiku.complete(Chat.prompt("a", { responseFormat: { type: "json_schema", name: "r", schema } })), () =>
            (server.requests().at(-1)?.body as { output_config: { format: { schema: Record<string, unknown> } } }).output_config.format.schema
          )
        const twice = yield* send({
          type: "object",
          properties: { a: { type: "string", maxLength: 5 } },
          allOf: [{ type: "object", description: "Base.", properties: { a: { type: "string" }, b: { type: "string" } }, anyOf: [{ required: ["a"] }, { required: ["b"] }] }]
        })
        expect(twice).toEqual({
          type: "object",
          properties: {
            a: { allOf: [{ type: "string", description: '{"maxLength":5}' }, { type: "string" }] },
            b: { type: "string" }
          },
          description: "Base.",
          allOf: [{ anyOf: [{ required: ["a"] }, { required: ["b"] }] }],
          additionalProperties: false
        })
        const keyed = yield* send({ type: "object", properties: { ab: { type: "string" } }, additionalProperties: false, propertyNames: { pattern: "^[a-z]+$" } })
        expect(keyed["additionalProperties"]).toBe(false)
        const referenced = yield* send({
          $defs: { Base: { type: "object", properties: { id: { type: "string" } }, required: ["id"] } },
          allOf: [{ $ref: "#/$defs/Base" }, { type: "object", properties: { extra: { type: "number" } } }]
        })
        expect(referenced["additionalProperties"]).toBeUndefined()
      })
    )

    it.scoped("a tool's input_schema always has the root type object Anthropic requires; the rest goes as it is", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const properties = { q: { type: "string" } }
        yield* model.complete(Chat.prompt("a", {
          tools: [
            { name: "none", parameters: {} },
            { name: "untyped", parameters: { properties, required: ["q"] } },
            { name: "typed", parameters: { type: "object", properties } }
          ]
        }))
        const tools = (server.requests()[0]?.body as { tools: Array<{ input_schema: unknown }> }).tools
        expect(tools.map((tool) => tool.input_schema)).toEqual([
          { type: "object" },
          { type: "object", properties, required: ["q"] },
          { type: "object", properties }
        ])
      })
    )

    it.scoped("a tool's input_schema has no anyOf, oneOf or allOf at its root (Anthropic refuses them there): their properties join the root's, the rest goes to its description", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const union = {
          type: "object",
          description: "An edit.",
          properties: { path: { type: "string" } },
          required: ["path"],
          oneOf: [
            { type: "object", properties: { op: { const: "write" }, text: { type: "string" } }, required: ["op", "text"] },
            { $ref: "#/$defs/Remove" }
          ],
          $defs: { Remove: { type: "object", properties: { op: { const: "remove" } }, required: ["op"] } }
        }
        const both = {
          allOf: [
            { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
            { type: "object", properties: { b: { type: "number" } }, required: ["b"] }
          ]
        }
        yield* model.complete(Chat.prompt("a", { tools: [{ name: "edit", parameters: union }, { name: "both", parameters: both }] }))
        const tools = (server.requests()[0]?.body as { tools: Array<{ input_schema: unknown }> }).tools
        expect(tools.map((tool) => tool.input_schema)).toEqual([
          {
            type: "object",
            description: `An edit.\n\n${JSON.stringify({ oneOf: union.oneOf })}`,
            // a property its branches give different schemas may be any of them
            properties: { path: { type: "string" }, op: { anyOf: [{ const: "write" }, { const: "remove" }] }, text: { type: "string" } },
            required: ["path", "op"],
            $defs: union.$defs
          },
          {
            type: "object",
            description: JSON.stringify({ allOf: both.allOf }),
            properties: { a: { type: "string" }, b: { type: "number" } },
            required: ["a", "b"]
          }
        ])
      })
    )

    it.scoped("a $ref with siblings goes as an allOf of the bare $ref, its siblings beside it (as Anthropic's SDKs send one); such a node is not closed", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const haiku = yield* Anthropic.make({ model: "claude-haiku-4-5", baseUrl: server.url })
        const address = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        const schema = {
          type: "object",
          properties: {
            home: { $ref: "#/$defs/Address", description: "Where they live." },
            work: { $ref: "#/$defs/Address" },
            code: { $ref: "#/$defs/Code", title: "Code", maxLength: 3 },
            loose: { type: "object", allOf: [{ $ref: "#/$defs/Address" }] }
          },
          required: ["home"],
          $defs: { Address: address, Code: { type: "string" } }
        }
        yield* haiku.complete(Chat.prompt("a", { responseFormat: { type: "json_schema", name: "r", schema } }))
        const sent = (server.requests()[0]?.body as { output_config: { format: { schema: unknown } } }).output_config.format.schema
        expect(sent).toEqual({
          type: "object",
          properties: {
            home: { allOf: [{ $ref: "#/$defs/Address" }], description: "Where they live." },
            work: { $ref: "#/$defs/Address" },
            code: { allOf: [{ $ref: "#/$defs/Code" }], title: "Code", description: '{"maxLength":3}' },
            loose: { type: "object", allOf: [{ $ref: "#/$defs/Address" }] }
          },
          required: ["home"],
          $defs: { Address: { ...address, additionalProperties: false }, Code: { type: "string" } },
          additionalProperties: false
        })
        // a root $ref keeps its $defs where it points
        yield* haiku.complete(Chat.prompt("a", {
          responseFormat: { type: "json_schema", name: "r", schema: { $ref: "#/$defs/Code", $defs: { Code: { type: "string" } }, description: "A code." } }
        }))
        const root = (server.requests()[1]?.body as { output_config: { format: { schema: unknown } } }).output_config.format.schema
        expect(root).toEqual({ allOf: [{ $ref: "#/$defs/Code" }], $defs: { Code: { type: "string" } }, description: "A code." })
      })
    )

    it.scoped("which models have them: the table's, later Claude models than it knows, none before, unless the options say so", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const formats = (model: string, info?: Anthropic.Options["info"]) =>
          Effect.map(Anthropic.make({ model, baseUrl: server.url, ...(info === undefined ? {} : { info }) }), (m) => m.info.responseFormats)
        expect(yield* formats("claude-sonnet-4-5-20250929")).toEqual(["json_schema"])
        expect(yield* formats("claude-sonnet-4-6")).toEqual(["json_schema"])
        expect(yield* formats("claude-opus-4-6")).toEqual(["json_schema"])
        expect(yield* formats("claude-sonnet-4-20250514")).toEqual([])
        expect(yield* formats("claude-opus-4-1-20250805")).toEqual([])
        expect(yield* formats("claude-opus-4-20250514")).toEqual([])
        expect(yield* formats("claude-opus-4-0")).toEqual([])
        expect(yield* formats("claude-3-5-haiku-latest")).toEqual([])
        expect(yield* formats("claude-3-opus-20240229")).toEqual([])
        // later ones than the table knows have them; their window is Anthropic's default, not an older model's
        expect(yield* formats("claude-opus-4-7")).toEqual(["json_schema"])
        expect(yield* formats("claude-sonnet-5-20270101")).toEqual(["json_schema"])
        const opus47 = yield* Anthropic.make({ model: "claude-opus-4-7", baseUrl: server.url })
        expect(opus47.info.price).toEqual({ input: 0, output: 0 })
        expect(yield* formats("claude-next")).toEqual([])
        expect(yield* formats("claude-next", { responseFormats: ["json_schema"] })).toEqual(["json_schema"])
      })
    )
  })

  describe("answers", () => {
    const reply: MockServer.Reply = {
      text: "Two tools.",
      toolCalls: [
        { id: "toolu_a", name: "one", arguments: { x: 1 } },
        { id: "toolu_b", name: "two", arguments: { y: "z" } }
      ],
      usage: { inputTokens: 30, outputTokens: 12 }
    }

    it.scoped("reads a JSON message with text, tool calls and usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply })
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.url })
        expect(yield* model.complete(Chat.prompt("hi"))).toEqual({
          id: "msg_mock_0",
          provider: "anthropic",
          model: "claude-haiku-4-5",
          text: "Two tools.",
          toolCalls: [
            { id: "toolu_a", name: "one", arguments: "{\"x\":1}" },
            { id: "toolu_b", name: "two", arguments: "{\"y\":\"z\"}" }
          ],
          finishReason: "tool_calls",
          usage: { inputTokens: 30, outputTokens: 12 }
        })
      })
    )

    it.scoped("says which stop sequence the answer stopped on, whole or streamed; one that is not a string is left out, the answer kept", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: { text: "1, 2, 3", stopSequence: "4" } })
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.url })
        const request = { ...Chat.prompt("Count"), stop: ["4"] }
        const whole = yield* model.complete(request)
        expect([whole.finishReason, whole.stopSequence]).toEqual(["stop", "4"])
        const chunks = Array.from(yield* Stream.runCollect(model.stream(request)))
        expect(chunks.filter((chunk) => chunk._tag === "Finish")).toEqual([{ _tag: "Finish", reason: "stop", stopSequence: "4" }])
        expect((yield* Chat.collect(model.stream(request), { id: "x", provider: "anthropic", model: "m" })).stopSequence).toBe("4")
        // an answer that ended its turn has none
        server.enqueue(MockServer.reply({ text: "1, 2, 3" }))
        expect("stopSequence" in (yield* model.complete(request))).toBe(false)
        const odd = { id: "msg_1", type: "message", role: "assistant", content: [{ type: "text", text: "1, 2" }], stop_reason: "stop_sequence", stop_sequence: 4 }
        server.enqueue(MockServer.status(200, { body: odd }))
        const kept = yield* model.complete(request)
        expect([kept.text, kept.finishReason, "stopSequence" in kept]).toEqual(["1, 2", "stop", false])
      })
    )

    it.scoped("streams text, numbers tool calls in block order, skips pings, ends on message_stop with usage", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply })
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.url })
        const chunks = Array.from(yield* Stream.runCollect(model.stream(Chat.prompt("hi"))))
        expect(chunks).toEqual([
          // message_start's count of the prompt, at once (its output_tokens is no count of the answer yet)
          { _tag: "Usage", usage: { inputTokens: 30, outputTokens: 0 } },
          { _tag: "TextDelta", text: "Two " },
          { _tag: "TextDelta", text: "tools." },
          { _tag: "ToolCallDelta", index: 0, id: "toolu_a", name: "one", arguments: "" },
          { _tag: "ToolCallDelta", index: 0, arguments: "{\"x" },
          { _tag: "ToolCallDelta", index: 0, arguments: "\":1}" },
          { _tag: "ToolCallDelta", index: 1, id: "toolu_b", name: "two", arguments: "" },
          { _tag: "ToolCallDelta", index: 1, arguments: "{\"y\"" },
          { _tag: "ToolCallDelta", index: 1, arguments: ":\"z\"}" },
          { _tag: "Finish", reason: "tool_calls" },
          { _tag: "Usage", usage: { inputTokens: 30, outputTokens: 12 } }
        ])
      })
    )

    it.scoped("a streamed tool call with no arguments has the arguments '{}', as the same call answered whole", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            // Anthropic's events for a call without input: one empty partial_json, then the block's stop
            sse(
              { type: "message_start", message: { id: "msg_3", usage: { input_tokens: 4 } } },
              { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "toolu_z", name: "now", input: {} } },
              { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "" } },
              { type: "content_block_stop", index: 0 },
              { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_y", name: "echo", input: {} } },
              { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"a\":1}" } },
              { type: "content_block_stop", index: 1 },
              // an Anthropic-compatible upstream that sends the input whole at the block's start, and no delta
              { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_x", name: "whole", input: { b: 2 } } },
              { type: "content_block_stop", index: 2 },
              { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 5 } },
              { type: "message_stop" }
            )
          ]
        })
        const model = yield* Anthropic.make({ model: "claude-sonnet-4-5", baseUrl: server.url })
        const streamed = yield* Chat.collect(model.stream(Chat.prompt("what time is it?")), { id: "", provider: "", model: "" })
        expect(streamed.toolCalls.map((call) => [call.name, call.arguments])).toEqual([
          ["now", "{}"],
          ["echo", "{\"a\":1}"],
          ["whole", "{\"b\":2}"]
        ])
      })
    )

    it.scoped("a stream refused after content gives its usage before the refusal", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            sse(
              { type: "message_start", message: { id: "msg_4", usage: { input_tokens: 1000 } } },
              { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
              { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Partly" } },
              { type: "message_delta", delta: { stop_reason: "refusal" }, usage: { output_tokens: 3 } },
              { type: "message_stop" }
            )
          ]
        })
        const model = yield* Anthropic.make({ model: "claude-sonnet-4-5", baseUrl: server.url })
        const seen: Array<ChatChunk> = []
        const exit = yield* Effect.exit(Stream.runForEach(model.stream(Chat.prompt("hi")), (chunk) => Effect.sync(() => void seen.push(chunk))))
        expect(exit._tag === "Failure" && Cause.failureOption(exit.cause).pipe(Option.map((e) => e._tag), Option.getOrNull)).toBe("ContentFiltered")
        expect(seen).toEqual([
          { _tag: "Usage", usage: { inputTokens: 1000, outputTokens: 0 } },
          { _tag: "TextDelta", text: "Partly" },
          { _tag: "Usage", usage: { inputTokens: 1000, outputTokens: 3 } }
        ])
      })
    )

    it.scoped("counts cache reads and writes as input, skips thinking and unknown events", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            MockServer.status(200, {
              body: {
                id: "msg_1",
                model: "claude-sonnet-4-5",
                content: [{ type: "thinking", thinking: "hmm" }, { type: "text", text: "ok" }],
                stop_reason: "max_tokens",
                usage: { input_tokens: 5, output_tokens: 9, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000 }
              }
            }),
            sse(
              { type: "message_start", message: { id: "msg_2", usage: { input_tokens: 4, cache_read_input_tokens: 6 } } },
              { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
              { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "hmm" } },
              { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
              { type: "content_block_stop", index: 0 },
              { type: "some_future_event", detail: 1 },
              { type: "content_block_start", index: 1, content_block: { type: "text", text: "Hi" } },
              { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "!" } },
              { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } },
              { type: "message_stop" }
            )
          ]
        })
        const model = yield* Anthropic.make({ model: "claude-sonnet-4-5", baseUrl: server.url })
        const json = yield* model.complete(Chat.prompt("hi"))
        expect([json.text, json.finishReason, json.usage]).toEqual([
          "ok",
          "length",
          { inputTokens: 1105, outputTokens: 9, cacheReadTokens: 1000, cacheWriteTokens: 100 }
        ])
        const streamed = yield* Chat.collect(model.stream(Chat.prompt("hi")), { id: "", provider: "", model: "" })
        expect([streamed.text, streamed.finishReason, streamed.usage]).toEqual([
          "Hi!",
          "stop",
          { inputTokens: 10, outputTokens: 3, cacheReadTokens: 6 }
        ])
      })
    )
  })

  describe("failures", () => {
    it.scoped("HTTP 529 and an in-stream overloaded_error are Overloaded", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.status(529, { retryAfter: { seconds: 4 } }), MockServer.streamError(5)]
        })
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        const status = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        expect(status).toMatchObject({ _tag: "Overloaded", status: 529, message: "Overloaded" })
        const text: Array<string> = []
        const inStream = yield* Effect.flip(
          Stream.runForEach(model.stream(Chat.prompt("hi")), (chunk) =>
            Effect.sync(() => chunk._tag === "TextDelta" && text.push(chunk.text))
          )
        )
        expect(inStream).toMatchObject({ _tag: "Overloaded", message: "Overloaded" })
        expect(text).toEqual(["Hello ", "from "])
      })
    )

    it.scoped("'prompt is too long' is ContextLengthExceeded with both numbers", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ faults: [MockServer.contextLengthExceeded] })
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        expect(yield* Effect.flip(model.complete(Chat.prompt("hi")))).toMatchObject({
          _tag: "ContextLengthExceeded",
          contextWindow: 200000,
          requestedTokens: 208310
        })
      })
    )

    it.scoped("a refusal stop is ContentFiltered, JSON and streaming", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ reply: { text: "I won't", finishReason: "content_filter" } })
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        const json = yield* Effect.flip(model.complete(Chat.prompt("hi")))
        const streamed = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        // Claude's classifiers stopped the answer: the text before the stop (streamed, the text that went out) and the usage go with it
        for (const error of [json, streamed]) {
          expect(error).toMatchObject({ _tag: "ContentFiltered", reason: "refusal", partialText: "I won't" })
          expect(error._tag === "ContentFiltered" && error.usage?.inputTokens).toBe(10)
        }
      })
    )

    it.scoped("a known event of the wrong shape is MalformedResponse", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            sse(
              { type: "message_start", message: { id: "m" } },
              { type: "content_block_delta", index: 0, delta: { type: "text_delta" } }
            )
          ]
        })
        const model = yield* Anthropic.make({ model: "m", baseUrl: server.url })
        const error = yield* Effect.flip(Stream.runDrain(model.stream(Chat.prompt("hi"))))
        expect(error._tag).toBe("MalformedResponse")
        expect(error.message).toContain("content_block_delta")
      })
    )
  })

  it.scoped("info defaults to known windows and prices; layerConfig reads ANTHROPIC_API_KEY", () =>
    Effect.gen(function* () {
      const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5-20250929" })
      // Anthropic's cache prices, from the list input price: reads at 0.1x, writes at 1.25x (5 minutes) and 2x (1 hour)
      expect([sonnet.info.contextWindow, sonnet.info.price]).toEqual([
        200_000,
        { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, longCacheWrite: 6 }
      ])
      expect((yield* Anthropic.make({ model: "claude-next" })).info.contextWindow).toBe(200_000)

      const server = yield* MockServer.make()
      const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", "sk-ant-env"]])))
      yield* LanguageModel.complete(Chat.prompt("hi")).pipe(
        Effect.provide(Anthropic.layerConfig({ model: "m", baseUrl: server.url }).pipe(Layer.provide(config)))
      )
      expect(server.requests()[0]?.headers["x-api-key"]).toBe("sk-ant-env")
    })
  )
})

describe("anthropic-beta merging", () => {
  const token = FastCheck.stringMatching(/^[A-Za-z0-9._-]{1,12}$/)
  const isToken = (name: string) => /^[A-Za-z0-9._-]+$/.test(name)

  plain.prop(
    "the configured names, then the request's new ones, each once, in order; nothing when the request adds none",
    [FastCheck.array(token, { maxLength: 5 }), FastCheck.array(FastCheck.oneof(token, FastCheck.string()), { maxLength: 6 })],
    ([configured, asked]) => {
      const header = betaHeader(configuredBetas({ "anthropic-beta": configured.join(", ") }), { ...Chat.prompt("x"), providerOptions: { anthropic: { betas: asked } } })
      const expected = [...new Set([...configured, ...asked.filter(isToken)])]
      if (expected.length === new Set(configured).size) expect(header).toBeUndefined()
      else {
        const value = header?.["anthropic-beta"] ?? ""
        expect(betaNames(value)).toEqual(expected)
        expect(value).toMatch(/^[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*$/)
      }
    },
    { fastCheck: { numRuns: 2_000 } }
  )

  plain("a request without betas costs nothing: no header made", () => {
    expect(betaHeader(["a"], Chat.prompt("x"))).toBeUndefined()
    expect(betaHeader(["a"], { ...Chat.prompt("x"), providerOptions: { gemini: {} } })).toBeUndefined()
  })
})
