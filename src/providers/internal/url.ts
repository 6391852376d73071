/**
 * A base URL's parts that must not show: the user and password it may hold
 * (`https://user:pw@host/v1`) and its query, where some deployments put a
 * key (Azure's `?api-key=`, Gemini's `?key=`, a proxy's `?token=`). The
 * query is sent with every call; what is shown of a URL (a span's
 * `url.full` and `url.query`) keeps the names of its params, not their
 * values, and the values that may be keys are scrubbed from errors.
 *
 * @internal
 */
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Tracer from "effect/Tracer"

/**
 * A base URL taken apart: its prefix (no user, password, query, hash or
 * trailing slash), the params of its query, in order, and the values of it
 * to scrub from what the upstream says.
 *
 * @internal
 */
export interface BaseUrl {
  readonly prefix: string
  readonly params: UrlParams.UrlParams
  readonly secrets: ReadonlyArray<string>
}

/** A query param whose name says it carries a credential (`key`, `api-key`, `token`, `sig`, `code`, ...). */
const credentialParam = /auth|key|token|secret|password|credential|sig|code/i

/** The shortest value of a param without a credential's name that is scrubbed (as for a header). */
const minScrubbedLength = 8

/**
 * A version or a date (Azure's `api-version=2024-10-21-preview`, `v=1.2.3`):
 * no key, and an upstream message may name it. Short groups of digits and a
 * short word after them only: a long number, digits in groups of a card's
 * or a key's length, or a long word after them may be a key.
 */
const versionLike = /^(?:v?\d{1,4}(?:\.\d{1,4}){0,3}|\d{4}-\d{2}-\d{2})(?:-[a-z]{1,12})?$/i

/** Whether a param's value may be a key: under a credential's name, or long enough and no version or date. */
const mayBeKey = (name: string, value: string): boolean =>
  value.length > 0 &&
  (credentialParam.test(name) || (value.length >= minScrubbedLength && !versionLike.test(value)))

/**
 * Takes a base URL apart (see {@link BaseUrl}); one that does not parse is
 * its own prefix (the client's pipeline fails its calls with `InvalidUrl`).
 *
 * @example
 * const base = parseBaseUrl("https://u:pw@llm.example.com/v1/?api-key=sk-1")
 * // { prefix: "https://llm.example.com/v1", params: [["api-key", "sk-1"]], secrets: ["pw", "sk-1"] }
 *
 * @internal
 */
export const parseBaseUrl = (baseUrl: string): BaseUrl => {
  if (!URL.canParse(baseUrl)) return { prefix: baseUrl.replace(/\/+$/, ""), params: [], secrets: [] }
  const url = new URL(baseUrl)
  const secrets: Array<string> = []
  if (url.password !== "") secrets.push(decoded(url.password))
  const params: Array<readonly [string, string]> = []
  for (const [name, value] of url.searchParams) {
    params.push([name, value])
    if (mayBeKey(name, value)) secrets.push(value)
  }
  url.username = ""
  url.password = ""
  url.search = ""
  url.hash = ""
  return { prefix: url.toString().replace(/\/+$/, ""), params, secrets }
}

/** A URL's percent-encoded part as written, or as is when it does not decode. */
const decoded = (part: string): string => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/**
 * A query as it may be shown: every param's value `<redacted>`, its name
 * kept (`key=<redacted>&alt=<redacted>`, form-encoded as a URL's query is).
 *
 * @internal
 */
export const shownQuery = (query: string): string => {
  const params = new URLSearchParams(query)
  const out = new URLSearchParams()
  for (const name of params.keys()) out.append(name, "<redacted>")
  return out.toString()
}

/**
 * A URL as it may be shown: without its user and password, every query
 * value `<redacted>`. What does not parse as a URL is shown as `<url>`.
 *
 * @example
 * shownUrl("https://u:pw@h.example.com/v1/chat?key=sk-1&alt=sse")
 * // "https://h.example.com/v1/chat?key=%3Credacted%3E&alt=%3Credacted%3E"
 *
 * @internal
 */
export const shownUrl = (input: string | URL): string => {
  const text = String(input)
  if (!URL.canParse(text)) return "<url>"
  const url = new URL(text)
  url.username = ""
  url.password = ""
  if (url.search !== "") url.search = shownQuery(url.search)
  return url.toString()
}

/** A span attribute as it may be shown: a URL's (`url.full`, `url.query`) without its secrets. */
const shownAttribute = (key: string, value: unknown): unknown =>
  key === "url.full" && typeof value === "string"
    ? shownUrl(value)
    : key === "url.query" && typeof value === "string"
    ? shownQuery(value)
    : value

const shownAttributes = (attributes: Record<string, unknown> | undefined): Record<string, unknown> | undefined => {
  if (attributes === undefined) return undefined
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(attributes)) out[key] = shownAttribute(key, value)
  return out
}

/**
 * `tracer`, its spans' URL attributes (`url.full`, `url.query`, set when
 * the span is made or later) shown by {@link shownUrl}: for the HTTP
 * client's span of a call whose URL holds a query.
 *
 * @internal
 */
export const shownUrlTracer = (tracer: Tracer.Tracer): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const attributes = shownAttributes(options?.attributes)
      const shown = options === undefined || attributes === undefined ? options : { ...options, attributes }
      const span = tracer.span(name, parent, context, links, startTime, kind, shown)
      const attribute = span.attribute.bind(span)
      span.attribute = (key, value) => attribute(key, shownAttribute(key, value))
      return span
    },
    context: tracer.context
  })
