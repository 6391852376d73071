/**
 * Audit: the Gemini adapter against exact bytes the Generative Language API
 * sends.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Redacted, Stream } from "effect"
import * as Chat from "../../src/llm/Chat.js"
import { isRetriable } from "../../src/llm/ProviderError.js"
import * as Gemini from "../../src/providers/Gemini.js"
import { json, rawUpstream, sse } from "./support.js"

const key = Redacted.make("AIza-audit")
const request = Chat.prompt("Split this man page into blocks.")

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("audit: Gemini wire", (it) => {
  describe("error statuses", () => {
    // google-gemini/gemini-cli#20309: "It happens when there is a heavy usage", reason backendError
    const cancelled = [
      {
        error: {
          code: 499,
          message: "The operation was cancelled.",
          errors: [{ message: "The operation was cancelled.", domain: "global", reason: "backendError" }],
          status: "CANCELLED"
        }
      }
    ]

    it.scoped("a 499 CANCELLED (a backend error under load) is retriable, not InvalidRequest that ends the chain", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => json(499, cancelled[0]))
        const model = yield* Gemini.make({ model: "gemini-2.5-pro", apiKey: key, baseUrl: upstream.baseUrl })
        const error = yield* Effect.flip(model.complete(request))
        expect(error._tag).not.toBe("InvalidRequest")
        expect(isRetriable(error)).toBe(true)
      }))

    it.scoped("the same 499 on a stream (its array body) is retriable too", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => json(499, cancelled))
        const model = yield* Gemini.make({ model: "gemini-2.5-pro", apiKey: key, baseUrl: upstream.baseUrl })
        const error = yield* Effect.flip(Stream.runDrain(model.stream(request)))
        expect(error._tag).not.toBe("InvalidRequest")
        expect(isRetriable(error)).toBe(true)
      }))
  })

  describe("empty answers", () => {
    // BerriAI/litellm#24442 (raw response), google-gemini/deprecated-generative-ai-python#744 ("Rerunning the same
    // prompt multiple times might eventually return the expected output")
    const empty = {
      candidates: [{ content: { role: "model" }, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 3130, totalTokenCount: 3130, promptTokensDetails: [{ modality: "TEXT", tokenCount: 3130 }] },
      modelVersion: "gemini-2.5-flash-lite",
      responseId: "8ZfBaYu9LarVz7IPlJG7gQU"
    }

    it.scoped("finishReason STOP with no parts at all is a retriable failure, not an empty success (as OTHER with nothing is)", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => json(200, empty))
        const model = yield* Gemini.make({ model: "gemini-2.5-flash-lite", apiKey: key, baseUrl: upstream.baseUrl })
        const result = yield* Effect.either(model.complete(request))
        expect(result._tag === "Left" ? result.left._tag : `Right(text=${JSON.stringify(result.right.text)})`).toBe("MalformedResponse")
      }))

    it.scoped("the same empty STOP as the one event of a stream is a retriable failure, not an empty answer", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => ({ body: sse(empty) }))
        const model = yield* Gemini.make({ model: "gemini-2.5-flash-lite", apiKey: key, baseUrl: upstream.baseUrl })
        const result = yield* Effect.either(Stream.runCollect(model.stream(request)))
        expect(result._tag === "Left" ? result.left._tag : JSON.stringify(Chunk.toReadonlyArray(result.right))).toBe("MalformedResponse")
      }))
  })
})
