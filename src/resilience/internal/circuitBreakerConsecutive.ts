import type { CountedOutcome, TripPolicy, TripReason, TripStrategy, WindowMetrics } from "../CircuitBreaker.js"

/**
 * Opens after `threshold` calls in a row that ended as `counted`: failures
 * (`consecutiveFailures`), or calls abandoned as slow, a hedge or race lost
 * to a faster alternative (`consecutiveSlowCalls`). A success starts the
 * count over only if the call started at or after the latest counted call
 * started: a call admitted before it (say, a slow one that began before an
 * outage and succeeds during it) says nothing about the dependency since
 * then. Not after that call ended: calls that overlap (10 s answers, a
 * request a second) would then never reset the count, and one failure in
 * five would trip it. Other outcomes neither count nor reset (a failure
 * does nothing to a run of slow calls, an abandoned call to a run of
 * failures). A half-open probe abandoned as slow fails a run of slow calls'
 * breaker.
 *
 * @internal
 */
export class ConsecutiveRun implements TripStrategy {
  readonly usesTime = true
  private count = 0
  /** When the latest counted call started; -Infinity before any. */
  private lastCountedAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly threshold: number,
    private readonly counted: "failure" | "slow",
    private readonly reason: TripReason
  ) {}

  record(outcome: CountedOutcome, _durationMillis: number, _nowMillis: number, startedAtMillis: number): TripReason | undefined {
    if (outcome === this.counted) {
      this.count++
      this.lastCountedAt = Math.max(this.lastCountedAt, startedAtMillis)
    } else if (outcome === "success" && startedAtMillis >= this.lastCountedAt) {
      this.count = 0
    }
    return this.count >= this.threshold ? this.reason : undefined
  }

  rejectsProbe(outcome: "success" | "slow"): boolean {
    return this.counted === "slow" && outcome === "slow"
  }

  oneFailureShort(): boolean {
    return this.count > 0 && this.count === this.threshold - 1
  }

  reset(): void {
    this.count = 0
    this.lastCountedAt = Number.NEGATIVE_INFINITY
  }

  metrics(): WindowMetrics | undefined {
    return undefined
  }
}

/** Validates the threshold now; each breaker then gets its own fresh counter. */
const run = (label: string, counted: "failure" | "slow", reason: TripReason) => (threshold: number): TripPolicy => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`${label}: threshold must be a positive integer, got ${threshold}`)
  }
  return { make: () => new ConsecutiveRun(threshold, counted, reason) }
}

/** @internal */
export const consecutiveFailures = run("consecutiveFailures", "failure", "consecutive-failures")

/** @internal */
export const consecutiveSlowCalls = run("consecutiveSlowCalls", "slow", "consecutive-slow-calls")
