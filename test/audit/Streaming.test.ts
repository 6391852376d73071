/**
 * Streaming end to end (the streaming audit): what a client of the gateway
 * (and of `Router.stream`) sees when an upstream stream fails before or
 * after its first content, ends on tool calls, or carries usage. Real HTTP
 * on 127.0.0.1 (port 0), exact upstream bytes (test/support/raw.ts).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, Redacted, Stream, TestClock } from "effect"
import type * as Http from "node:http"
import * as Chat from "../../src/llm/Chat.js"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"
import * as UndiciHttpClient from "../../src/providers/UndiciHttpClient.js"
import { namedSse, rawUpstream, sse, type RawAnswer } from "../support/raw.js"
import { listen } from "../support/servers.js"
import { settler, sim, succeeded } from "../support/virtual.js"
import { ContentFiltered } from "../../src/llm/ProviderError.js"

const key = Redacted.make("sk-upstream")
const question = [{ role: "user" as const, content: "Name a colour." }]

type Answer = (url: string, body: any) => RawAnswer

/** Targets `a` (OpenAI wire) and `b` (OpenAI wire) over raw upstreams, the chain `default` = [a, b], and the gateway. */
const setup = (first: Answer, second: Answer, make: "openai" | "anthropic" | "gemini" = "openai") =>
  Effect.gen(function* () {
    const one = yield* rawUpstream(first)
    const two = yield* rawUpstream(second)
    const a =
      make === "openai"
        ? yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: one.baseUrl })
        : make === "anthropic"
        ? yield* Anthropic.make({ model: "claude-sonnet-4-5", apiKey: key, baseUrl: one.baseUrl })
        : yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: one.baseUrl })
    const b = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: two.baseUrl })
    const router = yield* Router.make({
      targets: { a: { model: a }, b: { model: b } },
      chains: { default: ["a", "b"] },
      policy: { retry: { maxAttempts: 1 } }
    })
    const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
    return { one, two, gateway }
  })

/** The raw SSE body the gateway answers a stream with, and its events' data parsed (but `[DONE]`). */
const rawStream = (gateway: Gateway.Server, extra: Record<string, unknown> = {}) =>
  Effect.promise(() =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "default", messages: question, stream: true, ...extra })
    }).then(async (res) => {
      const text = await res.text()
      const data = text
        .split("\n\n")
        .filter((e) => e.startsWith("data: "))
        .map((e) => e.slice(6))
      return { status: res.status, text, data, events: data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d)) }
    })
  )

const chunk = (delta: unknown, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "m",
  choices: [{ index: 0, delta, finish_reason: finish }],
  ...extra
})

const winner: Answer = () => ({
  body: sse(chunk({ role: "assistant", content: "" }), chunk({ content: "Blue" }), chunk({}, "stop"), "[DONE]")
})

describe("the content-policy hand-over", () => {
  it.scoped("a stream handed to the content-policy chain is continued as that chain says (continueStreams), as when called by its name", () =>
    Effect.gen(function* () {
      const base = yield* sim("strict")
      const refused = new ContentFiltered({
        provider: "strict", model: "strict-model", message: "strict refused", reason: "refusal", partialText: "", usage: { inputTokens: 3, outputTokens: 4 }
      })
      const strict = { ...base, stream: () => Stream.fail(refused) }
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta" })
      const other = yield* sim("other", { reply: " gamma delta" })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["strict"], contentPolicy: "safe" }, safe: { targets: ["cut", "other"], continueStreams: true } },
        policy: { retry: { maxAttempts: 1 } },
        cache: false
      })
      const run = (chain: string) =>
        Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("letters"), { chain }), (started) =>
            Effect.flatMap(Stream.runCollect(started.chunks), (chunks) =>
              Effect.map(started.done, (meta) => ({
                text: [...chunks].flatMap((c) => (c._tag === "TextDelta" ? [c.text] : [])).join(""),
                meta
              }))
            )
          )
        )
      const settle = settler("10 seconds")
      // called by its name, the chain continues the cut stream
      const named = succeeded(yield* settle(run("safe")))
      expect(named.text).toBe("alpha beta gamma delta")
      // handed the request on content policy, it does the same
      const handed = succeeded(yield* settle(run("default")))
      expect(handed.text).toBe("alpha beta gamma delta")
      // the stopped answer's part is billed once, beside the cut part: the same tokens as the named run's, plus the stopped 3 + 4
      expect(handed.meta.billed?.map((part) => part.target).sort()).toEqual(["cut", "strict"])
      expect(handed.meta.usage.inputTokens).toBe(named.meta.usage.inputTokens + 3)
      expect(handed.meta.usage.outputTokens).toBe(named.meta.usage.outputTokens + 4)
      const strictPart = handed.meta.billed?.find((part) => part.target === "strict")
      expect(strictPart?.usage).toEqual({ inputTokens: 3, outputTokens: 4 })
      const cutPart = handed.meta.billed?.find((part) => part.target === "cut")
      expect(cutPart?.usage).toEqual(named.meta.billed?.find((part) => part.target === "cut")?.usage)
    })
  )
})

describe("the first-token timeout", () => {
  it.scoped("a stream that sends its role and usage, then nothing, times out at firstToken and falls over", () =>
    Effect.gen(function* () {
      let wrote: () => void = () => {}
      const written = new Promise<void>((resolve) => (wrote = resolve))
      const port = yield* listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
        req.resume()
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(sse(chunk({ role: "assistant", content: "" }), { id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 } }), () => wrote())
        })
      })
      const a = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1` }).pipe(
        Effect.provide(yield* Layer.build(UndiciHttpClient.layer))
      )
      const b = yield* sim("b", { reply: "from b" })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { firstToken: "5 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(
        Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("hi")), (started) =>
            Effect.map(Stream.runCollect(started.chunks), (chunks) => ({
              target: started.meta.target,
              text: [...chunks].flatMap((c) => (c._tag === "TextDelta" ? [c.text] : [])).join("")
            }))
          )
        )
      )
      // the role and usage arrive in real time; then 4 s is not yet the timeout, 5 s is
      yield* Effect.promise(() => written)
      yield* TestClock.adjust("4 seconds")
      expect((yield* Fiber.poll(fiber))._tag).toBe("None")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual({ target: "b", text: "from b" })
    })
  )
})

describe("a consumer that leaves a stream", () => {
  it.scoped("that a half-open breaker let through as its probe frees the probe: the next request probes the target again", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 500, to: "1 second" }], reply: "one two three four five six", tokenDelay: "1 second" })
      const b = yield* sim("b", { reply: "from b" })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "10 seconds" }, halfOpenProbes: 1 } },
        cache: false
      })
      const settle = settler("30 seconds")
      const target = (read: number) =>
        Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("hi")), (started) =>
            Effect.as(Stream.runDrain(Stream.take(started.chunks, read)), started.meta.target)
          )
        )
      // the first call fails: the breaker opens, and the request is served by b
      expect(succeeded(yield* settle(target(1000)))).toBe("b")
      yield* TestClock.adjust("11 seconds")
      // half-open: this stream is a's probe; its consumer leaves after the first chunk
      expect(succeeded(yield* settle(target(1)))).toBe("a")
      // the probe was freed (ignored): the next request probes a again, rather than finding its breaker full
      expect(succeeded(yield* settle(target(1000)))).toBe("a")
    })
  )
})

// before `layer` below, whose `it` is the live one from there on (it assigns its methods to vitest's `it`)
describe("the idle timeout", () => {
  it.scoped("is the upstream's silence while the consumer waits for it, not the time the consumer spent between reads", () =>
    Effect.gen(function* () {
      // the first content at once, the rest when the test says
      let rest: ((body: string) => void) | undefined
      const port = yield* listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
        req.resume()
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(sse(chunk({ role: "assistant", content: "Hel" })))
          rest = (body) => res.end(body)
        })
      })
      const model = yield* OpenAi.make({
        model: "gpt-4.1-mini",
        apiKey: key,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        timeouts: { idle: "30 seconds" }
      }).pipe(Effect.provide(yield* Layer.build(UndiciHttpClient.layer)))
      const pull = yield* Stream.toPull(model.stream(Chat.prompt("hi")))
      const first = yield* pull
      expect([...first].some(Chat.isContent)).toBe(true)
      // the consumer takes 25 s over the first chunk (a slow client of the gateway: its socket full)
      yield* TestClock.adjust("25 seconds")
      const next = yield* Effect.fork(pull)
      yield* Effect.yieldNow()
      // the model thinks for 10 s: 35 s since the last chunk, but the stream was waited on for 10
      yield* TestClock.adjust("10 seconds")
      yield* Effect.yieldNow()
      const early = yield* Fiber.poll(next)
      expect(early._tag === "Some" && Exit.isFailure(early.value) ? String(early.value.cause) : "waiting").toBe("waiting")
      rest!(sse(chunk({ content: "lo" }), chunk({}, "stop"), "[DONE]"))
      const chunks = yield* Fiber.join(next)
      expect([...chunks].filter((c) => c._tag === "TextDelta").map((c) => (c as { text: string }).text).join("")).toBe("lo")
    })
  )
})

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Streaming audit", (it) => {
  describe("before content", () => {
    it.scoped("a stream of a role chunk and [DONE] only falls over; the client sees one role delta and the winner's text", () =>
      Effect.gen(function* () {
        const { gateway, two } = yield* setup(() => ({ body: sse(chunk({ role: "assistant", content: "" }), "[DONE]") }), winner)
        const out = yield* rawStream(gateway)
        expect(two.requests.length).toBe(1)
        const deltas = out.events.map((e: any) => e.choices[0]?.delta)
        expect(deltas.filter((d: any) => d?.role !== undefined).length).toBe(1)
        expect(deltas.map((d: any) => d?.content ?? "").join("")).toBe("Blue")
        expect(out.data.at(-1)).toBe("[DONE]")
      })
    )
    it.scoped("Anthropic: message_start and message_stop alone (no stop_reason, no content) fall over too", () =>
      Effect.gen(function* () {
        const { gateway, two } = yield* setup(
          () => ({
            body: namedSse(
              { type: "message_start", message: { id: "m", type: "message", role: "assistant", model: "claude", content: [], usage: { input_tokens: 5, output_tokens: 0 } } } as any,
              { type: "message_stop" } as any
            )
          }),
          winner,
          "anthropic"
        )
        const out = yield* rawStream(gateway)
        expect(two.requests.length).toBe(1)
        expect(out.events.map((e: any) => e.choices[0]?.delta?.content ?? "").join("")).toBe("Blue")
      })
    )

    it.scoped("a stream that finishes with a reason before any content is an empty answer, served as it is (no fallback)", () =>
      Effect.gen(function* () {
        const { gateway, two } = yield* setup(() => ({ body: sse(chunk({ role: "assistant", content: "" }), chunk({}, "length"), "[DONE]") }), winner)
        const out = yield* rawStream(gateway)
        expect(two.requests.length).toBe(0)
        expect(out.events.at(-1).choices[0].finish_reason).toBe("length")
      })
    )
  })


  describe("tool calls", () => {
    it.scoped("Anthropic: a text block then a tool call streamed in pieces reaches the client in OpenAI's chunk shape, finish tool_calls", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup(
          () => ({
            body: namedSse(
              { type: "message_start", message: { id: "m", type: "message", role: "assistant", model: "claude", content: [], usage: { input_tokens: 5, output_tokens: 0 } } } as any,
              { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } as any,
              { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Let me look." } } as any,
              { type: "content_block_stop", index: 0 } as any,
              { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "lookup", input: {} } } as any,
              { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"q\":" } } as any,
              { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "\"x\"}" } } as any,
              { type: "content_block_stop", index: 1 } as any,
              { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 7 } } as any,
              { type: "message_stop" } as any
            )
          }),
          winner,
          "anthropic"
        )
        const out = yield* rawStream(gateway)
        const calls = out.events.flatMap((e: any) => e.choices[0]?.delta?.tool_calls ?? [])
        expect(calls[0]).toMatchObject({ index: 0, id: "toolu_1", type: "function", function: { name: "lookup" } })
        expect(calls.map((c: any) => c.function.arguments).join("")).toBe("{\"q\":\"x\"}")
        expect(calls.every((c: any) => c.index === 0)).toBe(true)
        expect(out.events.at(-1).choices[0].finish_reason).toBe("tool_calls")
      })
    )

    it.scoped("Gemini: two function calls in one event are calls 0 and 1, finish tool_calls (Gemini says STOP)", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup(
          () => ({
            body: sse({
              candidates: [
                {
                  content: { role: "model", parts: [{ functionCall: { name: "a", args: { x: 1 } } }, { functionCall: { name: "b", args: {} } }] },
                  finishReason: "STOP"
                }
              ],
              usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 }
            })
          }),
          winner,
          "gemini"
        )
        const out = yield* rawStream(gateway, { stream_options: { include_usage: true } })
        const calls = out.events.flatMap((e: any) => e.choices[0]?.delta?.tool_calls ?? [])
        expect(calls.map((c: any) => [c.index, c.function.name, typeof c.id])).toEqual([
          [0, "a", "string"],
          [1, "b", "string"]
        ])
        const finishes = out.events.filter((e: any) => e.choices[0]?.finish_reason)
        expect(finishes.map((e: any) => e.choices[0].finish_reason)).toEqual(["tool_calls"])
        const last = out.events.at(-1)
        expect(last.choices).toEqual([])
        expect(last.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4 })
      })
    )
  })

  describe("usage", () => {
    it.scoped("include_usage: the usage chunk comes last, choices empty, after the finish; without it no usage anywhere", () =>
      Effect.gen(function* () {
        const upstream: Answer = () => ({
          body: sse(
            chunk({ role: "assistant", content: "" }),
            chunk({ content: "Blue" }),
            chunk({}, "stop"),
            { id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } },
            "[DONE]"
          )
        })
        const { gateway } = yield* setup(upstream, winner)
        const asked = yield* rawStream(gateway, { stream_options: { include_usage: true } })
        expect(asked.data.at(-1)).toBe("[DONE]")
        expect(asked.events.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } })
        expect(asked.events.at(-2).choices[0].finish_reason).toBe("stop")
        expect(asked.events.slice(0, -1).every((e: any) => e.usage === null)).toBe(true)
        const plain = yield* rawStream(gateway)
        expect(plain.events.every((e: any) => !("usage" in e))).toBe(true)
        expect(plain.events.every((e: any) => e.choices.length === 1)).toBe(true)
      })
    )
  })

  describe("a client that leaves", () => {
    it.scoped("mid-stream: the upstream call is aborted and the target's bulkhead slot is free for the next stream", () =>
      Effect.gen(function* () {
        const one = yield* MockServer.make({ faults: [MockServer.stallAfter(2)] })
        const two = yield* MockServer.make()
        const a = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: one.baseUrls.openai })
        const b = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: two.baseUrls.openai })
        const router = yield* Router.make({
          targets: { a: { model: a, policy: { bulkhead: { maxConcurrent: 1, maxQueued: 0 } } }, b: { model: b } },
          chains: { default: ["a", "b"] },
          policy: { retry: { maxAttempts: 1 } }
        })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
        const controller = new AbortController()
        const reader = yield* Effect.promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "default", messages: question, stream: true }),
            signal: controller.signal
          }).then((res) => res.body!.getReader())
        )
        const first = yield* Effect.promise(() => reader.read())
        expect(new TextDecoder().decode(first.value)).toContain("content")
        controller.abort()
        yield* MockServer.awaitAborted(one, 1).pipe(Effect.timeout("2 seconds"))
        // the slot is freed as the request's scope closes, just after the abort: the next stream may have to wait a moment
        let target: string | null = null
        for (let i = 0; i < 50 && target !== "a"; i++) {
          target = yield* Effect.promise(() =>
            fetch(`${gateway.url}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "default", messages: question, stream: true })
            }).then(async (res) => (await res.text(), res.headers.get("x-llm-target")))
          )
        }
        expect(target).toBe("a")
        expect(two.count()).toBeLessThanOrEqual(1)
      })
    )
  })

  describe("hedged and raced streams", () => {
    it.scoped("a hedge's primary that sent its role and stalled loses to the hedge's first content: one role, the hedge's text alone, the primary aborted", () =>
      Effect.gen(function* () {
        const one = yield* MockServer.make({ faults: [MockServer.stallAfter(1)], reply: { text: "PRIMARY" } })
        const two = yield* MockServer.make({ reply: { text: "Hedge answer." } })
        const a = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: one.baseUrls.openai })
        const b = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: two.baseUrls.openai })
        const router = yield* Router.make({
          targets: { a: { model: a }, b: { model: b } },
          chains: { default: { targets: ["a", "b"], hedge: { delay: "20 millis" } } },
          policy: { retry: { maxAttempts: 1 } }
        })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
        const out = yield* rawStream(gateway, { stream_options: { include_usage: true } })
        const deltas = out.events.filter((e: any) => e.choices.length > 0).map((e: any) => e.choices[0].delta)
        expect(deltas.filter((d: any) => d.role !== undefined).length).toBe(1)
        expect(deltas.map((d: any) => d.content ?? "").join("")).toBe("Hedge answer.")
        expect(out.data.at(-1)).toBe("[DONE]")
        yield* MockServer.awaitAborted(one, 1).pipe(Effect.timeout("2 seconds"))
      })
    )

    it.scoped("a race: the first content wins, the other is aborted", () =>
      Effect.gen(function* () {
        const one = yield* MockServer.make({ faults: [MockServer.stallAfter(1)], reply: { text: "SLOW" } })
        const two = yield* MockServer.make({ reply: { text: "Fast answer." } })
        const a = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: one.baseUrls.openai })
        const b = yield* OpenAi.make({ model: "gpt-4.1", apiKey: key, baseUrl: two.baseUrls.openai })
        const router = yield* Router.make({
          targets: { a: { model: a }, b: { model: b } },
          chains: { default: { targets: ["a", "b"], race: 2 } },
          policy: { retry: { maxAttempts: 1 } }
        })
        const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
        const out = yield* rawStream(gateway)
        const deltas = out.events.map((e: any) => e.choices[0].delta)
        expect(deltas.filter((d: any) => d.role !== undefined).length).toBe(1)
        expect(deltas.map((d: any) => d.content ?? "").join("")).toBe("Fast answer.")
        yield* MockServer.awaitAborted(one, 1).pipe(Effect.timeout("2 seconds"))
      })
    )
  })

  describe("before content, more", () => {
    for (const [name, body] of [
      ["an empty body", ""],
      ["a role chunk, then the body ends", sse(chunk({ role: "assistant", content: "" }))],
      ["a role chunk and a usage chunk, then [DONE]", sse(chunk({ role: "assistant", content: "" }), { id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 } }, "[DONE]")],
      ["an error event", sse(chunk({ role: "assistant", content: "" }), { error: { message: "boom", type: "server_error" } })]
    ] as const) {
      it.scoped(`${name}: falls over, one clean stream from the next target`, () =>
        Effect.gen(function* () {
          const { gateway, two } = yield* setup(() => ({ body }), winner)
          const out = yield* rawStream(gateway)
          expect(two.requests.length).toBe(1)
          const deltas = out.events.map((e: any) => e.choices[0]?.delta)
          expect(deltas.filter((d: any) => d?.role !== undefined).length).toBe(1)
          expect(deltas.map((d: any) => d?.content ?? "").join("")).toBe("Blue")
          expect(out.data.at(-1)).toBe("[DONE]")
        })
      )
    }
  })

  describe("a stop on content policy after content", () => {
    for (const [make, body] of [
      [
        "anthropic",
        namedSse(
          { type: "message_start", message: { id: "m", type: "message", role: "assistant", model: "claude", content: [], usage: { input_tokens: 5, output_tokens: 0 } } } as any,
          { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } as any,
          { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Here is" } } as any,
          { type: "content_block_stop", index: 0 } as any,
          { type: "message_delta", delta: { stop_reason: "refusal" }, usage: { output_tokens: 2 } } as any,
          { type: "message_stop" } as any
        )
      ],
      [
        "gemini",
        sse(
          { candidates: [{ content: { role: "model", parts: [{ text: "Here is" }] } }] },
          { candidates: [{ content: { role: "model", parts: [] }, finishReason: "SAFETY" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 } }
        )
      ]
    ] as const) {
      it.scoped(`${make}: the text so far, finish_reason content_filter, the usage chunk, [DONE]; no fallback`, () =>
        Effect.gen(function* () {
          const { gateway, two } = yield* setup(() => ({ body }), winner, make)
          const out = yield* rawStream(gateway, { stream_options: { include_usage: true } })
          expect(out.status).toBe(200)
          expect(two.requests.length).toBe(0)
          const withChoices = out.events.filter((e: any) => e.choices.length > 0)
          expect(withChoices.map((e: any) => e.choices[0].delta.content ?? "").join("")).toBe("Here is")
          expect(withChoices.filter((e: any) => e.choices[0].delta.role !== undefined).length).toBe(1)
          expect(withChoices.map((e: any) => e.choices[0].finish_reason).filter((f: any) => f !== null)).toEqual(["content_filter"])
          expect(out.events.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })
          expect(out.data.at(-1)).toBe("[DONE]")
        })
      )
    }
  })

  describe("a failure after content", () => {
    for (const [make, body] of [
      ["openai", sse(chunk({ role: "assistant", content: "" }), chunk({ content: "Bl" }))],
      [
        "anthropic",
        namedSse(
          { type: "message_start", message: { id: "m", type: "message", role: "assistant", model: "claude", content: [], usage: { input_tokens: 5, output_tokens: 0 } } } as any,
          { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } as any,
          { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Bl" } } as any,
          { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } as any
        )
      ],
      ["gemini", sse({ candidates: [{ content: { role: "model", parts: [{ text: "Bl" }] } }] })]
    ] as const) {
      it.scoped(`${make}: the text so far, then an error event, no usage chunk, no [DONE], no fallback`, () =>
        Effect.gen(function* () {
          const { gateway, two } = yield* setup(() => ({ body }), winner, make)
          const out = yield* rawStream(gateway, { stream_options: { include_usage: true } })
          expect(two.requests.length).toBe(0)
          expect(out.data).not.toContain("[DONE]")
          const last = out.events.at(-1)
          expect(last.error).toMatchObject({ code: "stream_interrupted" })
          const deltas = out.events.slice(0, -1).map((e: any) => e.choices[0].delta)
          expect(deltas.map((d: any) => d.content ?? "").join("")).toBe("Bl")
          expect(out.events.slice(0, -1).every((e: any) => e.choices.length === 1 && e.choices[0].finish_reason === null)).toBe(true)
        })
      )
    }
  })

  describe("compatible servers' extra chunks", () => {
    it.scoped("Azure's prompt_filter_results chunk (empty choices, empty id and model) and content_filter_results on each choice pass as nothing", () =>
      Effect.gen(function* () {
        const azure = sse(
          { choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] },
          { ...chunk({ role: "assistant", content: "" }), usage: null },
          { ...chunk({ content: "Teal" }), choices: [{ index: 0, delta: { content: "Teal" }, finish_reason: null, content_filter_results: { hate: { filtered: false, severity: "safe" } } }] },
          { ...chunk({}, "stop"), choices: [{ index: 0, delta: {}, finish_reason: "stop", content_filter_results: {} }] },
          "[DONE]"
        )
        const { gateway, two } = yield* setup(() => ({ body: azure }), winner)
        const out = yield* rawStream(gateway)
        expect(two.requests.length).toBe(0)
        expect(out.events.map((e: any) => e.choices[0].delta.content ?? "").join("")).toBe("Teal")
        expect(out.events.at(-1).choices[0].finish_reason).toBe("stop")
      })
    )
  })
})
