/**
 * Calls the real provider APIs whose key is in the environment
 * (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY), streaming one short
 * answer from each; a provider without its key is skipped with a message.
 * With no key at all it calls nothing and exits 0, so it runs anywhere.
 * A failed call prints its typed error (the key never shows in it).
 *
 * Run: OPENAI_API_KEY=sk-... npm run example -- provider-real
 * Models: OPENAI_MODEL, ANTHROPIC_MODEL, GEMINI_MODEL override the defaults.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Option, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as LanguageModel from "../src/llm/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"

const timeouts = { connect: "30 seconds", firstToken: "30 seconds", idle: "15 seconds" } as const

interface Target {
  readonly variable: string
  readonly layer: (model: string) => Layer.Layer<LanguageModel.LanguageModel, unknown>
  readonly modelVariable: string
  readonly defaultModel: string
}

const targets: ReadonlyArray<Target> = [
  {
    variable: "OPENAI_API_KEY",
    modelVariable: "OPENAI_MODEL",
    defaultModel: "gpt-4.1-mini",
    layer: (model) => OpenAi.layerConfig({ model, timeouts }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  },
  {
    variable: "ANTHROPIC_API_KEY",
    modelVariable: "ANTHROPIC_MODEL",
    defaultModel: "claude-haiku-4-5",
    layer: (model) => Anthropic.layerConfig({ model, timeouts }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  },
  {
    variable: "GEMINI_API_KEY",
    modelVariable: "GEMINI_MODEL",
    defaultModel: "gemini-2.5-flash",
    layer: (model) => Gemini.layerConfig({ model, timeouts }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  }
]

const question = Chat.prompt("Reply with exactly: hello from a real provider", { maxTokens: 20 })

const call = (target: Target) =>
  Effect.gen(function* () {
    const key = yield* Config.option(Config.redacted(target.variable))
    if (Option.isNone(key)) return yield* Console.log(`skipped: ${target.variable} not set`)
    const model = yield* Config.string(target.modelVariable).pipe(Config.withDefault(target.defaultModel))
    const text: Array<string> = []
    const outcome = yield* LanguageModel.stream(question).pipe(
      Stream.runForEach((chunk) =>
        chunk._tag === "TextDelta"
          ? Effect.sync(() => text.push(chunk.text))
          : chunk._tag === "Usage"
            ? Console.log(`  usage: ${chunk.usage.inputTokens} in, ${chunk.usage.outputTokens} out`)
            : Effect.void
      ),
      Effect.provide(target.layer(model)),
      Effect.timeout("60 seconds"),
      Effect.either
    )
    if (outcome._tag === "Right") return yield* Console.log(`${model}: ${text.join("")}`)
    const error = outcome.left
    const described =
      typeof error === "object" && error !== null && "_tag" in error && "message" in error
        ? `${String(error._tag)}: ${String(error.message)}`
        : String(error)
    yield* Console.log(`${model} failed: ${described}`)
  })

Effect.runPromise(Effect.forEach(targets, call, { discard: true })).catch((error) => {
  console.error(error)
  process.exit(1)
})
