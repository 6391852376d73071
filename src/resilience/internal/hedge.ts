/**
 * The engines behind `Hedge`: a delayed hedge (alternatives started one after
 * another, after a delay or at once on a failure) and a race (all at once).
 * Both fail with the typed errors of every alternative, in index order; the
 * public module wraps them in `HedgeFailed`.
 *
 * @internal
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { handled } from "./handled.js"

/** A successful alternative and its index. @internal */
export interface Indexed<A> {
  readonly value: A
  readonly index: number
}

/** Resolved options of a delayed hedge. @internal */
export interface HedgeConfig {
  /** The delay before alternative `index` (>= 1) starts, counted from the start of the previous one. */
  readonly delay: (index: number) => Duration.Duration
  readonly maxParallel: number
  readonly allow: Effect.Effect<boolean> | undefined
  /** The index of an alternative that failed an attempt it goes on retrying (see `HedgeOptions.failedAttempts`). */
  readonly failedAttempts?: Effect.Effect<number> | undefined
}

/**
 * The outcomes of the alternatives that did not succeed. A typed failure is
 * kept at its index; anything else (a defect, an interruption the alternative
 * caused itself) is gathered into `defects`, which wins over typed errors when
 * every alternative has ended.
 *
 * @internal
 */
export class Failures<E> {
  private readonly errors: Array<E>
  private defects: Cause.Cause<never> = Cause.empty
  private ended = 0

  constructor(readonly total: number) {
    this.errors = new Array<E>(total)
  }

  /** Records how alternative `index` failed; true once every alternative has ended. */
  record(index: number, cause: Cause.Cause<E>): boolean {
    const untyped = Cause.stripFailures(cause)
    if (Cause.isEmpty(untyped)) {
      this.errors[index] = Option.getOrThrow(Cause.failureOption(cause))
    } else {
      this.defects = Cause.parallel(this.defects, untyped)
    }
    this.ended++
    return this.ended === this.total
  }

  /** How many alternatives have ended without success. */
  get count(): number {
    return this.ended
  }

  /** The cause to end with once every alternative has failed. */
  cause(): Cause.Cause<NonEmptyReadonlyArray<E>> {
    return Cause.isEmpty(this.defects)
      ? Cause.fail(this.errors as unknown as NonEmptyReadonlyArray<E>)
      : this.defects
  }
}

/**
 * Starts alternative 0, then the next one after `delay` (if fewer than
 * `maxParallel` run and `allow` agrees) or at once when a running one fails
 * (or, with `failedAttempts`, fails an attempt it retries): each
 * alternative's first failure starts one more.
 * The first success wins; the others are interrupted and awaited, so their
 * finalizers have run before this effect completes.
 *
 * @internal
 */
export const hedge = <A, E, R>(
  alternatives: NonEmptyReadonlyArray<Effect.Effect<A, E, R>>,
  config: HedgeConfig
): Effect.Effect<Indexed<A>, NonEmptyReadonlyArray<E>, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const total = alternatives.length
      const done = yield* Deferred.make<Indexed<A>, NonEmptyReadonlyArray<E>>()
      const failed = yield* Queue.unbounded<void>()
      const failures = new Failures<E>(total)
      const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
      let started = 0
      /** The alternatives started and not yet failed. */
      const running = () => started - failures.count
      // the alternatives whose first failure (of an attempt, or their own) has started the next: each does so once
      const signalled = new Set<number>()
      const firstFailure = (index: number): boolean => {
        if (signalled.has(index)) return false
        signalled.add(index)
        return true
      }

      // an alternative ended after its failed attempt had started the next: its slot is free again
      const freed = yield* Queue.unbounded<void>()
      const attempt = (index: number) =>
        Effect.matchCauseEffect(alternatives[index]!, {
          onSuccess: (value) => Deferred.succeed(done, { value, index }),
          onFailure: (cause) =>
            failures.record(index, cause)
              ? Deferred.failCause(done, failures.cause())
              : firstFailure(index)
              ? Queue.offer(failed, undefined)
              : Queue.offer(freed, undefined)
        })

      // uninterruptible: the launcher interrupted between the fork and the push (at its yield, as the winner
      // lands) would leave an alternative that `stopAll` never interrupts, its call made for nothing
      const start = Effect.uninterruptible(Effect.suspend(() => {
        const index = started++
        return Effect.map(Effect.forkDaemon(Effect.interruptible(attempt(index))), (fiber) => {
          fibers.push(fiber)
        })
      }))

      // A delay-triggered hedge needs a free parallel slot, then the caller's consent; a delay that
      // ends with every slot taken waits for one to free, and one the caller refuses waits for a failure.
      const slotThenConsent: Effect.Effect<void> = Effect.suspend(() =>
        running() >= config.maxParallel
          ? Effect.zipRight(Queue.take(freed), slotThenConsent)
          : Effect.flatMap(config.allow ?? Effect.succeed(true), (ok) => ok ? Effect.void : Effect.never)
      )
      const delayElapsed = (index: number) => Effect.zipRight(Effect.sleep(config.delay(index)), slotThenConsent)
      // An alternative's failed attempt, while it goes on retrying, is a failure for the launcher, the
      // first of that alternative's only, and only while a parallel slot is free: it still runs, and
      // with no slot its own failure, unmarked, starts the next when it comes.
      const attemptsFailing = config.failedAttempts === undefined ? undefined : Effect.forever(
        Effect.flatMap(config.failedAttempts, (index) =>
          running() < config.maxParallel && firstFailure(index)
            ? Queue.offer(failed, undefined)
            : Effect.void)
      )
      const launcher = Effect.suspend(function loop(): Effect.Effect<void, never, R> {
        if (started >= total) return Effect.void
        return Effect.race(Queue.take(failed), delayElapsed(started)).pipe(
          Effect.zipRight(start),
          Effect.zipRight(Effect.suspend(loop))
        )
      })

      yield* start
      const launcherFiber = yield* Effect.forkDaemon(Effect.interruptible(launcher))
      const listener = attemptsFailing === undefined ? undefined : yield* Effect.forkDaemon(Effect.interruptible(attemptsFailing))
      const stopAll = Effect.zipRight(
        Fiber.interrupt(launcherFiber),
        Effect.suspend(() => Fiber.interruptAll(listener === undefined ? fibers : [listener, ...fibers]))
      )
      return yield* Effect.ensuring(restore(Deferred.await(done)), stopAll)
    })
  )

/**
 * Starts every alternative at once with `Effect.raceAll`: the first success
 * wins, the others are interrupted and awaited.
 *
 * @internal
 */
export const race = <A, E, R>(
  alternatives: NonEmptyReadonlyArray<Effect.Effect<A, E, R>>
): Effect.Effect<Indexed<A>, NonEmptyReadonlyArray<E>, R> =>
  Effect.suspend(() => {
    const failures = new Failures<E>(alternatives.length)
    const indexed = alternatives.map((alternative, index) =>
      alternative.pipe(
        Effect.map((value): Indexed<A> => ({ value, index })),
        Effect.tapErrorCause((cause) => Effect.sync(() => failures.record(index, cause)))
      )
    )
    // raceAll fails only once every alternative has failed
    return handled((asCaller) =>
      Effect.catchAllCause(Effect.raceAll(indexed.map(asCaller)), () => Effect.failCause(failures.cause()))
    )
  })
