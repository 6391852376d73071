/**
 * The sliding-window counter behind `RateLimit`.
 *
 * The window is cut into `buckets` slots aligned to the epoch
 * (`start = floor(now / size) * size`), so every instance that shares a
 * limit agrees on the slots without talking. A slot holds this instance's
 * counts and the latest counts a store reported for every other instance.
 * An admission sums the slots that started within the window, so usage leaves
 * the window one slot at a time (the window is between `window - size` and
 * `window` long).
 *
 * Counts live in plain arrays updated inside `Effect.sync`, which runs to
 * completion on the one JavaScript thread: each read-modify-write is atomic
 * with respect to every other fiber, as with a `Ref`, for less.
 *
 * @internal
 */
import { type Clock, Duration, Effect } from "effect"
import type * as RateLimit from "../RateLimit.js"

/** @internal */
export const defaults = { window: Duration.minutes(1), buckets: 12 } as const

const invalid = (name: string, field: string, value: unknown, rule: string): never => {
  throw new RangeError(`RateLimit "${name}": ${field} must be ${rule}, got ${String(value)}`)
}

const positiveLimit = (name: string, field: string, value: number | undefined): number => {
  if (value === undefined) return Infinity
  if (!(Number.isFinite(value) && value >= 1)) invalid(name, field, value, "a finite number of at least 1")
  return value
}

/** Makes a limiter mirrored by `store`. @internal */
export const make = (options: RateLimit.Options, store: RateLimit.Store): Effect.Effect<RateLimit.RateLimiter> =>
  Effect.gen(function*() {
    const rpm = positiveLimit(options.name, "rpm", options.rpm)
    const tpm = positiveLimit(options.name, "tpm", options.tpm)
    const windowMillis = Duration.toMillis(options.window ?? defaults.window)
    const buckets = options.buckets ?? defaults.buckets
    if (!Number.isSafeInteger(buckets) || buckets < 1) invalid(options.name, "buckets", buckets, "a positive integer")
    const size = Math.floor(windowMillis / buckets)
    if (!(size >= 1)) invalid(options.name, "window", windowMillis, "at least one millisecond per bucket")
    const clock = yield* Effect.clock
    const counter = new Counter(options.name, rpm, tpm, size, buckets, clock)
    const mirror = yield* store.register({
      name: options.name,
      limits: { ...(options.rpm !== undefined ? { rpm } : {}), ...(options.tpm !== undefined ? { tpm } : {}) },
      bucketMillis: size,
      buckets,
      apply: (remote, share) => Effect.sync(() => counter.applyRemote(remote, share)),
      disconnected: Effect.sync(() => counter.disconnect())
    })
    counter.mirror = mirror
    return counter.service()
  })

/** One slot of the ring. @internal */
interface Slot {
  start: number
  requests: number
  tokens: number
  remoteRequests: number
  remoteTokens: number
}

/** A window's usage, and when its oldest counted slot leaves it. */
interface Usage {
  readonly requests: number
  readonly tokens: number
  readonly oldest: number
}

/** @internal */
export class Counter {
  mirror: RateLimit.Mirror | undefined
  private readonly slots: Array<Slot>
  /** This instance's part of the room left at the last report (1 until a store reports a share). */
  private share = 1
  /** Usage at the last report, over every instance. */
  private reported = { requests: 0, tokens: 0 }
  /** Admitted here since the last report. */
  private since = { requests: 0, tokens: 0 }
  /** The store lost touch with the others: admit on this instance's own usage, within its share (see `disconnect`). */
  private offline = false

  constructor(
    readonly name: string,
    readonly rpm: number,
    readonly tpm: number,
    readonly size: number,
    readonly count: number,
    readonly clock: Clock.Clock
  ) {
    this.slots = Array.from({ length: count }, () => ({ start: -1, requests: 0, tokens: 0, remoteRequests: 0, remoteTokens: 0 }))
  }

  /** The slot for the bucket starting at `start`, cleared if it held an older bucket. */
  private slot(start: number): Slot {
    const slot = this.slots[Math.floor(start / this.size) % this.count]!
    if (slot.start !== start) {
      slot.start = start
      slot.requests = 0
      slot.tokens = 0
      slot.remoteRequests = 0
      slot.remoteTokens = 0
    }
    return slot
  }

  private bucketStart(now: number): number {
    return Math.floor(now / this.size) * this.size
  }

  /** Usage in the window ending at `now` (this instance's alone, if `own`), and when its oldest counted slot leaves it. */
  usage(now: number, own = false): Usage {
    const current = this.bucketStart(now)
    const first = current - (this.count - 1) * this.size
    // a bucket a whole window or more ahead of the clock: the clock was put back past it (NTP, a resumed VM);
    // counted, it would hold the limit full, admitting nothing, until the clock caught up with it
    const ahead = current + this.count * this.size
    let requests = 0
    let tokens = 0
    let oldest = Infinity
    for (const slot of this.slots) {
      if (slot.start < first || slot.start >= ahead) continue
      const r = own ? slot.requests : slot.requests + slot.remoteRequests
      const t = own ? slot.tokens : slot.tokens + slot.remoteTokens
      requests += r
      tokens += t
      if ((r > 0 || t > 0) && slot.start < oldest) oldest = slot.start
    }
    return { requests, tokens, oldest }
  }

  tryAcquire(estimatedTokens: number): RateLimit.Admission {
    const now = this.clock.unsafeCurrentTimeMillis()
    // out of touch with the others, an instance counts its own usage alone (see `overQuota`)
    const used = this.usage(now, this.offline)
    const limit = this.offline ? this.overQuota(used, estimatedTokens) : this.overLimit(used, estimatedTokens)
    if (limit !== undefined) {
      // the oldest counted slot leaves the window `count` slots after it started
      const leaves = (Number.isFinite(used.oldest) ? used.oldest : this.bucketStart(now)) + this.count * this.size
      return { _tag: "Limited", limit, retryAfter: Duration.millis(Math.max(1, leaves - now)) }
    }
    this.add(now, 1, estimatedTokens)
    return admitted
  }

  /** Which limit, if any, one more request would pass, on every instance's usage (`used`). */
  private overLimit(used: Usage, estimatedTokens: number): "rpm" | "tpm" | undefined {
    if (used.requests + 1 > this.rpm || !this.withinShare(this.rpm - this.reported.requests, this.since.requests)) return "rpm"
    if (
      used.tokens > 0 &&
      (used.tokens + estimatedTokens > this.tpm || !this.withinShare(this.tpm - this.reported.tokens, this.since.tokens))
    ) return "tpm"
    return undefined
  }

  /**
   * Out of touch with the others, each of `n` instances keeps to `1/n` of
   * each limit on its own usage (at least one request): together they stay
   * within it, however long the outage, without knowing each other's counts.
   */
  private overQuota(used: Usage, estimatedTokens: number): "rpm" | "tpm" | undefined {
    if (used.requests + 1 > Math.max(1, Math.floor(this.rpm * this.share))) return "rpm"
    if (used.tokens > 0 && used.tokens + estimatedTokens > this.tpm * this.share) return "tpm"
    return undefined
  }

  /** See `Registration.disconnected`. */
  disconnect(): void {
    this.offline = true
  }

  /**
   * Between two reports, each of `n` instances may take half of a `1/n`
   * part of the room that was left at the last one. Instances report at
   * different moments, so a grant made on a fresh report overlaps grants
   * the others made on older ones; with half parts, the room left halves
   * every sync instead of running out in one, and the overlap stays within
   * the room. The limit is approached in a few syncs (a second, at 100 ms,
   * for a limit of 1,000) and passed by a request or two at most.
   */
  private withinShare(room: number, taken: number): boolean {
    return this.share >= 1 || taken < Math.max(0, room) * this.share / 2
  }

  add(now: number, requests: number, tokens: number): void {
    const start = this.bucketStart(now)
    this.record(start, this.slot(start), requests, tokens)
  }

  /**
   * Takes back up to `requests` and `tokens` (an over-estimate, or a request
   * given back whole) from the bucket of `admittedAt`, the one they were
   * counted in, and never below zero there: a
   * refund counted in a later bucket would outlive the estimate it corrects,
   * and once the estimate had left the window, the window's count would be
   * below what it holds (negative, even), admitting more than the limit.
   * Nothing is taken back once that bucket has left the window.
   */
  private takeBack(now: number, requests: number, tokens: number, admittedAt: number): void {
    const start = this.bucketStart(Math.min(admittedAt, now))
    if (start < this.bucketStart(now) - (this.count - 1) * this.size) return
    const slot = this.slots[Math.floor(start / this.size) % this.count]!
    if (slot.start !== start) return
    const takenRequests = Math.min(requests, slot.requests)
    const takenTokens = Math.min(tokens, slot.tokens)
    if (takenRequests > 0 || takenTokens > 0) this.record(start, slot, -takenRequests, -takenTokens)
  }

  /** Counts local usage in `slot` (the bucket starting at `start`) and tells the store. */
  private record(start: number, slot: Slot, requests: number, tokens: number): void {
    this.since.requests += requests
    this.since.tokens += tokens
    slot.requests += requests
    slot.tokens += tokens
    if (this.mirror !== undefined) {
      try {
        this.mirror.onCount({ start, requests, tokens })
      } catch {
        // a store's failure must not break the limiter
      }
    }
  }

  applyRemote(remote: ReadonlyArray<RateLimit.RemoteBucket>, share: number | undefined): void {
    const now = this.clock.unsafeCurrentTimeMillis()
    const first = this.bucketStart(now) - (this.count - 1) * this.size
    for (const bucket of remote) {
      if (bucket.start < first || bucket.start % this.size !== 0) continue
      const slot = this.slot(bucket.start)
      slot.remoteRequests = bucket.requests
      slot.remoteTokens = bucket.tokens
    }
    if (share !== undefined && share > 0) this.share = Math.min(1, share)
    this.offline = false
    const { requests, tokens } = this.usage(now)
    this.reported = { requests, tokens }
    this.since = { requests: 0, tokens: 0 }
  }

  service(): RateLimit.RateLimiter {
    const limits = {
      ...(Number.isFinite(this.rpm) ? { rpm: this.rpm } : {}),
      ...(Number.isFinite(this.tpm) ? { tpm: this.tpm } : {})
    }
    return {
      name: this.name,
      limits,
      // a negative estimate or one that is not a number counts as none (NaN would make the window's tokens NaN,
      // which no comparison refuses, for as long as its bucket stays in the window)
      tryAcquire: (estimatedTokens) => Effect.sync(() => this.tryAcquire(estimatedTokens > 0 ? estimatedTokens : 0)),
      adjust: (tokenDelta, admittedAt) =>
        Effect.sync(() => {
          if (tokenDelta === 0 || !Number.isFinite(tokenDelta)) return
          const now = this.clock.unsafeCurrentTimeMillis()
          if (tokenDelta > 0) return this.add(now, 0, tokenDelta)
          this.takeBack(now, 0, -tokenDelta, admittedAt === undefined ? now : admittedAt)
        }),
      giveBack: (estimatedTokens, admittedAt) =>
        Effect.sync(() => {
          const now = this.clock.unsafeCurrentTimeMillis()
          // as `tryAcquire` counted it: an estimate that is negative or not a number was none
          this.takeBack(now, 1, estimatedTokens > 0 ? estimatedTokens : 0, admittedAt === undefined ? now : admittedAt)
        }),
      usage: Effect.sync(() => {
        const { requests, tokens, oldest } = this.usage(this.clock.unsafeCurrentTimeMillis())
        return Number.isFinite(oldest) ? { requests, tokens, leavesAt: oldest + this.count * this.size } : { requests, tokens }
      }),
      unregister: Effect.suspend(() => {
        const mirror = this.mirror
        // once: later counts stay here
        this.mirror = undefined
        return mirror?.unregister ?? Effect.void
      })
    }
  }
}

const admitted: RateLimit.Admission = { _tag: "Admitted" }
