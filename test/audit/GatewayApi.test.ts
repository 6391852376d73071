/**
 * The gateway as an OpenAI Chat Completions drop-in (the client-facing
 * audit): requests an OpenAI client sends, as OpenAI's API takes them, reach
 * Claude and Gemini in a form they take too, or are refused with a clean 400
 * naming the field, as OpenAI refuses them. Real HTTP on 127.0.0.1 (port 0):
 * the official `openai` client against the gateway, over mock upstreams.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import OpenAI from "openai"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"
import { json, rawUpstream, sse } from "../support/raw.js"

const key = Redacted.make("sk-upstream")
const question = [{ role: "user" as const, content: "Name a colour." }]

/** One upstream speaking every wire format; the targets `gpt`, `claude` (Sonnet 4.5) and `gemini`, and the gateway over them. */
const setup = Effect.gen(function* () {
  const upstream = yield* MockServer.make()
  const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: upstream.baseUrls.openai })
  const claude = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: upstream.baseUrls.anthropic })
  const gemini = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrls.gemini })
  const router = yield* Router.make({
    targets: { gpt: { model: gpt }, claude: { model: claude }, gemini: { model: gemini } },
    chains: { default: ["gpt", "claude", "gemini"] },
    policy: { retry: { maxAttempts: 1 } }
  })
  const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
  return { upstream, client }
})

const sent = (upstream: MockServer.MockServer) => upstream.requests().map((request) => request.body as Record<string, any>)

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("GatewayApi", (it) => {
  describe("sampling settings OpenAI takes together", () => {
    it.scoped("temperature and top_p both sent: Claude gets the temperature alone (Claude 4.x refuses the two together)", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "claude", messages: question, temperature: 0.2, top_p: 0.9 })
        )
        expect(completion.choices[0]?.message.content).toBe("Hello from the mock server.")
        const [body] = sent(upstream)
        expect(body?.temperature).toBe(0.2)
        expect(body).not.toHaveProperty("top_p")
        // either alone goes as sent
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages: question, top_p: 0.9 }))
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages: question, temperature: 0.3 }))
        expect(sent(upstream).slice(1).map((b) => [b.temperature, b.top_p])).toEqual([
          [undefined, 0.9],
          [0.3, undefined]
        ])
      })
    )
  })

  describe("conversations", () => {
    it.scoped("one that opens on the assistant's greeting (OpenAI takes it) reaches Claude opening on a user turn, as Claude requires", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const messages = [
          { role: "system" as const, content: "You are a support agent." },
          { role: "assistant" as const, content: "Hi! How can I help?" },
          { role: "user" as const, content: "My order is late." }
        ]
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages }))
        const [body] = sent(upstream)
        expect(body?.system).toBe("You are a support agent.")
        const turns = body?.messages as Array<{ role: string; content: unknown }>
        expect(turns.map((turn) => turn.role)).toEqual(["user", "assistant", "user"])
        expect(turns[0]?.content).toMatch(/\S/)
        expect(turns.slice(1)).toEqual([
          { role: "assistant", content: "Hi! How can I help?" },
          { role: "user", content: "My order is late." }
        ])
        // a conversation that opens on a user turn goes as it is
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages: question }))
        expect(sent(upstream)[1]?.messages).toEqual([{ role: "user", content: "Name a colour." }])
      })
    )

    it.scoped("one whose history window opens on a tool call reaches Gemini opening on a user turn (Gemini wants a call after a user turn)", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const messages = [
          {
            role: "assistant" as const,
            content: null,
            tool_calls: [{ id: "c1", type: "function" as const, function: { name: "lookup", arguments: '{"q":"rain"}' } }]
          },
          { role: "tool" as const, tool_call_id: "c1", content: "wet" },
          { role: "user" as const, content: "Thanks." }
        ]
        const tools = [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object", properties: {} } } }]
        yield* Effect.promise(() => client.chat.completions.create({ model: "gemini", messages, tools }))
        const contents = sent(upstream)[0]?.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>
        expect(contents.map((content) => content.role)).toEqual(["user", "model", "user"])
        expect(contents[0]?.parts).toEqual([{ text: expect.stringMatching(/\S/) }])
        expect(contents[1]?.parts[0]?.["functionCall"]).toEqual({ name: "lookup", args: { q: "rain" } })
      })
    )
  })

  describe("tool_choice", () => {
    /** The 400 of a request the gateway refuses itself, and that no upstream was called. */
    const refused = (client: OpenAI, upstream: MockServer.MockServer, body: OpenAI.ChatCompletionCreateParamsNonStreaming) =>
      Effect.gen(function* () {
        const error = yield* Effect.promise(() => client.chat.completions.create(body).then(() => undefined, (error: unknown) => error))
        expect(error).toBeInstanceOf(OpenAI.BadRequestError)
        expect(upstream.count()).toBe(0)
        return error as InstanceType<typeof OpenAI.BadRequestError>
      })

    it.scoped("'required' or a function without tools is a 400 naming tool_choice, as OpenAI answers it, whatever the chain", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        for (const tool_choice of ["required", { type: "function", function: { name: "lookup" } }] as const) {
          const error = yield* refused(client, upstream, { model: "default", messages: question, tool_choice })
          expect([error.param, error.type]).toEqual(["tool_choice", "invalid_request_error"])
          expect(error.message).toMatch(/only allowed when 'tools' are specified/)
        }
      })
    )

    it.scoped("a function that is not one of the tools is a 400 naming tool_choice, before any upstream call", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const tools = [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object", properties: {} } } }]
        const error = yield* refused(client, upstream, {
          model: "default",
          messages: question,
          tools,
          tool_choice: { type: "function", function: { name: "search" } }
        })
        expect(error.param).toBe("tool_choice.function.name")
      })
    )

    it.scoped("'auto' or 'none' without tools says nothing: no upstream gets a tool choice (OpenAI refuses one without tools)", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        for (const model of ["gpt", "claude", "gemini"]) {
          yield* Effect.promise(() => client.chat.completions.create({ model, messages: question, tool_choice: "none" }))
          yield* Effect.promise(() => client.chat.completions.create({ model, messages: question, tools: [], tool_choice: "auto" }))
        }
        const bodies = sent(upstream)
        expect(bodies).toHaveLength(6)
        for (const body of bodies) {
          expect(body).not.toHaveProperty("tool_choice")
          expect(body).not.toHaveProperty("toolConfig")
        }
      })
    )
  })

  describe("a conversation that ends on the assistant's turn", () => {
    it.scoped("reaches Claude, which takes it as the start of its answer, without the trailing whitespace Claude refuses there", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const messages = [
          { role: "user" as const, content: "Write a haiku about rain." },
          { role: "assistant" as const, content: "Here is one:\n\n" }
        ]
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages }))
        expect(sent(upstream)[0]?.messages).toEqual([
          { role: "user", content: "Write a haiku about rain." },
          { role: "assistant", content: "Here is one:" }
        ])
        // an assistant turn before the last keeps its text as it is
        yield* Effect.promise(() =>
          client.chat.completions.create({ model: "claude", messages: [...messages, { role: "user", content: "Another." }] })
        )
        expect(sent(upstream)[1]?.messages[1]).toEqual({ role: "assistant", content: "Here is one:\n\n" })
      })
    )
  })

  describe("stop sequences", () => {
    it.scoped("a stop of whitespace alone (\"\\n\", as OpenAI takes it) is not sent to Claude, which refuses it; the others are", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages: question, stop: ["\n", "END", " \t"] }))
        yield* Effect.promise(() => client.chat.completions.create({ model: "claude", messages: question, stop: "\n\n" }))
        const [some, none] = sent(upstream)
        expect(some?.stop_sequences).toEqual(["END"])
        expect(none).not.toHaveProperty("stop_sequences")
        // OpenAI and Gemini take them as sent
        yield* Effect.promise(() => client.chat.completions.create({ model: "gpt", messages: question, stop: ["\n"] }))
        yield* Effect.promise(() => client.chat.completions.create({ model: "gemini", messages: question, stop: ["\n"] }))
        expect(sent(upstream)[2]?.stop).toEqual(["\n"])
        expect(sent(upstream)[3]?.generationConfig?.stopSequences).toEqual(["\n"])
      })
    )

    it.scoped("more than 4 stop sequences is a 400 naming stop, as OpenAI answers it, before any upstream call", () =>
      Effect.gen(function* () {
        const { client, upstream } = yield* setup
        const error = yield* Effect.promise(() =>
          client.chat.completions
            .create({ model: "default", messages: question, stop: ["a", "b", "c", "d", "e"] })
            .then(() => undefined, (error: unknown) => error)
        )
        expect(error).toBeInstanceOf(OpenAI.BadRequestError)
        const refused = error as InstanceType<typeof OpenAI.BadRequestError>
        expect(refused.status).toBe(400)
        expect(refused.param).toBe("stop")
        expect(refused.type).toBe("invalid_request_error")
        expect(refused.message).toMatch(/maximum length 4/)
        expect(upstream.count()).toBe(0)
        // four are taken
        yield* Effect.promise(() => client.chat.completions.create({ model: "gpt", messages: question, stop: ["a", "b", "c", "d"] }))
        expect(sent(upstream)[0]?.stop).toEqual(["a", "b", "c", "d"])
      })
    )

    it.scoped("a reasoning model that refuses stop (OpenAI's 400 'Unsupported parameter: 'stop'') is asked once more without it, and not sent it again", () =>
      Effect.gen(function* () {
        const refusal = MockServer.status(400, { message: "Unsupported parameter: 'stop' is not supported with this model.", code: "unsupported_parameter" })
        const upstream = yield* MockServer.make({ faults: [refusal] })
        const gpt5 = yield* OpenAi.make({ model: "gpt-5-mini", apiKey: key, baseUrl: upstream.baseUrls.openai })
        const router = yield* Router.make({ targets: { gpt5: { model: gpt5 } }, chains: { default: ["gpt5"] }, policy: { retry: { maxAttempts: 1 } } })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const completion = yield* Effect.promise(() => client.chat.completions.create({ model: "default", messages: question, stop: ["END"] }))
        expect(completion.choices[0]?.message.content).toBe("Hello from the mock server.")
        const chunks = yield* Effect.promise(async () => {
          const stream = await client.chat.completions.create({ model: "default", messages: question, stop: "END", stream: true })
          let text = ""
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
          return text
        })
        expect(chunks).toBe("Hello from the mock server.")
        expect(sent(upstream).map((body) => body.stop)).toEqual([["END"], undefined, undefined])
        // another 400 is not asked again
        upstream.enqueue(MockServer.status(400, { message: "Invalid value for 'tool_choice'." }))
        const error = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "default", messages: question }).then(() => undefined, (error: unknown) => error)
        )
        expect(error).toBeInstanceOf(OpenAI.BadRequestError)
        expect(upstream.count()).toBe(4)
      })
    )
  })

  describe("usage", () => {
    it.scoped("the reasoning tokens a provider reports come back as usage.completion_tokens_details.reasoning_tokens, whole and streamed", () =>
      Effect.gen(function* () {
        const usage = { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, completion_tokens_details: { reasoning_tokens: 20 } }
        const openai = yield* rawUpstream((_, body) =>
          body.stream === true
            ? {
                body: sse(
                  { id: "c", choices: [{ index: 0, delta: { role: "assistant", content: "Blue." }, finish_reason: null }] },
                  { id: "c", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
                  { id: "c", choices: [], usage },
                  "[DONE]"
                )
              }
            : json(200, { id: "c", model: "o4-mini", choices: [{ index: 0, message: { role: "assistant", content: "Blue." }, finish_reason: "stop" }], usage })
        )
        const gemini = yield* MockServer.make({
          faults: [
            MockServer.status(200, {
              body: {
                candidates: [{ content: { role: "model", parts: [{ text: "Blue." }] }, finishReason: "STOP" }],
                usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 10, thoughtsTokenCount: 20 }
              }
            })
          ]
        })
        const o4 = yield* OpenAi.make({ model: "o4-mini", apiKey: key, baseUrl: openai.baseUrl })
        const flash = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: gemini.baseUrls.gemini })
        const router = yield* Router.make({ targets: { o4: { model: o4 }, flash: { model: flash } }, chains: { default: ["o4"] }, policy: { retry: { maxAttempts: 1 } } })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const expected = { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, completion_tokens_details: { reasoning_tokens: 20 } }
        const whole = yield* Effect.promise(() => client.chat.completions.create({ model: "o4", messages: question }))
        expect(whole.usage).toEqual(expected)
        const streamed = yield* Effect.promise(async () => {
          const stream = await client.chat.completions.create({ model: "o4", messages: question, stream: true, stream_options: { include_usage: true } })
          let last: unknown
          for await (const chunk of stream) if (chunk.usage) last = chunk.usage
          return last
        })
        expect(streamed).toEqual(expected)
        const fromGemini = yield* Effect.promise(() => client.chat.completions.create({ model: "flash", messages: question }))
        expect(fromGemini.usage).toEqual(expected)
      })
    )
  })
})
