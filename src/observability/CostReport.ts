/**
 * What the router spent: per model and per chain, requests, tokens in and
 * out, cost, and the extra cost fallbacks caused; background shadow calls
 * apart. Served as JSON on `GET /v1/usage` (with `?since=`), fetched and
 * decoded by {@link fetch} (the CLI's `report` command).
 *
 * - `cost` is what served requests cost (the router's `meta.cost`): the sum
 *   over requests equals the sum of the report's `totals.cost`.
 * - `fallbackExtraCost` sums `costDelta` (cost over the chain's first
 *   target) of requests that fell back: positive when fallbacks cost more,
 *   negative when they saved.
 * - Tokens are those of the served answer, as the provider reported them.
 *   `inputTokens` is every prompt token; `cacheReadTokens` and
 *   `cacheWriteTokens` are the part of them the provider's prompt cache
 *   served or stored, priced apart in `cost` (see `ModelInfo.cost`).
 *   Streamed answers count alike: their usage comes with the request's end
 *   (`RequestFinished.usage`, as the caller's `done` has it).
 * - `byModel` lists the model that served; a request no target served
 *   (failed, or answered in degraded mode) is only in `byChain`.
 *
 * The ledger keeps all-time totals and, for `since`, per-bucket totals
 * (default one-minute buckets over 24 hours); `since` is rounded down to its
 * bucket, and the report's `from` says where it really starts.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { Redacted } from "effect"
import { Clock, Duration, Effect, Schema } from "effect"
import type { Usage } from "../llm/Chat.js"
import { errorCode } from "../llm/internal/errorCode.js"
import type { Listener, RequestFinished, RouterEvent } from "../router/Events.js"
import type { TargetStatus } from "../router/Router.js"
import { fellBack, sharesOf, targetsOf } from "./internal/events.js"
import { ledgerPeriods } from "./internal/options.js"
import { BoundedMap, Ring } from "./internal/window.js"
import type { ObservabilityOptionsError } from "./OptionsError.js"

/** A count of prompt tokens the cache served or stored: 0 in a report from a gateway that did not count them. */
const cacheCount = Schema.optionalWith(Schema.Number, { default: () => 0 })

const lineFields = {
  requests: Schema.Number,
  /** Requests that fell back (to another target or to degraded mode). */
  fallbackRequests: Schema.Number,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  /** Prompt tokens read from the provider's cache (part of `inputTokens`). */
  cacheReadTokens: cacheCount,
  /** Prompt tokens written to the provider's cache (part of `inputTokens`). */
  cacheWriteTokens: cacheCount,
  /** US dollars. */
  cost: Schema.Number,
  /** Sum of `costDelta` over requests that fell back, in US dollars. */
  fallbackExtraCost: Schema.Number
}

/**
 * Figures of a set of requests.
 *
 * @example
 * import { Schema } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * // a line of the cost report (`/v1/usage`), read back by a client
 * const decode = Schema.decodeUnknown(CostReport.Line)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Line = Schema.Struct(lineFields)

/**
 * The figures of a set of requests: a decoded {@link Line}.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const report: CostReport.Report
 *
 * const line: CostReport.Line = report.totals
 * const fallbackShare = line.requests === 0 ? 0 : line.fallbackRequests / line.requests
 * console.log(`$${line.cost.toFixed(4)} over ${line.requests} requests, ${fallbackShare} fell back`)
 *
 * @since 0.1.0
 * @category models
 */
export interface Line extends Schema.Schema.Type<typeof Line> {}

/**
 * The requests one model served.
 *
 * @example
 * import { Schema } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * // one model's line of the cost report
 * const decode = Schema.decodeUnknown(CostReport.ModelLine)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelLine = Schema.Struct({ provider: Schema.String, model: Schema.String, ...lineFields })

/**
 * The requests one model served: a decoded {@link ModelLine}.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const report: CostReport.Report
 *
 * for (const line of report.byModel) {
 *   console.log(`${line.provider}/${line.model}: ${line.outputTokens} tokens out, $${line.cost.toFixed(4)}`)
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelLine extends Schema.Schema.Type<typeof ModelLine> {}

/**
 * The requests of one chain.
 *
 * @example
 * import { Schema } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * // one chain's line of the cost report
 * const decode = Schema.decodeUnknown(CostReport.ChainLine)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChainLine = Schema.Struct({ chain: Schema.String, ...lineFields })

/**
 * The requests of one chain: a decoded {@link ChainLine}.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const report: CostReport.Report
 *
 * const costliest: CostReport.ChainLine | undefined = report.byChain[0]
 * if (costliest !== undefined) console.log(`${costliest.chain}: fallbacks cost $${costliest.fallbackExtraCost.toFixed(4)} extra`)
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainLine extends Schema.Schema.Type<typeof ChainLine> {}

const shadowFields = {
  calls: Schema.Number,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  cacheReadTokens: cacheCount,
  cacheWriteTokens: cacheCount,
  cost: Schema.Number
}

/**
 * Shadow calls to one model: copies of served requests, never served.
 *
 * @example
 * import { Schema } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * // what shadow traffic cost one model
 * const decode = Schema.decodeUnknown(CostReport.ShadowLine)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ShadowLine = Schema.Struct({ provider: Schema.String, model: Schema.String, ...shadowFields })

/**
 * Shadow calls to one model: a decoded {@link ShadowLine}.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const report: CostReport.Report
 *
 * const shadow: ReadonlyArray<CostReport.ShadowLine> = report.shadow.byModel
 * for (const line of shadow) console.log(`${line.model}: ${line.calls} shadow calls, $${line.cost.toFixed(4)}`)
 *
 * @since 0.1.0
 * @category models
 */
export interface ShadowLine extends Schema.Schema.Type<typeof ShadowLine> {}

/**
 * The usage report, as `GET /v1/usage` sends it.
 *
 * @example
 * import { Schema } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * // the whole cost report, as `/v1/usage` gives it
 * const decode = Schema.decodeUnknown(CostReport.Report)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Report = Schema.Struct({
  currency: Schema.Literal("USD"),
  /** Start of the period, epoch millis. */
  from: Schema.Number,
  /** End of the period (when the report was made), epoch millis. */
  to: Schema.Number,
  totals: Line,
  byModel: Schema.Array(ModelLine),
  byChain: Schema.Array(ChainLine),
  shadow: Schema.Struct({ totals: Schema.Struct(shadowFields), byModel: Schema.Array(ShadowLine) })
})

/**
 * The usage report: a decoded {@link Report}.
 *
 * @example
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const ledger: CostReport.Ledger
 *
 * const program = Effect.gen(function* () {
 *   const report: CostReport.Report = yield* ledger.report()
 *   const hours = (report.to - report.from) / 3_600_000
 *   yield* Effect.log(`${report.totals.requests} requests in ${hours.toFixed(1)} h cost $${report.totals.cost.toFixed(4)}`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Report extends Schema.Schema.Type<typeof Report> {}

/**
 * Options of {@link ledger}.
 *
 * @example
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   // `since` reaches back a week, in 5-minute steps
 *   const options: CostReport.LedgerOptions = { targets: yield* router.status, bucket: "5 minutes", retention: "7 days" }
 *   return yield* CostReport.ledger(options)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface LedgerOptions {
  /**
   * The router's targets (from `router.status`): resolves a target to its
   * provider and model for a `RequestFinished` that does not carry them (the
   * router's own do, as they were when the target answered).
   */
  readonly targets: ReadonlyArray<Pick<TargetStatus, "name" | "provider" | "model">>
  /** The granularity of `since`: 1 millisecond or more. Default 1 minute. */
  readonly bucket?: Duration.DurationInput
  /** How far back `since` can reach, at most 100,000 buckets (about 70 days of minutes). Default 24 hours. */
  readonly retention?: Duration.DurationInput
}

/**
 * Options of a report.
 *
 * @example
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const ledger: CostReport.Ledger
 *
 * // the last hour only
 * const lastHour = Effect.flatMap(Effect.sync(() => Date.now()), (now) => {
 *   const options: CostReport.ReportOptions = { since: now - 3_600_000 }
 *   return ledger.report(options)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface ReportOptions {
  /** Only requests from this instant on (epoch millis); default: since the ledger started. */
  readonly since?: number
}

/**
 * Adds up what requests cost.
 *
 * @example
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const ledger: CostReport.Ledger = yield* CostReport.ledger({ targets: yield* router.status })
 *   yield* router.listen(ledger.listener)
 *   const report = yield* ledger.report()
 *   yield* Effect.log(`spent $${report.totals.cost.toFixed(4)}`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Ledger {
  /** Counts one router event. */
  readonly record: (event: RouterEvent) => Effect.Effect<void>
  /** As `record`, at once, for `Router.listen`. */
  readonly listener: Listener
  /** The report now. */
  readonly report: (options?: ReportOptions) => Effect.Effect<Report>
}

interface MutableLine {
  requests: number
  fallbackRequests: number
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  cacheWriteTokens: number
  cost: number
  fallbackExtraCost: number
}

interface MutableShadow {
  calls: number
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  cacheWriteTokens: number
  cost: number
}

/** A target's provider and model, as they were when it answered. */
interface Model {
  readonly provider: string
  readonly model: string
}

/** One period's figures: served by chain and model (none: no target served), shadow by provider and model. */
interface Period {
  readonly served: Map<string, { readonly chain: string; readonly model: Model | undefined; readonly line: MutableLine }>
  readonly shadow: Map<string, { readonly provider: string; readonly model: string; readonly line: MutableShadow }>
}

const emptyLine = (): MutableLine => ({
  requests: 0,
  fallbackRequests: 0,
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  cost: 0,
  fallbackExtraCost: 0
})
const emptyShadow = (): MutableShadow => ({ calls: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, cost: 0 })
const emptyPeriod = (): Period => ({ served: new Map(), shadow: new Map() })

const addLine = (into: MutableLine, from: Line) => {
  into.requests += from.requests
  into.fallbackRequests += from.fallbackRequests
  into.inputTokens += from.inputTokens
  into.outputTokens += from.outputTokens
  into.cacheReadTokens += from.cacheReadTokens
  into.cacheWriteTokens += from.cacheWriteTokens
  into.cost += from.cost
  into.fallbackExtraCost += from.fallbackExtraCost
}

const addShadow = (into: MutableShadow, from: MutableShadow) => {
  into.calls += from.calls
  into.inputTokens += from.inputTokens
  into.outputTokens += from.outputTokens
  into.cacheReadTokens += from.cacheReadTokens
  into.cacheWriteTokens += from.cacheWriteTokens
  into.cost += from.cost
}

/** A line's token counts, from a usage if any. */
const tokensOf = (usage: Usage | undefined) => ({
  inputTokens: usage?.inputTokens ?? 0,
  outputTokens: usage?.outputTokens ?? 0,
  cacheReadTokens: usage?.cacheReadTokens ?? 0,
  cacheWriteTokens: usage?.cacheWriteTokens ?? 0
})

const served = (period: Period, chain: string, model: Model | undefined) => {
  const key = model === undefined ? chain : `${chain}\u0000${model.provider}\u0000${model.model}`
  let entry = period.served.get(key)
  if (entry === undefined) {
    entry = { chain, model, line: emptyLine() }
    period.served.set(key, entry)
  }
  return entry.line
}

const shadowOf = (period: Period, provider: string, model: string) => {
  const key = `${provider}\u0000${model}`
  let entry = period.shadow.get(key)
  if (entry === undefined) {
    entry = { provider, model, line: emptyShadow() }
    period.shadow.set(key, entry)
  }
  return entry.line
}

const byCostThenName = <A extends { readonly cost: number }>(name: (a: A) => string) => (a: A, b: A) =>
  b.cost - a.cost || name(a).localeCompare(name(b))

/**
 * A ledger to feed with router events (as `Observability.attach` does). A
 * bucket under 1 millisecond, or more than 100,000 buckets in the retention,
 * fails with an `ObservabilityOptionsError` at `bucket` (or `retention`,
 * when no bucket was given).
 *
 * @example
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const ledger = yield* CostReport.ledger({ targets: yield* router.status })
 *   yield* router.listen(ledger.listener)
 *   // ... later
 *   const report = yield* ledger.report()
 *   console.log(`spent $${report.totals.cost.toFixed(4)}, of which fallbacks $${report.totals.fallbackExtraCost.toFixed(4)}`)
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const ledger = (options: LedgerOptions): Effect.Effect<Ledger, ObservabilityOptionsError> =>
  Effect.flatMap(ledgerPeriods(options, ""), ({ bucketMillis, retentionMillis }) =>
    Effect.map(Clock.currentTimeMillis, (startedAt) => {
      // for an event that does not say its model (one not from a router): a target not in `targets` (a swapped
      // router's, after a config reload) is learnt from its answers
      const targets = new Map(targetsOf(options.targets))
      /** The model a finished request's `target` was when it answered: the event's own, else by its name. */
      const modelOf = (event: RequestFinished): Model | undefined =>
        event.target === undefined
          ? undefined
          : event.provider !== undefined && event.model !== undefined
          ? { provider: event.provider, model: event.model }
          : targets.get(event.target) ?? { provider: "unknown", model: event.target }
      const ring = new Ring<Period>(bucketMillis, Math.max(1, Math.ceil(retentionMillis / bucketMillis)), emptyPeriod)
      const allTime = emptyPeriod()
      /** The served answer's usage, until its request finishes. */
      const pending = new BoundedMap<number, { readonly target: string; readonly usage: Usage }>(10_000)

      const onFinished = (event: RequestFinished) => {
        const usage = pending.get(event.requestId)
        pending.delete(event.requestId)
        // each model is charged what it billed: the one that served, and any other before it (`billed`)
        const shares = sharesOf(event)
        // the request's own usage (a stream's only source); else its serving attempt's
        const tokens = shares.served.usage ?? (usage !== undefined && usage.target === event.target ? usage.usage : undefined)
        const fell = fellBack(event)
        const line: Line = {
          requests: 1,
          fallbackRequests: fell ? 1 : 0,
          ...tokensOf(tokens),
          cost: shares.served.cost,
          fallbackExtraCost: fell ? event.costDelta : 0
        }
        const model = modelOf(event)
        for (const period of [allTime, ring.current(event.at)]) {
          addLine(served(period, event.chain, model), line)
          for (const part of shares.others) {
            const billed: Line = { requests: 0, fallbackRequests: 0, ...tokensOf(part.usage), cost: part.cost, fallbackExtraCost: 0 }
            addLine(served(period, event.chain, part), billed)
          }
        }
      }

      const onShadow = (event: Extract<RouterEvent, { _tag: "AttemptSucceeded" }>) => {
        const line: MutableShadow = {
          calls: 1,
          inputTokens: event.usage?.inputTokens ?? 0,
          outputTokens: event.usage?.outputTokens ?? 0,
          cacheReadTokens: event.usage?.cacheReadTokens ?? 0,
          cacheWriteTokens: event.usage?.cacheWriteTokens ?? 0,
          cost: event.cost ?? 0
        }
        for (const period of [allTime, ring.current(event.at)]) addShadow(shadowOf(period, event.provider, event.model), line)
      }

      const listener = (event: RouterEvent): void => {
        if (event._tag === "RequestFinished") onFinished(event)
        else if (event._tag === "AttemptSucceeded") {
          targets.set(event.target, { provider: event.provider, model: event.model })
          if (event.shadow) onShadow(event)
          else if (event.usage !== undefined) pending.set(event.requestId, { target: event.target, usage: event.usage })
        }
      }
      const record = (event: RouterEvent): Effect.Effect<void> => Effect.sync(() => listener(event))

      const summarise = (periods: ReadonlyArray<Period>, from: number, to: number): Report => {
        const totals = emptyLine()
        const models = new Map<string, ModelLine & MutableLine>()
        const chains = new Map<string, ChainLine & MutableLine>()
        const shadowTotals = emptyShadow()
        const shadows = new Map<string, ShadowLine & MutableShadow>()
        for (const period of periods) {
          for (const { chain, model: info, line } of period.served.values()) {
            addLine(totals, line)
            let c = chains.get(chain)
            if (c === undefined) chains.set(chain, (c = { chain, ...emptyLine() }))
            addLine(c, line)
            if (info === undefined) continue
            const key = `${info.provider}\u0000${info.model}`
            let m = models.get(key)
            if (m === undefined) models.set(key, (m = { provider: info.provider, model: info.model, ...emptyLine() }))
            addLine(m, line)
          }
          for (const { provider, model, line } of period.shadow.values()) {
            addShadow(shadowTotals, line)
            const key = `${provider}\u0000${model}`
            let s = shadows.get(key)
            if (s === undefined) shadows.set(key, (s = { provider, model, ...emptyShadow() }))
            addShadow(s, line)
          }
        }
        return {
          currency: "USD",
          from,
          to,
          totals,
          byModel: [...models.values()].sort(byCostThenName((m) => `${m.provider}/${m.model}`)),
          byChain: [...chains.values()].sort(byCostThenName((c) => c.chain)),
          shadow: {
            totals: shadowTotals,
            byModel: [...shadows.values()].sort(byCostThenName((s) => `${s.provider}/${s.model}`))
          }
        }
      }

      const report = (reportOptions: ReportOptions = {}) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (reportOptions.since === undefined) return summarise([allTime], startedAt, now)
          const since = reportOptions.since
          const periods = ring.fold(now, [] as Array<Period>, (acc, period) => (acc.push(period), acc), since)
          return summarise(periods, Math.min(now, Math.max(ring.coveredFrom(now, since), startedAt)), now)
        })

      return { record, listener, report } satisfies Ledger
    }))

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/**
 * Reads `since` from a query string value: epoch milliseconds, or an ISO
 * 8601 date. `undefined` when the value is neither.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * CostReport.parseSince("1735689600000") // 1735689600000
 * CostReport.parseSince("2025-01-01T00:00:00Z") // 1735689600000
 * CostReport.parseSince("yesterday") // undefined
 *
 * @since 0.1.0
 * @category utils
 */
export const parseSince = (value: string): number | undefined => {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return undefined
  const parsed = Date.parse(trimmed)
  return Number.isNaN(parsed) ? undefined : parsed
}

const badRequest = (message: string) =>
  HttpServerResponse.unsafeJson(
    { error: { message, type: "invalid_request_error", param: "since", code: null } },
    { status: 400 }
  )

/**
 * `GET /v1/usage[?since=<epoch millis | ISO date>]` over a report function.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * declare const ledger: CostReport.Ledger
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/v1/usage", CostReport.handler(ledger.report)))
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (report: (options?: ReportOptions) => Effect.Effect<Report>): HttpApp.Default =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const raw = new URL(request.url, "http://localhost").searchParams.get("since")
    const since = raw === null ? undefined : parseSince(raw)
    if (raw !== null && since === undefined) {
      return Effect.succeed(badRequest("`since` must be epoch milliseconds or an ISO 8601 date"))
    }
    return Effect.map(report(since === undefined ? {} : { since }), (body) =>
      HttpServerResponse.unsafeJson(body, { headers: { "cache-control": "no-store" } }))
  })

/**
 * Fetching or decoding a usage report failed. The message names the URL's
 * origin and path and the HTTP status, never a key.
 *
 * @example
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * const error = new CostReport.UsageFetchError({ message: "the usage API answered 401", status: 401 })
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageFetchError extends Schema.TaggedError<UsageFetchError>("effect-llm-failover/UsageFetchError")(
  "UsageFetchError",
  { message: Schema.String, status: Schema.optional(Schema.Number) }
) {}

/**
 * Options of {@link fetch}.
 *
 * @example
 * import { FetchHttpClient } from "@effect/platform"
 * import { Config, Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * const program = Effect.gen(function* () {
 *   const options: CostReport.FetchOptions = {
 *     apiKey: yield* Config.redacted("GATEWAY_API_KEY"),
 *     timeout: "30 seconds"
 *   }
 *   return yield* CostReport.fetch("https://llm.example.com/v1/usage", options)
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 *
 * @since 0.1.0
 * @category models
 */
export interface FetchOptions {
  readonly since?: number
  /** Sent as a bearer token, when the gateway requires one. */
  readonly apiKey?: Redacted.Redacted
  /** How long the whole exchange may take, the body's reading included (default 10 seconds). */
  readonly timeout?: Duration.DurationInput
}

/** The message of an error body in OpenAI's shape (`{ error: { message } }`), if it is one, cut to one short line. */
const errorMessage = (body: unknown): string | undefined => {
  const error = typeof body === "object" && body !== null ? (body as { readonly error?: unknown }).error : undefined
  const message = typeof error === "object" && error !== null ? (error as { readonly message?: unknown }).message : undefined
  // another server's text: no control characters reach the terminal
  return typeof message === "string" ? message.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").replace(/\s+/g, " ").slice(0, 300) : undefined
}

/**
 * Gets a usage report over HTTP (`url` is the endpoint, e.g.
 * `http://127.0.0.1:8080/v1/usage`) and decodes it.
 *
 * @example
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import { CostReport } from "effect-llm-failover/observability"
 *
 * const program = CostReport.fetch("http://127.0.0.1:8080/v1/usage", { since: Date.now() - 3_600_000 }).pipe(
 *   Effect.tap((report) => Effect.log(`last hour: $${report.totals.cost.toFixed(4)}`)),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 *
 * @since 0.1.0
 * @category client
 */
export const fetch = (url: string, options: FetchOptions = {}): Effect.Effect<Report, UsageFetchError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const parsed = yield* Effect.try({
      try: () => new URL(url),
      catch: () => new UsageFetchError({ message: "not a valid usage URL (it starts with http:// or https://)" })
    })
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return yield* new UsageFetchError({ message: "not a valid usage URL (it starts with http:// or https://)" })
    }
    const where = `${parsed.origin}${parsed.pathname}`
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    return yield* exchange(parsed, where, options).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new UsageFetchError({ message: `${where} did not answer within ${Duration.format(timeout)}` })
      })
    )
  })

const exchange = (parsed: URL, where: string, options: FetchOptions): Effect.Effect<Report, UsageFetchError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    let request = HttpClientRequest.get(parsed).pipe(HttpClientRequest.acceptJson)
    if (options.since !== undefined) request = HttpClientRequest.setUrlParam(request, "since", String(options.since))
    if (options.apiKey !== undefined) request = HttpClientRequest.bearerToken(request, options.apiKey)
    const response = yield* HttpClient.execute(request).pipe(
      Effect.mapError((error) => {
        // why it never got an answer, as the system said it (ECONNREFUSED, ENOTFOUND...)
        const reason = errorCode(error)
        return new UsageFetchError({ message: `could not reach ${where}${reason === undefined ? "" : ` (${reason})`}` })
      })
    )
    if (response.status < 200 || response.status >= 300) {
      // the gateway says why in OpenAI's error JSON: pass its message on
      const reason = yield* Effect.orElseSucceed(Effect.map(response.json, errorMessage), () => undefined)
      return yield* new UsageFetchError({
        message: `${where} answered HTTP ${response.status}${reason === undefined ? "" : `: ${reason}`}`,
        status: response.status
      })
    }
    return yield* HttpClientResponse.schemaBodyJson(Report)(response).pipe(
      Effect.mapError(() => new UsageFetchError({ message: `${where} did not send a usage report`, status: response.status }))
    )
  })
