/**
 * The system's code of an error that came from a socket or a client
 * (`ECONNREFUSED`, `ENOTFOUND`, undici's `UND_ERR_SOCKET`...): the first
 * string `code` down its causes, following an `AggregateError`'s first
 * error (a connection tried on several addresses), at most five deep.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"

/** The first `code` down `cause`'s chain of causes, if any. @internal */
export const errorCode = (cause: unknown): string | undefined => {
  for (let current = cause, depth = 0; Predicate.isRecord(current) && depth < 5; depth++) {
    if (typeof current.code === "string") return current.code
    const errors = current.errors
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : current.cause
  }
  return undefined
}
