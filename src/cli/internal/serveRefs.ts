/**
 * What `serve` sets around its whole run, once, for every request it
 * serves: without a span exporter (no OTLP endpoint in the environment),
 * no spans, so the tracer is off and the platform's server middleware does
 * not dress a span for each request (it otherwise parses the URL, redacts
 * the headers and reads trace headers first); and the providers' built-in
 * auth header names (`authorization`, `x-api-key`, `x-goog-api-key`,
 * `api-key`), with any others given (an OTLP collector's), redacted, so an
 * upstream call need not add them around itself (setting a `FiberRef` for
 * a call and back costs two copies of the fiber's `FiberRef`s). A config's
 * own secret headers are still added around each call that sends them.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { Effect } from "effect"
import * as Http from "../../providers/internal/http.js"

/** What {@link withServeRefs} sets. @internal */
export interface Options {
  /** Whether spans go somewhere (an exporter is provided). Default: false, no spans. */
  readonly tracing?: boolean
  /** More header names to redact, besides the providers' auth headers. */
  readonly redact?: ReadonlyArray<string>
}

/** Runs `self` with `serve`'s settings (see the module's docs). @internal */
export const withServeRefs = (options: Options = {}) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const redacted = Effect.locallyWith(self, Headers.currentRedactedNames, Http.addNames([...Http.authHeaderNames, ...(options.redact ?? [])]))
  return options.tracing === true
    ? redacted
    : redacted.pipe(Effect.withTracerEnabled(false), HttpMiddleware.withTracerDisabledWhenEffect(() => true))
}
