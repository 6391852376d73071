/**
 * The rolling health windows behind `Health`: per key, a ring of time buckets
 * (calls, successes, a latency histogram and a time-to-first-token histogram
 * each), rotated by the clock. Every counter is allocated when the key is
 * first seen, so memory per key is constant whatever the traffic.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type {
  HealthSample,
  HealthSnapshot,
  HealthTracker,
  LatencyQuantiles,
  Mirror,
  TimeToFirstTokenQuantiles,
  TypeId as HealthTypeId,
  WireSample
} from "../Health.js"
import { BIN_COUNT, binOf, quantiles } from "./quantile.js"

/** @internal */
export const TypeId: HealthTypeId = Symbol.for("effect-llm-failover/Health") as HealthTypeId

/** Resolved options. @internal */
export interface HealthConfig {
  readonly windowMillis: number
  readonly buckets: number
  readonly degradedBelow: number
  readonly minimumCalls: number
  readonly degradedLatencyMillis: number | undefined
}

const LATENCY_QS = [0.5, 0.95, 0.99]
const TTFT_QS = [0.5, 0.95]

/** One histogram per bucket, sharing one array. @internal */
class Histograms {
  readonly counts: Uint32Array
  readonly totals: Uint32Array
  constructor(buckets: number) {
    this.counts = new Uint32Array(buckets * BIN_COUNT)
    this.totals = new Uint32Array(buckets)
  }

  add(slot: number, millis: number): void {
    this.counts[slot * BIN_COUNT + binOf(millis)]!++
    this.totals[slot]!++
  }

  clear(slot: number): void {
    if (this.totals[slot] !== 0) {
      this.counts.fill(0, slot * BIN_COUNT, (slot + 1) * BIN_COUNT)
      this.totals[slot] = 0
    }
  }

  /** Nearest-rank quantiles (ms) over the given buckets, or undefined without data. */
  quantiles(slots: ReadonlyArray<number>, qs: ReadonlyArray<number>): Array<number> | undefined {
    let total = 0
    for (const slot of slots) total += this.totals[slot]!
    return total === 0 ? undefined : quantiles(this.counts, slots, total, qs)
  }

  get size(): number {
    return this.counts.length + this.totals.length
  }
}

/** The rolling window of one key. @internal */
export class KeyWindow {
  /** The bucket number (time / bucket length) each slot currently holds. */
  readonly epochs: Float64Array
  readonly calls: Uint32Array
  readonly successes: Uint32Array
  /** Calls abandoned as slow: not in `calls`, but in the latency histogram. */
  readonly slow: Uint32Array
  readonly latency: Histograms
  readonly timeToFirstToken: Histograms

  constructor(readonly buckets: number) {
    this.epochs = new Float64Array(buckets).fill(-Infinity)
    this.calls = new Uint32Array(buckets)
    this.successes = new Uint32Array(buckets)
    this.slow = new Uint32Array(buckets)
    this.latency = new Histograms(buckets)
    this.timeToFirstToken = new Histograms(buckets)
  }

  /** The slot for bucket `epoch`, cleared first if it held an older bucket; `undefined` if it holds a newer one. */
  slotFor(epoch: number): number | undefined {
    const slot = ((epoch % this.buckets) + this.buckets) % this.buckets
    if (this.epochs[slot]! > epoch) return undefined
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch
      this.calls[slot] = 0
      this.successes[slot] = 0
      this.slow[slot] = 0
      this.latency.clear(slot)
      this.timeToFirstToken.clear(slot)
    }
    return slot
  }

  /** Forgets every bucket (each slot is cleared when next used). */
  restart(): void {
    this.epochs.fill(-Infinity)
  }

  /** The slots whose bucket lies in the window ending with bucket `epoch`. */
  liveSlots(epoch: number): Array<number> {
    const slots: Array<number> = []
    for (let slot = 0; slot < this.buckets; slot++) {
      const held = this.epochs[slot]!
      if (held <= epoch && held > epoch - this.buckets) slots.push(slot)
    }
    return slots
  }

  get size(): number {
    return this.epochs.length + this.calls.length + this.successes.length + this.slow.length + this.latency.size +
      this.timeToFirstToken.size
  }
}

const empty: HealthSnapshot = {
  calls: 0,
  successes: 0,
  failures: 0,
  slow: 0,
  successRate: 1,
  latency: Option.none(),
  timeToFirstToken: Option.none(),
  degraded: false
}

/** @internal */
export class HealthTrackerImpl<K> implements HealthTracker<K> {
  readonly [TypeId]: HealthTypeId = TypeId
  private readonly windows = new Map<K, KeyWindow>()
  private readonly bucketMillis: number
  /** Set when a store mirrors this tracker: it sees every local sample. */
  mirror: Mirror | undefined = undefined

  constructor(readonly config: HealthConfig) {
    this.bucketMillis = config.windowMillis / config.buckets
  }

  record(key: K, sample: HealthSample): Effect.Effect<void> {
    return Effect.clockWith((clock) =>
      Effect.sync(() => this.unsafeRecord(key, sample, clock.unsafeCurrentTimeMillis()))
    )
  }

  snapshot(key: K): Effect.Effect<HealthSnapshot> {
    return Effect.clockWith((clock) => Effect.sync(() => this.unsafeSnapshot(key, clock.unsafeCurrentTimeMillis())))
  }

  readonly snapshotAll: Effect.Effect<ReadonlyMap<K, HealthSnapshot>> = Effect.clockWith((clock) =>
    Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      const all = new Map<K, HealthSnapshot>()
      for (const key of this.windows.keys()) all.set(key, this.unsafeSnapshot(key, now))
      return all
    })
  )

  unsafeRecord(key: K, sample: HealthSample, now: number): void {
    this.add(key, sample, Math.floor(now / this.bucketMillis), true)
    if (this.mirror === undefined) return
    try {
      this.mirror.onSample(String(key), toWire(sample, now))
    } catch {
      // a store's failure must not break the tracker
    }
  }

  /**
   * Records samples of other instances, at `now`, each in the bucket of its
   * own time: one from the future (clock skew) counts now, one whose bucket
   * left the window or was already replaced by a newer one is dropped.
   */
  applyRemote(key: K, samples: ReadonlyArray<WireSample>, now: number): void {
    const current = Math.floor(now / this.bucketMillis)
    for (const sample of samples) {
      const epoch = Math.min(current, Math.floor(sample.at / this.bucketMillis))
      if (epoch <= current - this.config.buckets) continue
      this.add(key, fromWire(sample), epoch, false)
    }
  }

  /**
   * Adds a sample to bucket `epoch`. When that bucket's slot already holds
   * a newer one, another instance's sample (`local` false) came too late
   * and is dropped; a sample of this instance's, recorded now, means that
   * the clock was put back past the window (NTP, a resumed VM): the window
   * starts over from now, where every sample would be dropped, and every
   * snapshot be empty, until the clock caught up with its newest bucket.
   */
  private add(key: K, sample: HealthSample, epoch: number, local: boolean): void {
    let window = this.windows.get(key)
    if (window === undefined) {
      window = new KeyWindow(this.config.buckets)
      this.windows.set(key, window)
    }
    let slot = window.slotFor(epoch)
    if (slot === undefined) {
      if (!local) return
      window.restart()
      slot = window.slotFor(epoch)!
    }
    if (sample.slow === true) {
      window.slow[slot]!++
      window.latency.add(slot, Duration.toMillis(sample.latency))
      return
    }
    window.calls[slot]!++
    if (sample.success) {
      window.successes[slot]!++
      window.latency.add(slot, Duration.toMillis(sample.latency))
    }
    if (sample.timeToFirstToken !== undefined) {
      window.timeToFirstToken.add(slot, Duration.toMillis(sample.timeToFirstToken))
    }
  }

  unsafeSnapshot(key: K, now: number): HealthSnapshot {
    const window = this.windows.get(key)
    if (window === undefined) return empty
    const slots = window.liveSlots(Math.floor(now / this.bucketMillis))
    let calls = 0
    let successes = 0
    let slow = 0
    for (const slot of slots) {
      calls += window.calls[slot]!
      successes += window.successes[slot]!
      slow += window.slow[slot]!
    }
    if (calls === 0 && slow === 0) return empty
    const latency = window.latency.quantiles(slots, LATENCY_QS)
    const ttft = window.timeToFirstToken.quantiles(slots, TTFT_QS)
    const successRate = calls === 0 ? 1 : successes / calls
    return {
      calls,
      successes,
      failures: calls - successes,
      slow,
      successRate,
      latency: latency === undefined ? Option.none() : Option.some(toLatency(latency)),
      timeToFirstToken: ttft === undefined ? Option.none() : Option.some(toTimeToFirstToken(ttft)),
      degraded: this.isDegraded(calls, slow, successRate, latency)
    }
  }

  /** Counters held by the tracker: constant per key, whatever the traffic. */
  footprint(): number {
    let size = 0
    for (const window of this.windows.values()) size += window.size
    return size
  }

  /** The success rate needs `minimumCalls` calls; the p95 latency as many calls and slow samples. */
  private isDegraded(calls: number, slow: number, successRate: number, latency: Array<number> | undefined): boolean {
    const { degradedBelow, degradedLatencyMillis, minimumCalls } = this.config
    if (calls >= minimumCalls && successRate < degradedBelow) return true
    return calls + slow >= minimumCalls && degradedLatencyMillis !== undefined && latency !== undefined &&
      latency[1]! > degradedLatencyMillis
  }
}

const toLatency = ([p50, p95, p99]: Array<number>): LatencyQuantiles => ({
  p50: Duration.millis(p50!),
  p95: Duration.millis(p95!),
  p99: Duration.millis(p99!)
})

const toTimeToFirstToken = ([p50, p95]: Array<number>): TimeToFirstTokenQuantiles => ({
  p50: Duration.millis(p50!),
  p95: Duration.millis(p95!)
})

/** A sample as stores carry it. @internal */
export const toWire = (sample: HealthSample, at: number): WireSample => {
  const outcome = sample.slow === true ? 2 : sample.success ? 1 : 0
  const latency = Duration.toMillis(sample.latency)
  return sample.timeToFirstToken === undefined
    ? { outcome, latency, at }
    : { outcome, latency, timeToFirstToken: Duration.toMillis(sample.timeToFirstToken), at }
}

/** A carried sample, back as one to record. @internal */
export const fromWire = (sample: WireSample): HealthSample => ({
  success: sample.outcome === 1,
  latency: Duration.millis(sample.latency),
  ...(sample.outcome === 2 ? { slow: true } : {}),
  ...(sample.timeToFirstToken === undefined ? {} : { timeToFirstToken: Duration.millis(sample.timeToFirstToken) })
})
