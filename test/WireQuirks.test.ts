/**
 * The OpenAI Chat Completions adapter against the exact bytes OpenAI-compatible
 * servers send where they part from OpenAI (Azure, Google's compatibility
 * endpoint, Mistral, Groq, DeepSeek, vLLM): each quirk read for what it
 * means, not as a malformed answer or a request to fail everywhere.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import { json, rawUpstream, sse } from "./support/raw.js"

const key = Redacted.make("sk-audit")
const request = Chat.prompt("What is the weather in Paris?")

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("OpenAI wire quirks", (it) => {
  describe("stream_options", () => {
    // Pythagora-io/gpt-pilot#1022 (Azure's exact body), FlowiseAI/Flowise#2866 (Fireworks), modelscope/ms-agent#489 (vLLM)
    const azureRefusal = json(400, {
      error: {
        message:
          "Unrecognized request argument supplied: stream_options. Please contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions.",
        type: "invalid_request_error",
        param: null,
        code: null
      }
    })
    const fireworksRefusal = json(400, {
      error: {
        object: "error",
        type: "invalid_request_error",
        message:
          "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted', 'input': {'include_usage': True}}]"
      }
    })
    const sunny = sse(
      { choices: [{ index: 0, delta: { role: "assistant", content: "Sunny." }, finish_reason: null }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      "[DONE]"
    )

    it.scoped("a server that refuses stream_options (Azure before 2024-09) is asked once more without it, and later streams leave it out", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream((_, body) => (body?.stream_options !== undefined ? azureRefusal : { body: sunny }))
        const model = yield* OpenAi.make({ model: "gpt-4o", apiKey: key, baseUrl: upstream.baseUrl, provider: "azure" })
        const result = yield* Effect.either(Stream.runCollect(model.stream(request)))
        expect(result._tag === "Left" ? result.left._tag : "streamed").toBe("streamed")
        const chunks = result._tag === "Right" ? Chunk.toReadonlyArray(result.right) : []
        // no usage came: none is made up
        expect(chunks).toEqual([{ _tag: "TextDelta", text: "Sunny." }, { _tag: "Finish", reason: "stop" }])
        expect(upstream.requests.map((r) => (r.body as { stream_options?: unknown }).stream_options !== undefined)).toEqual([true, false])
        yield* Stream.runDrain(model.stream(request))
        expect(upstream.requests).toHaveLength(3)
        expect((upstream.requests[2]?.body as Record<string, unknown>)["stream_options"]).toBeUndefined()
        expect((upstream.requests[2]?.body as Record<string, unknown>)["stream"]).toBe(true)
      }))

    it.scoped("pydantic's refusal naming stream_options (Fireworks, old vLLM) is one too", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream((_, body) => (body?.stream_options !== undefined ? fireworksRefusal : { body: sunny }))
        const model = yield* OpenAi.make({ model: "accounts/fireworks/models/llama-v3p1-8b-instruct", apiKey: key, baseUrl: upstream.baseUrl, provider: "fireworks" })
        const text = Chunk.toReadonlyArray(yield* Stream.runCollect(model.stream(request)))
          .flatMap((c) => (c._tag === "TextDelta" ? [c.text] : []))
          .join("")
        expect(text).toBe("Sunny.")
        expect(upstream.requests).toHaveLength(2)
      }))

    it.scoped("another 400 is asked once, and stream_options stays in later streams", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() =>
          json(400, { error: { message: "Unrecognized request argument supplied: logit_bias", type: "invalid_request_error", param: null, code: null } })
        )
        const model = yield* OpenAi.make({ model: "gpt-4o", apiKey: key, baseUrl: upstream.baseUrl, provider: "azure" })
        const error = yield* Effect.flip(Stream.runDrain(model.stream(request)))
        expect(error._tag).toBe("InvalidRequest")
        yield* Effect.flip(Stream.runDrain(model.stream(request)))
        expect(upstream.requests.map((r) => (r.body as { stream_options?: unknown }).stream_options)).toEqual([
          { include_usage: true },
          { include_usage: true }
        ])
      }))
  })
})
