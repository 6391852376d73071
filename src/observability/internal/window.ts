/**
 * Time-bucketed windows over Effect's `Clock` time (callers pass `now`, in
 * epoch millis, so a `TestClock` drives expiry).
 *
 * A window is a ring of `buckets` buckets of `bucketMillis` each; a bucket
 * expires whole, so a sample counts for between `window - bucket` and
 * `window` of history. Memory is fixed whatever the traffic.
 *
 * @internal
 */

/** A ring of time buckets, each holding a mutable value. @internal */
export class Ring<V> {
  private readonly slots: Array<V>
  private readonly indices: Array<number>

  constructor(
    readonly bucketMillis: number,
    readonly buckets: number,
    private readonly empty: () => V
  ) {
    // a slot's value is made when its bucket is first current (`indices` says none is yet)
    this.slots = new Array<V>(buckets)
    this.indices = new Array<number>(buckets).fill(-1)
  }

  /** The window's length in milliseconds. */
  get windowMillis(): number {
    return this.bucketMillis * this.buckets
  }

  /** The bucket `now` falls in, emptied first if it held an expired period. */
  current(now: number): V {
    const index = Math.floor(now / this.bucketMillis)
    const slot = index % this.buckets
    if (this.indices[slot] !== index) {
      this.indices[slot] = index
      this.slots[slot] = this.empty()
    }
    return this.slots[slot]!
  }

  /**
   * Folds the live buckets, oldest first, whose period starts at or after
   * the bucket holding `since` (default: the whole window).
   */
  fold<Z>(now: number, zero: Z, f: (acc: Z, value: V, start: number) => Z, since?: number): Z {
    const last = Math.floor(now / this.bucketMillis)
    const first = Math.max(last - this.buckets + 1, since === undefined ? -Infinity : Math.floor(since / this.bucketMillis))
    let acc = zero
    for (let index = first; index <= last; index++) {
      const slot = index % this.buckets
      if (this.indices[slot] === index) acc = f(acc, this.slots[slot]!, index * this.bucketMillis)
    }
    return acc
  }

  /** The start of the oldest period a fold from `since` can cover, in epoch millis. */
  coveredFrom(now: number, since?: number): number {
    const last = Math.floor(now / this.bucketMillis)
    const first = Math.max(last - this.buckets + 1, since === undefined ? -Infinity : Math.floor(since / this.bucketMillis))
    return first * this.bucketMillis
  }
}

/** Counts per key over a sliding time window. @internal */
export class Counts<K> {
  private readonly ring: Ring<Map<K, number>>

  constructor(windowMillis: number, buckets: number) {
    this.ring = new Ring(Math.max(1, Math.ceil(windowMillis / buckets)), buckets, () => new Map())
  }

  get windowMillis(): number {
    return this.ring.windowMillis
  }

  add(now: number, key: K, n = 1): void {
    const bucket = this.ring.current(now)
    bucket.set(key, (bucket.get(key) ?? 0) + n)
  }

  /** The count of one key over the window. */
  get(now: number, key: K): number {
    return this.ring.fold(now, 0, (acc, bucket) => acc + (bucket.get(key) ?? 0))
  }

  /** Every key's count over the window. */
  totals(now: number): Map<K, number> {
    return this.ring.fold(now, new Map<K, number>(), (acc, bucket) => {
      for (const [key, n] of bucket) acc.set(key, (acc.get(key) ?? 0) + n)
      return acc
    })
  }
}

/**
 * A map that forgets its oldest entries beyond `capacity` (in insertion
 * order, or of use with `touch`), for per-request state whose request may
 * never finish (interrupted callers); `onEvict` hears of each.
 *
 * @internal
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly capacity: number, private readonly onEvict?: (key: K, value: V) => void) {
    super()
  }

  override set(key: K, value: V): this {
    super.set(key, value)
    if (this.size > this.capacity) {
      const oldest = this.entries().next()
      if (oldest.done !== true) {
        this.delete(oldest.value[0])
        this.onEvict?.(oldest.value[0], oldest.value[1])
      }
    }
    return this
  }

  /** The value at `key`, made the newest entry (the last one `set` would forget): least recently used first out. */
  touch(key: K): V | undefined {
    const value = super.get(key)
    if (value !== undefined) {
      this.delete(key)
      super.set(key, value)
    }
    return value
  }
}

/** The last `capacity` items, oldest first. @internal */
export class RingBuffer<A> {
  private readonly items: Array<A> = []
  private next = 0

  constructor(private readonly capacity: number) {}

  push(item: A): void {
    if (this.capacity <= 0) return
    if (this.items.length < this.capacity) this.items.push(item)
    else this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
  }

  /** Oldest first. */
  toArray(): Array<A> {
    return this.items.length < this.capacity
      ? this.items.slice()
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)]
  }
}
