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
 * Every provider header whose name no HTTP request can carry, or that the
 * HTTP client sets itself; either would fail every call as a transport
 * error, counted against the provider as if it were down.
 *
 * @internal
 */
export const check = (raw: unknown): ReadonlyArray<RawProblem> => {
  if (!isRecord(raw) || !isRecord(raw["providers"])) return []
  const problems: Array<RawProblem> = []
  for (const [provider, options] of Object.entries(raw["providers"])) {
    if (!isRecord(options) || !isRecord(options["headers"])) continue
    for (const name of Object.keys(options["headers"])) {
      const message = problemOf(name)
      if (message !== undefined) problems.push({ path: ["providers", provider, "headers", name], message })
    }
  }
  return problems
}
