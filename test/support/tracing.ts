/**
 * A tracer that records the names of the spans it makes, made by Effect's
 * own: a tracer that is not the built-in one, so that spans "go somewhere"
 * (`src/observability/internal/tracing.ts`) and the code under test takes
 * its traced paths.
 */
import { Effect, Tracer } from "effect"

export const recordingTracer: Effect.Effect<{ readonly names: Array<string>; readonly tracer: Tracer.Tracer }> = Effect.map(
  Effect.tracer,
  (native) => {
    const names: Array<string> = []
    const tracer = Tracer.make({
      span: (name, ...rest) => {
        names.push(name)
        return native.span(name, ...rest)
      },
      context: native.context
    })
    return { names, tracer }
  }
)
