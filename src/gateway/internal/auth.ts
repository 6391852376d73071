/**
 * Gateway keys: `Authorization: Bearer <key>`, compared in constant time.
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
 * A checker for a set of keys; with no keys every request passes.
 *
 * @internal
 */
export const make = (keys: ReadonlyArray<Redacted.Redacted> | undefined): ((authorization: string | undefined) => Verdict) => {
  if (keys === undefined || keys.length === 0) return () => -1
  const digests = keys.map((key) => digest(Redacted.value(key)))
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
    if (match === null) return "missing"
    const sent = digest(match[1]!)
    // every key compared, whichever matches
    let held = -1
    digests.forEach((expected, index) => {
      if (timingSafeEqual(expected, sent)) held = index
    })
    return held >= 0 ? held : "wrong"
  }
}
