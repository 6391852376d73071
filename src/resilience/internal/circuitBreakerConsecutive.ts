import type { CountedOutcome, TripPolicy, TripReason, TripStrategy, WindowMetrics } from "../CircuitBreaker.js"

/**
 * Opens after `threshold` failures in a row. A success starts the count
 * over only if the call started at or after the latest counted failing
 * call started: a call admitted before it (say, a slow one that began
 * before an outage and succeeds during it) says nothing about the
 * dependency since then. Not after that failure ended: calls that overlap
 * (10 s answers, a request a second) would then never reset the count, and
 * one failure in five would trip it. An abandoned slow call neither counts
 * nor resets.
 *
 * @internal
 */
export class ConsecutiveFailures implements TripStrategy {
  readonly usesTime = true
  private count = 0
  /** When the latest counted failing call started; -Infinity before any. */
  private lastFailureAt = Number.NEGATIVE_INFINITY

  constructor(readonly threshold: number) {}

  record(outcome: CountedOutcome, _durationMillis: number, _nowMillis: number, startedAtMillis: number): TripReason | undefined {
    if (outcome === "failure") {
      this.count++
      this.lastFailureAt = Math.max(this.lastFailureAt, startedAtMillis)
    } else if (outcome === "success" && startedAtMillis >= this.lastFailureAt) {
      this.count = 0
    }
    return this.count >= this.threshold ? "consecutive-failures" : undefined
  }

  rejectsProbe(): boolean {
    return false
  }

  oneFailureShort(): boolean {
    return this.count > 0 && this.count === this.threshold - 1
  }

  reset(): void {
    this.count = 0
    this.lastFailureAt = Number.NEGATIVE_INFINITY
  }

  metrics(): WindowMetrics | undefined {
    return undefined
  }
}

/**
 * Opens after `threshold` calls in a row abandoned as slow (outcome
 * `"slow"`: a hedge or race lost to a faster alternative). A success ends
 * the run only if its call started at or after the latest abandoned call
 * started, as for failures. Failures neither count nor reset.
 *
 * @internal
 */
export class ConsecutiveSlowCalls implements TripStrategy {
  readonly usesTime = true
  private count = 0
  private lastSlowAt = Number.NEGATIVE_INFINITY

  constructor(readonly threshold: number) {}

  record(outcome: CountedOutcome, _durationMillis: number, _nowMillis: number, startedAtMillis: number): TripReason | undefined {
    if (outcome === "slow") {
      this.count++
      this.lastSlowAt = Math.max(this.lastSlowAt, startedAtMillis)
    } else if (outcome === "success" && startedAtMillis >= this.lastSlowAt) {
      this.count = 0
    }
    return this.count >= this.threshold ? "consecutive-slow-calls" : undefined
  }

  rejectsProbe(outcome: "success" | "slow"): boolean {
    return outcome === "slow"
  }

  oneFailureShort(): boolean {
    return this.count > 0 && this.count === this.threshold - 1
  }

  reset(): void {
    this.count = 0
    this.lastSlowAt = Number.NEGATIVE_INFINITY
  }

  metrics(): WindowMetrics | undefined {
    return undefined
  }
}

/** Validates the threshold now; each breaker then gets its own fresh counter. @internal */
export const consecutiveSlowCalls = (threshold: number): TripPolicy => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`consecutiveSlowCalls: threshold must be a positive integer, got ${threshold}`)
  }
  return { make: () => new ConsecutiveSlowCalls(threshold) }
}

/** Validates the threshold now; each breaker then gets its own fresh counter. @internal */
export const consecutiveFailures = (threshold: number): TripPolicy => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`consecutiveFailures: threshold must be a positive integer, got ${threshold}`)
  }
  return { make: () => new ConsecutiveFailures(threshold) }
}
