/**
 * Prompt caching and its cost: each adapter reads the cache counts of its
 * wire format (answers and streams, over real HTTP on 127.0.0.1), the cost
 * prices them at the cache prices (which the adapters' table fills in from
 * the input price, the config's and the library's alike), and the router's
 * metadata, the cost report, the Prometheus metrics and the gateway's
 * OpenAI-compatible usage all carry them.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted, Schema, Stream } from "effect"
import type * as Http from "node:http"
import OpenAI from "openai"
import { Config } from "../src/config/index.js"
import * as Gateway from "../src/gateway/Gateway.js"
import { Chat, ModelInfo } from "../src/llm/index.js"
import * as CostReport from "../src/observability/CostReport.js"
import * as Observability from "../src/observability/Observability.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import { listen } from "./support/servers.js"

const key = Redacted.make("sk-test-key")
const header = { id: "", provider: "", model: "" }

/**
 * What an upstream answers: a JSON body, or server-sent events (each a JSON
 * value, or a raw `data:` string such as `[DONE]`), or events and then a
 * connection cut before the stream's end.
 */
type Answer = { readonly json: unknown } | { readonly events: ReadonlyArray<unknown> } | { readonly cut: ReadonlyArray<unknown> }

const eventText = (event: unknown): string => {
  const type = typeof event === "object" && event !== null ? (event as { readonly type?: unknown }).type : undefined
  // Anthropic names each event as its type says; OpenAI and Gemini send data lines only
  const name = typeof type === "string" ? `event: ${type}\n` : ""
  return `${name}data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`
}

/**
 * An upstream on 127.0.0.1 (a port of the system's choosing) answering each
 * request with `answer(streamed)`: whether the body asks for a stream, or
 * the URL does (Gemini's `streamGenerateContent`).
 */
const upstream = (answer: (streamed: boolean) => Answer) =>
  listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (piece: string) => (body += piece))
    req.on("end", () => {
      const url = req.url ?? ""
      const reply = answer(url.includes("stream") || (JSON.parse(body || "{}") as { readonly stream?: unknown }).stream === true)
      if ("json" in reply) {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(reply.json))
        return
      }
      res.writeHead(200, { "content-type": "text/event-stream" })
      if ("events" in reply) res.end(reply.events.map(eventText).join(""))
      else res.write(reply.cut.map(eventText).join(""), () => res.destroy())
    })
  })

// ---------------------------------------------------------------------------
// Wire answers
// ---------------------------------------------------------------------------

/** A Claude answer whose prompt was 100 fresh tokens, 100,000 read from the cache and 3,000 written to it (2,000 of them for an hour). */
const claudeMessage = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5",
  content: [{ type: "text", text: "Hello." }],
  stop_reason: "end_turn",
  usage: {
    input_tokens: 100,
    cache_creation_input_tokens: 3_000,
    cache_read_input_tokens: 100_000,
    cache_creation: { ephemeral_5m_input_tokens: 1_000, ephemeral_1h_input_tokens: 2_000 },
    output_tokens: 10
  }
}

const claudeUsage: Chat.Usage = {
  inputTokens: 103_100,
  outputTokens: 10,
  cacheReadTokens: 100_000,
  cacheWriteTokens: 3_000,
  longCacheWriteTokens: 2_000
}

/** What Anthropic bills it at Sonnet's $3 / $15: reads at $0.30, 5-minute writes at $3.75, 1-hour writes at $6. */
const claudeBill = (100 * 3 + 100_000 * 0.3 + 1_000 * 3.75 + 2_000 * 6 + 10 * 15) / 1_000_000

const claudeStream = [
  {
    type: "message_start",
    message: {
      id: "msg_2",
      type: "message",
      role: "assistant",
      content: [],
      model: "claude-sonnet-4-5",
      usage: { input_tokens: 50, cache_creation_input_tokens: 500, cache_read_input_tokens: 20_000, output_tokens: 1 }
    }
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 12 } },
  { type: "message_stop" }
]

/** A GPT-4.1 mini completion of a 10,000-token prompt, 8,000 of them cached. */
const gptUsageWire = {
  prompt_tokens: 10_000,
  completion_tokens: 100,
  total_tokens: 10_100,
  prompt_tokens_details: { cached_tokens: 8_000, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0 }
}

const gptCompletion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-4.1-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello.", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: gptUsageWire
}

const gptChunk = (choices: ReadonlyArray<unknown>, usage: unknown = null) => ({
  id: "chatcmpl-2",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-4.1-mini",
  choices,
  usage
})

const gptStream = [
  gptChunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
  gptChunk([{ index: 0, delta: { content: "Hello." }, finish_reason: null }]),
  gptChunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
  gptChunk([], gptUsageWire),
  "[DONE]"
]

const gptUsage: Chat.Usage = { inputTokens: 10_000, outputTokens: 100, cacheReadTokens: 8_000 }

/** What OpenAI bills it at GPT-4.1 mini's $0.40 / $1.60, cached input at $0.10. */
const gptBill = (2_000 * 0.4 + 8_000 * 0.1 + 100 * 1.6) / 1_000_000

/** A Gemini 2.5 Flash answer to a 50,000-token prompt, 45,000 of them from a context cache. */
const geminiUsageWire = {
  promptTokenCount: 50_000,
  candidatesTokenCount: 40,
  thoughtsTokenCount: 60,
  cachedContentTokenCount: 45_000,
  totalTokenCount: 50_100,
  promptTokensDetails: [{ modality: "TEXT", tokenCount: 50_000 }],
  cacheTokensDetails: [{ modality: "TEXT", tokenCount: 45_000 }]
}

const geminiAnswer = (text: string, usageMetadata?: unknown) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, ...(usageMetadata === undefined ? {} : { finishReason: "STOP" }) }],
  ...(usageMetadata === undefined ? {} : { usageMetadata }),
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-1"
})

const geminiUsage: Chat.Usage = { inputTokens: 50_000, outputTokens: 100, cacheReadTokens: 45_000, reasoningTokens: 60 }

/** What Google bills it at Gemini 2.5 Flash's $0.30 / $2.50, cached input at $0.03. */
const geminiBill = (5_000 * 0.3 + 45_000 * 0.03 + 100 * 2.5) / 1_000_000

const collect = <E, R>(stream: Stream.Stream<Chat.ChatChunk, E, R>) => Chat.collect(stream, header)

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("prompt caching", (it) => {
  describe("Anthropic", () => {
    it.scoped("an answer's cache reads and writes, the 1-hour writes apart, are part of its input and priced as billed", () =>
      Effect.gen(function* () {
        const port = yield* upstream(() => ({ json: claudeMessage }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const response = yield* sonnet.complete(Chat.prompt("Say hello"))
        expect(response.usage).toEqual(claudeUsage)
        expect(ModelInfo.cost(sonnet.info.price, response.usage)).toBeCloseTo(claudeBill, 12)
      }))

    it.scoped("a stream's usage has the cache counts of its message_start, with message_delta's output count", () =>
      Effect.gen(function* () {
        const port = yield* upstream(() => ({ events: claudeStream }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const streamed = yield* collect(sonnet.stream(Chat.prompt("Say hi")))
        expect([streamed.text, streamed.usage]).toEqual([
          "Hi",
          { inputTokens: 20_550, outputTokens: 12, cacheReadTokens: 20_000, cacheWriteTokens: 500 }
        ])
      }))

    it.scoped("a message_delta that repeats the counts in full (cumulative, as the API now sends them) keeps the 1-hour split", () =>
      Effect.gen(function* () {
        const start = claudeStream[0] as { readonly message: Record<string, unknown> }
        const events = [
          { ...start, message: { ...start.message, usage: { input_tokens: 50, output_tokens: 1 } } },
          ...claudeStream.slice(1, 4),
          {
            type: "message_delta",
            delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: {
              input_tokens: 50,
              cache_creation_input_tokens: 800,
              cache_read_input_tokens: 0,
              cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 800 },
              output_tokens: 12
            }
          },
          { type: "message_stop" }
        ]
        const port = yield* upstream(() => ({ events }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const streamed = yield* collect(sonnet.stream(Chat.prompt("Say hi")))
        expect(streamed.usage).toEqual({ inputTokens: 850, outputTokens: 12, cacheWriteTokens: 800, longCacheWriteTokens: 800 })
        // all of it written to the 1-hour cache, at twice the input price
        expect(ModelInfo.cost(sonnet.info.price, streamed.usage)).toBeCloseTo((50 * 3 + 800 * 6 + 12 * 15) / 1_000_000, 12)
      }))
  })


  describe("OpenAI and compatible servers", () => {
    it.scoped("a completion's prompt_tokens_details.cached_tokens, and the usage chunk of a stream", () =>
      Effect.gen(function* () {
        const port = yield* upstream((streamed) => (streamed ? { events: gptStream } : { json: gptCompletion }))
        const mini = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const response = yield* mini.complete(Chat.prompt("Say hello"))
        expect(response.usage).toEqual(gptUsage)
        expect(ModelInfo.cost(mini.info.price, response.usage)).toBeCloseTo(gptBill, 12)
        const streamed = yield* collect(mini.stream(Chat.prompt("Say hello")))
        expect([streamed.text, streamed.usage]).toEqual(["Hello.", gptUsage])
      }))

    it.scoped("DeepSeek's prompt_cache_hit_tokens and OpenRouter's cache_write_tokens; details it cannot read cost the answer nothing", () =>
      Effect.gen(function* () {
        const usages = [
          { prompt_tokens: 10_000, completion_tokens: 5, prompt_cache_hit_tokens: 6_000, prompt_cache_miss_tokens: 4_000 },
          { prompt_tokens: 10_000, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 9_000 } },
          // not counts: no cache, and the answer is still served
          { prompt_tokens: 10_000, completion_tokens: 5, prompt_tokens_details: "none", prompt_cache_hit_tokens: -3 }
        ]
        let next = 0
        const port = yield* upstream(() => ({ json: { ...gptCompletion, usage: usages[next++] } }))
        const compatible = yield* OpenAi.make({ model: "deepseek-chat", provider: "deepseek", baseUrl: `http://127.0.0.1:${port}/v1` })
        const answers = yield* Effect.forEach(usages, () => compatible.complete(Chat.prompt("Say hello")))
        expect(answers.map((answer) => answer.usage)).toEqual([
          { inputTokens: 10_000, outputTokens: 5, cacheReadTokens: 6_000 },
          { inputTokens: 10_000, outputTokens: 5, cacheWriteTokens: 9_000 },
          { inputTokens: 10_000, outputTokens: 5 }
        ])
      }))
  })

  describe("Gemini", () => {
    it.scoped("an answer's cachedContentTokenCount, and the terminal event of a stream", () =>
      Effect.gen(function* () {
        const port = yield* upstream((streamed) =>
          streamed
            ? { events: [geminiAnswer("Hel"), geminiAnswer("lo.", geminiUsageWire)] }
            : { json: geminiAnswer("Hello.", geminiUsageWire) }
        )
        const flash = yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1beta` })
        const response = yield* flash.complete(Chat.prompt("Say hello"))
        expect(response.usage).toEqual(geminiUsage)
        expect(ModelInfo.cost(flash.info.price, response.usage)).toBeCloseTo(geminiBill, 12)
        const streamed = yield* collect(flash.stream(Chat.prompt("Say hello")))
        expect([streamed.text, streamed.usage]).toEqual(["Hello.", geminiUsage])
      }))
  })

  describe("the router, the cost report and the metrics", () => {
    it.scoped("price a cached prompt as the provider bills it, and count its cache reads and writes", () =>
      Effect.gen(function* () {
        const port = yield* upstream((streamed) => (streamed ? { events: claudeStream } : { json: claudeMessage }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const router = yield* Router.make({ targets: { sonnet: { model: sonnet } }, chains: { default: ["sonnet"] }, cache: false })
        const observability = yield* Observability.attach(router, { labels: { run: "cached-tokens" }, telemetry: { logs: false } })
        const { meta } = yield* router.complete(Chat.prompt("Say hello"))
        expect(meta.usage).toEqual(claudeUsage)
        // 10x less than the whole prompt at the input price would be ($0.30945)
        expect(meta.cost).toBeCloseTo(claudeBill, 12)
        const streamedCost = (50 * 3 + 20_000 * 0.3 + 500 * 3.75 + 12 * 15) / 1_000_000
        const done = yield* Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("Say hi")), (started) => Effect.zipRight(Stream.runDrain(started.chunks), started.done))
        )
        expect(done.cost).toBeCloseTo(streamedCost, 12)
        yield* observability.flush
        const report = yield* observability.costReport()
        expect(report.totals).toMatchObject({ requests: 2, inputTokens: 103_100 + 20_550, cacheReadTokens: 120_000, cacheWriteTokens: 3_500 })
        expect(report.totals.cost).toBeCloseTo(claudeBill + streamedCost, 12)
        expect(report.byModel[0]).toMatchObject({ model: "claude-sonnet-4-5", cacheReadTokens: 120_000, cacheWriteTokens: 3_500 })
        const text = yield* observability.render
        const tokens = (direction: string) =>
          new RegExp(`^llm_tokens_total\\{(?=[^}]*direction="${direction}")(?=[^}]*run="cached-tokens")[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]
        expect([tokens("input"), tokens("cache_read"), tokens("cache_write")]).toEqual(["123650", "120000", "3500"])
        const served = /^llm_cost_usd_total\{(?=[^}]*kind="served")(?=[^}]*run="cached-tokens")[^}]*\} (\S+)$/m.exec(text)?.[1]
        expect(Number(served)).toBeCloseTo(claudeBill + streamedCost, 9)
      }))

    it.scoped("a stream resumed on another model keeps the cache counts of the part that answered", () =>
      Effect.gen(function* () {
        // Claude's stream breaks after its first words; GPT-4.1 mini resumes it from its cache
        const claudePort = yield* upstream(() => ({ cut: claudeStream.slice(0, 3) }))
        const gptPort = yield* upstream(() => ({ events: gptStream }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${claudePort}/v1` })
        const mini = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: `http://127.0.0.1:${gptPort}/v1` })
        const router = yield* Router.make({
          targets: { sonnet: { model: sonnet }, mini: { model: mini } },
          chains: { default: { targets: ["sonnet", "mini"], continueStreams: true } },
          policy: { retry: { maxAttempts: 1 } },
          cache: false
        })
        const done = yield* Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("Say hi")), (started) => Effect.zipRight(Stream.runDrain(started.chunks), started.done))
        )
        expect(done).toMatchObject({ continued: true, target: "mini" })
        // both parts' cache reads: Claude's prompt as its message_start counted it (20,550, 20,000 from its cache) before the cut
        expect(done.usage.cacheReadTokens).toBe(20_000 + 8_000)
        expect(done.usage.inputTokens).toBe(20_550 + 10_000)
        const cut = done.billed?.find((part) => part.target === "sonnet")
        expect(cut?.usage).toMatchObject({ inputTokens: 20_550, cacheReadTokens: 20_000, cacheWriteTokens: 500 })
        expect(cut?.usage.outputTokens).toBeGreaterThan(0)
      }))
  })

  describe("the gateway", () => {
    it.scoped("reports the cache's part of the prompt as usage.prompt_tokens_details.cached_tokens, whole and streamed", () =>
      Effect.gen(function* () {
        const port = yield* upstream((streamed) => (streamed ? { events: claudeStream } : { json: claudeMessage }))
        const sonnet = yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` })
        const router = yield* Router.make({ targets: { sonnet: { model: sonnet } }, chains: { default: ["sonnet"] }, cache: false })
        const gateway = yield* Gateway.make({ router, port: 0 })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 10_000 })
        const messages = [{ role: "user" as const, content: "Say hello" }]
        const completion = yield* Effect.promise(() => client.chat.completions.create({ model: "default", messages }))
        expect(completion.usage).toEqual({
          prompt_tokens: 103_100,
          completion_tokens: 10,
          total_tokens: 103_110,
          prompt_tokens_details: { cached_tokens: 100_000 }
        })
        const chunks = yield* Effect.promise(async () => {
          const stream = await client.chat.completions.create({
            model: "default",
            messages,
            stream: true,
            stream_options: { include_usage: true }
          })
          const all: Array<OpenAI.ChatCompletionChunk> = []
          for await (const chunk of stream) all.push(chunk)
          return all
        })
        expect(chunks.at(-1)?.usage).toEqual({
          prompt_tokens: 20_550,
          completion_tokens: 12,
          total_tokens: 20_562,
          prompt_tokens_details: { cached_tokens: 20_000 }
        })
      }))
  })
})

describe("the cost of a cached prompt", () => {
  const sonnet: ModelInfo.Price = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, longCacheWrite: 6 }

  it("reads at cachedInput, writes at cacheWrite, 1-hour writes at longCacheWrite, the rest of the prompt at input", () => {
    expect(ModelInfo.cost(sonnet, claudeUsage)).toBeCloseTo(claudeBill, 12)
    expect(ModelInfo.cost(sonnet, { inputTokens: 1_000, outputTokens: 0, cacheReadTokens: 1_000 })).toBeCloseTo(0.0003, 12)
    expect(ModelInfo.cost(sonnet, { inputTokens: 1_000, outputTokens: 0, cacheWriteTokens: 1_000 })).toBeCloseTo(0.00375, 12)
    expect(ModelInfo.cost(sonnet, { inputTokens: 1_000, outputTokens: 0, cacheWriteTokens: 1_000, longCacheWriteTokens: 1_000 }))
      .toBeCloseTo(0.006, 12)
  })

  it("a price without cache prices charges the input price (a 1-hour write without its own: cacheWrite)", () => {
    const plain: ModelInfo.Price = { input: 3, output: 15 }
    expect(ModelInfo.cost(plain, claudeUsage)).toBeCloseTo((103_100 * 3 + 10 * 15) / 1_000_000, 12)
    const withoutLong: ModelInfo.Price = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 }
    expect(ModelInfo.cost(withoutLong, claudeUsage)).toBeCloseTo((100 * 3 + 100_000 * 0.3 + 3_000 * 3.75 + 10 * 15) / 1_000_000, 12)
  })

  it("counts that do not add up never make fresh input negative", () => {
    // a server that says more was cached than it was sent: the cache counts as it says, no fresh input
    expect(ModelInfo.cost(sonnet, { inputTokens: 500, outputTokens: 0, cacheReadTokens: 1_000 })).toBeCloseTo(0.0003, 12)
    expect(ModelInfo.cost(sonnet, { inputTokens: 500, outputTokens: 0, cacheReadTokens: 300, cacheWriteTokens: 300 }))
      .toBeCloseTo((300 * 0.3 + 300 * 3.75) / 1_000_000, 12)
  })

  it("Chat.addUsage keeps each cache count, absent only when both lack it", () => {
    expect(Chat.addUsage(claudeUsage, gptUsage)).toEqual({
      inputTokens: 113_100,
      outputTokens: 110,
      cacheReadTokens: 108_000,
      cacheWriteTokens: 3_000,
      longCacheWriteTokens: 2_000
    })
    expect(Chat.addUsage({ inputTokens: 1, outputTokens: 2 }, { inputTokens: 3, outputTokens: 4 })).toEqual({ inputTokens: 4, outputTokens: 6 })
  })

  it.effect("the adapters fill in the cache prices from the input price: the table's multiples, the price given kept", () =>
    Effect.gen(function* () {
      const price = <R>(make: Effect.Effect<{ readonly info: ModelInfo.ModelInfo }, never, R>) => Effect.map(make, (model) => model.info.price)
      expect(yield* price(Anthropic.make({ model: "claude-haiku-4-5" }))).toEqual({
        input: 1,
        output: 5,
        cachedInput: 0.1,
        cacheWrite: 1.25,
        longCacheWrite: 2
      })
      // a Claude the table does not know, priced by the caller: Anthropic's multiples are the same for every Claude
      expect(yield* price(Anthropic.make({ model: "claude-opus-4-7", info: { price: { input: 5, output: 25, cacheWrite: 6 } } }))).toEqual({
        input: 5,
        output: 25,
        cachedInput: 0.5,
        cacheWrite: 6,
        longCacheWrite: 10
      })
      // another's model behind an Anthropic-compatible endpoint bills its cache as it likes: the input price
      expect(yield* price(Anthropic.make({ model: "MiniMax-M2", info: { price: { input: 0.3, output: 1.2 } } }))).toEqual({
        input: 0.3,
        output: 1.2
      })
      expect((yield* price(OpenAi.make({ model: "gpt-5-mini" }))).cachedInput).toBe(0.025)
      expect((yield* price(OpenAi.make({ model: "gpt-4o-2024-08-06" }))).cachedInput).toBe(1.25)
      expect((yield* price(OpenAi.make({ model: "o4-mini" }))).cachedInput).toBe(0.275)
      expect((yield* price(Gemini.make({ model: "gemini-2.0-flash" }))).cachedInput).toBe(0.025)
      expect((yield* price(Gemini.make({ model: "gemini-3-pro-preview" }))).cachedInput).toBe(0.2)
      // a model the table does not know: no cache price, so the input price
      expect(yield* price(OpenAi.make({ model: "llama3.1", info: { price: { input: 0.2, output: 0.2 } } }))).toEqual({ input: 0.2, output: 0.2 })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("the config's price", () => {
  const config = (price: string) => `
providers:
  anthropic: { type: anthropic, apiKey: "env:ANTHROPIC_API_KEY" }
models:
  sonnet: { provider: anthropic, model: claude-sonnet-4-5, price: ${price} }
`
  const parse = (text: string) =>
    Config.parse(text).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", "sk-ant-test"]]))))

  it.effect("takes cachedInput, cacheWrite and longCacheWrite; the adapter fills in those left out, as the library does", () =>
    Effect.gen(function* () {
      const { config: given } = yield* parse(config("{ input: 2.5, output: 12, cachedInput: 0.5 }"))
      const info = (yield* Config.toRouterConfig(given)).targets["sonnet"]?.model.info
      expect(info?.price).toEqual({ input: 2.5, output: 12, cachedInput: 0.5, cacheWrite: 3.125, longCacheWrite: 5 })
      const library = yield* Anthropic.make({ model: "claude-sonnet-4-5", info: { price: { input: 2.5, output: 12, cachedInput: 0.5 } } })
      expect(library.info.price).toEqual(info?.price)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("reports a cache price that is not one at its path and line, and a misspelt one among the price's keys", () =>
    Effect.gen(function* () {
      const negative = yield* Effect.flip(parse(config("{ input: 3, output: 15, cachedInput: -1, cacheWrite: cheap }")))
      expect(negative.problems.map(Config.formatProblem)).toEqual([
        "models.sonnet.price.cachedInput: Expected a non-negative number, actual -1 (line 5, column 104)",
        'models.sonnet.price.cacheWrite: Expected number, actual "cheap" (line 5, column 120)'
      ])
      const misspelt = yield* Effect.flip(parse(config("{ input: 3, output: 15, cacheRead: 0.3 }")))
      expect(misspelt.problems.map((problem) => problem.path)).toEqual(["models.sonnet.price.cacheRead"])
      expect(misspelt.problems[0]?.message).toContain("cachedInput")
    }))

})

describe("the cost report's schema", () => {
  it("reads a report from a gateway that did not count cache tokens as none of them", () => {
    // what `CostReport.fetch` gets from a gateway of an earlier release: its lines lack the cache counts
    const line = { requests: 1, fallbackRequests: 0, inputTokens: 10, outputTokens: 2, cost: 0.001, fallbackExtraCost: 0 }
    const report = Schema.decodeUnknownSync(CostReport.Report)({
      currency: "USD",
      from: 0,
      to: 1,
      totals: line,
      byModel: [{ provider: "openai", model: "gpt-4.1-mini", ...line }],
      byChain: [{ chain: "default", ...line }],
      shadow: { totals: { calls: 0, inputTokens: 0, outputTokens: 0, cost: 0 }, byModel: [] }
    })
    expect([report.totals, report.byModel[0], report.shadow.totals]).toMatchObject([
      { cacheReadTokens: 0, cacheWriteTokens: 0 },
      { cacheReadTokens: 0, cacheWriteTokens: 0 },
      { cacheReadTokens: 0, cacheWriteTokens: 0 }
    ])
  })
})
