import type { Window } from "./window.js"

/**
 * The last `size` calls, as a ring buffer of one byte per call.
 *
 * @internal
 */
export class CountWindow implements Window {
  readonly usesTime = false
  private readonly slots: Uint8Array
  private next = 0
  private filled = 0
  private badCount = 0

  constructor(readonly size: number) {
    this.slots = new Uint8Array(size)
  }

  record(bad: boolean): void {
    const slot = this.next
    if (this.filled === this.size) {
      this.badCount -= this.slots[slot]!
    } else {
      this.filled++
    }
    const value = bad ? 1 : 0
    this.slots[slot] = value
    this.badCount += value
    this.next = slot + 1 === this.size ? 0 : slot + 1
  }

  calls(): number {
    return this.filled
  }

  bad(): number {
    return this.badCount
  }

  reset(): void {
    this.slots.fill(0)
    this.next = 0
    this.filled = 0
    this.badCount = 0
  }
}
