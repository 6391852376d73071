/**
 * Hedging and racing over alternative effects.
 *
 * - {@link run}: start alternative 0; start the next after a delay (a hedge)
 *   or at once when a running one fails. The first success wins.
 * - {@link race}: start every alternative at once; the first success wins.
 *
 * In both, the losers are interrupted and their finalizers have run before the
 * result is returned. If every alternative fails, the result is a
 * {@link HedgeFailed} holding every typed error in alternative order. A defect
 * (or an interruption an alternative causes itself) counts as that
 * alternative's failure while the others go on; if no alternative succeeds
 * and any of them died, the defects are the result instead of `HedgeFailed`.
 *
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as internal from "./internal/hedge.js"

/**
 * Every alternative failed. `errors[i]` is the error of alternative `i`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "effect-llm-failover/resilience"
 *
 * const program = Hedge.race([Effect.fail("a" as const), Effect.fail("b" as const)]).pipe(
 *   Effect.catchTag("HedgeFailed", (e) => Effect.succeed(e.errors)) // ["a", "b"]
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class HedgeFailed<E = unknown> extends Schema.TaggedError<HedgeFailed<unknown>>()("HedgeFailed", {
  errors: Schema.NonEmptyArray(Schema.Unknown)
}) {
  /** The error of each alternative, in alternative order. */
  declare readonly errors: NonEmptyReadonlyArray<E>

  override get message(): string {
    return `all ${this.errors.length} alternatives failed: ${this.errors.map(describe).join("; ")}`
  }
}

/**
 * The successful value and the index of the alternative that produced it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "effect-llm-failover/resilience"
 *
 * declare const primary: Effect.Effect<string, Error>
 * declare const backup: Effect.Effect<string, Error>
 *
 * const regions = ["us-east", "eu-west"] as const
 * const program = Effect.gen(function* () {
 *   const winner: Hedge.Winner<string> = yield* Hedge.runIndexed([primary, backup], { delay: "500 millis" })
 *   yield* Effect.log(`answered by ${regions[winner.index]}`)
 *   return winner.value
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Winner<A> {
  readonly value: A
  readonly index: number
}

/**
 * Options of {@link run}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge, RetryBudget } from "effect-llm-failover/resilience"
 *
 * declare const budget: RetryBudget.RetryBudget
 * declare const replicas: readonly [Effect.Effect<string, Error>, Effect.Effect<string, Error>, Effect.Effect<string, Error>]
 *
 * // a hedge after 400 ms, another 800 ms later; at most 2 at once; each hedge spends the retry budget
 * const options: Hedge.HedgeOptions = {
 *   delay: (index) => (index === 1 ? "400 millis" : "800 millis"),
 *   maxParallel: 2,
 *   allow: budget.tryAcquire
 * }
 * const program = Hedge.run(replicas, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HedgeOptions {
  /**
   * How long after alternative `index - 1` started alternative `index`
   * (`index >= 1`) starts as a hedge: one duration for all, or one per index.
   */
  readonly delay: Duration.DurationInput | ((index: number) => Duration.DurationInput)
  /**
   * The most alternatives running at once (default: all). A delay that ends
   * while this many run starts nothing; the next starts when one fails.
   */
  readonly maxParallel?: number
  /**
   * Asked before each delay-triggered hedge (e.g. a retry budget's
   * `tryAcquire`): the hedge starts only if it says `true`. Starts caused by
   * a failure do not ask. When it says `false`, no hedge starts until a
   * running alternative fails.
   */
  readonly allow?: Effect.Effect<boolean>
  /**
   * Yields the index of an alternative that has failed an attempt it goes
   * on retrying (e.g. `Queue.take` of a queue its attempts offer to): the
   * next alternative starts at once, as on a failure, without waiting for
   * its retries, if fewer than `maxParallel` run (else its own failure
   * starts it, when it comes). Each alternative's first failure that
   * starts one, of an attempt or its own, is the only one that does.
   */
  readonly failedAttempts?: Effect.Effect<number>
}

type Alternatives = NonEmptyReadonlyArray<Effect.Effect<any, any, any>>
type Success<Alts extends Alternatives> = Effect.Effect.Success<Alts[number]>
type Failure<Alts extends Alternatives> = Effect.Effect.Error<Alts[number]>
type Context<Alts extends Alternatives> = Effect.Effect.Context<Alts[number]>

/**
 * Hedges over alternatives and reports which one won. See {@link run}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "effect-llm-failover/resilience"
 *
 * const slow = Effect.as(Effect.sleep("2 seconds"), "primary")
 * const fast = Effect.as(Effect.sleep("100 millis"), "backup")
 * // the backup starts after 300 ms and wins: { value: "backup", index: 1 }
 * const program = Hedge.runIndexed([slow, fast], { delay: "300 millis" })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const runIndexed: {
  (
    options: HedgeOptions
  ): <const Alts extends Alternatives>(
    alternatives: Alts
  ) => Effect.Effect<Winner<Success<Alts>>, HedgeFailed<Failure<Alts>>, Context<Alts>>
  <const Alts extends Alternatives>(
    alternatives: Alts,
    options: HedgeOptions
  ): Effect.Effect<Winner<Success<Alts>>, HedgeFailed<Failure<Alts>>, Context<Alts>>
} = dual(
  2,
  <A, E, R>(
    alternatives: NonEmptyReadonlyArray<Effect.Effect<A, E, R>>,
    options: HedgeOptions
  ): Effect.Effect<Winner<A>, HedgeFailed<E>, R> =>
    Effect.suspend(() => {
      const maxParallel = options.maxParallel ?? alternatives.length
      if (!(maxParallel === Infinity || (Number.isInteger(maxParallel) && maxParallel >= 1))) {
        return Effect.die(
          new Cause.IllegalArgumentException(`Hedge: maxParallel must be a positive integer, got ${maxParallel}`)
        )
      }
      return Effect.mapError(
        internal.hedge(alternatives, {
          delay: delayOf(options.delay),
          maxParallel,
          allow: options.allow,
          failedAttempts: options.failedAttempts
        }),
        toHedgeFailed
      )
    })
)

/**
 * Hedges over alternatives: starts alternative 0, then the next one after
 * `delay` (if `allow` agrees and fewer than `maxParallel` run) or at once
 * when a running one fails. The first success wins; the others are
 * interrupted and their finalizers have run before the value is returned. If
 * every alternative fails, fails with {@link HedgeFailed}.
 *
 * @example
 * ```ts
 * import { Duration, Effect, pipe } from "effect"
 * import { Hedge, RetryBudget } from "effect-llm-failover/resilience"
 *
 * const primary = Effect.as(Effect.sleep("2 seconds"), "primary")
 * const backup = Effect.as(Effect.sleep("100 millis"), "backup")
 * // "backup", about 400 ms in
 * const program = Hedge.run([primary, backup], { delay: "300 millis", maxParallel: 2 })
 *
 * // data-last, a growing delay per index, hedges paid for by a retry budget
 * // (`as const`: a non-empty tuple, as the data-first form infers it)
 * const budget = RetryBudget.unsafeMake({ maxTokens: 10 })
 * const budgeted = pipe(
 *   [primary, backup] as const,
 *   Hedge.run({ delay: (index) => Duration.millis(300 * index), allow: budget.tryAcquire })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const run: {
  (
    options: HedgeOptions
  ): <const Alts extends Alternatives>(
    alternatives: Alts
  ) => Effect.Effect<Success<Alts>, HedgeFailed<Failure<Alts>>, Context<Alts>>
  <const Alts extends Alternatives>(
    alternatives: Alts,
    options: HedgeOptions
  ): Effect.Effect<Success<Alts>, HedgeFailed<Failure<Alts>>, Context<Alts>>
} = dual(
  2,
  <A, E, R>(
    alternatives: NonEmptyReadonlyArray<Effect.Effect<A, E, R>>,
    options: HedgeOptions
  ): Effect.Effect<A, HedgeFailed<E>, R> => Effect.map(runIndexed(alternatives, options), valueOf)
)

/**
 * Races alternatives and reports which one won. See {@link race}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "effect-llm-failover/resilience"
 *
 * const program = Hedge.raceIndexed([
 *   Effect.as(Effect.sleep("1 second"), "a"),
 *   Effect.as(Effect.sleep("10 millis"), "b")
 * ]) // { value: "b", index: 1 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const raceIndexed = <const Alts extends Alternatives>(
  alternatives: Alts
): Effect.Effect<Winner<Success<Alts>>, HedgeFailed<Failure<Alts>>, Context<Alts>> =>
  Effect.mapError(internal.race(alternatives), toHedgeFailed)

/**
 * Starts every alternative at once (with `Effect.raceAll`): the first success
 * wins, the others are interrupted and their finalizers have run before the
 * value is returned. If every alternative fails, fails with
 * {@link HedgeFailed}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "effect-llm-failover/resilience"
 *
 * const program = Hedge.race([
 *   Effect.fail("down"),
 *   Effect.as(Effect.sleep("20 millis"), "up")
 * ]) // "up"
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const race = <const Alts extends Alternatives>(
  alternatives: Alts
): Effect.Effect<Success<Alts>, HedgeFailed<Failure<Alts>>, Context<Alts>> =>
  Effect.map(raceIndexed(alternatives), valueOf)

const valueOf = <A>(winner: Winner<A>): A => winner.value

const toHedgeFailed = <E>(errors: NonEmptyReadonlyArray<E>): HedgeFailed<E> => new HedgeFailed<E>({ errors })

const delayOf = (delay: HedgeOptions["delay"]): (index: number) => Duration.Duration => {
  if (typeof delay === "function") return (index) => Duration.decode(delay(index))
  const fixed = Duration.decode(delay)
  return () => fixed
}

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : undefined
    const message = "message" in error && typeof error.message === "string" && error.message !== ""
      ? error.message
      : undefined
    if (tag !== undefined && message !== undefined) return `${tag}: ${message}`
    if (tag !== undefined || message !== undefined) return (tag ?? message)!
  }
  return String(error)
}
