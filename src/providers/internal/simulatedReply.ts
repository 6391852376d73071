/**
 * The text a simulated model answers with, cut into stream tokens.
 *
 * @internal
 */
import type { ChatRequest } from "../../llm/Chat.js"
import { messageText } from "../../llm/Chat.js"

const word = /\s*\S+/g

/**
 * Splits text into tokens of one word each, with the whitespace before a word
 * kept on it (as BPE tokenizers do). Joining the tokens gives back the text
 * exactly; whitespace after the last word stays on the last token.
 */
export const tokenize = (text: string): Array<string> => {
  const tokens: Array<string> = text.match(word) ?? []
  let consumed = 0
  for (const token of tokens) consumed += token.length
  if (consumed < text.length) {
    const trailing = text.slice(consumed)
    if (tokens.length === 0) tokens.push(trailing)
    else tokens[tokens.length - 1] += trailing
  }
  return tokens
}

/** How many words of the prompt the default reply echoes. */
const echoedWords = 12

/**
 * The default reply: `"<provider>/<model>: "` and the first words of the last
 * user message, so a test can tell which target answered.
 */
export const defaultReply =
  (provider: string, model: string) =>
  (request: ChatRequest): string => {
    let prompt = ""
    for (let i = request.messages.length - 1; i >= 0; i--) {
      const message = request.messages[i]!
      if (message.role === "user") {
        prompt = messageText(message)
        break
      }
    }
    const words = prompt.trim().split(/\s+/, echoedWords).join(" ")
    return `${provider}/${model}: ${words.length > 0 ? words : "hello"}`
  }

/**
 * The default reply in the form the request asks: as is for prose,
 * `{"answer": text}` for JSON mode, a value of the schema for structured
 * outputs (see `instance`).
 */
export const formatted = (request: ChatRequest, text: string): string => {
  const format = request.responseFormat
  if (format === undefined) return text
  return JSON.stringify(format.type === "json_object" ? { answer: text } : instance(format.schema, format.schema, text, 0))
}

/** How deep `instance` follows a schema (a recursive `$ref` stops here). */
const maxDepth = 12

type Node = Readonly<Record<string, unknown>>

const isNode = (u: unknown): u is Node => typeof u === "object" && u !== null && !Array.isArray(u)

/** A local `$ref` (`#/$defs/x`, `#/definitions/x`) resolved against the root schema. */
const resolve = (root: Node, ref: string): unknown => {
  if (!ref.startsWith("#")) return undefined
  let node: unknown = root
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~")
    node = isNode(node) && Object.hasOwn(node, key) ? node[key] : undefined
  }
  return node
}

const bound = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined)

/**
 * A value of a JSON Schema, built plainly: its `const`, first `enum` value
 * or `default` when it has one, the first branch of `anyOf` / `oneOf` /
 * `allOf`, else one of its `type` (the first that is not `"null"`): an
 * object of its required properties (of every property when none is
 * required), an array of `minItems` items (at least one, if `maxItems`
 * allows), `text` for a string (cut to `maxLength`), the least number its
 * bounds allow, `false`, `null`. A schema of no type gets `text`.
 */
const instance = (root: Node, schema: unknown, text: string, depth: number): unknown => {
  if (!isNode(schema) || depth > maxDepth) return schema === false ? null : text
  if (typeof schema["$ref"] === "string") return instance(root, resolve(root, schema["$ref"]), text, depth + 1)
  if (Object.hasOwn(schema, "const")) return schema["const"]
  if (Array.isArray(schema["enum"]) && schema["enum"].length > 0) return schema["enum"][0]
  if (Object.hasOwn(schema, "default")) return schema["default"]
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const branches = schema[key]
    if (Array.isArray(branches) && branches.length > 0) return instance(root, branches[0], text, depth + 1)
  }
  const types = Array.isArray(schema["type"]) ? schema["type"] : [schema["type"]]
  const type = types.find((t) => t !== "null") ?? types[0]
  switch (type) {
    case "object": {
      const properties = isNode(schema["properties"]) ? schema["properties"] : {}
      const required = Array.isArray(schema["required"]) ? schema["required"].filter((k) => typeof k === "string") : []
      const out: Record<string, unknown> = {}
      for (const key of required.length > 0 ? required : Object.keys(properties)) {
        out[key] = instance(root, Object.hasOwn(properties, key) ? properties[key] : {}, text, depth + 1)
      }
      return out
    }
    case "array": {
      const count = Math.min(Math.max(bound(schema["minItems"]) ?? 0, 1), bound(schema["maxItems"]) ?? Infinity)
      return Array.from({ length: count }, () => instance(root, schema["items"], text, depth + 1))
    }
    case "string": {
      const max = bound(schema["maxLength"])
      return max === undefined ? text : text.slice(0, max)
    }
    case "integer":
    case "number": {
      const least = bound(schema["minimum"]) ?? bound(schema["exclusiveMinimum"]) ?? Math.min(0, bound(schema["maximum"]) ?? 0)
      const whole = type === "integer" ? Math.ceil(least) : least
      return bound(schema["exclusiveMinimum"]) === whole ? whole + 1 : whole
    }
    case "boolean":
      return false
    case "null":
      return null
    default:
      return text
  }
}

/** Filler for an empty reply asked to produce tokens. */
const filler: ReadonlyArray<string> = ["lorem", " ipsum", " dolor", " sit", " amet"]

/** The tokens of an answer and why it stopped. */
export interface Answer {
  readonly tokens: ReadonlyArray<string>
  readonly finishReason: "stop" | "length"
}

/**
 * Shapes a reply's tokens into the answer: exactly `outputTokens` of them when
 * set (the reply repeats, a space apart, or is cut short), then at most
 * `maxTokens` (the request's limit: a cut answer finishes with `"length"`).
 */
export const answer = (
  tokens: ReadonlyArray<string>,
  outputTokens: number | undefined,
  maxTokens: number | undefined
): Answer => {
  const sized = outputTokens === undefined || outputTokens === tokens.length ? tokens : resize(tokens, outputTokens)
  return maxTokens !== undefined && maxTokens < sized.length
    ? { tokens: sized.slice(0, maxTokens), finishReason: "length" }
    : { tokens: sized, finishReason: "stop" }
}

const resize = (tokens: ReadonlyArray<string>, size: number): ReadonlyArray<string> => {
  if (size <= tokens.length) return tokens.slice(0, size)
  const source = tokens.length === 0 ? filler : tokens
  const out = new Array<string>(size)
  for (let i = 0; i < size; i++) {
    const token = source[i % source.length]!
    out[i] = i >= source.length && !/^\s/.test(token) ? ` ${token}` : token
  }
  return out
}
