/**
 * The names of providers' headers, checked on the raw file: a key's own
 * schema would report a bad one as an "unknown key", and a filter over the
 * whole mapping only once every value decoded, so a bad name and a bad
 * value would take two runs to see.
 *
 * @internal
 */
import type { RawProblem } from "./problems.js"
import { isRecord } from "./shape.js"

/** HTTP's header names are tokens. */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The headers the HTTP client sets itself, from the request it sends. */
const clientSet = new Set(["host", "content-length", "transfer-encoding", "connection"])

/** What is wrong with a header's name, if anything. */
const problemOf = (name: string): string | undefined =>
  !token.test(name)
    ? "a header's name is letters, digits and !#$%&'*+.^_`|~- only"
    : clientSet.has(name.toLowerCase())
    ? `${name} is set by the HTTP client, not by the config`
    : undefined

/**
 * Every provider (or webhook) header whose name no HTTP request can carry,
 * or that the HTTP client sets itself; either would fail every call as a
 * transport error, counted against the provider as if it were down.
 *
 * @internal
 */
export const check = (raw: unknown): ReadonlyArray<RawProblem> => {
  if (!isRecord(raw)) return []
  const problems: Array<RawProblem> = []
  const names = (headers: unknown, path: ReadonlyArray<string>) => {
    if (!isRecord(headers)) return
    for (const name of Object.keys(headers)) {
      const message = problemOf(name)
      if (message !== undefined) problems.push({ path: [...path, name], message })
    }
  }
  if (isRecord(raw["providers"])) {
    for (const [provider, options] of Object.entries(raw["providers"])) {
      if (isRecord(options)) names(options["headers"], ["providers", provider, "headers"])
    }
  }
  const alerts = raw["alerts"]
  if (isRecord(alerts) && isRecord(alerts["webhook"])) names(alerts["webhook"]["headers"], ["alerts", "webhook", "headers"])
  return problems
}
