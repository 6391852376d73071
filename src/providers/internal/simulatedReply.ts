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
 * outputs (see `instance`). Throws `SchemaTooLarge` for a schema whose
 * value would pass `maxNodes`.
 */
export const formatted = (request: ChatRequest, text: string): string => {
  const format = request.responseFormat
  if (format === undefined) return text
  if (format.type === "json_object") return JSON.stringify({ answer: text })
  const budget = { nodes: 0 }
  return JSON.stringify(instance({ root: format.schema, text, budget }, format.schema, 0))
}

/** A schema whose value would be larger than the simulator builds (`maxNodes`). */
export class SchemaTooLarge extends Error {
  constructor() {
    super(`the simulator builds JSON values of at most ${maxNodes} values (arrays of at most ${maxItems} items)`)
  }
}

/** How deep `instance` follows a schema (a recursive `$ref` stops here). */
const maxDepth = 12
/** Past this depth, nothing optional is built: a recursive schema ends. */
const shallowDepth = 4
/** The most items an array gets; more than its `minItems` asks is refused. */
const maxItems = 16
/** The most values one answer holds. */
const maxNodes = 10_000

type Node = Readonly<Record<string, unknown>>

interface Build {
  readonly root: Node
  readonly text: string
  readonly budget: { nodes: number }
}

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

const set = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })

/** A node with its `$ref` and `allOf` folded in: the referenced schema and every branch, then the node's own keywords. */
const flatten = (build: Build, schema: Node, depth: number): Node => {
  let node: Node = schema
  if (typeof node["$ref"] === "string" && depth <= maxDepth) {
    const { $ref, ...rest } = node
    const target = resolve(build.root, $ref as string)
    node = isNode(target) ? { ...flatten(build, target, depth + 1), ...rest } : rest
  }
  if (Array.isArray(node["allOf"])) {
    const { allOf, ...rest } = node
    const merged: Record<string, unknown> = {}
    const properties: Record<string, unknown> = {}
    const required: Array<unknown> = []
    for (const branch of [...(allOf as ReadonlyArray<unknown>), rest]) {
      if (!isNode(branch)) continue
      const flat = flatten(build, branch, depth + 1)
      Object.assign(merged, flat)
      if (isNode(flat["properties"])) for (const [key, value] of Object.entries(flat["properties"])) set(properties, key, value)
      if (Array.isArray(flat["required"])) required.push(...flat["required"])
    }
    if (Object.keys(properties).length > 0) merged["properties"] = properties
    if (required.length > 0) merged["required"] = [...new Set(required)]
    node = merged
  }
  return node
}

/**
 * A value of a JSON Schema, built plainly: its `const`, first `enum` value
 * or `default` when it has one, a branch of `anyOf` / `oneOf` (the `null`
 * one past a few levels, so recursion ends), else one of its `type` (the
 * first that is not `"null"`): an object of its required properties (of
 * every property when none is required, near the top), an array of its
 * `prefixItems` (or a tuple's `items`) and then `minItems` items (at least
 * one near the top, if `items` and `maxItems` allow), `text` for a string
 * (cut to `maxLength`), the least number its bounds allow, `false`, `null`.
 * `$ref` and `allOf` are folded into the node first. A schema of no type
 * gets `text`.
 */
const instance = (build: Build, schema: unknown, depth: number): unknown => {
  if (++build.budget.nodes > maxNodes) throw new SchemaTooLarge()
  if (!isNode(schema) || depth > maxDepth) return schema === false ? null : build.text
  const node = flatten(build, schema, depth)
  const shallow = depth < shallowDepth
  if (Object.hasOwn(node, "const")) return node["const"]
  if (Array.isArray(node["enum"]) && node["enum"].length > 0) return node["enum"][0]
  if (Object.hasOwn(node, "default")) return node["default"]
  for (const key of ["anyOf", "oneOf"]) {
    const branches = node[key]
    if (Array.isArray(branches) && branches.length > 0) {
      const ending = shallow ? undefined : branches.find((b) => isNode(b) && b["type"] === "null")
      return instance(build, ending ?? branches[0], depth + 1)
    }
  }
  const types = Array.isArray(node["type"]) ? node["type"] : [node["type"]]
  const type = (shallow ? undefined : types.find((t) => t === "null")) ?? types.find((t) => t !== "null") ?? types[0]
  switch (type) {
    case "object": {
      const properties = isNode(node["properties"]) ? node["properties"] : {}
      const required = Array.isArray(node["required"]) ? node["required"].filter((k) => typeof k === "string") : []
      const out: Record<string, unknown> = {}
      const keys = required.length > 0 || !shallow ? required : Object.keys(properties)
      for (const key of keys) set(out, key, instance(build, Object.hasOwn(properties, key) ? properties[key] : {}, depth + 1))
      return out
    }
    case "array": {
      // a tuple: draft 2020-12's `prefixItems`, or draft 7's `items` as a list
      const prefix = Array.isArray(node["prefixItems"]) ? node["prefixItems"] : Array.isArray(node["items"]) ? node["items"] : []
      const rest = Array.isArray(node["items"]) ? node["additionalItems"] : node["items"]
      const least = bound(node["minItems"]) ?? 0
      if (least > maxItems) throw new SchemaTooLarge()
      const wanted = rest === false ? prefix.length : Math.max(least, shallow ? 1 : 0, prefix.length)
      const count = Math.min(wanted, bound(node["maxItems"]) ?? Infinity)
      return Array.from({ length: count }, (_, i) => instance(build, i < prefix.length ? prefix[i] : rest, depth + 1))
    }
    case "string": {
      const max = bound(node["maxLength"])
      return max === undefined ? build.text : build.text.slice(0, max)
    }
    case "integer":
    case "number": {
      const least = bound(node["minimum"]) ?? bound(node["exclusiveMinimum"]) ?? Math.min(0, bound(node["maximum"]) ?? 0)
      const whole = type === "integer" ? Math.ceil(least) : least
      return bound(node["exclusiveMinimum"]) === whole ? whole + 1 : whole
    }
    case "boolean":
      return false
    case "null":
      return null
    default:
      return build.text
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
