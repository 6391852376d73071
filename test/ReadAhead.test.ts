/**
 * `ReadAhead`: a pull read one step ahead by a fiber, each read awaited
 * under a plain timer (the live clock: its deadlines are real, and at most
 * a few milliseconds; reads are driven by `Deferred`s, not by time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as ReadAhead from "../src/resilience/internal/readAhead.js"

/** A pull whose reads are handed out one by one by the test; it counts the pulls started. */
const scripted = () =>
  Effect.gen(function* () {
    const reads: Array<Deferred.Deferred<number, Option.Option<string>>> = []
    for (let i = 0; i < 8; i++) reads.push(yield* Deferred.make<number, Option.Option<string>>())
    let started = 0
    let interrupted = 0
    const pull = Effect.suspend(() => Deferred.await(reads[started++]!)).pipe(
      Effect.onInterrupt(() => Effect.sync(() => interrupted++))
    )
    return { reads, pull, started: () => started, interrupted: () => interrupted }
  })

const timedOut = () => Option.some("timed out")
const long = 60_000

describe("ReadAhead", () => {
  it.scopedLive("hands the reads over in order, reading at most one ahead of the consumer", () =>
    Effect.gen(function* () {
      const { pull, reads, started } = yield* scripted()
      const ahead = yield* ReadAhead.start(pull, yield* Effect.scope)
      yield* Deferred.succeed(reads[0]!, 1)
      yield* Deferred.succeed(reads[1]!, 2)
      yield* Deferred.succeed(reads[2]!, 3)
      // nothing taken yet: the reader holds the first read and waits
      yield* Effect.yieldNow()
      yield* Effect.yieldNow()
      expect(started()).toBe(1)
      expect(yield* ahead.take(long, timedOut)).toBe(1)
      expect(yield* ahead.take(long, timedOut)).toBe(2)
      expect(yield* ahead.take(long, timedOut)).toBe(3)
      expect(started()).toBeLessThanOrEqual(4)
    })
  )

  it.scopedLive("a read that does not come in time fails the take; it is not lost, the next take gets it", () =>
    Effect.gen(function* () {
      const { pull, reads } = yield* scripted()
      const ahead = yield* ReadAhead.start(pull, yield* Effect.scope)
      expect(yield* Effect.flip(ahead.take(1, timedOut))).toEqual(Option.some("timed out"))
      yield* Deferred.succeed(reads[0]!, 7)
      expect(yield* ahead.take(long, timedOut)).toBe(7)
    })
  )

  it.scopedLive("a take interrupted while it waits is withdrawn: the read goes to the next one", () =>
    Effect.gen(function* () {
      const { pull, reads } = yield* scripted()
      const ahead = yield* ReadAhead.start(pull, yield* Effect.scope)
      const waiting = yield* Effect.fork(ahead.take(long, timedOut))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiting)
      yield* Deferred.succeed(reads[0]!, 5)
      // the reader hands the read over before anyone takes it again
      yield* Effect.yieldNow()
      yield* Effect.yieldNow()
      expect(yield* ahead.take(long, timedOut)).toBe(5)
    })
  )

  it.scopedLive("a failure and the end reach the consumer as they are, and the reader stops there", () =>
    Effect.gen(function* () {
      const failing = yield* scripted()
      const ahead = yield* ReadAhead.start(failing.pull, yield* Effect.scope)
      yield* Deferred.succeed(failing.reads[0]!, 1)
      yield* Deferred.fail(failing.reads[1]!, Option.some("broken"))
      expect(yield* ahead.take(long, timedOut)).toBe(1)
      expect(yield* Effect.flip(ahead.take(long, timedOut))).toEqual(Option.some("broken"))
      expect(failing.started()).toBe(2)

      const ending = yield* scripted()
      const ended = yield* ReadAhead.start(ending.pull, yield* Effect.scope)
      yield* Deferred.fail(ending.reads[0]!, Option.none())
      expect(yield* Effect.flip(ended.take(long, timedOut))).toEqual(Option.none())
      yield* Effect.yieldNow()
      expect(ending.started()).toBe(1)
    })
  )

  it.live("closing its scope interrupts the reader and the read in flight", () =>
    Effect.gen(function* () {
      const { pull, interrupted, started } = yield* scripted()
      const scope = yield* Scope.make()
      yield* ReadAhead.start(pull, scope)
      yield* Effect.yieldNow()
      expect(started()).toBe(1)
      yield* Scope.close(scope, Exit.void)
      expect(interrupted()).toBe(1)
    })
  )
})
