/**
 * Reads an Anthropic Messages API request body (`POST /v1/messages`) into
 * the neutral `ChatRequest`, with the chat decoder's field readers (see
 * `request.ts`): what is wrong, and which field, named in the message
 * (Anthropic's error JSON has no `param`; the gateway's log line keeps it).
 * Messages never quote a client's text back.
 *
 * `system` (a string or text blocks, joined by a blank line, as the
 * provider adapters join system messages) becomes a system message; each of
 * `messages` (content a string or blocks) a message: a `system` one
 * (Anthropic's mid-conversation system message, text only) a system
 * message in its place, which each provider's adapter sends as it can
 * (OpenAI's in place; Claude's and Gemini's join their system text); `text` and `image`
 * blocks (a `base64` source as a `data:` URL, its `media_type` an `image/`
 * one and its `data` base64, as `ImageUrls.base64Problem` takes it, or a `url` source) the user's
 * content; an assistant's `text` its content and its `tool_use` blocks its
 * tool calls (`input` as JSON text); a user's `tool_result` blocks a tool
 * message each, before the rest of that turn (a result's content a string
 * or text blocks; `is_error: true` its `isError`, which Claude gets back as
 * `is_error` and OpenAI as a text that starts `Error: `; its images, which a tool message
 * cannot carry, go in the user message that follows, with the rest of the
 * turn). `thinking` and `redacted_thinking`
 * blocks a client sends back in its history are left out, as the
 * Responses route leaves out `reasoning` items: no provider behind a chain
 * reads another's thinking, and the gateway never sends one.
 *
 * `max_tokens` is required, as Anthropic requires it (but by
 * `count_tokens`, which takes none: `decodeCount`). `stop_sequences`,
 * `temperature` (0 to 1, Anthropic's range), `top_p`, custom `tools` (with
 * `input_schema`), `tool_choice` (`auto`, `any`, `tool`, `none`; its
 * `disable_parallel_tool_use` the request's `parallelToolCalls: false`),
 * `metadata.user_id` (as the chat route's `user`: `metadata.user`),
 * `output_config.format` (a JSON schema: structured outputs; or
 * `output_format`, its deprecated beta name, not beside it) become the
 * request's fields. `thinking: { type: "enabled", budget_tokens }` and
 * `output_config.effort` become its `reasoningEffort` (a budget under 4,096
 * tokens `low`, under 16,384 `medium`, else `high`; `max` is `xhigh`).
 * `cache_control` on a block, a tool or the system text is its
 * `Chat.CacheBreakpoint`: blocks joined into one message (a tool result's,
 * an assistant turn's) carry their last one at its end, and each one in the
 * system text ends a system message of its own; on the request itself
 * (Anthropic's automatic caching), it marks the last message.
 * `top_k` (a positive integer; 0 is none) becomes the request's `topK`,
 * which goes to the providers that take it (Anthropic, Gemini) and not to
 * the others. The client's `anthropic-beta` header (see `betasOf`) becomes
 * the request's `providerOptions.anthropic.betas`, which the Anthropic
 * adapter sends after its configured ones and no other provider reads; no
 * other header of the client's goes upstream. Ignored: the other `thinking` types (the model's own
 * default), `service_tier`, `speed`, `inference_geo`, `diagnostics`,
 * `context_management` (Anthropic's trimming of an over-long history on
 * its side: the history goes whole) and unknown fields. Refused with the
 * field named: Anthropic's server tools (`web_search`, `bash`, `computer`,
 * `text_editor`, ...: any tool with a `type` other than `custom`),
 * `mcp_servers`, `container`, `document`, `search_result` and server tool
 * blocks, and an image by `file` id.
 *
 * @internal
 */
import type * as Either from "effect/Either"
import type { Mutable } from "effect/Types"
import * as Schema from "effect/Schema"
import type { CacheBreakpoint, ChatRequest, ContentPart, Message, ReasoningEffort, ResponseFormat, ToolCall, ToolDefinition } from "../../llm/Chat.js"
import { AnthropicBeta } from "../../llm/Chat.js"
import {
  array,
  boolean,
  cacheOf,
  catching,
  choiceOf,
  type Decoded as ChatDecoded,
  emptyParameters,
  integerIn,
  invalid,
  type InvalidField,
  isObject,
  type Json,
  kind,
  maxStops,
  maxTokensLimit,
  missing,
  numberIn,
  object,
  present,
  requiredString,
  string,
  uniqueNames,
  wrongType
} from "./request.js"
import { base64Problem, imageTypeProblem } from "./imageUrls.js"

/** A decoded Messages request: the chat route's, and the model name its answer repeats. @internal */
export interface Decoded extends ChatDecoded {}

// ---------------------------------------------------------------------------
// Content blocks
// ---------------------------------------------------------------------------

/** The block types Anthropic has that the gateway refuses, and why. */
const refusedBlocks: Readonly<Record<string, string>> = {
  document: "documents are not supported by this gateway; send their text",
  search_result: "search results are not supported by this gateway; send their text",
  server_tool_use: "server tools run on Anthropic's servers",
  web_search_tool_result: "server tools run on Anthropic's servers",
  web_fetch_tool_result: "server tools run on Anthropic's servers",
  code_execution_tool_result: "server tools run on Anthropic's servers",
  mcp_tool_use: "MCP servers are not supported by this gateway",
  mcp_tool_result: "MCP servers are not supported by this gateway",
  container_upload: "containers are not supported by this gateway"
}

/** Refuses a block of a type the gateway does not take, in a turn that takes `known`. */
const unknownBlock = (type: string, p: string, known: string): never => {
  const why = refusedBlocks[type]
  return why !== undefined
    ? invalid(`${p}.type`, `Unsupported value: '${p}.type' '${type}' is not supported (${why}).`)
    : invalid(`${p}.type`, `Invalid value for '${p}.type': supported content blocks here are ${known}.`)
}

/** A block's type, and the block. */
const block = (raw: unknown, p: string): { readonly type: string; readonly b: Json } => {
  const b = object(raw, p)
  return { type: requiredString(b, "type", `${p}.type`), b }
}

/** An `image` block: a `base64` source as a `data:` URL, or a `url` source. */
const image = (b: Json, p: string): ContentPart => {
  if (b["source"] === undefined) return missing(`${p}.source`)
  const source = object(b["source"], `${p}.source`)
  const type = requiredString(source, "type", `${p}.source.type`)
  switch (type) {
    case "base64": {
      const mediaType = requiredString(source, "media_type", `${p}.source.media_type`)
      const notImage = imageTypeProblem(mediaType)
      if (notImage !== undefined) return invalid(`${p}.source.media_type`, `Invalid '${p}.source.media_type': it ${notImage}.`)
      const data = requiredString(source, "data", `${p}.source.data`)
      const notBase64 = base64Problem(data, false)
      if (notBase64 !== undefined) return invalid(`${p}.source.data`, `Invalid '${p}.source.data': the image's base64 data ${notBase64}.`)
      return { type: "image", url: `data:${mediaType};base64,${data}`, mediaType, ...cacheOf(b, `${p}.cache_control`) }
    }
    case "url": {
      const url = requiredString(source, "url", `${p}.source.url`)
      return url.length === 0 ? invalid(`${p}.source.url`, `Invalid '${p}.source.url': empty URL.`) : { type: "image", url, ...cacheOf(b, `${p}.cache_control`) }
    }
    case "file":
      return invalid(`${p}.source.type`, `Unsupported value: '${p}.source.type' 'file' is not supported: this gateway stores no files; send the image as 'base64' or 'url'.`)
    default:
      return invalid(`${p}.source.type`, `Invalid value for '${p}.source.type': supported sources are 'base64' and 'url'.`)
  }
}

/** The last cache breakpoint of a turn's blocks, which the message joined from them carries at its end. */
type Marked = { readonly cache?: CacheBreakpoint }

/**
 * What joins system text blocks: a paragraph, as the provider adapters join
 * system messages (Claude's, Gemini's) and as Anthropic-to-OpenAI proxies
 * join Anthropic's blocks, so the model reads them apart (Claude Code's are
 * sentences with no space or newline at their ends).
 */
const systemSeparator = "\n\n"

/** System text: a string, or `text` blocks (joined by `systemSeparator`), with the last cache breakpoint among them. */
const textOf = (u: unknown, param: string, what: string, offset = 0): { readonly text: string } & Marked => {
  if (typeof u === "string") return { text: u }
  if (!Array.isArray(u)) return wrongType(param, "a string or an array of text blocks", u)
  const texts: Array<string> = []
  let marked: Marked = {}
  u.forEach((raw, i) => {
    const p = `${param}[${offset + i}]`
    const { b, type } = block(raw, p)
    if (type === "text") texts.push(requiredString(b, "text", `${p}.text`))
    else if (type === "image") invalid(`${p}.type`, `Unsupported value: '${p}.type' 'image' is not supported in ${what}: only 'text' blocks.`)
    else invalid(`${p}.type`, `Invalid value for '${p}.type': only 'text' blocks are supported in ${what}.`)
    marked = lastMark(marked, cacheOf(b, `${p}.cache_control`))
  })
  return { text: texts.join(systemSeparator), ...marked }
}

/**
 * System text as system messages: one, unless a block before the last is a
 * cache breakpoint, which ends a message of its own there (joined into one,
 * the text could hold its breakpoint only at its end, after the blocks that
 * follow it, which may change from request to request and so never be read
 * from the cache).
 */
const systemOf = (u: unknown, param: string, what: string): Array<Message> => {
  const message = ({ cache, text }: { readonly text: string } & Marked): Message => ({ role: "system", content: text, ...(cache === undefined ? {} : { cache }) })
  if (!Array.isArray(u) || u.length < 2) return [message(textOf(u, param, what))]
  const messages: Array<Message> = []
  let start = 0
  u.forEach((raw, i) => {
    if (i < u.length - 1 && !(isObject(raw) && present(raw, "cache_control"))) return
    messages.push(message(textOf(u.slice(start, i + 1), param, what, start)))
    start = i + 1
  })
  return messages
}

/** The later of two marks. */
const lastMark = (before: Marked, now: Marked): Marked => (now.cache !== undefined ? now : before)

/**
 * A `tool_result` block: a tool message (its text; an error's prefixed with
 * `Error: `), and the images it holds, which a tool message cannot carry.
 */
const toolResult = (b: Json, p: string): { readonly message: Message; readonly images: ReadonlyArray<ContentPart> } => {
  let text = ""
  const images: Array<ContentPart> = []
  const content = present(b, "content") ? b["content"] : ""
  if (typeof content === "string") text = content
  else {
    array(content, `${p}.content`).forEach((raw, i) => {
      const bp = `${p}.content[${i}]`
      const { b: part, type } = block(raw, bp)
      if (type === "text") text += requiredString(part, "text", `${bp}.text`)
      else if (type === "image") images.push(image(part, bp))
      else invalid(`${bp}.type`, `Invalid value for '${bp}.type': supported content blocks in a tool result are 'text' and 'image'.`)
    })
  }
  const failed = present(b, "is_error") && boolean(b["is_error"], `${p}.is_error`)
  const toolCallId = requiredString(b, "tool_use_id", `${p}.tool_use_id`)
  const message: Message = { role: "tool", toolCallId, content: text, ...(failed ? { isError: true } : {}), ...cacheOf(b, `${p}.cache_control`) }
  return { message, images }
}

/**
 * A user turn: its `tool_result` blocks a tool message each (Anthropic
 * puts them first in the turn), then its other blocks (`text`, `image`,
 * and the images of the tool results, in order) one user message: a
 * message between tool messages would part them from their call.
 */
const userTurn = (content: unknown, p: string): Array<Message> => {
  if (typeof content === "string") return [{ role: "user", content }]
  const blocks = array(content, p)
  if (blocks.length === 0) return invalid(p, `Invalid '${p}': expected a string or at least one content block.`)
  const messages: Array<Message> = []
  const parts: Array<ContentPart> = []
  blocks.forEach((raw, i) => {
    const bp = `${p}[${i}]`
    const { b, type } = block(raw, bp)
    switch (type) {
      case "text":
        parts.push({ type: "text", text: requiredString(b, "text", `${bp}.text`), ...cacheOf(b, `${bp}.cache_control`) })
        return
      case "image":
        parts.push(image(b, bp))
        return
      case "tool_result": {
        const { images, message } = toolResult(b, bp)
        messages.push(message)
        parts.push(...images)
        return
      }
      default:
        return unknownBlock(type, bp, "'text', 'image' and 'tool_result'")
    }
  })
  return parts.length > 0 ? [...messages, { role: "user", content: parts }] : messages
}

/** A `tool_use` block: a tool call, its `input` as JSON text. */
const toolUse = (b: Json, p: string): ToolCall => {
  const input = b["input"] === undefined ? missing(`${p}.input`) : object(b["input"], `${p}.input`)
  return { id: requiredString(b, "id", `${p}.id`), name: requiredString(b, "name", `${p}.name`), arguments: JSON.stringify(input) }
}

/** An assistant turn: its text blocks joined, its `tool_use` blocks its calls; none if it held only thinking. */
const assistantTurn = (content: unknown, p: string): Array<Message> => {
  if (typeof content === "string") return [{ role: "assistant", content }]
  let text: string | undefined
  let marked: Marked = {}
  const calls: Array<ToolCall> = []
  array(content, p).forEach((raw, i) => {
    const bp = `${p}[${i}]`
    const { b, type } = block(raw, bp)
    switch (type) {
      case "text":
        text = (text ?? "") + requiredString(b, "text", `${bp}.text`)
        marked = lastMark(marked, cacheOf(b, `${bp}.cache_control`))
        return
      case "tool_use":
        calls.push(toolUse(b, bp))
        marked = lastMark(marked, cacheOf(b, `${bp}.cache_control`))
        return
      case "thinking":
      case "redacted_thinking":
        // a model's earlier thinking, sent back: no provider behind a chain reads another's (see the module's docs)
        return
      default:
        return unknownBlock(type, bp, "'text', 'tool_use', 'thinking' and 'redacted_thinking'")
    }
  })
  if (text === undefined && calls.length === 0) return []
  return [{ role: "assistant", ...(text !== undefined ? { content: text } : {}), ...(calls.length > 0 ? { toolCalls: calls } : {}), ...marked }]
}

const messagesOf = (u: unknown): Array<Message> =>
  array(u, "messages").flatMap((raw, i) => {
    const p = `messages[${i}]`
    const m = object(raw, p)
    const role = requiredString(m, "role", `${p}.role`)
    if (m["content"] === undefined) return missing(`${p}.content`)
    switch (role) {
      case "user":
        return userTurn(m["content"], `${p}.content`)
      case "assistant":
        return assistantTurn(m["content"], `${p}.content`)
      case "system": {
        // Anthropic's mid-conversation system message: a system message in its place (see the module's docs)
        return systemOf(m["content"], `${p}.content`, "a system message")
      }
      default:
        return invalid(`${p}.role`, `Invalid value for '${p}.role': supported roles are 'user', 'assistant' and 'system'.`)
    }
  })

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

const tool = (raw: unknown, p: string): ToolDefinition => {
  const t = object(raw, p)
  if (present(t, "type") && t["type"] !== "custom") {
    invalid(
      `${p}.type`,
      `Unsupported value: '${p}.type': only custom tools (with 'input_schema') are supported by this gateway; server tools (web_search, web_fetch, code_execution, bash, computer, text_editor, memory, ...) run on Anthropic's servers or are Claude's own.`
    )
  }
  const description = present(t, "description") ? string(t["description"], `${p}.description`) : undefined
  if (t["input_schema"] === undefined) return missing(`${p}.input_schema`)
  const schema = object(t["input_schema"], `${p}.input_schema`)
  const strict = present(t, "strict") ? boolean(t["strict"], `${p}.strict`) : undefined
  return {
    name: requiredString(t, "name", `${p}.name`),
    ...(description !== undefined ? { description } : {}),
    parameters: Object.keys(schema).length === 0 ? emptyParameters : schema,
    ...(strict !== undefined ? { strict } : {}),
    ...cacheOf(t, `${p}.cache_control`)
  }
}

/** `tool_choice`: the neutral choice, and whether it asks for one call at most. */
const toolChoice = (u: unknown): { readonly choice: NonNullable<ChatRequest["toolChoice"]>; readonly single: boolean } => {
  const c = object(u, "tool_choice")
  const type = requiredString(c, "type", "tool_choice.type")
  const single = present(c, "disable_parallel_tool_use") && boolean(c["disable_parallel_tool_use"], "tool_choice.disable_parallel_tool_use")
  switch (type) {
    case "auto":
    case "none":
      return { choice: type, single }
    case "any":
      return { choice: "required", single }
    case "tool":
      return { choice: { name: requiredString(c, "name", "tool_choice.name") }, single }
    default:
      return invalid("tool_choice.type", "Invalid value for 'tool_choice.type': supported values are 'auto', 'any', 'tool' and 'none'.")
  }
}

// ---------------------------------------------------------------------------
// Reasoning and formats
// ---------------------------------------------------------------------------

/** The effort of a thinking budget (Anthropic's least is 1,024 tokens). @internal */
export const effortOfBudget = (budget: number): ReasoningEffort => (budget < 4_096 ? "low" : budget < 16_384 ? "medium" : "high")

const thinkingEffort = (u: unknown): ReasoningEffort | undefined => {
  const t = object(u, "thinking")
  const type = requiredString(t, "type", "thinking.type")
  switch (type) {
    case "enabled": {
      if (t["budget_tokens"] === undefined) return missing("thinking.budget_tokens")
      return effortOfBudget(integerIn(t["budget_tokens"], "thinking.budget_tokens", 1_024, maxTokensLimit))
    }
    case "disabled":
    case "adaptive":
    case "between_tools":
      return undefined
    default:
      return invalid("thinking.type", "Invalid value for 'thinking.type': supported values are 'enabled', 'disabled', 'adaptive' and 'between_tools'.")
  }
}

const outputEfforts: Readonly<Record<string, ReasoningEffort>> = { low: "low", medium: "medium", high: "high", xhigh: "xhigh", max: "xhigh" }

/** `output_config`: its effort and its JSON schema format (or `output_format`'s), if any. */
const outputConfig = (b: Json): { readonly effort?: ReasoningEffort; readonly format?: ResponseFormat } => {
  if (!present(b, "output_config")) {
    const format = legacyFormat(b)
    return format === undefined ? {} : { format }
  }
  const config = object(b["output_config"], "output_config")
  let effort: ReasoningEffort | undefined
  if (present(config, "effort")) {
    const asked = string(config["effort"], "output_config.effort")
    effort = outputEfforts[asked] ?? invalid("output_config.effort", "Invalid value for 'output_config.effort': supported values are 'low', 'medium', 'high', 'xhigh' and 'max'.")
  }
  const legacy = legacyFormat(b)
  const format = present(config, "format") ? formatOf(config["format"], "output_config.format") : legacy
  return { ...(effort !== undefined ? { effort } : {}), ...(format !== undefined ? { format } : {}) }
}

/** A JSON schema format, at `param`. */
const formatOf = (u: unknown, param: string): ResponseFormat => {
  const f = object(u, param)
  if (f["type"] !== "json_schema") invalid(`${param}.type`, `Invalid value for '${param}.type': the supported value is 'json_schema'.`)
  if (f["schema"] === undefined) missing(`${param}.schema`)
  return { type: "json_schema", name: "output", schema: object(f["schema"], `${param}.schema`) }
}

/**
 * `output_format`, structured outputs' beta name for `output_config.format`
 * (deprecated; Anthropic takes it still, and the SDK's 0.7x versions send
 * it): the same format, given once.
 */
const legacyFormat = (b: Json): ResponseFormat | undefined => {
  if (!present(b, "output_format")) return undefined
  if (isObject(b["output_config"]) && present(b["output_config"], "format")) {
    invalid("output_format", "Invalid 'output_format': it is the deprecated name of 'output_config.format'; give the format once, there.")
  }
  return formatOf(b["output_format"], "output_format")
}

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/** Refuses what needs Anthropic's own servers (see the module's docs). */
const unsupported = (b: Json): void => {
  const refused: ReadonlyArray<readonly [string, string]> = [
    ["mcp_servers", "MCP servers are not supported by this gateway"],
    ["container", "containers are not supported by this gateway"]
  ]
  for (const [key, why] of refused) if (present(b, key)) invalid(key, `Unsupported parameter: '${key}' is not supported (${why}).`)
}

const stopSequences = (u: unknown): ReadonlyArray<string> => {
  const stops = array(u, "stop_sequences")
  if (stops.length > maxStops) {
    invalid("stop_sequences", `Invalid 'stop_sequences': at most ${maxStops} sequences (some providers behind a chain take no more), but got ${stops.length}.`)
  }
  return stops.map((s, i) => string(s, `stop_sequences[${i}]`))
}

/** `metadata.user_id`, as the chat route keeps `user`: `metadata.user`. */
const userOf = (b: Json): Record<string, string> | undefined => {
  if (!present(b, "metadata")) return undefined
  const meta = object(b["metadata"], "metadata")
  return present(meta, "user_id") ? { user: string(meta["user_id"], "metadata.user_id") } : undefined
}

/**
 * Anthropic's automatic caching (`cache_control` on the request itself): a
 * breakpoint at the conversation's last block, as Anthropic places it,
 * unless that message already holds one.
 */
const withAutomaticCache = (turns: Array<Message>, automatic: Marked): Array<Message> => {
  const last = turns.at(-1)
  if (automatic.cache === undefined || last === undefined || last.cache !== undefined) return turns
  return [...turns.slice(0, -1), { ...last, cache: automatic.cache }]
}

const isBeta = Schema.is(AnthropicBeta)

/**
 * The betas of a client's `anthropic-beta` header (comma-separated; a header
 * sent more than once arrives joined by commas), each once, in order; none
 * for an absent or empty one. A name that is not a plain token (letters,
 * digits, `-`, `_`, `.`) is refused, naming the header and never quoting
 * it: nothing of it could reach another header upstream. An OAuth beta
 * (`oauth-...`, which Claude Code sends when signed in with a subscription)
 * is left out: it is about the client's own credential, which the gateway
 * does not pass on, calling Claude with its own key.
 *
 * @internal
 */
export const betasOf = (header: string | undefined): ReadonlyArray<string> | undefined => {
  if (header === undefined) return undefined
  const names = new Set<string>()
  for (const part of header.split(",")) {
    const name = part.trim()
    if (name.length === 0) continue
    if (!isBeta(name)) {
      invalid("anthropic-beta", "Invalid 'anthropic-beta' header: expected comma-separated beta names of letters, digits, '-', '_' and '.'.")
    }
    if (!name.toLowerCase().startsWith("oauth-")) names.add(name)
  }
  return names.size > 0 ? [...names] : undefined
}

/** `counting`: the body of `count_tokens`, which takes no `max_tokens`; `beta`: the client's `anthropic-beta` header. */
const decodeBody = (body: unknown, counting: boolean, beta?: string): Decoded => {
  const b = isObject(body) ? body : invalid(null, `Invalid request body: expected a JSON object, but got ${kind(body)} instead.`)
  const model = requiredString(b, "model", "model")
  if (model.length === 0) invalid("model", "Invalid 'model': expected a model or chain name.")
  if (!counting && !present(b, "max_tokens")) missing("max_tokens")
  const maxTokens = present(b, "max_tokens") ? integerIn(b["max_tokens"], "max_tokens", 1, maxTokensLimit) : undefined
  if (b["messages"] === undefined) missing("messages")
  unsupported(b)
  const system = present(b, "system") ? systemOf(b["system"], "system", "'system'") : []
  const turns = withAutomaticCache(messagesOf(b["messages"]), cacheOf(b, "cache_control"))
  if (turns.length === 0) invalid("messages", "Invalid 'messages': expected at least one message (with content other than thinking).")
  const [first, ...rest]: Array<Message> = [...system, ...turns]
  if (first === undefined) return missing("messages")
  const tools = present(b, "tools") ? array(b["tools"], "tools").map((raw, i) => tool(raw, `tools[${i}]`)) : []
  uniqueNames(tools.map((t, i) => [t.name, `tools[${i}]`]))
  const asked = present(b, "tool_choice") ? toolChoice(b["tool_choice"]) : undefined
  const choice = asked === undefined ? undefined : choiceOf(asked.choice, tools, "tool_choice.name")
  const output = outputConfig(b)
  const effort = present(b, "thinking") ? thinkingEffort(b["thinking"]) ?? output.effort : output.effort
  const meta = userOf(b)
  const request: Mutable<ChatRequest> = {
    messages: [first, ...rest],
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(present(b, "temperature") ? { temperature: numberIn(b["temperature"], "temperature", 0, 1) } : {}),
    ...(present(b, "top_p") ? { topP: numberIn(b["top_p"], "top_p", 0, 1) } : {}),
    ...(present(b, "stop_sequences") ? { stop: stopSequences(b["stop_sequences"]) } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice !== undefined ? { toolChoice: choice } : {}),
    ...(asked?.single === true && tools.length > 0 ? { parallelToolCalls: false } : {}),
    ...(output.format !== undefined ? { responseFormat: output.format } : {}),
    ...(effort !== undefined ? { reasoningEffort: effort } : {}),
    ...(meta !== undefined ? { metadata: meta } : {})
  }
  if (present(b, "top_k")) {
    // the neutral topK is positive: a 0, which this route has always taken, carries none
    const topK = integerIn(b["top_k"], "top_k", 0, Number.MAX_SAFE_INTEGER)
    if (topK > 0) request.topK = topK
  }
  const betas = betasOf(beta)
  if (betas !== undefined) request.providerOptions = { anthropic: { betas } }
  const stream = present(b, "stream") ? boolean(b["stream"], "stream") : false
  return { model, request, stream, includeUsage: false }
}

/**
 * Decodes a parsed JSON body of `POST /v1/messages`, with the client's
 * `anthropic-beta` header, if any; the left side says which field is wrong.
 *
 * @internal
 */
export const decode = (body: unknown, beta?: string): Either.Either<Decoded, InvalidField> =>
  catching(() => decodeBody(body, false, beta))

/**
 * Decodes a parsed JSON body of `POST /v1/messages/count_tokens`: a
 * request's, but for `max_tokens`, which it does not take.
 *
 * @internal
 */
export const decodeCount = (body: unknown): Either.Either<Decoded, InvalidField> => catching(() => decodeBody(body, true))
