/**
 * JSON mode and structured outputs across providers: a request that asks
 * for JSON goes only to models that can be held to it, so a fallback never
 * turns it into prose.
 *
 *   npm run example -- json-answers
 *
 * 1. A chain of a Claude-like model (structured outputs, no JSON mode) and
 *    two that have both: a schema goes to Claude, JSON mode passes over it,
 *    prose goes to it as before.
 * 2. Claude is down: the structured request falls back to the next model
 *    that can follow the schema, and the answer decodes with an
 *    `effect/Schema` of the same shape.
 * 3. A chain where no model can give the format fails at once, naming each
 *    model as `unsupported-format`, and calls nothing.
 */
import { Console, Duration, Effect, JSONSchema, Schema } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { check, metaLine, runVirtual } from "./internal/show.js"

/** The answer we want, as a schema: its JSON Schema goes to the model, the same schema decodes the reply. */
const Capital = Schema.Struct({ country: Schema.String, capital: Schema.String, population: Schema.Int })

const structured: Chat.ChatRequest["responseFormat"] = {
  type: "json_schema",
  name: "capital",
  schema: JSONSchema.make(Capital) as unknown as Record<string, unknown>,
  strict: true
}

const CLAUDE_DOWN = { from: Duration.minutes(10), to: Duration.minutes(20) }

const makeRouter = Effect.gen(function* () {
  const sonnet = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    // as Anthropic's adapter knows it: structured outputs, no JSON mode
    info: { responseFormats: ["json_schema"] },
    faults: [{ ...CLAUDE_DOWN, status: 529 }]
  })
  const mini = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
  const flash = yield* Simulated.make({ provider: "gemini", model: "gemini-2.5-flash" })
  return yield* Router.make({
    targets: { sonnet: { model: sonnet }, mini: { model: mini }, flash: { model: flash } },
    chains: { default: ["sonnet", "mini", "flash"], claude_only: ["sonnet"] },
    policy: { retry: { maxAttempts: 1 } }
  })
})

const showRouting = (router: Router.Service) =>
  Effect.gen(function* () {
    yield* Console.log("1. one chain, three kinds of answer:")
    const schema = yield* router.complete(Chat.prompt("The capital of France?", { responseFormat: structured }))
    yield* Console.log(`   json_schema  ${metaLine(schema.meta)}`)
    const object = yield* router.complete(Chat.prompt("The capital of France?", { responseFormat: { type: "json_object" } }))
    yield* Console.log(`   json_object  ${metaLine(object.meta)}`)
    const prose = yield* router.complete(Chat.prompt("The capital of France?"))
    yield* Console.log(`   prose        ${metaLine(prose.meta)}`)
    yield* check(schema.meta.target === "sonnet", "Claude follows a schema")
    yield* check(object.meta.target === "mini" && object.meta.fallbacks === 0, "JSON mode passes over Claude without a fallback")
    yield* check(prose.meta.target === "sonnet", "prose goes to the primary")
  })

const showFallback = (router: Router.Service) =>
  Effect.gen(function* () {
    yield* Effect.sleep(CLAUDE_DOWN.from)
    yield* Console.log("\n2. Claude is down (529): the structured request falls back, and still decodes")
    const { response, meta } = yield* router.complete(Chat.prompt("The capital of France?", { responseFormat: structured }))
    yield* Console.log(`   ${metaLine(meta)}`)
    const capital = yield* Schema.decodeUnknown(Schema.parseJson(Capital))(response.text)
    yield* Console.log(`   decoded: ${JSON.stringify(capital)}`)
    yield* check(meta.target === "mini" && meta.fallbacks === 1, "the request falls back to the next model that can")
  })

const showNoneCan = (router: Router.Service) =>
  Effect.gen(function* () {
    yield* Effect.sleep(CLAUDE_DOWN.to)
    yield* Console.log("\n3. JSON mode on a chain of Claude alone:")
    const error = yield* Effect.flip(
      router.complete(Chat.prompt("The capital of France?", { responseFormat: { type: "json_object" } }), { chain: "claude_only" })
    )
    const reasons = error._tag === "ChainExhausted" ? error.attempts.map((a) => (a.error?._tag === "Rejected" ? a.error.reason : "")) : []
    yield* Console.log(`   ${error._tag}: ${error.message}`)
    yield* check(error._tag === "ChainExhausted" && reasons.join() === "unsupported-format", "no model can: each is named")
  })

const program = Effect.gen(function* () {
  const router = yield* makeRouter
  yield* showRouting(router)
  yield* showFallback(router)
  yield* showNoneCan(router)
}).pipe(Effect.scoped)

runVirtual(program)
