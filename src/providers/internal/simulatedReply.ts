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
  const budget = { nodes: 0, chars: 0 }
  return JSON.stringify(instance({ root: format.schema, text, budget }, format.schema, 0))
}

/** A schema whose value would be larger than the simulator builds (`maxNodes`). */
export class SchemaTooLarge extends Error {
  constructor() {
    super(
      `the simulator builds JSON values of at most ${maxNodes} values (arrays of at most ${maxItems} items) and ${maxChars} characters of strings`
    )
  }
}

/** How deep `instance` follows a schema (a recursive `$ref` stops here). */
const maxDepth = 12
/** Past this depth, nothing optional is built: a recursive schema ends. */
const shallowDepth = 4
/** The most items an array gets; a `minItems` above it is refused. */
const maxItems = 100
/** The most values one answer holds. */
const maxNodes = 10_000

type Node = Readonly<Record<string, unknown>>

interface Build {
  readonly root: Node
  readonly text: string
  readonly budget: { nodes: number; chars: number }
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

/** Schemas merged as `allOf` merges them: keywords in order, `properties` and `required` joined. */
const merge = (build: Build, branches: ReadonlyArray<unknown>, depth: number): Node => {
  const merged: Record<string, unknown> = {}
  const properties: Record<string, unknown> = {}
  const required: Array<unknown> = []
  for (const branch of branches) {
    if (!isNode(branch)) continue
    const flat = flatten(build, branch, depth + 1)
    Object.assign(merged, flat)
    if (isNode(flat["properties"])) for (const [key, value] of Object.entries(flat["properties"])) set(properties, key, value)
    if (Array.isArray(flat["required"])) required.push(...flat["required"])
  }
  if (Object.keys(properties).length > 0) merged["properties"] = properties
  if (required.length > 0) merged["required"] = [...new Set(required)]
  return merged
}

/**
 * A node with its `$ref` and `allOf` folded in: the referenced schema and
 * every branch, then the node's own keywords. Each fold counts against the
 * build's budget: `allOf` of many `$ref`s to the root would fold for ever.
 */
const flatten = (build: Build, schema: Node, depth: number): Node => {
  const hasRef = typeof schema["$ref"] === "string" && depth <= maxDepth
  const hasAll = Array.isArray(schema["allOf"])
  if (!hasRef && !hasAll) return schema
  if (++build.budget.nodes > maxNodes) throw new SchemaTooLarge()
  const { $ref, allOf, ...rest } = schema
  const branches: Array<unknown> = []
  if (hasRef) branches.push(resolve(build.root, $ref as string))
  if (hasAll) branches.push(...(allOf as ReadonlyArray<unknown>))
  branches.push(rest)
  return merge(build, branches, depth)
}

/** A string its `format` (the common ones), `minLength` and `maxLength` allow. */
const stringOf = (build: Build, node: Node): string => {
  const format = typeof node["format"] === "string" ? formats[node["format"]] : undefined
  // a format's value as it is: padded or cut, it would no longer be one
  if (format !== undefined) return format
  const min = bound(node["minLength"]) ?? 0
  if (min > maxLength) throw new SchemaTooLarge()
  const max = bound(node["maxLength"])
  // lengths count code points, as JSON Schema's do
  const points = [...build.text].length
  let value = points >= min ? build.text : build.text + "x".repeat(min - points)
  if (max !== undefined && points > max) value = [...build.text].slice(0, Math.max(0, max)).join("")
  build.budget.chars += value.length
  if (build.budget.chars > maxChars) throw new SchemaTooLarge()
  return value
}

/** The most characters the strings of one answer hold in all. */
const maxChars = 1_000_000

/** The longest string a simulated answer holds. */
const maxLength = 10_000

const formats: Readonly<Record<string, string>> = {
  "date-time": "1970-01-01T00:00:00Z",
  date: "1970-01-01",
  time: "00:00:00Z",
  duration: "PT1S",
  email: "user@example.com",
  hostname: "example.com",
  uri: "https://example.com/",
  ipv4: "127.0.0.1",
  ipv6: "::1",
  uuid: "00000000-0000-4000-8000-000000000000"
}

/** Whether a number meets a schema's bounds (draft 4's boolean exclusive bounds too), `multipleOf` and integer type. */
const fits = (node: Node, value: number, integer: boolean): boolean => {
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) return false
  const minimum = bound(node["minimum"])
  const maximum = bound(node["maximum"])
  const exclusiveMin = node["exclusiveMinimum"] === true ? minimum : bound(node["exclusiveMinimum"])
  const exclusiveMax = node["exclusiveMaximum"] === true ? maximum : bound(node["exclusiveMaximum"])
  if (minimum !== undefined && value < minimum) return false
  if (maximum !== undefined && value > maximum) return false
  if (exclusiveMin !== undefined && value <= exclusiveMin) return false
  if (exclusiveMax !== undefined && value >= exclusiveMax) return false
  const multiple = bound(node["multipleOf"])
  // exactly a multiple in floating point, as validators check it (0.3 / 0.1 is not 3)
  return multiple === undefined || multiple <= 0 || Number.isInteger(value / multiple)
}

/** The least multiple of `multiple` that is a whole number (itself, past a thousand tries). */
const wholeMultiple = (multiple: number): number => {
  for (let q = 1; q <= 1_000; q++) {
    const candidate = Number((multiple * q).toPrecision(15))
    if (Number.isInteger(candidate)) return candidate
  }
  return multiple
}

/**
 * The number nearest 0 that a schema allows, among 0, each bound and its
 * neighbours, the multiples of `multipleOf` next to them, and the middle of
 * the bounds; 0 when none fits (bounds no number meets).
 */
const numberOf = (node: Node, integer: boolean): number => {
  const bounds = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].flatMap((key) => {
    const value = bound(node[key])
    return value === undefined ? [] : [value]
  })
  const points = [0, ...bounds]
  const lo = Math.max(...bounds.filter((b) => b === bound(node["minimum"]) || b === bound(node["exclusiveMinimum"])), -Infinity)
  const hi = Math.min(...bounds.filter((b) => b === bound(node["maximum"]) || b === bound(node["exclusiveMaximum"])), Infinity)
  if (Number.isFinite(lo) && Number.isFinite(hi)) points.push((lo + hi) / 2)
  const candidates: Array<number> = []
  const multiple = bound(node["multipleOf"])
  // for an integer, the least whole multiple (7 for 0.7, 5 for 2.5)
  const step = multiple === undefined || multiple <= 0 ? undefined : integer ? wholeMultiple(multiple) : multiple
  for (const point of points) {
    // past 2^53 a step of 1 is lost in rounding: a step of the number's own spacing
    const ulp = Math.max(1, Math.abs(point) * 2 ** -51)
    for (const near of [point, Math.ceil(point), Math.floor(point), point + 1, point - 1, point + 0.5, point - 0.5, point + ulp, point - ulp]) {
      candidates.push(near)
      if (step !== undefined) {
        for (let j = 0; j < 4; j++) candidates.push((Math.ceil(near / step) + j) * step, (Math.floor(near / step) - j) * step)
      }
    }
  }
  let best: number | undefined
  for (const candidate of candidates) {
    if (fits(node, candidate, integer) && (best === undefined || Math.abs(candidate) < Math.abs(best))) best = candidate
  }
  return best ?? 0
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
    case "string":
      return stringOf(build, node)
    case "integer":
    case "number":
      return numberOf(node, type === "integer")
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
