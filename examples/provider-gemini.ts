/**
 * The Gemini adapter against the in-process mock server: the wire request
 * (roles user/model, systemInstruction, the key in x-goog-api-key), a
 * streamed answer, and Gemini's own failures: RESOURCE_EXHAUSTED with its
 * RetryInfo delay, a SAFETY finish, a blocked prompt.
 *
 * Run: npm run example -- provider-gemini
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Duration, Effect, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as MockServer from "../src/testing/MockServer.js"

const conversation: Chat.ChatRequest = {
  messages: [
    { role: "system", content: "Be concise." },
    { role: "user", content: "Hi!" },
    { role: "assistant", content: "Hello! How can I help?" },
    { role: "user", content: "Name a prime." }
  ]
}

const program = Effect.gen(function* () {
  const server = yield* MockServer.make({ reply: { text: "Seven is prime.", usage: { inputTokens: 17, outputTokens: 4 } } })
  const model = yield* Gemini.make({
    model: "gemini-2.5-flash",
    apiKey: Redacted.make("AIza-demo"),
    baseUrl: server.baseUrls.gemini,
    timeouts: { connect: "2 seconds", firstToken: "2 seconds", idle: "1 second" }
  })

  const chunks = yield* Stream.runCollect(model.stream(conversation))
  for (const chunk of chunks) yield* Console.log(`chunk: ${JSON.stringify(chunk)}`)

  const sent = server.requests()[0]
  yield* Console.log(`POST ${sent?.path}?alt=${sent?.query.alt}`)
  const body = sent?.body as { contents: Array<{ role: string }>; systemInstruction: unknown }
  yield* Console.log(`roles: ${body.contents.map((c) => c.role).join(", ")}; systemInstruction ${JSON.stringify(body.systemInstruction)}`)
  yield* Console.log(`key in a header: ${sent?.headers["x-goog-api-key"] !== undefined}, in the URL: ${JSON.stringify(sent?.query).includes("AIza")}`)

  server.enqueue(MockServer.status(429, { retryAfter: { seconds: 30 } }))
  const limited = yield* Effect.flip(model.complete(conversation))
  if (limited._tag === "RateLimited" && limited.retryAfter) {
    yield* Console.log(`RESOURCE_EXHAUSTED: ${limited._tag}, retry after ${Duration.format(limited.retryAfter)}`)
  }

  server.enqueue(MockServer.reply({ text: "Partial", finishReason: "content_filter" }), MockServer.refuse)
  const unsafe = yield* Effect.flip(model.complete(conversation))
  const blocked = yield* Effect.flip(model.complete(conversation))
  for (const error of [unsafe, blocked]) yield* Console.log(`${error._tag}: ${error.message}`)
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
