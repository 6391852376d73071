/**
 * The router refuses a request that every provider would refuse (no
 * messages, a temperature out of range, a `maxTokens` that is no positive
 * whole number) before any call: a typed `InvalidRequest` from `"router"`
 * that names the field, with no upstream call, no event, and nothing
 * recorded in any breaker, health window or retry budget.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse } from "../src/llm/Chat.js"
import { Chat } from "../src/llm/index.js"
import type { Service } from "../src/llm/LanguageModel.js"
import type { ProviderError } from "../src/llm/ProviderError.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import { failedWith, succeeded } from "./support/virtual.js"

const response = (name: string): ChatResponse => ({
  id: `${name}-1`,
  provider: name,
  model: `${name}-m`,
  text: "ok",
  toolCalls: [],
  finishReason: "stop",
  usage: { inputTokens: 10, outputTokens: 5 }
})

/** A model that answers every call and counts them. */
const counting = (name: string): Service<ProviderError> & { readonly calls: () => number } => {
  let calls = 0
  return {
    info: { provider: name, model: `${name}-m`, contextWindow: 100_000, maxOutputTokens: 8_192, price: { input: 1, output: 2 } },
    calls: () => calls,
    complete: () => Effect.sync(() => (++calls, response(name))),
    stream: () => Stream.suspend(() => (++calls, Stream.make<Array<ChatChunk>>({ _tag: "TextDelta", text: "ok" }, { _tag: "Finish", reason: "stop" })))
  }
}

const setup = Effect.gen(function* () {
  const a = counting("a")
  const b = counting("b")
  const router = yield* Router.make({
    targets: { a: { model: a }, b: { model: b } },
    chains: { default: ["a", "b"] },
    policy: { retry: { maxAttempts: 2 } }
  })
  const events: Array<RouterEvent> = []
  yield* router.listen((event) => {
    events.push(event)
  })
  return { router, events, calls: () => a.calls() + b.calls() }
})

const prompt = Chat.prompt("hi")

/** Requests no provider takes, the field each must be refused for, and the words its message must hold. */
const invalid: ReadonlyArray<readonly [string, ChatRequest, string, RegExp]> = [
  ["no messages", { messages: [] as unknown as ChatRequest["messages"] }, "messages", /at least one message/],
  ["messages not an array", { messages: undefined as unknown as ChatRequest["messages"] }, "messages", /at least one message/],
  ["a message with an unknown role", { messages: [{ role: "bot", content: "hi" } as unknown as Chat.Message] }, "messages[0].role", /role/],
  ["a negative temperature", { ...prompt, temperature: -0.1 }, "temperature", />= 0/],
  ["a temperature above 2", { ...prompt, temperature: 2.5 }, "temperature", /<= 2/],
  ["a NaN temperature", { ...prompt, temperature: Number.NaN }, "temperature", /NaN/],
  ["an infinite temperature", { ...prompt, temperature: Infinity }, "temperature", /finite number/],
  ["a temperature given as text", { ...prompt, temperature: "0.5" as unknown as number }, "temperature", /got "0\.5"/],
  ["a negative topP", { ...prompt, topP: -1 }, "topP", />= 0/],
  ["a topP above 1", { ...prompt, topP: 1.5 }, "topP", /<= 1/],
  ["a zero maxTokens", { ...prompt, maxTokens: 0 }, "maxTokens", />= 1/],
  ["a negative maxTokens", { ...prompt, maxTokens: -5 }, "maxTokens", />= 1/],
  ["a fractional maxTokens", { ...prompt, maxTokens: 1.5 }, "maxTokens", /integer/],
  ["a NaN maxTokens", { ...prompt, maxTokens: Number.NaN }, "maxTokens", /integer/],
  ["a maxTokens given as text", { ...prompt, maxTokens: "16" as unknown as number }, "maxTokens", /got "16"/],
  ["a fractional seed", { ...prompt, seed: 1.5 }, "seed", /integer/],
  ["a presencePenalty below -2", { ...prompt, presencePenalty: -2.5 }, "presencePenalty", />= -2/],
  ["a frequencyPenalty above 2", { ...prompt, frequencyPenalty: 3 }, "frequencyPenalty", /<= 2/],
  ["a zero topK", { ...prompt, topK: 0 }, "topK", />= 1/],
  ["a fractional topK", { ...prompt, topK: 2.5 }, "topK", /integer/],
  [
    "an anthropic beta that is no plain name",
    { ...prompt, providerOptions: { anthropic: { betas: ["a", "b,\r\nx-evil: 1"] } } },
    "providerOptions.anthropic.betas[1]",
    /beta's name/
  ],
  [
    "a safety setting without its threshold",
    { ...prompt, providerOptions: { gemini: { safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT" } as unknown as typeof Chat.SafetySetting.Type] } } },
    "providerOptions.gemini.safetySettings[0]",
    /threshold/
  ],
  ["a toolChoice without tools", { ...prompt, toolChoice: "required" }, "toolChoice", /tools/],
  [
    "a toolChoice naming no tool of the request",
    { ...prompt, tools: [{ name: "get_weather", parameters: {} }], toolChoice: { name: "get_time" } },
    "toolChoice.name",
    /get_time/
  ],
  [
    // Claude's "Tool names must be unique", Gemini's "Duplicate function declaration" (found by a third diff review:
    // the gateway refused it, the library not)
    "a tool named twice",
    { ...prompt, tools: [{ name: "get_weather", parameters: {} }, { name: "get_weather", parameters: { type: "object" } }] },
    "tools",
    /'get_weather' is defined twice/
  ]
]

describe("Router: requests every provider would refuse are refused up front", () => {
  for (const [what, request, field, words] of invalid) {
    it.scoped(`complete refuses ${what}, naming '${field}'`, () =>
      Effect.gen(function* () {
        const { router, events, calls } = yield* setup
        const before = yield* router.status
        const error = failedWith(yield* Effect.exit(router.complete(request)))
        expect(error._tag).toBe("InvalidRequest")
        if (error._tag !== "InvalidRequest") return
        expect(error.provider).toBe("router")
        expect(error.message).toContain(`'${field}'`)
        expect(error.message).toMatch(words)
        expect(calls()).toBe(0)
        expect(events).toEqual([])
        expect(yield* router.status).toEqual(before)
      })
    )

    it.scoped(`stream refuses ${what}, naming '${field}'`, () =>
      Effect.gen(function* () {
        const { router, events, calls } = yield* setup
        const error = failedWith(yield* Effect.exit(router.stream(request)))
        expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
        expect(error.message).toContain(`'${field}'`)
        expect(calls()).toBe(0)
        expect(events).toEqual([])
      })
    )
  }

  it.scoped("the languageModel refuses them too, naming its chain", () =>
    Effect.gen(function* () {
      const { router, calls } = yield* setup
      const exit = yield* Effect.exit(router.languageModel("default").complete({ ...prompt, temperature: -1 }))
      expect(failedWith(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router", model: "default" })
      expect(calls()).toBe(0)
    })
  )

  it.scoped("the classifier never sees a request refused", () =>
    Effect.gen(function* () {
      let classified = 0
      const router = yield* Router.make({
        targets: { a: { model: counting("a") } },
        chains: { default: ["a"] },
        classifier: (request) => {
          classified++
          // a classifier may rightly assume the type's promise of a first message
          return request.messages[0].role === "system" ? "default" : undefined
        }
      })
      const exit = yield* Effect.exit(router.complete({ messages: [] as unknown as ChatRequest["messages"] }))
      expect(failedWith(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
      expect(classified).toBe(0)
    })
  )

  it.scoped("the bounds themselves, and what some provider takes, go through", () =>
    Effect.gen(function* () {
      const { router, calls } = yield* setup
      const fine: ReadonlyArray<ChatRequest> = [
        { ...prompt, temperature: 0 },
        { ...prompt, temperature: 2 },
        { ...prompt, topP: 0 },
        { ...prompt, topP: 1 },
        { ...prompt, seed: -7, presencePenalty: -2, frequencyPenalty: 2, topK: 1 },
        {
          ...prompt,
          providerOptions: {
            anthropic: { betas: ["context-1m-2025-08-07"] },
            gemini: { safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }] }
          }
        },
        { ...prompt, maxTokens: 1 },
        // past any model's output window: the router asks each target for at most its model's own
        { ...prompt, maxTokens: 10_000_000 },
        { ...prompt, stop: ["a", "b", "c", "d", "e", "f"] },
        { ...prompt, toolChoice: "none" },
        { ...prompt, tools: [{ name: "get_weather", parameters: {} }], toolChoice: { name: "get_weather" } },
        { messages: [{ role: "assistant", toolCalls: [{ id: "1", name: "f", arguments: "{}" }] }, { role: "tool", toolCallId: "1", content: "{}" }] }
      ]
      for (const request of fine) {
        const exit = yield* Effect.exit(router.complete(request))
        expect(Exit.isSuccess(exit), JSON.stringify(request)).toBe(true)
      }
      expect(calls()).toBe(fine.length)
      const started = succeeded(yield* Effect.exit(Effect.scoped(router.stream({ ...prompt, temperature: 1 }))))
      expect(started.meta.target).toBe("a")
    })
  )
})
