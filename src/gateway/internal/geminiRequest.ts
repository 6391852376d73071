/**
 * Reads a Gemini API request (`POST /v1beta/models/{model}:generateContent`,
 * `:streamGenerateContent`, `:countTokens`) into the neutral `ChatRequest`,
 * with the chat decoder's field readers (see `request.ts`): what is wrong,
 * and which field, named in the message (Google's error JSON has no
 * `param`; the gateway's log line keeps it). Messages never quote a
 * client's text back.
 *
 * The model and the method come from the URL (`callOf`), not the body: the
 * model names a chain or model alias, as `model` does on the other routes
 * (`models/` before it is dropped).
 *
 * `systemInstruction` (its text parts, joined by a blank line, as the
 * Messages route joins system blocks) becomes a system message; each of
 * `contents` (role `user`, the default, or `model`; `function`, which
 * Google's older SDK gives a turn of function responses, as `user`) a
 * message: a user
 * turn's `text` and `inlineData` images (as a `data:` URL; their data
 * base64 of either alphabet, padded or not, as Gemini takes bytes, sent on
 * standard and padded: see `ImageUrls.base64Problem`) the user's
 * content, its `functionResponse` parts a tool message each, before the
 * rest of that turn (its `response` as JSON text, or, for a response of an
 * `error` alone, that error as a failed tool's result; its multimodal `parts`
 * refused, as a tool message carries text only); a model turn's text its
 * content and its `functionCall` parts its tool calls (`args` as JSON text,
 * a part's `thoughtSignature` kept as the call's signature). A call
 * without an `id` (Gemini's older clients send none) gets one made from
 * its place (`call_{turn}_{part}`), and a `functionResponse` without one
 * (or with one that names no call: Gemini CLI makes its own for a call
 * without one) answers the first call of its name in the model's turn before it not yet
 * answered. `thought` parts a client sends back in its history are left
 * out, as the Messages route leaves out thinking blocks.
 *
 * `tools[].functionDeclarations` (with `parameters`, Gemini's OpenAPI
 * subset, its upper-case types lowered, its int64 bounds numbers and
 * `nullable` a `"null"` type, enum value or `anyOf` branch, so every
 * provider reads it as JSON Schema; or `parametersJsonSchema`, as
 * it is), `toolConfig.functionCallingConfig` (`AUTO`, `VALIDATED` as
 * `AUTO`, `ANY`, `NONE`; `allowedFunctionNames` keeps only those tools, and
 * `ANY` with one name asks for that one), `generationConfig`'s
 * `temperature`, `topP`, `maxOutputTokens`, `stopSequences`, `seed`,
 * `presencePenalty`, `frequencyPenalty` (-2 to 2), `topK` (a positive
 * integer; 0 carries none),
 * `responseMimeType: application/json` (JSON mode; with `responseSchema`
 * or `responseJsonSchema`, structured outputs) and `thinkingConfig`
 * (`thinkingLevel`, or `thinkingBudget`: 0 `none`, -1 the model's own
 * default, else as the Messages route reads a budget) become the
 * request's fields. `safetySettings` (each a string `category` and
 * `threshold`) become the request's `providerOptions.gemini.safetySettings`,
 * which the Gemini adapter sends as they are and every other provider
 * ignores (applying its own policy). Ignored: `mediaResolution`,
 * `thinkingConfig.includeThoughts` (no thought parts come back), `labels`
 * and unknown fields. Refused with the field named: `candidateCount` above
 * 1, `cachedContent`, `fileData` parts (this gateway stores no files),
 * `inlineData` that is no image, code execution parts, built-in tools
 * (`googleSearch`, `codeExecution`, `urlContext`, ...: any tool entry
 * but `functionDeclarations`), `responseLogprobs`, `responseModalities`
 * other than text, `speechConfig`, and an `alt` other than `json` and
 * `sse`. A `streamGenerateContent` streams server-sent events with
 * `alt=sse` (as Google's SDKs ask), else Gemini's default, a JSON array
 * of the same answers written as they come (see `ResponseEncoder`).
 *
 * @internal
 */
import type * as Either from "effect/Either"
import type { Mutable } from "effect/Types"
import type {
  ChatRequest,
  ContentPart,
  Message,
  ReasoningEffort,
  ResponseFormat,
  SafetySetting,
  ToolCall,
  ToolDefinition
} from "../../llm/Chat.js"
import { effortOfBudget } from "./messagesRequest.js"
import {
  array,
  boolean,
  catching,
  type Decoded as ChatDecoded,
  emptyParameters,
  integerIn,
  invalid,
  type InvalidField,
  isObject,
  type Json,
  kind,
  maxPenalty,
  maxStops,
  maxTokensLimit,
  missing,
  numberIn,
  object,
  present,
  requiredString,
  seedOf,
  string,
  uniqueNames
} from "./request.js"
import { printable } from "./errors.js"
import { base64Problem, imageTypeProblem, standardBase64 } from "./imageUrls.js"

/** A decoded Gemini request: the chat route's (its model from the URL). @internal */
export interface Decoded extends ChatDecoded {}

/** The Gemini API methods the gateway serves. @internal */
export type Method = "generateContent" | "streamGenerateContent" | "countTokens"

/**
 * What a request's URL asks: the chain or model alias, the method, its
 * `alt` (the stream's framing: `sse`, or `json`, Gemini's default, a JSON
 * array), and whether that is SSE.
 *
 * @internal
 */
export interface Call {
  readonly model: string
  readonly method: Method
  readonly alt: string | null
  readonly sse: boolean
}

const methods: ReadonlySet<string> = new Set<Method>(["generateContent", "streamGenerateContent", "countTokens"])

/**
 * The call a path's rest names (`{model}:{method}`, what follows
 * `/v1beta/models/`), with the URL's query; `undefined` for a method the
 * gateway does not serve or a path without one (a 404).
 *
 * @internal
 */
export const callOf = (rest: string, query: string): Call | undefined => {
  const colon = rest.lastIndexOf(":")
  if (colon < 0) return undefined
  const method = rest.slice(colon + 1)
  if (!methods.has(method)) return undefined
  const named = rest.slice(0, colon)
  const model = named.startsWith("models/") ? named.slice("models/".length) : named
  const alt = new URLSearchParams(query).get("alt")
  return { model, method: method as Method, alt, sse: alt === "sse" }
}

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

/** Keywords whose value is a map of schemas, a list of them, or one (as Gemini's `Schema` nests them). */
const schemaMaps: ReadonlySet<string> = new Set(["properties", "$defs", "definitions"])
const schemaLists: ReadonlySet<string> = new Set(["anyOf", "oneOf", "allOf", "prefixItems"])
const schemaValues: ReadonlySet<string> = new Set(["items", "additionalProperties", "not"])

/** Gemini's int64 keywords, which its JSON (and the SDK's `Schema` type) writes as strings: `"minItems": "1"`. */
const int64Keywords: ReadonlySet<string> = new Set(["minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"])

/** Gemini's `Schema` types (its `Type` enum but `TYPE_UNSPECIFIED`), lower-cased: JSON Schema's names for them. */
const schemaTypes: ReadonlySet<string> = new Set(["string", "number", "integer", "boolean", "array", "object", "null"])

/**
 * The deepest schema read (a schema's subschemas one level below it): past
 * any tool's (OpenAI's strict schemas nest 10 levels at most), so only
 * nonsense is refused; the body's own nesting is bounded too (`maxDepth`).
 */
const maxSchemaDepth = 32

/** No type: `TYPE_UNSPECIFIED` (in any case: the SDK writes it for a type it does not know) or `null` (protobuf's JSON for the default). */
const unspecified = (value: unknown): boolean => value === null || (typeof value === "string" && value.toUpperCase() === "TYPE_UNSPECIFIED")

/** A schema's `type`, lowered, or a 400 at `param` for one Gemini's `Type` does not have. */
const typeOf = (value: unknown, param: string): unknown => {
  const known = "supported types are STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT and NULL (in any case)"
  const one = (u: unknown, at: string): string => {
    const lowered = typeof u === "string" ? u.toLowerCase() : undefined
    return lowered !== undefined && schemaTypes.has(lowered) ? lowered : invalid(at, `Invalid value for '${at}': ${known}.`)
  }
  // a list of types is JSON Schema's, not Gemini's; each of Gemini's types, it means what it says to every provider
  return Array.isArray(value) ? value.map((u, i) => one(u, `${param}[${i}]`)) : one(value, param)
}

/**
 * Gemini's `Schema` (an OpenAPI 3.0 subset: `type: "OBJECT"`, `nullable`,
 * `propertyOrdering`) as JSON Schema, which OpenAI's and Anthropic's
 * tools and formats take: types lowered (`TYPE_UNSPECIFIED`, which the
 * SDK writes for a type it does not know, and `null` dropped; any other than
 * Gemini's `Type` has, in any case, refused at its `param`, as every provider
 * would refuse it), the int64 bounds
 * (`minItems`, `maxLength`, ...: strings in Gemini's JSON) as numbers, and
 * `nullable` as JSON Schema says it: `"null"` beside the type, `null` in
 * an `enum`, a `{ "type": "null" }` branch of an `anyOf` (the SDK writes a
 * nullable union so); Gemini's own `propertyOrdering` dropped; the rest as
 * written (a Gemini provider reads it back as JSON Schema:
 * `parametersJsonSchema`). Every subschema is read so (`properties`,
 * `items`, `anyOf`, `$defs`, ...), `maxSchemaDepth` deep at most. Throws
 * `InvalidField` (see `catching`).
 *
 * @example
 * jsonSchemaOf({ type: "OBJECT", properties: { city: { type: "STRING" } } })
 * // { type: "object", properties: { city: { type: "string" } } }
 *
 * @internal
 */
export const jsonSchemaOf = (schema: unknown, param = "schema", depth = 0): unknown => {
  if (!isObject(schema)) return schema
  if (depth > maxSchemaDepth) invalid(param, `Invalid '${param}': the schema nests deeper than ${maxSchemaDepth} levels.`)
  const out: Record<string, unknown> = {}
  const below = depth + 1
  for (const [key, value] of Object.entries(schema)) {
    if (key === "propertyOrdering" || key === "nullable" || (key === "type" && unspecified(value))) continue
    const mapped = key === "type"
      ? typeOf(value, `${param}.type`)
      : int64Keywords.has(key) && typeof value === "string" && /^\d+$/.test(value)
      ? Number(value)
      : schemaMaps.has(key) && isObject(value)
      ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, jsonSchemaOf(sub, `${param}.${key}.${printable(name, 64)}`, below)]))
      : schemaLists.has(key) && Array.isArray(value)
      ? value.map((sub, i) => jsonSchemaOf(sub, `${param}.${key}[${i}]`, below))
      : schemaValues.has(key)
      ? jsonSchemaOf(value, `${param}.${key}`, below)
      : value
    Object.defineProperty(out, key, { value: mapped, enumerable: true, writable: true, configurable: true })
  }
  if (schema["nullable"] === true) {
    if (typeof out["type"] === "string") out["type"] = [out["type"], "null"]
    else if (out["type"] === undefined && Array.isArray(out["anyOf"])) out["anyOf"] = [...out["anyOf"], { type: "null" }]
    if (Array.isArray(out["enum"]) && !out["enum"].includes(null)) out["enum"] = [...out["enum"], null]
  }
  return out
}

// ---------------------------------------------------------------------------
// Contents
// ---------------------------------------------------------------------------

/** The part kinds Gemini has that the gateway refuses, and why. */
const refusedParts: ReadonlyArray<readonly [string, string]> = [
  ["fileData", "this gateway stores no files; send the data inline ('inlineData') or as text"],
  ["executableCode", "code execution runs on Google's servers"],
  ["codeExecutionResult", "code execution runs on Google's servers"],
  ["toolCall", "built-in tools run on Google's servers"],
  ["toolResponse", "built-in tools run on Google's servers"]
]

const refuseParts = (part: Json, p: string): void => {
  for (const [key, why] of refusedParts) if (present(part, key)) invalid(`${p}.${key}`, `Unsupported parameter: '${p}.${key}' is not supported (${why}).`)
}

/** An `inlineData` part: an image, as a `data:` URL. */
const inlineImage = (part: Json, p: string): ContentPart => {
  const blob = object(part["inlineData"], `${p}.inlineData`)
  const mediaType = requiredString(blob, "mimeType", `${p}.inlineData.mimeType`)
  if (imageTypeProblem(mediaType) !== undefined) {
    invalid(`${p}.inlineData.mimeType`, `Unsupported value: '${p}.inlineData.mimeType' must be an image type (such as 'image/png'): this gateway passes images and text only.`)
  }
  const data = requiredString(blob, "data", `${p}.inlineData.data`)
  // either alphabet, padded or not, as Gemini takes bytes; sent on as the standard base64 every provider takes
  const problem = base64Problem(data, true)
  if (problem !== undefined) invalid(`${p}.inlineData.data`, `Invalid '${p}.inlineData.data': the base64 data ${problem}.`)
  return { type: "image", url: `data:${mediaType};base64,${standardBase64(data)}`, mediaType }
}

/** The calls of the model turns so far, to match a `functionResponse` to its call. */
interface Pending {
  /** The calls of the latest model turn not yet answered. */
  calls: Array<{ readonly id: string; readonly name: string }>
}

/** A `functionResponse` part: a tool message, its `response` as JSON text, its call found by id, or else (no id, or one that names no call) by name. */
const functionResponse = (part: Json, p: string, pending: Pending): Message => {
  const fr = object(part["functionResponse"], `${p}.functionResponse`)
  const name = requiredString(fr, "name", `${p}.functionResponse.name`)
  const id = present(fr, "id") ? string(fr["id"], `${p}.functionResponse.id`) : undefined
  // by id, else by name: Gemini matches by name, and Gemini CLI sends back an id of its own for a call without one
  const byId = id === undefined ? -1 : pending.calls.findIndex((call) => call.id === id)
  const index = byId >= 0 ? byId : pending.calls.findIndex((call) => call.name === name)
  const call = index < 0 ? undefined : pending.calls.splice(index, 1)[0]
  const toolCallId = call?.id ?? id ??
    invalid(`${p}.functionResponse.name`, `Invalid '${p}.functionResponse': it answers no 'functionCall' of that name in the model's turn before it.`)
  if (present(fr, "parts") && array(fr["parts"], `${p}.functionResponse.parts`).length > 0) {
    invalid(`${p}.functionResponse.parts`, `Unsupported parameter: '${p}.functionResponse.parts' is not supported: a tool's result is text only here; put it in 'response'.`)
  }
  const response = present(fr, "response") ? object(fr["response"], `${p}.functionResponse.response`) : {}
  // Gemini reads a response of its `error` alone as the function's failure: a tool message that says so
  const keys = Object.keys(response)
  if (keys.length === 1 && keys[0] === "error") {
    const error = response["error"]
    return { role: "tool", toolCallId, content: typeof error === "string" ? error : JSON.stringify(error), isError: true }
  }
  return { role: "tool", toolCallId, content: JSON.stringify(response) }
}

/** A user turn: its `functionResponse` parts a tool message each, then its text and images one user message. */
const userTurn = (parts: ReadonlyArray<unknown>, p: string, pending: Pending): Array<Message> => {
  const messages: Array<Message> = []
  const content: Array<ContentPart> = []
  parts.forEach((raw, i) => {
    const pp = `${p}[${i}]`
    const part = object(raw, pp)
    refuseParts(part, pp)
    if (part["thought"] === true) return
    if (present(part, "text")) content.push({ type: "text", text: string(part["text"], `${pp}.text`) })
    else if (present(part, "inlineData")) content.push(inlineImage(part, pp))
    else if (present(part, "functionResponse")) messages.push(functionResponse(part, pp, pending))
    else if (present(part, "functionCall")) invalid(`${pp}.functionCall`, `Invalid '${pp}.functionCall': a function call belongs in a 'model' turn.`)
    else invalid(pp, `Invalid '${pp}': supported parts are 'text', 'inlineData', 'functionCall' and 'functionResponse'.`)
  })
  const only = content.length === 1 ? content[0] : undefined
  if (content.length > 0) messages.push({ role: "user", content: only?.type === "text" ? only.text : content })
  return messages
}

/** A model turn: its text (thoughts left out) its content, its `functionCall` parts its calls. */
const modelTurn = (parts: ReadonlyArray<unknown>, p: string, turn: number, pending: Pending): Array<Message> => {
  let text: string | undefined
  const calls: Array<ToolCall> = []
  parts.forEach((raw, i) => {
    const pp = `${p}[${i}]`
    const part = object(raw, pp)
    refuseParts(part, pp)
    if (part["thought"] === true) return
    if (present(part, "text")) text = (text ?? "") + string(part["text"], `${pp}.text`)
    else if (present(part, "functionCall")) {
      const fc = object(part["functionCall"], `${pp}.functionCall`)
      const args = present(fc, "args") ? object(fc["args"], `${pp}.functionCall.args`) : {}
      const signature = present(part, "thoughtSignature") ? string(part["thoughtSignature"], `${pp}.thoughtSignature`) : undefined
      calls.push({
        id: present(fc, "id") ? string(fc["id"], `${pp}.functionCall.id`) : `call_${turn}_${i}`,
        name: requiredString(fc, "name", `${pp}.functionCall.name`),
        arguments: JSON.stringify(args),
        ...(signature !== undefined ? { signature } : {})
      })
    } else if (present(part, "inlineData")) {
      invalid(`${pp}.inlineData`, `Unsupported parameter: '${pp}.inlineData' in a 'model' turn is not supported: only text and function calls.`)
    } else invalid(pp, `Invalid '${pp}': supported parts in a 'model' turn are 'text' and 'functionCall'.`)
  })
  pending.calls = calls.map((call) => ({ id: call.id, name: call.name }))
  if (text === undefined && calls.length === 0) return []
  return [{ role: "assistant", ...(text !== undefined ? { content: text } : {}), ...(calls.length > 0 ? { toolCalls: calls } : {}) }]
}

const contentsOf = (u: unknown): Array<Message> => {
  const pending: Pending = { calls: [] }
  return array(u, "contents").flatMap((raw, i) => {
    const p = `contents[${i}]`
    const c = object(raw, p)
    const role = present(c, "role") ? string(c["role"], `${p}.role`) : "user"
    const parts = present(c, "parts") ? array(c["parts"], `${p}.parts`) : missing(`${p}.parts`)
    switch (role) {
      case "user":
      case "function": // Google's older SDK (@google/generative-ai) sends function responses in a turn of this role
        return userTurn(parts, `${p}.parts`, pending)
      case "model":
        return modelTurn(parts, `${p}.parts`, i, pending)
      default:
        return invalid(`${p}.role`, `Invalid value for '${p}.role': supported roles are 'user' and 'model' (and 'function', as 'user').`)
    }
  })
}

/** `systemInstruction`: its text parts, joined by a blank line (as the Messages route joins system blocks). */
const systemOf = (u: unknown): Array<Message> => {
  const c = object(u, "systemInstruction")
  const parts = present(c, "parts") ? array(c["parts"], "systemInstruction.parts") : missing("systemInstruction.parts")
  const texts = parts.map((raw, i) => {
    const p = `systemInstruction.parts[${i}]`
    const part = object(raw, p)
    return present(part, "text") ? string(part["text"], `${p}.text`) : invalid(p, `Invalid '${p}': only 'text' parts are supported in 'systemInstruction'.`)
  })
  return texts.length === 0 ? [] : [{ role: "system", content: texts.join("\n\n") }]
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

const declaration = (raw: unknown, p: string): ToolDefinition => {
  const d = object(raw, p)
  const description = present(d, "description") ? string(d["description"], `${p}.description`) : undefined
  const schema = present(d, "parametersJsonSchema")
    ? object(d["parametersJsonSchema"], `${p}.parametersJsonSchema`)
    : present(d, "parameters")
    ? (jsonSchemaOf(object(d["parameters"], `${p}.parameters`), `${p}.parameters`) as Record<string, unknown>)
    : emptyParameters
  return {
    name: requiredString(d, "name", `${p}.name`),
    ...(description !== undefined ? { description } : {}),
    parameters: Object.keys(schema).length === 0 ? emptyParameters : schema
  }
}

const toolsOf = (u: unknown): Array<ToolDefinition> => {
  const named: Array<readonly [string, string]> = []
  const tools = array(u, "tools").flatMap((raw, i) => {
    const p = `tools[${i}]`
    const t = object(raw, p)
    for (const key of Object.keys(t)) {
      if (key !== "functionDeclarations" && present(t, key)) {
        invalid(`${p}.${key}`, `Unsupported parameter: '${p}.${key}' is not supported: built-in tools (googleSearch, codeExecution, urlContext, ...) run on Google's servers; only 'functionDeclarations' are.`)
      }
    }
    return present(t, "functionDeclarations")
      ? array(t["functionDeclarations"], `${p}.functionDeclarations`).map((d, j) => {
        const declared = declaration(d, `${p}.functionDeclarations[${j}]`)
        named.push([declared.name, `${p}.functionDeclarations[${j}]`])
        return declared
      })
      : []
  })
  uniqueNames(named)
  return tools
}

/** `toolConfig.functionCallingConfig`: the tools it leaves, and the neutral choice. */
const toolConfig = (u: unknown, tools: Array<ToolDefinition>): { readonly tools: Array<ToolDefinition>; readonly choice?: ChatRequest["toolChoice"] } => {
  const config = object(u, "toolConfig")
  if (!present(config, "functionCallingConfig")) return { tools }
  const p = "toolConfig.functionCallingConfig"
  const fc = object(config["functionCallingConfig"], p)
  const mode = present(fc, "mode") ? string(fc["mode"], `${p}.mode`) : "AUTO"
  const allowed = present(fc, "allowedFunctionNames")
    ? array(fc["allowedFunctionNames"], `${p}.allowedFunctionNames`).map((name, i) => string(name, `${p}.allowedFunctionNames[${i}]`))
    : undefined
  for (const name of allowed ?? []) {
    if (!tools.some((tool) => tool.name === name)) {
      invalid(`${p}.allowedFunctionNames`, `Invalid '${p}.allowedFunctionNames': each must name one of the 'functionDeclarations'.`)
    }
  }
  const kept = allowed === undefined ? tools : tools.filter((tool) => allowed.includes(tool.name))
  if (tools.length === 0) return mode === "ANY" ? invalid(`${p}.mode`, `Invalid value for '${p}.mode': 'ANY' needs 'functionDeclarations'.`) : { tools }
  switch (mode) {
    case "AUTO":
    case "VALIDATED":
    case "MODE_UNSPECIFIED":
      return { tools: kept, choice: "auto" }
    case "NONE":
      return { tools: kept, choice: "none" }
    case "ANY": {
      const only = kept.length === 1 ? kept[0] : undefined
      return { tools: kept, choice: only !== undefined && allowed !== undefined ? { name: only.name } : "required" }
    }
    default:
      return invalid(`${p}.mode`, `Invalid value for '${p}.mode': supported values are 'AUTO', 'ANY', 'NONE' and 'VALIDATED'.`)
  }
}

// ---------------------------------------------------------------------------
// Generation config
// ---------------------------------------------------------------------------

const thinkingLevels: Readonly<Record<string, ReasoningEffort>> = { MINIMAL: "minimal", LOW: "low", MEDIUM: "medium", HIGH: "high" }

/** `thinkingConfig`: `thinkingLevel` (Gemini 3), else `thinkingBudget` (Gemini 2.5; 0 none, -1 the model's default). */
const thinkingEffort = (u: unknown): ReasoningEffort | undefined => {
  const p = "generationConfig.thinkingConfig"
  const t = object(u, p)
  if (present(t, "includeThoughts")) boolean(t["includeThoughts"], `${p}.includeThoughts`)
  if (present(t, "thinkingLevel")) {
    const level = string(t["thinkingLevel"], `${p}.thinkingLevel`).toUpperCase()
    if (level === "THINKING_LEVEL_UNSPECIFIED") return undefined
    return thinkingLevels[level] ?? invalid(`${p}.thinkingLevel`, `Invalid value for '${p}.thinkingLevel': supported values are 'MINIMAL', 'LOW', 'MEDIUM' and 'HIGH'.`)
  }
  if (!present(t, "thinkingBudget")) return undefined
  const budget = integerIn(t["thinkingBudget"], `${p}.thinkingBudget`, -1, maxTokensLimit)
  return budget === -1 ? undefined : budget === 0 ? "none" : effortOfBudget(budget)
}

/** `responseMimeType` and its schema: JSON mode, structured outputs, or plain text. */
const formatOf = (g: Json): ResponseFormat | undefined => {
  const p = "generationConfig"
  const mime = present(g, "responseMimeType") ? string(g["responseMimeType"], `${p}.responseMimeType`) : "text/plain"
  const schema = present(g, "responseJsonSchema")
    ? object(g["responseJsonSchema"], `${p}.responseJsonSchema`)
    : present(g, "responseSchema")
    ? (jsonSchemaOf(object(g["responseSchema"], `${p}.responseSchema`), `${p}.responseSchema`) as Record<string, unknown>)
    : undefined
  if (mime === "application/json") return schema === undefined ? { type: "json_object" } : { type: "json_schema", name: "output", schema }
  if (mime !== "text/plain") {
    return invalid(`${p}.responseMimeType`, `Unsupported value: '${p}.responseMimeType' must be 'text/plain' or 'application/json'.`)
  }
  return schema === undefined
    ? undefined
    : invalid(`${p}.responseMimeType`, `Invalid '${p}.responseMimeType': a response schema needs 'application/json'.`)
}

type Generation = Mutable<
  Partial<
    Pick<
      ChatRequest,
      "temperature" | "topP" | "maxTokens" | "stop" | "responseFormat" | "reasoningEffort" | "seed" | "presencePenalty" | "frequencyPenalty" | "topK"
    >
  >
>

const generationConfig = (u: unknown): Generation => {
  const p = "generationConfig"
  const g = object(u, p)
  if (present(g, "candidateCount") && integerIn(g["candidateCount"], `${p}.candidateCount`, 1, Number.MAX_SAFE_INTEGER) !== 1) {
    invalid(`${p}.candidateCount`, `Invalid '${p}.candidateCount': this gateway returns one candidate; 'candidateCount' must be 1.`)
  }
  if (present(g, "responseLogprobs") && boolean(g["responseLogprobs"], `${p}.responseLogprobs`)) {
    invalid(`${p}.responseLogprobs`, `Unsupported parameter: '${p}.responseLogprobs' is not supported by this gateway (no log probabilities come back).`)
  }
  if (present(g, "logprobs")) invalid(`${p}.logprobs`, `Unsupported parameter: '${p}.logprobs' is not supported by this gateway (no log probabilities come back).`)
  if (present(g, "speechConfig")) invalid(`${p}.speechConfig`, `Unsupported parameter: '${p}.speechConfig' is not supported by this gateway (answers are text only).`)
  if (present(g, "responseModalities") && array(g["responseModalities"], `${p}.responseModalities`).some((m) => m !== "TEXT")) {
    invalid(`${p}.responseModalities`, `Invalid value for '${p}.responseModalities': this gateway answers in text only; the supported value is ['TEXT'].`)
  }
  let stop: ReadonlyArray<string> | undefined
  if (present(g, "stopSequences")) {
    const stops = array(g["stopSequences"], `${p}.stopSequences`)
    if (stops.length > maxStops) {
      invalid(`${p}.stopSequences`, `Invalid '${p}.stopSequences': at most ${maxStops} sequences (some providers behind a chain take no more), but got ${stops.length}.`)
    }
    stop = stops.map((s, i) => string(s, `${p}.stopSequences[${i}]`))
  }
  const format = formatOf(g)
  const effort = present(g, "thinkingConfig") ? thinkingEffort(g["thinkingConfig"]) : undefined
  const generation: Generation = {
    ...(present(g, "temperature") ? { temperature: numberIn(g["temperature"], `${p}.temperature`, 0, 2) } : {}),
    ...(present(g, "topP") ? { topP: numberIn(g["topP"], `${p}.topP`, 0, 1) } : {}),
    ...(present(g, "maxOutputTokens") ? { maxTokens: integerIn(g["maxOutputTokens"], `${p}.maxOutputTokens`, 1, maxTokensLimit) } : {}),
    ...(stop !== undefined && stop.length > 0 ? { stop } : {}),
    ...(format !== undefined ? { responseFormat: format } : {}),
    ...(effort !== undefined ? { reasoningEffort: effort } : {})
  }
  // set on the config made, only when sent: no work for a request without them
  if (present(g, "topK")) {
    // checked as this route always has (a number, 0 or more); the neutral topK is a positive integer, so 0 or a
    // fraction, which Gemini itself would refuse, carries none
    const topK = numberIn(g["topK"], `${p}.topK`, 0, Number.MAX_SAFE_INTEGER)
    if (Number.isInteger(topK) && topK > 0) generation.topK = topK
  }
  if (present(g, "seed")) {
    const seed = seedOf(g["seed"], `${p}.seed`)
    if (seed !== undefined) generation.seed = seed
  }
  if (present(g, "presencePenalty")) generation.presencePenalty = numberIn(g["presencePenalty"], `${p}.presencePenalty`, -maxPenalty, maxPenalty)
  if (present(g, "frequencyPenalty")) generation.frequencyPenalty = numberIn(g["frequencyPenalty"], `${p}.frequencyPenalty`, -maxPenalty, maxPenalty)
  return generation
}

/** `safetySettings`: objects of a string `category` and `threshold` each, kept as sent (those two fields). */
const safetyOf = (u: unknown): ReadonlyArray<typeof SafetySetting.Type> =>
  array(u, "safetySettings").map((raw, i) => {
    const p = `safetySettings[${i}]`
    const setting = object(raw, p)
    return { category: requiredString(setting, "category", `${p}.category`), threshold: requiredString(setting, "threshold", `${p}.threshold`) }
  })

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

const decodeBody = (body: unknown, call: Call): Decoded => {
  const b = isObject(body) ? body : invalid(null, `Invalid request body: expected a JSON object, but got ${kind(body)} instead.`)
  if (call.model.length === 0) invalid("model", "Invalid 'model': expected a model or chain name in the URL ('models/{model}:generateContent').")
  if (call.alt !== null && call.alt !== "sse" && call.alt !== "json") {
    invalid("alt", `Unsupported value: 'alt' must be 'json' (the default) or 'sse', not '${printable(call.alt, 40)}'.`)
  }
  if (present(b, "cachedContent")) {
    invalid("cachedContent", "Unsupported parameter: 'cachedContent' is not supported (cached contents are stored on Google's servers; send the contents).")
  }
  if (!present(b, "contents")) missing("contents")
  const system = present(b, "systemInstruction") ? systemOf(b["systemInstruction"]) : []
  const turns = contentsOf(b["contents"])
  if (turns.length === 0) invalid("contents", "Invalid 'contents': expected at least one turn with a part other than thoughts.")
  const [first, ...rest]: Array<Message> = [...system, ...turns]
  if (first === undefined) return missing("contents")
  const declared = present(b, "tools") ? toolsOf(b["tools"]) : []
  const { choice, tools } = present(b, "toolConfig") ? toolConfig(b["toolConfig"], declared) : { tools: declared, choice: undefined }
  const generation = present(b, "generationConfig") ? generationConfig(b["generationConfig"]) : {}
  const safety = present(b, "safetySettings") ? safetyOf(b["safetySettings"]) : undefined
  const request: Mutable<ChatRequest> = {
    messages: [first, ...rest],
    ...generation,
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice !== undefined && tools.length > 0 ? { toolChoice: choice } : {})
  }
  if (safety !== undefined && safety.length > 0) request.providerOptions = { gemini: { safetySettings: safety } }
  return { model: call.model, request, stream: call.method === "streamGenerateContent", includeUsage: false }
}

/**
 * Decodes a parsed JSON body of `generateContent` or
 * `streamGenerateContent`, for the call its URL names; the left side says
 * which field is wrong.
 *
 * @internal
 */
export const decode = (body: unknown, call: Call): Either.Either<Decoded, InvalidField> => catching(() => decodeBody(body, call))

/**
 * Decodes a parsed JSON body of `countTokens`: `contents`, or a whole
 * request as `generateContentRequest` (Gemini's two forms).
 *
 * @internal
 */
export const decodeCount = (body: unknown, call: Call): Either.Either<Decoded, InvalidField> =>
  catching(() => {
    const b = isObject(body) ? body : invalid(null, `Invalid request body: expected a JSON object, but got ${kind(body)} instead.`)
    const inner = present(b, "generateContentRequest") ? object(b["generateContentRequest"], "generateContentRequest") : b
    return decodeBody(inner, { ...call, method: "generateContent" })
  })
