/**
 * Logs and traces from router events and breaker transitions, through
 * Effect's own `Logger` and `Tracer`.
 *
 * ## Logs
 *
 * | what | level | annotations |
 * |---|---|---|
 * | a fallback | warning | chain, from, to, reason, requestId, correlationId |
 * | the retry budget refused a retry | warning | chain, target, requestId, correlationId |
 * | a degraded answer | warning | chain, source, requestId, correlationId |
 * | a request failed on every target it tried | warning | chain, fallbacks, requestId, correlationId |
 * | an attempt failed | debug | chain, target, provider, model, attempt, error, requestId, correlationId |
 * | a breaker opened or was isolated | warning | target, from, to, reason, trips |
 * | a breaker went half-open or closed | info | target, from, to, reason, trips |
 * | tracing dropped the 1st, 10th, 100th... request's attempt spans (`maxPendingRequests`), even with `logs: false` | warning | dropped, maxPendingRequests |
 *
 * `correlationId` is there when the request's caller gave one
 * (`RequestOptions.correlationId`; `llm-failover serve` passes its request's
 * `x-request-id`, so its line for a request and the router's match). Lines
 * hold names from the router's config, error tags, numbers and that id
 * only: never a prompt, an answer, an error message or a key. A line below the
 * minimum log level is not written, nor its annotations set.
 * (`llm-failover serve` writes these lines to stdout itself, with the same
 * fields in that order.)
 *
 * ## Spans
 *
 * With tracing on, each finished request becomes an `llm.request` span
 * (kind `client`; attributes `llm.chain`, `llm.request_id`,
 * `llm.correlation_id` when the caller gave one, `llm.outcome`, `llm.target`,
 * `llm.fallbacks`, `llm.cost_usd`) with one `llm.attempt` child per attempt
 * (`llm.target`, `llm.provider`, `llm.model`, `llm.attempt`, `llm.outcome`,
 * `llm.error`) and a `fallback` span event per fallback; a shadow call is an
 * `llm.shadow` span (`llm.chain`, `llm.request_id`, `llm.correlation_id`,
 * `llm.target`, `llm.provider`, `llm.model`, `llm.cost_usd`). Their times are the events' (Effect's `Clock`), so the
 * spans are built after the fact with explicit start and end times, through
 * the `Tracer` in context when {@link make} ran (e.g. OpenTelemetry's, from
 * `@effect/opentelemetry`). A request made inside a span of the caller's
 * (`Effect.withSpan`) is that span's child, so it sits in the caller's trace;
 * otherwise it is a root.
 *
 * @since 0.1.0
 */
import type { Tracer } from "effect"
import { Context, Duration, Effect, Exit, FiberId, LogLevel, Option } from "effect"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import type { Listener, RouterEvent } from "../router/Events.js"
import { errorClass } from "./internal/events.js"
import * as LogSink from "./internal/logSink.js"
import { BoundedMap } from "./internal/window.js"

/**
 * Options of {@link make}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Telemetry } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * // spans only: the application writes its own logs
 * const options: Telemetry.Options = { logs: false, tracing: true, maxPendingRequests: 5_000 }
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const telemetry = yield* Telemetry.make(options)
 *   yield* router.listen(telemetry.listener)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Write the log lines above (default `true`). */
  readonly logs?: boolean
  /** Build spans (default `true`). */
  readonly tracing?: boolean
  /**
   * Requests whose attempts are held until they finish, at most: size it
   * above the requests in flight at once (default 10,000). Beyond it, the
   * one heard of least recently is dropped (its request span then has no
   * attempt children), counted in `Telemetry.dropped` and warned of (even
   * with `logs: false`).
   */
  readonly maxPendingRequests?: number
}

/**
 * Turns router events and breaker transitions into logs and spans.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Telemetry } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const telemetry: Telemetry.Telemetry = yield* Telemetry.make()
 *   yield* router.listen(telemetry.listener)
 *   const breaker = router.breaker("primary")
 *   if (breaker !== undefined) yield* Effect.forkScoped(Stream.runForEach(breaker.changes, telemetry.transition))
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Telemetry {
  readonly record: (event: RouterEvent) => Effect.Effect<void>
  /** As `record`, for `Router.listen`: the spans at once, the log line as the effect it returns. */
  readonly listener: Listener
  readonly transition: (transition: CircuitBreaker.Transition) => Effect.Effect<void>
  /**
   * Requests whose attempt spans were dropped, more than
   * `maxPendingRequests` being in flight: warned of at 1, 10, 100...
   */
  readonly dropped: Effect.Effect<number>
}

/**
 * The log line of one router event, if it has one.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Telemetry } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const logFallbacks = Effect.flatMap(Router.Router, (router) => Stream.runForEach(router.events, Telemetry.logEvent))
 *
 * @since 0.1.0
 * @category logging
 */
export const logEvent = (event: RouterEvent): Effect.Effect<void> => logLine(undefined, event) ?? Effect.void

/** What a log line says: its level, message and fields. */
interface Line {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly fields: LogSink.Fields
}

/** A line's fields, then the request's ids: its number, and the caller's id when it gave one. */
const withIds = (fields: Record<string, string | number>, event: RouterEvent): LogSink.Fields => {
  fields["requestId"] = event.requestId
  if (event.correlationId !== undefined) fields["correlationId"] = event.correlationId
  return fields
}

/** The log line of one router event, or `undefined` when it has none. */
const lineOf = (event: RouterEvent): Line | undefined => {
  switch (event._tag) {
    case "Fallback":
      return {
        level: LogLevel.Warning,
        message: `LLM fallback from ${event.from} to ${event.to} (${event.reason})`,
        fields: withIds({ chain: event.chain, from: event.from, to: event.to, reason: event.reason }, event)
      }
    case "BudgetExhausted":
      return {
        level: LogLevel.Warning,
        message: `LLM retry budget of ${event.target} exhausted`,
        fields: withIds({ chain: event.chain, target: event.target }, event)
      }
    case "DegradedResponse":
      return {
        level: LogLevel.Warning,
        message: `LLM degraded response (${event.source}) on chain ${event.chain}`,
        fields: withIds({ chain: event.chain, source: event.source }, event)
      }
    case "AttemptFailed": {
      const error = errorClass(event.error)
      return {
        level: LogLevel.Debug,
        message: `LLM attempt on ${event.target} failed (${error})`,
        fields: withIds(
          { chain: event.chain, target: event.target, provider: event.provider, model: event.model, attempt: event.attempt, error },
          event
        )
      }
    }
    case "StreamFailed": {
      const error = errorClass(event.error)
      return {
        level: LogLevel.Warning,
        message: `LLM stream on ${event.target} failed after its first content (${error})`,
        fields: withIds(
          { chain: event.chain, target: event.target, provider: event.provider, model: event.model, attempt: event.attempt, error },
          event
        )
      }
    }
    case "RequestFinished":
      return event.outcome === "failure" && event.fallbacks > 0
        ? {
          level: LogLevel.Warning,
          message: `LLM request failed on every target of chain ${event.chain}`,
          fields: withIds({ chain: event.chain, fallbacks: event.fallbacks }, event)
        }
        : undefined
    default:
      return undefined
  }
}

/**
 * The log line of one router event, or `undefined` when it has none: to
 * `sink` if any, else through Effect's logger; not written below the
 * minimum log level.
 */
const logLine = (sink: LogSink.Sink, event: RouterEvent): Effect.Effect<void> | undefined => {
  const line = lineOf(event)
  return line === undefined ? undefined : LogSink.log(sink, line.level, line.message, line.fields)
}

/**
 * The log line of one breaker transition: a warning when it opens or is
 * isolated, info otherwise.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Telemetry } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const logBreaker = Effect.flatMap(Router.Router, (router) =>
 *   Stream.runForEach(router.breaker("sonnet")!.changes, Telemetry.logTransition)
 * )
 *
 * @since 0.1.0
 * @category logging
 */
export const logTransition = (t: CircuitBreaker.Transition): Effect.Effect<void> => transitionLine(undefined, t)

const transitionLine = (sink: LogSink.Sink, t: CircuitBreaker.Transition): Effect.Effect<void> => {
  const opened = t.to === "open" || t.to === "isolated"
  return LogSink.log(
    sink,
    opened ? LogLevel.Warning : LogLevel.Info,
    `circuit breaker of ${t.name}: ${t.from} -> ${t.to} (${t.reason})`,
    { target: t.name, from: t.from, to: t.to, reason: t.reason, trips: t.trips }
  )
}

interface PendingAttempt {
  readonly target: string
  readonly provider: string
  readonly model: string
  readonly attempt: number
  readonly start: number
  end: number | undefined
  error: string | undefined
  /** Stopped before it ended (`AttemptCancelled`). */
  cancelled?: boolean
}

interface PendingRequest {
  readonly attempts: Array<PendingAttempt>
  readonly fallbacks: Array<Extract<RouterEvent, { _tag: "Fallback" }>>
}

const nanos = (millis: number): bigint => BigInt(Math.round(millis)) * 1_000_000n

const ok = Exit.void
const failed = (error: string) => Exit.fail(error)

/**
 * Builds spans from router events with explicit times, through `tracer`.
 */
const spanBuilder = (tracer: Tracer.Tracer, maxPending: number, onDrop: () => void) => {
  // beyond `maxPending`, the request heard of least recently is dropped: more likely one that will never finish
  const pending = new BoundedMap<number, PendingRequest>(maxPending, onDrop)
  const requestOf = (id: number) => {
    let request = pending.touch(id)
    if (request === undefined) {
      request = { attempts: [], fallbacks: [] }
      pending.set(id, request)
    }
    return request
  }

  const span = (
    name: string,
    parent: Option.Option<Tracer.AnySpan>,
    start: number,
    attributes: Record<string, unknown>
  ) => tracer.span(name, parent, Context.empty(), [], nanos(start), "client", { attributes })

  /** The request's latest record of the event's attempt; only one still running, if `running`. */
  const attemptOf = (event: { readonly requestId: number; readonly target: string; readonly attempt: number }, running: boolean) => {
    const { attempts } = requestOf(event.requestId)
    for (let i = attempts.length - 1; i >= 0; i--) {
      const a = attempts[i]!
      if ((!running || a.end === undefined) && a.target === event.target && a.attempt === event.attempt) return a
    }
    return undefined
  }

  const settle = (
    event: Extract<RouterEvent, { _tag: "AttemptFailed" | "AttemptSucceeded" }>,
    error: string | undefined
  ) => {
    const open = attemptOf(event, true)
    const attempt = open ?? {
      target: event.target,
      provider: event.provider,
      model: event.model,
      attempt: event.attempt,
      start: event.at - Duration.toMillis(event.duration),
      end: undefined,
      error: undefined
    }
    if (open === undefined) requestOf(event.requestId).attempts.push(attempt)
    attempt.end = event.at
    attempt.error = error
  }

  const finish = (event: Extract<RouterEvent, { _tag: "RequestFinished" }>) => {
    const request = pending.get(event.requestId) ?? { attempts: [], fallbacks: [] }
    pending.delete(event.requestId)
    const root = span("llm.request", Option.fromNullable(event.parentSpan), event.at - Duration.toMillis(event.latency), {
      "llm.chain": event.chain,
      "llm.request_id": event.requestId,
      ...(event.correlationId === undefined ? {} : { "llm.correlation_id": event.correlationId }),
      "llm.outcome": event.outcome,
      "llm.fallbacks": event.fallbacks,
      "llm.cost_usd": event.cost,
      ...(event.target === undefined ? {} : { "llm.target": event.target })
    })
    for (const fallback of request.fallbacks) {
      root.event("fallback", nanos(fallback.at), { from: fallback.from, to: fallback.to, reason: fallback.reason })
    }
    for (const attempt of request.attempts) {
      const child = span("llm.attempt", Option.some(root), attempt.start, {
        "llm.target": attempt.target,
        "llm.provider": attempt.provider,
        "llm.model": attempt.model,
        "llm.attempt": attempt.attempt,
        "llm.outcome": attempt.end === undefined || attempt.cancelled ? "interrupted" : attempt.error === undefined ? "success" : "error",
        ...(attempt.error === undefined ? {} : { "llm.error": attempt.error })
      })
      child.end(
        nanos(attempt.end ?? event.at),
        attempt.cancelled || attempt.end === undefined ? Exit.interrupt(FiberId.none) : attempt.error === undefined ? ok : failed(attempt.error)
      )
    }
    root.end(
      nanos(event.at),
      event.outcome === "failure" ? failed("failure") : event.outcome === "cancelled" ? Exit.interrupt(FiberId.none) : ok
    )
  }

  return (event: RouterEvent): void => {
    switch (event._tag) {
      case "AttemptStarted":
        requestOf(event.requestId).attempts.push({
          target: event.target,
          provider: event.provider,
          model: event.model,
          attempt: event.attempt,
          start: event.at,
          end: undefined,
          error: undefined
        })
        return
      case "AttemptFailed":
        return settle(event, errorClass(event.error))
      // stopped before it ended: its span ends then, interrupted
      case "AttemptCancelled": {
        const attempt = attemptOf(event, true)
        if (attempt === undefined) return
        attempt.end = event.at
        attempt.cancelled = true
        return
      }
      // the stream's attempt, ended at its first content, lasted to its failure
      case "StreamFailed": {
        const attempt = attemptOf(event, false)
        if (attempt === undefined) return
        attempt.end = event.at
        attempt.error = errorClass(event.error)
        return
      }
      case "AttemptSucceeded": {
        if (!event.shadow) return settle(event, undefined)
        const shadow = span("llm.shadow", Option.none(), event.at - Duration.toMillis(event.duration), {
          "llm.chain": event.chain,
          "llm.request_id": event.requestId,
          ...(event.correlationId === undefined ? {} : { "llm.correlation_id": event.correlationId }),
          "llm.target": event.target,
          "llm.provider": event.provider,
          "llm.model": event.model,
          ...(event.cost === undefined ? {} : { "llm.cost_usd": event.cost })
        })
        shadow.end(nanos(event.at), ok)
        return
      }
      case "Fallback":
        requestOf(event.requestId).fallbacks.push(event)
        return
      case "RequestFinished":
        return finish(event)
      default:
        return
    }
  }
}

/**
 * Logs and spans for a router's events, with the `Tracer` in context now.
 *
 * @example
 * import { Effect } from "effect"
 * import { Telemetry } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const telemetry = yield* Telemetry.make({ tracing: true })
 *   yield* router.listen(telemetry.listener)
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Telemetry> =>
  Effect.zipWith(Effect.tracer, Effect.serviceOption(LogSink.LogSink), (tracer, sinkOption) => {
    const logs = options.logs ?? true
    // the lines go to the sink in the context, if any (`LogSink`: `serve`'s), else through Effect's logger
    const sink = Option.getOrUndefined(sinkOption)
    const maxPending = options.maxPendingRequests ?? 10_000
    let dropped = 0
    let warnAt = 1
    const spans = (options.tracing ?? true) ? spanBuilder(tracer, maxPending, () => void dropped++) : undefined
    /** A warning when the count of dropped requests reaches 1, 10, 100...: raise `maxPendingRequests`. */
    const droppedLine = (): Effect.Effect<void> | undefined => {
      if (dropped < warnAt) return undefined
      while (warnAt <= dropped) warnAt *= 10
      return LogSink.log(
        sink,
        LogLevel.Warning,
        `tracing dropped the attempt spans of ${dropped} requests: more than maxPendingRequests (${maxPending}) were in flight`,
        { dropped, maxPendingRequests: maxPending }
      )
    }
    const listener = (event: RouterEvent): Effect.Effect<void> | undefined => {
      if (spans === undefined) return logs ? logLine(sink, event) : undefined
      spans(event)
      const line = logs ? logLine(sink, event) : undefined
      const warning = droppedLine()
      return warning === undefined ? line : line === undefined ? warning : Effect.zipRight(line, warning)
    }
    return {
      record: (event) => Effect.suspend(() => listener(event) ?? Effect.void),
      listener,
      transition: (t) => (logs ? transitionLine(sink, t) : Effect.void),
      dropped: Effect.sync(() => dropped)
    }
  })
