/**
 * Cross-origin requests (CORS): which web pages may call the gateway from a
 * browser, the answer to a browser's preflight, and the headers that let a
 * page read an answer.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { originProblem } from "../../config/internal/origin.js"
import { isNegative } from "../../resilience/internal/duration.js"
import * as Errors from "./errors.js"

/** The gateway's CORS settings, checked (see {@link make}). @internal */
export interface Cors {
  /** Every origin may call (`"*"` among the origins). */
  readonly anyOrigin: boolean
  /** The origins that may, lower-cased, as a browser sends them (`https://app.example.com`). */
  readonly origins: ReadonlySet<string>
  /** How long a browser may keep a preflight's answer, in whole seconds. */
  readonly maxAgeSeconds: number
}

/** What `Gateway.Options.cors` takes. @internal */
export interface Options {
  readonly origins: ReadonlyArray<string>
  readonly maxAge?: Duration.DurationInput
}

/** A browser keeps a preflight's answer for 10 minutes unless told otherwise (Chromium's cap is 2 hours). */
const defaultMaxAge = Duration.minutes(10)

/**
 * Whether `origin` is one a browser would send (see `originProblem`).
 *
 * @internal
 */
export const problem = originProblem

/** An origin as a browser sends it: lower-cased, without its scheme's default port (which a browser leaves out). */
const normalised = (origin: string): string => origin.toLowerCase().replace(/^(https:\/\/.+):443$|^(http:\/\/.+):80$/, "$1$2")

/**
 * Checks the settings; throws a `RangeError` naming the first bad origin or
 * duration (as `Gateway`'s other settings do: a defect at construction).
 *
 * @internal
 */
export const make = (options: Options): Cors => {
  for (const origin of options.origins) {
    const bad = problem(origin)
    if (bad !== undefined) throw new RangeError(`Gateway: cors.origins: ${bad}`)
  }
  const decoded = options.maxAge === undefined ? Option.some(defaultMaxAge) : Duration.decodeUnknown(options.maxAge)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || (options.maxAge !== undefined && isNegative(options.maxAge))) {
    throw new RangeError(`Gateway: cors.maxAge must be a finite duration of zero or more (e.g. "10 minutes"), got ${String(options.maxAge)}`)
  }
  const maxAge = decoded.value
  return {
    anyOrigin: options.origins.includes("*"),
    origins: new Set(options.origins.filter((o) => o !== "*").map(normalised)),
    maxAgeSeconds: Math.floor(Duration.toSeconds(maxAge))
  }
}

/** Whether a request's `Origin` may call. @internal */
export const allows = (cors: Cors, origin: string): boolean => cors.anyOrigin || cors.origins.has(origin.toLowerCase())

/**
 * The headers a page may read beyond the CORS-safelisted ones: the
 * request's id, what served it, and when to come back.
 */
const exposed = [
  "x-request-id",
  "x-llm-chain",
  "x-llm-target",
  "x-llm-provider",
  "x-llm-model",
  "x-llm-attempts",
  "x-llm-fallbacks",
  "x-llm-degraded",
  "retry-after"
].join(", ")

/**
 * The headers that let a page at `origin` read an answer. With `"*"`, on
 * every answer, a request with no `Origin` included, and no `Vary`; with a
 * list of origins, `Vary: Origin` on every answer (the allowed origin's
 * `Access-Control-Allow-Origin` too): an HTTP cache must not hand an answer
 * made for one page, or for none, to another (Fetch, "CORS protocol and
 * HTTP caches"). A request with no `Origin` or from an origin not allowed
 * gets no `Access-Control-Allow-Origin` (the browser then keeps the answer
 * from the page).
 *
 * @internal
 */
export const responseHeaders = (cors: Cors, origin: string | undefined): Record<string, string> => {
  if (cors.anyOrigin) return { "access-control-allow-origin": "*", "access-control-expose-headers": exposed }
  if (origin === undefined || !allows(cors, origin)) return { vary: "origin" }
  return { "access-control-allow-origin": origin, "access-control-expose-headers": exposed, vary: "origin" }
}

/**
 * A `Vary` that names `name` too: the answer's own, if any, kept (`*`
 * already names every header).
 *
 * @internal
 */
export const varyWith = (existing: string | undefined, name: string): string => {
  if (existing === undefined || existing.trim() === "") return name
  const names = existing.split(",").map((part) => part.trim().toLowerCase())
  return names.includes(name) || names.includes("*") ? existing : `${existing}, ${name}`
}

/** A header name as HTTP allows it (a token). */
const token = /^[!#$%&'*+.^`|~\w-]+$/

/**
 * Whether a request is a browser's preflight: `OPTIONS` with an `Origin`
 * and the method it asks about.
 *
 * @internal
 */
export const isPreflight = (method: string, header: (name: string) => string | undefined): boolean =>
  method === "OPTIONS" && header("origin") !== undefined && header("access-control-request-method") !== undefined

/**
 * Whether a preflight asks, for Private Network Access, that a public page
 * may call a server on a private or local address (Chrome's
 * `Access-Control-Request-Private-Network: true`; no other value asks).
 */
const asksPrivateNetwork = (header: (name: string) => string | undefined): boolean =>
  header("access-control-request-private-network")?.trim().toLowerCase() === "true"

/**
 * The answer to a preflight: 204 with what the page may send (`GET` and
 * `POST`, the headers it asked for, `Authorization` among them), or 403
 * when its origin may not call. A page that may call and asks for the
 * private network (Private Network Access: a public page calling a gateway
 * on a private or local address) is allowed it
 * (`Access-Control-Allow-Private-Network: true`); the answer varies on
 * that ask, as on the headers asked.
 *
 * @internal
 */
export const preflight = (
  cors: Cors,
  header: (name: string) => string | undefined
): HttpServerResponse.HttpServerResponse | Errors.Failure => {
  const origin = header("origin")!
  if (!allows(cors, origin)) return Errors.originNotAllowed(origin)
  const allowed = responseHeaders(cors, origin)
  const asked = (header("access-control-request-headers") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0 && name.length <= 100 && token.test(name))
    .slice(0, 64)
  const headers: Record<string, string> = {
    "access-control-allow-origin": allowed["access-control-allow-origin"]!,
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-max-age": String(cors.maxAgeSeconds),
    // an answer that differs by what the page asked must not be cached for another page or request
    vary: `${cors.anyOrigin ? "" : "origin, "}access-control-request-headers, access-control-request-private-network`
  }
  if (asked.length > 0) headers["access-control-allow-headers"] = asked.join(", ")
  if (asksPrivateNetwork(header)) headers["access-control-allow-private-network"] = "true"
  return HttpServerResponse.empty({ status: 204, headers })
}
