/**
 * The errors a failover chain can end with. A chain never lets a retriable
 * provider error escape: it either succeeds, fails with a fatal error the
 * request itself caused, or fails with {@link ChainExhausted} carrying every
 * attempt.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { ProviderError } from "./ProviderError.js"

/**
 * Why the router did not call a target at all.
 *
 * - `circuit-open`: its circuit breaker is open.
 * - `bulkhead-full`: it has too many calls in flight.
 * - `budget-exhausted`: the retry budget refused a retry or hedge.
 * - `context-too-small`: the prompt does not fit its context window.
 * - `unsupported-format`: its model cannot give the JSON answer the request
 *   asks for (`responseFormat`), and neither can any other in the chain.
 * - `rate-limit`: a local or shared rate limit for the target was reached.
 * - `deadline`: the request's total deadline had passed.
 *
 * @example
 * import { Schema } from "effect"
 * import { RejectionReason } from "effect-llm-failover/llm"
 *
 * Schema.is(RejectionReason)("circuit-open") // true
 *
 * @since 0.1.0
 * @category models
 */
export const RejectionReason = Schema.Literal(
  "circuit-open",
  "bulkhead-full",
  "budget-exhausted",
  "context-too-small",
  "unsupported-format",
  "rate-limit",
  "deadline"
)

/**
 * Why the router did not call a target at all.
 *
 * @example
 * ```ts
 * import type { ChainExhausted, RejectionReason } from "effect-llm-failover/llm"
 *
 * declare const error: ChainExhausted
 * // why targets were passed over without a call
 * const reasons: ReadonlyArray<RejectionReason> = error.attempts.flatMap((attempt) =>
 *   attempt.error?._tag === "Rejected" ? [attempt.error.reason] : []
 * )
 * reasons.includes("circuit-open") // some target's breaker was open
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type RejectionReason = typeof RejectionReason.Type

/**
 * A target the router passed over without calling it.
 *
 * @example
 * import { Duration } from "effect"
 * import { Rejected } from "effect-llm-failover/llm"
 *
 * const skipped = new Rejected({
 *   provider: "anthropic", model: "claude-sonnet-4-5", reason: "circuit-open",
 *   message: "circuit open for 25 seconds", retryAfter: Duration.seconds(25)
 * })
 *
 * @since 0.1.0
 * @category errors
 */
export class Rejected extends Schema.TaggedError<Rejected>("effect-llm-failover/Rejected")("Rejected", {
  provider: Schema.String,
  model: Schema.String,
  reason: RejectionReason,
  message: Schema.String,
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  /**
   * `true` when the target's own server asked for the wait (its breaker is
   * held open by the Retry-After of a 429, or of a 529): to a client, a rate
   * limit, as `reason: "rate-limit"` is.
   */
  serverAsked: Schema.optional(Schema.Boolean)
}) {}

/**
 * One try of one target, as recorded by the router.
 *
 * @example
 * import { Duration } from "effect"
 * import { type Attempt, ServerError } from "effect-llm-failover/llm"
 *
 * const failed: Attempt = {
 *   target: "primary",
 *   provider: "openai",
 *   model: "gpt-4.1",
 *   error: new ServerError({ provider: "openai", model: "gpt-4.1", message: "upstream 500", status: 500 }),
 *   duration: Duration.millis(420)
 * }
 *
 * @since 0.1.0
 * @category schemas
 */
export const Attempt = Schema.Struct({
  /** The target's name in the chain (its model alias). */
  target: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  /** The error, or absent when the attempt succeeded. */
  error: Schema.optional(Schema.Union(ProviderError, Rejected)),
  duration: Schema.DurationFromMillis
})

/**
 * One try of one target, as a chain's error records it.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import type { Attempt, ChainExhausted } from "effect-llm-failover/llm"
 *
 * declare const error: ChainExhausted
 * const line = (attempt: Attempt): string =>
 *   `${attempt.target} (${attempt.provider}/${attempt.model}): ${attempt.error?._tag ?? "ok"} in ${Duration.toMillis(attempt.duration)} ms`
 * error.attempts.map(line) // ["primary (openai/gpt-4.1): ServerError in 420 ms", ...]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempt extends Schema.Schema.Type<typeof Attempt> {}

/**
 * Every target of a chain was tried (or passed over) and none answered.
 * `deadlinePassed` is `true` when the request's total deadline ended it
 * (the gateway answers that with a 504, the rest with a 503 or 429).
 *
 * @example
 * import { ChainExhausted } from "effect-llm-failover/llm"
 *
 * const error = new ChainExhausted({ chain: "default", message: "all 3 targets failed", attempts: [] })
 * const late = new ChainExhausted({ chain: "default", message: "deadline passed", attempts: [], deadlinePassed: true })
 *
 * @since 0.1.0
 * @category errors
 */
export class ChainExhausted extends Schema.TaggedError<ChainExhausted>("effect-llm-failover/ChainExhausted")(
  "ChainExhausted",
  {
    chain: Schema.String,
    message: Schema.String,
    attempts: Schema.Array(Attempt),
    deadlinePassed: Schema.optionalWith(Schema.Boolean, { exact: true })
  }
) {}

/**
 * A stream failed after content had already been sent to the caller, so it
 * could not fail over invisibly. `partialText` is what was sent.
 *
 * @example
 * import { StreamInterrupted, ServerError } from "effect-llm-failover/llm"
 *
 * const error = new StreamInterrupted({
 *   chain: "default", provider: "openai", model: "gpt-4.1", message: "stream failed after 12 chunks",
 *   partialText: "The answer is", cause: new ServerError({ provider: "openai", model: "gpt-4.1", message: "reset" })
 * })
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamInterrupted extends Schema.TaggedError<StreamInterrupted>("effect-llm-failover/StreamInterrupted")(
  "StreamInterrupted",
  {
    chain: Schema.String,
    provider: Schema.String,
    model: Schema.String,
    message: Schema.String,
    partialText: Schema.String,
    cause: ProviderError
  }
) {}
