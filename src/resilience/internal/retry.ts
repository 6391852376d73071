/**
 * The retry loop. It is written by hand rather than as `Effect.retry` over
 * `Backoff.schedule`: routers run it on every request, so its success path
 * must cost next to nothing.
 *
 * `make` resolves the options once (durations decoded, defaults applied,
 * validated) into a {@link Resolved} policy; applying the policy to a call
 * then builds one `catchAll` with one closure (plus one `zipLeft` with a
 * budget), with no schedule driver, `Ref` or clock read. Everything past the
 * first failure is built only when a failure happens.
 *
 * @internal
 */
import { Duration, Effect, Random } from "effect"
import type { PerCallOptions, RetryOptions, RetryPolicy } from "../Retry.js"
import type { RetryBudget } from "../RetryBudget.js"
import * as backoff from "./backoff.js"
import * as budgets from "./budget.js"

/** Retry options resolved once. @internal */
interface Resolved<E> {
  readonly backoff: backoff.Policy
  readonly isRetriable: ((error: E) => boolean) | undefined
  readonly retryAfter: RetryOptions<E>["retryAfter"]
  readonly retryAfterCapMillis: number
  readonly onRetry: RetryOptions<E>["onRetry"]
  /** `undefined` for no budget, or the unlimited one (which never says no). */
  readonly budget: RetryBudget | undefined
}

const effectiveBudget = (budget: RetryBudget | undefined): RetryBudget | undefined =>
  budget === budgets.unlimited ? undefined : budget

/**
 * Applies the defaults and validates the options.
 *
 * @throws RangeError when the backoff options are invalid.
 */
const resolve = <E>(options: RetryOptions<E> | undefined): Resolved<E> => {
  const policy = backoff.resolve(options)
  return {
    backoff: policy,
    isRetriable: options?.while,
    retryAfter: options?.retryAfter,
    retryAfterCapMillis: options?.retryAfterCap === undefined ? policy.capMillis : Duration.toMillis(options.retryAfterCap),
    onRetry: options?.onRetry,
    budget: effectiveBudget(options?.budget)
  }
}

/** The policy with one call's overrides applied. */
const withOverrides = <E>(policy: Resolved<E>, overrides: PerCallOptions<E>): Resolved<E> => ({
  ...policy,
  ...("budget" in overrides ? { budget: effectiveBudget(overrides.budget) } : {}),
  ...("onRetry" in overrides ? { onRetry: overrides.onRetry } : {})
})

/**
 * Resolves the options once and returns the reusable policy.
 *
 * @internal
 */
export const make = <E>(options: RetryOptions<E> | undefined): RetryPolicy<E> => {
  const policy = resolve(options)
  return <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>, overrides?: PerCallOptions<E>): Effect.Effect<A, E1, R> =>
    start(overrides === undefined ? policy : withOverrides(policy, overrides), self)
}

/** The first call; a budget hears of every success. */
const start = <A, E, R>(policy: Resolved<E>, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const call = policy.budget === undefined ? self : Effect.zipLeft(self, policy.budget.recordSuccess)
  return attempt(policy, call, 1, policy.backoff.baseMillis)
}

// `attempt` is the 1-based number of the call about to run; `previous` is the
// last computed (pre-Retry-After) delay, read by decorrelated jitter.
const attempt = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  n: number,
  previous: number
): Effect.Effect<A, E, R> => Effect.catchAll(call, (error) => onFailure(policy, call, error, n, previous))

const onFailure = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  error: E,
  n: number,
  previous: number
): Effect.Effect<A, E, R> => {
  // A6: only failures worth retrying count against the budget.
  if (policy.isRetriable !== undefined && !policy.isRetriable(error)) return Effect.fail(error)
  if (policy.budget === undefined) return decide(policy, call, error, n, previous)
  return Effect.zipRight(policy.budget.recordFailure, decide(policy, call, error, n, previous))
}

const decide = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  error: E,
  n: number,
  previous: number
): Effect.Effect<A, E, R> => {
  if (n >= policy.backoff.maxAttempts) return Effect.fail(error)
  const pushback = backoff.pushbackMillis(policy.retryAfter, error)
  if (pushback > policy.retryAfterCapMillis) return Effect.fail(error)
  if (policy.budget === undefined) return backoffThenRun(policy, call, error, n, previous, pushback)
  return Effect.flatMap(
    policy.budget.tryAcquire,
    (allowed) => allowed ? backoffThenRun(policy, call, error, n, previous, pushback) : Effect.fail(error)
  )
}

const backoffThenRun = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  error: E,
  n: number,
  previous: number,
  pushback: number
): Effect.Effect<A, E, R> =>
  policy.backoff.jitter === "none"
    ? sleepThenRun(policy, call, error, n, backoff.delayMillis(policy.backoff, n - 1, previous, 0), pushback)
    : Effect.flatMap(
      Random.next,
      (u) => sleepThenRun(policy, call, error, n, backoff.delayMillis(policy.backoff, n - 1, previous, u), pushback)
    )

const sleepThenRun = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  error: E,
  n: number,
  computed: number,
  pushback: number
): Effect.Effect<A, E, R> => {
  const millis = pushback > computed ? pushback : computed
  const delay = Duration.millis(millis)
  const again = attempt(policy, call, n + 1, computed)
  // like the Schedule driver, do not sleep at all for a zero delay
  const next = millis > 0 ? Effect.zipRight(Effect.sleep(delay), again) : again
  return policy.onRetry === undefined ? next : Effect.zipRight(policy.onRetry({ error, attempt: n, delay }), next)
}
