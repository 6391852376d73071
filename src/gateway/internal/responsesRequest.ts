/**
 * Reads an OpenAI Responses API request body (`POST /v1/responses`) into
 * the neutral `ChatRequest`, with the chat decoder's field readers (see
 * `request.ts`) and OpenAI's wording for what is wrong and which field
 * (`param`) it is. Messages never quote a client's text back.
 *
 * The gateway is stateless: it answers each request from what the request
 * itself holds. `input` (a string, or messages, `function_call` and
 * `function_call_output` items) becomes the messages, after
 * `instructions` as a system message; `max_output_tokens`, `temperature`,
 * `top_p`, function `tools`, `tool_choice`, `parallel_tool_calls`,
 * `text.format`, `reasoning.effort`, `metadata` and `user` become the
 * request's fields as the chat route's do (a function tool's `strict` as
 * sent; `null` or absent, the provider's own default, which for OpenAI's
 * Chat Completions is not strict). Refused with the field named:
 * what needs a stored state (`previous_response_id`, `conversation`,
 * `prompt`, `background: true`, `item_reference` input items), built-in
 * tools (`web_search`, `file_search`, `computer_use`, ...
 * and a `tool_choice` of one), files (`input_file`, an image by `file_id`),
 * and log probabilities (`top_logprobs`, or `message.output_text.logprobs`
 * among `include`). Ignored: `store` (nothing is
 * stored: the answer says `store: false`), the rest of `include` (each a
 * string), `truncation`,
 * `text.verbosity`, `reasoning.summary`, `service_tier`, `stream_options`
 * and unknown fields; and `reasoning` input items (a reasoning model's
 * earlier output a client sends back, as OpenAI asks of one that keeps its
 * own history: no provider behind a chain could read it). The Responses
 * API has no `seed`, penalties or `top_k`: such a field is an unknown one.
 *
 * @internal
 */
import type * as Either from "effect/Either"
import type { ChatRequest, ContentPart, Message, ResponseFormat, ToolCall, ToolDefinition } from "../../llm/Chat.js"
import { signatureOf } from "../../llm/internal/extraContent.js"
import {
  array,
  boolean,
  catching,
  choiceOf,
  type Decoded as ChatDecoded,
  functionTool,
  imageDataUrl,
  integerIn,
  invalid,
  type InvalidField,
  isObject,
  type Json,
  jsonSchemaFormat,
  kind,
  maxTokensLimit,
  metadata,
  missing,
  numberIn,
  object,
  present,
  reasoningEffort,
  requiredString,
  string,
  uniqueNames,
  userContentOf,
  wrongType
} from "./request.js"

/**
 * What the `response` object of an answer repeats of its request, as
 * OpenAI's does (in OpenAI's field names).
 *
 * @internal
 */
export interface Echo {
  readonly instructions: string | null
  readonly max_output_tokens: number | null
  readonly metadata: Readonly<Record<string, string>>
  readonly parallel_tool_calls: boolean
  readonly reasoning: { readonly effort: string | null; readonly summary: null }
  readonly temperature: number | null
  readonly text: { readonly format: Readonly<Record<string, unknown>> }
  readonly tool_choice: unknown
  readonly tools: ReadonlyArray<unknown>
  readonly top_p: number | null
  readonly user?: string
}

/** A decoded Responses request: the chat route's, and what its answer echoes. @internal */
export interface Decoded extends ChatDecoded {
  readonly echo: Echo
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/** Text parts (`input_text`, and `output_text` or `refusal` in an assistant's turn), joined. */
const textParts = (u: unknown, param: string, assistant: boolean): string => {
  if (typeof u === "string") return u
  if (!Array.isArray(u)) return wrongType(param, "a string or an array of content parts", u)
  let text = ""
  u.forEach((raw, i) => {
    const p = `${param}[${i}]`
    const part = object(raw, p)
    const type = requiredString(part, "type", `${p}.type`)
    if (type === "input_text" || (assistant && type === "output_text")) text += requiredString(part, "text", `${p}.text`)
    else if (assistant && type === "refusal") text += requiredString(part, "refusal", `${p}.refusal`)
    else {
      invalid(
        `${p}.type`,
        assistant
          ? `Invalid value for '${p}.type': an assistant message's parts may be 'output_text', 'input_text' or 'refusal'.`
          : `Invalid value for '${p}.type': only 'input_text' parts are supported here.`
      )
    }
  })
  return text
}

const imagePart = (part: Json, p: string): ContentPart => {
  if (present(part, "file_id")) {
    invalid(`${p}.file_id`, `Unsupported parameter: '${p}.file_id': this gateway stores no files; send the image as 'image_url' (an https: or data: URL).`)
  }
  const url = requiredString(part, "image_url", `${p}.image_url`)
  if (url.length === 0) return invalid(`${p}.image_url`, `Invalid '${p}.image_url': empty URL.`)
  imageDataUrl(url, `${p}.image_url`)
  const mediaType = /^data:([\w.+-]+\/[\w.+-]+)[;,]/.exec(url)?.[1]
  const detail = present(part, "detail") ? string(part["detail"], `${p}.detail`) : undefined
  if (detail !== undefined && !["auto", "low", "high", "original"].includes(detail)) {
    invalid(`${p}.detail`, `Invalid value for '${p}.detail': supported values are 'auto', 'low', 'high' and 'original'.`)
  }
  return {
    type: "image",
    url,
    ...(mediaType === undefined ? {} : { mediaType }),
    // "original" (full resolution) has no word in the other providers: their default
    ...(detail === "auto" || detail === "low" || detail === "high" ? { detail } : {})
  }
}

const userContent = userContentOf({ text: "input_text", image: "input_image" }, imagePart, {
  type: "input_file",
  why: "it stores no files"
})

const message = (m: Json, p: string): Message => {
  if (m["role"] === undefined) return missing(`${p}.role`)
  const role = string(m["role"], `${p}.role`)
  if (m["content"] === undefined) return missing(`${p}.content`)
  const content = m["content"]
  switch (role) {
    case "system":
    case "developer":
      return { role: "system", content: textParts(content, `${p}.content`, false) }
    case "user":
      return { role: "user", content: userContent(content, `${p}.content`) }
    case "assistant":
      return { role: "assistant", content: textParts(content, `${p}.content`, true) }
    default:
      return invalid(`${p}.role`, `Invalid value for '${p}.role': supported roles are 'user', 'assistant', 'system' and 'developer'.`)
  }
}

const functionCall = (item: Json, p: string): ToolCall => {
  // Gemini's thought signature, as the gateway sent it on the item
  const signature = signatureOf(item["extra_content"])
  return {
    id: requiredString(item, "call_id", `${p}.call_id`),
    name: requiredString(item, "name", `${p}.name`),
    arguments: requiredString(item, "arguments", `${p}.arguments`),
    ...(signature !== undefined ? { signature } : {})
  }
}

const functionOutput = (item: Json, p: string): Message => {
  if (item["output"] === undefined) return missing(`${p}.output`)
  return {
    role: "tool",
    toolCallId: requiredString(item, "call_id", `${p}.call_id`),
    content: textParts(item["output"], `${p}.output`, false)
  }
}

/**
 * The messages of `input`: each message item one message; a run of
 * `function_call` items one assistant turn with those calls (after its
 * text, if an assistant message came just before), as chat models take
 * them; each `function_call_output` a tool message.
 */
const inputMessages = (u: unknown): Array<Message> => {
  if (typeof u === "string") return [{ role: "user", content: u }]
  const messages: Array<Message> = []
  array(u, "input").forEach((raw, i) => {
    const p = `input[${i}]`
    const item = object(raw, p)
    const type = present(item, "type") ? string(item["type"], `${p}.type`) : "message"
    switch (type) {
      case "message":
        messages.push(message(item, p))
        return
      case "function_call": {
        const call = functionCall(item, p)
        const last = messages.at(-1)
        if (last?.role === "assistant") messages[messages.length - 1] = { ...last, toolCalls: [...(last.toolCalls ?? []), call] }
        else messages.push({ role: "assistant", toolCalls: [call] })
        return
      }
      case "function_call_output":
        messages.push(functionOutput(item, p))
        return
      case "reasoning":
        // a reasoning model's earlier output, sent back as OpenAI asks of a client that keeps its own
        // history (`store: false`): no provider behind a chain reads another's reasoning, and OpenAI's
        // own drops what no longer applies, so it is left out, as the gateway never sends one
        return
      case "item_reference":
        return invalid(
          `${p}.type`,
          `Unsupported value: '${p}.type' 'item_reference' is not supported by this stateless gateway (it keeps no items); send the items themselves.`
        )
      default:
        return invalid(
          `${p}.type`,
          `Invalid value for '${p}.type': supported input items are 'message', 'function_call' and 'function_call_output'.`
        )
    }
  })
  return messages
}

// ---------------------------------------------------------------------------
// Tools and formats
// ---------------------------------------------------------------------------

const tool = (raw: unknown, p: string): { readonly definition: ToolDefinition; readonly echo: unknown } => {
  const t = object(raw, p)
  const type = requiredString(t, "type", `${p}.type`)
  if (type !== "function") {
    invalid(
      `${p}.type`,
      `Unsupported value: '${p}.type': only 'function' tools are supported by this gateway; built-in tools (web_search, file_search, computer_use, code_interpreter, ...) run on OpenAI's servers.`
    )
  }
  const definition = functionTool(t, p)
  return {
    definition,
    echo: {
      type: "function",
      name: definition.name,
      description: definition.description ?? null,
      parameters: present(t, "parameters") ? definition.parameters : null,
      strict: definition.strict ?? null
    }
  }
}

const toolChoice = (u: unknown): NonNullable<ChatRequest["toolChoice"]> => {
  if (u === "auto" || u === "none" || u === "required") return u
  if (typeof u === "string") return invalid("tool_choice", "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.")
  const choice = object(u, "tool_choice")
  if (choice["type"] !== "function") {
    invalid("tool_choice.type", "Unsupported value: 'tool_choice.type': only 'function' is supported by this gateway (no built-in tools, no allowed_tools).")
  }
  return { name: requiredString(choice, "name", "tool_choice.name") }
}

/** `text.format`: absent for `text`, else the response format, and its echo. */
const textFormat = (body: Json): { readonly format: ResponseFormat | undefined; readonly echo: Readonly<Record<string, unknown>> } => {
  const plain = { format: undefined, echo: { type: "text" } }
  if (!present(body, "text")) return plain
  const text = object(body["text"], "text")
  if (!present(text, "format")) return plain
  const format = object(text["format"], "text.format")
  const type = requiredString(format, "type", "text.format.type")
  switch (type) {
    case "text":
      return plain
    case "json_object":
      return { format: { type }, echo: { type } }
    case "json_schema": {
      const decoded = jsonSchemaFormat(format, "text.format")
      return decoded.type === "json_schema"
        ? {
          format: decoded,
          echo: {
            type,
            name: decoded.name,
            schema: decoded.schema,
            strict: decoded.strict ?? null,
            ...(decoded.description !== undefined ? { description: decoded.description } : {})
          }
        }
        : { format: decoded, echo: decoded }
    }
    default:
      return invalid("text.format.type", "Invalid value for 'text.format.type': supported values are 'text', 'json_object' and 'json_schema'.")
  }
}

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/** Refuses what a stateless gateway cannot honour (see the module's docs). */
const unsupported = (b: Json): void => {
  const stateful: ReadonlyArray<readonly [string, string]> = [
    ["previous_response_id", "no response is stored, so none can be continued; send the whole conversation in 'input'"],
    ["conversation", "no conversation is stored; send the whole conversation in 'input'"],
    ["prompt", "no prompt templates are stored; send the instructions and input themselves"]
  ]
  for (const [key, why] of stateful) {
    if (present(b, key)) invalid(key, `Unsupported parameter: '${key}' is not supported by this stateless gateway: ${why}.`)
  }
  if (present(b, "background") && boolean(b["background"], "background")) {
    invalid("background", "Unsupported parameter: 'background' is not supported by this stateless gateway (no response is stored to poll); leave it out or set it to false.")
  }
  if (present(b, "top_logprobs")) {
    invalid("top_logprobs", "Unsupported parameter: 'top_logprobs' is not supported by this gateway (no log probabilities come back).")
  }
  if (present(b, "include")) {
    array(b["include"], "include").forEach((value, i) => {
      if (string(value, `include[${i}]`) === "message.output_text.logprobs") {
        invalid(`include[${i}]`, `Unsupported value: 'include[${i}]' 'message.output_text.logprobs' is not supported by this gateway (no log probabilities come back).`)
      }
    })
  }
}

const decodeBody = (body: unknown): Decoded => {
  const b = isObject(body) ? body : invalid(null, `Invalid request body: expected a JSON object, but got ${kind(body)} instead.`)
  const model = requiredString(b, "model", "model")
  if (model.length === 0) invalid("model", "Invalid 'model': expected a model or chain name.")
  unsupported(b)
  const instructions = present(b, "instructions") ? string(b["instructions"], "instructions") : undefined
  // OpenAI's own `input` may be left out for a stored prompt's: none here
  if (!present(b, "input")) missing("input")
  const input = inputMessages(b["input"])
  const [first, ...rest]: Array<Message> = instructions === undefined ? input : [{ role: "system", content: instructions }, ...input]
  if (input.length === 0) invalid("input", "Invalid 'input': expected at least one input item.")
  if (first === undefined) return missing("input")
  const tokens = present(b, "max_output_tokens") ? integerIn(b["max_output_tokens"], "max_output_tokens", 1, maxTokensLimit) : undefined
  const temperature = present(b, "temperature") ? numberIn(b["temperature"], "temperature", 0, 2) : undefined
  const topP = present(b, "top_p") ? numberIn(b["top_p"], "top_p", 0, 1) : undefined
  const tools = present(b, "tools") ? array(b["tools"], "tools").map((raw, i) => tool(raw, `tools[${i}]`)) : []
  const definitions = tools.map((t) => t.definition)
  uniqueNames(definitions.map((t, i) => [t.name, `tools[${i}]`]))
  const asked = present(b, "tool_choice") ? toolChoice(b["tool_choice"]) : "auto"
  const choice = present(b, "tool_choice") ? choiceOf(asked, definitions, "tool_choice.name") : undefined
  const parallel = present(b, "parallel_tool_calls") ? boolean(b["parallel_tool_calls"], "parallel_tool_calls") : undefined
  const { echo: formatEcho, format } = textFormat(b)
  let effort: ChatRequest["reasoningEffort"]
  if (present(b, "reasoning")) {
    const reasoning = object(b["reasoning"], "reasoning")
    if (present(reasoning, "effort")) effort = reasoningEffort(reasoning["effort"], "reasoning.effort")
  }
  const meta = metadata(b)
  const request: ChatRequest = {
    messages: [first, ...rest],
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(tokens !== undefined ? { maxTokens: tokens } : {}),
    ...(definitions.length > 0 ? { tools: definitions } : {}),
    ...(choice !== undefined ? { toolChoice: choice } : {}),
    ...(parallel !== undefined ? { parallelToolCalls: parallel } : {}),
    ...(format !== undefined ? { responseFormat: format } : {}),
    ...(effort !== undefined ? { reasoningEffort: effort } : {}),
    ...(meta !== undefined ? { metadata: meta } : {})
  }
  const user = present(b, "user") ? string(b["user"], "user") : undefined
  const echo: Echo = {
    instructions: instructions ?? null,
    max_output_tokens: tokens ?? null,
    // checked by `metadata`: an object of strings
    metadata: present(b, "metadata") ? { ...(b["metadata"] as Record<string, string>) } : {},
    parallel_tool_calls: parallel ?? true,
    reasoning: { effort: effort ?? null, summary: null },
    temperature: temperature ?? null,
    text: { format: formatEcho },
    tool_choice: typeof asked === "string" ? asked : { type: "function", name: asked.name },
    tools: tools.map((t) => t.echo),
    top_p: topP ?? null,
    ...(user !== undefined ? { user } : {})
  }
  const stream = present(b, "stream") ? boolean(b["stream"], "stream") : false
  return { model, request, stream, includeUsage: false, echo }
}

/**
 * Decodes a parsed JSON body of `POST /v1/responses`; the left side says
 * which field is wrong.
 *
 * @internal
 */
export const decode = (body: unknown): Either.Either<Decoded, InvalidField> => catching(() => decodeBody(body))

/**
 * Decodes a parsed JSON body of `POST /v1/responses/input_tokens`: the
 * body `POST /v1/responses` takes (`model` and `input` required here too:
 * the gateway keeps no conversation or earlier response to count), whose
 * prompt is counted; what shapes only the answer is read as there and
 * counts nothing.
 *
 * @internal
 */
export const decodeCount = decode
