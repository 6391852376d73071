/**
 * What `serve` sets around its whole run, once, for every request it
 * serves: no spans (it has no exporter), so the tracer is off and the
 * platform's server middleware does not dress a span for each request (it
 * otherwise parses the URL, redacts the headers and reads trace headers
 * first); and the providers' built-in auth header names (`authorization`,
 * `x-api-key`, `x-goog-api-key`, `api-key`) redacted, so an upstream call
 * need not add them around itself (setting a `FiberRef` for a call and back
 * costs two copies of the fiber's `FiberRef`s). A config's own secret
 * headers are still added around each call that sends them.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { Effect } from "effect"
import * as Http from "../../providers/internal/http.js"

/** Runs `self` with `serve`'s settings (see the module's docs). @internal */
export const withServeRefs = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.withTracerEnabled(false),
    HttpMiddleware.withTracerDisabledWhenEffect(() => true),
    Effect.locallyWith(Headers.currentRedactedNames, Http.addNames(Http.authHeaderNames))
  )
