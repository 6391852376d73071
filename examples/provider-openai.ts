/**
 * The OpenAI adapter against the in-process mock server: a completion, a
 * stream, and the typed errors a real outage would give (a 429 with
 * Retry-After, a 503 retried away, a stream cut before `data: [DONE]`).
 * Over `UndiciHttpClient`, the HTTP client `llm-failover serve` uses (any
 * `HttpClient` layer works: `NodeHttpClient.layerUndici`, ...).
 *
 * Run: npm run example -- provider-openai
 */
import { Console, Duration, Effect, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import { isRetriable } from "../src/llm/ProviderError.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as MockServer from "../src/testing/MockServer.js"

const question = Chat.prompt("What is the capital of France?", { system: "Answer in one sentence.", maxTokens: 50 })

const program = Effect.gen(function* () {
  const server = yield* MockServer.make({
    reply: { text: "The capital of France is Paris.", usage: { inputTokens: 21, outputTokens: 8 } },
    tokenDelay: "5 millis"
  })
  // any OpenAI-compatible server works the same way: only baseUrl changes
  const model = yield* OpenAi.make({
    model: "gpt-4.1-mini",
    apiKey: Redacted.make("sk-demo-key"),
    baseUrl: server.baseUrls.openai,
    timeouts: { connect: "2 seconds", firstToken: "2 seconds", idle: "1 second" }
  })
  yield* Console.log(`model: ${model.info.model}, window ${model.info.contextWindow} tokens, $${model.info.price.input}/M in`)

  const response = yield* model.complete(question)
  yield* Console.log(`complete: "${response.text}" (${response.usage.inputTokens} in, ${response.usage.outputTokens} out)`)

  const pieces: Array<string> = []
  yield* model.stream(question).pipe(
    Stream.runForEach((chunk) =>
      chunk._tag === "TextDelta" ? Effect.sync(() => pieces.push(chunk.text)) : Console.log(`stream: ${chunk._tag}`)
    )
  )
  yield* Console.log(`stream text: ${JSON.stringify(pieces)}`)

  const sent = server.requests()[1]?.body as { stream_options?: unknown }
  yield* Console.log(`the stream asked for: stream_options ${JSON.stringify(sent.stream_options)}`)

  server.enqueue(MockServer.status(429, { retryAfter: { seconds: 2 } }))
  const limited = yield* Effect.flip(model.complete(question))
  const wait = limited._tag === "RateLimited" && limited.retryAfter ? Duration.format(limited.retryAfter) : "none"
  yield* Console.log(`429: ${limited._tag}, retriable ${isRetriable(limited)}, retry after ${wait}`)

  server.enqueue(MockServer.status(503), MockServer.status(503))
  const before = server.count()
  const retried = yield* model.complete(question).pipe(Effect.retry({ times: 2, while: isRetriable }))
  yield* Console.log(`503 twice, then retried: "${retried.text}" in ${server.count() - before} attempts`)

  server.enqueue(MockServer.truncate())
  const cut = yield* Effect.flip(Stream.runDrain(model.stream(question)))
  yield* Console.log(`stream cut before [DONE]: ${cut._tag}: ${cut.message}`)
}).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
