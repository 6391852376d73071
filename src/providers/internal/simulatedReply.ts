/**
 * The text a simulated model answers with, cut into stream tokens.
 *
 * @internal
 */
import { FastCheck } from "effect"
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

/**
 * A string its `format` (the common ones), `minLength`, `maxLength` and
 * `pattern` allow; `variant` makes another one (for `uniqueItems`).
 */
const stringOf = (build: Build, node: Node, variant: number): string => {
  const value = plainString(build, node, variant)
  const pattern = patternOf(node)
  const fitted = pattern === undefined || pattern.test(value) ? value : matching(pattern, node, variant) ?? value
  build.budget.chars += fitted.length
  if (build.budget.chars > maxChars) throw new SchemaTooLarge()
  return fitted
}

/** The string of `stringOf` before its `pattern`: the format's value, or the text padded or cut to its lengths. */
const plainString = (build: Build, node: Node, variant: number): string => {
  const format = typeof node["format"] === "string" && Object.hasOwn(formats, node["format"]) ? formats[node["format"]] : undefined
  // a format's value as it is: padded or cut, it would no longer be one
  if (format !== undefined) return format(variant)
  const min = bound(node["minLength"]) ?? 0
  if (min > maxLength) throw new SchemaTooLarge()
  const max = bound(node["maxLength"])
  // lengths count code points, as JSON Schema's do; another variant ends in its number
  const text = [...build.text]
  const suffix = variant === 0 ? [] : [...` ${variant}`]
  let points = [...text, ...suffix]
  if (max !== undefined && points.length > max) {
    points = suffix.length <= max ? [...text.slice(0, max - suffix.length), ...suffix] : points.slice(0, max)
  }
  return points.length >= min ? points.join("") : points.join("") + "x".repeat(min - points.length)
}

/**
 * A schema's `pattern` as a regular expression: ECMA-262's with Unicode, else
 * without (`[\\w-]` is an error in Unicode mode); none when it has none or it
 * compiles neither way.
 */
const patternOf = (node: Node): RegExp | undefined => {
  const source = node["pattern"]
  if (typeof source !== "string") return undefined
  for (const flags of ["u", ""]) {
    try {
      return new RegExp(source, flags)
    } catch {
      // the next flags, else none
    }
  }
  return undefined
}

/** How many strings of a pattern `matching` tries for one that also fits the lengths. */
const patternTries = 20

/**
 * A string that `pattern` matches within the node's lengths, drawn by
 * fast-check's `stringMatching` with the variant as its seed (the same on
 * every run); none when the pattern has what it cannot build (lookaround,
 * back-references, Unicode properties) or no draw fits.
 */
const matching = (pattern: RegExp, node: Node, variant: number): string | undefined => {
  const min = bound(node["minLength"]) ?? 0
  const max = bound(node["maxLength"]) ?? Infinity
  try {
    const draws = FastCheck.sample(FastCheck.stringMatching(pattern, { size: "xsmall" }), { seed: variant, numRuns: patternTries })
    return draws.find((draw) => {
      const points = [...draw].length
      return points >= min && points <= max && pattern.test(draw)
    })
  } catch {
    return undefined
  }
}

/** The most characters the strings of one answer hold in all. */
const maxChars = 1_000_000

/** The longest string a simulated answer holds. */
const maxLength = 10_000

const twoDigits = (n: number) => String(n).padStart(2, "0")

/** The common formats: a value of each, another for each variant (the first as it always was). */
const formats: Readonly<Record<string, (variant: number) => string>> = {
  "date-time": (v) => new Date(v * 1_000).toISOString().replace(".000", ""),
  date: (v) => new Date(v * 86_400_000).toISOString().slice(0, 10),
  time: (v) => `${twoDigits(Math.floor(v / 3_600) % 24)}:${twoDigits(Math.floor(v / 60) % 60)}:${twoDigits(v % 60)}Z`,
  duration: (v) => `PT${v + 1}S`,
  email: (v) => (v === 0 ? "user@example.com" : `user${v}@example.com`),
  hostname: (v) => (v === 0 ? "example.com" : `host${v}.example.com`),
  uri: (v) => (v === 0 ? "https://example.com/" : `https://example.com/${v}`),
  ipv4: (v) => (v === 0 ? "127.0.0.1" : `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`),
  ipv6: (v) => `::${(v + 1).toString(16)}`,
  uuid: (v) => `00000000-0000-4000-8000-${v.toString(16).padStart(12, "0")}`
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
 * the bounds; 0 when none fits (bounds no number meets). A `variant` above 0
 * takes the next nearest, then steps on past them, else between the least
 * two (for `uniqueItems`).
 */
const numberOf = (node: Node, integer: boolean, variant: number): number => {
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
  // nearest 0 first; of two as near, the one found first
  const fitting = [...new Set(candidates.filter((candidate) => fits(node, candidate, integer)))].sort((a, b) => Math.abs(a) - Math.abs(b))
  if (fitting.length === 0) return 0
  if (variant < fitting.length) return fitting[variant]!
  // past them: as many steps beyond the greatest, else below the least, as the variant is past them
  const beyond = variant - fitting.length + 1
  const least = Math.min(...fitting)
  const above = Math.min(...fitting.filter((value) => value > least))
  // a bounded range: a fraction of the way from the least to the next (0.25, then 0.1666…, in [0, 1])
  const between = least + (above - least) / (beyond + 1)
  for (const candidate of [Math.max(...fitting) + beyond * (step ?? 1), least - beyond * (step ?? 1), between]) {
    if (fits(node, candidate, integer)) return candidate
  }
  return fitting[fitting.length - 1]!
}

/**
 * A value of a JSON Schema, built plainly: its `const`, first `enum` value
 * or `default` when it has one, a branch of `anyOf` / `oneOf` (the `null`
 * one past a few levels, so recursion ends), else one of its `type` (the
 * first that is not `"null"`): an object of its required properties (of
 * every property when none is required, near the top), an array of its
 * `prefixItems` (or a tuple's `items`) and then `minItems` items (at least
 * one near the top, if `items` and `maxItems` allow), `text` for a string
 * (cut to `maxLength`, or one its `pattern` matches), the least number its
 * bounds allow, `false`, `null`. `$ref` and `allOf` are folded into the node
 * first. A schema of no type gets `text`.
 *
 * A `variant` above 0 asks for another value of the same schema, for the
 * items of an array with `uniqueItems`: the next `enum` value, `true`, the
 * next number, the text with the variant's number, another string of the
 * pattern or the format; an object or array varies its first member.
 */
const instance = (build: Build, schema: unknown, depth: number, variant = 0): unknown => {
  if (++build.budget.nodes > maxNodes) throw new SchemaTooLarge()
  if (!isNode(schema) || depth > maxDepth) return schema === false ? null : textOf(build, variant)
  const node = flatten(build, schema, depth)
  const shallow = depth < shallowDepth
  if (Object.hasOwn(node, "const")) return node["const"]
  if (Array.isArray(node["enum"]) && node["enum"].length > 0) return node["enum"][variant % node["enum"].length]
  if (Object.hasOwn(node, "default") && variant === 0) return node["default"]
  for (const key of ["anyOf", "oneOf"]) {
    const branches = node[key]
    if (Array.isArray(branches) && branches.length > 0) {
      const ending = shallow ? undefined : branches.find((b) => isNode(b) && b["type"] === "null")
      return instance(build, ending ?? branches[0], depth + 1, variant)
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
      keys.forEach((key, i) =>
        set(out, key, instance(build, Object.hasOwn(properties, key) ? properties[key] : {}, depth + 1, i === 0 ? variant : 0))
      )
      return out
    }
    case "array":
      return arrayOf(build, node, depth, variant)
    case "string":
      return stringOf(build, node, variant)
    case "integer":
    case "number":
      return numberOf(node, type === "integer", variant)
    case "boolean":
      return variant % 2 === 1
    case "null":
      return null
    default:
      return textOf(build, variant)
  }
}

/** The text, or for a variant above 0 the text and the variant's number. */
const textOf = (build: Build, variant: number): string => (variant === 0 ? build.text : `${build.text} ${variant}`)

/** How many more variants an item of `uniqueItems` tries when its value is an earlier item's. */
const uniqueTries = 4

/**
 * An array of `instance`'s: its `prefixItems` (or a tuple's `items`), then
 * `minItems` items. With `uniqueItems` each item is another variant, and one
 * equal to an earlier item tries `uniqueTries` more; a schema with fewer
 * values than items (a `const`, a two-value `enum`) still repeats.
 */
const arrayOf = (build: Build, node: Node, depth: number, variant: number): Array<unknown> => {
  // a tuple: draft 2020-12's `prefixItems`, or draft 7's `items` as a list
  const prefix = Array.isArray(node["prefixItems"]) ? node["prefixItems"] : Array.isArray(node["items"]) ? node["items"] : []
  const rest = Array.isArray(node["items"]) ? node["additionalItems"] : node["items"]
  const least = bound(node["minItems"]) ?? 0
  if (least > maxItems) throw new SchemaTooLarge()
  const wanted = rest === false ? prefix.length : Math.max(least, depth < shallowDepth ? 1 : 0, prefix.length)
  const count = Math.min(wanted, bound(node["maxItems"]) ?? Infinity)
  const unique = node["uniqueItems"] === true
  const items: Array<unknown> = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const schema = i < prefix.length ? prefix[i] : rest
    if (!unique) {
      items.push(instance(build, schema, depth + 1, i === 0 ? variant : 0))
      continue
    }
    let item = instance(build, schema, depth + 1, variant + i)
    for (let retry = 1; retry <= uniqueTries && seen.has(JSON.stringify(item)); retry++) {
      item = instance(build, schema, depth + 1, variant + i + retry * count)
    }
    seen.add(JSON.stringify(item))
    items.push(item)
  }
  return items
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
