/**
 * The Anthropic Messages wire format: request encoding (system lifted out of
 * the messages, `max_tokens` always sent, tool results as user
 * `tool_result` blocks), the message schema, and the SSE event decoder.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { CacheBreakpoint, ChatChunk, ChatRequest, ChatResponse, ContentPart, FinishReason, Message, Usage } from "../../llm/Chat.js"
import { AnthropicBeta } from "../../llm/Chat.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import * as Http from "./http.js"
import { imageData } from "./images.js"
import type { HeaderValue } from "./options.js"
import { toolChoiceOf } from "./toolChoice.js"
import { answeredCalls } from "./toolPairs.js"
import { cacheCounts, count } from "./usage.js"

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

type Block = Record<string, unknown>
type WireMessage = { role: "user" | "assistant"; content: Array<Block> }

const imageBlock = (url: string): Block => {
  const image = imageData(url)
  return image === undefined
    ? { type: "image", source: { type: "url", url } }
    : { type: "image", source: { type: "base64", media_type: image.mediaType, data: image.data } }
}

/**
 * Whether a text has anything but whitespace. Claude refuses a text block
 * without (a 400, "text content blocks must be non-empty" or "must contain
 * non-whitespace text") where OpenAI takes it, and a 400 ends the chain: such
 * a block says nothing, so it is not sent.
 *
 * @internal
 */
export const hasText = (text: string): boolean => /\S/.test(text)

/** Claude's `cache_control` for a breakpoint: its default life (5 minutes) goes without a `ttl`. */
const cacheControl = (cache: CacheBreakpoint): Block =>
  cache === "1h" ? { type: "ephemeral", ttl: "1h" } : { type: "ephemeral" }

/** The block, marked as a cache breakpoint when `cache` is set. */
const cached = (block: Block, cache: CacheBreakpoint | undefined): Block =>
  cache === undefined ? block : { ...block, cache_control: cacheControl(cache) }

/** The blocks, their last marked as a cache breakpoint when `cache` is set (a message's breakpoint). */
const cachedLast = (blocks: Array<Block>, cache: CacheBreakpoint | undefined): Array<Block> => {
  const last = blocks.length - 1
  if (cache !== undefined && last >= 0) blocks[last] = cached(blocks[last]!, cache)
  return blocks
}

/** The longer-lived of two breakpoints (either may be absent). */
const longer = (a: CacheBreakpoint | undefined, b: CacheBreakpoint | undefined): CacheBreakpoint | undefined =>
  a === "1h" || b === "1h" ? "1h" : (a ?? b)

/**
 * A breakpoint whose block is not sent (text of whitespace alone, see
 * `hasText`) put on `target`, the block sent just before it: the prefix it
 * marks is the same, less the whitespace. A target already marked keeps the
 * longer life of the two. Without a target (nothing is sent before it) the
 * breakpoint is returned, for the caller to place further back.
 */
const carryMark = (target: Block | undefined, cache: CacheBreakpoint | undefined): CacheBreakpoint | undefined => {
  if (cache === undefined || target === undefined) return cache
  const had = target.cache_control as Block | undefined
  if (had === undefined || (had["ttl"] === undefined && cache === "1h")) target.cache_control = cacheControl(cache)
  return undefined
}

/** A turn's blocks, and the breakpoint of a block not sent that no block before it in the turn could take. */
type Blocks = { readonly blocks: Array<Block>; readonly orphan: CacheBreakpoint | undefined }

const userBlocks = (content: string | ReadonlyArray<ContentPart>, cache: CacheBreakpoint | undefined): Blocks => {
  if (typeof content === "string") {
    return hasText(content) ? { blocks: [cached({ type: "text", text: content }, cache)], orphan: undefined } : { blocks: [], orphan: cache }
  }
  const blocks: Array<Block> = []
  let orphan: CacheBreakpoint | undefined
  for (const part of content) {
    if (part.type !== "text") blocks.push(cached(imageBlock(part.url), part.cache))
    else if (hasText(part.text)) blocks.push(cached({ type: "text", text: part.text }, part.cache))
    else orphan = longer(orphan, carryMark(blocks.at(-1), part.cache))
  }
  // the message's own breakpoint marks its last block, or, none sent, goes before it
  return blocks.length > 0 ? { blocks: cachedLast(blocks, cache), orphan } : { blocks, orphan: longer(orphan, cache) }
}

/**
 * A tool call's JSON arguments as the object Anthropic and Gemini want; text
 * that is not a JSON object becomes `{}`.
 *
 * @internal
 */
export const argumentsObject = (text: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** A character Claude refuses in a tool-use id, which must match `^[a-zA-Z0-9_-]+$`. */
const notIdChar = /[^a-zA-Z0-9_-]/g

/** The ids a conversation's tool calls (by message, then call) and results (by message) go to Claude with. */
interface ToolIds {
  readonly calls: ReadonlyArray<ReadonlyArray<string> | undefined>
  readonly results: ReadonlyArray<string | undefined>
}

/**
 * The ids a conversation's tool calls and results go to Claude with. Claude
 * refuses, with a 400 that would end the chain, an id of other characters
 * than letters, digits, `_` and `-` (Kimi's `functions.get_weather:0`), an
 * empty one (a server that streamed its calls without ids), and one given
 * to two calls of a conversation ("`tool_use` ids must be unique": Grok
 * numbers its calls from `call_0` in every answer), which OpenAI all takes.
 * Such an id goes with its other characters as `_` (`call` for none), and
 * `_2`, `_3`, ... after it when given before; each result goes with the id
 * of the call it answers (see `answeredCalls`). An id Claude takes, given
 * once, goes as it is. `undefined` when no message has a call or a result.
 */
const claudeToolIds = (messages: ReadonlyArray<Message>): ToolIds | undefined => {
  if (!messages.some((message) => message.role === "tool" || (message.role === "assistant" && (message.toolCalls?.length ?? 0) > 0))) {
    return undefined
  }
  const clean = (id: string): string => id.replace(notIdChar, "_") || "call"
  const takes = (id: string): boolean => id !== "" && clean(id) === id
  // the ids Claude takes are kept for their calls: a cleaned one goes around them
  const kept = new Set<string>()
  for (const message of messages) {
    if (message.role === "assistant") for (const call of message.toolCalls ?? []) if (takes(call.id)) kept.add(call.id)
  }
  const given = new Set<string>()
  const calls: Array<ReadonlyArray<string> | undefined> = []
  messages.forEach((message, turn) => {
    if (message.role !== "assistant" || message.toolCalls === undefined) return
    calls[turn] = message.toolCalls.map((call) => {
      let id = call.id
      if (!takes(id) || given.has(id)) {
        const base = clean(id)
        id = base
        for (let n = 2; given.has(id) || kept.has(id); n++) id = `${base}_${n}`
      }
      given.add(id)
      return id
    })
  })
  const answers = answeredCalls(messages)
  const results = messages.map((message, turn) => {
    if (message.role !== "tool") return undefined
    const at = answers?.[turn]
    return (at === undefined ? undefined : calls[at.turn]?.[at.index]) ?? clean(message.toolCallId)
  })
  return { calls, results }
}

/** The tools a conversation's calls name, each once, in their order, as tools of any input. */
const calledTools = (messages: ReadonlyArray<Message>): Array<Block> => {
  const names = new Set<string>()
  for (const message of messages) {
    if (message.role === "assistant") for (const call of message.toolCalls ?? []) names.add(call.name)
  }
  return [...names].map((name) => ({ name, input_schema: { type: "object" } }))
}

/**
 * A message as Claude's turn, and the breakpoint of what it does not send that goes before it (see `carryMark`);
 * its tool calls with `callIds`, a result with `resultId` (see `claudeToolIds`).
 */
const toWire = (
  message: Exclude<Message, { role: "system" }>,
  callIds: ReadonlyArray<string> | undefined,
  resultId: string | undefined
): { readonly turn: WireMessage; readonly orphan: CacheBreakpoint | undefined } => {
  switch (message.role) {
    case "user": {
      const { blocks, orphan } = userBlocks(message.content, message.cache)
      return { turn: { role: "user", content: blocks }, orphan }
    }
    case "assistant": {
      const blocks: Array<Block> = message.content && hasText(message.content) ? [{ type: "text", text: message.content }] : []
      for (const [i, call] of (message.toolCalls ?? []).entries()) {
        blocks.push({ type: "tool_use", id: callIds?.[i] ?? call.id, name: call.name, input: argumentsObject(call.arguments) })
      }
      return { turn: { role: "assistant", content: cachedLast(blocks, message.cache) }, orphan: blocks.length > 0 ? undefined : message.cache }
    }
    case "tool":
      // a result's content is optional: an empty one goes without it, not as an empty text
      return {
        turn: {
          role: "user",
          content: [
            cached(
              {
                type: "tool_result",
                tool_use_id: resultId ?? message.toolCallId,
                ...(hasText(message.content) ? { content: message.content } : {}),
                ...(message.isError === true ? { is_error: true } : {})
              },
              message.cache
            )
          ]
        },
        orphan: undefined
      }
  }
}

/** Joins consecutive turns of one role (tool results follow a user turn), drops empty ones. */
const mergeTurns = (messages: ReadonlyArray<WireMessage>): Array<WireMessage> => {
  const merged: Array<WireMessage> = []
  for (const message of messages) {
    if (message.content.length === 0) continue
    const last = merged[merged.length - 1]
    if (last !== undefined && last.role === message.role) last.content.push(...message.content)
    else merged.push({ role: message.role, content: [...message.content] })
  }
  return merged
}

/**
 * The user turn put before a conversation that opens on the assistant's
 * (a greeting a chat UI seeds, a history window that starts on a tool call,
 * which OpenAI takes): Claude refuses one with a 400, "first message must use
 * the "user" role", and Gemini one that opens on a function call. It is also
 * the one turn of a conversation with no text at all (a blank message), which
 * both refuse as no turn. It says nothing of its own.
 *
 * @internal
 */
export const openingTurn = "(The conversation starts.)"

/**
 * The user turn put after a conversation that ends on the assistant's turn,
 * for a Claude that takes no prefill (see `refusesPrefill`): OpenAI answers
 * such a conversation with the assistant's next message. It says nothing of
 * its own.
 *
 * @internal
 */
export const continueTurn = "(Continue.)"

/**
 * Whether a Claude model refuses a conversation that ends on the
 * assistant's turn: Opus and Sonnet 4.6 and later ("This model does not
 * support assistant message prefill"), by their ids, also behind a prefix
 * (Bedrock's `anthropic.`, a proxy's `anthropic/`).
 */
const refusesPrefill = (model: string): boolean =>
  // a version's numbers are one digit or two: `claude-opus-4-20250514` is Opus 4 of that date
  /(?:^|[./])claude-(?:opus|sonnet|haiku)-(?:4-(?:[6-9]|[1-9]\d)|[5-9]|[1-9]\d)(?:[-.@:]|$)/.test(model)

/** A turn of one text block is sent as a plain string (unless the block is a cache breakpoint). */
const compact = (message: WireMessage): Record<string, unknown> => {
  const only = message.content.length === 1 ? message.content[0] : undefined
  return only !== undefined && only.type === "text" && only.cache_control === undefined ? { role: message.role, content: only.text } : message
}

/** The most cache breakpoints Claude takes in a request (more is a 400). */
export const maxCacheBreakpoints = 4

/**
 * Makes a request's cache breakpoints ones Claude takes, since a hint must
 * not fail a request that other providers serve: at most
 * `maxCacheBreakpoints` (the last ones, which cover the longest prefixes),
 * and no `"1h"` after a `"5m"` in the prompt's order (tools, system,
 * messages; a 400 otherwise), such a one sent as `"5m"`.
 */
const fitCacheBreakpoints = (blocks: ReadonlyArray<Block>): void => {
  const marked = blocks.filter((block) => block.cache_control !== undefined)
  for (const block of marked.slice(0, Math.max(0, marked.length - maxCacheBreakpoints))) delete block.cache_control
  let short = false
  for (const block of marked.slice(-maxCacheBreakpoints)) {
    const ttl = (block.cache_control as Block)["ttl"]
    if (ttl === undefined) short = true
    else if (short) block.cache_control = cacheControl("5m")
  }
}

const encodeToolChoice = (choice: NonNullable<ChatRequest["toolChoice"]>): unknown => {
  if (typeof choice !== "string") return { type: "tool", name: choice.name }
  return choice === "required" ? { type: "any" } : { type: choice }
}

/** Keywords Claude's structured outputs take as they are; any other is written into the description (`claudeSchema`). */
const claudeKeywords: ReadonlySet<string> = new Set([
  "type",
  "required",
  "enum",
  "const",
  "default",
  "title",
  "pattern",
  "$ref"
])

/** The string formats Claude's structured outputs take. */
const claudeFormats: ReadonlySet<string> = new Set(["date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"])

/** Keywords whose value is a map of schemas, or a list of them. */
const schemaMaps: ReadonlySet<string> = new Set(["properties", "$defs", "definitions"])
const schemaLists: ReadonlySet<string> = new Set(["anyOf", "allOf"])

type SchemaNode = Readonly<Record<string, unknown>>
const isNode: (u: unknown) => u is SchemaNode = Http.isPlainObject

const define = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })

const mapSchemas = (value: unknown): unknown => {
  if (!isNode(value)) return value
  const out: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(value)) define(out, key, claudeSchema(schema))
  return out
}

/**
 * An object that holds keys its `properties` do not name (closed, it could
 * hold none of them): `additionalProperties` or `unevaluatedProperties`
 * other than `false`, or non-empty `patternProperties`.
 */
const isMap = (schema: SchemaNode): boolean => {
  const allows = (value: unknown) => value !== undefined && value !== false
  const patterns = schema["patternProperties"]
  return (
    allows(schema["additionalProperties"]) ||
    allows(schema["unevaluatedProperties"]) ||
    (isNode(patterns) && Object.keys(patterns).length > 0)
  )
}

/** Keywords a map keeps as they are (Claude refuses the node, and the request moves on). */
const mapKeywords: ReadonlySet<string> = new Set(["patternProperties", "unevaluatedProperties"])

/** Marks a folded node that must not be closed (see `mergeObjectBranches`). */
const open: unique symbol = Symbol("open")

/** What a merged branch gives the node itself; the rest of it stays a branch of `allOf`. */
const mergedKeywords: ReadonlySet<string> = new Set(["type", "properties", "required", "additionalProperties", "description"])

/**
 * An `allOf` of plain object schemas folded into the node: closed one by one,
 * as Claude wants every object, no object could satisfy two of them. A
 * property two of them name keeps both schemas (`allOf`); whatever else a
 * branch says stays a branch; descriptions are joined. When a branch cannot
 * be folded (a `$ref`, a map, an object left open), the node is not closed
 * either (`open`): Claude refuses it, and the request moves on.
 */
const mergeObjectBranches = (schema: SchemaNode): SchemaNode & { readonly [open]?: true } => {
  const given = schema["allOf"]
  if (!Array.isArray(given)) return schema
  const branches = given.map((branch) => (isNode(branch) ? mergeObjectBranches(branch) : branch))
  const plain = (branch: unknown): branch is SchemaNode =>
    isNode(branch) && branch["$ref"] === undefined && branch["allOf"] === undefined && isObjectNode(branch) && !isMap(branch)
  const merged = branches.filter(plain)
  if (merged.length === 0) return schema
  const rest: Array<unknown> = branches.filter((branch) => !plain(branch))
  const properties: Record<string, unknown> = isNode(schema["properties"]) ? { ...schema["properties"] } : {}
  const required = new Set<unknown>(Array.isArray(schema["required"]) ? schema["required"] : [])
  const descriptions = typeof schema["description"] === "string" ? [schema["description"]] : []
  for (const branch of merged) {
    if (isNode(branch["properties"])) {
      for (const [key, value] of Object.entries(branch["properties"])) {
        define(properties, key, Object.hasOwn(properties, key) ? { allOf: [properties[key], value] } : value)
      }
    }
    if (Array.isArray(branch["required"])) for (const key of branch["required"]) required.add(key)
    if (typeof branch["description"] === "string") descriptions.push(branch["description"])
    const leftover = Object.fromEntries(Object.entries(branch).filter(([key]) => !mergedKeywords.has(key)))
    if (Object.keys(leftover).length > 0) rest.push(leftover)
  }
  const types = merged.map((branch) => JSON.stringify(branch["type"]))
  const { allOf: _, ...own } = schema
  return {
    ...own,
    type: own["type"] ?? (types.every((type) => type === types[0]) ? merged[0]!["type"] : "object"),
    properties,
    ...(required.size > 0 ? { required: [...required] } : {}),
    ...(descriptions.length > 0 ? { description: descriptions.join("\n\n") } : {}),
    ...(rest.length > 0 ? { allOf: rest } : {}),
    ...(rest.some((branch) => !isNode(branch) || branch["$ref"] !== undefined || isMap(branch) || isObjectNode(branch)) ? { [open]: true } : {})
  }
}

/**
 * A `$ref` with siblings (`{ "$ref": "#/$defs/X", "description": "..." }`,
 * as Pydantic writes a described field of a model type) as an `allOf` of the
 * bare `$ref`, the siblings beside it; `$`-keywords (`$defs`) stay where they
 * are, so the references still resolve. Anthropic's SDKs send a `$ref` alone,
 * dropping what is beside it: this keeps it, in a shape they send themselves
 * (an `allOf` with a description). Other nodes are returned as they are.
 */
const refAlone = (schema: SchemaNode): SchemaNode => {
  const ref = schema["$ref"]
  if (ref === undefined || Object.keys(schema).every((key) => key.startsWith("$"))) return schema
  const { $ref: _, ...siblings } = schema
  const allOf = siblings["allOf"]
  return { ...siblings, allOf: [{ $ref: ref }, ...(Array.isArray(allOf) ? allOf : [])] }
}

/** Whether an `allOf` holds a `$ref`: what it refers to is not known here, so the node is not closed. */
const refersAside = (schema: SchemaNode): boolean => {
  const allOf = schema["allOf"]
  return Array.isArray(allOf) && allOf.some((branch) => isNode(branch) && branch["$ref"] !== undefined)
}

const isObjectNode = (schema: SchemaNode): boolean => {
  const type = schema["type"]
  return type === "object" || (Array.isArray(type) && type.includes("object")) || isNode(schema["properties"])
}

/**
 * A JSON Schema as Claude's structured outputs take it. They require every
 * object closed: an object with no `additionalProperties` gets `false`. They
 * take `anyOf`, not `oneOf`, and `minItems` of 0 or 1 only. Every keyword
 * they do not take (numeric and length bounds, `maxItems`, a format they
 * lack, `not`, `if`, `patternProperties`, ...) is taken out and written into
 * the description as JSON, so the model still reads it. An `allOf` of
 * plain objects is folded into one (each closed alone, no object could
 * satisfy two); a `$ref` with siblings becomes an `allOf` of the bare `$ref`
 * (`refAlone`), and a node whose `allOf` holds a `$ref` is not closed. A map (an object whose `additionalProperties` is a schema,
 * or with `patternProperties`) is sent as it is: Claude refuses it, and its
 * 400 sends the request on to the next target (the router's
 * `refusedFormat`), where closing it would have allowed `{}` only.
 *
 * @internal
 */
export const claudeSchema = (input: unknown): unknown => {
  if (!isNode(input)) return input
  const schema = mergeObjectBranches(refAlone(input))
  const out: Record<string, unknown> = {}
  const moved: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (schemaMaps.has(key)) out[key] = mapSchemas(value)
    else if (schemaLists.has(key)) out[key] = Array.isArray(value) ? value.map(claudeSchema) : value
    else if (key === "items") out[key] = Array.isArray(value) ? value.map(claudeSchema) : claudeSchema(value)
    else if (key === "additionalProperties") out[key] = value
    else if (mapKeywords.has(key)) define(out, key, value)
    else if (key === "format") {
      if (typeof value === "string" && claudeFormats.has(value)) out[key] = value
      else define(moved, key, value)
    } else if (key === "minItems" && typeof value === "number") {
      out[key] = Math.min(value, 1)
      if (value > 1) moved[key] = value
    } else if (key === "description" || key === "oneOf" || key === "$schema") continue
    else if (claudeKeywords.has(key)) define(out, key, value)
    else define(moved, key, value)
  }
  const oneOf = schema["oneOf"]
  if (Array.isArray(oneOf)) {
    // Claude takes anyOf; beside an anyOf of its own, the two go under allOf
    const branches = oneOf.map(claudeSchema)
    if (out["anyOf"] === undefined) out["anyOf"] = branches
    else out["allOf"] = [...(Array.isArray(out["allOf"]) ? out["allOf"] : []), { anyOf: branches }]
  }
  if (isObjectNode(schema) && !isMap(schema) && schema[open] !== true && !refersAside(schema)) out["additionalProperties"] = false
  const notes = Object.keys(moved).length === 0 ? undefined : JSON.stringify(moved)
  const description = typeof schema["description"] === "string" ? schema["description"] : undefined
  if (description !== undefined || notes !== undefined) {
    out["description"] = [description, notes].filter((part) => part !== undefined).join("\n\n")
  }
  return out
}

/**
 * A tool's parameters as its `input_schema`: Anthropic requires the root's
 * `type` to be `object` (a 400, "tools.0.custom.input_schema.type: Field
 * required", that would end the chain), where OpenAI takes a function with
 * no parameters at all (omitted, they are an empty list), which clients then
 * send as `{}`, and a schema of `properties` alone. A root without a type
 * gets `object` (as LiteLLM does for Claude); the rest goes as it is.
 */
const inputSchema = (parameters: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  withoutRootCombinators(parameters["type"] === undefined ? { type: "object", ...parameters } : { ...parameters })

const rootCombinators = ["anyOf", "oneOf", "allOf"] as const

/** A branch of a root combinator, a `$ref` to the root's `$defs` or `definitions` followed (once). */
const branchAt = (root: SchemaNode, branch: unknown): SchemaNode | undefined => {
  if (!isNode(branch)) return undefined
  const ref = branch["$ref"]
  if (typeof ref !== "string") return branch
  const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref)
  const defs = match === null ? undefined : root[match[1]!]
  const name = match === null ? "" : match[2]!.replaceAll("~1", "/").replaceAll("~0", "~")
  const target = isNode(defs) && Object.hasOwn(defs, name) ? defs[name] : undefined
  return isNode(target) ? target : undefined
}

/**
 * A tool's `input_schema` without `anyOf`, `oneOf` or `allOf` at its root,
 * which Anthropic refuses there, `type: "object"` or not (a 400,
 * "input_schema does not support oneOf, allOf, or anyOf at the top level"),
 * where OpenAI takes them: a union of objects (a Zod discriminated union, an
 * MCP tool's) would end the chain. The branches' properties join the root's
 * (one that branches give different schemas: `anyOf` them, for `allOf`
 * `allOf` them; the root's own stays as it is), required are the root's, every
 * `allOf` branch's, and what every `anyOf` or `oneOf` branch requires; the
 * combinator itself goes into the description as JSON, so the model still
 * reads which shapes it may take.
 */
const withoutRootCombinators = (root: Record<string, unknown>): Record<string, unknown> => {
  const given = rootCombinators.filter((key) => Array.isArray(root[key]))
  if (given.length === 0) return root
  const own = isNode(root["properties"]) ? root["properties"] : {}
  const added = new Map<string, Array<unknown>>()
  const required = new Set<unknown>(Array.isArray(root["required"]) ? root["required"] : [])
  const moved: Record<string, unknown> = {}
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(root)) if (!given.includes(key as never)) define(out, key, value)
  for (const key of given) {
    const branches = root[key] as ReadonlyArray<unknown>
    define(moved, key, branches)
    const named = new Map<string, Array<unknown>>()
    const requireds: Array<ReadonlySet<unknown>> = []
    for (const branch of branches.map((branch) => branchAt(root, branch))) {
      const properties = branch !== undefined && isNode(branch["properties"]) ? branch["properties"] : {}
      for (const [name, schema] of Object.entries(properties)) {
        const seen = named.get(name) ?? []
        if (!seen.some((other) => JSON.stringify(other) === JSON.stringify(schema))) seen.push(schema)
        named.set(name, seen)
      }
      requireds.push(new Set(branch !== undefined && Array.isArray(branch["required"]) ? branch["required"] : []))
    }
    for (const [name, schemas] of named) {
      if (Object.hasOwn(own, name)) continue
      // what the root's combinators say of a property, all of them at once; one `anyOf`/`oneOf` says any of its branches'
      const said = key === "allOf" || schemas.length === 1 ? schemas : [{ anyOf: schemas }]
      added.set(name, [...(added.get(name) ?? []), ...said])
    }
    if (key === "allOf") for (const names of requireds) for (const name of names) required.add(name)
    else for (const name of requireds[0] ?? []) if (requireds.every((names) => names.has(name))) required.add(name)
  }
  const properties: Record<string, unknown> = { ...own }
  for (const [name, schemas] of added) {
    define(properties, name, schemas.length === 1 ? schemas[0] : { allOf: schemas })
  }
  out["properties"] = properties
  if (required.size > 0) out["required"] = [...required]
  const notes = JSON.stringify(moved)
  out["description"] = typeof root["description"] === "string" ? `${root["description"]}\n\n${notes}` : notes
  return out
}

/**
 * The JSON body of a Messages request. `max_tokens` is required by the API:
 * the request's, else `defaultMaxTokens`. The temperature is capped at 1,
 * Anthropic's maximum, so a request meant for any provider is not refused;
 * beside a temperature, `top_p` is left out (Claude 4.x refuses the two
 * together, where OpenAI takes them). `top_k` is sent; `seed` and the
 * penalties, which Claude does not take, are not. Text with nothing but whitespace is
 * not sent (see `hasText`), nor is a stop sequence of whitespace alone
 * (Claude refuses both); a conversation left with no turn (system messages
 * alone, which OpenAI answers) sends its system text as the one user turn,
 * Claude needing one; one that opens on the assistant's turn, or has no
 * text at all, gets `openingTurn` before it, and one that ends on it (the start of Claude's
 * answer) loses the trailing whitespace Claude refuses there, or, to a Claude that takes no
 * such start (4.6 and later), gets `continueTurn` after it. Tool-call
 * ids Claude refuses (of other characters, empty, given twice) go as ids it
 * takes, each result still paired with its call (see `claudeToolIds`); a
 * request with calls in its history and no tools defines the tools called,
 * with a tool choice of none, as Claude wants tools beside them. A cache
 * breakpoint on text that is not sent marks the block sent before it.
 *
 * @internal
 */
export const encodeRequest = (
  request: ChatRequest,
  model: string,
  defaultMaxTokens: number,
  stream: boolean
): Record<string, unknown> => {
  const tools = request.tools?.map((tool) =>
    cached({
      name: tool.name,
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      input_schema: inputSchema(tool.parameters)
    }, tool.cache)
  ) ?? []
  const system: Array<string> = []
  const systemBlocks: Array<Block> = []
  const turns: Array<WireMessage> = []
  // the last block sent so far in the prompt's order (tools, system, messages): a breakpoint on what is not
  // sent goes there (see `carryMark`), or nowhere when nothing comes before it
  let sent: Block | undefined = tools.at(-1)
  for (const message of request.messages) {
    if (message.role !== "system") continue
    if (hasText(message.content)) {
      system.push(message.content)
      systemBlocks.push((sent = cached({ type: "text", text: message.content }, message.cache)))
    } else carryMark(sent, message.cache)
  }
  const ids = claudeToolIds(request.messages)
  for (const [i, message] of request.messages.entries()) {
    if (message.role === "system") continue
    const { orphan, turn } = toWire(message, ids?.calls[i], ids?.results[i])
    carryMark(sent, orphan)
    turns.push(turn)
    sent = turn.content.at(-1) ?? sent
  }
  // system text is sent as one string, or as its blocks when one of them is a cache breakpoint
  const systemCached = systemBlocks.some((block) => block.cache_control !== undefined)
  const merged = mergeTurns(turns)
  // a conversation that opens on the assistant's turn, or has no text at all (a blank message, which OpenAI
  // answers, and Claude refuses as no turn: 400 "at least one message is required"), opens on a user turn
  if (merged[0]?.role === "assistant" || (merged.length === 0 && system.length === 0)) {
    merged.unshift({ role: "user", content: [{ type: "text", text: openingTurn }] })
  }
  // Claude 4.6 and later take no start of their answer (a 400, "This model does not support assistant message
  // prefill. The conversation must end with a user message."), where OpenAI answers after an assistant turn
  if (merged.at(-1)?.role === "assistant" && refusesPrefill(model)) {
    merged.push({ role: "user", content: [{ type: "text", text: continueTurn }] })
  }
  // a last assistant turn is the start of Claude's answer, which must not end in whitespace (a 400, "final
  // assistant content cannot end with trailing whitespace"); OpenAI takes it
  const last = merged.at(-1)
  if (last?.role === "assistant") {
    const tail = last.content.at(-1)
    if (tail?.type === "text") last.content[last.content.length - 1] = { ...tail, text: String(tail.text).trimEnd() }
  }
  const instructions = system.length > 0 ? system.join("\n\n") : undefined
  // Claude refuses a request without a turn (400 "at least one message is required"); OpenAI answers system
  // messages alone by following them, as Claude follows the same text as the request itself
  const alone = merged.length === 0 && instructions !== undefined
  fitCacheBreakpoints([...tools, ...systemBlocks, ...merged.flatMap((turn) => turn.content)])
  const systemText = systemCached ? systemBlocks : instructions
  const body: Record<string, unknown> = {
    model,
    max_tokens: request.maxTokens ?? defaultMaxTokens,
    messages: alone ? [{ role: "user", content: systemText }] : merged.map(compact)
  }
  if (instructions !== undefined && !alone) body.system = systemText
  if (request.temperature !== undefined) body.temperature = Math.min(request.temperature, 1)
  // Claude 4.x (Opus 4.1 and later, Sonnet and Haiku 4.5 and later) refuses the two together, a 400 that would
  // end the chain; Anthropic's docs ask for one or the other on every Claude, the temperature as a rule
  if (request.topP !== undefined && request.temperature === undefined) body.top_p = request.topP
  if (request.topK !== undefined) body.top_k = request.topK
  // Claude refuses a stop sequence of whitespace alone (a 400, "each stop sequence must contain non-whitespace")
  // where OpenAI takes one ("\n" is a common stop): it is not sent
  const stops = request.stop?.filter(hasText) ?? []
  if (stops.length > 0) body.stop_sequences = stops
  if (tools.length > 0) body.tools = tools
  const choice = toolChoiceOf(request)
  if (choice !== undefined) body.tool_choice = encodeToolChoice(choice)
  // Claude refuses a history of tool calls in a request without tools (a 400, "Requests which include `tool_use` or
  // `tool_result` blocks must define tools"), which OpenAI answers (a summary or a compaction after a tool loop): the
  // tools it called are defined, by name, and none may be called
  if (tools.length === 0 && ids !== undefined && choice === undefined) {
    const called = calledTools(request.messages)
    if (called.length > 0) {
      body.tools = called
      body.tool_choice = { type: "none" }
    }
  }
  // one tool call at most: Anthropic's switch sits in its tool choice (none of "none"'s business)
  if (request.parallelToolCalls === false && request.tools !== undefined && request.tools.length > 0) {
    const choice = (body.tool_choice as Record<string, unknown> | undefined) ?? { type: "auto" }
    if (choice["type"] !== "none") body.tool_choice = { ...choice, disable_parallel_tool_use: true }
  }
  // structured outputs; Anthropic has no JSON mode (`json_object`), which its info does not list
  if (request.responseFormat?.type === "json_schema") {
    body.output_config = { format: { type: "json_schema", schema: claudeSchema(request.responseFormat.schema) } }
  }
  if (stream) body.stream = true
  return body
}

// ---------------------------------------------------------------------------
// Beta headers
// ---------------------------------------------------------------------------

/** Whether a beta's name is a plain token, which can neither add another name to the header nor break out of it. */
const isBeta = Schema.is(AnthropicBeta)

/**
 * The names of an `anthropic-beta` value: comma-separated, trimmed, empty
 * ones left out.
 *
 * @example
 * betaNames(" a, b,,c ") // ["a", "b", "c"]
 *
 * @internal
 */
export const betaNames = (value: string): Array<string> => {
  const names: Array<string> = []
  for (const part of value.split(",")) {
    const name = part.trim()
    if (name.length > 0) names.push(name)
  }
  return names
}

/**
 * The betas an adapter's `headers` configure (its `anthropic-beta`, in any
 * letters' case), each once, in their order.
 *
 * @internal
 */
export const configuredBetas = (headers: Readonly<Record<string, HeaderValue>> | undefined): ReadonlyArray<string> => {
  const names = new Set<string>()
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== "anthropic-beta") continue
    for (const beta of betaNames(typeof value === "string" ? value : Redacted.value(value))) names.add(beta)
  }
  return [...names]
}

/**
 * The `anthropic-beta` header of one request: the configured betas, then
 * the request's own (`providerOptions.anthropic.betas`) not among them, each
 * once, comma-joined. `undefined` when the request adds none, so the
 * configured header goes as it is, with no work per request. A name that
 * is not a plain token (see `Chat.AnthropicBeta`) is not sent.
 *
 * @internal
 */
export const betaHeader = (configured: ReadonlyArray<string>, request: ChatRequest): Record<string, string> | undefined => {
  const asked = request.providerOptions?.anthropic?.betas
  if (asked === undefined || asked.length === 0) return undefined
  const names = new Set(configured)
  const before = names.size
  for (const name of asked) if (isBeta(name)) names.add(name)
  return names.size === before ? undefined : { "anthropic-beta": [...names].join(",") }
}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

const OptionalCount = Schema.optional(Schema.NullOr(Schema.Number))

const UsageWire = Schema.Struct({
  input_tokens: OptionalCount,
  output_tokens: OptionalCount,
  cache_creation_input_tokens: OptionalCount,
  cache_read_input_tokens: OptionalCount,
  // the writes by cache lifetime, `{ ephemeral_5m_input_tokens, ephemeral_1h_input_tokens }`: read leniently (see `usageOf`)
  cache_creation: Schema.optional(Schema.Unknown)
})

type UsageWire = typeof UsageWire.Type

const MessageWire = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  content: Schema.Array(
    Schema.Struct({
      type: Schema.String,
      text: Schema.optional(Schema.String),
      id: Schema.optional(Schema.String),
      name: Schema.optional(Schema.String),
      input: Schema.optional(Schema.Unknown)
    })
  ),
  stop_reason: Schema.optional(Schema.NullOr(Schema.String)),
  // read only where it is a string: the answer is not failed over a field the caller may not need
  stop_sequence: Schema.optional(Schema.Unknown),
  usage: Schema.optional(UsageWire)
})

/**
 * The usage of a message. Anthropic counts the prompt in three parts (after
 * the last cache breakpoint, written to the cache, read from it), which make
 * `inputTokens` in all; the writes to the 1-hour cache, billed at 2x the
 * input price where the 5-minute cache's are at 1.25x, are
 * `longCacheWriteTokens`. `cache_creation` is optional and only pricing
 * reads it, so a shape not understood counts as no 1-hour writes rather
 * than failing the answer.
 */
const usageOf = (usage: UsageWire | undefined): Usage => {
  const split = Http.isPlainObject(usage?.cache_creation) ? usage.cache_creation : undefined
  const longWritten = count(split?.["ephemeral_1h_input_tokens"])
  const written = usage?.cache_creation_input_tokens ?? count(split?.["ephemeral_5m_input_tokens"]) + longWritten
  const read = usage?.cache_read_input_tokens ?? 0
  const inputTokens = (usage?.input_tokens ?? 0) + written + read
  return {
    inputTokens,
    outputTokens: usage?.output_tokens ?? 0,
    ...cacheCounts(inputTokens, count(read), count(written), longWritten)
  }
}

const finishReasons: Readonly<Record<string, FinishReason>> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls"
}

/** The stop sequence Claude stopped on, with `stop_reason` "stop_sequence": a field to spread, none otherwise. */
const stopSequenceOf = (reason: string | null | undefined, sequence: unknown): { readonly stopSequence?: string } =>
  reason === "stop_sequence" && typeof sequence === "string" ? { stopSequence: sequence } : {}

const finishReason = (reason: string | null | undefined): FinishReason =>
  (reason != null ? finishReasons[reason] : undefined) ?? "unknown"

/** Claude's classifiers stopped its answer (stop_reason "refusal"): what it had answered goes with the error. */
const refused = (context: Errors.Context, answer: Errors.StoppedAnswer) =>
  Errors.contentFiltered(context, "refusal", `${context.provider} refused on its usage policy (stop_reason "refusal")`, answer)

const isBlock = (block: unknown): boolean =>
  Http.isPlainObject(block) &&
  typeof block["type"] === "string" &&
  Http.isOptional(block["text"], "string") &&
  Http.isOptional(block["id"], "string") &&
  Http.isOptional(block["name"], "string")

/**
 * The usual shape of a message (a whole answer), checked without the schema
 * (see `Http.valueDecoder`): a value this accepts, `MessageWire` decodes to
 * the same fields.
 *
 * @internal
 */
export const isMessage = (value: unknown): value is typeof MessageWire.Type => {
  if (!Http.isPlainObject(value) || !Http.isOptional(value["id"], "string") || !Http.isOptional(value["model"], "string")) {
    return false
  }
  const content = value["content"]
  if (!Array.isArray(content) || !content.every(isBlock)) return false
  if (!Http.isOptionalString(value["stop_reason"])) return false
  const usage = value["usage"]
  return (
    usage === undefined ||
    (Http.isPlainObject(usage) &&
      Http.isOptionalNumber(usage["input_tokens"]) &&
      Http.isOptionalNumber(usage["output_tokens"]) &&
      Http.isOptionalNumber(usage["cache_creation_input_tokens"]) &&
      Http.isOptionalNumber(usage["cache_read_input_tokens"]))
  )
}

const decodeMessage = Http.jsonDecoder(MessageWire, isMessage)

const toResponse = (context: Errors.Context, message: typeof MessageWire.Type): Either.Either<ChatResponse, ProviderError> => {
  let text = ""
  const toolCalls: Array<{ id: string; name: string; arguments: string }> = []
  for (const block of message.content) {
    if (block.type === "text") text += block.text ?? ""
    else if (block.type === "tool_use") {
      toolCalls.push({ id: block.id ?? "", name: block.name ?? "", arguments: JSON.stringify(block.input ?? {}) })
    }
  }
  const usage = usageOf(message.usage)
  if (message.stop_reason === "refusal") return Either.left(refused(context, { partialText: text, usage }))
  const finish = finishReason(message.stop_reason)
  if (text === "" && toolCalls.length === 0 && finish === "unknown") return Either.left(Errors.emptyAnswer(context, message.stop_reason))
  return Either.right({
    id: message.id ?? Http.freshId(context.provider),
    provider: context.provider,
    model: message.model ?? context.model,
    text,
    toolCalls,
    finishReason: finish,
    ...stopSequenceOf(message.stop_reason, message.stop_sequence),
    usage
  })
}

/**
 * Reads a JSON message; a `refusal` stop is a `ContentFiltered` error, with
 * the text before it and the usage.
 *
 * @internal
 */
export const decodeResponse = (context: Errors.Context, text: string): Either.Either<ChatResponse, ProviderError> =>
  Either.flatMap(decodeMessage(context, text, "message"), (message) => toResponse(context, message))

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

const MessageStart = Schema.Struct({
  message: Schema.Struct({ id: Schema.optional(Schema.String), usage: Schema.optional(UsageWire) })
})
const BlockStart = Schema.Struct({
  index: Schema.Number,
  content_block: Schema.Struct({
    type: Schema.String,
    text: Schema.optional(Schema.String),
    id: Schema.optional(Schema.String),
    name: Schema.optional(Schema.String),
    input: Schema.optional(Schema.Unknown)
  })
})
const BlockDelta = Schema.Struct({
  index: Schema.Number,
  delta: Schema.Union(
    Schema.Struct({ type: Schema.Literal("text_delta"), text: Schema.String }),
    Schema.Struct({ type: Schema.Literal("input_json_delta"), partial_json: Schema.String }),
    Schema.Struct({ type: Schema.String.pipe(Schema.filter((t) => t !== "text_delta" && t !== "input_json_delta")) })
  )
})
const MessageDelta = Schema.Struct({
  delta: Schema.Struct({ stop_reason: Schema.optional(Schema.NullOr(Schema.String)), stop_sequence: Schema.optional(Schema.Unknown) }),
  usage: Schema.optional(UsageWire)
})
const EventType = Schema.Struct({ type: Schema.String })

/** An event's type, checked without the schema (see `Http.valueDecoder`). @internal */
export const isEventType = (value: unknown): value is typeof EventType.Type =>
  Http.isPlainObject(value) && typeof value["type"] === "string"

/**
 * The usual `content_block_delta`, a text or tool-input delta, checked
 * without the schema (see `Http.valueDecoder`): a value this accepts,
 * `BlockDelta` decodes to the same fields.
 *
 * @internal
 */
export const isBlockDelta = (value: unknown): value is typeof BlockDelta.Type => {
  if (!Http.isPlainObject(value) || typeof value["index"] !== "number") return false
  const delta = value["delta"]
  if (!Http.isPlainObject(delta)) return false
  return delta["type"] === "text_delta"
    ? typeof delta["text"] === "string"
    : delta["type"] === "input_json_delta" && typeof delta["partial_json"] === "string"
}

/** @internal */
export const schemas = { EventType, BlockDelta, MessageWire }

const decodeType = Http.valueDecoder(EventType, isEventType)
const decodeMessageStart = Http.valueDecoder(MessageStart)
const decodeBlockStart = Http.valueDecoder(BlockStart)
const decodeBlockDelta = Http.valueDecoder(BlockDelta, isBlockDelta)
const decodeMessageDelta = Http.valueDecoder(MessageDelta)

/** The fields of a usage that were sent (not null): a `message_delta` may repeat some of `message_start`'s counts, or none. */
const sent = (usage: UsageWire): UsageWire => {
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(usage)) if (value != null) fields[key] = value
  return fields as UsageWire
}

/** The state of one streamed message. */
class StreamState {
  /**
   * The message's usage as counted so far: `message_start`'s, each field
   * `message_delta` sends replacing it (its counts are cumulative).
   */
  private counted: UsageWire = {}
  /** The text streamed, for a refusal stop. */
  private text = ""
  /** Whether a `message_delta` gave the stop reason (the stream's `Finish`). */
  private finished = false
  private nextTool = 0
  private readonly toolOfBlock = new Map<number, number>()
  private readonly toolArgsSeen = new Set<number>()

  constructor(readonly context: Errors.Context) {}

  onValue(type: string, value: unknown, out: Array<ChatChunk>): boolean | ProviderError {
    switch (type) {
      case "message_start":
        return this.step(decodeMessageStart(this.context, value, type), (event) => {
          this.counted = event.message.usage ?? {}
          // the prompt's count (and the cache's) goes out at once, for a stream cut before its end: the output is
          // the model's so far (its output_tokens here is a placeholder, 1 or so), estimated from what it sent
          const usage = usageOf(this.counted)
          if (usage.inputTokens > 0) out.push({ _tag: "Usage", usage: { ...usage, outputTokens: 0 } })
        })
      case "content_block_start":
        return this.step(decodeBlockStart(this.context, value, type), (event) => this.blockStart(event, out))
      case "content_block_delta":
        return this.step(decodeBlockDelta(this.context, value, type), (event) => this.blockDelta(event, out))
      case "message_delta":
        return this.messageDelta(value, out)
      case "message_stop":
        // the message's end ends the answer, whether or not a stop reason came before it
        if (!this.finished) out.push({ _tag: "Finish", reason: "unknown" })
        out.push({ _tag: "Usage", usage: usageOf(this.counted) })
        return true
      case "error":
        return Errors.fromStreamError(this.context, value)
      // a tool call without input streams one empty partial_json: its arguments are "{}", as when answered whole
      case "content_block_stop": {
        const block = Http.isPlainObject(value) && typeof value["index"] === "number" ? value["index"] : -1
        const tool = this.toolOfBlock.get(block)
        if (tool !== undefined && !this.toolArgsSeen.has(block)) out.push({ _tag: "ToolCallDelta", index: tool, arguments: "{}" })
        return false
      }
      default:
        // ping, and event types added after this was written
        return false
    }
  }

  private step<A>(decoded: Either.Either<A, ProviderError>, apply: (a: A) => void): false | ProviderError {
    if (Either.isLeft(decoded)) return decoded.left
    apply(decoded.right)
    return false
  }

  private blockStart(event: typeof BlockStart.Type, out: Array<ChatChunk>): void {
    const block = event.content_block
    if (block.type === "text" && block.text) {
      out.push({ _tag: "TextDelta", text: block.text })
      this.text += block.text
    }
    if (block.type !== "tool_use") return
    const index = this.nextTool++
    this.toolOfBlock.set(event.index, index)
    // Anthropic starts a block with `input: {}` and streams the arguments; an upstream that sends them whole here is read too
    const given = block.input !== null && typeof block.input === "object" && Object.keys(block.input).length > 0
    if (given) this.toolArgsSeen.add(event.index)
    out.push({
      _tag: "ToolCallDelta",
      index,
      ...(block.id !== undefined ? { id: block.id } : {}),
      ...(block.name !== undefined ? { name: block.name } : {}),
      arguments: given ? JSON.stringify(block.input) : ""
    })
  }

  private blockDelta(event: typeof BlockDelta.Type, out: Array<ChatChunk>): void {
    const delta = event.delta
    if ("text" in delta) {
      if (delta.text.length > 0) {
        out.push({ _tag: "TextDelta", text: delta.text })
        this.text += delta.text
      }
    } else if ("partial_json" in delta) {
      const index = this.toolOfBlock.get(event.index)
      if (index !== undefined && delta.partial_json.length > 0) {
        this.toolArgsSeen.add(event.index)
        out.push({ _tag: "ToolCallDelta", index, arguments: delta.partial_json })
      }
    }
  }

  private messageDelta(value: unknown, out: Array<ChatChunk>): false | ProviderError {
    const decoded = decodeMessageDelta(this.context, value, "message_delta")
    if (Either.isLeft(decoded)) return decoded.left
    const { delta, usage } = decoded.right
    if (usage !== undefined) this.counted = { ...this.counted, ...sent(usage) }
    if (delta.stop_reason === "refusal") {
      // the provider's own count goes out before the refusal, for what the stream sent until then
      const usage = usageOf(this.counted)
      out.push({ _tag: "Usage", usage })
      return refused(this.context, { partialText: this.text, usage })
    }
    if (delta.stop_reason != null && !this.finished) {
      this.finished = true
      out.push({ _tag: "Finish", reason: finishReason(delta.stop_reason), ...stopSequenceOf(delta.stop_reason, delta.stop_sequence) })
    }
    return false
  }
}

/**
 * Decodes the SSE events of a streamed message up to `message_stop`: text
 * and tool-use blocks become deltas (tool calls numbered in order of their
 * blocks), `message_start` a first usage (the prompt's and the cache's
 * counts, no output yet), `message_delta` the finish, `message_stop` the
 * whole usage; pings and
 * unknown event types are skipped; an `error` event (e.g.
 * `overloaded_error`) fails the stream.
 *
 * @internal
 */
export const streamDecoder = (context: Errors.Context): Http.EventDecoder => {
  const state = new StreamState(context)
  return {
    terminal: "message_stop",
    onEvent: (event, out) => {
      const parsed = Http.parseJson(context, event.data, "a stream event")
      if (Either.isLeft(parsed)) return parsed.left
      const typed = decodeType(context, parsed.right, "stream event")
      if (Either.isLeft(typed)) return typed.left
      return state.onValue(typed.right.type, parsed.right, out)
    }
  }
}
