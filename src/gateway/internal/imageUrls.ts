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

/**
 * Why an image URL may not go upstream, or `undefined` when it may:
 * another scheme than `http:`, `https:` or `data:`, a URL that does not
 * parse, and (unless `allowPrivate`) a host that is `localhost` or a
 * literal private address (an IPv4 address in any form the URL parser
 * reads, `0x7f.1` too, and IPv4-mapped IPv6 ones).
 *
 * @internal
 */
export const problemOf = (url: string, allowPrivate: boolean): string | undefined => {
  // a data: URL is the image itself (and may be megabytes: not parsed)
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
