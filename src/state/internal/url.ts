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
 * reads part of the password as the host. A cluster's URL names no database
 * but 0.
 *
 * @internal
 */
export const problem = (url: string, cluster = false): string | undefined => {
  if (!/^rediss?:\/\//.test(url)) return "must be a redis:// or rediss:// URL"
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return notValid
  }
  if (parsed.hostname === "" || parsed.hash !== "") return notValid
  // a cluster serves database 0 only (ioredis's Cluster would drop the path unread)
  if (cluster && !/^\/?0?$/.test(parsed.pathname)) return "names a database, and a Redis Cluster has database 0 only"
  return undefined
}

const notValid = "is not a valid URL (percent-encode any #, /, ?, @ or % in the user name or password)"
