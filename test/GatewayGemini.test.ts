/**
 * The gateway's Gemini API (`POST /v1beta/models/{model}:generateContent`,
 * `:streamGenerateContent?alt=sse`, `:countTokens`) as a client sees it:
 * started on 127.0.0.1 (port 0) over a router of real adapters (OpenAI,
 * then Anthropic) pointed at mock upstream servers, and driven by Google's
 * Gen AI SDK (`@google/genai`, its `httpOptions.baseUrl` the gateway).
 * Covers whole and streamed answers, function calling both ways, JSON
 * output, failover in the headers, a stream that fails mid-way, every
 * error in Google's JSON (so the SDK's `ApiError` has the status), the
 * `x-goog-api-key` header, and the request decoder and encoders alone.
 */
import { ApiError, type GenerateContentResponse, GoogleGenAI, Type } from "@google/genai"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, Redacted, Tracer } from "effect"
import * as Errors from "../src/gateway/internal/errors.js"
import * as GeminiRequest from "../src/gateway/internal/geminiRequest.js"
import { errorJson, googleStatus, ResponseEncoder, usageJson } from "../src/gateway/internal/geminiResponse.js"
import * as Wire from "../src/gateway/internal/wire.js"
import { ContentFiltered } from "../src/llm/ProviderError.js"
import * as Tokens from "../src/llm/Tokens.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as MockServer from "../src/testing/MockServer.js"
import { allEvents as events, rejection } from "./support/client.js"
import * as Upstreams from "./support/upstreams.js"

const prompt = "What is the airspeed velocity of an unladen swallow?"

/** Two upstreams (OpenAI's wire format, then Anthropic's), the chain `default` over them, the gateway, and Google's SDK. */
const setup = (options: Upstreams.Options = {}) =>
  Effect.map(Upstreams.make("anthropic", options, true), (made) => ({ ...made, client: genai(made.gateway, options.apiKey ?? "unused") }))

/** Google's SDK, its base URL the gateway's. */
const genai = (gateway: Gateway.Server, apiKey: string, apiVersion?: string) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl: gateway.url, ...(apiVersion !== undefined ? { apiVersion } : {}) } })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A raw POST to a Gemini route: status, headers and body text. */
const post = (gateway: Gateway.Server, path: string, body: unknown, headers: Record<string, string> = {}) =>
  promise(() =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    }).then(async (res) => ({ status: res.status, headers: res.headers, text: await res.text() }))
  )

const contents = [{ role: "user", parts: [{ text: prompt }] }]

/**
 * The SDK's error: its HTTP status, and Google's error JSON it carries as
 * its message (after `got status: ... ` when raised from a stream's body).
 */
const apiError = (error: unknown) => {
  expect(error).toBeInstanceOf(ApiError)
  const e = error as ApiError
  const json = e.message.slice(e.message.indexOf("{"))
  return { status: e.status, body: JSON.parse(json) as { error: { code: number; status: string; message: string; details?: Array<Record<string, unknown>> } } }
}

/** A chunk's text parts, joined (the SDK's `text` warns when a chunk also holds a call). */
const textOf = (response: GenerateContentResponse): string =>
  (response.candidates?.[0]?.content?.parts ?? []).map((part) => part.text ?? "").join("")

const weather = {
  name: "weather",
  description: "The weather now in a city",
  parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

/** The `data:` events of an SSE body, parsed, and whatever follows the last one. */
const sse = (body: string) => {
  const frames = body.split("\n\n")
  const tail = frames.pop() ?? ""
  return { events: frames.map((frame) => JSON.parse(frame.slice("data: ".length)) as GenerateContentResponse), tail }
}

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Gateway: the Gemini API", (it) => {
  describe("whole answers", () => {
    it.scoped("a GenerateContentResponse as Gemini sends it; systemInstruction and generationConfig reach OpenAI", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "About 11 metres a second.", usage: { inputTokens: 12, outputTokens: 6, cacheReadTokens: 4 } } }
        })
        const response = yield* promise(() =>
          client.models.generateContent({
            model: "default",
            contents: prompt,
            config: {
              systemInstruction: "Be brief.",
              temperature: 0.3,
              topP: 0.9,
              topK: 40,
              seed: 7,
              presencePenalty: 0.5,
              frequencyPenalty: -0.5,
              maxOutputTokens: 64,
              stopSequences: ["\n\n"],
              safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT" as never, threshold: "BLOCK_NONE" as never }]
            }
          })
        )
        expect(response.text).toBe("About 11 metres a second.")
        expect(response.candidates).toEqual([
          { content: { parts: [{ text: "About 11 metres a second." }], role: "model" }, finishReason: "STOP", index: 0 }
        ])
        expect(response.usageMetadata).toEqual({ promptTokenCount: 12, candidatesTokenCount: 6, totalTokenCount: 18, cachedContentTokenCount: 4 })
        expect(response.modelVersion).toBe("gpt-4.1-mini")
        expect(response.responseId).toMatch(/^[0-9a-f]{32}$/)
        // the router's headers, as the SDK keeps them
        expect(response.sdkHttpResponse?.headers?.["x-llm-target"]).toBe("primary")
        expect(response.sdkHttpResponse?.headers?.["x-request-id"]).toMatch(/^req_/)
        const sent = primary.requests()[0]?.body as Record<string, unknown>
        expect(sent).toMatchObject({
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: prompt }
          ],
          temperature: 0.3,
          top_p: 0.9,
          stop: ["\n\n"],
          // the sampling hints OpenAI takes; not topK
          seed: 7,
          presence_penalty: 0.5,
          frequency_penalty: -0.5
        })
        expect(sent["max_completion_tokens"] ?? sent["max_tokens"]).toBe(64)
        expect(sent["top_k"]).toBeUndefined()
        expect(sent["safetySettings"]).toBeUndefined()
      })
    )

    it.scoped("safetySettings reach a Gemini upstream as sent, after a failover, and not OpenAI, which has none", () =>
      Effect.gen(function* () {
        const { gateway, primary, secondary } = yield* Upstreams.make("gemini", { primary: { faults: [MockServer.status(503)] }, secondary: { reply: { text: "Fast." } } }, true)
        const safetySettings = [
          { category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" },
          { category: "HARM_CATEGORY_DANGEROUS_CONTENT", threshold: "BLOCK_ONLY_HIGH" }
        ]
        const response = yield* promise(() =>
          genai(gateway, "unused").models.generateContent({
            model: "default",
            contents: prompt,
            config: { topK: 40, seed: 7, safetySettings: safetySettings as never }
          })
        )
        expect(response.text).toBe("Fast.")
        expect((primary.requests()[0]?.body as Record<string, unknown>)["safetySettings"]).toBeUndefined()
        expect(secondary.requests()[0]?.body).toMatchObject({ safetySettings, generationConfig: { topK: 40, seed: 7 } })
      })
    )

    it.scoped("failed over to Claude, the request gets topK as top_k, and neither the seed nor the penalties, which Claude does not take", () =>
      Effect.gen(function* () {
        const { client, primary, secondary } = yield* setup({ primary: { faults: [MockServer.status(503)] }, secondary: { reply: { text: "Fast." } } })
        const response = yield* promise(() =>
          client.models.generateContent({
            model: "default",
            contents: prompt,
            config: { topK: 40, seed: 7, presencePenalty: 0.5, frequencyPenalty: -0.5 }
          })
        )
        expect(response.text).toBe("Fast.")
        expect(primary.count()).toBe(1)
        expect(secondary.requests()[0]?.body).toEqual({
          model: "claude-haiku-4-5",
          max_tokens: 4096,
          messages: [{ role: "user", content: prompt }],
          top_k: 40
        })
      })
    )

    it.scoped("images as inlineData reach the provider as data URLs; a length stop is MAX_TOKENS; /v1/ and models/ work too", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({ primary: { reply: { text: "A sky", finishReason: "length" } } })
        const response = yield* promise(() =>
          client.models.generateContent({
            model: "models/primary",
            contents: [{ role: "user", parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }] }]
          })
        )
        expect(response.candidates?.[0]?.finishReason).toBe("MAX_TOKENS")
        expect((primary.requests()[0]?.body as { messages: unknown }).messages).toEqual([
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }
            ]
          }
        ])
        const v1 = yield* promise(() => genai(gateway, "unused", "v1").models.generateContent({ model: "default", contents: prompt }))
        expect(v1.text).toBe("A sky")
      })
    )

    it.scoped("inlineData in base64's URL-safe alphabet or unpadded, as Gemini takes it, reaches every provider as standard padded base64", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup()
        yield* promise(() =>
          client.models.generateContent({
            model: "primary",
            contents: [{
              role: "user",
              parts: [
                { inlineData: { mimeType: "image/jpeg", data: "_9j_4AAQSkZJRvs" } },
                { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQSkZJRvs=" } },
                { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo" } }
              ]
            }]
          })
        )
        expect((primary.requests()[0]?.body as { messages: unknown }).messages).toEqual([
          {
            role: "user",
            content: [
              { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQSkZJRvs=" } },
              { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQSkZJRvs=" } },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }
            ]
          }
        ])
      })
    )

    it.scoped("a provider's stop on policy: a 200 with finishReason SAFETY and the text so far; streamed the same", () =>
      Effect.gen(function* () {
        const reply = { text: "partial text", finishReason: "content_filter" as const, usage: { inputTokens: 12, outputTokens: 2 } }
        const { client } = yield* setup({ primary: { reply } })
        const whole = yield* promise(() => client.models.generateContent({ model: "primary", contents: prompt }))
        expect(whole.candidates?.[0]?.finishReason).toBe("SAFETY")
        expect(whole.text).toBe("partial text")
        const chunks = yield* events(yield* promise(() => client.models.generateContentStream({ model: "primary", contents: prompt })))
        expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe("partial text")
        expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe("SAFETY")
      })
    )
  })

  describe("streamed answers", () => {
    it.scoped("data: events of GenerateContentResponse, the text in pieces, the last with finishReason and usageMetadata", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* setup({
          primary: { reply: { text: "one two three four", usage: { inputTokens: 10, outputTokens: 4 } } }
        })
        const stream = yield* promise(() => client.models.generateContentStream({ model: "default", contents: prompt }))
        const chunks = yield* events(stream)
        expect(chunks.length).toBeGreaterThan(2)
        expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe("one two three four")
        expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP")
        expect(chunks.at(-1)?.usageMetadata).toEqual({ promptTokenCount: 10, candidatesTokenCount: 4, totalTokenCount: 14 })
        for (const chunk of chunks) expect(chunk.modelVersion).toBe("gpt-4.1-mini")
        expect(new Set(chunks.map((chunk) => chunk.responseId)).size).toBe(1)

        // the wire: every event a `data:` line, nothing after the last one
        const raw = yield* post(gateway, "/v1beta/models/default:streamGenerateContent?alt=sse", { contents })
        expect(raw.status).toBe(200)
        expect(raw.headers.get("content-type")).toContain("text/event-stream")
        expect(raw.headers.get("x-llm-chain")).toBe("default")
        const { events: all, tail } = sse(raw.text)
        expect(tail).toBe("")
        expect(all.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP")
      })
    )

    it.scoped("without alt=sse (or with alt=json): Gemini's JSON-array stream, application/json, the same answers as the SSE stream's events", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const viaSse = sse((yield* post(gateway, "/v1beta/models/default:streamGenerateContent?alt=sse", { contents })).text).events
        for (const path of ["/v1beta/models/default:streamGenerateContent", "/v1beta/models/default:streamGenerateContent?alt=json"]) {
          const raw = yield* post(gateway, path, { contents })
          expect(raw.status).toBe(200)
          expect(raw.headers.get("content-type")).toContain("application/json")
          expect(raw.text.startsWith("[{")).toBe(true)
          expect(raw.text.endsWith("}]")).toBe(true)
          expect(raw.text).toContain("},\r\n{") // Gemini's separator between two answers
          const answers = JSON.parse(raw.text) as Array<{ candidates?: Array<{ content?: { parts?: Array<{ text?: string }> }; finishReason?: string }>; responseId?: string }>
          expect(answers.length).toBe(viaSse.length)
          const text = (xs: typeof answers) => xs.map((a) => a.candidates?.[0]?.content?.parts?.map((p) => p.text ?? "").join("") ?? "").join("")
          expect(text(answers)).toBe(text(viaSse as typeof answers))
          expect(answers.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP")
        }
      })
    )

    it.scoped("a JSON-array stream that fails before its first answer: the body is still an array, of the one error, as Gemini answers it", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ primary: { faultFor: () => MockServer.status(500) }, secondary: { faultFor: () => MockServer.status(500) } })
        const raw = yield* post(gateway, "/v1beta/models/default:streamGenerateContent", { contents })
        expect(raw.status).toBeGreaterThanOrEqual(500)
        expect(raw.headers.get("content-type")).toContain("application/json")
        const body = JSON.parse(raw.text) as Array<{ error?: { code: number } }>
        expect(Array.isArray(body)).toBe(true)
        expect(body).toHaveLength(1)
        expect(body[0]?.error?.code).toBe(raw.status)
        // a refusal before any call too; the SSE stream's and a whole answer's errors stay bare objects
        const refused = yield* post(gateway, "/v1beta/models/nope:streamGenerateContent?alt=json", { contents })
        expect(refused.status).toBe(404)
        expect(JSON.parse(refused.text)).toMatchObject([{ error: { code: 404, status: "NOT_FOUND" } }])
        const sseRefused = yield* post(gateway, "/v1beta/models/nope:streamGenerateContent?alt=sse", { contents })
        expect(JSON.parse(sseRefused.text)).toMatchObject({ error: { code: 404 } })
        const whole = yield* post(gateway, "/v1beta/models/nope:generateContent", { contents })
        expect(JSON.parse(whole.text)).toMatchObject({ error: { code: 404 } })
      })
    )

    it.scoped("alt other than json or sse: a 400 naming alt, no provider called", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup()
        const raw = yield* post(gateway, "/v1beta/models/default:streamGenerateContent?alt=proto", { contents })
        expect(raw.status).toBe(400)
        const body = JSON.parse(raw.text) as { error: { code: number; status: string; message: string } }
        expect(body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" })
        expect(body.error.message).toContain("'alt'")
        expect(primary.count()).toBe(0)
      })
    )

    it.scoped("a stream that fails after its first text ends with Google's error JSON, bare, as Gemini's do; the SDK raises it", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({
          primary: { faults: [MockServer.resetAfter(3)], reply: { text: "one two three four five six" } }
        })
        const collected: Array<string> = []
        const error = yield* rejection(async () => {
          for await (const chunk of await client.models.generateContentStream({ model: "default", contents: prompt })) collected.push(chunk.text ?? "")
        })
        expect(collected.join("").length).toBeGreaterThan(0)
        // the SDK found the error JSON in a read of the body: its ApiError, the error's code its status
        const { body, status } = apiError(error)
        expect(status).toBe(502)
        expect((error as ApiError).message).toMatch(/^got status: UNAVAILABLE\. /)
        expect(body.error).toMatchObject({ code: 502, status: "UNAVAILABLE", message: expect.stringContaining("failed after content was sent") })

        primary.enqueue(MockServer.resetAfter(3))
        const raw = yield* post(gateway, "/v1beta/models/default:streamGenerateContent?alt=sse", { contents })
        const { events: all, tail } = sse(raw.text)
        expect(all.length).toBeGreaterThan(0)
        for (const event of all) expect(event.candidates?.[0]?.finishReason).toBeUndefined()
        expect(JSON.parse(tail)).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } })

        // the JSON array: the error JSON is its last element, and the body parses whole
        primary.enqueue(MockServer.resetAfter(3))
        const array = yield* post(gateway, "/v1beta/models/default:streamGenerateContent", { contents })
        const elements = JSON.parse(array.text) as Array<{ error?: unknown; candidates?: Array<{ finishReason?: string }> }>
        expect(elements.length).toBeGreaterThan(1)
        for (const element of elements.slice(0, -1)) expect(element.candidates?.[0]?.finishReason).toBeUndefined()
        expect(elements.at(-1)).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } })
      })
    )
  })

  describe("function calling", () => {
    it.scoped("functionCall out (id, name, args), then functionResponse back: the round trip reaches OpenAI as chat tool messages", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({
          primary: { reply: { text: "", toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const tools = [{ functionDeclarations: [weather] }]
        const first = yield* promise(() =>
          client.models.generateContent({
            model: "default",
            contents: "Weather in Paris?",
            config: { tools, toolConfig: { functionCallingConfig: { mode: "ANY" as never, allowedFunctionNames: ["weather"] } } }
          })
        )
        expect(first.functionCalls).toEqual([{ id: "call_1", name: "weather", args: { city: "Paris" } }])
        expect(first.candidates?.[0]?.finishReason).toBe("STOP")
        expect(primary.requests()[0]?.body).toMatchObject({
          tools: [{ type: "function", function: { name: "weather", parameters: weather.parametersJsonSchema } }],
          tool_choice: { type: "function", function: { name: "weather" } }
        })

        primary.setReply({ text: "Sunny, 24°C." })
        const second = yield* promise(() =>
          client.models.generateContent({
            model: "default",
            contents: [
              { role: "user", parts: [{ text: "Weather in Paris?" }] },
              first.candidates![0]!.content!,
              { role: "user", parts: [{ functionResponse: { id: "call_1", name: "weather", response: { output: "sunny, 24°C" } } }] }
            ],
            config: { tools }
          })
        )
        expect(second.text).toBe("Sunny, 24°C.")
        expect((primary.requests()[1]?.body as { messages: unknown }).messages).toEqual([
          { role: "user", content: "Weather in Paris?" },
          { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } }] },
          { role: "tool", tool_call_id: "call_1", content: "{\"output\":\"sunny, 24°C\"}" }
        ])
      })
    )

    it.scoped("streamed from Anthropic after the primary's 503: the call whole in the last event, its args an object", () =>
      Effect.gen(function* () {
        const { client, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503)] },
          secondary: { reply: { text: "Let me check.", toolCalls: [{ id: "toolu_1", name: "weather", arguments: { city: "Paris" } }] } }
        })
        const chunks = yield* events(
          yield* promise(() =>
            client.models.generateContentStream({
              model: "default",
              contents: "Weather in Paris?",
              config: { tools: [{ functionDeclarations: [weather] }] }
            })
          )
        )
        expect(chunks.map(textOf).join("")).toBe("Let me check.")
        expect(chunks.at(-1)?.functionCalls).toEqual([{ id: "toolu_1", name: "weather", args: { city: "Paris" } }])
        expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP")
        expect(secondary.requests()[0]?.body).toMatchObject({ tools: [{ name: "weather", input_schema: weather.parametersJsonSchema }] })
      })
    )
  })

  describe("JSON output", () => {
    it.scoped("responseMimeType application/json with responseJsonSchema, or responseSchema (Gemini's types lowered), as structured outputs", () =>
      Effect.gen(function* () {
        const { client, primary } = yield* setup({ primary: { reply: { text: "{\"city\":\"Paris\"}" } } })
        const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        const response = yield* promise(() =>
          client.models.generateContent({ model: "default", contents: prompt, config: { responseMimeType: "application/json", responseJsonSchema: schema } })
        )
        expect(JSON.parse(response.text ?? "")).toEqual({ city: "Paris" })
        expect(primary.requests()[0]?.body).toMatchObject({ response_format: { type: "json_schema", json_schema: { name: "output", schema } } })

        yield* promise(() =>
          client.models.generateContent({
            model: "default",
            contents: prompt,
            config: {
              responseMimeType: "application/json",
              responseSchema: { type: Type.OBJECT, properties: { city: { type: Type.STRING, nullable: true } }, propertyOrdering: ["city"] }
            }
          })
        )
        expect(primary.requests()[1]?.body).toMatchObject({
          response_format: { type: "json_schema", json_schema: { schema: { type: "object", properties: { city: { type: ["string", "null"] } } } } }
        })
        yield* promise(() => client.models.generateContent({ model: "default", contents: prompt, config: { responseMimeType: "application/json" } }))
        expect(primary.requests()[2]?.body).toMatchObject({ response_format: { type: "json_object" } })
      })
    )
  })

  describe("countTokens", () => {
    it.scoped("the router's own estimate (Tokens.estimate) as totalTokens, no provider called; 404 and 401 as on the route", () =>
      Effect.gen(function* () {
        const { client, gateway, primary } = yield* setup({ gateway: { keys: [Redacted.make("gw-key")] }, apiKey: "gw-key" })
        const counted = yield* promise(() => client.models.countTokens({ model: "default", contents: prompt }))
        const decoded = GeminiRequest.decodeCount({ contents }, { model: "default", method: "countTokens", alt: null, sse: false })
        expect(Either.isRight(decoded) && counted.totalTokens === Tokens.estimate(decoded.right.request)).toBe(true)
        expect(counted.totalTokens).toBeGreaterThan(prompt.length / 4)
        // Gemini's other form: a whole request
        const whole = yield* post(gateway, "/v1beta/models/default:countTokens", { generateContentRequest: { model: "models/default", contents } }, {
          "x-goog-api-key": "gw-key"
        })
        expect(JSON.parse(whole.text)).toEqual({ totalTokens: counted.totalTokens })
        expect(primary.count()).toBe(0)
        expect(apiError(yield* rejection(() => client.models.countTokens({ model: "nope", contents: prompt }))).body.error.status).toBe("NOT_FOUND")
        const keyless = yield* post(gateway, "/v1beta/models/default:countTokens", { contents })
        expect([keyless.status, JSON.parse(keyless.text).error.status]).toEqual([401, "UNAUTHENTICATED"])
      })
    )
  })

  describe("failover", () => {
    it.scoped("the primary's 503: the secondary (Anthropic) serves, and the x-llm-* headers say so, whole or streamed", () =>
      Effect.gen(function* () {
        const { gateway, primary, secondary } = yield* setup({
          primary: { faults: [MockServer.status(503), MockServer.status(503)] },
          secondary: { reply: { text: "From the fallback." } }
        })
        const whole = yield* post(gateway, "/v1beta/models/default:generateContent", { contents }, { "x-request-id": "req-gemini-1" })
        expect(whole.status).toBe(200)
        expect((JSON.parse(whole.text) as GenerateContentResponse).modelVersion).toBe("claude-haiku-4-5")
        expect(whole.headers.get("x-llm-target")).toBe("secondary")
        expect(whole.headers.get("x-llm-provider")).toBe("anthropic")
        expect(whole.headers.get("x-llm-fallbacks")).toBe("1")
        expect(whole.headers.get("x-llm-attempts")).toBe("2")
        expect(whole.headers.get("x-request-id")).toBe("req-gemini-1")

        const streamed = yield* post(gateway, "/v1beta/models/default:streamGenerateContent?alt=sse", { contents })
        expect(streamed.headers.get("x-llm-target")).toBe("secondary")
        expect(streamed.headers.get("x-llm-fallbacks")).toBe("1")
        expect(sse(streamed.text).events.map(textOf).join("")).toBe("From the fallback.")
        expect([primary.count(), secondary.count()]).toEqual([2, 2])
      })
    )
  })

  describe("errors, in Google's JSON", () => {
    it.scoped("the key: from x-goog-api-key (the SDK's) or Authorization: Bearer; a wrong or missing one is a 401 UNAUTHENTICATED", () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ gateway: { keys: [Redacted.make("gw-key-1"), Redacted.make("gw-key-2")] } })
        expect((yield* promise(() => genai(gateway, "gw-key-2").models.generateContent({ model: "default", contents: prompt }))).text).toBeDefined()
        const bearer = yield* post(gateway, "/v1beta/models/default:generateContent", { contents }, { authorization: "Bearer gw-key-1" })
        expect(bearer.status).toBe(200)

        const wrong = apiError(yield* rejection(() => genai(gateway, "not-the-key").models.generateContent({ model: "default", contents: prompt })))
        expect(wrong.status).toBe(401)
        expect(wrong.body.error).toMatchObject({ code: 401, status: "UNAUTHENTICATED", message: "Incorrect API key provided." })
        const missing = yield* post(gateway, "/v1beta/models/default:generateContent", { contents })
        expect(missing.status).toBe(401)
        expect(JSON.parse(missing.text).error.message).toContain("x-goog-api-key")
        // a key in the query is not taken (a span would record the URL with it)
        const query = yield* post(gateway, "/v1beta/models/default:generateContent?key=gw-key-1", { contents })
        expect(query.status).toBe(401)
        // and the 401 says so, and why, never quoting it (so a user of Google's curl examples knows what to change)
        const queryError = JSON.parse(query.text).error as { status: string; message: string }
        expect(queryError.status).toBe("UNAUTHENTICATED")
        expect(queryError.message).toContain("'?key='")
        expect(queryError.message).toContain("x-goog-api-key")
        expect(query.text).not.toContain("gw-key-1")
        const queryCount = yield* post(gateway, "/v1beta/models/default:countTokens?alt=json&key=gw-key-1", { contents })
        expect([queryCount.status, JSON.parse(queryCount.text).error.message]).toEqual([401, queryError.message])
        // a key in the query beside one in a header: the header's is taken, the query's ignored
        const both = yield* post(gateway, "/v1beta/models/default:generateContent?key=wrong", { contents }, { "x-goog-api-key": "gw-key-1" })
        expect(both.status).toBe(200)
        // no key echoed, in the body or a header
        const echoed = yield* post(gateway, "/v1beta/models/default:generateContent", { contents }, { "x-goog-api-key": "sk-secret-guess" })
        expect(echoed.text + JSON.stringify([...echoed.headers])).not.toContain("sk-secret-guess")
      })
    )

    it.scoped("each status as the SDK's ApiError with Google's status: 400, 403, 404, 405, 429 (with RetryInfo), 503", () =>
      Effect.gen(function* () {
        const team = { key: Redacted.make("team-key"), name: "team", models: ["default", "primary"], rpm: 2 }
        const { gateway, primary, secondary } = yield* setup({ gateway: { keys: [Redacted.make("admin-key"), team] } })
        const client = genai(gateway, "team-key")
        const ask = (model: string, config: Record<string, unknown> = {}) => rejection(() => client.models.generateContent({ model, contents: prompt, config }))

        const bad = apiError(yield* ask("default", { candidateCount: 2 }))
        expect([bad.status, bad.body.error.status]).toEqual([400, "INVALID_ARGUMENT"])
        expect(bad.body.error.message).toContain("'generationConfig.candidateCount'")
        expect(bad.body.error.details?.[0]).toEqual({
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "INVALID_REQUEST_ERROR",
          domain: "effect-llm-failover",
          metadata: { param: "generationConfig.candidateCount" }
        })
        const forbidden = apiError(yield* ask("secondary"))
        expect([forbidden.status, forbidden.body.error.status]).toEqual([403, "PERMISSION_DENIED"])
        const admin = genai(gateway, "admin-key")
        const unknown = apiError(yield* rejection(() => admin.models.generateContent({ model: "nope", contents: prompt })))
        expect([unknown.status, unknown.body.error.status]).toEqual([404, "NOT_FOUND"])

        // the client's rpm (2; the 400 above counted none, the 403 none): one more, then 429 with Google's RetryInfo
        yield* promise(() => client.models.generateContent({ model: "primary", contents: prompt }))
        yield* promise(() => client.models.generateContent({ model: "primary", contents: prompt }))
        const limited = apiError(yield* ask("primary"))
        expect([limited.status, limited.body.error.status]).toEqual([429, "RESOURCE_EXHAUSTED"])
        expect(limited.body.error.details).toContainEqual({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: expect.stringMatching(/^\d+s$/) })

        primary.enqueue(MockServer.status(503), MockServer.status(503))
        secondary.enqueue(MockServer.status(503), MockServer.status(503))
        const down = apiError(yield* rejection(() => admin.models.generateContent({ model: "default", contents: prompt })))
        expect([down.status, down.body.error.status]).toEqual([503, "UNAVAILABLE"])
        expect(down.body.error).toMatchObject({ message: expect.stringContaining("Every target of 'default' failed"), attempts: expect.any(Array) })
        const downStream = apiError(yield* rejection(() => admin.models.generateContentStream({ model: "default", contents: prompt })))
        expect([downStream.status, downStream.body.error.status]).toEqual([503, "UNAVAILABLE"])

        const get = yield* promise(() => fetch(`${gateway.url}/v1beta/models/default:generateContent`))
        expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"])
        expect(((yield* promise(() => get.json())) as { error: { status: string } }).error.status).toBe("INVALID_ARGUMENT")
        const other = yield* post(gateway, "/v1beta/models/default:embedContent", { contents }, { "x-goog-api-key": "admin-key" })
        expect([other.status, JSON.parse(other.text).error.status]).toEqual([404, "NOT_FOUND"])
        const elsewhere = yield* promise(() => fetch(`${gateway.url}/v1beta/files`))
        expect([elsewhere.status, ((yield* promise(() => elsewhere.json())) as { error: { status: string } }).error.status]).toEqual([404, "NOT_FOUND"])
        // GET /v1/models/{id} stays OpenAI's
        const model = yield* promise(() => fetch(`${gateway.url}/v1/models/nope`, { headers: { authorization: "Bearer admin-key" } }))
        expect(((yield* promise(() => model.json())) as { error: { type: string } }).error.type).toBe("invalid_request_error")
      })
    )

    it.scoped("each refused field: a 400 whose message names it, and no upstream call", () =>
      Effect.gen(function* () {
        const { gateway, primary } = yield* setup()
        const refused: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
          [{ cachedContent: "cachedContents/abc" }, "cachedContent"],
          [{ contents: [{ role: "user", parts: [{ fileData: { fileUri: "https://x/y.pdf", mimeType: "application/pdf" } }] }] }, "contents[0].parts[0].fileData"],
          [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "application/pdf", data: "JVBE" } }] }] }, "contents[0].parts[0].inlineData.mimeType"],
          [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "iVBOR*w0KGgo=" } }] }] }, "contents[0].parts[0].inlineData.data"],
          [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "iVBORw0KGgo===" } }] }] }, "contents[0].parts[0].inlineData.data"],
          [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "" } }] }] }, "contents[0].parts[0].inlineData.data"],
          [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "iVBORw0KG" } }] }] }, "contents[0].parts[0].inlineData.data"],
          [{ tools: [{ functionDeclarations: [weather, { name: "f", parameters: { type: "OBJECT", properties: { x: { type: "STRNG" } } } }] }] }, "tools[0].functionDeclarations[1].parameters.properties.x.type"],
          [{ tools: [{ functionDeclarations: [{ name: "f", parameters: { type: "OBJECT", properties: { list: { type: "ARRAY", items: { type: "LIST" } } } } }] }] }, "tools[0].functionDeclarations[0].parameters.properties.list.items.type"],
          [{ tools: [{ functionDeclarations: [{ name: "f", parameters: { anyOf: [{ type: "STRING" }, { type: "DATE" }] } }] }] }, "tools[0].functionDeclarations[0].parameters.anyOf[1].type"],
          [{ tools: [{ functionDeclarations: [{ name: "f", parameters: { type: 6 } }] }] }, "tools[0].functionDeclarations[0].parameters.type"],
          [{ tools: [{ functionDeclarations: [{ name: "f", parameters: { type: "OBJECT", properties: { x: { type: ["STRING", "TEXT"] } } } }] }] }, "tools[0].functionDeclarations[0].parameters.properties.x.type[1]"],
          [{ generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { a: { type: "OBJ" } } } } }, "generationConfig.responseSchema.properties.a.type"],
          [{ tools: [{ googleSearch: {} }] }, "tools[0].googleSearch"],
          [{ tools: [{ functionDeclarations: [weather] }, { codeExecution: {} }] }, "tools[1].codeExecution"],
          [{ generationConfig: { candidateCount: 3 } }, "generationConfig.candidateCount"],
          [{ generationConfig: { seed: 1.5 } }, "generationConfig.seed"],
          [{ generationConfig: { presencePenalty: -3 } }, "generationConfig.presencePenalty"],
          [{ generationConfig: { frequencyPenalty: "x" } }, "generationConfig.frequencyPenalty"],
          [{ generationConfig: { topK: -1 } }, "generationConfig.topK"],
          [{ safetySettings: { category: "HARM_CATEGORY_HARASSMENT" } }, "safetySettings"],
          [{ safetySettings: ["BLOCK_NONE"] }, "safetySettings[0]"],
          [{ safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: 0 }] }, "safetySettings[0].threshold"],
          [{ safetySettings: [{ threshold: "BLOCK_NONE" }] }, "safetySettings[0].category"],
          [{ generationConfig: { responseMimeType: "text/x.enum" } }, "generationConfig.responseMimeType"],
          [{ generationConfig: { responseModalities: ["IMAGE"] } }, "generationConfig.responseModalities"],
          [{ contents: [{ role: "system", parts: [{ text: "x" }] }] }, "contents[0].role"],
          [{ contents: [] }, "contents"]
        ]
        for (const [fields, param] of refused) {
          const raw = yield* post(gateway, "/v1beta/models/default:generateContent", { contents, ...fields })
          expect(raw.status, param).toBe(400)
          const body = JSON.parse(raw.text) as { error: { status: string; message: string } }
          expect(body.error.status, param).toBe("INVALID_ARGUMENT")
          expect(body.error.message, param).toContain(`'${param}'`)
        }
        expect(primary.count()).toBe(0)
      })
    )
  })

  describe("browsers", () => {
    it.scoped("CORS covers the Gemini routes as the rest of the API: a preflight answered, an allowed page may read the answer", () =>
      Effect.gen(function* () {
        const origin = "https://app.example.com"
        const { gateway } = yield* setup({ gateway: { cors: { origins: [origin] } } })
        const path = "/v1beta/models/default:generateContent"
        const preflight = yield* promise(() =>
          fetch(`${gateway.url}${path}`, {
            method: "OPTIONS",
            headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-goog-api-key" }
          })
        )
        expect(preflight.status).toBe(204)
        expect(preflight.headers.get("access-control-allow-origin")).toBe(origin)
        expect(preflight.headers.get("access-control-allow-headers")).toContain("x-goog-api-key")
        const answer = yield* post(gateway, path, { contents }, { origin })
        expect(answer.status).toBe(200)
        expect(answer.headers.get("access-control-allow-origin")).toBe(origin)
      })
    )
  })

  describe("keys", () => {
    it.scoped("a gateway key sent as x-goog-api-key never reaches a span's attributes, the server's included", () =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        const native = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind, options) => {
            for (const [key, value] of Object.entries(options?.attributes ?? {})) seen.push(`${name} ${key}=${String(value)}`)
            const span = native.span(name, parent, context, links, startTime, kind, options)
            const attribute = span.attribute.bind(span)
            span.attribute = (key, value) => {
              seen.push(`${name} ${key}=${String(value)}`)
              attribute(key, value)
            }
            return span
          },
          context: native.context
        })
        const key = "gw-goog-secret-key-0007"
        const { gateway } = yield* setup({ gateway: { keys: [Redacted.make(key)] } }).pipe(Effect.withTracer(tracer))
        const answer = yield* post(gateway, "/v1beta/models/default:generateContent", { contents }, { "x-goog-api-key": key })
        expect(answer.status).toBe(200)
        expect(seen.some((line) => line.includes("x_goog_api_key") || line.includes("x-goog-api-key"))).toBe(true)
        expect(seen.filter((line) => line.includes(key))).toEqual([])

        // a key in the URL is refused, and its request gets no server span (url.full and url.query would hold it)
        const inUrl = yield* post(gateway, `/v1beta/models/default:generateContent?key=${key}`, { contents })
        expect(inUrl.status).toBe(401)
        const encoded = yield* post(gateway, `/v1beta/models/default:generateContent?alt=sse&%6Bey=${key}`, { contents })
        expect(encoded.status).toBe(401)
        expect(seen.filter((line) => line.includes(key))).toEqual([])
      })
    )
  })
})

describe("geminiRequest.decode", () => {
  const call: GeminiRequest.Call = { model: "default", method: "generateContent", alt: null, sse: false }
  const decoded = (fields: Record<string, unknown>) => {
    const result = GeminiRequest.decode({ contents, ...fields }, call)
    if (Either.isLeft(result)) throw new Error(result.left.message)
    return result.right.request
  }

  it("generationConfig's sampling hints are the request's; a topK of 0 or a fraction, which this route has always taken, carries none", () => {
    expect(decoded({ generationConfig: { seed: 3, presencePenalty: 1, frequencyPenalty: -2, topK: 20 } })).toEqual({
      messages: [{ role: "user", content: prompt }],
      seed: 3,
      presencePenalty: 1,
      frequencyPenalty: -2,
      topK: 20
    })
    expect(decoded({ generationConfig: { topK: 0 } })).toEqual({ messages: [{ role: "user", content: prompt }] })
    expect(decoded({ safetySettings: [{ category: "C", threshold: "T", method: "SEVERITY" }] })).toEqual({
      messages: [{ role: "user", content: prompt }],
      providerOptions: { gemini: { safetySettings: [{ category: "C", threshold: "T" }] } }
    })
    expect(decoded({ safetySettings: [] })).toEqual({ messages: [{ role: "user", content: prompt }] })
    expect(decoded({ generationConfig: { topK: 2.5 } })).toEqual({ messages: [{ role: "user", content: prompt }] })
  })

  it("the call from the URL: model (models/ dropped), method, alt=sse; other methods none", () => {
    expect(GeminiRequest.callOf("default:streamGenerateContent", "alt=sse")).toEqual({ model: "default", method: "streamGenerateContent", alt: "sse", sse: true })
    expect(GeminiRequest.callOf("default:streamGenerateContent", "alt=json")).toEqual({ model: "default", method: "streamGenerateContent", alt: "json", sse: false })
    expect(GeminiRequest.callOf("models/openai/gpt-4o:generateContent", "")).toEqual({ model: "openai/gpt-4o", method: "generateContent", alt: null, sse: false })
    expect(GeminiRequest.callOf("default:embedContent", "")).toBeUndefined()
    expect(GeminiRequest.callOf("default", "")).toBeUndefined()
  })

  it("thinkingConfig: a level as its effort, a budget as the Messages route reads one (0 none, -1 the model's default)", () => {
    const effort = (thinkingConfig: unknown) => decoded({ generationConfig: { thinkingConfig } }).reasoningEffort
    expect(effort({ thinkingLevel: "HIGH" })).toBe("high")
    expect(effort({ thinkingLevel: "low" })).toBe("low")
    expect(effort({ thinkingBudget: 0 })).toBe("none")
    expect(effort({ thinkingBudget: -1 })).toBeUndefined()
    expect(effort({ thinkingBudget: 2_048 })).toBe("low")
    expect(effort({ thinkingBudget: 24_576, includeThoughts: true })).toBe("high")
  })

  it("function calls without ids: made from their place, and each functionResponse matched by name to the call before it", () => {
    const request = decoded({
      contents: [
        { role: "user", parts: [{ text: "Paris and Rome?" }] },
        {
          role: "model",
          parts: [
            { thought: true, text: "thinking" },
            { functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "sig-1" },
            { functionCall: { name: "weather", args: { city: "Rome" } } }
          ]
        },
        {
          parts: [
            { functionResponse: { name: "weather", response: { output: "sunny" } } },
            { functionResponse: { name: "weather", response: { output: "rain" } } },
            { text: "And tomorrow?" }
          ]
        }
      ]
    })
    expect(request.messages).toEqual([
      { role: "user", content: "Paris and Rome?" },
      {
        role: "assistant",
        toolCalls: [
          { id: "call_1_1", name: "weather", arguments: "{\"city\":\"Paris\"}", signature: "sig-1" },
          { id: "call_1_2", name: "weather", arguments: "{\"city\":\"Rome\"}" }
        ]
      },
      { role: "tool", toolCallId: "call_1_1", content: "{\"output\":\"sunny\"}" },
      { role: "tool", toolCallId: "call_1_2", content: "{\"output\":\"rain\"}" },
      { role: "user", content: "And tomorrow?" }
    ])
    const orphan = GeminiRequest.decode({ contents: [{ parts: [{ functionResponse: { name: "weather", response: {} } }] }] }, call)
    expect(Either.isLeft(orphan) && orphan.left.param).toBe("contents[0].parts[0].functionResponse.name")
  })

  it("a function declared twice, in one tool or two, is refused at the second one's name", () => {
    const declaration = { name: "weather", parameters: { type: "OBJECT" } }
    const decoded = GeminiRequest.decode(
      { contents: [{ role: "user", parts: [{ text: "hi" }] }], tools: [{ functionDeclarations: [declaration] }, { functionDeclarations: [{ name: "time" }, declaration] }] },
      call
    )
    expect(Either.isLeft(decoded) && decoded.left.param).toBe("tools[1].functionDeclarations[1].name")
  })

  it("a functionResponse of an error alone is a failed tool's result (isError); with anything beside it, a result", () => {
    const request = decoded({
      contents: [
        { role: "user", parts: [{ text: "Paris, Rome, Oslo?" }] },
        {
          role: "model",
          parts: [
            { functionCall: { name: "weather", args: { city: "Paris" } } },
            { functionCall: { name: "weather", args: { city: "Rome" } } },
            { functionCall: { name: "weather", args: { city: "Oslo" } } }
          ]
        },
        {
          parts: [
            { functionResponse: { name: "weather", response: { error: "service down" } } },
            { functionResponse: { name: "weather", response: { error: { code: 503 } } } },
            { functionResponse: { name: "weather", response: { error: "partial", output: "cloudy" } } }
          ]
        }
      ]
    })
    expect(request.messages.slice(2)).toEqual([
      { role: "tool", toolCallId: "call_1_0", content: "service down", isError: true },
      { role: "tool", toolCallId: "call_1_1", content: "{\"code\":503}", isError: true },
      { role: "tool", toolCallId: "call_1_2", content: "{\"error\":\"partial\",\"output\":\"cloudy\"}" }
    ])
  })

  it("Gemini's Schema as JSON Schema: int64 bounds as numbers, nullable on an enum and an anyOf, TYPE_UNSPECIFIED dropped", () => {
    // the SDK's Schema types minItems, maxItems, minLength, maxLength, minProperties and maxProperties as
    // strings (proto int64), and makes a JSON Schema's nullable union `{ anyOf, nullable: true }` (processJsonSchema)
    expect(GeminiRequest.jsonSchemaOf({
      type: "OBJECT",
      properties: {
        tags: { type: "ARRAY", minItems: "1", maxItems: "3", items: { type: "STRING", minLength: "2", maxLength: "9" } },
        meta: { type: "OBJECT", minProperties: "1", maxProperties: 4 },
        size: { type: "STRING", format: "enum", enum: ["S", "M"], nullable: true },
        id: { anyOf: [{ type: "STRING" }, { type: "INTEGER" }], nullable: true },
        any: { type: "TYPE_UNSPECIFIED", description: "anything" }
      }
    })).toEqual({
      type: "object",
      properties: {
        tags: { type: "array", minItems: 1, maxItems: 3, items: { type: "string", minLength: 2, maxLength: 9 } },
        meta: { type: "object", minProperties: 1, maxProperties: 4 },
        size: { type: ["string", "null"], format: "enum", enum: ["S", "M", null] },
        id: { anyOf: [{ type: "string" }, { type: "integer" }, { type: "null" }] },
        any: { description: "anything" }
      }
    })
  })

  it("Gemini's Schema types, in any case (the older SDK writes them lower-case), and no others, anywhere in the schema tree", () => {
    expect(GeminiRequest.jsonSchemaOf({
      type: "object",
      properties: {
        type: { type: "String" },
        n: { type: "NUMBER" },
        i: { type: "integer" },
        b: { type: "Boolean" },
        none: { type: "NULL" },
        either: { type: ["STRING", "null"] },
        list: { type: "ARRAY", items: { anyOf: [{ type: "OBJECT", properties: { deep: { type: "string" } } }, { type: "TYPE_UNSPECIFIED" }] } }
      }
    })).toEqual({
      type: "object",
      properties: {
        type: { type: "string" },
        n: { type: "number" },
        i: { type: "integer" },
        b: { type: "boolean" },
        none: { type: "null" },
        either: { type: ["string", "null"] },
        list: { type: "array", items: { anyOf: [{ type: "object", properties: { deep: { type: "string" } } }, {}] } }
      }
    })
    const refusedAt = (parameters: unknown) => {
      const result = GeminiRequest.decode({ contents: [{ role: "user", parts: [{ text: "hi" }] }], tools: [{ functionDeclarations: [{ name: "f", parameters }] }] }, call)
      return Either.isLeft(result) ? [result.left.param, result.left.message] : undefined
    }
    const p = "tools[0].functionDeclarations[0].parameters"
    expect(refusedAt({ type: "OBJECT", properties: { a: { type: "OBJECT", additionalProperties: { type: "MAP" } } } })?.[0]).toBe(`${p}.properties.a.additionalProperties.type`)
    expect(refusedAt({ type: "OBJECT", $defs: { Item: { type: "RECORD" } } })?.[0]).toBe(`${p}.$defs.Item.type`)
    expect(refusedAt({ type: "ARRAY", prefixItems: [{ type: "STRING" }, { type: "TUPLE" }] })?.[0]).toBe(`${p}.prefixItems[1].type`)
    expect(refusedAt({ type: "" })?.[0]).toBe(`${p}.type`)
    expect(refusedAt({ type: "OBJECT", properties: { x: { type: "STRNG" } } })?.[1]).toMatch(/STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT/)
    // a schema deeper than the decoder reads (the body's own nesting is bounded too) is refused, not walked
    let deep: Record<string, unknown> = { type: "STRING" }
    for (let i = 0; i < 40; i++) deep = { type: "ARRAY", items: deep }
    expect(refusedAt(deep)?.[0]).toMatch(/^tools\[0\]\.functionDeclarations\[0\]\.parameters(\.items)+$/)
    let shallow: Record<string, unknown> = { type: "STRING" }
    for (let i = 0; i < 20; i++) shallow = { type: "ARRAY", items: shallow }
    expect(refusedAt(shallow)).toBeUndefined()
  })

  it("a functionResponse whose id names no call (Gemini CLI makes its own for a call without one) answers the call of its name", () => {
    // gemini-cli's turn.ts: `callId = fnCall.id ?? \`${fnCall.name}-${Date.now()}-...\``, sent back as the response's id;
    // Gemini matches by name: a history recorded against Gemini itself has calls without ids
    const request = decoded({
      contents: [
        { role: "user", parts: [{ text: "Paris?" }] },
        { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }] },
        { role: "user", parts: [{ functionResponse: { id: "weather-1765100000000-9f3a", name: "weather", response: { output: "sunny" } } }] }
      ]
    })
    expect(request.messages[2]).toEqual({ role: "tool", toolCallId: "call_1_0", content: "{\"output\":\"sunny\"}" })
  })

  it("a turn of role 'function' (Google's older SDK, @google/generative-ai, sends function responses so) is read as the user's", () => {
    const request = decoded({
      contents: [
        { role: "user", parts: [{ text: "Paris?" }] },
        { role: "model", parts: [{ functionCall: { id: "c1", name: "weather", args: { city: "Paris" } } }] },
        { role: "function", parts: [{ functionResponse: { id: "c1", name: "weather", response: { output: "sunny" } } }] }
      ]
    })
    expect(request.messages[2]).toEqual({ role: "tool", toolCallId: "c1", content: "{\"output\":\"sunny\"}" })
  })

  it("toolConfig: AUTO, NONE, ANY (one allowed name asks for it; several keep only those tools)", () => {
    const tools = [{ functionDeclarations: [weather, { name: "time", parameters: { type: "OBJECT", properties: { zone: { type: "STRING" } } } }] }]
    const with_ = (functionCallingConfig: unknown) => decoded({ tools, toolConfig: { functionCallingConfig } })
    expect(with_({ mode: "AUTO" }).toolChoice).toBe("auto")
    expect(with_({ mode: "NONE" }).toolChoice).toBe("none")
    expect(with_({ mode: "ANY" }).toolChoice).toBe("required")
    expect(with_({ mode: "ANY", allowedFunctionNames: ["time"] })).toMatchObject({ toolChoice: { name: "time" }, tools: [{ name: "time" }] })
    expect(with_({ mode: "ANY", allowedFunctionNames: ["time", "weather"] }).tools?.map((t) => t.name)).toEqual(["weather", "time"])
    // Gemini's OpenAPI `parameters`, as JSON Schema
    expect(with_({ mode: "AUTO" }).tools?.[1]?.parameters).toEqual({ type: "object", properties: { zone: { type: "string" } } })
  })
})

describe("geminiResponse", () => {
  it("Google's status for each gateway status, and its error JSON", () => {
    const statuses = [400, 401, 403, 404, 405, 408, 413, 415, 429, 500, 502, 503, 504].map((status) => [status, googleStatus(status)])
    expect(statuses).toEqual([
      [400, "INVALID_ARGUMENT"],
      [401, "UNAUTHENTICATED"],
      [403, "PERMISSION_DENIED"],
      [404, "NOT_FOUND"],
      [405, "INVALID_ARGUMENT"],
      [408, "DEADLINE_EXCEEDED"],
      [413, "INVALID_ARGUMENT"],
      [415, "INVALID_ARGUMENT"],
      [429, "RESOURCE_EXHAUSTED"],
      [500, "INTERNAL"],
      [502, "UNAVAILABLE"],
      [503, "UNAVAILABLE"],
      [504, "DEADLINE_EXCEEDED"]
    ])
    expect(errorJson(Errors.shuttingDown())).toMatchObject({ error: { code: 503, status: "UNAVAILABLE", details: expect.arrayContaining([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }]) } })
    // every error under a Gemini path is Google's
    expect(Wire.errorsOf("/v1beta/anything")(Errors.internal())).toMatchObject({ error: { code: 500, status: "INTERNAL" } })
    expect(Wire.errorsOf("/v1/models/x:generateContent")(Errors.internal())).toMatchObject({ error: { status: "INTERNAL" } })
    expect(Wire.errorsOf("/v1/models/x")(Errors.internal())).toMatchObject({ error: { type: "server_error" } })
  })

  it("usage: thinking apart from the answer, the cache's reads as cachedContentTokenCount", () => {
    expect(usageJson({ inputTokens: 100, outputTokens: 50, reasoningTokens: 30, cacheReadTokens: 60 })).toEqual({
      promptTokenCount: 100,
      candidatesTokenCount: 20,
      thoughtsTokenCount: 30,
      totalTokenCount: 150,
      cachedContentTokenCount: 60
    })
  })

  it("the encoder: text events, a call's pieces gathered into one functionCall at the end; a stop on policy SAFETY", () => {
    const encoder = new ResponseEncoder("r1", "m")
    expect(encoder.start()).toBe("")
    const out = [
      encoder.chunk({ _tag: "TextDelta", text: "Hi" }),
      encoder.chunk({ _tag: "ToolCallDelta", index: 0, id: "c1", name: "weather", arguments: "{\"ci" }),
      encoder.chunk({ _tag: "ToolCallDelta", index: 0, arguments: "ty\":\"Paris\"}" }),
      encoder.chunk({ _tag: "Finish", reason: "tool_calls" }),
      encoder.end({ inputTokens: 1, outputTokens: 2 })
    ].join("")
    const { events: all } = sse(out)
    expect(all).toEqual([
      { candidates: [{ content: { parts: [{ text: "Hi" }], role: "model" }, index: 0 }], modelVersion: "m", responseId: "r1" },
      {
        candidates: [{ content: { parts: [{ functionCall: { id: "c1", name: "weather", args: { city: "Paris" } } }], role: "model" }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2, totalTokenCount: 3 },
        modelVersion: "m",
        responseId: "r1"
      }
    ])
    const stopped = new ResponseEncoder("r2", "m").stoppedStream(new ContentFiltered({ provider: "p", model: "m", message: "x", partialText: "so far", reason: "RECITATION" }))
    expect(sse(stopped).events.at(-1)?.candidates?.[0]?.finishReason).toBe("RECITATION")
  })
})
