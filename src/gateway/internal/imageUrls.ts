/**
 * The image URLs a request may send upstream. A provider fetches an image
 * URL itself, and a server behind the gateway (vLLM, llama.cpp, a
 * provider's proxy) fetches it from its own network: a client's
 * `file:///etc/passwd` or `http://169.254.169.254/` would have it read its
 * files or its cloud's metadata. Only `http:`, `https:` and `data:` URLs
 * go, and, unless the operator allows them (`allowPrivateImageUrls`), no
 * URL whose host is a literal loopback, private, link-local or unspecified
 * address, or `localhost`. A name that resolves to such an address is not
 * caught: the gateway resolves no names (the fetcher would resolve it
 * again, to whatever it likes).
 *
 * An image sent inline (a `data:` URL, Claude's `base64` source, Gemini's
 * `inlineData`) is checked where it is read, at its field (`dataUrlProblem`,
 * `base64Problem`, `imageTypeProblem`): what no provider takes is refused
 * there, before a chain spends its attempts on it. No provider takes a
 * media type that is no image's, nor data that is not base64 (OpenAI: "Expected
 * a base64-encoded data URL with an image MIME type", "empty base64-encoded
 * bytes"; vLLM takes only base64 data URLs; the Claude and Gemini adapters
 * send a URL that is not one as a URL, which both refuse). Which image types
 * a provider takes differs (Claude: JPEG, PNG, GIF, WebP; OpenAI: PNG,
 * JPEG, WebP, GIF; Gemini: PNG, JPEG, WebP, HEIC, HEIF; a local server,
 * whatever its image library reads), and the gateway does not know which
 * provider answers: any `image/` type goes, and the Claude adapter sends
 * the type the bytes say where they say one (`providers/internal/images.ts`).
 *
 * @internal
 */
import { BlockList, isIPv4, isIPv6 } from "node:net"
import type { ChatRequest } from "../../llm/Chat.js"
import * as Errors from "./errors.js"

/**
 * The addresses refused: unspecified, loopback, private (RFC 1918, fc00::/7,
 * CGNAT, benchmarking), link-local and site-local, multicast and reserved,
 * and IPv6 ones that carry an IPv4 address (IPv4-compatible, NAT64, 6to4).
 */
const privateAddresses = (() => {
  const list = new BlockList()
  for (const [address, prefix] of [
    ["0.0.0.0", 8],
    ["127.0.0.0", 8],
    ["10.0.0.0", 8],
    ["172.16.0.0", 12],
    ["192.168.0.0", 16],
    ["169.254.0.0", 16],
    ["100.64.0.0", 10],
    ["198.18.0.0", 15],
    ["192.0.0.0", 24],
    ["224.0.0.0", 4],
    ["240.0.0.0", 4]
  ] as const) list.addSubnet(address, prefix, "ipv4")
  for (const [address, prefix] of [
    // unspecified, loopback and the IPv4-compatible ones (::127.0.0.1)
    ["::", 96],
    ["fc00::", 7],
    ["fe80::", 10],
    ["fec0::", 10],
    ["ff00::", 8],
    // IPv4-translated (SIIT) and Teredo ones carry an IPv4 address too
    ["::ffff:0:0:0", 96],
    ["2001::", 32],
    // addresses that carry an IPv4 one to a gateway that reaches it: NAT64 (an IPv6-only cluster's way to
    // 169.254.169.254) and 6to4, refused whole, as a literal address of theirs in an image URL is no public image's
    ["64:ff9b::", 96],
    ["64:ff9b:1::", 48],
    ["2002::", 16]
  ] as const) list.addSubnet(address, prefix, "ipv6")
  return list
})()

/** Cloud metadata services known by name (a name no image is at). */
const metadataHosts = new Set(["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"])

// ---------------------------------------------------------------------------
// Inline images
// ---------------------------------------------------------------------------

/** Whether a character code is of base64's standard alphabet (`A-Z`, `a-z`, `0-9`, `+`, `/`). */
const standardChar = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47

/** `-` and `_`: the URL-safe alphabet's for `+` and `/`. */
const urlSafeChar = (c: number): boolean => c === 45 || c === 95

const equals = 61

/**
 * Why base64 text (from `from` on) is not what every provider decodes, or
 * `undefined` when it is: empty, a character outside base64's alphabet
 * (whitespace too), `=` before its end or more than two of them, or a
 * length not padded to a multiple of 4 (the standard's, RFC 4648, which
 * OpenAI's and Anthropic's decoders and a data URL's follow).
 * `lenient` (Gemini's bytes: protobuf's JSON takes either alphabet, with or
 * without padding) takes the URL-safe alphabet (`-`, `_`; not mixed with
 * `+` and `/`) and a missing padding too, for `standardBase64` to mend.
 * One pass over the characters, no copy: data may be megabytes. Names no
 * character of the client's, only a place.
 *
 * @example
 * base64Problem("iVBORw0KGgo=", false) // undefined
 * base64Problem("iVBORw0KGgo", false) // "is not padded to a multiple of 4 characters"
 * base64Problem("iVBORw0KGgo", true) // undefined
 *
 * @internal
 */
export const base64Problem = (data: string, lenient: boolean, from = 0): string | undefined => {
  let end = data.length
  while (end > from && data.charCodeAt(end - 1) === equals) end--
  const padding = data.length - end
  if (end === from) return "is empty"
  if (padding > 2) return "has more than two '=' at its end"
  let standard = false
  let urlSafe = false
  for (let i = from; i < end; i++) {
    const c = data.charCodeAt(i)
    if (standardChar(c)) {
      if (c === 43 || c === 47) standard = true
      continue
    }
    if (lenient && urlSafeChar(c)) {
      urlSafe = true
      continue
    }
    return c === equals
      ? `has '=' before its end (at character ${i - from})`
      : `has a character outside base64's alphabet (at character ${i - from})`
  }
  if (standard && urlSafe) return "mixes base64's two alphabets ('+' and '/' with '-' and '_')"
  const length = data.length - from
  if (!lenient || padding > 0) return length % 4 === 0 ? undefined : "is not padded to a multiple of 4 characters"
  return length % 4 === 1 ? "has a length no base64 has (one past a multiple of 4)" : undefined
}

/**
 * Base64 that `base64Problem` took leniently, in the standard alphabet and
 * padded, as every provider takes it: the same string when it is so
 * already (no copy for the usual case).
 *
 * @example
 * standardBase64("_9j_4AAQSkZJRvs") // "/9j/4AAQSkZJRvs="
 *
 * @internal
 */
export const standardBase64 = (data: string): string => {
  const missing = (4 - (data.length % 4)) % 4
  if (missing === 0 && !/[-_]/.test(data)) return data
  return data.replace(/[-_]/g, (c) => (c === "-" ? "+" : "/")) + "=".repeat(missing)
}

/**
 * Why a media type is not an image's (`image/` and a subtype of letters,
 * digits, `.`, `+`, `-`, `_`; either case), or `undefined`.
 *
 * @example
 * imageTypeProblem("image/png") // undefined
 * imageTypeProblem("text/plain") // "is not an image's media type (such as 'image/png')"
 *
 * @internal
 */
export const imageTypeProblem = (mediaType: string): string | undefined =>
  /^image\/[\w.+-]+$/i.test(mediaType) ? undefined : "is not an image's media type (such as 'image/png')"

/** A data URL's head: its media type and parameters, ending `;base64`. */
const dataHead = /^data:([^;,]*)((?:;[^;,]*)*)$/i

/** The longest head (`data:` to the comma) a data URL may have: a type and a few parameters. */
const maxHead = 256

/**
 * Why a `data:` URL may not go upstream, or `undefined` when it may (and
 * for a URL of another scheme, which is `problemOf`'s): it must be an
 * image's base64, `data:<image type>[;<parameter>]*;base64,<data>`, its
 * data as `base64Problem` (strict) takes it. One pass over the data.
 *
 * @example
 * dataUrlProblem("data:image/png;base64,iVBORw0KGgo=") // undefined
 * dataUrlProblem("data:text/plain;base64,aGk=") // "has a media type that is not an image's (such as 'image/png')"
 *
 * @internal
 */
export const dataUrlProblem = (url: string): string | undefined => {
  if (!/^data:/i.test(url)) return undefined
  const shape = "is not an image's base64 ('data:image/png;base64,...')"
  const comma = url.indexOf(",", 5)
  if (comma < 0 || comma > maxHead) return shape
  const head = dataHead.exec(url.slice(0, comma))
  // ";base64" as the adapters (and OpenAI's example) write it: a URL they do not read as base64 goes as a URL
  if (head === null || !head[2]!.endsWith(";base64")) return shape
  if (imageTypeProblem(head[1]!) !== undefined) return "has a media type that is not an image's (such as 'image/png')"
  const problem = base64Problem(url, false, comma + 1)
  return problem === undefined ? undefined : `has data that ${problem}`
}

// ---------------------------------------------------------------------------
// Image URLs
// ---------------------------------------------------------------------------

/**
 * Why an image URL may not go upstream, or `undefined` when it may:
 * another scheme than `http:`, `https:` or `data:`, a URL that does not
 * parse, and (unless `allowPrivate`) a host that is `localhost` or a
 * literal private address (an IPv4 address in any form the URL parser
 * reads, `0x7f.1` too, and IPv4-mapped IPv6 ones). A `data:` URL is
 * `dataUrlProblem`'s, which each route's decoder asks at its field.
 *
 * @internal
 */
export const problemOf = (url: string, allowPrivate: boolean): string | undefined => {
  // a data: URL is the image itself (and may be megabytes: not parsed here; see dataUrlProblem)
  if (/^data:/i.test(url)) return undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "is not a valid URL"
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `has the scheme '${Errors.printable(parsed.protocol, 20)}': only http, https and data URLs are accepted`
  }
  if (allowPrivate) return undefined
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "")
  const private_ = host === "localhost" || host.endsWith(".localhost") || metadataHosts.has(host) ||
    (isIPv4(host) && privateAddresses.check(host, "ipv4")) ||
    (isIPv6(host) && privateAddresses.check(host, "ipv6"))
  return private_
    ? "names a loopback, private or link-local address: this gateway does not send such URLs to its providers (gateway.allowPrivateImageUrls allows them)"
    : undefined
}

/**
 * The 400 of a request with an image URL that may not go upstream (see
 * `problemOf`), or `undefined`. Synchronous, and a glance at a request
 * without images.
 *
 * @internal
 */
export const refusal = (request: ChatRequest, allowPrivate: boolean): Errors.Failure | undefined => {
  const messages = request.messages
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    if (message.role !== "user" || typeof message.content === "string") continue
    for (const part of message.content) {
      if (part.type !== "image") continue
      const problem = problemOf(part.url, allowPrivate)
      if (problem !== undefined) {
        return Errors.badRequest(`Invalid image URL '${Errors.printable(part.url, 100)}': it ${problem}.`, null)
      }
    }
  }
  return undefined
}
