/**
 * Whether a span would go somewhere: what lets a hot path skip the work of
 * making spans that nobody reads.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Tracer from "effect/Tracer"

/** Effect's built-in tracer: its spans go nowhere but to code running under them. */
const builtInTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Whether spans made by `fiber` go somewhere: tracing is on and the tracer
 * is not Effect's built-in one (an exporter's, say).
 *
 * @internal
 */
export const spansGoSomewhere = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.getFiberRef(FiberRef.currentTracerEnabled) &&
  Context.get(fiber.currentDefaultServices, Tracer.Tracer) !== builtInTracer
