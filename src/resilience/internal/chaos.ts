/**
 * The engine behind `Chaos.inject`: a seeded PCG random stream (the one
 * behind Effect's `Random.make`) owned by one injected effect. Every run of
 * that effect is one attempt and draws exactly two numbers in one step
 * (latency roll, then failure roll), so a seed fixes the whole sequence of
 * outcomes, whatever the rates and however attempts interleave.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Hash from "effect/Hash"
import { PCGRandom } from "effect/Utils"

/** Resolved options. @internal */
export interface ChaosConfig<E2> {
  readonly seed: number | string
  readonly failureRate: number
  readonly failWith: ((attempt: number) => E2) | undefined
  readonly latencyRate: number
  readonly latency: Duration.Duration
}

const isRate = (rate: number): boolean => rate >= 0 && rate <= 1

/** @internal */
export const inject = <A, E, R, E2>(self: Effect.Effect<A, E, R>, config: ChaosConfig<E2>): Effect.Effect<A, E | E2, R> => {
  if (!isRate(config.failureRate) || !isRate(config.latencyRate)) {
    return Effect.die(
      new Cause.IllegalArgumentException(
        `Chaos: rates must be between 0 and 1, got failureRate ${config.failureRate} and latencyRate ${config.latencyRate}`
      )
    )
  }
  const prng = new PCGRandom(Hash.hash(config.seed))
  const delay = Effect.sleep(config.latency)
  const failWith = config.failWith
  let attempts = 0
  return Effect.suspend(() => {
    const latencyRoll = prng.number()
    const failureRoll = prng.number()
    const attempt = ++attempts
    const outcome: Effect.Effect<A, E | E2, R> = failWith !== undefined && failureRoll < config.failureRate
      ? Effect.failSync(() => failWith(attempt))
      : self
    return latencyRoll < config.latencyRate ? Effect.zipRight(delay, outcome) : outcome
  })
}
