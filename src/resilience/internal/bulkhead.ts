/**
 * The synchronous state machine behind `Bulkhead`: a pool of weighted permits
 * with a bounded FIFO queue of waiters kept in a doubly linked list, so a
 * waiter that leaves (interrupted or timed out) is unlinked in O(1).
 *
 * Fairness rule (strict FIFO, no barging): a caller takes permits at once only
 * when nobody is queued and enough permits are free; otherwise it joins the
 * tail. On every release the head is granted while it fits, so a heavy waiter
 * at the head holds back lighter ones behind it until enough permits are free,
 * and it is never starved by them.
 *
 * All methods are synchronous and run inside a single fiber step, so the pool
 * needs no locks: JavaScript runs one fiber step at a time.
 *
 * @internal
 */

/** The state of one queued caller. @internal */
export type WaiterState = "queued" | "granted" | "cancelled"

/** One queued caller: a node of the waiter list. @internal */
export class Waiter {
  state: WaiterState = "queued"
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  /** Called once, synchronously, when the waiter is granted its permits. */
  onGrant: () => void = noop
  constructor(readonly weight: number) {}
}

const noop = (): void => {}

/** The outcome of `PermitPool.enqueue`. @internal */
export type EnqueueResult = "granted" | "queued" | "full"

/** Weighted permits plus a bounded FIFO waiter queue. @internal */
export class PermitPool {
  /** Permits currently held. */
  inUse = 0
  /** Calls currently holding permits. */
  active = 0
  /** Waiters currently in the queue. */
  queued = 0
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined

  constructor(
    readonly capacity: number,
    readonly maxQueued: number
  ) {}

  /** Free permits. */
  get available(): number {
    return this.capacity - this.inUse
  }

  /** Takes `weight` permits at once if nobody waits and they are free. */
  tryAcquire(weight: number): boolean {
    if (this.head === undefined && this.capacity - this.inUse >= weight) {
      this.inUse += weight
      this.active++
      return true
    }
    return false
  }

  /**
   * Grants the waiter at once when it can (calling its `onGrant`), else links
   * it at the tail when the queue has room, else reports `"full"`.
   */
  enqueue(waiter: Waiter): EnqueueResult {
    if (this.tryAcquire(waiter.weight)) {
      waiter.state = "granted"
      waiter.onGrant()
      return "granted"
    }
    if (this.queued >= this.maxQueued) {
      waiter.state = "cancelled"
      return "full"
    }
    this.link(waiter)
    return "queued"
  }

  /** Gives back the permits of a call that held them, then serves the queue. */
  release(weight: number): void {
    this.inUse -= weight
    this.active--
    this.drain()
  }

  /**
   * A waiter gave up (interrupted or timed out). A queued one leaves the queue
   * at once; one granted in the same instant gives its permits back. Either
   * way the queue is served again, since the head may have changed.
   */
  cancel(waiter: Waiter): void {
    if (waiter.state === "queued") {
      waiter.state = "cancelled"
      this.unlink(waiter)
      this.drain()
    } else if (waiter.state === "granted") {
      waiter.state = "cancelled"
      this.release(waiter.weight)
    }
  }

  /** Grants the head of the queue while it fits in the free permits. */
  private drain(): void {
    let head = this.head
    while (head !== undefined && this.capacity - this.inUse >= head.weight) {
      this.unlink(head)
      this.inUse += head.weight
      this.active++
      head.state = "granted"
      head.onGrant()
      head = this.head
    }
  }

  private link(waiter: Waiter): void {
    waiter.prev = this.tail
    if (this.tail === undefined) {
      this.head = waiter
    } else {
      this.tail.next = waiter
    }
    this.tail = waiter
    this.queued++
  }

  private unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) {
      this.head = waiter.next
    } else {
      waiter.prev.next = waiter.next
    }
    if (waiter.next === undefined) {
      this.tail = waiter.prev
    } else {
      waiter.next.prev = waiter.prev
    }
    waiter.prev = undefined
    waiter.next = undefined
    this.queued--
  }
}
