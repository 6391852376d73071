/**
 * From text to a raw value: YAML or JSON, with syntax errors located by line
 * and column, and a locator that finds where a path sits in the text (so a
 * schema problem can say its line too).
 *
 * @internal
 */
import { Either } from "effect"
import { isMap, isNode, isScalar, LineCounter, parseDocument } from "yaml"
import type { Problem } from "./problems.js"

/** @internal */
export type Format = "yaml" | "json"

/** A line and column, both from 1. @internal */
export interface Position {
  readonly line: number
  readonly column: number
}

/** @internal */
export interface Parsed {
  readonly value: unknown
  /**
   * Where the value at `path` starts, or its nearest ancestor that exists;
   * with `key`, where the key of that value is written (an unknown key is
   * there, not at its value, which may be lines below).
   */
  readonly locate: (path: ReadonlyArray<PropertyKey>, key?: boolean) => Position | undefined
}

/**
 * The format of a source: by extension (`.json`, `.yaml`, `.yml`), else by
 * content (a document starting with `{` is JSON), else YAML.
 *
 * @internal
 */
export const detectFormat = (text: string, source: string | undefined): Format => {
  const lower = source?.toLowerCase() ?? ""
  if (lower.endsWith(".json")) return "json"
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml"
  return text.trimStart().startsWith("{") ? "json" : "yaml"
}

/**
 * The value a broken document still yields, if any, so that secrets in it
 * can be scrubbed from syntax messages.
 *
 * @internal
 */
export const partialValue = (text: string): unknown => {
  try {
    return parseDocument(text, { prettyErrors: false }).toJS()
  } catch {
    return undefined
  }
}

const jsonPosition = /position (\d+)/
const jsonLineColumn = /\(line (\d+) column (\d+)\)/

/**
 * What `JSON.parse` said, without its position (given apart) and without
 * the source it may quote (a line of it may hold a secret): "Expected ','
 * or '}' after property value", "Unexpected token '/'".
 */
const jsonMessage = (error: unknown): string => {
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/, (?:\.\.\.)?".*$/s, "")
    .replace(/ \(line \d+ column \d+\)$/, "")
    .replace(/ in JSON at position \d+$/, "")
    .replace(/^Unexpected end of JSON input$/, "unexpected end of the text")
  return message.length === 0 || message.length > 80 || message.includes("\"") ? "a syntax error" : message
}

/**
 * Where a JSON text stops being JSON, for the errors V8 gives without a
 * position (a misspelt literal, a comment, a single-quoted string); or
 * `undefined` when this scan finds nothing wrong.
 */
const jsonErrorOffset = (text: string): number | undefined => {
  let i = 0
  const fail = (): never => {
    throw new JsonSyntax(i)
  }
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++
  }
  const expect = (ch: string) => (text[i] === ch ? i++ : fail())
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const string = () => {
    expect("\"")
    for (;;) {
      const ch = text[i]
      if (ch === undefined || ch < " ") fail()
      i++
      if (ch === "\"") return
      if (ch !== "\\") continue
      const escape = text[i]
      if (escape === "u") {
        i++
        for (let k = 0; k < 4; k++) if (/[0-9a-fA-F]/.test(text[i] ?? "")) i++; else fail()
      } else if (escape !== undefined && "\"\\/bfnrt".includes(escape)) i++
      else fail()
    }
  }
  const value = (): void => {
    space()
    const ch = text[i]
    if (ch === "{" || ch === "[") {
      const close = ch === "{" ? "}" : "]"
      i++
      space()
      if (text[i] === close) return void i++
      for (;;) {
        if (ch === "{") {
          space()
          string()
          space()
          expect(":")
        }
        value()
        space()
        if (text[i] === ",") i++
        else return void expect(close)
      }
    }
    if (ch === "\"") return string()
    for (const word of ["true", "false", "null"]) {
      if (ch === word[0]) {
        for (const letter of word) expect(letter)
        return
      }
    }
    number.lastIndex = i
    if (number.exec(text) === null) fail()
    i = number.lastIndex
  }
  try {
    value()
    space()
    return i < text.length ? i : undefined
  } catch (error) {
    return error instanceof JsonSyntax ? error.offset : undefined
  }
}

class JsonSyntax {
  constructor(readonly offset: number) {}
}

/**
 * Parses YAML or JSON. Syntax problems carry line and column and never
 * quote the source (a line of it may hold a secret). JSON must be strict
 * JSON, and its syntax error is `JSON.parse`'s (not what YAML makes of the
 * text); YAML is YAML 1.2 (JSON is a subset, so the locator reads both).
 *
 * @internal
 */
export const parseText = (text: string, format: Format): Either.Either<Parsed, ReadonlyArray<Problem>> => {
  const lines = new LineCounter()
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number): Position => {
    const { line, col } = lines.linePos(offset)
    return { line, column: col }
  }
  let value: unknown
  if (format === "json") {
    try {
      value = JSON.parse(text)
    } catch (error) {
      // JSON's own error, not YAML's reading of the text; V8's message may quote the source, so it is
      // cut before any quote and its position is given apart (Node 20 says an offset, later ones a line)
      const said = error instanceof Error ? error.message : String(error)
      const lineColumn = jsonLineColumn.exec(said)
      const offset = jsonPosition.exec(said)
      const end = /^Unexpected end of JSON input$/.test(said) ? text.length : undefined
      const scanned = lineColumn === null && offset === null && end === undefined ? jsonErrorOffset(text) : undefined
      const position = lineColumn !== null
        ? { line: Number(lineColumn[1]), column: Number(lineColumn[2]) }
        : offset !== null
        ? at(Number(offset[1]))
        : end !== undefined
        ? at(end)
        : scanned !== undefined
        ? at(scanned)
        : {}
      const hint = document.errors.length === 0 ? " (the text reads as YAML: name the file .yaml, or fix the JSON)" : ""
      return Either.left([{ path: "", message: `not valid JSON: ${jsonMessage(error)}${hint}`, ...position }])
    }
  }
  if (document.errors.length > 0) {
    return Either.left(
      document.errors.map((error) => ({ path: "", message: firstLine(error.message), ...at(error.pos[0]) }))
    )
  }
  if (format === "yaml") {
    try {
      value = document.toJS({ maxAliasCount: 100 })
    } catch (error) {
      return Either.left([{ path: "", message: error instanceof Error ? error.message : "cannot read the document" }])
    }
  }
  /** Where the key of the value at `path` is written, if it is a mapping's. */
  const locateKey = (path: ReadonlyArray<PropertyKey>): Position | undefined => {
    const last = path.at(-1)
    if (last === undefined || typeof last === "symbol") return undefined
    const parent = path.length === 1 ? document.contents : document.getIn(path.slice(0, -1) as Array<unknown>, true)
    if (!isMap(parent)) return undefined
    // a key as the value reads it: YAML's `8080:` is the key "8080"
    const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(last))
    const range = isNode(pair?.key) ? pair.key.range : undefined
    return range === undefined || range === null ? undefined : at(range[0])
  }
  const locate = (path: ReadonlyArray<PropertyKey>, key = false): Position | undefined => {
    const written = key ? locateKey(path) : undefined
    if (written !== undefined) return written
    for (let depth = path.length; depth >= 0; depth--) {
      const node = document.getIn(path.slice(0, depth) as Array<unknown>, true)
      if (isNode(node) && node.range !== undefined && node.range !== null) return at(node.range[0])
    }
    return undefined
  }
  return Either.right({ value, locate })
}

const firstLine = (message: string): string => message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")
