/**
 * Backoff arithmetic shared by `Backoff` (as a `Schedule`) and `Retry` (as a
 * hand-rolled loop). All delays are plain numbers of milliseconds here; the
 * public modules turn them into `Duration`s at the edge.
 *
 * @internal
 */
import { Duration, Effect, Option, Random, Schedule, ScheduleDecision, ScheduleInterval, ScheduleIntervals } from "effect"
import type { BackoffOptions, Jitter, RetryAfterOptions } from "../Backoff.js"
import { isNegative } from "./duration.js"

/** @internal */
export const jitters: ReadonlyArray<Jitter> = ["none", "full", "equal", "decorrelated", "proportional"]

/** @internal */
export const defaults = {
  base: 200,
  factor: 2,
  cap: 30_000,
  jitter: "full",
  maxAttempts: 3
} as const

/**
 * Backoff options decoded once, so the hot path never touches `Duration`.
 *
 * @internal
 */
export interface Policy {
  readonly baseMillis: number
  readonly factor: number
  readonly capMillis: number
  readonly jitter: Jitter
  /** Counts the first call: at most `maxAttempts - 1` retries. */
  readonly maxAttempts: number
}

const invalid = (field: string, value: unknown, rule: string): never => {
  throw new RangeError(`Backoff: ${field} must be ${rule}, got ${String(value)}`)
}

/**
 * Applies the defaults and validates the options.
 *
 * @throws RangeError on a negative or non-finite base, a non-positive
 * factor, a negative cap, an unknown jitter or a maxAttempts that is not a
 * whole number >= 1 (Infinity is allowed).
 * @internal
 */
export const resolve = (options: BackoffOptions | undefined): Policy => {
  const baseMillis = options?.base === undefined ? defaults.base : signedMillis(options.base)
  const factor = options?.factor ?? defaults.factor
  const capMillis = options?.cap === undefined ? defaults.cap : signedMillis(options.cap)
  const jitter = options?.jitter ?? defaults.jitter
  const maxAttempts = options?.maxAttempts ?? defaults.maxAttempts
  if (!(baseMillis >= 0 && Number.isFinite(baseMillis))) invalid("base", options?.base ?? baseMillis, "a finite duration >= 0")
  if (!(factor > 0 && Number.isFinite(factor))) invalid("factor", factor, "a finite number > 0")
  if (!(capMillis >= 0)) invalid("cap", options?.cap ?? capMillis, "a duration >= 0")
  if (!jitters.includes(jitter)) invalid("jitter", jitter, `one of ${jitters.join(", ")}`)
  if (!(maxAttempts >= 1 && (Number.isInteger(maxAttempts) || maxAttempts === Infinity))) {
    invalid("maxAttempts", maxAttempts, "a whole number >= 1 or Infinity")
  }
  return { baseMillis, factor, capMillis, jitter, maxAttempts }
}

/** A duration in milliseconds, -1 when written negative: so that {@link resolve} refuses it. */
const signedMillis = (input: Duration.DurationInput): number => (isNegative(input) ? -1 : Duration.toMillis(input))

/**
 * The un-jittered delay before retry `n` (0-based): `min(cap, base * factor^n)`.
 *
 * @internal
 */
export const exponentialMillis = (policy: Policy, n: number): number => {
  if (policy.baseMillis === 0) return 0
  const raw = policy.baseMillis * Math.pow(policy.factor, n)
  return raw < policy.capMillis ? raw : policy.capMillis
}

/**
 * One jittered delay. `previous` is the last delay this sequence computed
 * (only decorrelated jitter reads it, and treats anything below base as
 * base); `u` is uniform in [0, 1). Never above the cap.
 *
 * @internal
 */
export const delayMillis = (policy: Policy, n: number, previous: number, u: number): number => {
  switch (policy.jitter) {
    case "none":
      return exponentialMillis(policy, n)
    case "full":
      return u * exponentialMillis(policy, n)
    case "equal": {
      const half = exponentialMillis(policy, n) / 2
      return half + u * half
    }
    case "proportional": {
      const jittered = exponentialMillis(policy, n) * (0.8 + 0.4 * u)
      return jittered < policy.capMillis ? jittered : policy.capMillis
    }
    case "decorrelated":
      return decorrelatedMillis(policy, previous, u)
  }
}

const decorrelatedMillis = (policy: Policy, previous: number, u: number): number => {
  const low = policy.baseMillis
  const high = 3 * (previous > low ? previous : low)
  const drawn = low + u * (high - low)
  const bounded = drawn < high ? drawn : high // guard against rounding up past `high`
  return bounded < policy.capMillis ? bounded : policy.capMillis
}

type State = readonly [retry: number, previous: number]

const stop = <S>(state: S) => Effect.succeed([state, Duration.zero, ScheduleDecision.done] as const)

const proceed = (policy: Policy, now: number, state: State, u: number) => {
  const millis = delayMillis(policy, state[0], state[1], u)
  const next: State = [state[0] + 1, millis]
  return [next, Duration.millis(millis), ScheduleDecision.continueWith(ScheduleInterval.after(now + millis))] as const
}

/**
 * The backoff as a `Schedule` that outputs each delay it sleeps, draws from
 * the `Random` service and recurs `maxAttempts - 1` times.
 *
 * @internal
 */
export const schedule = (policy: Policy): Schedule.Schedule<Duration.Duration> => {
  const retries = policy.maxAttempts - 1
  const initial: State = [0, policy.baseMillis]
  return Schedule.makeWithState(initial, (now, _input: unknown, state: State) => {
    if (state[0] >= retries) return stop(state)
    if (policy.jitter === "none") return Effect.succeed(proceed(policy, now, state, 0))
    return Effect.map(Random.next, (u) => proceed(policy, now, state, u))
  })
}

/**
 * The Retry-After carried by an error in milliseconds, or -1 when it carries
 * none.
 *
 * @internal
 */
export const pushbackMillis = <E>(retryAfter: ((error: E) => Option.Option<Duration.Duration>) | undefined, error: E) => {
  if (retryAfter === undefined) return -1
  const pushback = retryAfter(error)
  return Option.isSome(pushback) ? Duration.toMillis(pushback.value) : -1
}

/**
 * Lets a failure's Retry-After stretch a schedule's delay, or stop it when
 * the Retry-After is above the cap.
 *
 * @internal
 */
export const withRetryAfter = <E, R>(
  self: Schedule.Schedule<Duration.Duration, E, R>,
  options: RetryAfterOptions<E>
): Schedule.Schedule<Duration.Duration, E, R> => {
  const capMillis = Duration.toMillis(options.cap)
  return Schedule.makeWithState(self.initial, (now, input: E, state) => {
    const pushback = pushbackMillis(options.retryAfter, input)
    if (pushback < 0) return self.step(now, input, state)
    if (pushback > capMillis) return stop(state)
    return Effect.map(self.step(now, input, state), (step) => {
      const [next, , decision] = step
      if (ScheduleDecision.isDone(decision)) return step
      if (ScheduleIntervals.start(decision.intervals) - now >= pushback) return step
      return [next, Duration.millis(pushback), ScheduleDecision.continueWith(ScheduleInterval.after(now + pushback))] as const
    })
  })
}
