/**
 * The OpenAI Chat Completions adapter against the exact bytes OpenAI-compatible
 * servers send where they part from OpenAI (Azure, Google's compatibility
 * endpoint, Mistral, Groq, DeepSeek, vLLM): each quirk read for what it
 * means, not as a malformed answer or a request to fail everywhere.
 */
import { NodeHttpClient } from "@effect/platform-node"
import type * as Http from "node:http"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Duration, Effect, Redacted, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as CompleteWithin from "../src/llm/internal/completeWithin.js"
import { isRetriable } from "../src/llm/ProviderError.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"
import { json, rawUpstream, sse } from "./support/raw.js"
import { listen } from "./support/servers.js"

const key = Redacted.make("sk-audit")
const request = Chat.prompt("What is the weather in Paris?")

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("OpenAI wire quirks", (it) => {
  describe("Google's OpenAI-compatible endpoint (generativelanguage.googleapis.com/v1beta/openai)", () => {
    // measured chunk in THU-MAIC/OpenMAIC#1556: tool_calls[] without `index`
    const googleToolStream = sse(
      {
        choices: [
          {
            delta: {
              role: "assistant",
              tool_calls: [
                {
                  function: { arguments: "{\"city\":\"Paris\"}", name: "get_weather" },
                  id: "call_297140",
                  type: "function"
                }
              ]
            },
            index: 0
          }
        ],
        model: "gemini-2.5-flash",
        object: "chat.completion.chunk"
      },
      {
        choices: [{ delta: { role: "assistant" }, finish_reason: "stop", index: 0 }],
        model: "gemini-2.5-flash",
        object: "chat.completion.chunk",
        usage: { completion_tokens: 5, prompt_tokens: 20, total_tokens: 25 }
      },
      "[DONE]"
    )

    it.scoped("a streamed tool_call delta without `index` is read as a tool call, not a MalformedResponse", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => ({ body: googleToolStream }))
        const model = yield* OpenAi.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrl })
        const result = yield* Effect.either(Stream.runCollect(model.stream(request)))
        expect(result._tag === "Left" ? result.left._tag : "Right").toBe("Right")
        const chunks = result._tag === "Right" ? Chunk.toReadonlyArray(result.right) : []
        expect(chunks.filter((c) => c._tag === "ToolCallDelta")).toEqual([
          { _tag: "ToolCallDelta", index: 0, id: "call_297140", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
        ])
      }))

    it.scoped("a stream that called a tool and finishes with \"stop\" (Google's compat layer) finishes as tool_calls", () =>
      Effect.gen(function* () {
        // the same stream, with the index Google omits added, so only the finish is under test
        const withIndex = googleToolStream.replace("\"tool_calls\":[{", "\"tool_calls\":[{\"index\":0,")
        const upstream = yield* rawUpstream(() => ({ body: withIndex }))
        const model = yield* OpenAi.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrl })
        const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(model.stream(request)))
        expect(chunks.filter((c) => c._tag === "ToolCallDelta")).toHaveLength(1)
        expect(chunks.find((c) => c._tag === "Finish")).toEqual({ _tag: "Finish", reason: "tool_calls" })
      }))
    it.scoped("calls without `index` are told apart by their ids, and a delta without id or index continues the last call", () =>
      Effect.gen(function* () {
        const call = (id: string | undefined, name: string | undefined, args: string) => ({
          choices: [{
            index: 0,
            delta: { tool_calls: [{ ...(id !== undefined ? { id } : {}), type: "function", function: { ...(name !== undefined ? { name } : {}), arguments: args } }] }
          }]
        })
        const upstream = yield* rawUpstream(() => ({
          body: sse(
            call("call_a", "get_weather", "{\"city\":"),
            call(undefined, undefined, "\"Paris\"}"),
            call("call_b", "get_time", "{}"),
            call("call_a", undefined, ""),
            { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
            "[DONE]"
          )
        }))
        const model = yield* OpenAi.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrl })
        const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(model.stream(request)))
        expect(chunks.flatMap((c) => (c._tag === "ToolCallDelta" ? [[c.index, c.arguments]] : []))).toEqual([
          [0, "{\"city\":"],
          [0, "\"Paris\"}"],
          [1, "{}"],
          [0, ""]
        ])
        const response = yield* Chat.collect(model.stream(request), { id: "1", provider: "google", model: "gemini-2.5-flash" })
        expect(response.toolCalls.map((c) => [c.id, c.name, c.arguments])).toEqual([
          ["call_a", "get_weather", "{\"city\":\"Paris\"}"],
          ["call_b", "get_time", "{}"]
        ])
        expect(response.finishReason).toBe("tool_calls")
      }))

    it.scoped("a server's tool-call index of a billion is read as any index: nothing is filled up to it", () =>
      Effect.gen(function* () {
        const delta = (index: number, id: string | undefined, args: string) => ({
          choices: [{ index: 0, delta: { tool_calls: [{ index, ...(id !== undefined ? { id, type: "function", function: { name: "f", arguments: args } } : { function: { arguments: args } }) }] } }]
        })
        const upstream = yield* rawUpstream(() => ({
          body: sse(delta(1_000_000_000, "far", "{"), delta(1_000_000_000, undefined, "}"), delta(0, "near", "{}"), { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }, "[DONE]")
        }))
        const model = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: upstream.baseUrl })
        const response = yield* Chat.collect(model.stream(request), { id: "1", provider: "openai", model: "gpt-4.1-mini" })
        expect(response.toolCalls.map((c) => [c.id, c.arguments])).toEqual([["near", "{}"], ["far", "{}"]])
      }))

    it.scoped("a completion that called a tool and finishes with \"stop\" finishes as tool_calls; one without calls stays stop", () =>
      Effect.gen(function* () {
        let calls = true
        const upstream = yield* rawUpstream(() =>
          json(200, {
            choices: [{
              index: 0,
              message: {
                role: "assistant",
                content: calls ? null : "Sunny.",
                ...(calls ? { tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }] } : {})
              },
              finish_reason: "stop"
            }]
          })
        )
        const model = yield* OpenAi.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstream.baseUrl })
        expect((yield* model.complete(request)).finishReason).toBe("tool_calls")
        calls = false
        expect((yield* model.complete(request)).finishReason).toBe("stop")
      }))
  })

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
  describe("Mistral's content chunk lists", () => {
    // epam/ai-dial-adapter-openai#395, vercel/ai#17779 (Mistral documents `content` as a string or a list of chunks),
    // n8n-io/n8n#37352 (the measured chunk below)
    it.scoped("a streamed delta.content that is a list of thinking and text chunks yields the text, not a MalformedResponse", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => ({
          body: sse(
            { id: "a", object: "chat.completion.chunk", model: "magistral-medium-latest", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
            { id: "a", object: "chat.completion.chunk", model: "magistral-medium-latest", choices: [{ index: 0, delta: { content: [{ type: "thinking", thinking: [{ type: "text", text: "Paris in June..." }], closed: true }] }, finish_reason: null }] },
            { id: "a", object: "chat.completion.chunk", model: "magistral-medium-latest", choices: [{ index: 0, delta: { content: [{ type: "text", text: "Sunny." }] }, finish_reason: null }] },
            { id: "a", object: "chat.completion.chunk", model: "magistral-medium-latest", choices: [{ index: 0, delta: { content: "" }, finish_reason: "stop" }], usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 } },
            "[DONE]"
          )
        }))
        const model = yield* OpenAi.make({ model: "magistral-medium-latest", apiKey: key, baseUrl: upstream.baseUrl, provider: "mistral" })
        const result = yield* Effect.either(Stream.runCollect(model.stream(request)))
        expect(result._tag === "Left" ? result.left._tag : "streamed").toBe("streamed")
        const text = result._tag === "Right"
          ? Chunk.toReadonlyArray(result.right).flatMap((c) => (c._tag === "TextDelta" ? [c.text] : [])).join("")
          : ""
        expect(text).toBe("Sunny.")
      }))
    it.scoped("a completion whose message.content is a list of thinking and text chunks answers the text", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() =>
          json(200, {
            id: "m",
            object: "chat.completion",
            model: "magistral-medium-latest",
            choices: [{
              index: 0,
              message: {
                role: "assistant",
                content: [
                  { type: "thinking", thinking: [{ type: "text", text: "Paris in June..." }] },
                  { type: "text", text: "Sunny" },
                  { type: "text", text: " and warm." }
                ]
              },
              finish_reason: "stop"
            }],
            usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }
          })
        )
        const model = yield* OpenAi.make({ model: "magistral-medium-latest", apiKey: key, baseUrl: upstream.baseUrl, provider: "mistral" })
        const response = yield* model.complete(request)
        expect(response.text).toBe("Sunny and warm.")
        expect(response.finishReason).toBe("stop")
      }))

    it.scoped("a list part without a type, or a text part without its text, is still a MalformedResponse", () =>
      Effect.gen(function* () {
        let content: unknown = [{ text: "Sunny." }]
        const upstream = yield* rawUpstream(() =>
          json(200, { choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] })
        )
        const model = yield* OpenAi.make({ model: "mistral-large-latest", apiKey: key, baseUrl: upstream.baseUrl, provider: "mistral" })
        expect((yield* Effect.flip(model.complete(request)))._tag).toBe("MalformedResponse")
        content = [{ type: "text" }]
        expect((yield* Effect.flip(model.complete(request)))._tag).toBe("MalformedResponse")
      }))
  })
  describe("Groq's tool_use_failed", () => {
    it.scoped("Groq's 400 tool_use_failed (the model wrote a bad call) is retriable, as Gemini's MALFORMED_FUNCTION_CALL is", () =>
      Effect.gen(function* () {
        // groq/groq-typescript#28, the exact body, huggingface/smolagents#1119
        const upstream = yield* rawUpstream(() =>
          json(400, {
            error: {
              message: "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
              type: "invalid_request_error",
              code: "tool_use_failed",
              failed_generation: "web_search{\"query\": \"x\"}</function>"
            }
          })
        )
        const model = yield* OpenAi.make({ model: "llama-3.3-70b-versatile", apiKey: key, baseUrl: upstream.baseUrl, provider: "groq" })
        const error = yield* Effect.flip(model.complete(request))
        expect(error._tag).not.toBe("InvalidRequest")
        expect(isRetriable(error)).toBe(true)
      }))

    it.scoped("Groq's in-stream `event: error` tool_use_failed is retriable too", () =>
      Effect.gen(function* () {
        // anomalyco/opencode#1018: the raw body Groq sent
        const body =
          "event: error\ndata: {\"error\":{\"message\":\"Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.\",\"type\":\"invalid_request_error\",\"code\":\"tool_use_failed\",\"failed_generation\":\"Tool use failed: JSON does not match the expected schema for tool calls\",\"status_code\":400}}\n\n"
        const upstream = yield* rawUpstream(() => ({ body }))
        const model = yield* OpenAi.make({ model: "moonshotai/kimi-k2-instruct", apiKey: key, baseUrl: upstream.baseUrl, provider: "groq" })
        const error = yield* Effect.flip(Stream.runDrain(model.stream(request)))
        expect(error._tag).not.toBe("InvalidRequest")
        expect(isRetriable(error)).toBe(true)
      }))

    it.scoped("a tool_use_failed keeps Groq's words, and the same request asked again may well succeed", () =>
      Effect.gen(function* () {
        let calls = 0
        const upstream = yield* rawUpstream(() =>
          calls++ === 0
            ? json(400, { error: { message: "Failed to call a function.", type: "invalid_request_error", code: "tool_use_failed", failed_generation: "x" } })
            : json(200, { choices: [{ index: 0, message: { role: "assistant", content: "Sunny." }, finish_reason: "stop" }] })
        )
        const model = yield* OpenAi.make({ model: "llama-3.3-70b-versatile", apiKey: key, baseUrl: upstream.baseUrl, provider: "groq" })
        const error = yield* Effect.flip(model.complete(request))
        expect(error._tag).toBe("MalformedResponse")
        expect(error.message).toContain("Failed to call a function")
        expect((yield* model.complete(request)).text).toBe("Sunny.")
      }))
  })
  describe("DeepSeek's Model Not Exist", () => {
    it.scoped("DeepSeek's 400 \"Model Not Exist\" is ModelNotFound (skip the target), not InvalidRequest (end the chain)", () =>
      Effect.gen(function* () {
        // DeepSeek's exact body, e.g. ConardLi/easy-dataset#9, langbot-app/LangBot#1643
        const upstream = yield* rawUpstream(() =>
          json(400, { error: { message: "Model Not Exist", type: "invalid_request_error", param: null, code: "invalid_request_error" } })
        )
        const model = yield* OpenAi.make({ model: "deepseek-r1", apiKey: key, baseUrl: upstream.baseUrl, provider: "deepseek" })
        const error = yield* Effect.flip(model.complete(request))
        expect(error._tag).toBe("ModelNotFound")
      }))

    it.scoped("so the router skips to the next target instead of ending the request", () =>
      Effect.gen(function* () {
        const deepSeek = yield* rawUpstream(() =>
          json(400, { error: { message: "Model Not Exist", type: "invalid_request_error", param: null, code: "invalid_request_error" } })
        )
        const openAi = yield* rawUpstream(() =>
          json(200, { choices: [{ index: 0, message: { role: "assistant", content: "Sunny." }, finish_reason: "stop" }] })
        )
        const first = yield* OpenAi.make({ model: "deepseek-r1", apiKey: key, baseUrl: deepSeek.baseUrl, provider: "deepseek" })
        const second = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: openAi.baseUrl })
        const router = yield* Router.make({
          targets: { deepseek: { model: first }, openai: { model: second } },
          chains: { default: ["deepseek", "openai"] },
          cache: false
        })
        const { response } = yield* router.complete(request)
        expect(response.text).toBe("Sunny.")
        expect(deepSeek.requests).toHaveLength(1)
      }))
  })
  describe("OpenRouter's error sent with HTTP 200", () => {
    it.scoped("an error object as the whole answer is the error its code says, not a malformed completion", () =>
      Effect.gen(function* () {
        // OpenRouter answers 200 and then finds its upstream failed: the body is its error object alone
        const bodies = [
          { error: { code: 429, message: "Rate limit exceeded: free-models-per-min", metadata: { provider_name: "Chutes" } } },
          { error: { code: 401, message: "No auth credentials found" } },
          { error: { code: 502, message: "Provider returned error" } },
          { error: { code: 400, message: "This endpoint's maximum context length is 8192 tokens. However, you requested about 9000 tokens." } }
        ]
        let next = 0
        const upstream = yield* rawUpstream(() => json(200, bodies[next++]!))
        const model = yield* OpenAi.make({ model: "meta-llama/llama-3.3-70b-instruct:free", apiKey: key, baseUrl: upstream.baseUrl, provider: "openrouter" })
        const tags: Array<string> = []
        for (let i = 0; i < bodies.length; i++) tags.push((yield* Effect.flip(model.complete(request)))._tag)
        expect(tags).toEqual(["RateLimited", "Unauthorized", "ServerError", "ContextLengthExceeded"])
        // a completion that also carries an "error" key is still read as a completion
        const answered = yield* rawUpstream(() =>
          json(200, { error: null, choices: [{ index: 0, message: { role: "assistant", content: "Sunny." }, finish_reason: "stop" }] })
        )
        const other = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: answered.baseUrl })
        expect((yield* other.complete(request)).text).toBe("Sunny.")
      }))
  })

  describe("vLLM's engine aborts", () => {
    // vllm-project/vllm#57082: an engine-initiated abort (scale-down, shutdown, sleep) ends the stream with HTTP 200,
    // finish_reason "abort" (not an OpenAI value), then an unconditional data: [DONE]
    it.scoped("a stream that ends with finish_reason \"abort\" is a failure, not a finished answer", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => ({
          body: sse(
            { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
            { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { content: "The weather in Par" }, finish_reason: null }] },
            { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { content: "" }, finish_reason: "abort" }] },
            { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
            "[DONE]"
          )
        }))
        const model = yield* OpenAi.make({ model: "qwen3", baseUrl: upstream.baseUrl, provider: "vllm" })
        const result = yield* Effect.either(Stream.runCollect(model.stream(request)))
        expect(
          result._tag === "Left" ? `failed (${result.left._tag})` : JSON.stringify(Chunk.toReadonlyArray(result.right).find((c) => c._tag === "Finish"))
        ).toMatch(/^failed/)
      }))

    it.scoped("a JSON completion with finish_reason \"abort\" is a failure, not a finished answer", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() =>
          json(200, {
            id: "c",
            object: "chat.completion",
            model: "qwen3",
            choices: [{ index: 0, message: { role: "assistant", content: "The weather in Par" }, finish_reason: "abort" }],
            usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 }
          })
        )
        const model = yield* OpenAi.make({ model: "qwen3", baseUrl: upstream.baseUrl, provider: "vllm" })
        const result = yield* Effect.either(model.complete(request))
        expect(result._tag === "Left" ? "failed" : `finished (${result.right.finishReason})`).toBe("failed")
        expect(result._tag === "Left" && result.left._tag).toBe("ServerError")
      }))
    const abortAfter = (text: string) =>
      sse(
        { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
        ...(text === "" ? [] : [{ id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }]),
        { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [{ index: 0, delta: { content: "" }, finish_reason: "abort" }] },
        { id: "c", object: "chat.completion.chunk", model: "qwen3", choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
        "[DONE]"
      )
    const sunny = sse(
      { choices: [{ index: 0, delta: { role: "assistant", content: "Sunny." }, finish_reason: null }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      "[DONE]"
    )

    it.scoped("the abort is a retriable ServerError, after the text and the usage the server sent, with no Finish", () =>
      Effect.gen(function* () {
        const upstream = yield* rawUpstream(() => ({ body: abortAfter("The weather in Par") }))
        const model = yield* OpenAi.make({ model: "qwen3", baseUrl: upstream.baseUrl, provider: "vllm" })
        const seen: Array<string> = []
        const error = yield* Effect.flip(Stream.runForEach(model.stream(request), (c) => Effect.sync(() => seen.push(c._tag))))
        expect(error._tag).toBe("ServerError")
        expect(isRetriable(error)).toBe(true)
        expect(error.message).toContain("abort")
        expect(seen).toEqual(["TextDelta", "Usage"])
      }))

    it.scoped("through the router: an abort before content falls over to the next target; one after content is a StreamInterrupted", () =>
      Effect.gen(function* () {
        let text = ""
        const vllm = yield* rawUpstream(() => ({ body: abortAfter(text) }))
        const openAi = yield* rawUpstream(() => ({ body: sunny }))
        const first = yield* OpenAi.make({ model: "qwen3", baseUrl: vllm.baseUrl, provider: "vllm" })
        const second = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: openAi.baseUrl })
        const router = yield* Router.make({
          targets: { vllm: { model: first }, openai: { model: second } },
          chains: { default: ["vllm", "openai"] },
          policy: { retry: { maxAttempts: 1 } },
          cache: false
        })
        const run = Effect.scoped(
          Effect.flatMap(router.stream(request), (started) => Effect.either(Stream.runCollect(started.chunks)))
        )
        const before = yield* run
        expect(before._tag === "Right" ? Chunk.toReadonlyArray(before.right).flatMap((c) => (c._tag === "TextDelta" ? [c.text] : [])).join("") : before.left._tag)
          .toBe("Sunny.")
        text = "The weather in Par"
        const after = yield* run
        expect(after._tag === "Left" ? after.left._tag : "answered").toBe("StreamInterrupted")
      }))
  })
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
    /** A JSON answer after `lines` keep-alive empty lines, one each `every` ms; with `lines` Infinity, never; with `stopAfter`, silence after that many. */
    const trickle = (lines: number, every: number, stopAfter = Infinity) =>
      listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
        req.resume()
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json" })
          let sent = 0
          const timer = setInterval(() => {
            if (sent >= stopAfter) return
            if (sent++ < lines) return void res.write("\n")
            clearInterval(timer)
            res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "Sunny." }, finish_reason: "stop" }] }))
          }, every)
          res.on("close", () => clearInterval(timer))
        })
      })
    const deepSeek = (port: number) =>
      OpenAi.make({
        model: "deepseek-reasoner",
        apiKey: key,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        provider: "deepseek",
        timeouts: { connect: "10 seconds", firstToken: "10 seconds", idle: "500 millis" }
      })

    it.scoped("the same over this package's UndiciHttpClient (its body read under a plain timer, re-armed on each piece)", () =>
      Effect.gen(function* () {
        const model = yield* deepSeek(yield* trickle(12, 100))
        expect((yield* model.complete(request)).text).toBe("Sunny.")
      }).pipe(Effect.provide(UndiciHttpClient.layer)))

    it.scoped("a body that stops coming half way still times out idle, with the body's own words, over either client", () =>
      Effect.gen(function* () {
        const port = yield* trickle(Infinity, 100, 3)
        for (const client of [UndiciHttpClient.layer, NodeHttpClient.layerUndici]) {
          const error = yield* Effect.flip(Effect.flatMap(deepSeek(port), (model) => model.complete(request))).pipe(Effect.provide(client))
          expect(error._tag === "Timeout" && [error.phase, Duration.toMillis(error.after ?? Duration.zero)]).toEqual(["idle", 500])
          expect(error.message).toBe("deepseek: nothing more of the response body came within 500ms")
        }
      }))

    it.scoped("a body that trickles forever is still cut by the caller's deadline, which the pieces do not move, over either client", () =>
      Effect.gen(function* () {
        const port = yield* trickle(Infinity, 100)
        for (const client of [UndiciHttpClient.layer, NodeHttpClient.layerUndici]) {
          const started = Date.now()
          const error = yield* Effect.flip(
            Effect.flatMap(deepSeek(port), (model) => {
              const within = CompleteWithin.of(model.complete)
              return within === undefined ? Effect.die("no CompleteWithin") : within(request, 1_200, () => "late" as const)
            })
          ).pipe(Effect.provide(client))
          expect(error).toBe("late")
          expect(Date.now() - started).toBeLessThan(3_000)
        }
      }))
  })
})
