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
import { monotonicMillis } from "./timeout.js"
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
  /**
   * One call's deadline, if it has one (`makeBounded`). Typed as failing
   * with nothing so that a policy stays usable for a narrower error type
   * (`E1 extends E`); `makeBounded` sets it for the call's own error type.
   */
  readonly deadline: RetryDeadline<never> | undefined
}

/**
 * A deadline over one call's retries: when it passes, on the monotonic
 * time of the fiber's clock (`monotonicMillis`), and what the call then
 * fails with.
 *
 * @internal
 */
export interface RetryDeadline<E> {
  readonly at: number
  readonly onDeadline: () => E
  /**
   * How long a retry after this error must have before the deadline, past
   * its start (0 if absent): a retry after an attempt that timed out is made
   * only if as long an attempt still fits.
   */
  readonly room?: ((error: unknown) => number) | undefined
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
    budget: effectiveBudget(options?.budget),
    deadline: undefined
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

/**
 * A retry policy applied with one call's budget and deadline, for a caller
 * that bounds the call's retries with its own deadline (the router's total
 * one) without a fiber forked to keep it: no backoff sleeps past the
 * deadline. A retry that would start at or after it is not made: the call
 * fails at once with its last error, so that the caller can use the time
 * left (the router's next target); once the deadline has passed, it fails
 * with `onDeadline()`. (The calls themselves must keep to the deadline: the
 * policy does not time them.)
 *
 * @internal
 */
export const makeBounded = <E>(options: RetryOptions<E> | undefined) => {
  const policy = resolve(options)
  return <A, E1 extends E, R>(
    self: Effect.Effect<A, E1, R>,
    budget: RetryBudget | undefined,
    deadline: RetryDeadline<E1> | undefined
  ): Effect.Effect<A, E1, R> =>
    start<A, E1, R>({ ...policy, budget: effectiveBudget(budget), deadline: deadline as RetryDeadline<never> | undefined }, self)
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
  const retry = () => retryAfterSleep(policy, call, error, n, computed, millis)
  const deadline = policy.deadline
  return deadline === undefined ? retry() : beforeDeadline(deadline, millis + (deadline.room?.(error) ?? 0), error, retry)
}

/**
 * `retry()`, unless the deadline comes first: a retry due `millis` from now
 * (with the room it needs added) would start at or past it, so it is not made and the call fails with its
 * last error at once (a router moves on to its next target with the time
 * that is left, rather than wait for a retry it cannot make); once the
 * deadline has passed, it fails as the deadline says.
 */
const beforeDeadline = <A, E, R>(
  deadline: RetryDeadline<E>,
  millis: number,
  error: E,
  retry: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.clockWith((clock) => {
    const left = deadline.at - monotonicMillis(clock)
    if (millis < left) return retry()
    return left > 0 ? Effect.fail(error) : Effect.failSync(deadline.onDeadline)
  })

const retryAfterSleep = <A, E, R>(
  policy: Resolved<E>,
  call: Effect.Effect<A, E, R>,
  error: E,
  n: number,
  computed: number,
  millis: number
): Effect.Effect<A, E, R> => {
  const delay = Duration.millis(millis)
  const again = attempt(policy, call, n + 1, computed)
  // like the Schedule driver, do not sleep at all for a zero delay
  const next = millis > 0 ? Effect.zipRight(Effect.sleep(delay), again) : again
  return policy.onRetry === undefined ? next : Effect.zipRight(policy.onRetry({ error, attempt: n, delay }), next)
}
