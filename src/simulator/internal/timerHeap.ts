/**
 * The virtual clock's timers: a binary min-heap keyed by (deadline,
 * sequence), so timers due at the same instant fire in the order they were
 * set. Cancelling is O(1) (the timer is marked and skipped when it reaches
 * the top); the heap is compacted when cancelled timers outnumber live ones.
 *
 * @internal
 */

/** One timer: fires `wake` at `deadline` unless cancelled first. @internal */
export class Timer {
  cancelled = false
  constructor(
    readonly deadline: number,
    readonly sequence: number,
    readonly wake: () => void
  ) {}
}

const before = (a: Timer, b: Timer): boolean =>
  a.deadline < b.deadline || (a.deadline === b.deadline && a.sequence < b.sequence)

/** Compaction starts once this many cancelled timers sit in the heap. */
const compactAbove = 1_024

/** @internal */
export class TimerHeap {
  private readonly items: Array<Timer> = []
  private nextSequence = 0
  private cancelledCount = 0

  /** Timers set and neither fired nor cancelled. */
  get live(): number {
    return this.items.length - this.cancelledCount
  }

  /** Sets a timer; later timers with the same deadline fire after it. */
  add(deadline: number, wake: () => void): Timer {
    const timer = new Timer(deadline, this.nextSequence++, wake)
    this.items.push(timer)
    this.up(this.items.length - 1)
    return timer
  }

  /** Cancels a timer that has not fired; a no-op otherwise. */
  cancel(timer: Timer): void {
    if (timer.cancelled) return
    timer.cancelled = true
    this.cancelledCount++
    if (this.cancelledCount > compactAbove && this.cancelledCount * 2 > this.items.length) this.compact()
  }

  /** Removes and returns the earliest live timer, if any. */
  pop(): Timer | undefined {
    while (this.items.length > 0) {
      const top = this.removeTop()
      if (!top.cancelled) {
        top.cancelled = true // fired: a later cancel is a no-op
        return top
      }
      this.cancelledCount--
    }
    return undefined
  }

  private removeTop(): Timer {
    const items = this.items
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      this.down(0)
    }
    return top
  }

  private compact(): void {
    const live = this.items.filter((timer) => !timer.cancelled)
    this.items.length = 0
    this.cancelledCount = 0
    for (const timer of live) {
      this.items.push(timer)
      this.up(this.items.length - 1)
    }
  }

  private up(index: number): void {
    const items = this.items
    const item = items[index]!
    while (index > 0) {
      const parent = (index - 1) >> 1
      const above = items[parent]!
      if (!before(item, above)) break
      items[index] = above
      index = parent
    }
    items[index] = item
  }

  private down(index: number): void {
    const items = this.items
    const length = items.length
    const item = items[index]!
    for (;;) {
      const left = 2 * index + 1
      if (left >= length) break
      const right = left + 1
      const child = right < length && before(items[right]!, items[left]!) ? right : left
      if (!before(items[child]!, item)) break
      items[index] = items[child]!
      index = child
    }
    items[index] = item
  }
}
