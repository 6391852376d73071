/**
 * Shared helpers of the router examples: running a program in virtual time,
 * checking that what an example demonstrates really happened, and printing
 * the router's metadata in plain words.
 *
 * Not part of the library: examples import it as `./internal/show.js`.
 */
import { Cause, Duration, Effect, Exit, Fiber, Option, TestClock, TestContext } from "effect"
import type { Attempt, Rejected } from "../../src/llm/index.js"
import type { ProviderError } from "../../src/llm/index.js"
import type { Router } from "../../src/router/index.js"

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/** What an example expected and did not see: the program exits 1 with it. */
export class CheckFailed extends Error {
  override readonly name = "CheckFailed"
}

/**
 * Fails the example (non-zero exit) unless `condition` holds, so every
 * example doubles as a check of the behaviour it shows.
 */
export const check = (condition: boolean, what: string): Effect.Effect<void, CheckFailed> =>
  condition ? Effect.void : Effect.fail(new CheckFailed(`check failed: ${what}`))

/** Runs the program to its end; a failure or defect prints and exits 1. */
const runToExit = <A, E>(program: Effect.Effect<A, E>): void => {
  Effect.runPromiseExit(program).then((exit) => {
    if (Exit.isSuccess(exit)) return
    const failure = Cause.squash(exit.cause)
    console.error(failure instanceof CheckFailed ? `\n${failure.message}` : Cause.pretty(exit.cause))
    process.exit(1)
  })
}

/**
 * Runs an example in virtual time: the program runs in a fiber under a
 * `TestClock`, which is moved forward by `horizon` at once. Every sleep (a
 * provider's latency, a backoff, an open breaker's wait) then plays in
 * order, so an hour-long outage takes a moment. A program still running at
 * the horizon is a failure, so an example can never hang.
 */
export const runVirtual = <A, E>(program: Effect.Effect<A, E>, horizon: Duration.DurationInput = "2 hours"): void => {
  const main = Effect.gen(function* () {
    const fiber = yield* Effect.fork(program)
    yield* TestClock.adjust(horizon)
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.fail(new CheckFailed(`still running after ${Duration.format(Duration.decode(horizon))} of virtual time`))
    }
    return yield* exit.value
  })
  runToExit(main.pipe(Effect.provide(TestContext.TestContext)))
}

/** Runs an example in real time (its sleeps are a few milliseconds). */
export const runReal = <A, E>(program: Effect.Effect<A, E>): void => {
  runToExit(program)
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/** `1234` → `"1,234 ms"`. */
export const ms = (duration: Duration.DurationInput): string =>
  `${Math.round(Duration.toMillis(Duration.decode(duration))).toLocaleString("en-US")} ms`

/** A virtual instant as minutes and seconds since `epoch`: `"12:30"`. */
export const clock = (at: number, epoch: number): string => {
  const seconds = Math.round((at - epoch) / 1000)
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`
}

/** US dollars with enough digits for one request: `"$0.004215"`. */
export const usd = (amount: number): string => `${amount < 0 ? "-" : ""}$${Math.abs(amount).toFixed(6)}`

/** A signed cost delta: `"+$0.001200"`, `"-$0.000300"`, `"$0.000000"`. */
export const usdDelta = (amount: number): string => (amount > 0 ? `+${usd(amount)}` : usd(amount))

/** An error in a few words: `"Overloaded 529"`, `"Rejected: circuit-open"`, `"Timeout (attempt)"`. */
export const errorLabel = (error: ProviderError | Rejected): string => {
  switch (error._tag) {
    case "Rejected":
      return `Rejected: ${error.reason}`
    case "Timeout":
      return `Timeout (${error.phase})`
    case "TransportError":
      return `TransportError${error.code === undefined ? "" : ` ${error.code}`}`
    default:
      return `${error._tag}${error.status === undefined ? "" : ` ${error.status}`}`
  }
}

/** One attempt: `"sonnet x Overloaded 529 (50 ms)"` or `"mini ok (100 ms)"`. */
export const attemptLabel = (attempt: Attempt): string =>
  `${attempt.target} ${attempt.error === undefined ? "ok" : `x ${errorLabel(attempt.error)}`} (${ms(attempt.duration)})`

/** Every attempt of a request, in order. */
export const attemptsLine = (attempts: ReadonlyArray<Attempt>): string => attempts.map(attemptLabel).join(" -> ")

/** A request's metadata in one line: who served, fallbacks, latency, cost. */
export const metaLine = (meta: Router.Meta): string =>
  [
    meta.degraded === undefined ? `served by ${meta.target} (${meta.provider}/${meta.model})` : `DEGRADED (${meta.degraded})`,
    `${meta.fallbacks} fallback${meta.fallbacks === 1 ? "" : "s"}`,
    `latency ${ms(meta.latency)}`,
    `cost ${usd(meta.cost)} (${usdDelta(meta.costDelta)} vs chain's first)`
  ].join(", ")

/** Each target's breaker and health, as a small table. */
export const statusTable = (status: ReadonlyArray<Router.TargetStatus>): ReadonlyArray<string> => [
  `${"target".padEnd(10)} ${"breaker".padEnd(10)} ${"calls".padStart(5)} ${"success".padStart(8)} ${"p50".padStart(9)} ${"p95".padStart(9)}  degraded`,
  ...status.map((s) => {
    const latency = Option.match(s.health.latency, {
      onNone: () => ["-", "-"],
      onSome: (q) => [ms(q.p50), ms(q.p95)]
    })
    return [
      s.name.padEnd(10),
      s.breaker.state.padEnd(10),
      String(s.health.calls).padStart(5),
      `${(s.health.successRate * 100).toFixed(0)}%`.padStart(8),
      latency[0]!.padStart(9),
      latency[1]!.padStart(9),
      ` ${s.health.degraded ? "yes" : "no"}`
    ].join(" ")
  })
]
