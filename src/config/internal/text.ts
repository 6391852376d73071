/**
 * From text to a raw value: YAML or JSON, with syntax errors located by line
 * and column, and a locator that finds where a path sits in the text (so a
 * schema problem can say its line too).
 *
 * @internal
 */
import { Either } from "effect"
import { isNode, LineCounter, parseDocument } from "yaml"
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
  /** Where the value at `path` starts, or its nearest ancestor that exists. */
  readonly locate: (path: ReadonlyArray<PropertyKey>) => Position | undefined
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

/**
 * Parses YAML or JSON. Syntax problems carry line and column and never
 * quote the source (a line of it may hold a secret). JSON must be strict
 * JSON; YAML is YAML 1.2 (JSON is a subset, so the locator reads both).
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
  if (document.errors.length > 0) {
    return Either.left(
      document.errors.map((error) => ({ path: "", message: firstLine(error.message), ...at(error.pos[0]) }))
    )
  }
  let value: unknown
  if (format === "json") {
    try {
      value = JSON.parse(text)
    } catch (error) {
      // V8's message may quote the source, so only its position is kept
      const match = jsonPosition.exec(String(error))
      const position = match === null ? {} : at(Number(match[1]))
      const message = "not valid JSON (the text reads as YAML: name the file .yaml, or fix the JSON)"
      return Either.left([{ path: "", message, ...position }])
    }
  } else {
    try {
      value = document.toJS({ maxAliasCount: 100 })
    } catch (error) {
      return Either.left([{ path: "", message: error instanceof Error ? error.message : "cannot read the document" }])
    }
  }
  const locate = (path: ReadonlyArray<PropertyKey>): Position | undefined => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = document.getIn(path.slice(0, depth) as Array<unknown>, true)
      if (isNode(node) && node.range !== undefined && node.range !== null) return at(node.range[0])
    }
    return undefined
  }
  return Either.right({ value, locate })
}

const firstLine = (message: string): string => message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")
