/**
 * Problems: one mistake in a config, at its path (`chains.default[1]`),
 * with its line and column when the text is known. Schema issues and
 * cross-reference checks both end up here, scrubbed of secrets, in the
 * order they appear in the file.
 *
 * @internal
 */
import { ParseResult, Schema } from "effect"
import { closest } from "../../llm/internal/names.js"
import { looksLikeCredential, scrub } from "./secret.js"
import type { Position } from "./text.js"

/**
 * One problem of a config file.
 *
 * @internal
 */
export const Problem = Schema.Struct({
  /** Where, as `models.mini.price.input` or `chains.default[1]`; empty for the whole document. */
  path: Schema.String,
  /** What is wrong; never holds a secret. */
  message: Schema.String,
  /** The line in the file, from 1, when known. */
  line: Schema.optionalWith(Schema.Int, { exact: true }),
  /** The column in the file, from 1, when known. */
  column: Schema.optionalWith(Schema.Int, { exact: true })
})

/** @internal */
export interface Problem extends Schema.Schema.Type<typeof Problem> {}

/** A problem before it is formatted: its path as keys. @internal */
export interface RawProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  /** Whether the problem is the key at `path` itself (an unknown key), located where the key is written. */
  readonly atKey?: boolean
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$-]*$/

/**
 * A path as a config writer reads it: `models.mini.price`, `chains.default[1]`,
 * `models["gpt-4.1"]`.
 *
 * @internal
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path
    .map((key, i) => {
      if (typeof key === "number") return `[${key}]`
      const name = String(key)
      if (!identifier.test(name)) return `[${JSON.stringify(name)}]`
      return i === 0 ? name : `.${name}`
    })
    .join("")

const unexpected = /^is unexpected, expected: (.*)$/

/**
 * Rewrites Schema's stock phrases into the words of a config file; an
 * unknown key close to a known one (`apikey`, `baseUrk`) names it first.
 */
const reword = (issue: ParseResult.ArrayFormatterIssue): string => {
  if (issue._tag === "Missing") return "is required"
  if (issue._tag === "Unexpected") {
    const expected = unexpected.exec(issue.message)?.[1]
    const known = expected === undefined ? [] : expected.split(" | ").map((key) => key.replace(/^"|"$/g, ""))
    const key = issue.path.at(-1)
    const meant = typeof key === "string" ? closest(key, known) : undefined
    const guess = meant === undefined ? "" : `did you mean "${meant}"? `
    return known.length === 0 ? "unknown key" : `unknown key (${guess}expected one of: ${known.join(", ")})`
  }
  return issue.message
}

/**
 * The problems of a failed decode, one per issue.
 *
 * @internal
 */
export const fromIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): ReadonlyArray<RawProblem> =>
  issues.map((issue) => ({ path: issue.path, message: reword(issue), ...(issue._tag === "Unexpected" ? { atKey: true } : {}) }))

const expectedActual = /^Expected (.+), actual (.+)$/s

/**
 * Merges the "Expected X, actual Y" problems at one path that name the same
 * actual value (a union of literals reports one per literal) into one:
 * `Expected "a" | "b", actual "c"`.
 */
const mergeAlternatives = (found: ReadonlyArray<RawProblem>): ReadonlyArray<RawProblem> => {
  const merged: Array<RawProblem> = []
  const slots = new Map<string, { readonly index: number; readonly expected: Array<string>; readonly actual: string }>()
  for (const problem of found) {
    const match = expectedActual.exec(problem.message)
    if (match === null) {
      merged.push(problem)
      continue
    }
    const [, expected, actual] = match as unknown as [string, string, string]
    const key = `${formatPath(problem.path)}\u0000${actual}`
    const slot = slots.get(key)
    if (slot === undefined) {
      slots.set(key, { index: merged.length, expected: [expected], actual })
      merged.push(problem)
    } else if (!slot.expected.includes(expected)) {
      slot.expected.push(expected)
      merged[slot.index] = { path: problem.path, message: `Expected ${slot.expected.join(" | ")}, actual ${actual}` }
    }
  }
  return merged
}

const isPrefix = (prefix: ReadonlyArray<PropertyKey>, path: ReadonlyArray<PropertyKey>): boolean =>
  prefix.length < path.length && prefix.every((key, i) => key === path[i])

/**
 * Drops what a union's other alternatives say: an "Expected X, actual Y" at a
 * path that also has problems deeper down. Those come from the alternative
 * the value was meant for (a chain given as `{ targets, race: 0 }` is not the
 * list form either, and that is no news). A value that fits no alternative
 * has no deeper problems and keeps its message.
 *
 * @internal
 */
export const dropOtherAlternatives = (found: ReadonlyArray<RawProblem>): ReadonlyArray<RawProblem> =>
  found.filter(
    (problem) => !expectedActual.test(problem.message) || !found.some((other) => isPrefix(problem.path, other.path))
  )

const maxMessage = 300

/**
 * A problem's path as shown: an unknown key shaped like a credential (a key
 * pasted where a field's name goes) is not quoted (see `looksLikeCredential`).
 */
const shownPath = (problem: RawProblem): ReadonlyArray<PropertyKey> => {
  const last = problem.path.at(-1)
  return problem.message.startsWith("unknown key") && typeof last === "string" && looksLikeCredential(last)
    ? [...problem.path.slice(0, -1), "<redacted>"]
    : problem.path
}

/**
 * Finishes problems: scrubs secrets out of every path and message (then shortens it),
 * adds lines and columns, drops duplicates, and sorts them by their place in
 * the file (the located ones first, in order; the rest as they came).
 *
 * @internal
 */
export const finish = (
  problems: ReadonlyArray<RawProblem>,
  secrets: ReadonlyArray<string>,
  locate: (path: ReadonlyArray<PropertyKey>, key?: boolean) => Position | undefined
): ReadonlyArray<Problem> => {
  const seen = new Set<string>()
  const out: Array<Problem & { readonly order: number }> = []
  mergeAlternatives(problems).forEach((problem, order) => {
    const path = scrub(formatPath(shownPath(problem)), secrets)
    const scrubbed = scrub(problem.message, secrets)
    const message = scrubbed.length > maxMessage ? `${scrubbed.slice(0, maxMessage - 3)}...` : scrubbed
    const key = `${path}\u0000${message}`
    if (seen.has(key)) return
    seen.add(key)
    const position = locate(problem.path, problem.atKey === true)
    out.push({ path, message, ...(position === undefined ? {} : position), order })
  })
  return out
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0) || a.order - b.order)
    .map(({ order: _, ...problem }) => problem)
}

/**
 * A problem as one line: `path: message (line 3, column 5)`.
 *
 * @internal
 */
export const formatProblem = (problem: Problem): string => {
  const where =
    problem.line === undefined
      ? ""
      : problem.column === undefined
      ? `line ${problem.line}`
      : `line ${problem.line}, column ${problem.column}`
  if (problem.path === "") return where === "" ? problem.message : `${where}: ${problem.message}`
  return where === "" ? `${problem.path}: ${problem.message}` : `${problem.path}: ${problem.message} (${where})`
}
