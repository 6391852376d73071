/**
 * What is wrong with a Redis URL, in words that never quote it (it may hold
 * a password).
 *
 * @internal
 */

/**
 * Why `url` cannot be connected to, or `undefined` when it can. A password
 * with `#`, `/`, `?` or `@` must be percent-encoded: unencoded, it ends the
 * URL's authority early, and the URL parser (ioredis's too) either fails or
 * reads part of the password as the host.
 *
 * @internal
 */
export const problem = (url: string): string | undefined => {
  if (!/^rediss?:\/\//.test(url)) return "must be a redis:// or rediss:// URL"
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return notValid
  }
  return parsed.hostname === "" || parsed.hash !== "" ? notValid : undefined
}

const notValid = "is not a valid URL (percent-encode any #, /, ?, @ or % in the user name or password)"
