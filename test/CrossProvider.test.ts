/**
 * A multi-turn conversation that falls over between providers: a chain of an
 * OpenAI-compatible model, Claude and Gemini behind the router, over real
 * HTTP on 127.0.0.1 (the mock server). The conversation that reaches the
 * second target was shaped by the first (its tool-call ids, its parallel
 * calls, its empty results), and each target's request must be one its API
 * takes: checked here against the rules each API enforces with a 400
 * (`claudeProblems`, `geminiProblems`, `openAiProblems`), which would end
 * the chain where the next target could have answered.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it as plain, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Chat } from "../src/llm/index.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as AnthropicWire from "../src/providers/internal/anthropicWire.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

const key = Redacted.make("sk-cross-test")

type Json = Record<string, unknown>
const list = (value: unknown): Array<Json> => (Array.isArray(value) ? (value as Array<Json>) : [])
const blocksOf = (turn: Json): Array<Json> =>
  typeof turn.content === "string" ? [{ type: "text", text: turn.content }] : list(turn.content)

/** Claude's tool-use ids: `^[a-zA-Z0-9_-]+$` (else a 400, "String should match pattern"). */
const claudeId = /^[a-zA-Z0-9_-]+$/

/**
 * What Claude's Messages API would refuse in a request body: turns that do
 * not alternate or open on the user's, a tool-use id of another pattern or
 * given twice in the conversation ("`tool_use` ids must be unique"), tool
 * blocks in a request without tools ("Requests which include `tool_use` or
 * `tool_result` blocks must define tools"), a tool use not answered by a `tool_result` at the start of the next user
 * turn, a result of a tool use not in the turn just before it.
 */
const claudeProblems = (body: Json): Array<string> => {
  const problems: Array<string> = []
  const turns = list(body.messages)
  const seen = new Set<string>()
  if (turns[0]?.role !== "user") problems.push("the first turn is not the user's")
  const toolBlocks = turns.some((turn) => blocksOf(turn).some((block) => block.type === "tool_use" || block.type === "tool_result"))
  if (toolBlocks && list(body.tools).length === 0) problems.push("tool_use or tool_result blocks without tools")
  turns.forEach((turn, i) => {
    if (i > 0 && turns[i - 1]!.role === turn.role) problems.push(`turns ${i - 1} and ${i} are both ${String(turn.role)}`)
    const blocks = blocksOf(turn)
    if (blocks.length === 0) problems.push(`turn ${i} is empty`)
    if (turn.role === "assistant") {
      const uses = blocks.filter((block) => block.type === "tool_use").map((block) => String(block.id))
      for (const id of uses) {
        if (!claudeId.test(id)) problems.push(`tool_use id ${JSON.stringify(id)} does not match ${claudeId}`)
        if (seen.has(id)) problems.push(`tool_use id ${JSON.stringify(id)} is given twice`)
        seen.add(id)
      }
      if (uses.length === 0) return
      const next = turns[i + 1]
      const results = next === undefined ? [] : blocksOf(next)
      const leading = results.slice(0, uses.length).map((block) => (block.type === "tool_result" ? String(block.tool_use_id) : ""))
      if (next !== undefined && [...leading].sort().join(",") !== [...uses].sort().join(",")) {
        problems.push(`the tool uses of turn ${i} (${uses.join(",")}) are not answered first in turn ${i + 1} (${leading.join(",")})`)
      }
    } else {
      const before = i > 0 ? blocksOf(turns[i - 1]!).filter((block) => block.type === "tool_use").map((block) => String(block.id)) : []
      for (const block of blocks) {
        if (block.type === "tool_result" && !before.includes(String(block.tool_use_id))) {
          problems.push(`turn ${i} answers ${JSON.stringify(block.tool_use_id)}, not a tool use of the turn before`)
        }
      }
    }
  })
  return problems
}

/**
 * What Gemini's `generateContent` would refuse: contents that open on the
 * model's turn, an empty content, a function-call turn not followed by a
 * turn answering each of its calls, by name ("Please ensure that the number
 * of function response parts is equal to the number of function call parts
 * of the function call turn").
 */
const geminiProblems = (body: Json): Array<string> => {
  const problems: Array<string> = []
  const contents = list(body.contents)
  if (contents[0]?.role !== "user") problems.push("the first content is not the user's")
  contents.forEach((content, i) => {
    const parts = list(content.parts)
    if (parts.length === 0) problems.push(`content ${i} has no parts`)
    const calls = parts.flatMap((part) => (part.functionCall === undefined ? [] : [String((part.functionCall as Json).name)]))
    if (calls.length === 0) return
    const next = contents[i + 1]
    if (next === undefined) return
    const answers = list(next.parts).flatMap((part) =>
      part.functionResponse === undefined ? [] : [String((part.functionResponse as Json).name)]
    )
    if ([...answers].sort().join(",") !== [...calls].sort().join(",")) {
      problems.push(`the calls of content ${i} (${calls.join(",")}) are answered by ${answers.join(",") || "nothing"}`)
    }
  })
  return problems
}

/**
 * What OpenAI's chat completions would refuse: a tool message that answers
 * no call of the assistant message before it, a call not answered, an id
 * past 40 characters ("string too long. Expected a string with maximum
 * length 40"), an assistant message with neither content nor calls.
 */
const openAiProblems = (body: Json): Array<string> => {
  const problems: Array<string> = []
  const messages = list(body.messages)
  messages.forEach((message, i) => {
    if (message.role === "assistant") {
      const calls = list(message.tool_calls).map((call) => String(call.id))
      if (message.content == null && calls.length === 0) problems.push(`assistant message ${i} has neither content nor tool calls`)
      for (const id of calls) if (id.length > 40) problems.push(`tool call id ${JSON.stringify(id)} is longer than 40`)
      const answered: Array<string> = []
      for (let j = i + 1; j < messages.length && messages[j]!.role === "tool"; j++) answered.push(String(messages[j]!.tool_call_id))
      if (calls.length > 0 && [...answered].sort().join(",") !== [...calls].sort().join(",")) {
        problems.push(`the calls of message ${i} (${calls.join(",")}) are answered by ${answered.join(",") || "nothing"}`)
      }
    }
  })
  return problems
}

const weather: Chat.ToolDefinition = {
  name: "get_weather",
  description: "The weather now in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}
const time: Chat.ToolDefinition = {
  name: "get_time",
  description: "The local time in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

/** A chain of an OpenAI-compatible model, Claude and Gemini, all on one mock server; no retries, so a failure moves on. */
const chain = (server: MockServer.MockServer, openAiModel = "grok-4", geminiModel = "gemini-2.5-flash", claudeModel = "claude-sonnet-4-5") =>
  Effect.gen(function* () {
    const first = yield* OpenAi.make({ model: openAiModel, apiKey: key, baseUrl: server.baseUrls.openai })
    const claude = yield* Anthropic.make({ model: claudeModel, apiKey: key, baseUrl: server.baseUrls.anthropic })
    const gemini = yield* Gemini.make({ model: geminiModel, apiKey: key, baseUrl: server.baseUrls.gemini })
    return yield* Router.make({
      targets: { first: { model: first }, claude: { model: claude }, gemini: { model: gemini } },
      chains: { default: ["first", "claude", "gemini"] },
      policy: { retry: { maxAttempts: 1 } },
      cache: false
    })
  })

/** The next turn: the answer's calls as the assistant's turn, each answered by `results` (by call, in order). */
type Conversation = readonly [Chat.Message, ...Array<Chat.Message>]

const answered = (
  messages: Conversation,
  response: Chat.ChatResponse,
  results: ReadonlyArray<string>
): Conversation => [
  ...messages,
  { role: "assistant", ...(response.text !== "" ? { content: response.text } : {}), toolCalls: response.toolCalls },
  ...response.toolCalls.map((call, i): Chat.Message => ({ role: "tool", toolCallId: call.id, content: results[i] ?? "" }))
]

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("CrossProvider", (it) => {
  describe("turns one provider takes that another refuses", () => {
    it.scoped("an assistant turn with nothing in it (Claude's thinking alone, left out) reaches OpenAI as an empty text, not null", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1")
        // Claude and Gemini leave such a turn out; OpenAI refuses content null without tool calls with a 400,
        // "Invalid value for 'content': expected a string, got null", which would end the chain
        const messages: Conversation = [
          { role: "user", content: "Think about it." },
          { role: "assistant" },
          { role: "user", content: "Well?" },
          { role: "assistant", toolCalls: [] },
          { role: "user", content: "Anything?" }
        ]
        const result = yield* router.complete({ messages })
        expect(result.meta.target).toBe("first")
        const body = server.requests().at(-1)!.body as Json
        expect(openAiProblems(body)).toEqual([])
        expect(list(body.messages).filter((message) => message.role === "assistant")).toEqual([
          { role: "assistant", content: "" },
          { role: "assistant", content: "" }
        ])
      }))
  })

  describe("history shaped for one provider", () => {
    it.scoped("a conversation that ends on the assistant's turn reaches Claude 4.6 ending on the user's (it takes no prefill)", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1", "gemini-2.5-flash", "claude-sonnet-4-6")
        // OpenAI answers after an assistant turn; Claude 4.6 and later refuse it with a 400, "This model does not
        // support assistant message prefill. The conversation must end with a user message."
        const messages: Conversation = [
          { role: "user", content: "Write a haiku about the sea." },
          { role: "assistant", content: "Waves fold into foam,  " }
        ]
        server.enqueue(MockServer.status(503), MockServer.reply({ text: "salt wind on the stones" }), MockServer.status(503))
        const result = yield* router.complete({ messages })
        expect(result.meta.target).toBe("claude")
        const sonnet46 = list((server.requests()[1]!.body as Json).messages)
        expect(sonnet46.at(-1)?.role).toBe("user")
        expect(sonnet46.slice(0, 2)).toEqual([
          { role: "user", content: "Write a haiku about the sea." },
          { role: "assistant", content: "Waves fold into foam,  " }
        ])
        expect(claudeProblems(server.requests()[1]!.body as Json)).toEqual([])
      }))

    plain("a Claude before 4.6 still gets such a turn as the start of its answer, less the trailing whitespace", () => {
      const body = AnthropicWire.encodeRequest(
        { messages: [{ role: "user", content: "Write a haiku." }, { role: "assistant", content: "Waves fold into foam,  " }] },
        "claude-sonnet-4-5",
        1024,
        false
      )
      expect(body.messages).toEqual([
        { role: "user", content: "Write a haiku." },
        { role: "assistant", content: "Waves fold into foam," }
      ])
      const lastRole = (model: string) =>
        list(
          AnthropicWire.encodeRequest({ messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }] }, model, 64, false)
            .messages
        ).at(-1)?.role
      const prefilled = ["claude-opus-4-20250514", "claude-opus-4-1-20250805", "claude-sonnet-4-5", "claude-3-7-sonnet-latest", "gpt-4.1"]
      const refused = ["claude-opus-4-6", "claude-sonnet-4-6-20260217", "anthropic.claude-opus-4-7-v1", "claude-sonnet-5", "claude-opus-4-10@20270101"]
      expect(prefilled.map(lastRole)).toEqual(prefilled.map(() => "assistant"))
      expect(refused.map(lastRole)).toEqual(refused.map(() => "user"))
    })

    it.scoped("a tool that failed (isError) reaches Claude as is_error, Gemini as its response's error, OpenAI as an Error: text", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1")
        const messages: Conversation = [
          { role: "user", content: "Weather in Rome, Oslo and Lima?" },
          {
            role: "assistant",
            toolCalls: [
              { id: "call_1", name: "get_weather", arguments: '{"city":"Rome"}' },
              { id: "call_2", name: "get_weather", arguments: '{"city":"Oslo"}' },
              { id: "call_3", name: "get_weather", arguments: '{"city":"Lima"}' }
            ]
          },
          { role: "tool", toolCallId: "call_1", content: "the weather service timed out", isError: true },
          { role: "tool", toolCallId: "call_2", content: '{"code":503,"reason":"busy"}', isError: true },
          { role: "tool", toolCallId: "call_3", content: '{"celsius":3}' }
        ]
        server.enqueue(MockServer.status(503), MockServer.status(503), MockServer.reply({ text: "Sorry." }))
        const result = yield* router.complete({ messages, tools: [weather] })
        expect(result.meta.target).toBe("gemini")
        const [openAi, claude, gemini] = server.requests().map((r) => r.body as Json)
        expect(list(openAi!.messages).filter((m) => m.role === "tool").map((m) => m.content)).toEqual([
          "Error: the weather service timed out",
          'Error: {"code":503,"reason":"busy"}',
          '{"celsius":3}'
        ])
        expect(list(claude!.messages).flatMap(blocksOf).filter((b) => b.type === "tool_result")).toEqual([
          { type: "tool_result", tool_use_id: "call_1", content: "the weather service timed out", is_error: true },
          { type: "tool_result", tool_use_id: "call_2", content: '{"code":503,"reason":"busy"}', is_error: true },
          { type: "tool_result", tool_use_id: "call_3", content: '{"celsius":3}' }
        ])
        expect(claudeProblems(claude!)).toEqual([])
        const responses = list(gemini!.contents).flatMap((c) => list(c.parts)).flatMap((p) =>
          p.functionResponse === undefined ? [] : [(p.functionResponse as Json).response]
        )
        expect(responses).toEqual([{ error: "the weather service timed out" }, { error: { code: 503, reason: "busy" } }, { celsius: 3 }])
      }))

    it.scoped("a last turn without tools after a tool loop (a summary, a compaction) reaches Claude with the tools it must define, none to call", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server)
        // OpenAI answers a history of tool calls without tools; Claude refuses it with a 400 that ends the chain
        const messages: Conversation = [
          { role: "user", content: "Weather in Rome and the time there?" },
          {
            role: "assistant",
            toolCalls: [
              { id: "call_a", name: "get_weather", arguments: '{"city":"Rome"}' },
              { id: "call_b", name: "get_time", arguments: '{"city":"Rome"}' }
            ]
          },
          { role: "tool", toolCallId: "call_a", content: "sunny" },
          { role: "tool", toolCallId: "call_b", content: "14:05" },
          { role: "assistant", content: "Sunny, and 14:05." },
          { role: "user", content: "Summarize our conversation in one line." }
        ]
        server.enqueue(MockServer.status(503), MockServer.reply({ text: "Asked about Rome: sunny at 14:05." }))
        const result = yield* router.complete({ messages })
        expect(result.meta.target).toBe("claude")
        const body = server.requests().at(-1)!.body as Json
        expect(claudeProblems(body)).toEqual([])
        expect(body.tools).toEqual([
          { name: "get_weather", input_schema: { type: "object" } },
          { name: "get_time", input_schema: { type: "object" } }
        ])
        // the request had no tools: the model may call none of them
        expect(body.tool_choice).toEqual({ type: "none" })
        // and OpenAI, which takes the history as it is, gets no tools
        const openAi = server.requests().find((request) => request.provider === "openai")!.body as Json
        expect(openAi.tools).toBeUndefined()
      }))
  })

  describe("Gemini's thought signatures across the chain", () => {
    it.scoped("go back to Gemini 3 with their calls, to no one else; a turn another provider made gets the placeholder", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1", "gemini-3-pro-preview")
        const messages: Conversation = [
          { role: "user", content: "Weather in Rome and Oslo, then the time in both." },
          // Gemini 3 signs the first of its parallel calls
          {
            role: "assistant",
            toolCalls: [
              { id: "call_g1", name: "get_weather", arguments: '{"city":"Rome"}', signature: "c2lnLWdlbWluaQ==" },
              { id: "call_g2", name: "get_weather", arguments: '{"city":"Oslo"}' }
            ]
          },
          { role: "tool", toolCallId: "call_g1", content: "sunny" },
          { role: "tool", toolCallId: "call_g2", content: "snow" },
          // then Claude answered a turn, with no signatures
          {
            role: "assistant",
            content: "Now the times.",
            toolCalls: [
              { id: "toolu_01", name: "get_time", arguments: '{"city":"Rome"}' },
              { id: "toolu_02", name: "get_time", arguments: '{"city":"Oslo"}' }
            ]
          },
          { role: "tool", toolCallId: "toolu_01", content: "14:05" },
          { role: "tool", toolCallId: "toolu_02", content: "14:05" }
        ]
        server.enqueue(MockServer.status(503), MockServer.status(529), MockServer.reply({ text: "Sunny and snowy, 14:05 in both." }))
        const result = yield* router.complete({ messages, tools: [weather, time] })
        expect(result.meta.target).toBe("gemini")
        const [openAi, claude, gemini] = server.requests().map((request) => request.body as Json)
        expect(geminiProblems(gemini!)).toEqual([])
        const calls = list(gemini!.contents)
          .filter((content) => content.role === "model")
          .map((content) => list(content.parts).filter((part) => part.functionCall !== undefined).map((part) => part.thoughtSignature))
        expect(calls).toEqual([["c2lnLWdlbWluaQ==", undefined], ["skip_thought_signature_validator", undefined]])
        // OpenAI itself (not Google's endpoint) and Claude get no signature
        expect(JSON.stringify(openAi)).not.toContain("thought_signature")
        expect(JSON.stringify(claude)).not.toContain("c2lnLWdlbWluaQ==")
        expect(claudeProblems(claude!)).toEqual([])
        expect(openAiProblems(openAi!)).toEqual([])
      }))
  })

  describe("answers mapped back, streamed or not", () => {
    it.scoped("a stream that falls over to Claude folds into the calls, finish and usage Claude sent, cache reads included", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server)
        const claudeAnswer = MockServer.reply({
          toolCalls: [
            { id: "toolu_01", name: "get_weather", arguments: { city: "Rome" } },
            { id: "toolu_02", name: "get_time", arguments: { city: "Rome" } }
          ],
          usage: { inputTokens: 2_000, outputTokens: 30, cacheReadTokens: 1_500, cacheWriteTokens: 100 }
        })
        server.enqueue(MockServer.status(503), claudeAnswer)
        const request: Chat.ChatRequest = { ...Chat.prompt("Weather and time in Rome?"), tools: [weather, time] }
        const streamed = yield* Effect.scoped(
          Effect.gen(function* () {
            const started = yield* router.stream(request)
            const response = yield* Chat.collect(started.chunks, { id: "", provider: "", model: "" })
            return { response, done: yield* started.done }
          })
        )
        server.enqueue(MockServer.status(503), claudeAnswer)
        const whole = yield* router.complete(request)
        for (const { response, usage } of [
          { response: streamed.response, usage: streamed.done.usage },
          { response: whole.response, usage: whole.meta.usage }
        ]) {
          expect(response.toolCalls).toEqual([
            { id: "toolu_01", name: "get_weather", arguments: '{"city":"Rome"}' },
            { id: "toolu_02", name: "get_time", arguments: '{"city":"Rome"}' }
          ])
          expect(response.finishReason).toBe("tool_calls")
          expect(usage).toEqual({ inputTokens: 2_000, outputTokens: 30, cacheReadTokens: 1_500, cacheWriteTokens: 100 })
        }
        expect(streamed.response.usage).toEqual(streamed.done.usage)
      }))
  })

  describe("structured output", () => {
    const scores: Chat.ResponseFormat = {
      type: "json_schema",
      name: "scores",
      strict: true,
      schema: {
        type: "object",
        properties: {
          player: { type: "string", minLength: 1 },
          // a map: OpenAI's strict mode and Gemini take it, Claude refuses it
          points: { type: "object", additionalProperties: { type: "integer" } }
        },
        required: ["player", "points"],
        additionalProperties: false
      }
    }

    it.scoped("reaches each provider as its own; Claude's refusal of a keyword moves the request on to Gemini", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1")
        server.enqueue(
          MockServer.status(503),
          MockServer.status(400, {
            message: "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
          }),
          MockServer.reply({ text: '{"player":"Ann","points":{"round1":3}}' })
        )
        const result = yield* router.complete({ ...Chat.prompt("Ann scored 3 in round 1. As JSON."), responseFormat: scores })
        expect(result.meta.target).toBe("gemini")
        expect(result.response.text).toBe('{"player":"Ann","points":{"round1":3}}')
        const [openAi, claude, gemini] = server.requests().map((request) => request.body as Json)
        expect(openAi!.response_format).toEqual({
          type: "json_schema",
          json_schema: { name: "scores", schema: scores.type === "json_schema" ? scores.schema : {}, strict: true }
        })
        expect(claude!.output_config).toEqual({
          format: {
            type: "json_schema",
            schema: {
              type: "object",
              properties: {
                player: { type: "string", description: '{"minLength":1}' },
                points: { type: "object", additionalProperties: { type: "integer" } }
              },
              required: ["player", "points"],
              additionalProperties: false
            }
          }
        })
        expect((gemini!.generationConfig as Json)).toMatchObject({
          responseMimeType: "application/json",
          responseJsonSchema: scores.type === "json_schema" ? scores.schema : {}
        })
      }))
  })

  describe("images in user turns", () => {
    /** The first bytes of a JPEG (a JFIF header), as base64. */
    const jpeg = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDA=="
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"

    it.scoped("reach each provider in its own form; Claude gets the type the bytes are, not the type a data URL misnames", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "gpt-4.1")
        const messages: Conversation = [
          { role: "system", content: "Describe images briefly." },
          {
            role: "user",
            content: [
              { type: "text", text: "Compare these:" },
              // a JPEG labelled PNG (a browser's canvas export renamed, a file's extension trusted), and image/jpg
              { type: "image", url: `data:image/png;base64,${jpeg}` },
              { type: "image", url: `data:image/jpg;base64,${jpeg}` },
              { type: "image", url: `data:image/png;base64,${png}`, detail: "low" },
              { type: "image", url: "https://example.com/cat.png" }
            ]
          }
        ]
        server.enqueue(MockServer.status(503), MockServer.status(503), MockServer.reply({ text: "Two photos and a cat." }))
        const viaGemini = yield* router.complete({ messages })
        expect(viaGemini.meta.target).toBe("gemini")
        server.enqueue(MockServer.status(503), MockServer.reply({ text: "Two photos and a cat." }))
        const viaClaude = yield* router.complete({ messages })
        expect(viaClaude.meta.target).toBe("claude")
        const [openAi, claude, gemini, , claudeAgain] = server.requests()
        // OpenAI takes the URLs as they are, with the detail asked for
        expect(list(list((openAi!.body as Json).messages)[1]!.content).slice(1)).toEqual([
          { type: "image_url", image_url: { url: `data:image/png;base64,${jpeg}` } },
          { type: "image_url", image_url: { url: `data:image/jpg;base64,${jpeg}` } },
          { type: "image_url", image_url: { url: `data:image/png;base64,${png}`, detail: "low" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } }
        ])
        // Claude checks the type against the bytes (a 400, "The image was specified using the image/png media type,
        // but the image appears to be a image/jpeg image") and takes image/jpeg, png, gif and webp only
        const claudeImages = list(list((claude!.body as Json).messages)[0]!.content).slice(1)
        expect(claudeImages).toEqual([
          { type: "image", source: { type: "base64", media_type: "image/jpeg", data: jpeg } },
          { type: "image", source: { type: "base64", media_type: "image/jpeg", data: jpeg } },
          { type: "image", source: { type: "base64", media_type: "image/png", data: png } },
          { type: "image", source: { type: "url", url: "https://example.com/cat.png" } }
        ])
        expect(claudeAgain!.body).toEqual(claude!.body)
        const geminiParts = list(list((gemini!.body as Json).contents)[0]!.parts)
        expect(geminiParts.slice(1)).toEqual([
          { inlineData: { mimeType: "image/jpeg", data: jpeg } },
          { inlineData: { mimeType: "image/jpeg", data: jpeg } },
          { inlineData: { mimeType: "image/png", data: png } },
          { fileData: { fileUri: "https://example.com/cat.png" } }
        ])
        expect((gemini!.body as Json).systemInstruction).toEqual({ parts: [{ text: "Describe images briefly." }] })
      }))
  })

  describe("tool-call ids made by one provider, replayed to another", () => {
    it.scoped("ids an OpenAI-compatible server reuses across turns reach Claude unique, each result paired with its call", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server)
        const tools = [weather, time]
        let messages: Conversation = [
          { role: "system", content: "You are a travel assistant." },
          { role: "user", content: "What is the weather in Rome and in Paris, and the time in Rome?" }
        ]
        // Grok numbers its calls from call_0 on every answer: two rounds of tool calls reuse the ids
        server.enqueue(
          MockServer.reply({
            toolCalls: [
              { id: "call_0", name: "get_weather", arguments: { city: "Rome" } },
              { id: "call_1", name: "get_weather", arguments: { city: "Paris" } }
            ]
          })
        )
        const round1 = yield* router.complete({ messages, tools })
        expect(round1.response.toolCalls.map((call) => call.id)).toEqual(["call_0", "call_1"])
        messages = answered(messages, round1.response, ['{"celsius":24}', '{"celsius":17}'])
        server.enqueue(MockServer.reply({ toolCalls: [{ id: "call_0", name: "get_time", arguments: { city: "Rome" } }] }))
        const round2 = yield* router.complete({ messages, tools })
        messages = answered(messages, round2.response, ["14:05"])
        // then Grok is down: Claude gets the conversation Grok shaped
        server.enqueue(MockServer.status(503), MockServer.reply({ text: "Rome: 24 C at 14:05; Paris: 17 C." }))
        const round3 = yield* router.complete({ messages, tools })
        expect(round3.meta.target).toBe("claude")
        const claudeRequest = server.requests().at(-1)!
        expect(claudeRequest.provider).toBe("anthropic")
        expect(claudeProblems(claudeRequest.body as Json)).toEqual([])
        // each result still answers its own call: Rome's time is the result of the get_time call
        const turns = list((claudeRequest.body as Json).messages)
        const uses = turns.flatMap((turn) => blocksOf(turn).filter((block) => block.type === "tool_use"))
        const results = new Map(
          turns.flatMap((turn) => blocksOf(turn).filter((block) => block.type === "tool_result").map((block) => [block.tool_use_id, block.content]))
        )
        expect(uses.map((use) => [use.name, results.get(use.id)])).toEqual([
          ["get_weather", '{"celsius":24}'],
          ["get_weather", '{"celsius":17}'],
          ["get_time", "14:05"]
        ])
      }))

    it.scoped("ids of another pattern (Kimi's functions.name:0) and none at all reach Claude in its pattern, still paired", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server, "kimi-k2")
        const messages: Conversation = [
          { role: "user", content: "Weather in Rome, Oslo and Lima?" },
          {
            role: "assistant",
            toolCalls: [
              { id: "functions.get_weather:0", name: "get_weather", arguments: '{"city":"Rome"}' },
              { id: "functions.get_weather:1", name: "get_weather", arguments: '{"city":"Oslo"}' }
            ]
          },
          { role: "tool", toolCallId: "functions.get_weather:0", content: "sunny" },
          { role: "tool", toolCallId: "functions.get_weather:1", content: "snow" },
          { role: "user", content: "And the time there?" },
          // a server that streamed its calls without ids: the accumulated calls have none
          {
            role: "assistant",
            toolCalls: [
              { id: "", name: "get_time", arguments: '{"city":"Rome"}' },
              { id: "", name: "get_time", arguments: '{"city":"Oslo"}' }
            ]
          },
          { role: "tool", toolCallId: "", content: "14:05" },
          { role: "tool", toolCallId: "", content: "14:05 too" }
        ]
        server.enqueue(MockServer.status(503), MockServer.reply({ text: "Rome is sunny, Oslo snowy; 14:05 in both." }))
        const result = yield* router.complete({ messages, tools: [weather, time] })
        expect(result.meta.target).toBe("claude")
        const body = server.requests().at(-1)!.body as Json
        expect(claudeProblems(body)).toEqual([])
        const turns = list(body.messages)
        const uses = turns.flatMap((turn) => blocksOf(turn).filter((block) => block.type === "tool_use"))
        const results = new Map(
          turns.flatMap((turn) => blocksOf(turn).filter((block) => block.type === "tool_result").map((block) => [block.tool_use_id, block.content]))
        )
        expect(uses.map((use) => [(use.input as Json).city, results.get(use.id)])).toEqual([
          ["Rome", "sunny"],
          ["Oslo", "snow"],
          ["Rome", "14:05"],
          ["Oslo", "14:05 too"]
        ])
      }))

    it.scoped("calls an answer gave the same id (none) reach Gemini each answered by its own function's name", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const router = yield* chain(server)
        // a compatible server streamed two calls without ids: the accumulated calls have none, and so do their results
        const messages: Conversation = [
          { role: "user", content: "Weather and time in Rome?" },
          {
            role: "assistant",
            content: "Let me look both up.",
            toolCalls: [
              { id: "", name: "get_weather", arguments: '{"city":"Rome"}' },
              { id: "", name: "get_time", arguments: '{"city":"Rome"}' }
            ]
          },
          { role: "tool", toolCallId: "", content: '{"celsius":24}' },
          { role: "tool", toolCallId: "", content: "14:05" }
        ]
        server.enqueue(MockServer.status(503), MockServer.status(529), MockServer.reply({ text: "24 C at 14:05." }))
        const result = yield* router.complete({ messages, tools: [weather, time] })
        expect(result.meta.target).toBe("gemini")
        const body = server.requests().at(-1)!.body as Json
        expect(geminiProblems(body)).toEqual([])
        expect(list(list(body.contents)[2]!.parts)).toEqual([
          { functionResponse: { name: "get_weather", response: { celsius: 24 } } },
          { functionResponse: { name: "get_time", response: { result: "14:05" } } }
        ])
      }))

    plain("ids that clean to one another's stay apart, and an id Claude takes, given once, goes as it is", () => {
      const body = AnthropicWire.encodeRequest(
        {
          messages: [
            { role: "user", content: "Three lookups." },
            {
              role: "assistant",
              toolCalls: [
                { id: "a.b", name: "get_weather", arguments: "{}" },
                { id: "a:b", name: "get_weather", arguments: "{}" },
                { id: "a_b", name: "get_time", arguments: "{}" },
                { id: "toolu_01A09q90qw90lq917835lq9", name: "get_time", arguments: "{}" }
              ]
            },
            { role: "tool", toolCallId: "a_b", content: "third" },
            { role: "tool", toolCallId: "a:b", content: "second" },
            { role: "tool", toolCallId: "a.b", content: "first" },
            { role: "tool", toolCallId: "toolu_01A09q90qw90lq917835lq9", content: "fourth" }
          ]
        },
        "claude-sonnet-4-5",
        1024,
        false
      )
      expect(claudeProblems(body)).toEqual([])
      const [, calls, results] = list(body.messages)
      const ids = blocksOf(calls!).map((block) => block.id)
      expect(ids).toEqual(["a_b_2", "a_b_3", "a_b", "toolu_01A09q90qw90lq917835lq9"])
      expect(blocksOf(results!).map((block) => [block.tool_use_id, block.content])).toEqual([
        ["a_b", "third"],
        ["a_b_3", "second"],
        ["a_b_2", "first"],
        ["toolu_01A09q90qw90lq917835lq9", "fourth"]
      ])
    })
  })
})

