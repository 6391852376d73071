/**
 * The library as an Effect developer uses it: misuse of `Router.make` is a
 * typed `RouterConfigError` at construction, not a defect or a surprise at
 * call time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Simulated } from "../../src/providers/index.js"
import { Router } from "../../src/router/index.js"

const build = (extra: Partial<Router.Config>) =>
  Effect.gen(function* () {
    const a = yield* Simulated.make({ provider: "openai", model: "a" })
    const b = yield* Simulated.make({ provider: "openai", model: "b" })
    return yield* Effect.exit(
      Router.make({ targets: { a: { model: a }, b: { model: b } }, chains: { default: ["a", "b"] }, ...extra })
    )
  })

const problemsOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" && (exit.cause.error as { _tag?: string })._tag === "RouterConfigError"
    ? (exit.cause.error as Router.RouterConfigError).problems
    : `not a RouterConfigError: ${Exit.isSuccess(exit) ? "built" : String(exit.cause)}`

describe("Router.make: durations are checked at construction", () => {
  it.scoped("a negative, zero or unreadable timeout is a RouterConfigError", () =>
    Effect.gen(function* () {
      expect(problemsOf(yield* build({ policy: { timeouts: { attempt: "-1 seconds" } } }))).toEqual([
        "policy.timeouts.attempt: must be longer than zero"
      ])
      expect(problemsOf(yield* build({ policy: { timeouts: { total: 0 } } }))).toEqual([
        "policy.timeouts.total: must be longer than zero"
      ])
      expect(
        problemsOf(yield* build({ policy: { timeouts: { firstToken: "soon" as never } } }))
      ).toEqual(['policy.timeouts.firstToken: must be a duration (e.g. "30 seconds"), got "soon"'])
    }))

  it.scoped("a negative backoff, hedge delay, slow call or open duration is a RouterConfigError", () =>
    Effect.gen(function* () {
      expect(problemsOf(yield* build({ policy: { retry: { base: "-200 millis" } } }))).toEqual([
        "policy.retry.base: must not be negative"
      ])
      expect(
        problemsOf(yield* build({ chains: { default: { targets: ["a", "b"], hedge: { delay: "-1 seconds" } } } }))
      ).toEqual(["chains.default.hedge.delay: must not be negative"])
      expect(
        problemsOf(
          yield* build({ policy: { breaker: { slowCallRate: { threshold: 0.5, window: 10, slowCall: "-1 seconds" } } } })
        )
      ).toEqual(["policy.breaker.slowCallRate.slowCall: must be longer than zero"])
      expect(
        problemsOf(yield* build({ policy: { breaker: { openDuration: { base: "-30 seconds" } } } }))
      ).toEqual(["policy.breaker.openDuration.base: must not be negative"])
    }))
})
