import { Duration } from "effect"
import type {
  CountedOutcome,
  FailureRateOptions,
  SlidingWindow,
  SlowCallRateOptions,
  TripPolicy,
  TripReason,
  TripStrategy,
  WindowMetrics
} from "../CircuitBreaker.js"
import { isNegative } from "./duration.js"
import * as Window from "./window.js"

/** Default `minimumCalls`: 10, or the whole window when a count window is smaller. @internal */
export const defaultMinimumCalls = (window: SlidingWindow): number =>
  window._tag === "CountWindow" ? Math.min(10, window.size) : 10

/**
 * Opens when, with at least `minimumCalls` calls in the window, the share of
 * bad calls reaches `threshold`. What makes a call bad is the subclass's rule.
 *
 * @internal
 */
abstract class RateStrategy implements TripStrategy {
  abstract readonly usesTime: boolean
  protected readonly window: Window.Window

  constructor(
    spec: SlidingWindow,
    readonly threshold: number,
    readonly minimumCalls: number,
    private readonly reason: TripReason
  ) {
    this.window = Window.make(spec)
  }

  /** Whether the call is bad, or `undefined` when this strategy does not count it at all. */
  protected abstract isBad(outcome: CountedOutcome, durationMillis: number): boolean | undefined
  abstract rejectsProbe(outcome: "success" | "slow", durationMillis: number): boolean
  protected abstract rateMetrics(calls: number, rate: number): WindowMetrics

  record(outcome: CountedOutcome, durationMillis: number, nowMillis: number): TripReason | undefined {
    const bad = this.isBad(outcome, durationMillis)
    if (bad === undefined) return undefined
    this.window.record(bad, nowMillis)
    const calls = this.window.calls(nowMillis)
    if (calls < this.minimumCalls) return undefined
    return this.window.bad(nowMillis) / calls >= this.threshold ? this.reason : undefined
  }

  reset(nowMillis: number): void {
    this.window.reset(nowMillis)
  }

  metrics(nowMillis: number): WindowMetrics {
    const calls = this.window.calls(nowMillis)
    return this.rateMetrics(calls, calls === 0 ? 0 : this.window.bad(nowMillis) / calls)
  }
}

/** A failed call is bad; an abandoned slow call is not counted (it neither failed nor succeeded). @internal */
export class FailureRate extends RateStrategy {
  readonly usesTime: boolean

  constructor(spec: SlidingWindow, threshold: number, minimumCalls: number) {
    super(spec, threshold, minimumCalls, "failure-rate")
    this.usesTime = this.window.usesTime
  }

  protected isBad(outcome: CountedOutcome): boolean | undefined {
    return outcome === "slow" ? undefined : outcome === "failure"
  }

  rejectsProbe(): boolean {
    return false
  }

  protected rateMetrics(callsInWindow: number, failureRate: number): WindowMetrics {
    return { callsInWindow, failureRate }
  }
}

/**
 * A call slower than `slowCallMillis` is bad, whether it succeeded or failed,
 * and so is a call abandoned as slow, however long it ran. @internal
 */
export class SlowCallRate extends RateStrategy {
  readonly usesTime = true

  constructor(spec: SlidingWindow, threshold: number, minimumCalls: number, readonly slowCallMillis: number) {
    super(spec, threshold, minimumCalls, "slow-call-rate")
  }

  protected isBad(outcome: CountedOutcome, durationMillis: number): boolean {
    return outcome === "slow" || durationMillis > this.slowCallMillis
  }

  rejectsProbe(outcome: "success" | "slow", durationMillis: number): boolean {
    return outcome === "slow" || durationMillis > this.slowCallMillis
  }

  protected rateMetrics(callsInWindow: number, slowCallRate: number): WindowMetrics {
    return { callsInWindow, slowCallRate }
  }
}

const checkRate = (label: string, threshold: number, minimumCalls: number, window: SlidingWindow): void => {
  if (!(threshold > 0 && threshold <= 1)) {
    throw new RangeError(`${label}: threshold must be in (0, 1], got ${threshold}`)
  }
  if (!Number.isSafeInteger(minimumCalls) || minimumCalls < 1) {
    throw new RangeError(`${label}: minimumCalls must be a positive integer, got ${minimumCalls}`)
  }
  if (window._tag === "CountWindow" && minimumCalls > window.size) {
    throw new RangeError(`${label}: minimumCalls (${minimumCalls}) exceeds the window size (${window.size})`)
  }
}

/** Validates the options now; each breaker then gets its own fresh strategy. @internal */
export const failureRate = (options: FailureRateOptions): TripPolicy => {
  const { threshold, window } = options
  const minimumCalls = options.minimumCalls ?? defaultMinimumCalls(window)
  checkRate("failureRate", threshold, minimumCalls, window)
  return { make: () => new FailureRate(window, threshold, minimumCalls) }
}

/** Validates the options now; each breaker then gets its own fresh strategy. @internal */
export const slowCallRate = (options: SlowCallRateOptions): TripPolicy => {
  const { threshold, window } = options
  const minimumCalls = options.minimumCalls ?? defaultMinimumCalls(window)
  checkRate("slowCallRate", threshold, minimumCalls, window)
  if (isNegative(options.slowCallDuration)) {
    throw new RangeError(`slowCallRate: slowCallDuration must not be negative, got ${String(options.slowCallDuration)}`)
  }
  const slowCallMillis = Duration.toMillis(Duration.decode(options.slowCallDuration))
  return { make: () => new SlowCallRate(window, threshold, minimumCalls, slowCallMillis) }
}
