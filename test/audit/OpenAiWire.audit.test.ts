/**
 * Audit: the OpenAI Chat Completions adapter against exact bytes real
 * OpenAI-compatible servers send (Google's compatibility endpoint,
 * DeepSeek, Groq).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Chat from "../../src/llm/Chat.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import type * as Http from "node:http"
import { listen } from "../support/servers.js"

const key = Redacted.make("sk-audit")
const request = Chat.prompt("What is the weather in Paris?")

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("audit: OpenAI wire", (it) => {
  describe("DeepSeek's keep-alive lines", () => {
    // api-docs.deepseek.com "Rate Limit": under load "your HTTP request will remain connected, and you may continuously
    // receive ... Non-streaming requests: Continuously return empty lines"; the connection closes after 30 minutes
    it.scoped("a JSON answer whose body trickles keep-alive empty lines, never silent for as long as `idle`, is read, not timed out", () =>
      Effect.gen(function* () {
        const port = yield* listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
          req.resume()
          req.on("end", () => {
            res.writeHead(200, { "content-type": "application/json" })
            let lines = 0
            const timer = setInterval(() => {
              if (lines++ < 10) return void res.write("\n")
              clearInterval(timer)
              res.end(JSON.stringify({
                id: "d",
                object: "chat.completion",
                model: "deepseek-reasoner",
                choices: [{ index: 0, message: { role: "assistant", content: "Sunny." }, finish_reason: "stop" }],
                usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
              }))
            }, 200)
            res.on("close", () => clearInterval(timer))
          })
        })
        const model = yield* OpenAi.make({
          model: "deepseek-reasoner",
          apiKey: key,
          baseUrl: `http://127.0.0.1:${port}/v1`,
          provider: "deepseek",
          // no gap between the body's bytes comes near `idle`; the whole answer takes about 2.2 seconds
          timeouts: { connect: "10 seconds", firstToken: "10 seconds", idle: "1 second" }
        })
        const result = yield* Effect.either(model.complete(request))
        expect(result._tag === "Left" ? `${result.left._tag} ${result.left.message}` : result.right.text).toBe("Sunny.")
      }))
  })
})
