/**
 * A simulated provider: a `LanguageModel` that answers from a script, in
 * Effect's virtual time, and breaks on a schedule of faults. Router tests,
 * the examples, the demo gateway and the outage simulator stand on it.
 *
 * - **Time** is Effect's `Clock`: every delay is an `Effect.sleep`, so a
 *   `TestClock` drives an hour of traffic in moments.
 * - **Randomness** is counter-based: call number `k` (counted from 0 in the
 *   order calls start) always draws the same numbers for the same `seed`,
 *   whatever other calls drew and however fibers interleave.
 * - **Faults** hold for a window measured from the provider's `epoch`: hard
 *   down with a status, rate limited with a Retry-After, slow, gray (a share
 *   of calls fail), connection resets, and streams cut after N tokens.
 *
 * A call's fate is decided when it starts, from the time it starts: a call
 * begun just before an outage window still completes.
 *
 * Cost: a `complete` is one sleep; a stream is one sleep per token (none
 * between tokens with `tokenDelay: 0`). Under a `TestClock` each wake-up
 * costs real time, so long simulations should prefer `complete` or a zero
 * token delay.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* Simulated.make({
 *     provider: "anthropic",
 *     model: "claude-sonnet-4-5",
 *     latency: { p50: "800 millis", p99: "4 seconds" },
 *     faults: [{ from: "10 minutes", to: "25 minutes", status: 529 }]
 *   })
 *   return yield* model.complete(Chat.prompt("Hello"))
 * })
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer, Option, ParseResult, Schema } from "effect"
import type { ChatRequest } from "../llm/Chat.js"
import * as LanguageModel from "../llm/LanguageModel.js"
import * as ModelInfo from "../llm/ModelInfo.js"
import { withRules } from "../llm/internal/withRules.js"
import type { ProviderError } from "../llm/ProviderError.js"
import * as internal from "./internal/simulated.js"

// ---------------------------------------------------------------------------
// Schemas: the config-file form of latencies and faults
// ---------------------------------------------------------------------------

const durationHint = `a duration such as "30 seconds", "250 millis" or "2 minutes", or a number of milliseconds`

const maxConfigDuration = Duration.days(365)

/**
 * A duration as a config file writes it: an Effect duration string
 * (`"30 seconds"`, `"250 millis"`, `"2 minutes"`) or a non-negative number of
 * milliseconds, at most 365 days. Decodes to a `Duration`, encodes to
 * milliseconds.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.ConfigDuration)("30 seconds") // Duration.seconds(30)
 * Schema.decodeUnknownSync(Simulated.ConfigDuration)(1500) // Duration.millis(1500)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConfigDuration: Schema.Schema<Duration.Duration, number | string> = Schema.transformOrFail(
  Schema.Union(Schema.Number.pipe(Schema.finite(), Schema.nonNegative()), Schema.String),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      const decoded = typeof input === "string" && input.trim().startsWith("-") ? Option.none() : Duration.decodeUnknown(input)
      if (Option.isNone(decoded)) return ParseResult.fail(new ParseResult.Type(ast, input, `Expected ${durationHint}, got ${JSON.stringify(input)}`))
      // a year is past any fault, latency or load a simulation or a config means; 1e308 ms hung the simulator
      return Duration.isFinite(decoded.value) && Duration.greaterThan(decoded.value, maxConfigDuration)
        ? ParseResult.fail(new ParseResult.Type(ast, input, "must be at most 365 days"))
        : ParseResult.succeed(decoded.value)
    },
    encode: (duration, _, ast) =>
      Duration.isFinite(duration)
        ? ParseResult.succeed(Duration.toMillis(duration))
        : ParseResult.fail(new ParseResult.Type(ast, duration, "An infinite duration has no config form"))
  }
).annotations({ identifier: "ConfigDuration", description: durationHint })

/**
 * A latency distribution: log-normal with median `p50` and 99th percentile
 * `p99` (so sigma = ln(p99 / p50) / 2.326). `p99` must not be below `p50`.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.LatencyDistribution)({ p50: "800 millis", p99: "4 seconds" })
 *
 * @since 0.1.0
 * @category schemas
 */
export const LatencyDistribution = withRules(Schema.Struct({ p50: ConfigDuration, p99: ConfigDuration }), [
  { reads: ["p50", "p99"], check: (d) => Duration.lessThanOrEqualTo(d.p50, d.p99) || "p99 must not be below p50" }
]).annotations({ identifier: "LatencyDistribution" })

/**
 * A latency: fixed (`"200 millis"`) or a distribution (`{ p50, p99 }`).
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.Latency)("45 seconds")
 * Schema.decodeUnknownSync(Simulated.Latency)({ p50: 300, p99: 2000 })
 *
 * @since 0.1.0
 * @category schemas
 */
export const Latency = Schema.Union(ConfigDuration, LatencyDistribution)

/**
 * A decoded latency: a fixed `Duration`, or `{ p50, p99 }` of `Duration`s.
 *
 * @example
 * ```ts
 * import { Duration, Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const median = (latency: Simulated.Latency): Duration.Duration => (Duration.isDuration(latency) ? latency : latency.p50)
 * const options = Schema.decodeUnknownSync(Simulated.Config)({ provider: "p", model: "m", latency: { p50: 300, p99: 2000 } })
 * options.latency === undefined ? undefined : median(options.latency) // 300 millis
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Latency = typeof Latency.Type

/** An optional field that is absent when not given (never `undefined`, as `exactOptionalPropertyTypes` wants). */
const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** Unknown keys in a fault are an error, so a typo cannot silently change its kind. */
const strict = { parseOptions: { onExcessProperty: "error" } } as const

const windowFields = {
  /** When the fault starts, since the epoch (default: at once). */
  from: optional(ConfigDuration),
  /** When the fault ends, since the epoch (default: never). The window is `[from, to)`. */
  to: optional(ConfigDuration)
}

const errorRate = optional(
  Schema.Number.pipe(Schema.between(0, 1)).annotations({
    description: "the share of calls in the window the fault applies to (default 1: all of them)"
  })
)

/** A fault's window: its `to` after its `from`, checked beside the fault's other problems. */
const validWindow = {
  reads: ["from", "to"],
  check: (fault: { readonly from?: Duration.Duration; readonly to?: Duration.Duration }) =>
    fault.to === undefined || Duration.greaterThan(fault.to, fault.from ?? Duration.zero) || "`to` must be after `from`"
} as const

/**
 * The provider answers with an HTTP error status: `{ status: 529 }` is hard
 * down; `{ status: 429, retryAfter: "30 seconds" }` is rate limited; with
 * `errorRate` it is a gray failure (`{ status: 500, errorRate: 0.3 }`). The
 * status maps to an error class through `fromStatus` (529/503 `Overloaded`,
 * 429 `RateLimited`, other 5xx `ServerError`, ...); `retryAfter` is carried
 * by `RateLimited` and `Overloaded`. The failing call takes `after` (default:
 * the provider's `errorDelay`).
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.StatusFault)({ from: "5 minutes", to: "6 minutes", status: 429, retryAfter: "30 seconds" })
 *
 * @since 0.1.0
 * @category schemas
 */
export const StatusFault = withRules(Schema.Struct({
  ...windowFields,
  status: Schema.Int.pipe(Schema.between(400, 599)),
  retryAfter: optional(ConfigDuration),
  errorRate,
  after: optional(ConfigDuration)
}).annotations(strict), [validWindow]).annotations({
  identifier: "StatusFault"
})

/**
 * A decoded status fault (durations as `Duration`).
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * // the statuses the schedule fails with
 * const statuses = model.faults
 *   .filter((fault): fault is Simulated.StatusFault => "status" in fault)
 *   .map((fault) => fault.status)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusFault extends Schema.Schema.Type<typeof StatusFault> {}

/**
 * The provider is slow: calls take `latency` (fixed or a distribution)
 * instead of the provider's own latency, and still succeed.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.SlowFault)({ from: "1 minute", to: "3 minutes", latency: "45 seconds" })
 *
 * @since 0.1.0
 * @category schemas
 */
export const SlowFault = withRules(Schema.Struct({ ...windowFields, latency: Latency }).annotations(strict), [validWindow]).annotations({
  identifier: "SlowFault"
})

/**
 * A decoded slow fault (durations as `Duration`).
 *
 * @example
 * ```ts
 * import { Clock, Effect, Option } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * // the slow fault a call starting now would meet, if that is what governs it
 * const slowNow = Effect.map(Clock.currentTimeMillis, (now) =>
 *   Option.filter(model.faultAt(now), (fault): fault is Simulated.SlowFault => "latency" in fault)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SlowFault extends Schema.Schema.Type<typeof SlowFault> {}

/**
 * The connection is reset: calls fail with `TransportError` (code
 * `ECONNRESET`) after `after` (default: the provider's `errorDelay`). With
 * `errorRate`, only that share of calls.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.ResetFault)({ from: 0, to: 60000, reset: true })
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResetFault = withRules(Schema.Struct({
  ...windowFields,
  reset: Schema.Literal(true),
  errorRate,
  after: optional(ConfigDuration)
}).annotations(strict), [validWindow]).annotations({
  identifier: "ResetFault"
})

/**
 * A decoded reset fault (durations as `Duration`).
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * // the share of calls each reset fault breaks
 * const resets = model.faults.filter((fault): fault is Simulated.ResetFault => "reset" in fault)
 * resets.map((fault) => fault.errorRate ?? 1)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ResetFault extends Schema.Schema.Type<typeof ResetFault> {}

/**
 * Answers are cut: a stream sends its first `cutAfterTokens` text tokens
 * (fewer if the answer is shorter) and then fails with `TransportError` (code
 * `ECONNRESET`) where its next chunk was due, never sending `Finish`;
 * `complete` fails with the same error when its answer was due. With
 * `errorRate`, only that share of calls.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * Schema.decodeUnknownSync(Simulated.CutFault)({ from: "2 minutes", cutAfterTokens: 20 })
 *
 * @since 0.1.0
 * @category schemas
 */
export const CutFault = withRules(Schema.Struct({
  ...windowFields,
  cutAfterTokens: Schema.NonNegativeInt,
  errorRate
}).annotations(strict), [validWindow]).annotations({
  identifier: "CutFault"
})

/**
 * A decoded cut fault (durations as `Duration`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // a decoded fault is a fault input too
 * const cut: Simulated.CutFault = Schema.decodeUnknownSync(Simulated.CutFault)({ from: "2 minutes", cutAfterTokens: 20 })
 * const model = Simulated.make({ provider: "openai", model: "gpt-4.1", faults: [cut] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CutFault extends Schema.Schema.Type<typeof CutFault> {}

/**
 * One fault of a schedule, as a config file writes it; embed it in a config
 * schema as `Schema.Array(Simulated.Fault)`. Its kind is given by which of
 * `status`, `latency`, `reset` or `cutAfterTokens` it has (exactly one);
 * unknown keys are rejected.
 *
 * @example
 * import { Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const faults = Schema.decodeUnknownSync(Schema.Array(Simulated.Fault))([
 *   { from: "10 minutes", to: "25 minutes", status: 529 },
 *   { from: "30 minutes", to: "40 minutes", status: 500, errorRate: 0.3 },
 *   { from: "45 minutes", to: "50 minutes", latency: "45 seconds" },
 *   { from: "50 minutes", to: "51 minutes", reset: true },
 *   { from: "55 minutes", cutAfterTokens: 20 }
 * ])
 *
 * @since 0.1.0
 * @category schemas
 */
export const Fault = Schema.Union(StatusFault, SlowFault, ResetFault, CutFault).annotations({ identifier: "Fault" })

/**
 * A decoded fault (durations as `Duration`).
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * // a fault's kind is which of status, latency, reset or cutAfterTokens it has
 * const describe = (fault: Simulated.Fault): string =>
 *   "status" in fault
 *     ? `HTTP ${fault.status}`
 *     : "latency" in fault
 *     ? "slow"
 *     : "reset" in fault
 *     ? "connection reset"
 *     : `cut after ${fault.cutAfterTokens} tokens`
 * model.faults.map(describe)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = StatusFault | SlowFault | ResetFault | CutFault

// ---------------------------------------------------------------------------
// Programmatic inputs
// ---------------------------------------------------------------------------

/**
 * A latency as code writes it: any `DurationInput`, or `{ p50, p99 }` for a
 * log-normal. A fixed latency may be `Duration.infinity`: calls then hang.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const usual: Simulated.LatencyInput = { p50: "1 second", p99: "3 seconds" }
 * const hang: Simulated.LatencyInput = Duration.infinity // calls in the window never answer
 * const model = Simulated.make({
 *   provider: "openai",
 *   model: "gpt-4.1",
 *   latency: usual,
 *   faults: [{ from: "1 minute", to: "2 minutes", latency: hang }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type LatencyInput =
  | Duration.DurationInput
  | { readonly p50: Duration.DurationInput; readonly p99: Duration.DurationInput }

/**
 * The window of a fault as code writes it (any `DurationInput` since the
 * epoch): `[from, to)`, `from` defaulting to 0 and `to` to never.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // one window for two faults: a gray failure whose served calls are slow
 * const window: Simulated.FaultWindowInput = { from: "10 minutes", to: Duration.minutes(15) }
 * const faults: ReadonlyArray<Simulated.FaultInput> = [
 *   { ...window, status: 500, errorRate: 0.3 },
 *   { ...window, latency: "8 seconds" }
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultWindowInput {
  readonly from?: Duration.DurationInput
  readonly to?: Duration.DurationInput
}

/**
 * {@link StatusFault} as code writes it.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // rate limited for the first minute of every ten, for an hour
 * const limits: ReadonlyArray<Simulated.StatusFaultInput> = Array.from({ length: 6 }, (_, i) => ({
 *   from: Duration.minutes(10 * i),
 *   to: Duration.minutes(10 * i + 1),
 *   status: 429,
 *   retryAfter: "20 seconds"
 * }))
 * const model = Simulated.make({ provider: "openai", model: "gpt-4.1-mini", faults: limits })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusFaultInput extends FaultWindowInput {
  readonly status: number
  readonly retryAfter?: Duration.DurationInput
  readonly errorRate?: number
  readonly after?: Duration.DurationInput
}

/**
 * {@link SlowFault} as code writes it.
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // a brownout: ten minutes of slow answers that still succeed
 * const brownout: Simulated.SlowFaultInput = { from: "5 minutes", to: "15 minutes", latency: { p50: "6 seconds", p99: "40 seconds" } }
 * const layer = Simulated.layer({ provider: "anthropic", model: "claude-sonnet-4-5", faults: [brownout] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SlowFaultInput extends FaultWindowInput {
  readonly latency: LatencyInput
}

/**
 * {@link ResetFault} as code writes it.
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // no window: one call in twenty is reset, all the time, after 300 ms
 * const flaky: Simulated.ResetFaultInput = { reset: true, errorRate: 0.05, after: "300 millis" }
 * const model = Simulated.make({ provider: "gemini", model: "gemini-2.5-flash", faults: [flaky] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ResetFaultInput extends FaultWindowInput {
  readonly reset: true
  readonly errorRate?: number
  readonly after?: Duration.DurationInput
}

/**
 * {@link CutFault} as code writes it.
 *
 * @example
 * ```ts
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // for two minutes streams break after 5 tokens: too late to fail over unseen
 * const cut: Simulated.CutFaultInput = { to: "2 minutes", cutAfterTokens: 5 }
 * const model = Simulated.make({ provider: "openai", model: "gpt-4.1", tokenDelay: 0, faults: [cut] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CutFaultInput extends FaultWindowInput {
  readonly cutAfterTokens: number
  readonly errorRate?: number
}

/**
 * A fault as code writes it: the config form with any `DurationInput`
 * (`"30 seconds"`, `30_000`, `Duration.seconds(30)`). A decoded
 * {@link Fault} is one too.
 *
 * @example
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const faults: ReadonlyArray<Simulated.FaultInput> = [
 *   { from: "1 minute", to: "2 minutes", status: 429, retryAfter: "30 seconds" },
 *   { from: "3 minutes", reset: true, errorRate: 0.1 }
 * ]
 *
 * @since 0.1.0
 * @category models
 */
export type FaultInput = StatusFaultInput | SlowFaultInput | ResetFaultInput | CutFaultInput

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * How a simulated provider behaves.
 *
 * - `provider`, `model`: the names it reports (in errors and responses).
 * - `info`: overrides of its {@link ModelInfo.ModelInfo} (default: a 128,000
 *   token window, free). A request whose `Tokens.required` exceeds the window
 *   fails with `ContextLengthExceeded` after `errorDelay`.
 * - `latency`: time to the answer (`complete`) or to the first token
 *   (`stream`); fixed or `{ p50, p99 }` (default `"100 millis"`). A drawn
 *   latency is rounded to whole milliseconds, so virtual times add up
 *   exactly. `complete` takes the latency alone; a stream takes it plus a
 *   token delay for each token after the first.
 * - `tokensPerSecond` / `tokenDelay`: the pace of stream tokens after the
 *   first (default 100 tokens a second; `tokenDelay` wins; 0 sends them all
 *   at once, the cheapest under a `TestClock`).
 * - `errorDelay`: how long a failing call takes (default `"50 millis"`).
 * - `reply`: the answer's text, fixed or from the request (default:
 *   `"<provider>/<model>: "` and the first 12 words of the last user message).
 *   It is cut into tokens of one word each. A request with a
 *   `responseFormat` gets JSON by default: `{"answer": <that text>}` for
 *   `json_object`, and for `json_schema` a value of the schema: its
 *   `const`, `enum` or `default`, else one of its `type` (`$ref`, `allOf`,
 *   `anyOf`, tuples and recursion followed; numbers inside their bounds and
 *   `multipleOf`; strings of that text, or of a common `format`, inside
 *   their lengths). `pattern`, `uniqueItems` and conditionals are not
 *   followed. A schema asking for more than 10,000 values, or a string
 *   longer than 10,000, fails with `InvalidRequest`. A `reply` given is
 *   sent as it is.
 * - `outputTokens`: make every answer exactly this many tokens (the reply
 *   repeats or is cut). The request's `maxTokens` still caps it (finish
 *   reason `"length"`). A JSON answer is never resized, so it stays JSON.
 * - `info.responseFormats`: the JSON answers it gives (default both); a
 *   request for another fails with `InvalidRequest`, as an adapter's does.
 * - `seed`: the seed of its draws (default: a hash of `provider/model`).
 * - `faults`: the fault schedule (see {@link Fault} and {@link Service}).
 * - `epoch`: the instant (epoch milliseconds) fault windows are measured from
 *   (default: the `Clock`'s time when `make` runs).
 * - `history`: how many recent calls {@link Service.calls} keeps (default 1,000).
 *
 * @example
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const options: Simulated.Options = {
 *   provider: "gemini",
 *   model: "gemini-2.5-flash",
 *   info: { contextWindow: 1_000_000, price: { input: 0.3, output: 2.5 } },
 *   latency: { p50: "600 millis", p99: "5 seconds" },
 *   tokensPerSecond: 150,
 *   reply: (request) => `You sent ${request.messages.length} messages.`,
 *   seed: 42,
 *   faults: [{ from: "10 minutes", to: "12 minutes", reset: true, errorRate: 0.2 }]
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: string
  readonly model: string
  readonly info?: {
    readonly contextWindow?: number
    readonly maxOutputTokens?: number
    readonly price?: ModelInfo.Price
    readonly responseFormats?: ReadonlyArray<ModelInfo.ResponseFormatType>
  }
  readonly latency?: LatencyInput
  readonly tokensPerSecond?: number
  readonly tokenDelay?: Duration.DurationInput
  readonly errorDelay?: Duration.DurationInput
  readonly reply?: string | ((request: ChatRequest) => string)
  readonly outputTokens?: number
  readonly seed?: number
  readonly faults?: ReadonlyArray<FaultInput>
  readonly epoch?: number
  readonly history?: number
}

/**
 * A simulated provider as a config file writes it; its decoded value is
 * {@link Options} (without a function `reply` or an `epoch`).
 *
 * @example
 * import { Effect, Schema } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const options = Schema.decodeUnknownSync(Simulated.Config)({
 *   provider: "openai", model: "gpt-4.1-mini",
 *   latency: { p50: "400 millis", p99: "3 seconds" },
 *   faults: [{ from: "5 minutes", to: "10 minutes", status: 503 }]
 * })
 * const model = Simulated.make(options)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Config = Schema.Struct({
  provider: Schema.String,
  model: Schema.String,
  info: optional(
    Schema.Struct({
      contextWindow: optional(Schema.Int.pipe(Schema.positive())),
      maxOutputTokens: optional(Schema.Int.pipe(Schema.positive())),
      price: optional(ModelInfo.Price),
      responseFormats: optional(Schema.Array(ModelInfo.ResponseFormatType))
    })
  ),
  latency: optional(Latency),
  tokensPerSecond: optional(Schema.Number.pipe(Schema.finite(), Schema.positive())),
  tokenDelay: optional(ConfigDuration),
  errorDelay: optional(ConfigDuration),
  reply: optional(Schema.String),
  outputTokens: optional(Schema.NonNegativeInt),
  seed: optional(Schema.Int),
  faults: optional(Schema.Array(Fault)),
  history: optional(Schema.NonNegativeInt)
}).annotations({ identifier: "SimulatedConfig" })

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * How a call ended: `"pending"` while it runs; `"interrupted"` when it was
 * interrupted or its stream was abandoned before its `Finish` chunk.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * const byOutcome = Effect.map(model.calls, (calls) => {
 *   const counts: Record<Simulated.Outcome, number> = { pending: 0, succeeded: 0, failed: 0, interrupted: 0 }
 *   for (const call of calls) counts[call.outcome]++
 *   return counts
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "pending" | "succeeded" | "failed" | "interrupted"

/**
 * One call, as recorded.
 *
 * - `index`: its number, from 0, in the order calls started (its draws).
 * - `startedAt`, `endedAt`: `Clock` times in epoch milliseconds.
 * - `latency`: the milliseconds it was to wait for its answer or first token
 *   (or, for a call failed fast, for its failure).
 * - `tokens`: the text tokens it delivered.
 * - `fault`: the fault that failed it, else the cut or slow fault it met.
 *
 * @example
 * import { Effect } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * const failedAt = Effect.map(model.calls, (calls) =>
 *   calls.filter((call) => call.outcome === "failed").map((call) => call.startedAt - model.epoch)
 * )
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly index: number
  readonly method: "complete" | "stream"
  readonly startedAt: number
  readonly endedAt?: number
  readonly outcome: Outcome
  readonly error?: ProviderError
  readonly latency: number
  readonly tokens: number
  readonly fault?: Fault
}

/**
 * Counters since the provider was made. `failures` counts failed calls by
 * error `_tag`; `interrupted` counts calls interrupted (a hedge or race
 * loser) or streams abandoned before `Finish`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * declare const model: Simulated.Service
 * const overloadedShare = Effect.map(model.stats, (s) => (s.failures.Overloaded ?? 0) / Math.max(1, s.calls))
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly calls: number
  readonly inFlight: number
  readonly succeeded: number
  readonly failed: number
  readonly interrupted: number
  readonly failures: Readonly<Partial<Record<ProviderError["_tag"], number>>>
}

/**
 * A simulated provider: a `LanguageModel.Service<ProviderError>` plus a view
 * of its schedule and its records.
 *
 * **Precedence** when fault windows overlap, for a call starting at time t:
 * 1. Failing faults (status and reset) active at t are taken in list order;
 *    the first that applies (always, or by the call's own draw for its
 *    `errorRate`) fails the call fast (after its `after`, or `errorDelay`).
 * 2. Otherwise the call is served: the first active slow fault sets its
 *    latency, and the first active cut fault that applies cuts its answer,
 *    so a slow and a cut fault combine.
 * 3. A served request larger than the context window fails with
 *    `ContextLengthExceeded` (after `errorDelay`).
 *
 * **Schedule view** (pure, from the schedule alone, for an oracle):
 * - `canServe(at)`: whether a call arriving at `at` (epoch ms) could
 *   succeed: false inside the window of a status, reset or cut fault without
 *   `errorRate` (or with `errorRate` 1); true elsewhere, including slow
 *   windows (served slowly) and gray windows (served unless the call's draw
 *   fails it). It ignores the request (its size against the window).
 * - `faultsAt(at)`: every fault active at `at`, in list order.
 * - `faultAt(at)`: the first of them in precedence order: failing, then
 *   cut, then slow.
 *
 * **Records**: `stats` counts calls and outcomes; `calls` lists the most
 * recent `history` calls (oldest first), including interrupted ones.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* Simulated.make({
 *     provider: "openai", model: "gpt-4.1", latency: 0,
 *     faults: [{ from: "1 minute", to: "2 minutes", status: 503 }]
 *   })
 *   model.canServe(model.epoch + 30_000) // true
 *   model.canServe(model.epoch + 90_000) // false
 *   model.faultAt(model.epoch + 90_000) // Option.some({ from: 1 minute, to: 2 minutes, status: 503 })
 *   yield* model.complete(Chat.prompt("Hi"))
 *   const stats = yield* model.stats // { calls: 1, succeeded: 1, ... }
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends LanguageModel.Service<ProviderError> {
  /** The instant (epoch ms) fault windows are measured from. */
  readonly epoch: number
  /** The fault schedule, decoded. */
  readonly faults: ReadonlyArray<Fault>
  /** Whether a call arriving at `at` (epoch ms) could succeed. */
  readonly canServe: (at: number) => boolean
  /** The fault that governs a call arriving at `at` (epoch ms), if any. */
  readonly faultAt: (at: number) => Option.Option<Fault>
  /** Every fault active at `at` (epoch ms), in list order. */
  readonly faultsAt: (at: number) => ReadonlyArray<Fault>
  /** Counters of calls and outcomes. */
  readonly stats: Effect.Effect<Stats>
  /** The most recent calls, oldest first. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
}

/**
 * Makes a simulated provider. Invalid options (a `p99` below `p50`, an
 * `errorRate` outside [0, 1], a fault window that ends before it starts, a
 * fault with no kind or two) are a defect.
 *
 * @example
 * import { Effect, Fiber, TestClock } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * // under a TestClock (it.effect, or Effect.provide(TestContext.TestContext))
 * const program = Effect.gen(function* () {
 *   const model = yield* Simulated.make({
 *     provider: "openai",
 *     model: "gpt-4.1-mini",
 *     latency: "2 seconds",
 *     faults: [{ from: "1 minute", to: "2 minutes", status: 429, retryAfter: "30 seconds" }]
 *   })
 *   const fiber = yield* Effect.fork(model.complete(Chat.prompt("Hi")))
 *   yield* TestClock.adjust("2 seconds")
 *   const response = yield* Fiber.join(fiber) // text "openai/gpt-4.1-mini: Hi", after exactly 2 seconds
 *   model.canServe(model.epoch + 90_000) // false: rate limited from 1 to 2 minutes
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<Service> = internal.make

/**
 * A layer providing a simulated provider as the `LanguageModel`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 * import { Simulated } from "effect-llm-failover/providers"
 *
 * const answer = LanguageModel.complete(Chat.prompt("Hi")).pipe(
 *   Effect.provide(Simulated.layer({ provider: "sim", model: "echo", reply: "Hello!" }))
 * )
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))
