/**
 * Providers on a hosted API without a key. A config's provider sends the
 * `apiKey` it names and nothing else: unlike an adapter's `layerConfig`, it
 * reads no `OPENAI_API_KEY` when `apiKey` is left out (a local server wants
 * none). On OpenAI's, Anthropic's or Google's own API, every call would then
 * be a 401: worth a warning, not a problem (a proxy in front may add the key).
 *
 * @internal
 */
import * as Anthropic from "../../providers/Anthropic.js"
import * as Gemini from "../../providers/Gemini.js"
import * as OpenAi from "../../providers/OpenAi.js"
import type { RawProblem } from "./problems.js"
import { isCredentialHeader } from "./secret.js"
import { isRecord } from "./shape.js"

/** The hosts that want a key, and the variable it is usually in. */
const hosted: ReadonlyMap<string, string> = new Map([
  ["api.openai.com", "OPENAI_API_KEY"],
  ["api.anthropic.com", "ANTHROPIC_API_KEY"],
  ["generativelanguage.googleapis.com", "GEMINI_API_KEY"]
])

const defaultBaseUrls: Readonly<Record<string, string>> = {
  openai: OpenAi.defaultBaseUrl,
  anthropic: Anthropic.defaultBaseUrl,
  gemini: Gemini.defaultBaseUrl
}

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}

/** A query parameter that carries a key (`?key=`, Google's way). */
const keyParam = /key|token|auth/i

/**
 * A warning for each HTTP provider of a valid raw config with no `apiKey`
 * whose base URL (its own, else the adapter's default) is on a hosted API,
 * unless a credential is given another way: a header that carries one, or a
 * key in the base URL's query.
 *
 * @internal
 */
export const missingKeys = (raw: unknown): ReadonlyArray<RawProblem> => {
  const found: Array<RawProblem> = []
  const providers = isRecord(raw) ? raw["providers"] : undefined
  if (!isRecord(providers)) return found
  for (const [name, provider] of Object.entries(providers)) {
    if (!isRecord(provider) || provider["apiKey"] !== undefined) continue
    const type = provider["type"]
    const fallback = typeof type === "string" ? defaultBaseUrls[type] : undefined
    if (fallback === undefined) continue
    const baseUrl = typeof provider["baseUrl"] === "string" ? provider["baseUrl"] : fallback
    const host = hostOf(baseUrl)
    const variable = host === undefined ? undefined : hosted.get(host)
    if (variable === undefined) continue
    const headers = isRecord(provider["headers"]) ? Object.entries(provider["headers"]) : []
    if (headers.some(([header, value]) => isCredentialHeader(header, typeof value === "string" ? value : ""))) continue
    if ([...new URL(baseUrl).searchParams.keys()].some((param) => keyParam.test(param))) continue
    found.push({ path: ["providers", name], message: `no apiKey, and ${host} needs one (apiKey: "env:${variable}")` })
  }
  return found
}
