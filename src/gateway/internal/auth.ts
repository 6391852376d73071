/**
 * Gateway keys: `Authorization: Bearer <key>` (and, on the Messages API's
 * route, `x-api-key: <key>`, as Anthropic's clients send it), compared in
 * constant time.
 *
 * Each side is hashed with SHA-256 first, so `timingSafeEqual` always
 * compares two 32-byte digests: neither a key's length nor its content
 * shows in the time a check takes, and every configured key is compared on
 * every check.
 *
 * @internal
 */
import { createHash, timingSafeEqual } from "node:crypto"
import * as Redacted from "effect/Redacted"

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/**
 * What a request's `Authorization` header proved: the key it holds (its
 * place in the gateway's list; `-1` when the gateway has none and every
 * request passes), or that it holds none of them.
 *
 * @internal
 */
export type Verdict = number | "missing" | "wrong"

/**
 * A checker for a set of keys; with no keys every request passes. It reads
 * the key of `Authorization: Bearer <key>`, and of `apiKey` (a header that
 * carries the key bare, as `x-api-key` does) when given: a request passes
 * if either holds a key (both are checked, in constant time).
 *
 * @internal
 */
export const make = (keys: ReadonlyArray<Redacted.Redacted> | undefined): ((authorization: string | undefined, apiKey?: string) => Verdict) => {
  if (keys === undefined || keys.length === 0) return () => -1
  const digests = keys.map((key) => digest(Redacted.value(key)))
  /** The key `sent` is (its place), or -1: every key compared, whichever matches. */
  const held = (sent: string): number => {
    const hash = digest(sent)
    let index = -1
    digests.forEach((expected, i) => {
      if (timingSafeEqual(expected, hash)) index = i
    })
    return index
  }
  return (authorization, apiKey) => {
    const match = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
    const bearer = match?.[1]
    const bare = apiKey === undefined || apiKey.trim().length === 0 ? undefined : apiKey.trim()
    if (bearer === undefined && bare === undefined) return "missing"
    // both checked when both are sent, so the time taken says nothing of which held a key
    const first = bearer === undefined ? -1 : held(bearer)
    const second = bare === undefined ? -1 : held(bare)
    return first >= 0 ? first : second >= 0 ? second : "wrong"
  }
}
