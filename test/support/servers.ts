/**
 * Plain Node HTTP servers for tests that need a peer behaving badly (one
 * that never answers, one that answers what no gateway would): listening
 * on 127.0.0.1, on a port of the system's choosing, for the test's scope.
 */
import { Effect } from "effect"
import type * as Http from "node:http"
import { createServer } from "node:http"

/** Listens with `handler` on 127.0.0.1 until the scope closes (cutting open connections); its port. */
export const listen = (handler: Http.RequestListener) =>
  Effect.gen(function* () {
    const server = createServer(handler)
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () => Effect.sync(() => (server.closeAllConnections(), server.close()))
    )
    return (server.address() as { readonly port: number }).port
  })
