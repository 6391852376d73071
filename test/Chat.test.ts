import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Schema, Stream } from "effect"
import {
  Chat,
  ContextLengthExceeded,
  fromStatus,
  InvalidRequest,
  isFatal,
  isProviderError,
  isRetriable,
  isSkippable,
  ModelInfo,
  ProviderError,
  RateLimited,
  retryAfter,
  ServerError,
  Tokens
} from "../src/llm/index.js"

describe("Chat", () => {
  it("decodes a request and rejects an empty conversation", () => {
    const decode = Schema.decodeUnknownEither(Chat.ChatRequest)
    expect(decode({ messages: [{ role: "user", content: "hi" }], maxTokens: 10 })._tag).toBe("Right")
    expect(decode({ messages: [] })._tag).toBe("Left")
    expect(decode({ messages: [{ role: "user", content: "hi" }], temperature: 3 })._tag).toBe("Left")
    expect(decode({ messages: [{ role: "robot", content: "hi" }] })._tag).toBe("Left")
  })

  it("builds a prompt with and without a system message", () => {
    expect(Chat.prompt("q").messages).toEqual([{ role: "user", content: "q" }])
    const request = Chat.prompt("q", { system: "s", maxTokens: 5 })
    expect(request.messages).toEqual([
      { role: "system", content: "s" },
      { role: "user", content: "q" }
    ])
    expect(request.maxTokens).toBe(5)
    expect("system" in request).toBe(false)
  })

  it("tells content chunks from bookkeeping chunks", () => {
    expect(Chat.isContent({ _tag: "TextDelta", text: "a" })).toBe(true)
    expect(Chat.isContent({ _tag: "TextDelta", text: "" })).toBe(false)
    expect(Chat.isContent({ _tag: "ToolCallDelta", index: 0, arguments: "" })).toBe(true)
    expect(Chat.isContent({ _tag: "Finish", reason: "stop" })).toBe(false)
    expect(Chat.isContent({ _tag: "Usage", usage: { inputTokens: 1, outputTokens: 1 } })).toBe(false)
  })

  it.effect("collects a stream of text and tool-call pieces into a response", () =>
    Effect.gen(function* () {
      const response = yield* Chat.collect(
        Stream.make<Array<Chat.ChatChunk>>(
          { _tag: "TextDelta", text: "Hel" },
          { _tag: "ToolCallDelta", index: 0, id: "c1", name: "f", arguments: '{"a"' },
          { _tag: "TextDelta", text: "lo" },
          { _tag: "ToolCallDelta", index: 0, arguments: ":1}" },
          { _tag: "Finish", reason: "tool_calls" },
          { _tag: "Usage", usage: { inputTokens: 3, outputTokens: 4 } }
        ),
        { id: "r", provider: "p", model: "m" }
      )
      expect(response).toEqual({
        id: "r",
        provider: "p",
        model: "m",
        text: "Hello",
        toolCalls: [{ id: "c1", name: "f", arguments: '{"a":1}' }],
        finishReason: "tool_calls",
        usage: { inputTokens: 3, outputTokens: 4 }
      })
    })
  )

  it("keeps tool calls in their index order, and an index of a billion costs no more than any (an array filled up to it took 30 s to read)", () => {
    const acc = Chat.accumulator({ id: "r", provider: "p", model: "m" })
    acc.add({ _tag: "ToolCallDelta", index: 1_000_000_000, id: "far", name: "g", arguments: "{}" })
    acc.add({ _tag: "ToolCallDelta", index: 2, id: "c2", name: "f", arguments: '{"b":' })
    acc.add({ _tag: "ToolCallDelta", index: 0, id: "c0", name: "f", arguments: "{}" })
    acc.add({ _tag: "ToolCallDelta", index: 2, arguments: "2}" })
    const started = performance.now()
    const { toolCalls } = acc.response()
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(toolCalls.map((call) => [call.id, call.arguments])).toEqual([["c0", "{}"], ["c2", '{"b":2}'], ["far", "{}"]])
  })

  it("reads the text of every kind of message", () => {
    expect(Chat.messageText({ role: "assistant" })).toBe("")
    expect(Chat.messageText({ role: "tool", toolCallId: "1", content: "x" })).toBe("x")
    expect(
      Chat.messageText({ role: "user", content: [{ type: "image", url: "data:," }, { type: "text", text: "t" }] })
    ).toBe("t")
  })
})

describe("ProviderError", () => {
  const ctx = { provider: "p", model: "m", message: "boom" }

  it("puts every error in exactly one group", () => {
    for (const status of [400, 401, 404, 408, 413, 429, 500, 503, 529]) {
      const error = fromStatus(status, ctx)
      const groups = [isRetriable(error), isSkippable(error), isFatal(error)].filter(Boolean)
      expect(groups).toHaveLength(1)
      expect(isProviderError(error)).toBe(true)
    }
    expect(isProviderError(new Error("x"))).toBe(false)
    expect(isRetriable({ _tag: "Nope" })).toBe(false)
  })

  it("keeps the Retry-After it is given, and only on rate-limit and overload errors", () => {
    const limited = fromStatus(429, { ...ctx, retryAfter: Duration.seconds(7) })
    expect(limited).toBeInstanceOf(RateLimited)
    expect(retryAfter(limited)).toEqual(Option.some(Duration.seconds(7)))
    expect(retryAfter(fromStatus(500, { ...ctx, retryAfter: Duration.seconds(7) }))).toEqual(Option.none())
    expect(fromStatus(413, ctx)).toBeInstanceOf(ContextLengthExceeded)
    expect(fromStatus(418, ctx)).toBeInstanceOf(InvalidRequest)
    expect(fromStatus(599, ctx)).toBeInstanceOf(ServerError)
  })

  it("round-trips through its schema", () => {
    const error = new RateLimited({ ...ctx, status: 429, retryAfter: Duration.millis(1500) })
    const encoded = Schema.encodeSync(ProviderError)(error)
    expect(encoded).toMatchObject({ _tag: "RateLimited", retryAfter: 1500 })
    const decoded = Schema.decodeUnknownSync(ProviderError)(encoded)
    expect(decoded).toBeInstanceOf(RateLimited)
    expect(decoded.message).toBe("boom")
  })
})

describe("ModelInfo and Tokens", () => {
  it("prices usage per million tokens", () => {
    expect(ModelInfo.cost({ input: 3, output: 15 }, { inputTokens: 1_000_000, outputTokens: 0 })).toBe(3)
    expect(ModelInfo.cost({ input: 3, output: 15 }, { inputTokens: 1_000, outputTokens: 500 })).toBeCloseTo(0.0105, 10)
  })

  it("estimates tokens, growing with the text and the output budget", () => {
    const short = Tokens.estimate(Chat.prompt("hi"))
    const long = Tokens.estimate(Chat.prompt("hi ".repeat(1000)))
    expect(long).toBeGreaterThan(700)
    expect(long).toBeGreaterThan(short)
    expect(Tokens.required(Chat.prompt("hi", { maxTokens: 100 }))).toBe(short + 100)
    expect(Tokens.required(Chat.prompt("hi"), 50)).toBe(short + 50)
    // a structured output's schema is sent too, and counted
    const schema = { type: "object", properties: { summary: { type: "string", description: "x".repeat(400) } } }
    const structured = Tokens.estimate(Chat.prompt("hi", { responseFormat: { type: "json_schema", name: "s", schema } }))
    expect(structured).toBe(short + Math.ceil((2 + JSON.stringify(schema).length) / 4) - Math.ceil(2 / 4))
    expect(Tokens.estimate(Chat.prompt("hi", { responseFormat: { type: "json_object" } }))).toBe(short)
  })

  it("counts an assistant's tool calls (their names and arguments) and a fixed 1,600 tokens an image", () => {
    const args = JSON.stringify({ rows: Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `row number ${i}` })) })
    const user: Chat.Message = { role: "user", content: "List the rows." }
    const called: Chat.Message = { role: "assistant", toolCalls: [{ id: "c1", name: "write_rows", arguments: args }] }
    const result: Chat.Message = { role: "tool", toolCallId: "c1", content: "ok" }
    const withCall = Tokens.estimate({ messages: [user, called, result] })
    const chars = "List the rows.".length + "write_rows".length + args.length + "ok".length
    expect(withCall).toBe(Math.ceil(chars / 4) + 3 * 4)
    // the assistant's text and its calls both
    const both = Tokens.estimate({ messages: [user, { role: "assistant", content: "Writing.", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] }] })
    expect(both).toBe(Math.ceil(("List the rows.".length + "Writing.".length + 1 + 2) / 4) + 2 * 4)
    // an image is many characters of URL or none: it counts as the most a large image costs (Claude's ~1,600)
    const text = Tokens.estimate(Chat.prompt("What is this?"))
    const oneImage: Chat.Message = {
      role: "user",
      content: [{ type: "text", text: "What is this?" }, { type: "image", url: "https://example.com/cat.png" }]
    }
    expect(Tokens.estimate({ messages: [oneImage] })).toBe(text + 1_600)
    const twoImages: Chat.Message = {
      role: "user",
      content: [{ type: "text", text: "What is this?" }, { type: "image", url: "data:image/png;base64,iVBORw0KGgo=" }, { type: "image", url: "https://example.com/b.png" }]
    }
    expect(Tokens.estimate({ messages: [twoImages] })).toBe(text + 3_200)
  })

  it("a model honours a prose request always, a JSON one when its responseFormats lists that type", () => {
    const info: ModelInfo.ModelInfo = { provider: "p", model: "m", contextWindow: 1_000, price: { input: 0, output: 0 } }
    const json = Chat.prompt("hi", { responseFormat: { type: "json_object" } })
    expect(ModelInfo.honours(info, Chat.prompt("hi"))).toBe(true)
    expect(ModelInfo.honours(info, json)).toBe(false)
    expect(ModelInfo.honours({ ...info, responseFormats: ["json_schema"] }, json)).toBe(false)
    expect(ModelInfo.honours({ ...info, responseFormats: ["json_object"] }, json)).toBe(true)
  })
})
