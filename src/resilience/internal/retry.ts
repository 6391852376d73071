/**
 * The retry loop. It is written by hand rather than as `Effect.retry` over
 * `Backoff.schedule`: the success path is one `catchAll` (plus one `zipLeft`
 * with a budget) built once per `retry` call, with no schedule driver, `Ref`
 * or clock read, because routers run it on every request.
 *
 * @internal
 */
import { Duration, Effect, Random } from "effect"
import type { RetryOptions } from "../Retry.js"
import * as backoff from "./backoff.js"
import * as budgets from "./budget.js"

/** @internal */
export const retry = <A, E, R>(self: Effect.Effect<A, E, R>, options: RetryOptions<E> | undefined): Effect.Effect<A, E, R> => {
  const policy = backoff.resolve(options)
  const isRetriable = options?.while
  const retryAfter = options?.retryAfter
  const retryAfterCapMillis = options?.retryAfterCap === undefined
    ? policy.capMillis
    : Duration.toMillis(options.retryAfterCap)
  const onRetry = options?.onRetry
  const budget = options?.budget === budgets.unlimited ? undefined : options?.budget
  const call = budget === undefined ? self : Effect.zipLeft(self, budget.recordSuccess)

  // `attempt` is the 1-based number of the call that just failed; `previous`
  // is the last computed (pre-Retry-After) delay, read by decorrelated jitter.
  const run = (attempt: number, previous: number): Effect.Effect<A, E, R> =>
    Effect.catchAll(call, (error) => onFailure(error, attempt, previous))

  const onFailure = (error: E, attempt: number, previous: number): Effect.Effect<A, E, R> => {
    // A6: only failures worth retrying count against the budget.
    if (isRetriable !== undefined && !isRetriable(error)) return Effect.fail(error)
    if (budget === undefined) return decide(error, attempt, previous)
    return Effect.zipRight(budget.recordFailure, decide(error, attempt, previous))
  }

  const decide = (error: E, attempt: number, previous: number): Effect.Effect<A, E, R> => {
    if (attempt >= policy.maxAttempts) return Effect.fail(error)
    const pushback = backoff.pushbackMillis(retryAfter, error)
    if (pushback > retryAfterCapMillis) return Effect.fail(error)
    if (budget === undefined) return backoffThenRun(error, attempt, previous, pushback)
    return Effect.flatMap(
      budget.tryAcquire,
      (allowed) => allowed ? backoffThenRun(error, attempt, previous, pushback) : Effect.fail(error)
    )
  }

  const backoffThenRun = (error: E, attempt: number, previous: number, pushback: number): Effect.Effect<A, E, R> =>
    policy.jitter === "none"
      ? sleepThenRun(error, attempt, backoff.delayMillis(policy, attempt - 1, previous, 0), pushback)
      : Effect.flatMap(
        Random.next,
        (u) => sleepThenRun(error, attempt, backoff.delayMillis(policy, attempt - 1, previous, u), pushback)
      )

  const sleepThenRun = (error: E, attempt: number, computed: number, pushback: number): Effect.Effect<A, E, R> => {
    const millis = pushback > computed ? pushback : computed
    const delay = Duration.millis(millis)
    // like the Schedule driver, do not sleep at all for a zero delay
    const next = millis > 0 ? Effect.zipRight(Effect.sleep(delay), run(attempt + 1, computed)) : run(attempt + 1, computed)
    return onRetry === undefined ? next : Effect.zipRight(onRetry({ error, attempt, delay }), next)
  }

  return run(1, policy.baseMillis)
}
