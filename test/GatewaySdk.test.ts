/**
 * The gateway's ingress as its users meet it: through the official SDKs
 * (`openai`, `@anthropic-ai/sdk`, `@google/genai`), each pointed at a gateway
 * on 127.0.0.1 (port 0) over mock upstreams, exercising what real clients
 * do that the route tests leave out: their stream helpers over what an
 * upstream may send, and their own error handling.
 */
import Anthropic from "@anthropic-ai/sdk"
import { GoogleGenAI } from "@google/genai"
import OpenAI from "openai"
import { NodeHttpClient } from "@effect/platform-node"
import { partialParse } from "@anthropic-ai/sdk/_vendor/partial-json-parser/parser"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { objectOf, ObjectPrefix } from "../src/gateway/internal/jsonPrefix.js"
import * as MockServer from "../src/testing/MockServer.js"
import { rejection } from "./support/client.js"
import * as Upstreams from "./support/upstreams.js"

const question = [{ role: "user" as const, content: "What is the weather in Rome?" }]

const tool = (name: string) => ({ name, input_schema: { type: "object" as const, properties: {} } })

/** A fetch that counts the requests an SDK sends (its retries included). */
const counting = () => {
  const sent = { count: 0 }
  const send: typeof fetch = (input, init) => {
    sent.count++
    return fetch(input, init)
  }
  return { sent, fetch: send }
}

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("the official SDKs", (it) => {
  describe("their retries", () => {
    it.scoped("a wait past a minute comes with x-should-retry: false: the OpenAI and Anthropic SDKs, which sleep any Retry-After before they retry, hand the 429 over at once", () =>
      Effect.gen(function* () {
        // every target rate limited for a minute and a half at least (a quota's window, a long cooldown)
        const limited = Upstreams.make("anthropic", {
          primary: { faultFor: () => MockServer.status(429, { retryAfter: { seconds: 120 } }) },
          secondary: { faultFor: () => MockServer.status(429, { retryAfter: { seconds: 90 } }) }
        }, true)
        const { gateway } = yield* limited
        const openai = counting()
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 2, fetch: openai.fetch })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        const headers = (error as InstanceType<typeof OpenAI.RateLimitError>).headers
        expect([headers.get("retry-after"), headers.get("x-should-retry")]).toEqual(["90", "false"])
        expect(openai.sent.count).toBe(1)

        // a gateway of its own: on the first, the targets now wait out their Retry-After behind open circuits
        const anthropic = counting()
        const claude = new Anthropic({ baseURL: (yield* limited).gateway.url, apiKey: "unused", maxRetries: 2, fetch: anthropic.fetch })
        const refused = yield* rejection(() => claude.messages.create({ model: "default", max_tokens: 64, messages: question }))
        expect(refused).toBeInstanceOf(Anthropic.RateLimitError)
        expect(anthropic.sent.count).toBe(1)
      })
    )

    it.scoped("a wait of a minute or less says nothing of retrying: the SDKs sleep it and retry, as after Anthropic's and OpenAI's own 429s", () =>
      Effect.gen(function* () {
        const { gateway } = yield* Upstreams.make("anthropic", {
          primary: { faultFor: () => MockServer.status(429, { retryAfter: { seconds: 60 } }) },
          secondary: { faultFor: () => MockServer.status(429, { retryAfter: { seconds: 7 } }) }
        }, true)
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        const error = yield* rejection(() => client.chat.completions.create({ model: "default", messages: question }))
        const headers = (error as InstanceType<typeof OpenAI.RateLimitError>).headers
        expect([headers.get("retry-after"), headers.get("x-should-retry")]).toEqual(["7", null])
      })
    )
  })

  describe("OpenAI's", () => {
    it.scoped("parallel tool calls from Claude, streamed: one index a call, its id and name once, its arguments in pieces; the stream helper's final completion and its usage chunk", () =>
      Effect.gen(function* () {
        const toolCalls = [
          { id: "toolu_1", name: "weather", arguments: { city: "Rome", days: 3 } },
          { id: "toolu_2", name: "time", arguments: { zone: "CET" } }
        ]
        // the primary (OpenAI) down: Claude serves, its tool_use blocks become chat tool-call deltas
        const { gateway } = yield* Upstreams.make("anthropic", {
          primary: { faultFor: () => MockServer.status(503) },
          secondary: { reply: { text: "Checking.", toolCalls, usage: { inputTokens: 12, outputTokens: 30 } } }
        }, true)
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const tools = ["weather", "time"].map((name) => ({ type: "function" as const, function: { name, parameters: { type: "object", properties: {} } } }))
        const stream = client.chat.completions.stream({ model: "default", messages: question, tools, stream_options: { include_usage: true } })
        const chunks: Array<OpenAI.ChatCompletionChunk> = []
        stream.on("chunk", (chunk) => chunks.push(chunk))
        const done: Array<readonly [string, string]> = []
        stream.on("tool_calls.function.arguments.done", (event) => done.push([event.name, event.arguments]))
        const final = yield* Effect.promise(() => stream.finalChatCompletion())
        expect(final.choices[0]?.message.content).toBe("Checking.")
        expect(final.choices[0]?.message.tool_calls).toEqual([
          { id: "toolu_1", type: "function", function: { name: "weather", arguments: '{"city":"Rome","days":3}' } },
          { id: "toolu_2", type: "function", function: { name: "time", arguments: '{"zone":"CET"}' } }
        ])
        expect(final.choices[0]?.finish_reason).toBe("tool_calls")
        expect(done).toEqual([["weather", '{"city":"Rome","days":3}'], ["time", '{"zone":"CET"}']])
        const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
        // each call's id, type and name in its first delta only, as OpenAI streams them
        expect(deltas.filter((delta) => delta.id !== undefined).map((delta) => [delta.index, delta.id, delta.type, delta.function?.name])).toEqual([
          [0, "toolu_1", "function", "weather"],
          [1, "toolu_2", "function", "time"]
        ])
        expect(deltas.filter((delta) => delta.id === undefined).every((delta) => delta.function?.name === undefined)).toBe(true)
        expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } })
      })
    )
  })

  describe("Google's", () => {
    it.scoped("a chat (ai.chats) with parallel function calls: the calls streamed, then both responses sent back in one turn, reach OpenAI as tool messages", () =>
      Effect.gen(function* () {
        const toolCalls = [
          { id: "call_1", name: "weather", arguments: { city: "Rome" } },
          { id: "call_2", name: "time", arguments: { zone: "CET" } }
        ]
        const { gateway, primary } = yield* Upstreams.make("anthropic", { primary: { reply: { text: "Checking.", toolCalls } } }, true)
        const ai = new GoogleGenAI({ apiKey: "unused", httpOptions: { baseUrl: gateway.url } })
        const functionDeclarations = ["weather", "time"].map((name) => ({ name, parametersJsonSchema: { type: "object", properties: {} } }))
        const chat = ai.chats.create({ model: "default", config: { tools: [{ functionDeclarations }], systemInstruction: "Be brief." } })
        const calls = yield* Effect.promise(async () => {
          const seen = []
          for await (const response of await chat.sendMessageStream({ message: "Weather and time in Rome?" })) seen.push(...(response.functionCalls ?? []))
          return seen
        })
        expect(calls).toEqual([
          { id: "call_1", name: "weather", args: { city: "Rome" } },
          { id: "call_2", name: "time", args: { zone: "CET" } }
        ])
        primary.setReply({ text: "Sunny, 14:00." })
        const answer = yield* Effect.promise(() =>
          chat.sendMessage({
            message: [
              { functionResponse: { id: "call_1", name: "weather", response: { sky: "sunny" } } },
              { functionResponse: { id: "call_2", name: "time", response: { now: "14:00" } } }
            ]
          })
        )
        expect(answer.text).toBe("Sunny, 14:00.")
        expect((primary.requests().at(-1)?.body as { messages: unknown }).messages).toEqual([
          { role: "system", content: "Be brief." },
          { role: "user", content: "Weather and time in Rome?" },
          // the SDK's history keeps each streamed answer a model turn of its own: the text's, then the calls'
          { role: "assistant", content: "Checking." },
          {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
              { id: "call_2", type: "function", function: { name: "time", arguments: '{"zone":"CET"}' } }
            ]
          },
          { role: "tool", tool_call_id: "call_1", content: '{"sky":"sunny"}' },
          { role: "tool", tool_call_id: "call_2", content: '{"now":"14:00"}' }
        ])
      })
    )
  })

  describe("Anthropic's", () => {
    it.scoped("a tool call whose arguments are no JSON object (an upstream's slip) streams the input the whole answer has, and the SDK's stream helper reads it", () =>
      Effect.gen(function* () {
        // OpenAI's models may write arguments that are no JSON; a call past max_tokens stops mid-way
        const toolCalls = [
          { id: "call_1", name: "weather", arguments: "Rome, please" },
          { id: "call_2", name: "time", arguments: "[1, 2]" },
          { id: "call_3", name: "weather", arguments: ' {"city": "Rome"} ' },
          { id: "call_4", name: "time", arguments: '{"zone": "CET"}}' }
        ]
        const { gateway } = yield* Upstreams.make("gemini", { primary: { reply: { toolCalls } } }, true)
        const client = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const ask = { model: "default", max_tokens: 64, messages: question, tools: [tool("weather"), tool("time")] }
        const whole = yield* Effect.promise(() => client.messages.create(ask))
        const streamed = yield* Effect.promise(() => client.messages.stream(ask).finalMessage())
        expect(whole.content.filter((block) => block.type === "tool_use")).toEqual([
          { type: "tool_use", id: "call_1", name: "weather", input: {} },
          { type: "tool_use", id: "call_2", name: "time", input: {} },
          { type: "tool_use", id: "call_3", name: "weather", input: { city: "Rome" } },
          { type: "tool_use", id: "call_4", name: "time", input: {} }
        ])
        expect(streamed.content.filter((block) => block.type === "tool_use")).toEqual([
          { type: "tool_use", id: "call_1", name: "weather", input: {} },
          { type: "tool_use", id: "call_2", name: "time", input: {} },
          { type: "tool_use", id: "call_3", name: "weather", input: { city: "Rome" } },
          // what came before the slip: a valid object, as the SDK reads a cut one
          { type: "tool_use", id: "call_4", name: "time", input: { zone: "CET" } }
        ])
        expect(streamed.stop_reason).toBe("tool_use")
      })
    )

    it.scoped("output_format, structured outputs' beta name (which the SDK's 0.7x versions send, and Anthropic still takes), asks for the schema as output_config.format does; both at once a 400", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* Upstreams.make("gemini", { primary: { reply: { text: '{"answer":4}' } } }, true)
        const schema = { type: "object", properties: { answer: { type: "number" } }, required: ["answer"], additionalProperties: false }
        const post = (body: Record<string, unknown>) =>
          Effect.promise(() =>
            fetch(`${gateway.url}/v1/messages`, {
              method: "POST",
              headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", "anthropic-beta": "structured-outputs-2025-11-13" },
              body: JSON.stringify({ model: "default", max_tokens: 64, messages: question, ...body })
            }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }))
          )
        const format = { type: "json_schema", schema }
        const answered = yield* post({ output_format: format })
        expect(answered.status).toBe(200)
        expect((primary.requests()[0]?.body as Record<string, unknown>)["response_format"]).toEqual({
          type: "json_schema",
          json_schema: { name: "output", schema }
        })
        const both = yield* post({ output_format: format, output_config: { format } })
        expect(both).toEqual({
          status: 400,
          body: { type: "error", error: { type: "invalid_request_error", message: expect.stringContaining("'output_format'") } }
        })
        const wrong = yield* post({ output_format: { type: "json_object" } })
        expect([wrong.status, JSON.stringify(wrong.body)]).toEqual([400, expect.stringContaining("'output_format.type'")])
        expect(primary.count()).toBe(1)
      })
    )
  })
})

describe("ObjectPrefix", () => {
  /** What a reader accepts of a text cut at `cuts`, piece by piece, and whether it read a whole object. */
  const read = (text: string, cuts: ReadonlyArray<number>) => {
    const at = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
    const prefix = new ObjectPrefix()
    const accepted = [0, ...at].map((from, i) => prefix.accept(text.slice(from, [...at, text.length][i]))).join("")
    return { accepted, complete: prefix.complete }
  }
  const cuts = fc.array(fc.nat(), { maxLength: 6 })
  const object = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 })

  it("accepts a JSON object whole, however it is cut and spaced, and reads it as JSON.parse does", () => {
    fc.assert(
      fc.property(object, fc.constantFrom(undefined, 2, "\t"), fc.constantFrom("", " ", "\n  "), cuts, (value, space, before, at) => {
        const text = JSON.stringify(value, null, space)
        expect(read(before + text + before, at)).toEqual({ accepted: text + before, complete: true })
        expect(objectOf(before + text)).toEqual(JSON.parse(text))
      }),
      { numRuns: 500 }
    )
  })

  it("of any text, accepts a beginning the SDK's partial-JSON parser reads, the whole of it when JSON.parse reads an object", () => {
    const text = fc.oneof(
      fc.string(),
      fc.json(),
      // a JSON object with something after it, or cut short, or with a character changed
      fc.tuple(object, fc.string(), fc.nat()).map(([value, more, n]) => {
        const json = JSON.stringify(value)
        return [json + more, json.slice(0, n % (json.length + 1)), json.slice(0, n % json.length) + more + json.slice((n % json.length) + 1)][n % 3]!
      })
    )
    fc.assert(
      fc.property(text, cuts, (raw, at) => {
        const { accepted, complete } = read(raw, at)
        expect(raw.trimStart().startsWith(accepted)).toBe(true)
        let parsed: unknown
        try {
          parsed = JSON.parse(raw)
        } catch {
          parsed = undefined
        }
        const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
        if (isObject) expect({ accepted, complete }).toEqual({ accepted: raw.trimStart(), complete: true })
        if (complete) expect(JSON.parse(accepted)).toEqual(objectOf(raw))
        else expect(objectOf(raw)).toEqual({})
        if (accepted.length > 0) expect(() => partialParse(accepted)).not.toThrow()
      }),
      { numRuns: 2000 }
    )
  })

  it("stops at what cannot continue an object: a value of another kind, a bad number, escape or literal, a control character, more after it", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["[1]", ""],
      ["Rome", ""],
      ['"x"', ""],
      ["  null", ""],
      ['{"a": 01}', '{"a": 0'],
      ['{"a": 1.e3}', '{"a": 1.'],
      ['{"a": -}', '{"a": -'],
      ['{"a": "\\x"}', '{"a": "\\'],
      ['{"a": "\\u12g4"}', '{"a": "\\u12'],
      ['{"a": tru}', '{"a": tru'],
      ['{"a": "line\nbreak"}', '{"a": "line'],
      ['{"a": 1,}', '{"a": 1,'],
      ['{"a" 1}', '{"a" '],
      ["{'a': 1}", "{"],
      ['{"a": [1, 2}', '{"a": [1, 2'],
      ['{"a": 1}}', '{"a": 1}'],
      ['{"a": 1}{"b": 2}', '{"a": 1}']
    ]
    for (const [text, accepted] of cases) expect([text, read(text, []).accepted]).toEqual([text, accepted])
  })
})
