/**
 * Reads an OpenAI Chat Completions request body into the neutral
 * `ChatRequest`, with OpenAI's own wording for what is wrong and which field
 * (`param`) it is. Messages never quote a client's text back, so they are
 * safe to log.
 *
 * `seed`, `presence_penalty` and `frequency_penalty` (-2 to 2) become the
 * request's `seed`, `presencePenalty` and `frequencyPenalty`, which go to
 * the providers that take them (OpenAI, Gemini) and not to the others (a
 * seed past what JavaScript holds exactly is left out). Fields that only
 * tune sampling or bookkeeping, which a provider may not have, are ignored
 * (`logit_bias`, `store`, `service_tier`, `prediction`, `verbosity`,
 * unknown fields). `parallel_tool_calls` goes to the providers that take it
 * (OpenAI, Anthropic), and so does a message's `name` (OpenAI).
 * `reasoning_effort` becomes the request's `reasoningEffort`, which each
 * adapter gives its reasoning models in its own terms. Fields that change
 * what the answer is, and that the gateway cannot honour, are refused with
 * the field named, not dropped: `n` above 1 (it returns one choice),
 * `logprobs` and `top_logprobs` (no log probabilities come back), audio
 * answers (`modalities` with `"audio"`, `audio`), and the legacy
 * `functions` and `function_call` (use `tools`), and a `tool_choice` that
 * asks for a call with no `tools`, or for a function not among them (`auto`
 * or `none` with no `tools` is left out). `response_format` becomes the
 * request's `responseFormat`: the router sends it only to models that can
 * give that answer. An image's `data:` URL must be an image's base64
 * (`imageDataUrl`), as no provider takes another.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { Mutable } from "effect/Types"
import type { CacheBreakpoint, ChatRequest, ContentPart, Message, ReasoningEffort, ResponseFormat, ToolCall, ToolDefinition } from "../../llm/Chat.js"
import { signatureOf } from "../../llm/internal/extraContent.js"
import * as ImageUrls from "./imageUrls.js"

/** The largest `max_tokens` accepted: past any model's output window, so only nonsense is refused. @internal */
export const maxTokensLimit = 1_048_576

/** The deepest JSON nesting accepted (a tool's JSON Schema rarely passes 10). @internal */
export const maxDepth = 64

/** A field that is not what OpenAI's API allows. @internal */
export class InvalidField {
  readonly _tag = "InvalidField"
  constructor(
    readonly param: string | null,
    readonly message: string
  ) {}
}

/** A decoded request: the chain or model alias it names, the neutral request, and how to answer. @internal */
export interface Decoded {
  readonly model: string
  readonly request: ChatRequest
  readonly stream: boolean
  readonly includeUsage: boolean
}

/** A JSON object as parsed. @internal */
export type Json = Readonly<Record<string, unknown>>

// The validators below throw `InvalidField` and `decode` catches it at its
// boundary: a field-by-field reader with early exit reads best that way.
/** Refuses a field: throws `InvalidField` for `catching` to return. @internal */
export const invalid = (param: string | null, message: string): never => {
  throw new InvalidField(param, message)
}

/** What a JSON value is, in OpenAI's words for a wrong type ("a string", "an array"). @internal */
export const kind = (u: unknown): string => {
  if (u === null) return "null"
  if (Array.isArray(u)) return "an array"
  switch (typeof u) {
    case "string":
      return "a string"
    case "number":
      return Number.isInteger(u) ? "an integer" : "a number"
    case "boolean":
      return "a boolean"
    case "object":
      return "an object"
    default:
      return typeof u
  }
}

/** Refuses a field of the wrong type, as OpenAI words it. @internal */
export const wrongType = (param: string, expected: string, got: unknown): never =>
  invalid(param, `Invalid type for '${param}': expected ${expected}, but got ${kind(got)} instead.`)

/** Refuses a request without a required field. @internal */
export const missing = (param: string): never => invalid(param, `Missing required parameter: '${param}'.`)

/** Whether a JSON value is an object (not an array, not null). @internal */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** A field that must be an object. @internal */
export const object = (u: unknown, param: string): Json => (isObject(u) ? u : wrongType(param, "an object", u))

/** A field that must be an array. @internal */
export const array = (u: unknown, param: string): ReadonlyArray<unknown> =>
  Array.isArray(u) ? u : wrongType(param, "an array", u)

/** A field that must be a string. @internal */
export const string = (u: unknown, param: string): string => (typeof u === "string" ? u : wrongType(param, "a string", u))

/** A required string field of an object. @internal */
export const requiredString = (obj: Json, key: string, param: string): string =>
  obj[key] === undefined ? missing(param) : string(obj[key], param)

/** Whether a field is set: it may be absent or `null` (some clients send `null` for "not set"). @internal */
export const present = (obj: Json, key: string): boolean => obj[key] !== undefined && obj[key] !== null

/** A number field within bounds. @internal */
export const numberIn = (u: unknown, param: string, min: number, max: number): number => {
  if (typeof u !== "number" || !Number.isFinite(u)) return wrongType(param, "a number", u)
  if (u < min) return invalid(param, `Invalid '${param}': expected a value >= ${min}, but got ${u} instead.`)
  if (u > max) return invalid(param, `Invalid '${param}': expected a value <= ${max}, but got ${u} instead.`)
  return u
}

/** An integer field within bounds. @internal */
export const integerIn = (u: unknown, param: string, min: number, max: number): number =>
  typeof u === "number" && Number.isInteger(u) ? numberIn(u, param, min, max) : wrongType(param, "an integer", u)

/**
 * A `seed`: an integer (else the field is refused), carried when it is one
 * JavaScript holds exactly; a larger one (OpenAI takes an int64, which JSON
 * parsing has already rounded) is left out, as a hint no provider must take.
 *
 * @internal
 */
export const seedOf = (u: unknown, param: string): number | undefined => {
  const seed = integerIn(u, param, -Infinity, Infinity)
  return Number.isSafeInteger(seed) ? seed : undefined
}

/** The bounds of a presence or frequency penalty, OpenAI's and `ChatRequest`'s. @internal */
export const maxPenalty = 2

/** A field that must be a boolean. @internal */
export const boolean = (u: unknown, param: string): boolean => (typeof u === "boolean" ? u : wrongType(param, "a boolean", u))

// ---------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------

/**
 * A prompt-cache breakpoint as Anthropic's dialect of Chat Completions
 * sends it (OpenRouter's and LiteLLM's): `cache_control: { type:
 * "ephemeral", ttl?: "5m" | "1h" }` on a content part, a message or a
 * tool, at `param`; absent, none.
 *
 * @internal
 */
export const cacheOf = (holder: Json, param: string): { readonly cache?: CacheBreakpoint } => {
  if (!present(holder, "cache_control")) return {}
  const control = object(holder["cache_control"], param)
  if (control["type"] !== "ephemeral") return invalid(`${param}.type`, `Invalid value for '${param}.type': only 'ephemeral' is supported.`)
  const ttl = control["ttl"] ?? "5m"
  return ttl === "5m" || ttl === "1h"
    ? { cache: ttl }
    : invalid(`${param}.ttl`, `Invalid value for '${param}.ttl': supported values are '5m' and '1h'.`)
}

/**
 * Text content: a string, or an array of text parts (joined), with the
 * last cache breakpoint a part or the message holds (text joined into one
 * string can hold one only: at its end).
 */
const textContent = (m: Json, param: string, allowRefusal = false, offset = 0): { readonly text: string; readonly cache?: CacheBreakpoint } => {
  const u = m["content"]
  const own = cacheOf(m, param.replace(/\.content$/, ".cache_control"))
  if (typeof u === "string") return { text: u, ...own }
  if (!Array.isArray(u)) return wrongType(param, "a string or an array of text parts", u)
  let text = ""
  let marked = own
  u.forEach((raw, i) => {
    const p = `${param}[${offset + i}]`
    const part = object(raw, p)
    const type = requiredString(part, "type", `${p}.type`)
    if (type === "text") text += requiredString(part, "text", `${p}.text`)
    else if (allowRefusal && type === "refusal") text += requiredString(part, "refusal", `${p}.refusal`)
    else invalid(`${p}.type`, `Invalid value for '${p}.type': only 'text' parts are supported here.`)
    const cache = cacheOf(part, `${p}.cache_control`)
    if (cache.cache !== undefined) marked = cache
  })
  return { text, ...marked }
}

/**
 * System text as messages: one, unless a part before the last is a cache
 * breakpoint, which ends a message of its own there (joined into one, the
 * text could hold its breakpoint only at its end, after the parts that
 * follow it, which may change from request to request and so never be
 * read from the cache).
 */
const systemMessages = (m: Json, param: string): Array<Message> => {
  const name = nameOf(m, param.replace(/\.content$/, ""))
  const u = m["content"]
  if (!Array.isArray(u) || u.length < 2) {
    const { cache, text } = textContent(m, param)
    return [{ role: "system", content: text, ...name, ...(cache === undefined ? {} : { cache }) }]
  }
  const messages: Array<Message> = []
  let start = 0
  u.forEach((raw, i) => {
    const last = i === u.length - 1
    const marked = isObject(raw) && present(raw, "cache_control")
    if (!marked && !last) return
    // the parts since the last breakpoint, read (and checked) as one content, at their own params
    const { cache, text } = textContent({ ...(last ? m : {}), content: u.slice(start, i + 1) }, param, false, start)
    messages.push({ role: "system", content: text, ...name, ...(cache === undefined ? {} : { cache }) })
    start = i + 1
  })
  return messages
}

/** The media type a `data:` URL declares, if any. @internal */
export const dataUrlMediaType = (url: string): string | undefined => {
  const match = /^data:([\w.+-]+\/[\w.+-]+)[;,]/.exec(url)
  return match?.[1]
}

/**
 * Refuses a `data:` URL that no provider takes (see
 * `ImageUrls.dataUrlProblem`), at its field; other URLs pass (the gateway
 * checks their hosts once the request is read).
 *
 * @internal
 */
export const imageDataUrl = (url: string, param: string): void => {
  const problem = ImageUrls.dataUrlProblem(url)
  if (problem !== undefined) invalid(param, `Invalid '${param}': the data URL ${problem}.`)
}

/** An image part's `detail`. @internal */
export const imageDetail = (u: unknown, param: string): "auto" | "low" | "high" =>
  u === "auto" || u === "low" || u === "high"
    ? u
    : invalid(param, `Invalid value for '${param}': supported values are 'auto', 'low' and 'high'.`)

const imagePart = (part: Json, p: string): ContentPart => {
  const raw = part["image_url"]
  if (raw === undefined) return missing(`${p}.image_url`)
  // a bare URL string, as some clients send, or OpenAI's object
  const image = typeof raw === "string" ? { url: raw } : object(raw, `${p}.image_url`)
  const url = requiredString(image, "url", `${p}.image_url.url`)
  if (url.length === 0) return invalid(`${p}.image_url.url`, `Invalid '${p}.image_url.url': empty URL.`)
  imageDataUrl(url, `${p}.image_url.url`)
  const mediaType = dataUrlMediaType(url)
  const detail = present(image, "detail") ? imageDetail(image["detail"], `${p}.image_url.detail`) : undefined
  return {
    type: "image",
    url,
    ...(mediaType === undefined ? {} : { mediaType }),
    ...(detail === undefined ? {} : { detail }),
    ...cacheOf(part, `${p}.cache_control`)
  }
}

/**
 * A user message's content in a wire format whose parts are named `text`
 * and `image` (chat's `text` and `image_url`, the Responses API's
 * `input_text` and `input_image`): a string, or a non-empty array of text
 * and image parts (`image` reads an image part); `refused` names a part
 * type the format has that the gateway refuses, with why.
 *
 * @internal
 */
export const userContentOf = (
  names: { readonly text: string; readonly image: string },
  image: (part: Json, param: string) => ContentPart,
  refused?: { readonly type: string; readonly why: string }
) =>
(u: unknown, param: string): string | ReadonlyArray<ContentPart> => {
  if (typeof u === "string") return u
  if (!Array.isArray(u)) return wrongType(param, "a string or an array of content parts", u)
  if (u.length === 0) return invalid(param, `Invalid '${param}': expected an array with at least one content part.`)
  return u.map((raw, i): ContentPart => {
    const p = `${param}[${i}]`
    const part = object(raw, p)
    const type = requiredString(part, "type", `${p}.type`)
    if (type === names.text) return { type: "text", text: requiredString(part, "text", `${p}.text`), ...cacheOf(part, `${p}.cache_control`) }
    if (type === names.image) return image(part, p)
    if (type === refused?.type) {
      return invalid(`${p}.type`, `Unsupported value: '${p}.type' '${type}' is not supported by this gateway (${refused.why}).`)
    }
    return invalid(`${p}.type`, `Invalid value for '${p}.type': supported content parts are '${names.text}' and '${names.image}'.`)
  })
}

const userContent = userContentOf({ text: "text", image: "image_url" }, imagePart)

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

const toolCall = (raw: unknown, p: string): ToolCall => {
  const call = object(raw, p)
  if (present(call, "type") && call["type"] !== "function") {
    invalid(`${p}.type`, `Invalid value for '${p}.type': only 'function' tool calls are supported.`)
  }
  if (call["function"] === undefined) return missing(`${p}.function`)
  const fn = object(call["function"], `${p}.function`)
  // Gemini's thought signature, as the gateway (and Google's OpenAI-compatible endpoint) sent it
  const signature = signatureOf(call["extra_content"])
  return {
    id: requiredString(call, "id", `${p}.id`),
    name: requiredString(fn, "name", `${p}.function.name`),
    arguments: present(fn, "arguments") ? string(fn["arguments"], `${p}.function.arguments`) : "",
    ...(signature !== undefined ? { signature } : {})
  }
}

/** A participant's name, kept for the providers that take one (OpenAI). */
const nameOf = (m: Json, p: string): { readonly name?: string } =>
  present(m, "name") ? { name: string(m["name"], `${p}.name`) } : {}

const assistantMessage = (message: Json, p: string): Message => {
  const content: { readonly text?: string; readonly cache?: CacheBreakpoint } = present(message, "content")
    ? textContent(message, `${p}.content`, true)
    : cacheOf(message, `${p}.cache_control`)
  const calls = present(message, "tool_calls")
    ? array(message["tool_calls"], `${p}.tool_calls`).map((raw, i) => toolCall(raw, `${p}.tool_calls[${i}]`))
    : undefined
  return {
    role: "assistant",
    ...(content.text !== undefined ? { content: content.text } : {}),
    ...(calls !== undefined && calls.length > 0 ? { toolCalls: calls } : {}),
    ...nameOf(message, p),
    ...(content.cache === undefined ? {} : { cache: content.cache })
  }
}

const message = (raw: unknown, p: string): Message | Array<Message> => {
  const m = object(raw, p)
  if (m["role"] === undefined) return missing(`${p}.role`)
  const role = string(m["role"], `${p}.role`)
  const content = (): unknown => (m["content"] === undefined ? missing(`${p}.content`) : m["content"])
  const text = () => {
    content()
    const { cache, text } = textContent(m, `${p}.content`)
    return { content: text, ...(cache === undefined ? {} : { cache }) }
  }
  switch (role) {
    case "system":
    case "developer":
      content()
      return systemMessages(m, `${p}.content`)
    case "user":
      return { role: "user", content: userContent(content(), `${p}.content`), ...nameOf(m, p), ...cacheOf(m, `${p}.cache_control`) }
    case "assistant":
      return assistantMessage(m, p)
    case "tool":
      return { role: "tool", toolCallId: requiredString(m, "tool_call_id", `${p}.tool_call_id`), ...text() }
    default:
      return invalid(
        `${p}.role`,
        `Invalid value for '${p}.role': supported roles are 'system', 'developer', 'user', 'assistant' and 'tool'.`
      )
  }
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

/** A tool's parameters when it declares none. @internal */
export const emptyParameters: Readonly<Record<string, unknown>> = { type: "object", properties: {} }

/** A strict tool's parameters when it declares none: a closed object, as OpenAI requires. @internal */
export const strictEmptyParameters: Readonly<Record<string, unknown>> = { type: "object", properties: {}, required: [], additionalProperties: false }

/**
 * A function tool's fields (`name`, `description`, `parameters`, `strict`),
 * read from `fn`, the object at `p`: a chat tool's `function`, or a
 * Responses tool itself.
 *
 * @internal
 */
export const functionTool = (fn: Json, p: string): ToolDefinition => {
  const description = present(fn, "description") ? string(fn["description"], `${p}.description`) : undefined
  const strict = present(fn, "strict") ? boolean(fn["strict"], `${p}.strict`) : undefined
  return {
    name: requiredString(fn, "name", `${p}.name`),
    ...(description !== undefined ? { description } : {}),
    // a strict tool's schema must close every object: OpenAI refuses an open one (a 400 that ends the chain)
    parameters: present(fn, "parameters")
      ? object(fn["parameters"], `${p}.parameters`)
      : strict === true
      ? strictEmptyParameters
      : emptyParameters,
    ...(strict === undefined ? {} : { strict })
  }
}

/**
 * Refuses a tool named twice, at the second one's `name` (`named`: each
 * tool's name and path): Claude and Gemini refuse such a request with a 400
 * ("Tool names must be unique", "Duplicate function
 * declaration"), which would end the chain after a call.
 *
 * @internal
 */
export const uniqueNames = (named: ReadonlyArray<readonly [name: string, path: string]>): void => {
  const seen = new Set<string>()
  for (const [name, p] of named) {
    if (seen.has(name)) invalid(`${p}.name`, `Invalid '${p}.name': a tool named '${printableName(name)}' is defined already; each tool needs a name of its own (Claude and Gemini refuse a name given twice).`)
    seen.add(name)
  }
}

const printableName = (name: string) => (name.length > 64 ? `${name.slice(0, 64)}...` : name).replace(/[\u0000-\u001f]/g, "?")

const tool = (raw: unknown, p: string): ToolDefinition => {
  const t = object(raw, p)
  if (t["type"] !== "function") invalid(`${p}.type`, `Invalid value for '${p}.type': only 'function' tools are supported.`)
  if (t["function"] === undefined) return missing(`${p}.function`)
  return { ...functionTool(object(t["function"], `${p}.function`), `${p}.function`), ...cacheOf(t, `${p}.cache_control`) }
}

/**
 * A tool choice beside the request's tools: without any, `auto` and `none`
 * say nothing and are left out (OpenAI refuses them, Claude takes them, a
 * chain would answer by its order), and one that asks for a call is refused
 * as OpenAI refuses it; a function must be one of the tools (`functionParam`
 * names the field of its name).
 *
 * @internal
 */
export const choiceOf = (
  choice: NonNullable<ChatRequest["toolChoice"]>,
  tools: ReadonlyArray<ToolDefinition> | undefined,
  functionParam = "tool_choice.function.name"
): ChatRequest["toolChoice"] => {
  if (tools === undefined || tools.length === 0) {
    return choice === "auto" || choice === "none"
      ? undefined
      : invalid("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
  }
  if (typeof choice !== "string" && !tools.some((tool) => tool.name === choice.name)) {
    invalid(functionParam, `Invalid value for '${functionParam}': expected the name of one of 'tools'.`)
  }
  return choice
}

const toolChoice = (u: unknown): NonNullable<ChatRequest["toolChoice"]> => {
  if (u === "auto" || u === "none" || u === "required") return u
  if (typeof u === "string") {
    return invalid("tool_choice", "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.")
  }
  const choice = object(u, "tool_choice")
  if (choice["type"] !== "function") {
    invalid("tool_choice.type", "Invalid value for 'tool_choice.type': only 'function' is supported.")
  }
  if (choice["function"] === undefined) return missing("tool_choice.function")
  return { name: requiredString(object(choice["function"], "tool_choice.function"), "name", "tool_choice.function.name") }
}

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

const maxTokens = (body: Json): number | undefined => {
  const key = present(body, "max_completion_tokens") ? "max_completion_tokens" : present(body, "max_tokens") ? "max_tokens" : undefined
  return key === undefined ? undefined : integerIn(body[key], key, 1, maxTokensLimit)
}

/** The most stop sequences OpenAI takes (Gemini takes 5; more would be one provider's 400 mid-chain). @internal */
export const maxStops = 4

const stop = (u: unknown): ReadonlyArray<string> => {
  if (typeof u === "string") return [u]
  if (!Array.isArray(u)) return wrongType("stop", "a string or an array of strings", u)
  if (u.length > maxStops) {
    invalid("stop", `Invalid 'stop': array too long. Expected an array with maximum length ${maxStops}, but got an array with length ${u.length} instead.`)
  }
  return u.map((s, i) => string(s, `stop[${i}]`))
}

/** A request's `metadata` (string values), with its `user` added as `metadata.user`: absent if neither is set. @internal */
export const metadata = (body: Json): Record<string, string> | undefined => {
  const out: Record<string, string> = {}
  let any = false
  if (present(body, "metadata")) {
    for (const [key, value] of Object.entries(object(body["metadata"], "metadata"))) {
      out[key] = string(value, `metadata.${key}`)
      any = true
    }
  }
  if (present(body, "user")) {
    out["user"] = string(body["user"], "user")
    any = true
  }
  return any ? out : undefined
}

const streamOptions = (body: Json): boolean => {
  if (!present(body, "stream_options")) return false
  const options = object(body["stream_options"], "stream_options")
  return present(options, "include_usage") ? boolean(options["include_usage"], "stream_options.include_usage") : false
}

/** A schema's name as OpenAI takes it (the others ignore it): refused here, not by one provider mid-chain. @internal */
export const formatName = /^[a-zA-Z0-9_-]{1,64}$/

/**
 * A `json_schema` format's fields (`name`, `schema`, `description`,
 * `strict`), read from `spec`, the object at `p`: the chat request's
 * `response_format.json_schema`, or the Responses request's `text.format`.
 *
 * @internal
 */
export const jsonSchemaFormat = (spec: Json, p: string): ResponseFormat => {
  const name = requiredString(spec, "name", `${p}.name`)
  if (!formatName.test(name)) {
    invalid(`${p}.name`, `Invalid '${p}.name': expected 1 to 64 letters, digits, underscores or dashes.`)
  }
  if (!present(spec, "schema")) return missing(`${p}.schema`)
  const schema = object(spec["schema"], `${p}.schema`)
  const description = present(spec, "description") ? string(spec["description"], `${p}.description`) : undefined
  const strict = present(spec, "strict") ? boolean(spec["strict"], `${p}.strict`) : undefined
  return {
    type: "json_schema",
    name,
    ...(description !== undefined ? { description } : {}),
    schema,
    ...(strict !== undefined ? { strict } : {})
  }
}

/**
 * The answer's form: absent for `text`, JSON mode for `json_object`,
 * structured outputs for `json_schema` (its `schema` required: without one
 * it says nothing JSON mode does not).
 */
const responseFormat = (u: unknown): ResponseFormat | undefined => {
  const format = object(u, "response_format")
  const type = requiredString(format, "type", "response_format.type")
  switch (type) {
    case "text":
      return undefined
    case "json_object":
      return { type }
    case "json_schema": {
      if (format["json_schema"] === undefined) return missing("response_format.json_schema")
      return jsonSchemaFormat(object(format["json_schema"], "response_format.json_schema"), "response_format.json_schema")
    }
    default:
      return invalid("response_format.type", "Invalid value for 'response_format.type': supported values are 'text', 'json_object' and 'json_schema'.")
  }
}

const efforts: ReadonlyArray<ReasoningEffort> = ["none", "minimal", "low", "medium", "high", "xhigh"]

/** A reasoning effort, in the field `param`. @internal */
export const reasoningEffort = (u: unknown, param = "reasoning_effort"): ReasoningEffort => {
  if (typeof u !== "string") return wrongType(param, "a string", u)
  return (efforts as ReadonlyArray<string>).includes(u)
    ? (u as ReasoningEffort)
    : invalid(param, `Invalid value for '${param}': supported values are ${efforts.map((e) => `'${e}'`).join(", ")}.`)
}

/**
 * Refuses what would change the answer and cannot be honoured (see the
 * module's docs). The messages name the field and the gateway's known
 * values only.
 */
const unsupported = (b: Json): void => {
  if (present(b, "logprobs") && boolean(b["logprobs"], "logprobs")) {
    invalid("logprobs", "Unsupported parameter: 'logprobs' is not supported by this gateway (no log probabilities come back); leave it out or set it to false.")
  }
  if (present(b, "top_logprobs")) {
    invalid("top_logprobs", "Unsupported parameter: 'top_logprobs' is not supported by this gateway (no log probabilities come back).")
  }
  if (present(b, "audio")) {
    invalid("audio", "Unsupported parameter: 'audio' is not supported by this gateway (answers are text only).")
  }
  if (present(b, "modalities") && array(b["modalities"], "modalities").some((modality) => modality !== "text")) {
    invalid("modalities", "Invalid value for 'modalities': this gateway answers in text only; supported values are ['text'].")
  }
  for (const legacy of ["functions", "function_call"] as const) {
    if (present(b, legacy)) {
      invalid(legacy, `Unsupported parameter: '${legacy}' is deprecated and not supported by this gateway; use 'tools' and 'tool_choice'.`)
    }
  }
}

const decodeBody = (body: unknown): Decoded => {
  const b = isObject(body) ? body : invalid(null, `Invalid request body: expected a JSON object, but got ${kind(body)} instead.`)
  const model = requiredString(b, "model", "model")
  if (model.length === 0) invalid("model", "Invalid 'model': expected a model or chain name.")
  if (b["messages"] === undefined) missing("messages")
  const messages = array(b["messages"], "messages").flatMap((raw, i) => message(raw, `messages[${i}]`))
  const [first, ...rest] = messages
  if (first === undefined) return invalid("messages", "Invalid 'messages': expected an array with at least one message.")
  if (present(b, "n") && integerIn(b["n"], "n", 1, Number.MAX_SAFE_INTEGER) !== 1) {
    invalid("n", "Invalid 'n': this gateway returns one choice; 'n' must be 1.")
  }
  unsupported(b)
  const tokens = maxTokens(b)
  const tools = present(b, "tools") ? array(b["tools"], "tools").map((raw, i) => tool(raw, `tools[${i}]`)) : undefined
  if (tools !== undefined) uniqueNames(tools.map((t, i) => [t.name, `tools[${i}].function`]))
  const choice = present(b, "tool_choice") ? choiceOf(toolChoice(b["tool_choice"]), tools) : undefined
  const meta = metadata(b)
  const format = present(b, "response_format") ? responseFormat(b["response_format"]) : undefined
  const request: Mutable<ChatRequest> = {
    messages: [first, ...rest],
    ...(present(b, "temperature") ? { temperature: numberIn(b["temperature"], "temperature", 0, 2) } : {}),
    ...(present(b, "top_p") ? { topP: numberIn(b["top_p"], "top_p", 0, 1) } : {}),
    ...(tokens !== undefined ? { maxTokens: tokens } : {}),
    ...(present(b, "stop") ? { stop: stop(b["stop"]) } : {}),
    ...(tools !== undefined && tools.length > 0 ? { tools } : {}),
    ...(choice !== undefined ? { toolChoice: choice } : {}),
    ...(present(b, "parallel_tool_calls") ? { parallelToolCalls: boolean(b["parallel_tool_calls"], "parallel_tool_calls") } : {}),
    ...(format !== undefined ? { responseFormat: format } : {}),
    ...(present(b, "reasoning_effort") ? { reasoningEffort: reasoningEffort(b["reasoning_effort"]) } : {}),
    ...(meta !== undefined ? { metadata: meta } : {})
  }
  // set on the request made, only when sent: no work for a request without them
  if (present(b, "seed")) {
    const seed = seedOf(b["seed"], "seed")
    if (seed !== undefined) request.seed = seed
  }
  if (present(b, "presence_penalty")) request.presencePenalty = numberIn(b["presence_penalty"], "presence_penalty", -maxPenalty, maxPenalty)
  if (present(b, "frequency_penalty")) request.frequencyPenalty = numberIn(b["frequency_penalty"], "frequency_penalty", -maxPenalty, maxPenalty)
  const stream = present(b, "stream") ? boolean(b["stream"], "stream") : false
  // checked whether or not the request streams: a malformed field is refused either way
  const includeUsage = streamOptions(b)
  return { model, request, stream, includeUsage: stream && includeUsage }
}

/**
 * Decodes a parsed JSON body; the left side says which field is wrong.
 *
 * @internal
 */
export const decode = (body: unknown): Either.Either<Decoded, InvalidField> => catching(() => decodeBody(body))

/**
 * Runs a reader built of this module's validators: its value, or the
 * `InvalidField` it threw.
 *
 * @internal
 */
export const catching = <A>(read: () => A): Either.Either<A, InvalidField> => {
  try {
    return Either.right(read())
  } catch (error) {
    if (error instanceof InvalidField) return Either.left(error)
    throw error
  }
}

/**
 * Whether a parsed JSON value nests deeper than `limit` arrays and objects,
 * checked without recursion (a 1 MiB body can nest half a million deep).
 *
 * @internal
 */
export const deeperThan = (value: unknown, limit: number): boolean => {
  const stack: Array<{ readonly value: unknown; readonly depth: number }> = [{ value, depth: 0 }]
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth + 1 > limit) return true
    const children = Array.isArray(current) ? current : Object.values(current)
    for (const child of children) if (typeof child === "object" && child !== null) stack.push({ value: child, depth: depth + 1 })
  }
  return false
}

/** One decoder for every body: a whole-buffer `decode` keeps no state between calls. */
const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Parses a body as UTF-8 JSON, or says why it is not.
 *
 * @internal
 */
export const parseJson = (bytes: Uint8Array): Either.Either<unknown, InvalidField> => {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return Either.left(new InvalidField(null, "The request body is not valid UTF-8."))
  }
  if (text.trim().length === 0) return Either.left(new InvalidField(null, "The request body is empty: expected a JSON object."))
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Either.left(
      new InvalidField(null, "We could not parse the JSON body of your request: expected a JSON object (is it valid JSON?).")
    )
  }
  if (deeperThan(value, maxDepth)) {
    return Either.left(new InvalidField(null, `The JSON body nests deeper than ${maxDepth} levels.`))
  }
  return Either.right(value)
}
