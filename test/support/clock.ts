/**
 * A clock a test moves by hand (TestClock's wake-ups cost milliseconds of
 * real time each, too many for a property's thousands of steps).
 */
import { Clock, Duration, Effect } from "effect"

/** A `Clock` over a wall time and a monotonic time in milliseconds (the nanoseconds Effect reads), and a sleep. */
const clockOf = (wall: () => number, monotonic: () => number, sleep: Clock.Clock["sleep"]): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: wall,
  currentTimeMillis: Effect.sync(wall),
  unsafeCurrentTimeNanos: () => BigInt(monotonic()) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(monotonic()) * 1_000_000n),
  sleep
})

/**
 * A clock at `start` (default 0) that moves only when told (`set`,
 * `advance`), or, with `sleepsMoveTime`, also by each sleep, at once, so a
 * retry loop runs synchronously.
 */
export const handClock = (options?: { readonly start?: number; readonly sleepsMoveTime?: boolean }) => {
  let now = options?.start ?? 0
  const clock = clockOf(
    () => now,
    () => now,
    options?.sleepsMoveTime === true
      ? (duration) =>
        Effect.sync(() => {
          now += Duration.toMillis(duration)
        })
      : () => Effect.void
  )
  return {
    clock,
    now: () => now,
    set: (at: number) => (now = at),
    advance: (millis: number) => (now += millis)
  }
}

/**
 * A wall clock and a monotonic one, apart, both moved by hand: `advance`
 * moves both, `stepWall` the wall clock alone (NTP, a resumed VM). A sleep
 * of nothing ends at once; with `sleepsNever`, any other never ends (what
 * waits on time is not reached), else every sleep ends at once.
 */
export const steppingClock = (options?: { readonly sleepsNever?: boolean }) => {
  let wall = 10_000_000
  let monotonic = 5_000
  const clock = clockOf(
    () => wall,
    () => monotonic,
    (duration) => (options?.sleepsNever === true && Duration.toMillis(duration) > 0 ? Effect.never : Effect.void)
  )
  return {
    clock,
    advance: (millis: number) => {
      wall += millis
      monotonic += millis
    },
    stepWall: (millis: number) => {
      wall += millis
    }
  }
}

/** Lets the event loop run `n` turns (I/O included), without waiting on time. */
export const turns = (n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
  })
