import { describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import type * as Net from "node:net"
import { Effect, Redacted } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"

/** A server on 127.0.0.1 that answers every POST with this SSE body. */
const sseServer = (body: string) =>
  Effect.gen(function* () {
    const server = Http.createServer((request, response) => {
      request.resume()
      request.on("end", () => response.writeHead(200, { "content-type": "text/event-stream" }).end(body))
    })
    yield* Effect.acquireRelease(
      Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
      () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
    )
    return `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
  })

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`
const event = (type: string, value: Record<string, unknown>) => `event: ${type}\n${data({ type, ...value })}`

// A stream's terminal event ends its answer even when no finish reason came before it (some OpenAI-compatible
// servers send none): the adapter gives the router its `Finish`, which it holds a whole answer to end with.
describe("a stream that reaches its terminal event without a finish reason", () => {
  it.scoped("OpenAI's [DONE] and Anthropic's message_stop end a whole answer (finish reason unknown)", () =>
    Effect.gen(function* () {
      const openAiUrl = yield* sseServer(
        data({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant", content: "Hello" } }] }) +
          "data: [DONE]\n\n"
      )
      const anthropicUrl = yield* sseServer(
        event("message_start", { message: { id: "m", usage: { input_tokens: 3, output_tokens: 1 } } }) +
          event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
          event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hello" } }) +
          event("content_block_stop", { index: 0 }) +
          event("message_stop", {})
      )
      const key = Redacted.make("sk-test")
      const openai = yield* OpenAi.make({ model: "local-model", apiKey: key, baseUrl: `${openAiUrl}/v1` })
      const anthropic = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: anthropicUrl })
      const router = yield* Router.make({
        targets: { openai: { model: openai }, anthropic: { model: anthropic } },
        chains: { default: ["openai"], claude: ["anthropic"] }
      })
      for (const chain of ["default", "claude"]) {
        const streamed = yield* Effect.scoped(
          Effect.gen(function* () {
            const started = yield* router.stream(Chat.prompt("hi"), { chain })
            const response = yield* Chat.collect(started.chunks, { id: "1", provider: "p", model: "m" })
            return { response, meta: yield* started.done }
          })
        )
        expect(streamed.response, chain).toMatchObject({ text: "Hello", finishReason: "unknown" })
        expect(streamed.meta.attempts.map((a) => a.error?._tag ?? "ok"), chain).toEqual(["ok"])
      }
    }).pipe(Effect.provide(UndiciHttpClient.layer)))
})

// DESIGN.md: a stream that ends without its terminal event is a MalformedResponse. An OpenAI-compatible stream is
// whole once a finish reason came: the openai SDK ends such a stream at the body's end, [DONE] or not, and servers
// that leave [DONE] out exist. Without a finish reason, its end before [DONE] is still a cut.
describe("an OpenAI stream that ends without [DONE]", () => {
  const chunk = (choice: Record<string, unknown>) => data({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, ...choice }] })
  const usage = data({ id: "c", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } })

  it.scoped("is whole after a finish reason (its usage kept), and cut without one", () =>
    Effect.gen(function* () {
      const key = Redacted.make("sk-test")
      const complete = yield* sseServer(chunk({ delta: { role: "assistant", content: "Hello" } }) + chunk({ delta: {}, finish_reason: "stop" }) + usage)
      const noUsage = yield* sseServer(chunk({ delta: { content: "Hello" } }) + chunk({ delta: {}, finish_reason: "length" }))
      const cut = yield* sseServer(chunk({ delta: { content: "Hello" } }))
      const modelAt = (url: string) => OpenAi.make({ model: "local-model", apiKey: key, baseUrl: `${url}/v1` })
      const whole = yield* Chat.collect((yield* modelAt(complete)).stream(Chat.prompt("hi")), { id: "1", provider: "p", model: "m" })
      expect(whole).toMatchObject({ text: "Hello", finishReason: "stop", usage: { inputTokens: 3, outputTokens: 1 } })
      const short = yield* Chat.collect((yield* modelAt(noUsage)).stream(Chat.prompt("hi")), { id: "1", provider: "p", model: "m" })
      expect(short).toMatchObject({ text: "Hello", finishReason: "length" })
      const error = yield* Effect.flip(Chat.collect((yield* modelAt(cut)).stream(Chat.prompt("hi")), { id: "1", provider: "p", model: "m" }))
      expect(error).toMatchObject({ _tag: "MalformedResponse", message: "openai stream ended before data: [DONE]" })
    }).pipe(Effect.provide(UndiciHttpClient.layer)))
})
