/**
 * Streaming with fallback: invisible before the first token, explicit after.
 *
 *   npm run example -- streaming
 *
 * Pattern: the hand-written `stream_with_fallback` ("you can't switch models
 * mid-stream, but you can detect failure before any tokens arrive: fallback
 * is seamless to the consumer").
 *
 * 1. The primary fails before its first token (529): the router falls back
 *    before `router.stream` returns, so the consumer just sees tokens, from
 *    the backup.
 * 2. The primary's stream is cut after 6 tokens (connection reset). Content
 *    has reached the consumer, so the router does not splice another model's
 *    answer onto it: the stream fails with a typed `StreamInterrupted`
 *    holding the partial text, and the backup is never called.
 * 3. The same cut with the opt-in `continueStreams: true`: the router asks
 *    the backup to continue from the partial text and the stream goes on;
 *    `meta.continued` records that two models wrote the answer.
 *
 * Tokens are printed as they arrive (virtual time, 40 ms a token).
 */
import { Console, Effect, Either, Stream } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { attemptsLine, check, metaLine, runVirtual } from "./internal/show.js"

const STORY = "Once upon a time a small router kept every answer flowing while its providers failed one by one."

/** The story, or, asked to continue a partial answer, the rest of it (as a model would). */
const storyteller = (request: Chat.ChatRequest): string => {
  const partial = request.messages.find((m) => m.role === "assistant")
  return partial === undefined ? STORY : STORY.slice((partial.content ?? "").length)
}

const model = (provider: string, name: string, faults: ReadonlyArray<Simulated.FaultInput>) =>
  Simulated.make({
    provider,
    model: name,
    latency: "300 millis",
    tokenDelay: "40 millis",
    reply: storyteller,
    info: { price: { input: 3, output: 15 } },
    faults
  })

/** Streams a request through the router's default chain, printing each token as it arrives. */
const streamToStdout = (router: Router.Service) =>
  Effect.scoped(
    Effect.gen(function* () {
      const started = yield* router.stream(Chat.prompt("Tell me a story"))
      yield* Console.log(`   first token from ${started.meta.target}; attempts so far: ${attemptsLine(started.meta.attempts)}`)
      process.stdout.write("   > ")
      const text: Array<string> = []
      const result = yield* started.chunks.pipe(
        Stream.runForEach((chunk) =>
          chunk._tag === "TextDelta"
            ? Effect.sync(() => {
                text.push(chunk.text)
                process.stdout.write(chunk.text)
              })
            : Effect.void
        ),
        Effect.either
      )
      process.stdout.write("\n")
      return { started, result, text: text.join(""), done: yield* started.done }
    })
  )

const routerOver = (primaryFaults: ReadonlyArray<Simulated.FaultInput>, continueStreams: boolean) =>
  Effect.gen(function* () {
    const primary = yield* model("anthropic", "claude-sonnet-4-5", primaryFaults)
    const backup = yield* model("openai", "gpt-4.1", [])
    const router = yield* Router.make({
      targets: { primary: { model: primary }, backup: { model: backup } },
      chains: { default: { targets: ["primary", "backup"], continueStreams } },
      policy: { retry: { maxAttempts: 1 } }
    })
    return { router, primary, backup }
  })

/** 1. Down before the first token: an invisible fallback. */
const beforeFirstToken = Effect.gen(function* () {
  yield* Console.log("1. the primary answers 529 before its first token:")
  const { router } = yield* routerOver([{ status: 529 }], false)
  const { result, text, done } = yield* streamToStdout(router)
  yield* Console.log(`   done: ${metaLine(done)}, ${done.usage.outputTokens} output tokens`)
  yield* check(Either.isRight(result) && text === STORY, "the consumer gets the whole story, without an error")
  yield* check(done.target === "backup" && done.fallbacks === 1, "the backup served it")
})

/** 2. Cut after 6 tokens: a typed StreamInterrupted with the partial text. */
const afterContent = Effect.gen(function* () {
  yield* Console.log("\n2. the primary's stream is cut after 6 tokens (continueStreams off, the default):")
  const { router, backup } = yield* routerOver([{ cutAfterTokens: 6 }], false)
  const { result } = yield* streamToStdout(router)
  if (Either.isRight(result)) return yield* check(false, "a cut stream should fail with StreamInterrupted")
  const error = result.left
  yield* Console.log(`   ${error._tag} from ${error.provider}/${error.model}: cause ${error.cause._tag}`)
  yield* Console.log(`   partial text: ${JSON.stringify(error.partialText)}`)
  const backupCalls = (yield* backup.stats).calls
  yield* Console.log(`   backup calls: ${backupCalls} (no silent splicing of two models' answers)`)
  yield* check(error.partialText === "Once upon a time a small", "the error carries the 6 tokens sent")
  yield* check(backupCalls === 0, "the backup is not called after content was sent")
})

/** 3. The same cut with continueStreams: the backup continues the answer. */
const continued = Effect.gen(function* () {
  yield* Console.log("\n3. the same cut with continueStreams: true:")
  const { router, backup } = yield* routerOver([{ cutAfterTokens: 6 }], true)
  const { result, text, done } = yield* streamToStdout(router)
  const sent = (yield* backup.calls)[0]
  yield* Console.log(`   continued on the backup: meta.continued = ${done.continued === true}; it was asked to go on from ${JSON.stringify(text.slice(0, 24))}`)
  yield* check(Either.isRight(result) && text === STORY, "the consumer gets the whole story")
  yield* check(done.continued === true && sent !== undefined, "the backup continued the stream")
})

const program = Effect.gen(function* () {
  yield* beforeFirstToken
  yield* afterContent
  yield* continued
}).pipe(Effect.scoped)

runVirtual(program)
