/**
 * Sliding windows for the rate-based trip strategies of the circuit breaker.
 *
 * A window counts recorded calls and the "bad" ones among them (failed, or
 * slow). Updates and reads are O(1) (the time window amortises bucket
 * expiry over at most one pass of its fixed bucket count) and allocate
 * nothing: counters live in typed arrays sized once at construction.
 *
 * @internal
 */
import type { SlidingWindow } from "../CircuitBreaker.js"
import { CountWindow } from "./windowCount.js"
import { TimeWindow } from "./windowTime.js"

/** @internal */
export interface Window {
  /** True when the window needs real timestamps to age its contents. */
  readonly usesTime: boolean
  /** Adds one call to the window. */
  record(bad: boolean, nowMillis: number): void
  /** Calls currently in the window. */
  calls(nowMillis: number): number
  /** Bad calls currently in the window. */
  bad(nowMillis: number): number
  /** Empties the window. */
  reset(nowMillis: number): void
}

/** @internal */
export const make = (spec: SlidingWindow): Window =>
  spec._tag === "CountWindow" ? new CountWindow(spec.size) : new TimeWindow(spec.durationMillis, spec.buckets)

/** @internal */
/** The most calls a count window holds: one byte each, kept for every target. @internal */
export const maxWindowCalls = 100_000

/** The most time buckets a time window has. @internal */
export const maxWindowBuckets = 1_000

/** @internal */
export const countWindow = (size: number): SlidingWindow => {
  if (!Number.isSafeInteger(size) || size < 1 || size > maxWindowCalls) {
    throw new RangeError(`countWindow: size must be a whole number from 1 to ${maxWindowCalls}, got ${size}`)
  }
  return { _tag: "CountWindow", size }
}

/** @internal */
export const timeWindow = (durationMillis: number, buckets: number): SlidingWindow => {
  if (!(durationMillis > 0 && Number.isFinite(durationMillis))) {
    throw new RangeError(`timeWindow: duration must be positive and finite, got ${durationMillis} millis`)
  }
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > maxWindowBuckets) {
    throw new RangeError(`timeWindow: buckets must be a whole number from 1 to ${maxWindowBuckets}, got ${buckets}`)
  }
  return { _tag: "TimeWindow", durationMillis, buckets }
}
