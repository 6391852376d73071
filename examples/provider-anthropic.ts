/**
 * The Anthropic adapter against the in-process mock server: the wire request
 * it sends (system lifted out, max_tokens always set), a streamed tool call,
 * and Anthropic's own failures: HTTP 529, an `overloaded_error` in the middle
 * of a stream, "prompt is too long".
 *
 * Run: npm run example -- provider-anthropic
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as MockServer from "../src/testing/MockServer.js"

const ask = Chat.prompt("What's the weather in Paris?", {
  system: "You can call tools.",
  tools: [{ name: "weather", description: "Current weather", parameters: { type: "object" } }]
})

const program = Effect.gen(function* () {
  const server = yield* MockServer.make({
    reply: { text: "Let me check.", toolCalls: [{ id: "toolu_01", name: "weather", arguments: { city: "Paris" } }] }
  })
  const model = yield* Anthropic.make({
    model: "claude-haiku-4-5",
    apiKey: Redacted.make("sk-ant-demo"),
    baseUrl: server.baseUrls.anthropic,
    timeouts: { connect: "2 seconds", firstToken: "2 seconds", idle: "1 second" }
  })

  const answer = yield* Chat.collect(model.stream(ask), { id: "demo", provider: "anthropic", model: "claude-haiku-4-5" })
  yield* Console.log(`text: "${answer.text}", finish: ${answer.finishReason}`)
  yield* Console.log(`tool calls: ${JSON.stringify(answer.toolCalls)}`)

  const sent = server.requests()[0]
  const body = sent?.body as { system?: string; max_tokens?: number; tools?: unknown }
  yield* Console.log(`sent: system ${JSON.stringify(body.system)}, max_tokens ${body.max_tokens}`)
  yield* Console.log(`headers: anthropic-version ${sent?.headers["anthropic-version"]}`)

  server.enqueue(MockServer.status(529))
  const overloaded = yield* Effect.flip(model.complete(ask))
  yield* Console.log(`HTTP 529: ${overloaded._tag} (status ${overloaded.status})`)

  server.enqueue(MockServer.streamError(4))
  const seen: Array<string> = []
  const midStream = yield* Effect.flip(
    Stream.runForEach(model.stream(ask), (chunk) =>
      Effect.sync(() => {
        if (chunk._tag === "TextDelta") seen.push(chunk.text)
      })
    )
  )
  yield* Console.log(`overloaded_error after ${JSON.stringify(seen.join(""))}: ${midStream._tag}`)

  server.enqueue(MockServer.contextLengthExceeded)
  const tooLong = yield* Effect.flip(model.complete(ask))
  if (tooLong._tag === "ContextLengthExceeded") {
    yield* Console.log(`too long: ${tooLong.requestedTokens} tokens > ${tooLong.contextWindow} window`)
  }
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
