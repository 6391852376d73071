/**
 * What `serve` sets once around its run: no spans (the tracer off, and the
 * platform's server middleware told to make none), and every provider's
 * secret header names redacted; nothing of it outside.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FiberRef } from "effect"
import { withServeRefs } from "../src/cli/internal/serveRefs.js"
import { authHeaderNames } from "../src/providers/internal/http.js"

const settings = Effect.all({
  tracer: FiberRef.get(FiberRef.currentTracerEnabled),
  disabledWhen: FiberRef.get(HttpMiddleware.currentTracerDisabledWhen),
  redacted: FiberRef.get(Headers.currentRedactedNames)
})

const request = HttpServerRequest.fromWeb(new Request("http://127.0.0.1/v1/chat/completions", { method: "POST" }))

describe("withServeRefs", () => {
  it.effect("turns spans off, server spans too, and redacts every provider's secret header names", () =>
    Effect.gen(function* () {
      const inside = yield* withServeRefs()(settings)
      expect(inside.tracer).toBe(false)
      expect(inside.disabledWhen(request)).toBe(true)
      for (const name of authHeaderNames) expect(inside.redacted).toContain(name)
      // the platform's own names stay
      for (const name of ["authorization", "cookie", "set-cookie"]) expect(inside.redacted).toContain(name)

      const outside = yield* settings
      expect(outside.tracer).toBe(true)
      expect(outside.disabledWhen(request)).toBe(false)
      expect(outside.redacted).not.toContain("x-goog-api-key")
    })
  )

  it.effect("with an exporter, leaves spans on, and redacts the collector's header names too", () =>
    Effect.gen(function* () {
      const inside = yield* withServeRefs({ tracing: true, redact: ["x-honeycomb-team"] })(settings)
      expect(inside.tracer).toBe(true)
      expect(inside.disabledWhen(request)).toBe(false)
      for (const name of [...authHeaderNames, "x-honeycomb-team"]) expect(inside.redacted).toContain(name)
    })
  )
})
