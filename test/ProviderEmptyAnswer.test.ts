/**
 * A whole (not streamed) answer with nothing in it: no text, no tool call.
 * With no finish reason either, it said nothing, as a stream that reaches
 * its terminal event with neither content nor a reason does (the router
 * fails that one as a `MalformedResponse`): each adapter fails it the same
 * way, so it is retried or failed over. With a real finish reason (a stop,
 * a length: `max_tokens` spent before any text) it is the model's answer,
 * empty, and is served.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

const key = Redacted.make("sk-test")
const ok = (body: unknown) => MockServer.status(200, { body })

const openAi = (message: Record<string, unknown>, finish: string | null | undefined) => ({
  id: "c",
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", ...message }, ...(finish === undefined ? {} : { finish_reason: finish }) }],
  usage: { prompt_tokens: 3, completion_tokens: 0 }
})
const claude = (content: ReadonlyArray<unknown>, stop: string | null | undefined) => ({
  id: "msg",
  type: "message",
  role: "assistant",
  model: "claude-haiku-4-5",
  content,
  ...(stop === undefined ? {} : { stop_reason: stop }),
  usage: { input_tokens: 3, output_tokens: 0 }
})
const gemini = (candidate: Record<string, unknown>) => ({
  candidates: [candidate],
  usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 0 }
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("an empty whole answer", (it) => {
  describe("with no finish reason: MalformedResponse", () => {
    it.scoped("OpenAI: no content (null, empty, absent), no tool call, no finish_reason", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [ok(openAi({ content: null }, null)), ok(openAi({ content: "" }, undefined)), ok(openAi({}, null))]
        })
        const model = yield* OpenAi.make({ model: "local", apiKey: key, baseUrl: server.url })
        for (let i = 0; i < 3; i++) {
          const error = yield* Effect.flip(model.complete(Chat.prompt("hi")))
          expect(error._tag, String(i)).toBe("MalformedResponse")
        }
      })
    )

    it.scoped("Anthropic: no content block with text or a tool use, no stop_reason", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [ok(claude([], null)), ok(claude([{ type: "text", text: "" }], undefined))]
        })
        const model = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.baseUrls.anthropic })
        for (let i = 0; i < 2; i++) {
          const error = yield* Effect.flip(model.complete(Chat.prompt("hi")))
          expect(error._tag, String(i)).toBe("MalformedResponse")
        }
      })
    )

    it.scoped("Gemini: a candidate without parts, and no finishReason (or FINISH_REASON_UNSPECIFIED)", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            ok(gemini({ content: { role: "model" } })),
            ok(gemini({ content: { role: "model", parts: [{ text: "" }] }, finishReason: "FINISH_REASON_UNSPECIFIED" }))
          ]
        })
        const model = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        for (let i = 0; i < 2; i++) {
          const error = yield* Effect.flip(model.complete(Chat.prompt("hi")))
          expect(error._tag, String(i)).toBe("MalformedResponse")
        }
      })
    )

    it.scoped("nor with a finish reason that says nothing the neutral model knows (the router's rule for a stream: a reasoned Finish)", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            ok(openAi({ content: "" }, "error")),
            ok(claude([], "pause_turn")),
            ok(gemini({ content: { role: "model" }, finishReason: "TOO_MANY_TOOL_CALLS" })),
            ok(gemini({ content: { role: "model" }, finishReason: "MISSING_THOUGHT_SIGNATURE" }))
          ]
        })
        const openai = yield* OpenAi.make({ model: "local", apiKey: key, baseUrl: server.url })
        const anthropic = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.baseUrls.anthropic })
        const google = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const tags = []
        for (const model of [openai, anthropic, google, google]) tags.push((yield* Effect.flip(model.complete(Chat.prompt("hi"))))._tag)
        expect(tags).toEqual(["MalformedResponse", "MalformedResponse", "MalformedResponse", "MalformedResponse"])
        // with content, such a finish is served as it is
        server.enqueue(ok(openAi({ content: "Hi" }, "error")), ok(gemini({ content: { role: "model", parts: [{ text: "Hi" }] }, finishReason: "LANGUAGE" })))
        expect((yield* openai.complete(Chat.prompt("hi"))).finishReason).toBe("unknown")
        expect((yield* google.complete(Chat.prompt("hi"))).finishReason).toBe("unknown")
      })
    )

    it.scoped("the router fails over from it, as from such a stream", () =>
      Effect.gen(function* () {
        const empty = yield* MockServer.make({ faults: [ok(openAi({ content: null }, null))] })
        const good = yield* MockServer.make()
        const router = yield* Router.make({
          targets: {
            empty: { model: yield* OpenAi.make({ model: "a", apiKey: key, baseUrl: empty.url }), policy: { retry: { maxAttempts: 1 } } },
            good: { model: yield* OpenAi.make({ model: "b", apiKey: key, baseUrl: good.url }) }
          },
          chains: { default: ["empty", "good"] }
        })
        const { response, meta } = yield* router.complete(Chat.prompt("hi"))
        expect(response.text).toBe("Hello from the mock server.")
        expect(meta.attempts.map((a) => a.error?._tag ?? "ok")).toEqual(["MalformedResponse", "ok"])
        expect(empty.count()).toBe(1)
      })
    )
  })

  describe("with a finish reason: served, empty", () => {
    it.scoped("each adapter's stop and length", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [
            ok(openAi({ content: "" }, "stop")),
            ok(openAi({ content: null }, "length")),
            ok(claude([], "end_turn")),
            ok(claude([], "max_tokens")),
            ok(gemini({ content: { role: "model" }, finishReason: "MAX_TOKENS" }))
          ]
        })
        const openai = yield* OpenAi.make({ model: "local", apiKey: key, baseUrl: server.url })
        const anthropic = yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: server.baseUrls.anthropic })
        const google = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: server.url })
        const answers = []
        for (const model of [openai, openai, anthropic, anthropic, google]) {
          const response = yield* model.complete(Chat.prompt("hi", { maxTokens: 1 }))
          answers.push([response.text, response.toolCalls.length, response.finishReason])
        }
        expect(answers).toEqual([
          ["", 0, "stop"],
          ["", 0, "length"],
          ["", 0, "stop"],
          ["", 0, "length"],
          ["", 0, "length"]
        ])
      })
    )
  })
})
