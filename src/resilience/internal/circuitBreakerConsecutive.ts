import type { TripPolicy, TripReason, TripStrategy, WindowMetrics } from "../CircuitBreaker.js"

/**
 * Opens after `threshold` failures in a row; any success starts the count over.
 *
 * @internal
 */
export class ConsecutiveFailures implements TripStrategy {
  readonly usesTime = false
  private count = 0

  constructor(readonly threshold: number) {}

  record(failed: boolean): TripReason | undefined {
    this.count = failed ? this.count + 1 : 0
    return this.count >= this.threshold ? "consecutive-failures" : undefined
  }

  rejectsProbe(): boolean {
    return false
  }

  reset(): void {
    this.count = 0
  }

  metrics(): WindowMetrics | undefined {
    return undefined
  }
}

/** Validates the threshold now; each breaker then gets its own fresh counter. @internal */
export const consecutiveFailures = (threshold: number): TripPolicy => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`consecutiveFailures: threshold must be a positive integer, got ${threshold}`)
  }
  return { make: () => new ConsecutiveFailures(threshold) }
}
