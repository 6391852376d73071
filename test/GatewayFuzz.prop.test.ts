/**
 * The gateway against mutated requests, property-based: valid request bodies
 * of each ingress (OpenAI's chat completions and Responses, Anthropic's
 * Messages and its token count, Gemini's generateContent, streamed and
 * counted) mutated at every path (wrong types, null, missing and unknown
 * fields, parts of other bodies, huge and NaN-ish numbers, empty arrays,
 * deep nesting, lone surrogates, long strings) and at the wire (invalid
 * JSON, duplicated keys, numbers JSON cannot hold, wrong content types,
 * odd headers); any path and method; keys sent every way; malformed
 * request heads; clients that leave; and valid requests over odd or failing
 * provider answers. Over real gateways on 127.0.0.1 (port 0) and mock
 * upstreams (one a wire format), each answer must be a 200 (a streamed one
 * well-formed SSE that ends as its API's do) or a 4xx whose body is the
 * ingress's own error JSON with a message; a refusal calls no upstream;
 * nothing hangs or stays in flight; and a valid request still gets its 200
 * after every case. Seeded, a fixed number of runs (FUZZ_RUNS for a longer
 * search by hand), each property's time bounded. The defects it found are
 * kept as plain, named regression tests.
 */
import { HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, FastCheck, Layer, Redacted } from "effect"
import * as NodeHttp from "node:http"
import * as Net from "node:net"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Observability from "../src/observability/Observability.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import * as Upstreams from "./support/upstreams.js"

// ---------------------------------------------------------------------------
// The harness: one gateway for the file, over two mock upstreams
// ---------------------------------------------------------------------------

class Harness extends Context.Tag("test/GatewayFuzz/Harness")<
  Harness,
  { readonly gateway: Gateway.Server; readonly upstreams: ReadonlyArray<MockServer.MockServer>; readonly router: Router.Service }
>() {}

/** The chains a case may name: OpenAI's wire then Anthropic's; Anthropic's alone; Gemini's alone. */
const chains = ["default", "claude", "gemini"] as const

/** Three mock upstreams, one a wire format, each an adapter's; a chain over each (see `chains`), and the gateway. */
const makeHarness = Effect.gen(function* () {
    const upstreams = [yield* MockServer.make(), yield* MockServer.make(), yield* MockServer.make()] as const
    const key = Redacted.make(Upstreams.upstreamKey)
    const router = yield* Router.make({
      targets: {
        gpt: { model: yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: key, baseUrl: upstreams[0].baseUrls.openai }) },
        haiku: { model: yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: key, baseUrl: upstreams[1].baseUrls.anthropic }) },
        flash: { model: yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: key, baseUrl: upstreams[2].baseUrls.gemini }) }
      },
      chains: { default: ["gpt", "haiku"], claude: ["haiku"], gemini: ["flash"] },
      policy: { retry: { maxAttempts: 1 } }
    })
    const gateway = yield* Upstreams.quiet(Gateway.make({ router, port: 0 }))
    return { gateway, upstreams, router }
  })

const HarnessLive = Layer.scoped(Harness, makeHarness)

interface Answer {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly text: string
}

/** No answer within this long is a hang (the mocks answer in milliseconds). */
const hangAfterMs = 10_000

/**
 * One request over a fresh connection with exactly the headers given;
 * rejects on a socket error before the answer ended (a crash) or on no
 * answer in `hangAfterMs` (a hang).
 */
const send = (url: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer) =>
  new Promise<Answer>((resolve, reject) => {
    const request = NodeHttp.request(`${url}${path}`, { method, headers, agent: false })
    const timer = setTimeout(() => {
      request.destroy()
      reject(new Error(`no answer in ${hangAfterMs} ms`))
    }, hangAfterMs)
    request.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        clearTimeout(timer)
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") })
      })
      response.on("error", (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
    request.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    request.end(body)
  })

/** Writes `request` as is on a new connection; everything the server sent until it closed (or 5 s passed). */
const rawExchange = (port: number, request: string) =>
  new Promise<string>((resolve) => {
    const chunks: Array<Buffer> = []
    const socket = Net.connect(port, "127.0.0.1", () => socket.write(request))
    const timer = setTimeout(() => socket.destroy(), 5_000)
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString("utf8"))
    })
  })

/** As `rawExchange`, but the client leaves after 300 ms: a head the server still waits on is given up. */
const rawExchangeBrief = (port: number, request: string) =>
  new Promise<string>((resolve) => {
    const chunks: Array<Buffer> = []
    const socket = Net.connect(port, "127.0.0.1", () => socket.write(request))
    const timer = setTimeout(() => socket.destroy(), 300)
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString("utf8"))
    })
  })

// ---------------------------------------------------------------------------
// The ingresses: their valid bodies, paths and error shapes
// ---------------------------------------------------------------------------

type Shape = "openai" | "anthropic" | "google"

/** How a 200 comes: whole JSON, SSE, or Gemini's JSON-array stream. */
type Framing = "json" | "sse" | "array"

interface Ingress {
  readonly name: string
  readonly shape: Shape
  /** The path for a chain (named in the body, or in the path on Gemini's), and how its 200 is framed, for a body (its `stream`, on OpenAI's and Anthropic's). */
  readonly path: (chain: string) => string
  /** Whether the body names the model (not the path). */
  readonly modelInBody: boolean
  readonly framing: (body: unknown) => Framing
  /** Whether an answer calls a provider (a token count does not). */
  readonly calls: boolean
  readonly valid: ReadonlyArray<Record<string, unknown>>
}

const streamFlag = (body: unknown): Framing =>
  typeof body === "object" && body !== null && !Array.isArray(body) && (body as Record<string, unknown>)["stream"] === true ? "sse" : "json"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

const weatherSchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }

const chat: Ingress = {
  name: "chat completions",
  shape: "openai",
  path: () => "/v1/chat/completions",
  modelInBody: true,
  framing: streamFlag,
  calls: true,
  valid: [
    { model: "default", messages: [{ role: "user", content: "Say hi." }] },
    {
      model: "default",
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
      temperature: 0.5,
      top_p: 0.9,
      stop: ["\n\n"],
      seed: 7,
      user: "u1",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: `data:image/png;base64,${png}`, detail: "low" } }] }
      ]
    },
    {
      model: "default",
      messages: [
        { role: "developer", content: "Use the tool." },
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } }] },
        { role: "tool", tool_call_id: "call_1", content: "Sunny." }
      ],
      tools: [{ type: "function", function: { name: "weather", description: "The weather", parameters: weatherSchema } }],
      tool_choice: { type: "function", function: { name: "weather" } },
      parallel_tool_calls: false,
      max_completion_tokens: 100
    },
    {
      model: "default",
      stream: true,
      messages: [{ role: "user", content: "JSON please." }],
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: weatherSchema, strict: true } },
      reasoning_effort: "low"
    }
  ]
}

const responses: Ingress = {
  name: "responses",
  shape: "openai",
  path: () => "/v1/responses",
  modelInBody: true,
  framing: streamFlag,
  calls: true,
  valid: [
    { model: "default", input: "Say hi." },
    {
      model: "default",
      stream: true,
      instructions: "Be brief.",
      max_output_tokens: 64,
      temperature: 0.5,
      input: [
        { role: "user", content: [{ type: "input_text", text: "What is this?" }, { type: "input_image", image_url: `data:image/png;base64,${png}`, detail: "auto" }] }
      ]
    },
    {
      model: "default",
      input: [
        { role: "user", content: "Weather in Paris?" },
        { type: "function_call", call_id: "call_1", name: "weather", arguments: "{\"city\":\"Paris\"}" },
        { type: "function_call_output", call_id: "call_1", output: "Sunny." }
      ],
      tools: [{ type: "function", name: "weather", description: "The weather", parameters: weatherSchema, strict: false }],
      tool_choice: { type: "function", name: "weather" }
    },
    {
      model: "default",
      stream: true,
      input: "JSON please.",
      text: { format: { type: "json_schema", name: "answer", schema: weatherSchema, strict: true } },
      reasoning: { effort: "low" }
    }
  ]
}

const messagesValid: ReadonlyArray<Record<string, unknown>> = [
  { model: "default", max_tokens: 64, messages: [{ role: "user", content: "Say hi." }] },
  {
    model: "default",
    max_tokens: 64,
    stream: true,
    system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
    temperature: 0.5,
    stop_sequences: ["\n\n"],
    metadata: { user_id: "u1" },
    messages: [
      { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image", source: { type: "base64", media_type: "image/png", data: png } }] }
    ]
  },
  {
    model: "default",
    max_tokens: 100,
    system: "Use the tool.",
    messages: [
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "Sunny." }] }
    ],
    tools: [{ name: "weather", description: "The weather", input_schema: weatherSchema }],
    tool_choice: { type: "tool", name: "weather" }
  },
  {
    model: "default",
    max_tokens: 2048,
    stream: true,
    thinking: { type: "enabled", budget_tokens: 1024 },
    messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "https://example.com/a.png" } }, { type: "text", text: "Describe." }] }]
  }
]

const messages: Ingress = { name: "messages", shape: "anthropic", path: () => "/v1/messages", modelInBody: true, framing: streamFlag, calls: true, valid: messagesValid }

const countTokens: Ingress = {
  name: "count_tokens",
  shape: "anthropic",
  path: () => "/v1/messages/count_tokens",
  modelInBody: true,
  framing: () => "json",
  calls: false,
  valid: messagesValid.map(({ max_tokens: _, stream: __, ...rest }) => rest)
}

const geminiValid: ReadonlyArray<Record<string, unknown>> = [
  { contents: [{ role: "user", parts: [{ text: "Say hi." }] }] },
  {
    contents: [{ role: "user", parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: png } }] }],
    systemInstruction: { parts: [{ text: "Be brief." }] },
    generationConfig: { temperature: 0.5, topP: 0.9, maxOutputTokens: 64, stopSequences: ["\n\n"], seed: 7 },
    safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }]
  },
  {
    contents: [
      { role: "user", parts: [{ text: "Weather in Paris?" }] },
      { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }] },
      { role: "user", parts: [{ functionResponse: { name: "weather", response: { result: "Sunny." } } }] }
    ],
    tools: [{ functionDeclarations: [{ name: "weather", description: "The weather", parametersJsonSchema: weatherSchema }] }],
    toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } }
  },
  {
    contents: [{ parts: [{ text: "JSON please." }] }],
    generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { city: { type: "STRING" } } } }
  }
]

const gemini = (name: string, method: string, framing: Framing, calls = true, valid = geminiValid): Ingress => ({
  name,
  shape: "google",
  path: (chain) => `/v1beta/models/${chain}:${method}`,
  modelInBody: false,
  framing: () => framing,
  calls,
  valid
})

const ingresses: ReadonlyArray<Ingress> = [
  chat,
  responses,
  messages,
  countTokens,
  gemini("generateContent", "generateContent", "json"),
  gemini("streamGenerateContent (SSE)", "streamGenerateContent?alt=sse", "sse"),
  gemini("streamGenerateContent (JSON array)", "streamGenerateContent", "array"),
  // a count takes the request bare, or whole as `generateContentRequest`
  gemini("countTokens", "countTokens", "json", false, [...geminiValid, { generateContentRequest: { model: "models/default", ...geminiValid[2] } }])
]

// ---------------------------------------------------------------------------
// Checking an answer
// ---------------------------------------------------------------------------

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const nonEmpty = (value: unknown): boolean => typeof value === "string" && value.trim().length > 0

/** Why `body` is not an error of `shape` for `status` (undefined: it is). */
const shapeProblem = (shape: Shape, status: number, body: unknown): string | undefined => {
  if (!isRecord(body)) return "not a JSON object"
  const error = body["error"]
  if (!isRecord(error)) return "no `error` object"
  switch (shape) {
    case "openai":
      if (!nonEmpty(error["message"])) return "no error.message"
      if (!nonEmpty(error["type"])) return "no error.type"
      if (!("param" in error) || !(error["param"] === null || typeof error["param"] === "string")) return "error.param not a string or null"
      if (!("code" in error) || !(error["code"] === null || typeof error["code"] === "string")) return "error.code not a string or null"
      return undefined
    case "anthropic":
      if (body["type"] !== "error") return "type is not \"error\""
      if (!nonEmpty(error["type"])) return "no error.type"
      if (!nonEmpty(error["message"])) return "no error.message"
      return undefined
    case "google":
      if (error["code"] !== status) return `error.code ${String(error["code"])} is not the status ${status}`
      if (!nonEmpty(error["message"])) return "no error.message"
      if (!nonEmpty(error["status"])) return "no error.status"
      return undefined
  }
}

/**
 * Why `text` is not a well-formed SSE body (undefined: it is): frames of
 * `event:` and `data:` lines, each data JSON (or OpenAI's `[DONE]`), a named
 * event's data of that `type`; and it ends as its API's streams end:
 * OpenAI's chat with `[DONE]` (or an error event), Anthropic's with
 * `message_stop` (or `error`), the Responses API's with its response
 * completed, incomplete or failed; Gemini's, failed mid-way, with Google's
 * error JSON bare after its last event.
 */
const sseProblem = (text: string): string | undefined => {
  const frames = text.split("\n\n")
  // a Gemini stream that failed mid-way ends with Google's error JSON, bare, as Gemini's streams do
  const tail = frames.pop() ?? ""
  if (tail !== "") {
    const error = sent(tail)
    const code = isRecord(error) && isRecord(error["error"]) ? error["error"]["code"] : undefined
    if (typeof code !== "number" || shapeProblem("google", code, error) !== undefined) return `does not end with a blank line or Google's error: ${JSON.stringify(tail.slice(0, 80))}`
  }
  const events: Array<{ readonly event: string | undefined; readonly data: unknown }> = []
  for (const frame of frames) {
    let data: string | undefined
    let event: string | undefined
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue
      if (line.startsWith("event: ")) event = line.slice(7)
      else if (line.startsWith("data: ")) data = (data === undefined ? "" : `${data}\n`) + line.slice(6)
      else return `a line that is no field: ${JSON.stringify(line.slice(0, 80))}`
    }
    if (data === undefined) return `a frame without data: ${JSON.stringify(frame.slice(0, 80))}`
    if (data === "[DONE]") {
      events.push({ event, data })
      continue
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(data)
    } catch {
      return `data that is no JSON: ${JSON.stringify(data.slice(0, 80))}`
    }
    if (event !== undefined && (!isRecord(parsed) || parsed["type"] !== event)) return `an event ${event} whose data's type is ${isRecord(parsed) ? String(parsed["type"]) : "none"}`
    events.push({ event, data: parsed })
  }
  const last = events.at(-1)
  if (last === undefined) return "no event"
  const done = events.findIndex((e) => e.data === "[DONE]")
  if (done >= 0 && done !== events.length - 1) return "events after [DONE]"
  const named = events.map((e) => e.event)
  if (named.includes("message_start") && last.event !== "message_stop" && last.event !== "error") return `an Anthropic stream that ends with ${String(last.event)}`
  if (named.some((e) => e?.startsWith("response.")) && !["response.completed", "response.incomplete", "response.failed"].includes(last.event ?? "")) {
    return `a Responses stream that ends with ${String(last.event)}`
  }
  const chat = events.some((e) => isRecord(e.data) && e.data["object"] === "chat.completion.chunk")
  if (chat && last.data !== "[DONE]" && !(isRecord(last.data) && "error" in last.data)) return "a chat stream without [DONE]"
  return undefined
}

/** Why an answer breaks the properties (undefined: it does not). */
const answerProblem = (shape: Shape, framing: Framing, answer: Answer): string | undefined => {
  const type = String(answer.headers["content-type"] ?? "")
  if (answer.status === 200) {
    if (framing === "sse") {
      if (!type.startsWith("text/event-stream")) return `a streamed 200 of content type ${type}`
      return sseProblem(answer.text)
    }
    if (!type.startsWith("application/json")) return `a 200 of content type ${type}`
    try {
      const body = JSON.parse(answer.text) as unknown
      return framing === "array" && !Array.isArray(body) ? "a JSON-array stream that is no array" : undefined
    } catch {
      return "a 200 whose body is no JSON"
    }
  }
  if (answer.status < 400 || answer.status > 499) return `status ${answer.status}`
  // the mocks never limit or fail: a 429 is the gateway's own doing, and none is configured
  if (answer.status === 429) return "a 429 with no limit configured"
  if (!type.startsWith("application/json")) return `a ${answer.status} of content type ${type}`
  let body: unknown
  try {
    body = JSON.parse(answer.text)
  } catch {
    return `a ${answer.status} whose body is no JSON`
  }
  // Gemini's JSON-array stream answers its errors as an array of one, as Gemini does
  if (framing === "array" && Array.isArray(body) && body.length === 1) body = body[0]
  const problem = shapeProblem(shape, answer.status, body)
  return problem === undefined ? undefined : `a ${answer.status} not in ${shape}'s error shape (${problem})`
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

type Path = ReadonlyArray<string | number>

/** Every path into a JSON value, the root first. */
const pathsOf = (value: unknown, at: Path = [], out: Array<Path> = []): Array<Path> => {
  out.push(at)
  if (Array.isArray(value)) value.forEach((item, i) => pathsOf(item, [...at, i], out))
  else if (isRecord(value)) for (const key of Object.keys(value)) pathsOf(value[key], [...at, key], out)
  return out
}

const getAt = (value: unknown, path: Path): unknown => path.reduce<unknown>((v, key) => (v as Record<string | number, unknown>)[key], value)

/** Placeholders for numbers JSON has but JavaScript cannot hold: written into the text once stringified. */
const rawNumbers: Record<string, string> = {
  "\u0001INF\u0001": "1e999",
  "\u0001NEGINF\u0001": "-1e999",
  "\u0001BIGINT\u0001": "123456789012345678901234567890",
  "\u0001TINY\u0001": "-0.0e-400",
  "\u0001NEGZERO\u0001": "-0"
}

const loneSurrogates = ["\ud800", "\udfff", "a\ud83d", "\ude00b", "\u0000", "\u202e\u0000\uffff", "😀".repeat(3), "\u00e9\u0301"]

/** Strings a field's check may meet: enum values of the three APIs, numbers and words written as strings. */
const wordy = [
  "user", "assistant", "system", "developer", "tool", "function", "model",
  "text", "image_url", "image", "input_text", "input_image", "output_text", "tool_use", "tool_result", "thinking",
  "function_call", "function_call_output", "message", "auto", "none", "required", "any", "ANY", "AUTO", "NONE",
  "json_schema", "json_object", "base64", "url", "ephemeral", "enabled", "low", "high",
  "NaN", "Infinity", "-Infinity", "-1", "0", "1e999", "true", "null", "undefined", "default", "weather",
  "http://127.0.0.1/a.png", "file:///etc/passwd", "https://", "data:", "data:image/png;base64,!!!", "data:text/plain,hi",
  "https://example.com/" + "a".repeat(3000), "gs://bucket/a.png", "javascript:alert(1)", "//example.com/a.png", "http://[::1]/a.png",
  "__proto__", "constructor", "toString", "{\"city\":", "{}", "[]", "{\"city\":\"Paris\"} {}", "call_1", "toolu_1", "weather ", "wea-ther.v2",
  "image/png", "image/svg+xml", "application/pdf", "text/plain", "audio/wav", "STRING", "OBJECT", "ARRAY", "application/json", "text/x.enum"
]

const weirdString = FastCheck.oneof(
  { weight: 4, arbitrary: FastCheck.constantFrom(...wordy) },
  { weight: 2, arbitrary: FastCheck.constantFrom(...loneSurrogates) },
  { weight: 1, arbitrary: FastCheck.constantFrom("", " ", "\n") },
  { weight: 2, arbitrary: FastCheck.string({ unit: "binary", maxLength: 20 }) },
  // long, within the upload limit
  { weight: 1, arbitrary: FastCheck.constantFrom(10_000, 200_000, 900_000).map((n) => "x".repeat(n)) }
)

/** Nested arrays or objects, `depth` deep. */
const nested = (depth: number, kind: "array" | "object" | "parts"): unknown => {
  let value: unknown = kind === "parts" ? { type: "text", text: "x" } : "x"
  for (let i = 0; i < depth; i++) value = kind === "array" ? [value] : kind === "object" ? { a: value } : [{ type: "text", text: value }]
  return value
}

const weirdValue: FastCheck.Arbitrary<unknown> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.constantFrom<unknown>(null, true, false, [], {}, [null], [[]], { type: null }, { type: "text" }) },
  {
    weight: 3,
    arbitrary: FastCheck.constantFrom<unknown>(
      0, -1, 1, 1.5, -0.5, 2, 3, 1e308, -1e308, 2 ** 53 + 2, -(2 ** 53), 4294967296, 1e-300, ...Object.keys(rawNumbers)
    )
  },
  { weight: 4, arbitrary: weirdString },
  { weight: 1, arbitrary: FastCheck.tuple(FastCheck.integer({ min: 1, max: 200 }), FastCheck.constantFrom<"array" | "object" | "parts">("array", "object", "parts")).map(([d, k]) => nested(d, k)) },
  { weight: 1, arbitrary: FastCheck.jsonValue({ maxDepth: 3 }) }
)

/** Keys a mutation may add: the fields of the three APIs (at a wrong place, or where they go) and prototype names. */
const keys = [
  "__proto__", "constructor", "toString", "hasOwnProperty", "stream", "tools", "tool_choice", "max_tokens", "n", "stop", "system",
  "role", "content", "type", "text", "image_url", "url", "detail", "parts", "functionCall", "functionResponse", "inlineData",
  "fileData", "response_format", "format", "instructions", "input", "messages", "contents", "model", "temperature", "logprobs",
  "top_logprobs", "seed", "user", "metadata", "stream_options", "parallel_tool_calls", "thinking", "cache_control", "source",
  "data", "media_type", "tool_use_id", "id", "name", "arguments", "input_schema", "parameters", "functionDeclarations",
  "generationConfig", "responseMimeType", "responseSchema", "maxOutputTokens", "candidateCount", "toolConfig",
  "functionCallingConfig", "mode", "allowedFunctionNames", "tool_calls", "tool_call_id", "call_id", "output", "refusal",
  "max_output_tokens", "max_completion_tokens", "previous_response_id", "background", "store", "modalities", "audio",
  "prediction", "budget_tokens", "top_k", "topK", "thinkingConfig", "thinkingBudget", "systemInstruction", "cachedContent",
  "safetySettings", "responseModalities", "include", "truncation", "strict", "json_schema", "schema", "args", "response",
  "mimeType", "fileUri", "x-unknown-field", ""
]

type Mutation =
  | { readonly _tag: "Replace"; readonly at: number; readonly value: unknown }
  | { readonly _tag: "Delete"; readonly at: number }
  | { readonly _tag: "AddKey"; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly _tag: "Empty"; readonly at: number }
  | { readonly _tag: "Repeat"; readonly at: number; readonly times: number }
  | { readonly _tag: "Wrap"; readonly at: number }
  | { readonly _tag: "Swap"; readonly at: number; readonly with: number }
  | { readonly _tag: "Graft"; readonly at: number; readonly from: number }

const at = FastCheck.nat({ max: 10_000 })

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.oneof(
  { weight: 6, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Replace" as const), at, value: weirdValue }) },
  { weight: 3, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Delete" as const), at }) },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("AddKey" as const),
      at,
      key: FastCheck.oneof({ weight: 5, arbitrary: FastCheck.constantFrom(...keys) }, { weight: 1, arbitrary: FastCheck.string({ maxLength: 8 }) }),
      value: weirdValue
    })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Empty" as const), at }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Repeat" as const), at, times: FastCheck.constantFrom(2, 3, 50, 2000) }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Wrap" as const), at }) },
  // messages in odd orders: two elements of one array swapped
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Swap" as const), at, with: at }) },
  // a part of some valid body (any API's) put where another was: plausible, but perhaps not there
  { weight: 4, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Graft" as const), at, from: FastCheck.nat({ max: 100_000 }) }) }
)

/** Every part of every valid body, for `Graft` (made once the ingresses are). */
let graftPool: ReadonlyArray<unknown> | undefined
const grafts = (): ReadonlyArray<unknown> =>
  (graftPool ??= ingresses.flatMap((ingress) => ingress.valid.flatMap((body) => pathsOf(body).slice(1).map((path) => getAt(body, path)))))

/** `value` with one mutation applied (in place; the value is a copy). */
const mutate = (value: Record<string, unknown>, m: Mutation): Record<string, unknown> => {
  const paths = pathsOf(value)
  const path = paths[m.at % paths.length]!
  const parentPath = path.slice(0, -1)
  const key = path.at(-1)
  const parent = key === undefined ? undefined : (getAt(value, parentPath) as Record<string | number, unknown> | Array<unknown>)
  const target = getAt(value, path)
  const set = (next: unknown): Record<string, unknown> => {
    if (parent === undefined) return isRecord(next) ? next : value
    ;(parent as Record<string | number, unknown>)[key!] = next
    return value
  }
  switch (m._tag) {
    case "Replace":
      return set(structuredClone(m.value))
    case "Delete":
      if (parent === undefined) return value
      if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete (parent as Record<string, unknown>)[key as string]
      return value
    case "AddKey":
      if (isRecord(target)) Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true })
      else if (Array.isArray(target)) target.push(structuredClone(m.value))
      return value
    case "Empty":
      return Array.isArray(target) ? set([]) : isRecord(target) ? set({}) : set(typeof target === "string" ? "" : 0)
    case "Repeat":
      if (Array.isArray(target) && target.length > 0) {
        const copies = Array.from({ length: m.times }, () => structuredClone(target[0]))
        return set([...target, ...copies])
      }
      return value
    case "Wrap":
      return set([target])
    case "Graft":
      return set(structuredClone(grafts()[m.from % grafts().length]))
    case "Swap": {
      if (!Array.isArray(parent)) return value
      const other = m.with % parent.length
      const here = key as number
      ;[parent[here], parent[other]] = [parent[other], parent[here]]
      return value
    }
  }
}

/** What happens to the text once the body is stringified. */
type Wire =
  | { readonly _tag: "AsIs" }
  | { readonly _tag: "Truncate"; readonly at: number }
  | { readonly _tag: "DuplicateKey"; readonly key: string; readonly value: unknown; readonly first: boolean }
  | { readonly _tag: "Garbage"; readonly text: string }
  | { readonly _tag: "Bom" }
  | { readonly _tag: "NotUtf8" }

const wire: FastCheck.Arbitrary<Wire> = FastCheck.oneof(
  { weight: 30, arbitrary: FastCheck.constant({ _tag: "AsIs" as const }) },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Truncate" as const), at: FastCheck.nat({ max: 10_000 }) }) },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("DuplicateKey" as const),
      key: FastCheck.constantFrom("model", "messages", "stream", "contents", "input", "max_tokens", "tools", "__proto__"),
      value: weirdValue,
      first: FastCheck.boolean()
    })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Garbage" as const), text: FastCheck.constantFrom("x", "}", ",", " {}", "\u0000") }) },
  { weight: 1, arbitrary: FastCheck.constant({ _tag: "Bom" as const }) },
  { weight: 1, arbitrary: FastCheck.constant({ _tag: "NotUtf8" as const }) }
)

const stringify = (value: unknown): string => {
  let text = JSON.stringify(value)
  for (const [placeholder, raw] of Object.entries(rawNumbers)) text = text.replaceAll(JSON.stringify(placeholder), raw)
  return text
}

const wireText = (body: Record<string, unknown>, w: Wire): string | Buffer => {
  const text = stringify(body)
  switch (w._tag) {
    case "AsIs":
      return text
    case "Truncate":
      return text.slice(0, w.at % Math.max(1, text.length))
    case "DuplicateKey": {
      const pair = `${JSON.stringify(w.key)}:${stringify(w.value)}`
      return w.first ? `{${pair},${text.slice(1)}` : `${text.slice(0, -1)},${pair}}`
    }
    case "Garbage":
      return text + w.text
    case "Bom":
      return `\ufeff${text}`
    case "NotUtf8":
      return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from("}")])
  }
}

const contentTypes = FastCheck.oneof(
  { weight: 30, arbitrary: FastCheck.constant<string | undefined>("application/json") },
  {
    weight: 2,
    arbitrary: FastCheck.constantFrom<string | undefined>(
      "application/json; charset=utf-8",
      "Application/JSON",
      "application/json;charset=latin1",
      undefined,
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "",
      "application/json, text/plain"
    )
  }
)

/** Headers a client may add: Anthropic's and Google's, trace context, encodings, ids; some malformed. */
const extraHeaders: FastCheck.Arbitrary<Record<string, string>> = FastCheck.array(
  FastCheck.constantFrom<readonly [string, string]>(
    ["anthropic-version", "2023-06-01"],
    ["anthropic-version", "not-a-date"],
    ["anthropic-beta", "tools-2024-04-04,,, ,context-1m-2025-08-07"],
    ["anthropic-beta", "x".repeat(4000)],
    ["anthropic-beta", "oauth-2025-04-20"],
    ["x-api-key", ""],
    ["x-goog-api-key", "AIza-not-a-key"],
    ["authorization", "Bearer"],
    ["authorization", "Basic Zm9vOmJhcg=="],
    ["x-request-id", "a".repeat(500)],
    ["x-request-id", "id with spaces\u00e9"],
    ["traceparent", "00-zzzz-yyyy-01"],
    ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
    ["tracestate", ",,=,"],
    ["b3", "garbage"],
    ["content-encoding", "gzip"],
    ["content-encoding", "identity"],
    ["accept", "text/event-stream"],
    ["accept", "application/xml"],
    ["accept-encoding", "gzip, br"],
    ["origin", "http://evil.example"],
    ["x-stainless-retry-count", "NaN"],
    ["openai-organization", "\u00ff"],
    ["x-forwarded-for", "1.2.3.4, ::1"],
    ["connection", "close"],
    // the gateway listens on a loopback address with no keys: a Host of another name gets a 403
    ["host", "rebind.attacker.example"],
    ["host", "[::1"],
    ["host", "localhost."],
    ["host", "LOCALHOST:1"],
    ["host", ":::"]
  ),
  { maxLength: 3 }
).map((pairs) => Object.fromEntries(pairs))

interface Case {
  readonly headers: Record<string, string>
  readonly path: string
  readonly body: Record<string, unknown>
  readonly mutations: ReadonlyArray<Mutation>
  readonly wire: Wire
  readonly contentType: string | undefined
}

const caseOf = (ingress: Ingress): FastCheck.Arbitrary<Case> =>
  FastCheck.record({
    base: FastCheck.nat({ max: ingress.valid.length - 1 }),
    mutations: FastCheck.array(mutation, { minLength: 1, maxLength: 3 }),
    wire,
    contentType: contentTypes,
    stream: FastCheck.constantFrom<boolean | undefined>(undefined, undefined, true, false),
    chain: FastCheck.constantFrom(...chains),
    headers: FastCheck.oneof({ weight: 3, arbitrary: FastCheck.constant({}) }, { weight: 1, arbitrary: extraHeaders })
  }).map(({ base, chain, contentType, headers, mutations, stream, wire }) => {
    let body = structuredClone(ingress.valid[base]!) as Record<string, unknown>
    if (stream !== undefined && ingress.framing === streamFlag) body["stream"] = stream
    if (ingress.modelInBody) body["model"] = chain
    for (const m of mutations) body = mutate(body, m)
    return { headers, path: ingress.path(chain), body, mutations, wire, contentType }
  })

/** A short account of a case's request, for a failure's message. */
const describeCase = (text: string | Buffer, contentType: string | undefined, headers: Record<string, string> = {}): string => {
  const shown = typeof text === "string" ? text : text.toString("latin1")
  return `headers ${JSON.stringify(headers).slice(0, 300)}, content-type ${String(contentType)}, body (${shown.length} chars) ${shown.length > 600 ? `${shown.slice(0, 600)}…` : shown}`
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

const good = JSON.stringify({ model: "default", messages: [{ role: "user", content: "Say hi." }] })

/** Sends one case; throws (for fast-check) with what broke, if anything. */
const runCase = async (
  { gateway, upstreams }: Context.Tag.Service<Harness>,
  ingress: Ingress,
  path: string,
  text: string | Buffer,
  contentType: string | undefined,
  framing: Framing,
  extra: Record<string, string> = {}
) => {
  const calls = () => upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)
  const before = calls()
  const headers: Record<string, string> = { ...extra, ...(contentType === undefined ? {} : { "content-type": contentType }) }
  let answer: Answer
  try {
    answer = await send(gateway.url, "POST", path, headers, text)
  } catch (error) {
    throw new Error(`${ingress.name}: ${String(error)}; ${describeCase(text, contentType, extra)}`)
  }
  const problem = answerProblem(ingress.shape, framing, answer)
  if (problem !== undefined) {
    throw new Error(`${ingress.name} ${path}: ${problem}: ${answer.text.slice(0, 400)}; ${describeCase(text, contentType, extra)}`)
  }
  const made = calls() - before
  if (answer.status >= 400 && made > 0) {
    throw new Error(`${ingress.name}: a ${answer.status} after ${made} upstream calls: ${answer.text.slice(0, 300)}; ${describeCase(text, contentType, extra)}`)
  }
  if (answer.status === 200 && !ingress.calls && made > 0) {
    throw new Error(`${ingress.name}: a count that called upstream; ${describeCase(text, contentType, extra)}`)
  }
  // the gateway keeps serving
  const after = await send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good)
  // from a provider, not degraded mode's cache (which would hide the providers' being failed)
  if (after.status !== 200 || after.headers["x-llm-degraded"] !== undefined) throw new Error(`a valid request after the case got ${after.status} (${String(after.headers["x-llm-degraded"] ?? "not degraded")}): ${after.text.slice(0, 300)}; ${describeCase(text, contentType, extra)}`)
}

/** The body as the gateway reads it (a duplicated key's last value), if it is JSON. */
const sent = (text: string | Buffer): unknown => {
  try {
    return JSON.parse(typeof text === "string" ? text : text.toString("utf8"))
  } catch {
    return undefined
  }
}

const seed = 20261207

/**
 * A property's time, bounded: past it, the runs left are not started (and
 * the property passes on those it made). A longer search (FUZZ_RUNS) stays
 * within each test's own time limit, and no property goes on sending after
 * its test has ended.
 */
const bounded = { interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false }

// ---------------------------------------------------------------------------
// Paths, methods and headers
// ---------------------------------------------------------------------------

const knownPaths = [
  "/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/models/default",
  "/v1/models/gemini", "/v1beta/models", "/v1beta/models/default", "/v1beta/models/default:generateContent",
  "/v1beta/models/claude:streamGenerateContent", "/v1beta/models/gemini:countTokens", "/v1/models/default:generateContent",
  "/v1beta/models/models/default:generateContent", "/v1/key", "/healthz", "/readyz", "/v1/embeddings", "/v1/completions", "/", "/v1", "/v1beta"
]

const suffixes = [
  "", "", "", "/", "//", "/x", "?a=b", "?alt=sse", "?alt=proto", "?alt=", "?key=abc", "?alt=sse&alt=json", "%", "%ZZ", "%2F..", "/..",
  "/%2e%2e/healthz", ":", "::generateContent", ":countTokens", ":streamGenerateContent", ":unknownMethod", ";x", "%00", "%C3%A9",
  "%F0%9F%98%80", "%ED%A0%80", "%FF", "/" + "a".repeat(5000), "?" + "a=b&".repeat(500), "%3AgenerateContent", "*", "/*",
  // the model lists' paging: Anthropic's and Google's
  "?limit=-1", "?limit=abc", "?limit=1001", "?limit=1e3", "?limit=%00", "?limit=1&limit=2", "?after_id=nope", "?before_id=default",
  "?after_id=default&before_id=default", "?after_id=%ED%A0%80", "?pageSize=-5", "?pageSize=abc", "?pageSize=99999999999999999999",
  "?pageToken=!!!", "?pageToken=", "?pageToken=" + Buffer.from("nope").toString("base64url"), "?pageToken=" + Buffer.from("\ud800").toString("base64url")
]

/** Which error shape a path's clients expect (`undefined`: any of the three). */
const shapeOfPath = (path: string, headers: Record<string, string>): Shape | undefined => {
  // as the router reads a path: cut at `?`, `;` or `#`, a doubled or trailing slash, an escaped letter or case leads to the same route
  let bare = path.split(/[?;#]/, 1)[0]!.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1").toLowerCase()
  try {
    bare = decodeURI(bare)
  } catch {
    // left as sent
  }
  if (bare.startsWith("/v1beta/")) return "google"
  if (/^\/v1\/models\/.*(:|%3a)/i.test(bare)) return undefined
  if (bare === "/v1/messages" || bare.startsWith("/v1/messages/")) return "anthropic"
  if ((bare === "/v1/models" || bare.startsWith("/v1/models/")) && headers["anthropic-version"] !== undefined) return "anthropic"
  if (bare.startsWith("/v1/")) return "openai"
  return undefined
}

const request = FastCheck.record({
  base: FastCheck.constantFrom(...knownPaths),
  suffix: FastCheck.constantFrom(...suffixes),
  prefix: FastCheck.constantFrom("", "", "", "/", "//v1/.."),
  method: FastCheck.constantFrom("GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
  anthropic: FastCheck.boolean(),
  body: FastCheck.constantFrom<string | undefined>(undefined, good, JSON.stringify(geminiValid[0]), JSON.stringify(messagesValid[0]), "", "{")
})

/** Runs per ingress (FUZZ_RUNS for a longer search, by hand): the file in about 20 s on two shared cores. */
const numRuns = Number(process.env["FUZZ_RUNS"] ?? 150)

// ---------------------------------------------------------------------------
// Odd answers from the providers
// ---------------------------------------------------------------------------

const replyText = FastCheck.oneof(
  FastCheck.constantFrom<string | undefined>(undefined, "", " ", "\ud800", "a\udfffb", "😀", "\u0000", "data: [DONE]\n\n", "event: error\n", "\r\n\r\n", "x".repeat(100_000)),
  FastCheck.string({ unit: "binary", maxLength: 40 })
)

const toolArguments = FastCheck.oneof(
  FastCheck.constantFrom<string | Record<string, unknown> | undefined>(
    undefined, "", "{", "{\"city\":", "[]", "null", "42", "\"s\"", "{} {}", "{\"a\":1}garbage", "{\"\ud800\":\"\udfff\"}", { city: "Paris" }, {}, { deep: nested(100, "object") }
  ),
  FastCheck.dictionary(FastCheck.string({ maxLength: 5 }), FastCheck.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
)

const reply: FastCheck.Arbitrary<MockServer.Reply> = FastCheck.record(
  {
    text: replyText,
    toolCalls: FastCheck.array(
      FastCheck.record(
        {
          id: FastCheck.constantFrom<string | undefined>(undefined, "", "call_1", "call_1", "x".repeat(300), "\u00e9"),
          name: FastCheck.constantFrom("weather", "", "unknown_tool", "a b", "x".repeat(300), "\ud800", "__proto__"),
          arguments: toolArguments
        },
        { requiredKeys: ["name"] }
      ),
      { maxLength: 3 }
    ),
    usage: FastCheck.record({
      inputTokens: FastCheck.constantFrom(0, 1, 10, 2 ** 31, Number.MAX_SAFE_INTEGER),
      outputTokens: FastCheck.constantFrom(0, 1, 10, 2 ** 31),
      cacheReadTokens: FastCheck.constantFrom<number | undefined>(undefined, 0, 5, 1e9),
      cacheWriteTokens: FastCheck.constantFrom<number | undefined>(undefined, 0, 5)
    }, { requiredKeys: ["inputTokens", "outputTokens"] }),
    finishReason: FastCheck.constantFrom<MockServer.Reply["finishReason"]>(undefined, "stop", "length", "tool_calls", "content_filter")
  },
  { requiredKeys: [] }
)

const callingIngresses = ingresses.filter((ingress) => ingress.calls)

const replyCase = FastCheck.record({
  ingress: FastCheck.nat({ max: callingIngresses.length - 1 }),
  base: FastCheck.nat({ max: 3 }),
  chain: FastCheck.constantFrom(...chains),
  stream: FastCheck.boolean(),
  reply,
  // what every upstream does first: a refusal of the request (a provider's 400, 404, 413, 422, its context window), a content-policy stop, a failure
  fault: FastCheck.constantFrom<MockServer.Fault | undefined>(
    undefined,
    undefined,
    undefined,
    MockServer.status(400),
    MockServer.status(404),
    MockServer.status(413),
    MockServer.status(422),
    MockServer.contextLengthExceeded,
    MockServer.refuse,
    // and failures mid-answer: the stream cut, garbled, ended early, or an error event in it
    MockServer.resetAfter(1),
    MockServer.resetAfter(3),
    MockServer.malformed(2),
    MockServer.truncate(2),
    MockServer.streamError(1),
    MockServer.streamError(0),
    MockServer.status(500),
    MockServer.status(529)
  )
})

layer(Layer.provideMerge(HarnessLive, NodeHttpClient.layerUndici), { excludeTestServices: true, timeout: 60_000 })("Gateway: fuzzed requests", (it) => {
  describe("each ingress's valid bodies get a 200 (the generators start from them)", () => {
    for (const ingress of ingresses) {
      it.effect(ingress.name, () =>
        Effect.gen(function* () {
          const harness = yield* Harness
          for (const chain of chains) {
            for (const valid of ingress.valid) {
              const body = JSON.stringify(ingress.modelInBody ? { ...valid, model: chain } : valid)
              const path = ingress.path(chain)
              yield* Effect.promise(() => runCase(harness, ingress, path, body, "application/json", ingress.framing(valid)))
              const answer = yield* Effect.promise(() => send(harness.gateway.url, "POST", path, { "content-type": "application/json" }, body))
              expect(answer.status, `${ingress.name} (${chain}): ${answer.text.slice(0, 300)}`).toBe(200)
            }
          }
        })
      )
    }
  })

  it.effect("any path, method and body: a 200 or a 4xx in the path's clients' error shape, and the gateway keeps serving", () =>
    Effect.gen(function* () {
      const { gateway } = yield* Harness
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(request, async ({ anthropic, base, body, method, prefix, suffix }) => {
            const path = `${prefix}${base}${suffix}`
            const headers: Record<string, string> = { "content-type": "application/json", ...(anthropic ? { "anthropic-version": "2023-06-01" } : {}) }
            const what = `${method} ${path.slice(0, 200)}${anthropic ? " (anthropic-version)" : ""} with ${String(body).slice(0, 80)}`
            const answer = await send(gateway.url, method, path, headers, method === "GET" || method === "HEAD" ? undefined : body).catch((error) => {
              throw new Error(`${what}: ${String(error)}`)
            })
            if (answer.status !== 200 && (answer.status < 400 || answer.status > 499 || answer.status === 429)) {
              throw new Error(`${what}: status ${answer.status}: ${answer.text.slice(0, 300)}`)
            }
            if (method !== "HEAD" && answer.status !== 200) {
              const type = String(answer.headers["content-type"] ?? "")
              if (!type.startsWith("application/json")) throw new Error(`${what}: a ${answer.status} of content type ${type}: ${answer.text.slice(0, 200)}`)
              let parsed: unknown
              try {
                parsed = JSON.parse(answer.text)
              } catch {
                throw new Error(`${what}: a ${answer.status} whose body is no JSON: ${answer.text.slice(0, 200)}`)
              }
              if (Array.isArray(parsed) && parsed.length === 1) parsed = parsed[0]
              // the path as the client sends it (its dot segments resolved)
              const url = new URL(`${gateway.url}${path}`)
              const expected = shapeOfPath(`${url.pathname}${url.search}`, headers)
              const problems = (expected === undefined ? (["openai", "anthropic", "google"] as const) : [expected]).map((shape) => shapeProblem(shape, answer.status, parsed))
              if (problems.every((p) => p !== undefined)) {
                throw new Error(`${what}: a ${answer.status} not in ${expected ?? "any"} error shape (${problems.join("; ")}): ${answer.text.slice(0, 300)}`)
              }
            }
            const after = await send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good)
            if (after.status !== 200 || after.headers["x-llm-degraded"] !== undefined) throw new Error(`after ${what}: a valid request got ${after.status} (${String(after.headers["x-llm-degraded"] ?? "not degraded")})`)
          }),
          { seed, numRuns: numRuns * 2, ...bounded }
        )
      )
    }))

  describe("regressions the fuzzing found", () => {
    it.effect("a path the router takes to the messages or a Gemini route (doubled slashes, upper case, `;...`, an escaped letter or colon, a trailing slash) answers in that route's error shape", () =>
      Effect.gen(function* () {
        const { gateway, upstreams } = yield* Harness
        const before = upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)
        const noMax = JSON.stringify({ model: "default", messages: [] })
        const noContents = JSON.stringify({ contents: [] })
        const cases: ReadonlyArray<readonly [string, string, Shape, Framing]> = [
          ["//v1/messages", noMax, "anthropic", "json"],
          ["/V1/Messages", noMax, "anthropic", "json"],
          ["/v1/messages;x", noMax, "anthropic", "json"],
          ["/v1/m%65ssages", noMax, "anthropic", "json"],
          ["//v1/messages/count_tokens/", noMax, "anthropic", "json"],
          ["//v1beta/models/default:generateContent", noContents, "google", "json"],
          ["/V1BETA/models/default:generateContent", noContents, "google", "json"],
          ["/v1beta//models/default:streamGenerateContent?alt=sse", noContents, "google", "sse"],
          // Gemini's JSON-array stream, its error an array of one
          ["/v1beta/models/default:streamGenerateContent/", noContents, "google", "array"],
          ["/v1beta/models/default%3AstreamGenerateContent", noContents, "google", "array"],
          ["/v1beta/models/default:streamGenerateContent;x", noContents, "google", "array"],
          ["//v1/models/default:streamGenerateContent", noContents, "google", "array"]
        ]
        for (const [path, body, shape, framing] of cases) {
          const answer = yield* Effect.promise(() => send(gateway.url, "POST", path, { "content-type": "application/json" }, body))
          expect(answer.status, path).toBe(400)
          const parsed = JSON.parse(answer.text) as unknown
          if (framing === "array") expect(Array.isArray(parsed), `${path}: ${answer.text}`).toBe(true)
          expect(shapeProblem(shape, 400, Array.isArray(parsed) ? parsed[0] : parsed), `${path}: ${answer.text}`).toBeUndefined()
        }
        // Anthropic's request id header, on the messages route however it is written
        const answer = yield* Effect.promise(() => send(gateway.url, "POST", "//V1/messages", { "content-type": "application/json" }, noMax))
        expect(answer.headers["request-id"]).toBe(answer.headers["x-request-id"])
        // the known path asked with another method: a 405 in the route's shape
        const get = yield* Effect.promise(() => send(gateway.url, "GET", "//v1/messages", {}))
        expect(get.status).toBe(405)
        expect(shapeProblem("anthropic", 405, JSON.parse(get.text))).toBeUndefined()
        expect(upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)).toBe(before)
      }))
  })

  it.scoped("regression: an open route of a program's own under /v1/ is not reached with any Host by a path the router reads as its own (case, `;...`, an escaped letter)", () =>
    Effect.gen(function* () {
      const { router } = yield* Harness
      const gateway = yield* Upstreams.quiet(Gateway.make({
        router,
        port: 0,
        keys: [Redacted.make("gw-fuzz-test-key")],
        routes: [{ path: "/v1/open", handler: Effect.succeed(HttpServerResponse.text("open")) }]
      }))
      const foreign = { host: "rebind.attacker.example" }
      for (const path of ["/v1/OPEN", "/V1/open", "/v1/open;x", "/v1/%6Fpen", "//V1/open/"]) {
        const answer = yield* Effect.promise(() => send(gateway.url, "GET", path, foreign))
        expect(answer.text, path).not.toBe("open")
        expect(answer.status, path).toBe(403)
      }
      // the route is the one the router finds for them: a loopback Host reads it by each
      for (const path of ["/v1/open", "/v1/OPEN", "/v1/open;x", "/v1/%6Fpen"]) {
        expect((yield* Effect.promise(() => send(gateway.url, "GET", path, { host: "localhost" }))).text, path).toBe("open")
      }
    }))

  it.scoped("a valid request over any answer of the providers: a 200 well framed, or an error in the ingress's shape, never a 500", () =>
    Effect.gen(function* () {
      // its own gateway and upstreams: the failures it has them answer open circuits the other properties would meet
      const { gateway, upstreams } = yield* makeHarness
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(replyCase, async (c) => {
            const ingress = callingIngresses[c.ingress]!
            const valid = ingress.valid[c.base % ingress.valid.length]!
            const body = ingress.modelInBody ? { ...valid, model: c.chain, stream: c.stream } : valid
            const path = ingress.path(c.chain)
            for (const upstream of upstreams) {
              upstream.setReply(c.reply)
              if (c.fault !== undefined) upstream.enqueue(c.fault)
            }
            try {
              const answer = await send(gateway.url, "POST", path, { "content-type": "application/json" }, JSON.stringify(body))
              const what = `${ingress.name} ${path} (${JSON.stringify(body).slice(0, 200)}) over ${JSON.stringify(c.fault)} then ${JSON.stringify(c.reply).slice(0, 400)}`
              if (answer.status === 500) throw new Error(`${what}: a 500: ${answer.text.slice(0, 300)}`)
              const problem = answer.status >= 500 ? shapeProblem(ingress.shape, answer.status, sent(answer.text)) : answerProblem(ingress.shape, ingress.framing(body), answer)
              if (problem !== undefined && !(ingress.framing(body) === "array" && answer.status >= 500)) {
                throw new Error(`${what}: ${answer.status}: ${problem}: ${answer.text.slice(0, 400)}`)
              }
            } finally {
              for (const upstream of upstreams) {
                upstream.setReply(undefined)
                upstream.clear()
              }
            }
          }),
          { seed, numRuns: numRuns * 2, ...bounded }
        )
      )
    }))

  it.effect("regression: what Node's HTTP parser refuses (a head too large, a bad header, a bad Content-Length) is answered in the path's error JSON, not an empty 400 or 431", () =>
    Effect.gen(function* () {
      const { gateway } = yield* Harness
      const port = Number(new URL(gateway.url).port)
      const head = (path: string, lines: string) => `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${lines}\r\n`
      const cases: ReadonlyArray<readonly [string, number, Shape]> = [
        [head("/v1/messages", `x-big: ${"a".repeat(20_000)}\r\ncontent-length: 2\r\n`) + "{}", 431, "anthropic"],
        [head("/v1beta/models/default:generateContent", "bad header: 1\r\ncontent-length: 2\r\n") + "{}", 400, "google"],
        [head("/v1/chat/completions", "content-length: abc\r\n"), 400, "openai"],
        [head("/v1/responses", "transfer-encoding: chunked\r\ncontent-length: 3\r\n") + "0\r\n\r\n", 400, "openai"],
        [head("/v1/messages/count_tokens", "transfer-encoding: chunked\r\n") + "ZZ\r\nabc\r\n0\r\n\r\n", 400, "anthropic"]
      ]
      for (const [request, status, shape] of cases) {
        const answer = yield* Effect.promise(() => rawExchange(port, request))
        const [top = "", body = ""] = answer.split("\r\n\r\n", 2)
        expect(top.split("\r\n", 1)[0], request.slice(0, 60)).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `))
        expect(top.toLowerCase()).toContain("content-type: application/json")
        expect(shapeProblem(shape, status, sent(body)), `${request.slice(0, 60)}: ${body}`).toBeUndefined()
      }
      expect((yield* Effect.promise(() => send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good))).status).toBe(200)
    }))

  it.effect("regression: an HTTP/1.1 request without a Host gets its 400 in the path's error JSON, not Node's empty one", () =>
    Effect.gen(function* () {
      const { gateway, upstreams } = yield* Harness
      const port = Number(new URL(gateway.url).port)
      const before = upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)
      for (const [path, shape] of [["/v1/messages", "anthropic"], ["/v1beta/models/default:generateContent", "google"], ["/v1/chat/completions", "openai"]] as const) {
        const answer = yield* Effect.promise(() => rawExchange(port, `POST ${path} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`))
        const [top = "", body = ""] = answer.split("\r\n\r\n", 2)
        expect(top, path).toMatch(/^HTTP\/1\.1 400 /)
        expect(top.toLowerCase()).toContain("content-type: application/json")
        expect(shapeProblem(shape, 400, sent(body)), `${path}: ${body}`).toBeUndefined()
        expect(body).toContain("Host")
      }
      // no provider was asked for them
      expect(upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)).toBe(before)
      // HTTP/1.0 asks none: served
      const old = yield* Effect.promise(() => rawExchange(port, `POST /v1/chat/completions HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: ${good.length}\r\n\r\n${good}`))
      expect(old).toMatch(/^HTTP\/1\.1 200 /)
      // with an Expect too, the 400 is the answer, as Node checks the Host first: no 417, no 100 Continue (found by a
      // second diff review)
      for (const expect100 of ["expect: 100-continue\r\n", "expect: something-else\r\n"]) {
        const asked = yield* Effect.promise(() =>
          rawExchange(port, `POST /v1/chat/completions HTTP/1.1\r\ncontent-type: application/json\r\n${expect100}content-length: 2\r\n\r\n{}`)
        )
        expect(asked, expect100).toMatch(/^HTTP\/1\.1 400 /)
        expect(asked, expect100).toContain("missing_host")
      }
    }))

  it.scoped("regression: what the server refuses before the app (a head Node's parser refuses, a missing Host, an unknown Expect) is counted in llm_gateway_refusals_total", () =>
    Effect.gen(function* () {
      const { router } = yield* makeHarness
      const { handlers } = yield* Observability.attach(router, { telemetry: { tracing: false } })
      const gateway = yield* Upstreams.quiet(Gateway.make({ router, port: 0, routes: [{ path: "/metrics", handler: handlers.metrics }] }))
      const port = Number(new URL(gateway.url).port)
      const refusals = () =>
        Effect.map(Effect.promise(() => send(gateway.url, "GET", "/metrics", {})), (metrics) => {
          const counts = new Map<string, number>()
          for (const line of metrics.text.split("\n")) {
            const match = /^llm_gateway_refusals_total\{([^}]*)\} (\S+)$/.exec(line)
            if (match === null) continue
            counts.set(`${/status="([^"]*)"/.exec(match[1]!)?.[1]} ${/reason="([^"]*)"/.exec(match[1]!)?.[1]}`, Number(match[2]))
          }
          return counts
        })
      const before = yield* refusals()
      yield* Effect.promise(() => rawExchange(port, "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nbad header: 1\r\n\r\n"))
      yield* Effect.promise(() => rawExchange(port, "POST /v1/messages HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}"))
      yield* Effect.promise(() => send(gateway.url, "POST", "/v1/messages", { "content-type": "application/json", expect: "x" }, "{}"))
      const after = yield* refusals()
      const grew = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0)
      expect([grew("400 invalid_http"), grew("400 missing_host"), grew("417 expectation_failed")]).toEqual([1, 1, 1])
    }))

  it.effect("regression: an Expect other than 100-continue gets its 417 in the path's error JSON, not an empty body", () =>
    Effect.gen(function* () {
      const { gateway } = yield* Harness
      for (const [path, shape] of [["/v1/messages", "anthropic"], ["/v1beta/models/default:generateContent", "google"], ["/v1/chat/completions", "openai"]] as const) {
        const answer = yield* Effect.promise(() => send(gateway.url, "POST", path, { "content-type": "application/json", expect: "something-else" }, "{}"))
        expect(answer.status).toBe(417)
        expect(String(answer.headers["content-type"])).toContain("application/json")
        expect(shapeProblem(shape, 417, sent(answer.text)), `${path}: ${answer.text}`).toBeUndefined()
      }
    }))

  it.scoped("clients that leave (mid-body, mid-answer, at once) or send a malformed head: no request is left in flight, and the gateway keeps serving", () =>
    Effect.gen(function* () {
      // its own gateway and upstreams: a call a client left may reach its upstream after the answer was closed,
      // where another property would count it as its own
      const { gateway } = yield* makeHarness
      const port = Number(new URL(gateway.url).port)
      const leaving = FastCheck.record({
        ingress: FastCheck.nat({ max: ingresses.length - 1 }),
        base: FastCheck.nat({ max: 3 }),
        chain: FastCheck.constantFrom(...chains),
        stream: FastCheck.boolean(),
        // how much of the request is written before the client goes (all of it: it goes after `after` bytes of the answer)
        cut: FastCheck.oneof(FastCheck.constant(Number.POSITIVE_INFINITY), FastCheck.nat({ max: 400 })),
        after: FastCheck.nat({ max: 300 }),
        head: FastCheck.constantFrom(
          "",
          "transfer-encoding: chunked\r\n",
          "content-length: 99999\r\n",
          "content-length: -1\r\n",
          "content-length: 1\r\ncontent-length: 2\r\n",
          "x-a\u0000b: 1\r\n",
          `x-big: ${"b".repeat(17_000)}\r\n`
        )
      })
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(leaving, async (c) => {
            const ingress = ingresses[c.ingress]!
            const valid = ingress.valid[c.base % ingress.valid.length]!
            const body = JSON.stringify(ingress.modelInBody ? { ...valid, model: c.chain, stream: c.stream } : valid)
            const length = c.head.includes("content-length") || c.head.includes("chunked") ? "" : `content-length: ${Buffer.byteLength(body)}\r\n`
            const request = `POST ${ingress.path(c.chain)} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${c.head}${length}\r\n${body}`
            await new Promise<void>((resolve) => {
              const socket = Net.connect(port, "127.0.0.1", () => socket.write(request.slice(0, c.cut), () => (c.cut < request.length ? socket.destroy() : undefined)))
              let got = 0
              socket.on("data", (chunk: Buffer) => {
                got += chunk.length
                if (got > c.after) socket.destroy()
              })
              socket.on("error", () => {})
              socket.on("close", () => resolve())
              setTimeout(() => socket.destroy(), 300)
            })
            const after = await send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good)
            if (after.status !== 200 || after.headers["x-llm-degraded"] !== undefined) {
              throw new Error(`after ${JSON.stringify(c).slice(0, 300)}: a valid request got ${after.status} (${String(after.headers["x-llm-degraded"] ?? "not degraded")})`)
            }
            // what the client left is let go: nothing is in flight once its socket is gone (a few turns to see it)
            for (let i = 0; i < 200 && (await Effect.runPromise(gateway.inFlight)) > 0; i++) await new Promise((r) => setTimeout(r, 10))
            const inFlight = await Effect.runPromise(gateway.inFlight)
            if (inFlight !== 0) throw new Error(`after ${JSON.stringify(c).slice(0, 300)}: ${inFlight} requests still in flight`)
          }),
          { seed, numRuns: Math.ceil(numRuns / 2), ...bounded }
        )
      )
    }))

  it.scoped("keys as each API's clients send them, right and wrong: a 200, or a 401 or 403 in the ingress's error shape, no upstream call for a refusal", () =>
    Effect.gen(function* () {
      const { router, upstreams } = yield* makeHarness
      const bare = "gw-fuzz-bare-key"
      const limited = "gw-fuzz-client-key"
      const gateway = yield* Upstreams.quiet(Gateway.make({
        router,
        port: 0,
        keys: [Redacted.make(bare), { key: Redacted.make(limited), name: "team", models: ["claude", "gemini"] }]
      }))
      const auth = FastCheck.record({
        ingress: FastCheck.nat({ max: ingresses.length - 1 }),
        chain: FastCheck.constantFrom(...chains),
        key: FastCheck.constantFrom(bare, limited, "", "wrong", `${bare} `, ` ${bare}`, bare.toUpperCase(), `${bare}\t`, "\u00e9t\u00e9"),
        how: FastCheck.constantFrom("bearer", "bearer-lower", "bearer-twice", "x-api-key", "x-goog-api-key", "query", "basic", "none", "bearer+x-api-key")
      })
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(auth, async (c) => {
            const ingress = ingresses[c.ingress]!
            const valid = ingress.valid[0]!
            const body = JSON.stringify(ingress.modelInBody ? { ...valid, model: c.chain } : valid)
            const headers: Record<string, string> = { "content-type": "application/json" }
            let path = ingress.path(c.chain)
            switch (c.how) {
              case "bearer":
                headers["authorization"] = `Bearer ${c.key}`
                break
              case "bearer-lower":
                headers["authorization"] = `bearer ${c.key}`
                break
              case "bearer-twice":
                headers["authorization"] = `Bearer Bearer ${c.key}`
                break
              case "x-api-key":
                headers["x-api-key"] = c.key
                break
              case "x-goog-api-key":
                headers["x-goog-api-key"] = c.key
                break
              case "query":
                path = `${path}${path.includes("?") ? "&" : "?"}key=${encodeURIComponent(c.key)}`
                break
              case "basic":
                headers["authorization"] = `Basic ${Buffer.from(`u:${c.key}`).toString("base64")}`
                break
              case "bearer+x-api-key":
                headers["authorization"] = `Bearer wrong`
                headers["x-api-key"] = c.key
                break
            }
            const before = upstreams.reduce((sum, upstream) => sum + upstream.count(), 0)
            const answer = await send(gateway.url, "POST", path, headers, body)
            const made = upstreams.reduce((sum, upstream) => sum + upstream.count(), 0) - before
            const what = `${ingress.name} ${path} ${JSON.stringify(headers)}`
            if (answer.status !== 200 && answer.status !== 401 && answer.status !== 403) throw new Error(`${what}: status ${answer.status}: ${answer.text.slice(0, 300)}`)
            const problem = answerProblem(ingress.shape, ingress.framing(JSON.parse(body)), answer)
            if (problem !== undefined) throw new Error(`${what}: ${problem}: ${answer.text.slice(0, 300)}`)
            if (answer.status !== 200 && made > 0) throw new Error(`${what}: a ${answer.status} after ${made} upstream calls`)
          }),
          { seed, numRuns: numRuns * 2, ...bounded }
        )
      )
    }))

  it.effect("malformed request heads: any answer is a status line, then error JSON for a 4xx (in the shape of the path's API when the line is whole), never Node's bare status; the gateway keeps serving", () =>
    Effect.gen(function* () {
      const { gateway } = yield* Harness
      const port = Number(new URL(gateway.url).port)
      const heads = FastCheck.record({
        // mostly well-formed request lines, so that what follows them is read
        method: FastCheck.oneof(
          { weight: 8, arbitrary: FastCheck.constantFrom("POST") },
          { weight: 1, arbitrary: FastCheck.constantFrom("GET", "post", "P0ST", "", "POST POST", "CONNECT", "PRI") }
        ),
        path: FastCheck.constantFrom("/v1/messages", "/v1/chat/completions", "/v1beta/models/default:generateContent", "/v1/responses", "", "v1/messages", "/v1/messages\u0000", "/\u00e9"),
        version: FastCheck.oneof(
          { weight: 8, arbitrary: FastCheck.constantFrom("HTTP/1.1") },
          { weight: 1, arbitrary: FastCheck.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", "HTTP/9", "") }
        ),
        lines: FastCheck.array(
          FastCheck.constantFrom(
            "content-type: application/json",
            "content-length: 2",
            "content-length: -2",
            "content-length: 2, 3",
            "transfer-encoding: chunked",
            "transfer-encoding: gzip, chunked",
            "transfer-encoding: identity",
            " folded: continuation",
            "no-colon",
            ": empty-name",
            "x-\u0001: 1",
            "x-ok: \u0001",
            `x-long: ${"l".repeat(9_000)}`,
            "host: 127.0.0.1",
            "host: 127.0.0.1\r\nhost: localhost"
          ),
          { maxLength: 4 }
        ),
        ending: FastCheck.constantFrom("\r\n", "\r\n", "\r\n", "\n", "\r\n\r\n"),
        body: FastCheck.constantFrom("{}", "", "0\r\n\r\n", "ZZ\r\n{}\r\n0\r\n\r\n", "2\r\n{}\r\n0\r\n\r\n")
      })
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(heads, async (h) => {
            const request = `${h.method} ${h.path} ${h.version}\r\n${h.lines.map((line) => `${line}\r\n`).join("")}${h.ending}${h.body}`
            const answer = await rawExchangeBrief(port, request)
            const what = JSON.stringify(request.slice(0, 300))
            if (answer !== "") {
              const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer)
              if (status === null) throw new Error(`${what}: an answer that is no HTTP/1.1 status line: ${JSON.stringify(answer.slice(0, 200))}`)
              const code = Number(status[1])
              if (code >= 500) throw new Error(`${what}: ${code}: ${JSON.stringify(answer.slice(0, 300))}`)
              if (code >= 400) {
                const [top = "", body = ""] = answer.split("\r\n\r\n", 2)
                if (!top.toLowerCase().includes("content-type: application/json")) throw new Error(`${what}: a ${code} that is no JSON: ${JSON.stringify(answer.slice(0, 300))}`)
                const parsed = sent(body)
                if ((["openai", "anthropic", "google"] as const).every((shape) => shapeProblem(shape, code, parsed) !== undefined)) {
                  throw new Error(`${what}: a ${code} in no API's error shape: ${body.slice(0, 300)}`)
                }
              }
            }
            const after = await send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good)
            if (after.status !== 200 || after.headers["x-llm-degraded"] !== undefined) throw new Error(`after ${what}: a valid request got ${after.status} (${String(after.headers["x-llm-degraded"] ?? "not degraded")})`)
          }),
          { seed, numRuns, ...bounded }
        )
      )
    }))

  it.scoped("mutated bodies of every ingress at once, eight together: each a 200 or its ingress's 4xx, and the gateway keeps serving", () =>
    Effect.gen(function* () {
      const { gateway } = yield* makeHarness
      const one = FastCheck.nat({ max: ingresses.length - 1 }).chain((i) => caseOf(ingresses[i]!).map((c) => ({ ingress: ingresses[i]!, c })))
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(FastCheck.array(one, { minLength: 8, maxLength: 8 }), async (batch) => {
            const answers = await Promise.all(batch.map(({ c, ingress }) => {
              const text = wireText(c.body, c.wire)
              const headers = { ...c.headers, ...(c.contentType === undefined ? {} : { "content-type": c.contentType }) }
              return send(gateway.url, "POST", c.path, headers, text).then((answer) => ({ answer, ingress, text, c }))
            }))
            for (const { answer, c, ingress, text } of answers) {
              const problem = answerProblem(ingress.shape, ingress.framing(sent(text) ?? c.body), answer)
              if (problem !== undefined) throw new Error(`${ingress.name} ${c.path}: ${problem}: ${answer.text.slice(0, 300)}; ${describeCase(text, c.contentType, c.headers)}`)
            }
            const after = await send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, good)
            if (after.status !== 200 || after.headers["x-llm-degraded"] !== undefined) throw new Error(`after a batch: a valid request got ${after.status}`)
          }),
          { seed, numRuns: Math.ceil(numRuns / 3), ...bounded }
        )
      )
    }))

  describe("mutated bodies: a 200 or the ingress's 4xx, no upstream call for a refusal, and the gateway keeps serving", () => {
    for (const [i, ingress] of ingresses.entries()) {
      it.effect(ingress.name, () =>
        Effect.gen(function* () {
          const harness = yield* Harness
          yield* Effect.promise(() =>
            FastCheck.assert(
              FastCheck.asyncProperty(caseOf(ingress), ({ body, contentType, headers, path, wire }) => {
                const text = wireText(body, wire)
                return runCase(harness, ingress, path, text, contentType, ingress.framing(sent(text) ?? body), headers)
              }),
              { seed: seed + i, numRuns, ...bounded }
            )
          )
        })
      )
    }
  })
})
