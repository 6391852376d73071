import type { Window } from "./window.js"

/**
 * The calls of the last `durationMillis`, kept in `buckets` equal buckets.
 *
 * Bucket `i` covers `[i * width, (i + 1) * width)` of clock time, with
 * `width = durationMillis / buckets`; the window holds the current bucket and
 * the `buckets - 1` before it, so it spans between `durationMillis - width`
 * and `durationMillis` of history. Buckets that fall out of the window are
 * cleared lazily, when the clock is next seen to have moved past them.
 *
 * @internal
 */
export class TimeWindow implements Window {
  readonly usesTime = true
  private readonly width: number
  private readonly callCounts: Float64Array
  private readonly badCounts: Float64Array
  /** Index of the newest bucket seen, or -Infinity before the first call. */
  private head = Number.NEGATIVE_INFINITY
  private totalCalls = 0
  private totalBad = 0

  constructor(durationMillis: number, readonly buckets: number) {
    this.width = durationMillis / buckets
    this.callCounts = new Float64Array(buckets)
    this.badCounts = new Float64Array(buckets)
  }

  record(bad: boolean, nowMillis: number): void {
    this.advance(nowMillis)
    const slot = this.slotOf(this.head)
    this.callCounts[slot]!++
    this.totalCalls++
    if (bad) {
      this.badCounts[slot]!++
      this.totalBad++
    }
  }

  calls(nowMillis: number): number {
    this.advance(nowMillis)
    return this.totalCalls
  }

  bad(nowMillis: number): number {
    this.advance(nowMillis)
    return this.totalBad
  }

  reset(): void {
    this.callCounts.fill(0)
    this.badCounts.fill(0)
    this.totalCalls = 0
    this.totalBad = 0
    this.head = Number.NEGATIVE_INFINITY
  }

  /** Moves the head to the bucket of `nowMillis`, clearing the buckets it passes. */
  private advance(nowMillis: number): void {
    const index = Math.floor(nowMillis / this.width)
    if (index <= this.head) {
      // A clock put back less than the window keeps counting into the newest bucket. Put back past it (NTP, a
      // resumed VM), it starts over: its calls would otherwise stay counted, none ageing out, until the clock
      // caught up with the newest bucket (an hour later, for an hour put back), and trip on failures long gone.
      if (this.head - index < this.buckets) return
      this.reset()
      this.head = index
      return
    }
    if (index - this.head >= this.buckets) {
      this.reset()
    } else {
      for (let i = this.head + 1; i <= index; i++) this.clear(this.slotOf(i))
    }
    this.head = index
  }

  private clear(slot: number): void {
    this.totalCalls -= this.callCounts[slot]!
    this.totalBad -= this.badCounts[slot]!
    this.callCounts[slot] = 0
    this.badCounts[slot] = 0
  }

  private slotOf(index: number): number {
    const slot = index % this.buckets
    return slot < 0 ? slot + this.buckets : slot
  }
}
