/**
 * The gateway against bad input, as a new user and as an attacker would send
 * it: malformed and non-object JSON, wrong types, empty and oversized
 * bodies, chunked uploads past the limit, absurd numbers, deep nesting,
 * wrong methods and paths, missing content types. Each gets a clean 4xx in
 * OpenAI's error JSON (naming the field when there is one), exactly one log
 * line with no prompt text, and the same server then answers a good request.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"

/** Text that must never appear in a log line or an error message. */
const marker = "PROMPT-TEXT-zebra-7731"

interface LogLine {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

class Harness extends Context.Tag("test/GatewayBadInput/Harness")<
  Harness,
  { readonly url: string; readonly lines: ReadonlyArray<LogLine> }
>() {}

/** One gateway for the whole file, over a simulated provider, with its log lines recorded. */
const HarnessLive = Layer.scoped(
  Harness,
  Effect.gen(function* () {
    const lines: Array<LogLine> = []
    const logger = Logger.make(({ annotations, message }) => {
      lines.push({
        message: Array.isArray(message) ? message.join(" ") : String(message),
        annotations: Object.fromEntries(annotations)
      })
    })
    const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "1 millis", tokenDelay: 0 })
    const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
    const gateway = yield* Gateway.make({ router, port: 0 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { url: gateway.url, lines }
  })
)

interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
}

type Body = string | Buffer | ((request: Http.ClientRequest) => void)

/**
 * One request over a fresh connection, with exactly the headers given (no
 * implicit content type). A function body writes the request itself (to
 * stream a chunked upload); an error after the answer came (the server
 * closing a connection it stopped reading) is ignored.
 */
const send = (url: string, method: string, path: string, headers: Record<string, string>, body?: Body) =>
  Effect.promise(
    () =>
      new Promise<Answer>((resolve, reject) => {
        const request = Http.request(`${url}${path}`, { method, headers, agent: false })
        let answered = false
        request.on("response", (response) => {
          answered = true
          const chunks: Array<Buffer> = []
          response.on("data", (chunk: Buffer) => chunks.push(chunk))
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") })
          )
        })
        request.on("error", (error) => {
          if (!answered) reject(error)
        })
        if (typeof body === "function") body(request)
        else request.end(body)
      })
  )

const json = { "content-type": "application/json" }

const good = { model: "default", messages: [{ role: "user", content: `Say hi. ${marker}` }] }

const goodRequest = (url: string) => send(url, "POST", "/v1/chat/completions", json, JSON.stringify(good))

const requestLines = (lines: ReadonlyArray<LogLine>) => lines.filter((l) => /^[A-Z]+ \/\S* \d{3}$/.test(l.message))

/** A body that is `good` with some fields replaced. */
const withFields = (fields: Record<string, unknown>) => JSON.stringify({ ...good, ...fields })

const deeplyNested = (depth: number) => `{"model":"default","messages":${"[".repeat(depth)}${"]".repeat(depth)}}`

/** Writes 64 KiB chunks (no Content-Length: chunked) until the server answers, up to 8 MiB. */
const chunkedUpload = (request: Http.ClientRequest) => {
  const chunk = Buffer.alloc(65_536, 0x20)
  let sent = 0
  let answered = false
  request.on("response", () => (answered = true))
  const pump = () => {
    if (answered || request.destroyed || sent >= 128) return request.end()
    sent++
    request.write(chunk)
    setTimeout(pump, 1)
  }
  request.write(`{"model":"default","messages":[{"role":"user","content":"${marker}`)
  pump()
}

/** A Responses API request (`POST /v1/responses`) with the prompt text (the marker) in it, and `fields` over it. */
const responsesWith = (fields: Record<string, unknown>) => JSON.stringify({ model: "default", input: `Say hi. ${marker}`, ...fields })

interface Case {
  readonly name: string
  readonly method?: string
  readonly path?: string
  readonly headers?: Record<string, string>
  readonly body?: Body
  readonly status: number
  readonly param?: string | null
  readonly code?: string | null
  readonly message?: RegExp
  readonly header?: readonly [string, string]
}

/** The Responses route's refusals, each with the client's own text where a message could quote it. */
const responsesCases: ReadonlyArray<Case> = [
  { name: "responses: bad JSON", path: "/v1/responses", body: `{"model": "default", "input": "${marker}"`, status: 400 },
  { name: "responses: previous_response_id", path: "/v1/responses", body: responsesWith({ previous_response_id: marker }), status: 400, param: "previous_response_id" },
  { name: "responses: an input item of an unknown type", path: "/v1/responses", body: responsesWith({ input: [{ type: marker }] }), status: 400, param: "input[0].type" },
  { name: "responses: a message of an unknown role", path: "/v1/responses", body: responsesWith({ input: [{ role: marker, content: "x" }] }), status: 400, param: "input[0].role" },
  { name: "responses: a content part of an unknown type", path: "/v1/responses", body: responsesWith({ input: [{ role: "user", content: [{ type: marker }] }] }), status: 400, param: "input[0].content[0].type" },
  { name: "responses: a built-in tool", path: "/v1/responses", body: responsesWith({ tools: [{ type: marker }] }), status: 400, param: "tools[0].type" },
  { name: "responses: a tool choice of an unknown kind", path: "/v1/responses", body: responsesWith({ tool_choice: marker }), status: 400, param: "tool_choice" },
  { name: "responses: a text format of an unknown type", path: "/v1/responses", body: responsesWith({ text: { format: { type: marker } } }), status: 400, param: "text.format.type" },
  { name: "responses: a schema name with spaces", path: "/v1/responses", body: responsesWith({ text: { format: { type: "json_schema", name: `${marker} x`, schema: {} } } }), status: 400, param: "text.format.name" },
  { name: "responses: a reasoning effort of an unknown value", path: "/v1/responses", body: responsesWith({ reasoning: { effort: marker } }), status: 400, param: "reasoning.effort" },
  { name: "responses: an image detail of an unknown value", path: "/v1/responses", body: responsesWith({ input: [{ role: "user", content: [{ type: "input_image", image_url: "https://example.com/a.png", detail: marker }] }] }), status: 400, param: "input[0].content[0].detail" },
  { name: "responses: an image data URL that is not base64", path: "/v1/responses", body: responsesWith({ input: [{ role: "user", content: [{ type: "input_image", image_url: `data:image/png;base64,${marker}` }] }] }), status: 400, param: "input[0].content[0].image_url", message: /base64/ },
  { name: "responses: an image data URL of a text", path: "/v1/responses", body: responsesWith({ input: [{ role: "user", content: [{ type: "input_image", image_url: "data:text/plain;base64,aGk=" }] }] }), status: 400, param: "input[0].content[0].image_url", message: /image/ },
  { name: "responses: an unknown model", path: "/v1/responses", body: responsesWith({ model: "gpt-9" }), status: 404, param: "model", code: "model_not_found" },
  {
    name: "responses: a tool named twice",
    path: "/v1/responses",
    body: responsesWith({ tools: [{ type: "function", name: "f" }, { type: "function", name: "g" }, { type: "function", name: "f" }] }),
    status: 400,
    param: "tools[2].name",
    message: /'f' is defined already/
  }
]

const cases: ReadonlyArray<Case> = [
  { name: "malformed JSON", body: `{"model": "default", "messages": [{"role": "user", "content": "${marker}"`, status: 400, param: null, message: /parse the JSON/ },
  { name: "a body that is not UTF-8", body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400, message: /UTF-8/ },
  { name: "an empty body", body: "", status: 400, message: /empty/ },
  { name: "a JSON array body", body: `["${marker}"]`, status: 400, param: null, message: /expected a JSON object, but got an array/ },
  { name: "a JSON string body", body: `"${marker}"`, status: 400, message: /expected a JSON object, but got a string/ },
  { name: "a JSON null body", body: "null", status: 400, message: /expected a JSON object, but got null/ },
  { name: "a JSON number body", body: "42", status: 400, message: /expected a JSON object, but got an integer/ },
  { name: "no model", body: JSON.stringify({ messages: good.messages }), status: 400, param: "model", message: /Missing required parameter: 'model'/ },
  { name: "a model that is a number", body: withFields({ model: 5 }), status: 400, param: "model", message: /expected a string, but got an integer/ },
  { name: "messages that are a string", body: withFields({ messages: marker }), status: 400, param: "messages" },
  { name: "empty messages", body: withFields({ messages: [] }), status: 400, param: "messages", message: /at least one message/ },
  { name: "a message that is a number", body: withFields({ messages: [5] }), status: 400, param: "messages[0]" },
  { name: "an unknown role", body: withFields({ messages: [{ role: "wizard", content: marker }] }), status: 400, param: "messages[0].role" },
  { name: "content of the wrong type", body: withFields({ messages: [{ role: "user", content: { text: marker } }] }), status: 400, param: "messages[0].content", message: /but got an object instead/ },
  {
    name: "an unsupported content part",
    body: withFields({ messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: marker } }] }] }),
    status: 400,
    param: "messages[0].content[0].type"
  },
  { name: "a message's name that is a number", body: withFields({ messages: [{ role: "user", content: marker, name: 7 }] }), status: 400, param: "messages[0].name" },
  { name: "a tool message without tool_call_id", body: withFields({ messages: [{ role: "tool", content: marker }] }), status: 400, param: "messages[0].tool_call_id" },
  { name: "a temperature that is a string", body: withFields({ temperature: "hot" }), status: 400, param: "temperature" },
  { name: "a temperature out of range", body: withFields({ temperature: 5 }), status: 400, param: "temperature", message: /<= 2/ },
  { name: "a huge max_tokens", body: withFields({ max_tokens: 1e12 }), status: 400, param: "max_tokens", message: /<= 1048576/ },
  { name: "a huge max_completion_tokens", body: withFields({ max_completion_tokens: Number.MAX_SAFE_INTEGER }), status: 400, param: "max_completion_tokens" },
  { name: "a zero max_tokens", body: withFields({ max_tokens: 0 }), status: 400, param: "max_tokens" },
  { name: "a fractional max_tokens", body: withFields({ max_tokens: 1.5 }), status: 400, param: "max_tokens", message: /expected an integer/ },
  { name: "n above 1", body: withFields({ n: 3 }), status: 400, param: "n", message: /one choice/ },
  // what would change the answer and cannot be honoured is refused, not dropped
  {
    name: "structured outputs without json_schema",
    body: withFields({ response_format: { type: "json_schema" } }),
    status: 400,
    param: "response_format.json_schema",
    message: /Missing required parameter/
  },
  {
    name: "structured outputs without a schema",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: "x" } } }),
    status: 400,
    param: "response_format.json_schema.schema",
    message: /Missing required parameter/
  },
  {
    name: "structured outputs with a schema that is not an object",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: "x", schema: [marker] } } }),
    status: 400,
    param: "response_format.json_schema.schema"
  },
  {
    name: "structured outputs with a name OpenAI refuses",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: `a b ${marker}`, schema: {} } } }),
    status: 400,
    param: "response_format.json_schema.name",
    message: /letters, digits, underscores or dashes/
  },
  {
    name: "structured outputs with a strict that is a string",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: "x", schema: {}, strict: "yes" } } }),
    status: 400,
    param: "response_format.json_schema.strict"
  },
  {
    name: "structured outputs with a description that is a number",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: "x", schema: {}, description: 7 } } }),
    status: 400,
    param: "response_format.json_schema.description"
  },
  { name: "a response_format of an unknown type", body: withFields({ response_format: { type: marker } }), status: 400, param: "response_format.type", message: /supported values are/ },
  { name: "a response_format that is a string", body: withFields({ response_format: "json" }), status: 400, param: "response_format" },
  { name: "logprobs", body: withFields({ logprobs: true }), status: 400, param: "logprobs", message: /no log probabilities/ },
  {
    name: "an image detail of an unknown value",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png", detail: marker } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.detail"
  },
  {
    name: "an image data URL whose data is not base64",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${marker}` } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.url",
    message: /base64/
  },
  {
    name: "an image data URL badly padded",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo" } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.url",
    message: /padded/
  },
  {
    name: "an image data URL with no data",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64," } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.url",
    message: /empty/
  },
  {
    name: "an image data URL of a text",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:text/plain;base64,aGk=` } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.url",
    message: /image/
  },
  {
    name: "an image data URL that is not base64 at all",
    body: withFields({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:image/svg+xml,<svg>${marker}</svg>` } }] }] }),
    status: 400,
    param: "messages[0].content[0].image_url.url",
    message: /base64/
  },
  {
    name: "a tool's strict that is a string",
    body: withFields({ tools: [{ type: "function", function: { name: "f", strict: "yes" } }] }),
    status: 400,
    param: "tools[0].function.strict"
  },
  { name: "top_logprobs", body: withFields({ top_logprobs: 3 }), status: 400, param: "top_logprobs" },
  { name: "a reasoning_effort of an unknown value", body: withFields({ reasoning_effort: marker }), status: 400, param: "reasoning_effort", message: /supported values are 'none', 'minimal'/ },
  { name: "a reasoning_effort that is a number", body: withFields({ reasoning_effort: 3 }), status: 400, param: "reasoning_effort" },
  { name: "an audio answer (modalities)", body: withFields({ modalities: ["text", "audio"] }), status: 400, param: "modalities", message: /text only/ },
  { name: "an audio answer (audio)", body: withFields({ audio: { voice: "alloy", format: "wav" } }), status: 400, param: "audio", message: /text only/ },
  { name: "the legacy functions", body: withFields({ functions: [{ name: "f", parameters: {} }] }), status: 400, param: "functions", message: /use 'tools'/ },
  { name: "the legacy function_call", body: withFields({ function_call: "auto" }), status: 400, param: "function_call" },
  { name: "a seed that is no integer", body: withFields({ seed: 1.5 }), status: 400, param: "seed" },
  { name: "a presence_penalty over 2", body: withFields({ presence_penalty: 2.5 }), status: 400, param: "presence_penalty" },
  { name: "a frequency_penalty that is a string", body: withFields({ frequency_penalty: "high" }), status: 400, param: "frequency_penalty" },
  { name: "a parallel_tool_calls that is a string", body: withFields({ parallel_tool_calls: "no" }), status: 400, param: "parallel_tool_calls" },
  { name: "stream that is a string", body: withFields({ stream: "yes" }), status: 400, param: "stream" },
  { name: "stream_options that is a number (not streaming)", body: withFields({ stream_options: 5 }), status: 400, param: "stream_options" },
  {
    name: "a request no target's context window holds",
    body: withFields({ max_tokens: 1_000_000 }),
    status: 400,
    param: "messages",
    code: "context_length_exceeded",
    message: /does not fit the context window of any target of 'default'/
  },
  { name: "a tool that is not a function", body: withFields({ tools: [{ type: "retrieval" }] }), status: 400, param: "tools[0].type" },
  { name: "metadata with a non-string value", body: withFields({ metadata: { priority: 1 } }), status: 400, param: "metadata.priority" },
  { name: "deeply nested JSON (200,000 levels)", body: deeplyNested(200_000), status: 400, message: /nests deeper than 64/ },
  {
    name: "a tool schema nested 100 levels",
    body: withFields({
      tools: [{ type: "function", function: { name: "f", parameters: JSON.parse(`${'{"a":'.repeat(100)}1${"}".repeat(100)}`) } }]
    }),
    status: 400,
    message: /nests deeper than 64/
  },
  { name: "an unknown model", body: withFields({ model: "gpt-9" }), status: 404, param: "model", code: "model_not_found" },
  {
    // every provider refuses it with a 400 (Claude: "Tool names must be unique"), which would end the chain after a call
    name: "a tool named twice",
    body: withFields({ tools: [{ type: "function", function: { name: "f" } }, { type: "function", function: { name: "f" } }] }),
    status: 400,
    param: "tools[1].function.name",
    message: /'f' is defined already/
  },
  {
    name: "a 10 MB body (refused by its Content-Length, unread)",
    headers: { ...json, "content-length": String(10 * 1024 * 1024) },
    body: Buffer.alloc(10 * 1024 * 1024, 0x20),
    status: 413,
    code: "request_too_large",
    header: ["connection", "close"]
  },
  { name: "a chunked body past the limit (reading stops)", body: chunkedUpload, status: 413, code: "request_too_large" },
  { name: "no Content-Type", headers: {}, body: JSON.stringify(good), status: 415, code: "unsupported_media_type" },
  { name: "a text/plain Content-Type", headers: { "content-type": "text/plain" }, body: JSON.stringify(good), status: 415, code: "unsupported_media_type" },
  { name: "GET on the chat endpoint", method: "GET", headers: {}, status: 405, code: "method_not_allowed", header: ["allow", "POST"] },
  { name: "DELETE on the model list", method: "DELETE", path: "/v1/models", headers: {}, status: 405, code: "method_not_allowed", header: ["allow", "GET"] },
  { name: "an unknown model id with a slash", method: "GET", path: "/v1/models/openai/gpt-9", headers: {}, status: 404, param: "model", code: "model_not_found", message: /'openai\/gpt-9'/ },
  { name: "a model id with broken percent-encoding", method: "GET", path: "/v1/models/%E0%A4%A", headers: {}, status: 400, message: /not valid percent-encoding/ },
  { name: "DELETE on a model", method: "DELETE", path: "/v1/models/openai/gpt-4o", headers: {}, status: 405, code: "method_not_allowed", header: ["allow", "GET"] },
  { name: "GET on the responses endpoint", method: "GET", path: "/v1/responses", headers: {}, status: 405, code: "method_not_allowed", header: ["allow", "POST"] },
  ...responsesCases,
  { name: "an unknown path", method: "GET", path: "/v1/completions", headers: {}, status: 404, code: "unknown_url" },
  { name: "a POST to an unknown path", path: "/admin/shutdown", body: JSON.stringify(good), status: 404, code: "unknown_url" }
]

layer(HarnessLive, { excludeTestServices: true })("GatewayBadInput", (it) => {
  describe("each bad request: a clean 4xx JSON, one log line without prompt text, and the server keeps serving", () => {
    for (const c of cases) {
      it.effect(c.name, () =>
        Effect.gen(function* () {
          const { lines, url } = yield* Harness
          const method = c.method ?? "POST"
          const path = c.path ?? "/v1/chat/completions"
          const before = requestLines(lines).length

          const answer = yield* send(url, method, path, c.headers ?? json, c.body)
          expect(answer.status).toBe(c.status)
          expect(answer.headers["content-type"]).toContain("application/json")
          expect(answer.headers["x-request-id"]).toMatch(/^req_/)
          if (c.header !== undefined) expect(answer.headers[c.header[0]]).toBe(c.header[1])
          const { error } = JSON.parse(answer.text) as {
            error: { message: string; type: string; param: string | null; code: string | null }
          }
          expect(error.type).toBe("invalid_request_error")
          expect(typeof error.message).toBe("string")
          if (c.param !== undefined) expect(error.param).toBe(c.param)
          if (c.code !== undefined) expect(error.code).toBe(c.code)
          if (c.message !== undefined) expect(error.message).toMatch(c.message)
          expect(error.message).not.toContain(marker)

          const next = yield* goodRequest(url)
          expect(next.status).toBe(200)
          expect(JSON.parse(next.text).choices[0].message.content).toContain("Say hi.")

          const logged = requestLines(lines).slice(before)
          expect(logged.map((l) => l.message)).toEqual([`${method} ${path} ${c.status}`, "POST /v1/chat/completions 200"])
          expect(logged[0]?.annotations["status"]).toBe(c.status)
          expect(JSON.stringify(logged)).not.toContain(marker)
          expect(JSON.stringify(lines)).not.toContain(marker)
        })
      )
    }
  })

  describe("what the server refuses before the app", () => {
    /** Writes `raw` on a fresh connection; what came back before the server closed it (2 s at most). */
    const exchange = (url: string, raw: string) =>
      Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            const socket = Net.connect(Number(new URL(url).port), "127.0.0.1", () => socket.write(raw))
            let answer = ""
            socket.on("data", (chunk) => (answer += chunk))
            socket.on("error", () => {})
            socket.on("close", () => resolve(answer))
            setTimeout(() => socket.destroy(), 2_000)
          })
      )

    it.effect("a request without a Host and a head Node's parser refuses each get a request id and a log line, as the app's refusals do", () =>
      Effect.gen(function* () {
        // found by the fuzzing helper: these answers had no x-request-id, and nothing was logged
        const { lines, url } = yield* Harness
        const before = requestLines(lines).length
        const hostless = yield* exchange(url, "POST /v1/chat/completions HTTP/1.1\r\ncontent-type: application/json\r\nx-request-id: mine-1\r\ncontent-length: 2\r\n\r\n{}")
        expect(hostless).toMatch(/^HTTP\/1\.1 400 /)
        expect(hostless.toLowerCase()).toContain("x-request-id: mine-1")
        const malformed = yield* exchange(url, "POST /v1/messages HTTP/1.1\r\nhost: localhost\r\ncontent-length: abc\r\n\r\n")
        expect(malformed).toMatch(/^HTTP\/1\.1 400 /)
        expect(malformed.toLowerCase()).toMatch(/x-request-id: req_\w+/)
        const logged = requestLines(lines).slice(before)
        expect(logged.map((l) => [l.message, l.annotations["error"]])).toEqual([
          ["POST /v1/chat/completions 400", "missing_host"],
          ["POST /v1/messages 400", "invalid_http"]
        ])
        expect(logged[0]?.annotations["requestId"]).toBe("mine-1")
      }))
  })

  describe("a client that asks before it sends (Expect: 100-continue)", () => {
    /** Sends the head of a POST with `Expect: 100-continue`, then `body` once told to go on; what came back within 5 s. */
    const askFirst = (url: string, length: number, body: string) =>
      Effect.async<string>((resume) => {
        const { hostname, port } = new URL(url)
        const socket = Net.connect(Number(port), hostname)
        let received = ""
        const done = () => {
          clearTimeout(timer)
          socket.destroy()
          resume(Effect.succeed(received))
        }
        const timer = setTimeout(done, 5_000)
        socket.on("data", (data) => {
          received += data.toString("latin1")
          if (received.startsWith("HTTP/1.1 100") && received.includes("\r\n\r\n") && !received.includes("HTTP/1.1 2")) socket.write(body)
          if (/HTTP\/1\.1 [2-5]\d\d [^\r]*\r\n[\s\S]*\r\n\r\n[\s\S]*\}/.test(received)) done()
        })
        socket.on("close", done)
        socket.on("error", done)
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nexpect: 100-continue\r\n\r\n`
        )
        return Effect.sync(() => socket.destroy())
      })

    it.effect("a body past the limit is refused with 413 before it is sent; one within it is asked for, and served", () =>
      Effect.gen(function* () {
        const { url } = yield* Harness
        const refused = yield* askFirst(url, 10 * 1024 * 1024, "")
        expect(refused.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large")
        expect(refused).not.toContain("100 Continue")
        const body = JSON.stringify(good)
        const served = yield* askFirst(url, Buffer.byteLength(body), body)
        expect(served.split("\r\n")[0]).toBe("HTTP/1.1 100 Continue")
        expect(served).toContain("HTTP/1.1 200 OK")
      })
    )
  })

  describe("what a client may send", () => {
    it.effect("ignores the unknown and harmless fields OpenAI clients send", () =>
      Effect.gen(function* () {
        const { url } = yield* Harness
        const body = withFields({
          n: 1,
          seed: 7,
          presence_penalty: 0.5,
          frequency_penalty: 0,
          logit_bias: {},
          parallel_tool_calls: true,
          response_format: { type: "text" },
          logprobs: false,
          top_logprobs: null,
          store: false,
          temperature: null,
          reasoning_effort: "low",
          modalities: ["text"],
          frobnicate: { deeply: [1, 2, 3] }
        })
        const answer = yield* send(url, "POST", "/v1/chat/completions", json, body)
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.text).object).toBe("chat.completion")
      })
    )

    it.effect("accepts content parts, developer messages, a Content-Type with a charset, and a stop string", () =>
      Effect.gen(function* () {
        const { url } = yield* Harness
        const body = JSON.stringify({
          model: "mini",
          messages: [
            { role: "developer", content: [{ type: "text", text: "Be brief." }] },
            {
              role: "user",
              content: [
                { type: "text", text: "What is this?" },
                { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } }
              ]
            }
          ],
          stop: "END",
          metadata: { task: "vision" },
          user: "u-1"
        })
        const answer = yield* send(url, "POST", "/v1/chat/completions", { "content-type": "application/json; charset=utf-8" }, body)
        expect(answer.status).toBe(200)
        expect(answer.headers["x-llm-chain"]).toBe("mini")
      })
    )

    it.effect("echoes a well-formed x-request-id and replaces a malformed one", () =>
      Effect.gen(function* () {
        const { url } = yield* Harness
        const kept = yield* send(url, "GET", "/healthz", { "x-request-id": "trace-42.a:b" })
        expect(kept.headers["x-request-id"]).toBe("trace-42.a:b")
        const replaced = yield* send(url, "GET", "/healthz", { "x-request-id": `${"x".repeat(200)} <script>` })
        expect(replaced.headers["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/)
      })
    )

    it.effect("health and readiness answer without a body or key", () =>
      Effect.gen(function* () {
        const { url } = yield* Harness
        const health = yield* send(url, "GET", "/healthz", {})
        const ready = yield* send(url, "GET", "/readyz", {})
        expect([health.status, JSON.parse(health.text)]).toEqual([200, { status: "ok" }])
        expect([ready.status, JSON.parse(ready.text)]).toEqual([200, { status: "ready" }])
      })
    )
  })
})
