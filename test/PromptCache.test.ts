/**
 * Prompt-cache breakpoints (`Chat.CacheBreakpoint`): where Claude's
 * `cache_control` lands for each part, message and tool a request marks;
 * that a request's breakpoints always fit Claude's rules (at most 4, no
 * `"1h"` after a `"5m"`), so a hint never fails a request; that OpenAI and
 * Gemini are sent none; and that the gateway's chat route reads
 * `cache_control` as the OpenRouter and LiteLLM dialects send it.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, FastCheck, Redacted } from "effect"
import OpenAI from "openai"
import * as Gateway from "../src/gateway/Gateway.js"
import * as MessagesRequest from "../src/gateway/internal/messagesRequest.js"
import * as WireRequest from "../src/gateway/internal/request.js"
import type { Chat } from "../src/llm/index.js"
import * as AnthropicWire from "../src/providers/internal/anthropicWire.js"
import * as GeminiWire from "../src/providers/internal/geminiWire.js"
import * as OpenAiWire from "../src/providers/internal/openAiWire.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"

type Json = Record<string, unknown>

const claude = (request: Chat.ChatRequest): Json => AnthropicWire.encodeRequest(request, "claude-sonnet-4-5", 1024, false)

const tool = (name: string, cache?: Chat.CacheBreakpoint): Chat.ToolDefinition => ({
  name,
  parameters: { type: "object", properties: {} },
  ...(cache === undefined ? {} : { cache })
})

/** Every `cache_control` of a Claude body, in the prompt's order (tools, system, messages). */
const breakpoints = (body: Json): Array<Json> => {
  const blocks = (value: unknown): Array<Json> => (Array.isArray(value) ? (value as Array<Json>) : [])
  const all = [
    ...blocks(body.tools),
    ...blocks(body.system),
    ...blocks(body.messages).flatMap((message) => blocks(message.content))
  ]
  return all.flatMap((block) => (block.cache_control === undefined ? [] : [block.cache_control as Json]))
}

describe("Claude's cache_control", () => {
  it("marks the system text, a text part, an image part and a tool", () => {
    const body = claude({
      messages: [
        { role: "system", content: "A long manual.", cache: "1h" },
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "This contract:", cache: "5m" },
            { type: "image", url: "data:image/png;base64,iVBORw0KGgo=", cache: "5m" },
            { type: "text", text: "What does clause 3 say?" }
          ]
        }
      ],
      tools: [tool("search"), tool("fetch", "1h")]
    })
    expect(body.system).toEqual([
      { type: "text", text: "A long manual.", cache_control: { type: "ephemeral", ttl: "1h" } },
      { type: "text", text: "Be brief." }
    ])
    expect(body.tools).toMatchObject([{ name: "search" }, { name: "fetch", cache_control: { type: "ephemeral", ttl: "1h" } }])
    expect((body.tools as Array<Json>)[0]).not.toHaveProperty("cache_control")
    expect(body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "This contract:", cache_control: { type: "ephemeral" } },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" }, cache_control: { type: "ephemeral" } },
          { type: "text", text: "What does clause 3 say?" }
        ]
      }
    ])
  })

  it("marks a message's last block: a user string, an assistant's tool call, a tool result", () => {
    const body = claude({
      messages: [
        { role: "user", content: "Weather in Rome?", cache: "5m" },
        { role: "assistant", content: "Looking.", toolCalls: [{ id: "call_1", name: "weather", arguments: "{}" }], cache: "5m" },
        { role: "tool", toolCallId: "call_1", content: "21 C", cache: "5m" },
        { role: "user", content: "And tomorrow?" }
      ],
      tools: [tool("weather")]
    })
    expect(body.messages).toEqual([
      // one text block kept as a block, not compacted to a string, to carry its mark
      { role: "user", content: [{ type: "text", text: "Weather in Rome?", cache_control: { type: "ephemeral" } }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Looking." },
          { type: "tool_use", id: "call_1", name: "weather", input: {}, cache_control: { type: "ephemeral" } }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "21 C", cache_control: { type: "ephemeral" } },
          { type: "text", text: "And tomorrow?" }
        ]
      }
    ])
  })

  it("sends the system as a string, and turns compacted, when nothing is marked", () => {
    const body = claude({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }] })
    expect(body.system).toBe("Be brief.")
    expect(body.messages).toEqual([{ role: "user", content: "Hi" }])
    expect(breakpoints(body)).toEqual([])
  })

  it("keeps the last four breakpoints of more", () => {
    const body = claude({
      messages: [
        { role: "system", content: "Manual.", cache: "5m" },
        { role: "user", content: "one", cache: "5m" },
        { role: "assistant", content: "two", cache: "5m" },
        { role: "user", content: "three", cache: "5m" },
        { role: "assistant", content: "four", cache: "5m" },
        { role: "user", content: "five", cache: "5m" }
      ],
      tools: [tool("first", "5m")]
    })
    expect(breakpoints(body)).toHaveLength(4)
    expect(body.tools).toEqual([expect.not.objectContaining({ cache_control: expect.anything() })])
    expect(body.system).toEqual([{ type: "text", text: "Manual." }])
    const texts = (body.messages as Array<{ content: Array<Json> | string }>).map((m) =>
      typeof m.content === "string" ? null : m.content[0]?.text
    )
    // the first turn lost its mark, and is sent as a plain string again
    expect(texts).toEqual([null, "two", "three", "four", "five"])
  })

  it("sends a 1h breakpoint after a 5m one as 5m", () => {
    const body = claude({
      messages: [
        { role: "system", content: "Manual.", cache: "1h" },
        { role: "user", content: "History.", cache: "5m" },
        { role: "assistant", content: "Noted.", cache: "1h" },
        { role: "user", content: "Now?" }
      ],
      tools: [tool("search", "1h")]
    })
    expect(breakpoints(body)).toEqual([
      { type: "ephemeral", ttl: "1h" },
      { type: "ephemeral", ttl: "1h" },
      { type: "ephemeral" },
      { type: "ephemeral" }
    ])
  })

  it.prop(
    "any marking fits Claude's rules: at most 4, no 1h after a 5m, the last marks kept",
    [
      FastCheck.array(
        FastCheck.record({
          role: FastCheck.constantFrom("system" as const, "user" as const, "assistant" as const),
          cache: FastCheck.constantFrom(undefined, "5m" as const, "1h" as const)
        }),
        { minLength: 1, maxLength: 12 }
      ),
      FastCheck.array(FastCheck.constantFrom(undefined, "5m" as const, "1h" as const), { maxLength: 4 })
    ],
    ([turns, toolMarks]) => {
      const messages = turns.map(({ cache, role }, i): Chat.Message => ({
        role,
        content: `turn ${i}`,
        ...(cache === undefined ? {} : { cache })
      }))
      const body = claude({
        messages: messages as [Chat.Message, ...Array<Chat.Message>],
        ...(toolMarks.length > 0 ? { tools: toolMarks.map((cache, i) => tool(`t${i}`, cache)) } : {})
      })
      const sent = breakpoints(body)
      const asked = [...toolMarks, ...turns.filter((t) => t.role === "system").map((t) => t.cache), ...turns.filter((t) => t.role !== "system").map((t) => t.cache)]
        .filter((cache) => cache !== undefined)
      expect(sent.length).toBe(Math.min(asked.length, AnthropicWire.maxCacheBreakpoints))
      const ttls = sent.map((control) => (control.ttl === "1h" ? "1h" : "5m"))
      expect(ttls.join(",")).toMatch(/^(1h,?)*(5m,?)*$/)
      // a kept mark is sent with its own life, unless a 5m came before it
      const kept = asked.slice(-AnthropicWire.maxCacheBreakpoints)
      const firstShort = kept.indexOf("5m")
      expect(ttls).toEqual(kept.map((ttl, i) => (firstShort >= 0 && i > firstShort ? "5m" : ttl)))
    }
  )
})

describe("a mark on a block Claude is not sent (whitespace only)", () => {
  it("moves to the block before it in the same message", () => {
    const body = claude({
      messages: [{ role: "user", content: [{ type: "text", text: "A long document." }, { type: "text", text: "\n", cache: "1h" }] }]
    })
    expect(body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "A long document.", cache_control: { type: "ephemeral", ttl: "1h" } }] }
    ])
  })

  it("moves to the last block of the turn before, the system text or the tools", () => {
    const turn = claude({
      messages: [
        { role: "user", content: "History." },
        { role: "assistant", content: "  ", cache: "5m" },
        { role: "user", content: "Now?" }
      ]
    })
    expect(breakpoints(turn)).toEqual([{ type: "ephemeral" }])
    expect((turn.messages as Array<{ content: Array<Json> }>)[0]!.content[0]).toEqual({ type: "text", text: "History.", cache_control: { type: "ephemeral" } })
    const system = claude({ messages: [{ role: "system", content: "Manual." }, { role: "system", content: " ", cache: "1h" }, { role: "user", content: [{ type: "text", text: "\t", cache: "5m" }, { type: "text", text: "Q" }] }] })
    // both marks end on the system text: the longer life kept
    expect(system.system).toEqual([{ type: "text", text: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } }])
    const tools = claude({ messages: [{ role: "user", content: " ", cache: "5m" }, { role: "user", content: "Q" }], tools: [tool("search")] })
    expect(tools.tools).toMatchObject([{ name: "search", cache_control: { type: "ephemeral" } }])
  })

  it("is dropped when nothing comes before it", () => {
    const body = claude({ messages: [{ role: "user", content: [{ type: "text", text: " ", cache: "5m" }, { type: "text", text: "Q" }] }] })
    expect(breakpoints(body)).toEqual([])
  })

  it.prop(
    "every mark on a message is sent, on the block it marks or the last one sent before it, within Claude's rules",
    [
      FastCheck.array(
        FastCheck.record({
          role: FastCheck.constantFrom("system" as const, "user" as const, "assistant" as const),
          blank: FastCheck.boolean(),
          cache: FastCheck.constantFrom(undefined, "5m" as const, "1h" as const)
        }),
        { minLength: 1, maxLength: 8 }
      )
    ],
    ([turns]) => {
      const messages = turns.map(({ blank, cache, role }, i): Chat.Message => ({
        role,
        content: blank ? " \n" : `turn ${i}`,
        ...(cache === undefined ? {} : { cache })
      }))
      const body = claude({ messages: messages as [Chat.Message, ...Array<Chat.Message>], tools: [tool("first")] })
      const ordered = [...turns.filter((t) => t.role === "system"), ...turns.filter((t) => t.role !== "system")]
      // each marked message's breakpoint lands on the last text sent up to it (here the tool, at worst): one per distinct place
      const places = new Set<string>()
      let at = "tool"
      for (const turn of ordered) {
        if (!turn.blank) at = `turn:${turns.indexOf(turn)}`
        if (turn.cache !== undefined) places.add(at)
      }
      expect(breakpoints(body).length).toBe(Math.min(places.size, AnthropicWire.maxCacheBreakpoints))
      expect(JSON.stringify(body)).not.toMatch(/"text":"\s*","cache_control"/)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("any request Claude is sent", () => {
  const mark = FastCheck.constantFrom(undefined, "5m" as const, "1h" as const)
  const text = FastCheck.constantFrom("", " ", "\n\t", "word", "trailing  ")
  const withMark = <A extends object>(a: A, cache: Chat.CacheBreakpoint | undefined) => (cache === undefined ? a : { ...a, cache })
  const part: FastCheck.Arbitrary<Chat.ContentPart> = FastCheck.oneof(
    FastCheck.tuple(text, mark).map(([t, cache]) => withMark({ type: "text" as const, text: t }, cache)),
    mark.map((cache) => withMark({ type: "image" as const, url: "https://example.com/a.png" }, cache))
  )
  const message: FastCheck.Arbitrary<Chat.Message> = FastCheck.oneof(
    FastCheck.tuple(text, mark).map(([t, cache]) => withMark({ role: "system" as const, content: t }, cache)),
    FastCheck.tuple(FastCheck.oneof(text, FastCheck.array(part, { maxLength: 3 })), mark).map(([content, cache]) => withMark({ role: "user" as const, content }, cache)),
    FastCheck.tuple(text, FastCheck.boolean(), mark).map(([t, call, cache]) =>
      withMark({ role: "assistant" as const, content: t, ...(call ? { toolCalls: [{ id: "c", name: "f", arguments: "{}" }] } : {}) }, cache)
    ),
    FastCheck.tuple(text, mark).map(([t, cache]) => withMark({ role: "tool" as const, toolCallId: "c", content: t }, cache))
  )

  it.prop(
    "holds at most 4 breakpoints, no 1h after a 5m, on blocks that take one, none on blank text",
    [FastCheck.array(message, { minLength: 1, maxLength: 8 }), FastCheck.array(mark, { maxLength: 2 })],
    ([messages, toolMarks]) => {
      const body = claude({
        messages: messages as [Chat.Message, ...Array<Chat.Message>],
        ...(toolMarks.length > 0 ? { tools: toolMarks.map((cache, i) => tool(`t${i}`, cache)) } : {})
      })
      const blocks = (value: unknown): Array<Json> => (Array.isArray(value) ? (value as Array<Json>) : [])
      const all = [...blocks(body.tools), ...blocks(body.system), ...blocks(body.messages).flatMap((m) => blocks(m.content))]
      const marked = all.filter((block) => block.cache_control !== undefined)
      expect(marked.length).toBeLessThanOrEqual(AnthropicWire.maxCacheBreakpoints)
      expect(marked.map((block) => ((block.cache_control as Json).ttl === "1h" ? "1h" : "5m")).join(",")).toMatch(/^(1h,?)*(5m,?)*$/)
      for (const block of marked) {
        expect(block.type === undefined || ["text", "image", "tool_use", "tool_result"].includes(String(block.type))).toBe(true)
        if (block.type === "text") expect(String(block.text)).toMatch(/\S/)
      }
      // a mark asked for is sent somewhere whenever something is sent before or at it
      const asked = toolMarks.some((m) => m !== undefined) || messages.some((m) => m.cache !== undefined)
      if (asked && toolMarks.length > 0) expect(marked.length).toBeGreaterThan(0)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("other providers", () => {
  const marked: Chat.ChatRequest = {
    messages: [
      { role: "system", content: "Manual.", cache: "1h" },
      { role: "user", content: [{ type: "text", text: "Question", cache: "5m" }], cache: "5m" }
    ],
    tools: [tool("search", "1h")]
  }

  it("OpenAI and Gemini are sent no cache field, and the same body as unmarked", () => {
    const unmarked: Chat.ChatRequest = {
      messages: [{ role: "system", content: "Manual." }, { role: "user", content: [{ type: "text", text: "Question" }] }],
      tools: [tool("search")]
    }
    const openAi = OpenAiWire.encodeRequest(marked, "gpt-4.1", "max_tokens", false)
    expect(JSON.stringify(openAi)).not.toMatch(/cache/)
    expect(openAi).toEqual(OpenAiWire.encodeRequest(unmarked, "gpt-4.1", "max_tokens", false))
    const gemini = GeminiWire.encodeRequest(marked, "gemini-2.5-flash")
    expect(JSON.stringify(gemini)).not.toMatch(/cache/)
    expect(gemini).toEqual(GeminiWire.encodeRequest(unmarked, "gemini-2.5-flash"))
  })
})

describe("the gateway's chat route", () => {
  const decode = (body: Record<string, unknown>) => WireRequest.decode({ model: "default", ...body })

  it("reads cache_control on parts, messages and tools, 5m by default", () => {
    const decoded = decode({
      messages: [
        { role: "system", content: [{ type: "text", text: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } }] },
        { role: "developer", content: "Be brief.", cache_control: { type: "ephemeral" } },
        {
          role: "user",
          content: [
            { type: "text", text: "Contract:", cache_control: { type: "ephemeral" } },
            { type: "image_url", image_url: { url: "https://example.com/page.png" }, cache_control: { type: "ephemeral", ttl: "5m" } }
          ]
        },
        { role: "assistant", tool_calls: [{ id: "c1", type: "function", function: { name: "search", arguments: "{}" } }], cache_control: { type: "ephemeral" } },
        { role: "tool", tool_call_id: "c1", content: "found", cache_control: { type: "ephemeral" } },
        { role: "user", content: "So?", cache_control: { type: "ephemeral", ttl: "1h" } }
      ],
      tools: [{ type: "function", function: { name: "search" }, cache_control: { type: "ephemeral", ttl: "1h" } }]
    })
    expect(Either.isRight(decoded)).toBe(true)
    const { request } = Either.getOrThrow(decoded)
    expect(request.messages.map((m) => m.cache)).toEqual(["1h", "5m", undefined, "5m", "5m", "1h"])
    expect(request.messages[2]).toMatchObject({ content: [{ cache: "5m" }, { cache: "5m" }] })
    expect(request.tools?.[0]?.cache).toBe("1h")
  })

  it("reads a request without marks as before: no cache field anywhere", () => {
    const { request } = Either.getOrThrow(decode({ messages: [{ role: "system", content: "Hi" }, { role: "user", content: [{ type: "text", text: "Yo" }] }] }))
    expect(JSON.stringify(request)).not.toMatch(/cache/)
  })

  it.each([
    [{ type: "persistent" }, "messages[0].cache_control.type"],
    [{ type: "ephemeral", ttl: "24h" }, "messages[0].cache_control.ttl"],
    ["ephemeral", "messages[0].cache_control"]
  ])("refuses cache_control %j naming %s", (control, param) => {
    const decoded = decode({ messages: [{ role: "user", content: "Hi", cache_control: control }] })
    expect(Either.isLeft(decoded) && decoded.left.param).toBe(param)
  })

  it("refuses a bad mark on a part, naming the part", () => {
    const decoded = decode({ messages: [{ role: "user", content: [{ type: "text", text: "Hi", cache_control: { type: "x" } }] }] })
    expect(Either.isLeft(decoded) && decoded.left.param).toBe("messages[0].content[0].cache_control.type")
  })

  it("carries the marks to Claude's body end to end", () => {
    const { request } = Either.getOrThrow(decode({
      messages: [
        { role: "system", content: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } },
        { role: "user", content: "Question" }
      ]
    }))
    expect(claude(request).system).toEqual([{ type: "text", text: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } }])
  })
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("end to end", (it) => {
  it.scoped("MockServer's cache counts that exceed the prompt read the same from every wire, capped at the prompt", () =>
    Effect.gen(function* () {
      const upstream = yield* MockServer.make({ reply: { text: "ok", usage: { inputTokens: 100, outputTokens: 5, cacheReadTokens: 90, cacheWriteTokens: 50 } } })
      const key = Redacted.make("sk-test")
      const models = [
        yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: upstream.baseUrls.anthropic }),
        yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: upstream.baseUrls.openai }),
        yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrls.gemini })
      ]
      for (const model of models) {
        const { provider, usage } = yield* model.complete({ messages: [{ role: "user", content: "hi" }] })
        expect(usage.inputTokens, provider).toBe(100)
        expect(usage.cacheReadTokens, provider).toBe(90)
      }
    })
  )

  it.scoped("the openai client's cache_control reaches Claude through the gateway", () =>
    Effect.gen(function* () {
      const upstream = yield* MockServer.make()
      const model = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: Redacted.make("sk-ant-test"), baseUrl: upstream.baseUrls.anthropic })
      const router = yield* Router.make({ targets: { claude: { model } }, chains: { default: ["claude"] } })
      const gateway = yield* Gateway.make({ router, port: 0 })
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      yield* Effect.promise(() =>
        client.chat.completions.create({
          model: "default",
          messages: [
            // the dialect's field, which the openai client's types do not list
            { role: "system", content: [{ type: "text", text: "A long manual.", cache_control: { type: "ephemeral", ttl: "1h" } } as OpenAI.ChatCompletionContentPartText] },
            { role: "user", content: "How do I reset it?" }
          ]
        })
      )
      expect(upstream.requests()[0]?.body).toMatchObject({
        system: [{ type: "text", text: "A long manual.", cache_control: { type: "ephemeral", ttl: "1h" } }],
        messages: [{ role: "user", content: "How do I reset it?" }]
      })
    })
  )
})

describe("the gateway's Messages route", () => {
  const decode = (body: Record<string, unknown>) => MessagesRequest.decode({ model: "default", max_tokens: 100, ...body })

  it("reads cache_control on the system text, blocks, tool results, tool uses and tools", () => {
    const { request } = Either.getOrThrow(decode({
      system: [{ type: "text", text: "You are Claude Code." }, { type: "text", text: "Long rules.", cache_control: { type: "ephemeral", ttl: "1h" } }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Read this:", cache_control: { type: "ephemeral" } },
            { type: "image", source: { type: "url", url: "https://example.com/a.png" }, cache_control: { type: "ephemeral" } }
          ]
        },
        { role: "assistant", content: [{ type: "text", text: "Reading." }, { type: "tool_use", id: "t1", name: "read", input: {}, cache_control: { type: "ephemeral" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "file body", cache_control: { type: "ephemeral" } }] }
      ],
      tools: [{ name: "read", input_schema: { type: "object" }, cache_control: { type: "ephemeral", ttl: "1h" } }]
    }))
    expect(request.messages.map((m) => m.cache)).toEqual(["1h", undefined, "5m", "5m"])
    expect(request.messages[1]).toMatchObject({ content: [{ cache: "5m" }, { cache: "5m" }] })
    expect(request.tools?.[0]?.cache).toBe("1h")
    // six marks: Claude is sent the last four, the tool's and the system's dropped
    const body = claude(request)
    expect(body.system).toEqual([{ type: "text", text: "You are Claude Code.\n\nLong rules." }])
    expect(breakpoints(body)).toEqual([{ type: "ephemeral" }, { type: "ephemeral" }, { type: "ephemeral" }, { type: "ephemeral" }])
  })

  it("sends Claude Code's usual marks (tools, system, last turn) as they came", () => {
    const { request } = Either.getOrThrow(decode({
      system: [{ type: "text", text: "Rules.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: [{ type: "text", text: "Fix the bug.", cache_control: { type: "ephemeral" } }] }],
      tools: [{ name: "read", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } }]
    }))
    const body = claude(request)
    expect(body.system).toEqual([{ type: "text", text: "Rules.", cache_control: { type: "ephemeral" } }])
    expect(body.tools).toMatchObject([{ name: "read", cache_control: { type: "ephemeral" } }])
    expect(body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "Fix the bug.", cache_control: { type: "ephemeral" } }] }])
  })

  it("puts the request's own cache_control (automatic caching) on the last message", () => {
    const { request } = Either.getOrThrow(decode({
      cache_control: { type: "ephemeral" },
      messages: [{ role: "user", content: "one" }, { role: "assistant", content: "two" }, { role: "user", content: "three" }]
    }))
    expect(request.messages.map((m) => m.cache)).toEqual([undefined, undefined, "5m"])
  })

  it("refuses a bad cache_control naming it", () => {
    const decoded = decode({ messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: { type: "ephemeral", ttl: "2h" } }] }] })
    expect(Either.isLeft(decoded) && decoded.left.param).toBe("messages[0].content[0].cache_control.ttl")
  })
})

describe("a breakpoint inside system text", () => {
  const manual = { type: "text", text: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } }
  const today = { type: "text", text: "Today is Monday." }

  it("ends a system message of its own on the chat route, so the part after it stays out of the cached prefix", () => {
    const { request } = Either.getOrThrow(WireRequest.decode({
      model: "default",
      messages: [{ role: "system", content: [manual, today], name: "ops" }, { role: "user", content: "Hi" }]
    }))
    expect(request.messages.slice(0, 2)).toEqual([
      { role: "system", content: "Manual.", name: "ops", cache: "1h" },
      { role: "system", content: "Today is Monday.", name: "ops" }
    ])
    expect(claude(request).system).toEqual([
      { type: "text", text: "Manual.", cache_control: { type: "ephemeral", ttl: "1h" } },
      { type: "text", text: "Today is Monday." }
    ])
  })

  it("and on the Messages route", () => {
    const { request } = Either.getOrThrow(MessagesRequest.decode({
      model: "default",
      max_tokens: 10,
      system: [manual, today, { type: "text", text: " Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "Hi" }]
    }))
    expect(request.messages.slice(0, 2)).toEqual([
      { role: "system", content: "Manual.", cache: "1h" },
      { role: "system", content: "Today is Monday.\n\n Be brief.", cache: "5m" }
    ])
    // a paragraph between blocks, as between the messages the breakpoint parts (Claude's and Gemini's adapters
    // join system messages so): a provider that joins them reads the same text as one that is sent them apart
    const joined = request.messages.slice(0, 2).map((m) => m.content).join("\n\n")
    expect(joined).toBe(["Manual.", "Today is Monday.", " Be brief."].join("\n\n"))
    expect(GeminiWire.encodeRequest(request, "gemini-2.5-flash").systemInstruction).toEqual({ parts: [{ text: joined }] })
  })

  it("keeps one system message, and names a bad part at its own index, when parts are split", () => {
    const { request } = Either.getOrThrow(WireRequest.decode({ model: "default", messages: [{ role: "system", content: [today, manual] }, { role: "user", content: "Hi" }] }))
    expect(request.messages[0]).toEqual({ role: "system", content: "Today is Monday.Manual.", cache: "1h" })
    const bad = WireRequest.decode({ model: "default", messages: [{ role: "system", content: [manual, today, { type: "image_url" }] }] })
    expect(Either.isLeft(bad) && bad.left.param).toBe("messages[0].content[2].type")
    const badBlock = MessagesRequest.decode({ model: "m", max_tokens: 1, system: [manual, { type: "text" }], messages: [{ role: "user", content: "x" }] })
    expect(Either.isLeft(badBlock) && badBlock.left.param).toBe("system[1].text")
  })
})
