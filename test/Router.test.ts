import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Logger, Queue, Random, Scope, Stream, TestClock } from "effect"
import type { ChainExhausted, InvalidRequest, StreamInterrupted } from "../src/llm/index.js"
import { Chat, ContentFiltered, InvalidRequest as InvalidRequestError, isStoppedAnswer, LanguageModel, Tokens, TransportError } from "../src/llm/index.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as CostReport from "../src/observability/CostReport.js"
import * as DegradedCache from "../src/router/DegradedCache.js"
import * as Policy from "../src/router/Policy.js"
import * as Router from "../src/router/Router.js"
import { failedWith, settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("5 minutes")

const prices = {
  premium: { input: 3, output: 15 },
  cheap: { input: 0.15, output: 0.6 }
}

/** A target that refuses every request on content policy. */
const refusingModel = () =>
  Effect.map(sim("strict"), (base) => ({
    ...base,
    complete: () => Effect.fail(new ContentFiltered({ provider: "strict", model: "strict-model", message: "refused" }))
  }))

/** A router over a target that never answers (`hung`) and one that does at once (`fast`), with `chains` and `policy`. */
const hungThenFast = (chains: Router.Config["chains"], policy?: Policy.Policy) =>
  Effect.gen(function* () {
    const targets = { hung: { model: yield* sim("hung", { latency: "1 hour" }) }, fast: { model: yield* sim("fast") } }
    return yield* Router.make(policy === undefined ? { targets, chains } : { targets, chains, policy })
  })

const fastRetry = { retry: { maxAttempts: 2, base: "100 millis", cap: "1 second", jitter: "none" } } as const

describe("Router: sequential fallback", () => {
  it.scoped("a hard-down primary falls back to the secondary and says so in the metadata", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ status: 529 }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: fastRetry
      })
      const { response, meta } = succeeded(yield* settle(router.complete(Chat.prompt("hello there"))))
      expect(response.provider).toBe("openai")
      expect(meta).toMatchObject({ chain: "default", target: "mini", provider: "openai", fallbacks: 1 })
      // two attempts on the primary (maxAttempts 2), then one on the secondary
      expect(meta.attempts.map((a) => [a.target, a.error?._tag ?? "ok"])).toEqual([
        ["sonnet", "Overloaded"],
        ["sonnet", "Overloaded"],
        ["mini", "ok"]
      ])
      expect((yield* primary.stats).calls).toBe(2)
    })
  )

  it.scoped("the breaker opens after its threshold and later requests go straight to the fallback", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ status: 500 }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, openDuration: { base: "30 seconds" } } }
      })
      for (let i = 0; i < 3; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second"))
      expect((yield* primary.stats).calls).toBe(3)
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("after")), "1 second"))
      expect((yield* primary.stats).calls).toBe(3)
      expect(meta.attempts[0]?.error).toMatchObject({ _tag: "Rejected", reason: "circuit-open" })
      expect(meta.target).toBe("mini")
      // after the open duration a probe reaches the primary again
      yield* TestClock.adjust("30 seconds")
      succeeded(yield* settle(router.complete(Chat.prompt("probe")), "1 second"))
      expect((yield* primary.stats).calls).toBe(4)
    })
  )

  describe("one failure short of a trip", () => {
    /** A primary that fails for its first 5 seconds, tripping on 3 failures in a row; 2 of them counted by the end. */
    const twoShort = (chain: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const primary = yield* sim("anthropic", { faults: [{ from: "0 seconds", to: "5 seconds", status: 500 }] })
        const secondary = yield* sim("openai")
        const router = yield* Router.make({
          targets: { sonnet: { model: primary }, mini: { model: secondary } },
          chains: { default: chain },
          policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3 } }
        })
        for (let i = 0; i < 2; i++) yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second")
        yield* TestClock.adjust("5 seconds")
        expect((yield* router.status)[0]?.breaker).toMatchObject({ name: "sonnet", state: "closed", consecutiveFailures: 2 })
        return { router, primary }
      })

    /** Two requests at once: the first is the primary's trial. */
    const twoAtOnce = (router: Router.Service) =>
      Effect.gen(function* () {
        const first = yield* Effect.fork(router.complete(Chat.prompt("first")))
        const second = yield* Effect.fork(router.complete(Chat.prompt("second")))
        yield* TestClock.adjust("5 seconds")
        return [succeeded(yield* Fiber.await(first)).meta, succeeded(yield* Fiber.await(second)).meta] as const
      })

    it.scoped("the primary takes one request at a time; the others go to the next target meanwhile", () =>
      Effect.gen(function* () {
        const { primary, router } = yield* twoShort(["sonnet", "mini"])
        const [first, second] = yield* twoAtOnce(router)
        expect(first.target).toBe("sonnet")
        expect(second.target).toBe("mini")
        expect(second.attempts[0]?.error).toMatchObject({ _tag: "Rejected", reason: "circuit-open" })
        expect((yield* primary.stats).calls).toBe(3)
        // the trial's success ended the streak: both reach the primary again
        const [third, fourth] = yield* twoAtOnce(router)
        expect([third.target, fourth.target]).toEqual(["sonnet", "sonnet"])
      })
    )

    it.scoped("a request with no other target is not held back", () =>
      Effect.gen(function* () {
        const { primary, router } = yield* twoShort(["sonnet"])
        const [first, second] = yield* twoAtOnce(router)
        expect([first.target, second.target]).toEqual(["sonnet", "sonnet"])
        expect((yield* primary.stats).calls).toBe(4)
      })
    )

    it.scoped("probeBeforeTrip: false lets every request through", () =>
      Effect.gen(function* () {
        const primary = yield* sim("anthropic", { faults: [{ from: "0 seconds", to: "5 seconds", status: 500 }] })
        const router = yield* Router.make({
          targets: { sonnet: { model: primary }, mini: { model: yield* sim("openai") } },
          chains: { default: ["sonnet", "mini"] },
          policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, probeBeforeTrip: false } }
        })
        for (let i = 0; i < 2; i++) yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second")
        yield* TestClock.adjust("5 seconds")
        expect((yield* router.status)[0]?.breaker).toMatchObject({ name: "sonnet", consecutiveFailures: 2 })
        const [first, second] = yield* twoAtOnce(router)
        expect([first.target, second.target]).toEqual(["sonnet", "sonnet"])
      })
    )
  })

  it.scoped("a Retry-After beyond the cap fails over at once instead of waiting", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ status: 429, retryAfter: "30 seconds" }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 3, retryAfterCap: "5 seconds" } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi")), "1 second"))
      expect(meta.target).toBe("mini")
      expect((yield* primary.stats).calls).toBe(1)
      // 50 ms for the 429, 100 ms for the answer: no 30 s wait
      expect(Duration.toMillis(meta.latency)).toBe(150)
      // the Retry-After holds the primary's breaker open: the next request does not call it
      const next = succeeded(yield* settle(router.complete(Chat.prompt("again")), "1 second"))
      expect(next.meta.attempts[0]?.error).toMatchObject({ _tag: "Rejected", reason: "circuit-open" })
      expect((yield* primary.stats).calls).toBe(1)
    })
  )

  it.scoped("a Retry-After within the cap is waited for on the same target", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ to: "1 second", status: 429, retryAfter: "2 seconds" }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 2, base: "100 millis", jitter: "none", retryAfterCap: "5 seconds" } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("sonnet")
      expect(Duration.toMillis(meta.latency)).toBe(50 + 2_000 + 100)
      expect((yield* secondary.stats).calls).toBe(0)
    })
  )

  it.scoped("honourRetryAfter: false reads no Retry-After: the retry waits its backoff, and the breaker is not held open", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ to: "1 second", status: 429, retryAfter: "30 seconds" }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 2, base: "100 millis", jitter: "none", retryAfterCap: "5 seconds", honourRetryAfter: false } }
      })
      // two 429s 100 ms apart (not a failover at once for a wait past the cap), then the secondary
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi")), "1 second"))
      expect(meta.target).toBe("mini")
      expect((yield* primary.stats).calls).toBe(2)
      expect(Duration.toMillis(meta.latency)).toBe(50 + 100 + 50 + 100)
      // no breaker held open for 30 s: once the fault is over, the primary answers
      yield* TestClock.adjust("1 second")
      const next = succeeded(yield* settle(router.complete(Chat.prompt("again")), "1 second"))
      expect(next.meta.target).toBe("sonnet")
    })
  )

  it.scoped("Unauthorized and ModelNotFound skip the target without a retry", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 401 }] })
      const b = yield* sim("b", { faults: [{ status: 404 }] })
      const c = yield* sim("c")
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b }, c: { model: c } },
        chains: { default: ["a", "b", "c"] },
        policy: { retry: { maxAttempts: 3 } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("c")
      expect(meta.fallbacks).toBe(2)
      expect((yield* a.stats).calls).toBe(1)
      expect((yield* b.stats).calls).toBe(1)
    })
  )

  it.scoped("InvalidRequest fails at once: the next target is never called", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 400 }] })
      const b = yield* sim("b")
      const router = yield* Router.make({ targets: { a: { model: a }, b: { model: b } }, chains: { default: ["a", "b"] } })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(error._tag).toBe("InvalidRequest")
      expect((yield* b.stats).calls).toBe(0)
    })
  )

  it.scoped("every target down: ChainExhausted carries every attempt", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 503 }] })
      const b = yield* sim("b", { faults: [{ reset: true }] })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"] },
        policy: { ...fastRetry },
        cache: false
      })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(error._tag).toBe("ChainExhausted")
      if (error._tag !== "ChainExhausted") return
      expect(error.attempts.map((a) => a.error?._tag)).toEqual(["Overloaded", "Overloaded", "TransportError", "TransportError"])
      expect(error.message).toContain("a (Overloaded)")
      expect(error.message).toContain("b (TransportError)")
    })
  )

  it.scoped("the request's total deadline ends the chain", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "1 minute" })
      const router = yield* Router.make({
        targets: { slow: { model: slow } },
        chains: { default: ["slow"] },
        policy: { timeouts: { attempt: "2 minutes", total: "10 seconds" } },
        cache: false
      })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(error._tag).toBe("ChainExhausted")
      if (error._tag !== "ChainExhausted") return
      expect(error.attempts.at(-1)?.error).toMatchObject({ _tag: "Timeout", phase: "total" })
    })
  )

  it.scoped("a per-attempt timeout counts as a retriable failure", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "1 minute" })
      const fast = yield* sim("fast")
      const router = yield* Router.make({
        targets: { slow: { model: slow }, fast: { model: fast } },
        chains: { default: ["slow", "fast"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "5 seconds" } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("fast")
      expect(meta.attempts[0]?.error).toMatchObject({ _tag: "Timeout", phase: "attempt" })
      expect(Duration.toMillis(meta.latency)).toBe(5_100)
    })
  )

  it.scoped("a target that hangs under the default timeouts is given up after one attempt, and the next target answers", () =>
    Effect.gen(function* () {
      // the second attempt of 60 s would end at the total of 120 s: the chain moves on with the minute left
      const router = yield* hungThenFast({ default: ["hung", "fast"] })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("fast")
      expect(meta.attempts.map((a) => [a.target, a.error?._tag])).toEqual([["hung", "Timeout"], ["fast", undefined]])
      expect(meta.attempts[0]?.error).toMatchObject({ phase: "attempt" })
      expect(Duration.toMillis(meta.latency)).toBe(60_100)
      // counted against the hung target, as any attempt's timeout is
      expect((yield* router.breaker("hung")!.snapshot).consecutiveFailures).toBe(1)
    })
  )

  it.scoped("a chain given only a total deadline times out each attempt at half of it, so a hung target still falls over", () =>
    Effect.gen(function* () {
      const router = yield* hungThenFast({
        chat: { targets: ["hung", "fast"], policy: { timeouts: { firstToken: "3 seconds", total: "15 seconds" } } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "chat" })))
      expect(meta.target).toBe("fast")
      expect(meta.attempts[0]?.error).toMatchObject({ _tag: "Timeout", phase: "attempt", after: Duration.millis(7_500) })
      expect(Duration.toMillis(meta.latency)).toBe(7_600)
    })
  )

  it.scoped("the last target to try, whose attempt timed out, is tried again with the time left: no next target could use it", () =>
    Effect.gen(function* () {
      // hangs for the first minute, then answers: every model alias is a chain of its own, of one target
      const flaky = yield* sim("flaky", { faults: [{ from: "0 seconds", to: "1 minute", latency: Duration.infinity }] })
      const router = yield* Router.make({ targets: { flaky: { model: flaky } }, chains: { default: ["flaky"] }, policy: { retry: { maxAttempts: 2, jitter: "none" } } })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      // 0-60 s timed out, 200 ms of backoff, then an answer in 100 ms (cut at 120 s had it hung again)
      expect(meta.attempts.map((a) => [a.target, a.error?._tag])).toEqual([["flaky", "Timeout"], ["flaky", undefined]])
      expect(Duration.toMillis(meta.latency)).toBe(60_300)
    })
  )

  it.scoped("so is a target whose next ones are all out of rotation (their breakers open)", () =>
    Effect.gen(function* () {
      const flaky = yield* sim("flaky", { faults: [{ from: "0 seconds", to: "1 minute", latency: Duration.infinity }] })
      const down = yield* sim("down")
      const router = yield* Router.make({
        targets: { flaky: { model: flaky }, down: { model: down } },
        chains: { default: ["flaky", "down"] },
        policy: { retry: { maxAttempts: 2, jitter: "none" } }
      })
      yield* router.breaker("down")!.isolate
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.attempts.map((a) => [a.target, a.error?._tag])).toEqual([["flaky", "Timeout"], ["flaky", undefined]])
      expect(Duration.toMillis(meta.latency)).toBe(60_300)
    })
  )

  it.scoped("a target that timed out is tried again when a whole attempt still fits before the deadline", () =>
    Effect.gen(function* () {
      const router = yield* hungThenFast(
        { default: ["hung", "fast"] },
        { retry: { maxAttempts: 3, base: "1 second", jitter: "none" }, timeouts: { attempt: "5 seconds", total: "16 seconds" } }
      )
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      // 0-5 s, a second's backoff, 6-11 s; a third (2 s of backoff, then 5 s) would end past 16 s: the next target, at 11 s
      expect(meta.attempts.map((a) => a.target)).toEqual(["hung", "hung", "fast"])
      expect(Duration.toMillis(meta.latency)).toBe(11_100)
    })
  )

  it("Policy.resolve: an attempt's timeout is half the total unless a layer sets it, and 60 s at most", () => {
    const attemptOf = (...layers: ReadonlyArray<Policy.Policy>) => Duration.toMillis(Policy.resolve(...layers).timeouts.attempt)
    expect(attemptOf()).toBe(60_000)
    expect(attemptOf({ timeouts: { total: "15 seconds" } })).toBe(7_500)
    expect(attemptOf({ timeouts: { total: "10 minutes" } })).toBe(60_000)
    expect(attemptOf({ timeouts: { total: "15 seconds" } }, { timeouts: { attempt: "20 seconds" } })).toBe(20_000)
    expect(attemptOf({ timeouts: { attempt: "90 seconds" } }, { timeouts: { total: "10 seconds" } })).toBe(90_000)
  })

  it("Policy.resolve: Policy.defaults passed as a layer (as resolve's own example does) times attempts as leaving it out does", () => {
    const attemptOf = (...layers: ReadonlyArray<Policy.Policy>) => Duration.toMillis(Policy.resolve(...layers).timeouts.attempt)
    // a router made with `policy: Policy.defaults` and a chain of 15 s: half of it, not the default total's 60 s
    expect(attemptOf(Policy.defaults, { timeouts: { total: "15 seconds" } })).toBe(7_500)
    expect(attemptOf({ ...Policy.defaults, retry: { maxAttempts: 3 } }, { timeouts: { total: "15 seconds" } })).toBe(7_500)
    // the defaults after a layer of one's own reset it, as they reset every other field
    expect(attemptOf({ timeouts: { attempt: "5 seconds" } }, Policy.defaults)).toBe(60_000)
    expect(attemptOf({ timeouts: { attempt: "5 seconds" } }, Policy.defaults, { timeouts: { total: "15 seconds" } })).toBe(7_500)
    // an attempt written out, though the defaults' own value, is the caller's
    expect(attemptOf({ timeouts: { attempt: "60 seconds" } }, { timeouts: { total: "15 seconds" } })).toBe(60_000)
    expect(Router.warnings({ targets: { a: {} }, chains: { chat: { targets: ["a"], policy: { timeouts: { total: "15 seconds" } } } }, policy: Policy.defaults }))
      .toEqual([])
  })

  it("Router.warnings: an attempt's timeout no shorter than the total, for any target of a chain, which then never falls over from a hang", () => {
    const warned = Router.warnings({
      targets: { a: {}, b: { policy: { timeouts: { attempt: "30 seconds" } } } },
      chains: {
        chat: { targets: ["a", "b"], policy: { timeouts: { total: "20 seconds" } } },
        batch: ["a", "b"],
        tight: { targets: ["a"], policy: { timeouts: { attempt: "5 seconds", total: "5 seconds" } } }
      },
      policy: { timeouts: { firstToken: "5 seconds" } }
    })
    expect(warned.map((w) => `${w.path}: ${w.message}`)).toEqual([
      "chains.chat.policy.timeouts: an attempt of b may take 30s, the request's whole deadline of 20s: a target that hangs holds the request until it ends, so the chain never reaches its next target and the hung target's breaker never hears of it (leave attempt out for half the total, or set it shorter)",
      "chains.tight.policy.timeouts: an attempt of a may take 5s, the request's whole deadline of 5s: a target that hangs holds the request until it ends, so the chain never reaches its next target and the hung target's breaker never hears of it (leave attempt out for half the total, or set it shorter)"
    ])
  })
})

describe("Router: rate limits per target", () => {
  it.scoped("past its rpm a target is skipped like an open breaker, without a call, and comes back with the window", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic")
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary, rpm: 2 }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: fastRetry
      })
      const targets: Array<string> = []
      for (let i = 0; i < 3; i++) targets.push(succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second")).meta.target)
      expect(targets).toEqual(["sonnet", "sonnet", "mini"])
      expect((yield* primary.stats).calls).toBe(2)
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("again")), "1 second"))
      const refused = meta.attempts[0]!
      expect(refused.target).toBe("sonnet")
      expect(refused.error).toMatchObject({ _tag: "Rejected", reason: "rate-limit" })
      // the wait is until the oldest request leaves the one-minute window
      const wait = Duration.toMillis((refused.error as { retryAfter: Duration.Duration }).retryAfter)
      expect(wait).toBeGreaterThan(50_000)
      expect(wait).toBeLessThanOrEqual(60_000)
      // no retry on a refusal: one rejection, then the secondary
      expect(meta.attempts.map((a) => a.target)).toEqual(["sonnet", "mini"])
      // the breaker never heard of it
      expect((yield* router.breaker("sonnet")!.snapshot).state).toBe("closed")
      yield* TestClock.adjust("1 minute")
      expect(succeeded(yield* settle(router.complete(Chat.prompt("later")), "1 second")).meta.target).toBe("sonnet")
      // an isolated target is refused by its breaker before the limiter counts anything: one slot is still free
      yield* router.breaker("sonnet")!.isolate
      for (let i = 0; i < 3; i++) {
        expect(succeeded(yield* settle(router.complete(Chat.prompt(`isolated ${i}`)), "1 second")).meta.target).toBe("mini")
      }
      yield* router.breaker("sonnet")!.reset
      expect(succeeded(yield* settle(router.complete(Chat.prompt("back")), "1 second")).meta.target).toBe("sonnet")
    })
  )

  it.scoped("tpm counts the estimate up front and the real usage after", () =>
    Effect.gen(function* () {
      // answers of exactly 50 tokens, whatever room the request reserves
      const primary = yield* sim("anthropic", { outputTokens: 50 })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary, tpm: 2_000 }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: fastRetry
      })
      const question = "a long question ".repeat(150) // about 600 tokens
      const asking = (maxTokens: number) => ({ ...Chat.prompt(question), maxTokens })
      const served = (maxTokens: number) =>
        Effect.map(settle(router.complete(asking(maxTokens)), "1 second"), (exit) => succeeded(exit).meta)
      // up front: 600 + 900 reserved; after: 600 + 50 used
      expect((yield* served(900)).target).toBe("sonnet")
      // a second one reserving as much does not fit the estimate (1,500 + 1,500 > 2,000) ...
      const refused = yield* served(900)
      expect(refused.target).toBe("mini")
      expect(refused.attempts[0]!.error).toMatchObject({ _tag: "Rejected", reason: "rate-limit" })
      // ... but one reserving 500 fits what the real usage left (650 + 1,100 <= 2,000; the estimate alone would not)
      expect((yield* served(500)).target).toBe("sonnet")
    })
  )

  it.scoped("an over-estimate is taken back from the bucket it was counted in: a long call leaves no credit behind", () =>
    Effect.gen(function* () {
      // 10 s to answer (the estimate is counted in one 5 s bucket, the real usage known two buckets later), 50 tokens
      const primary = yield* sim("anthropic", { latency: "10 seconds", outputTokens: 50 })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary, tpm: 2_000 }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: fastRetry
      })
      const question = "a long question ".repeat(150) // about 600 tokens
      const asking = (maxTokens: number) => ({ ...Chat.prompt(question), maxTokens })
      // 1,500 reserved at 0 s, 650 used: 850 taken back at 10 s
      expect(succeeded(yield* settle(router.complete(asking(900)), "11 seconds")).meta.target).toBe("sonnet")
      // the first bucket, and the 650 tokens with it, leaves the window at 60 s: the window is empty, not 850 below
      yield* TestClock.adjust("50 seconds")
      const first = yield* Effect.fork(router.complete(asking(900))) // 1,500 reserved
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(router.complete(asking(700))) // 1,300 more would pass 2,000
      yield* TestClock.adjust("11 seconds")
      expect(succeeded(yield* Fiber.await(first)).meta.target).toBe("sonnet")
      expect(succeeded(yield* Fiber.await(second)).meta.target).toBe("mini")
    })
  )

  it.effect("rpm and tpm must be whole numbers of at least 1", () =>
    Effect.gen(function* () {
      const model = yield* sim("openai")
      const error = yield* Effect.flip(
        Router.make({ targets: { a: { model, rpm: 0, tpm: 1.5 } }, chains: { default: ["a"] } }).pipe(Effect.scoped)
      )
      expect(error.problems).toEqual([
        "targets.a.rpm: must be a whole number of at least 1",
        "targets.a.tpm: must be a whole number of at least 1"
      ])
    })
  )
})

describe("Router: early probes when every breaker is open", () => {
  it.scoped("one request probes the target whose deadline is nearest, at most once a second, and finds the recovery", () =>
    Effect.gen(function* () {
      // both down for the first 10 seconds; failures come back in 100 ms
      const primary = yield* sim("anthropic", { faults: [{ to: "10 seconds", status: 503 }] })
      const secondary = yield* sim("openai", { faults: [{ to: "10 seconds", status: 503 }] })
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "1 minute" } } },
        cache: false
      })
      // the first request opens both breakers (sonnet first, so its deadline is nearest)
      failedWith(yield* settle(router.complete(Chat.prompt("q0")), "1 second"))
      expect([(yield* primary.stats).calls, (yield* secondary.stats).calls]).toEqual([1, 1])
      // the next one probes sonnet early (one call), and two at once make one probe between them
      const [a, b] = yield* settle(
        Effect.all([router.complete(Chat.prompt("q1")), router.complete(Chat.prompt("q2"))], { concurrency: 2, mode: "either" }),
        "200 millis"
      ).pipe(Effect.map((exit) => (exit._tag === "Success" ? exit.value : [])))
      expect([a?._tag, b?._tag]).toEqual(["Left", "Left"])
      expect([(yield* primary.stats).calls, (yield* secondary.stats).calls]).toEqual([2, 1])
      // the failed probe re-opened sonnet for its next (backed-off) duration: mini's deadline is nearest now,
      // but within a second of the last probe nobody probes
      failedWith(yield* settle(router.complete(Chat.prompt("q3")), "100 millis"))
      expect([(yield* primary.stats).calls, (yield* secondary.stats).calls]).toEqual([2, 1])
      yield* TestClock.adjust("1 second")
      failedWith(yield* settle(router.complete(Chat.prompt("q4")), "1 second"))
      expect([(yield* primary.stats).calls, (yield* secondary.stats).calls]).toEqual([2, 2])
      // once the providers are back, the next early probe answers and closes its breaker, long before any deadline
      yield* TestClock.adjust("10 seconds")
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("q5")), "1 second"))
      expect(meta.target).toBe("sonnet")
      expect((yield* router.breaker("sonnet")!.snapshot).state).toBe("closed")
      expect((yield* router.breaker("mini")!.snapshot).state).toBe("open")
    })
  )

  it.scoped("a target held open by its server's Retry-After is never probed early: the others are, and it is called again once the wait is over", () =>
    Effect.gen(function* () {
      // one 429 asking for a minute; the router honours it by holding the breaker open (past its retry cap of 10 s)
      const limited = yield* sim("a", { faults: [{ to: "1 second", status: 429, retryAfter: "60 seconds" }] })
      const router = yield* Router.make({ targets: { p: { model: limited } }, chains: { default: ["p"] }, cache: false })
      failedWith(yield* settle(router.complete(Chat.prompt("first")), "1 second"))
      const held = yield* router.breaker("p")!.snapshot
      expect([held.state, held.forcedUntil !== undefined]).toEqual(["open", true])
      for (let i = 0; i < 5; i++) failedWith(yield* settle(router.complete(Chat.prompt(`q${i}`)), "5 seconds"))
      expect((yield* limited.stats).calls).toBe(1)
      // the minute over, it is called again (and answers)
      yield* TestClock.adjust("1 minute")
      expect(succeeded(yield* settle(router.complete(Chat.prompt("later")), "1 second")).meta.target).toBe("p")
      expect((yield* limited.stats).calls).toBe(2)

      // beside a target held so, one whose breaker tripped is probed early as before
      const held2 = yield* sim("b", { faults: [{ to: "1 second", status: 429, retryAfter: "60 seconds" }] })
      const down = yield* sim("c", { faults: [{ to: "5 seconds", status: 503 }] })
      const both = yield* Router.make({
        targets: { held: { model: held2 }, down: { model: down } },
        chains: { default: ["held", "down"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "1 minute" } } },
        cache: false
      })
      failedWith(yield* settle(both.complete(Chat.prompt("first")), "1 second"))
      yield* TestClock.adjust("10 seconds")
      expect(succeeded(yield* settle(both.complete(Chat.prompt("probe")), "1 second")).meta.target).toBe("down")
      expect([(yield* held2.stats).calls, (yield* down.stats).calls]).toEqual([1, 2])
    })
  )

  it.scoped("probeWhenAllOpen: false keeps a target out for its whole open duration (seed 001: out for 5 minutes after 3 failures in a row)", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ to: "6 minutes", status: 500 }] })
      const router = yield* Router.make({
        targets: { down: { model: down } },
        chains: { default: ["down"] },
        policy: {
          retry: { maxAttempts: 1 },
          breaker: { consecutiveFailures: 3, openDuration: { base: "5 minutes", cap: "5 minutes" }, probeWhenAllOpen: false }
        },
        cache: false
      })
      // a request every 2 seconds for 4 minutes: 3 calls trip it, and nothing more reaches it
      for (let i = 0; i < 120; i++) {
        failedWith(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second"))
        yield* TestClock.adjust("1 second")
      }
      expect((yield* down.stats).calls).toBe(3)
      // its 5 minutes over (it opened at about 4 s), one half-open probe: still down, out for 5 more minutes
      yield* TestClock.adjust("65 seconds")
      failedWith(yield* settle(router.complete(Chat.prompt("probe")), "1 second"))
      failedWith(yield* settle(router.complete(Chat.prompt("after")), "1 second"))
      expect((yield* down.stats).calls).toBe(4)
      expect((yield* router.breaker("down")!.snapshot).state).toBe("open")

      // by default the same chain is probed early, once a second
      const down2 = yield* sim("down2", { faults: [{ to: "6 minutes", status: 500 }] })
      const probing = yield* Router.make({
        targets: { down: { model: down2 } },
        chains: { default: ["down"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, openDuration: { base: "5 minutes" } } },
        cache: false
      })
      for (let i = 0; i < 10; i++) {
        failedWith(yield* settle(probing.complete(Chat.prompt(`q${i}`)), "1 second"))
        yield* TestClock.adjust("1 second")
      }
      expect((yield* down2.stats).calls).toBe(3 + 7)
    })
  )
})

describe("Router: context windows and content policy", () => {
  it.scoped("skips targets whose window is too small before calling them", () =>
    Effect.gen(function* () {
      const small = yield* sim("small", { info: { contextWindow: 1_000 } })
      const large = yield* sim("large", { info: { contextWindow: 1_000_000 } })
      const router = yield* Router.make({
        targets: { small: { model: small }, large: { model: large } },
        chains: { default: ["small", "large"] }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("word ".repeat(2_000)))))
      expect(meta.target).toBe("large")
      expect(meta.attempts[0]?.error).toMatchObject({ _tag: "Rejected", reason: "context-too-small" })
      expect((yield* small.stats).calls).toBe(0)
    })
  )

  it.scoped("after a provider's ContextLengthExceeded only larger windows are tried", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { info: { contextWindow: 8_000 }, faults: [{ status: 413 }] })
      const b = yield* sim("b", { info: { contextWindow: 8_000 } })
      const c = yield* sim("c", { info: { contextWindow: 200_000 } })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b }, c: { model: c } },
        chains: { default: ["a", "b", "c"] }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("c")
      expect((yield* a.stats).calls).toBe(1)
      expect((yield* b.stats).calls).toBe(0)
    })
  )

  it.scoped("ContentFiltered goes to the content-policy chain when one is configured, else fails", () =>
    Effect.gen(function* () {
      const lenient = yield* sim("lenient")
      const router = yield* Router.make({
        targets: { refusing: { model: yield* refusingModel() }, lenient: { model: lenient } },
        chains: {
          default: { targets: ["refusing"], contentPolicy: "lenient" },
          plain: ["refusing"],
          lenient: ["lenient"]
        }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("edgy"))))
      expect(meta.chain).toBe("lenient")
      const error = failedWith(yield* settle(router.complete(Chat.prompt("edgy"), { chain: "plain" })))
      expect(error._tag).toBe("ContentFiltered")
    })
  )
})

describe("Router: JSON answers (responseFormat)", () => {
  const jsonObject = { type: "json_object" } as const
  const schema = { type: "object", properties: { n: { type: "integer", minimum: 2 } }, required: ["n"], additionalProperties: false }
  const jsonSchema = { type: "json_schema", name: "n", schema } as const
  /** A target whose model, like Claude, has structured outputs but no JSON mode. */
  const claudeLike = (name: string, options: Parameters<typeof sim>[1] = {}) =>
    sim(name, { ...options, info: { ...options.info, responseFormats: ["json_schema"] } })

  it.scoped("a target that cannot give the format is left out of the request's order: no call, no attempt, no fallback", () =>
    Effect.gen(function* () {
      const claude = yield* claudeLike("claude")
      const gpt = yield* sim("gpt")
      const router = yield* Router.make({
        targets: { claude: { model: claude }, gpt: { model: gpt } },
        chains: { default: ["claude", "gpt"] }
      })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      const json = succeeded(yield* settle(router.complete(Chat.prompt("a prime", { responseFormat: jsonObject }))))
      expect(json.meta).toMatchObject({ target: "gpt", fallbacks: 0 })
      expect(json.meta.attempts.map((a) => a.target)).toEqual(["gpt"])
      expect(JSON.parse(json.response.text)).toEqual({ answer: "gpt/gpt-model: a prime" })
      expect(events.filter((e) => e._tag === "Fallback")).toEqual([])
      // a schema the primary can follow, and prose, go to it as before
      const structured = succeeded(yield* settle(router.complete(Chat.prompt("a prime", { responseFormat: jsonSchema }))))
      expect(structured.meta.target).toBe("claude")
      expect(JSON.parse(structured.response.text)).toEqual({ n: 2 })
      expect(succeeded(yield* settle(router.complete(Chat.prompt("a prime")))).meta.target).toBe("claude")
      expect((yield* claude.calls).map((c) => c.index)).toEqual([0, 1])
    })
  )

  it.scoped("the strategy orders only the targets that can: cost picks the cheapest of them", () =>
    Effect.gen(function* () {
      const cheapProse = yield* sim("cheap", { info: { price: prices.cheap, responseFormats: [] } })
      const dear = yield* sim("dear", { info: { price: prices.premium } })
      const router = yield* Router.make({
        targets: { cheap: { model: cheapProse }, dear: { model: dear } },
        chains: { default: { targets: ["dear", "cheap"], strategy: "cost" } }
      })
      expect(succeeded(yield* settle(router.complete(Chat.prompt("hi")))).meta.target).toBe("cheap")
      const json = succeeded(yield* settle(router.complete(Chat.prompt("hi", { responseFormat: jsonObject }))))
      expect(json.meta).toMatchObject({ target: "dear", fallbacks: 0, attempts: [{ target: "dear" }] })
    })
  )

  it.scoped("a JSON request whose primary fails falls back only among the targets that can", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const claude = yield* claudeLike("claude")
      const gemini = yield* sim("gemini")
      const router = yield* Router.make({
        targets: { down: { model: down }, claude: { model: claude }, gemini: { model: gemini } },
        chains: { default: ["down", "claude", "gemini"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi", { responseFormat: jsonObject }))))
      expect(meta).toMatchObject({ target: "gemini", fallbacks: 1 })
      expect(meta.attempts.map((a) => [a.target, a.error?._tag ?? "ok"])).toEqual([
        ["down", "Overloaded"],
        ["gemini", "ok"]
      ])
      expect((yield* claude.calls).length).toBe(0)
    })
  )

  it.scoped("when no target can, each is passed over as unsupported-format and the chain is exhausted, calling nothing", () =>
    Effect.gen(function* () {
      const a = yield* claudeLike("a")
      const b = yield* sim("b", { info: { responseFormats: [] } })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: { targets: ["a", "b"], fallbackResponse: "Sorry." } }
      })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi", { responseFormat: jsonObject }))))
      expect(error._tag).toBe("ChainExhausted")
      const attempts = (error as ChainExhausted).attempts
      expect(attempts.map((x) => [x.target, x.error?._tag, x.error?._tag === "Rejected" ? x.error.reason : undefined])).toEqual([
        ["a", "Rejected", "unsupported-format"],
        ["b", "Rejected", "unsupported-format"]
      ])
      // (the chain's static answer is prose: it did not answer)
      expect((yield* a.calls).length + (yield* b.calls).length).toBe(0)
      expect(succeeded(yield* settle(router.complete(Chat.prompt("hi")))).meta.target).toBe("a")
    })
  )

  it.scoped("a provider's 400 about the format moves a JSON request on; any other 400, or one on a prose request, ends it", () =>
    Effect.gen(function* () {
      /** A target whose provider refuses every request as invalid, saying `message`. */
      const refusing = (name: string, message: string) =>
        Effect.map(sim(name), (base) => ({
          ...base,
          complete: () => Effect.fail(new InvalidRequestError({ provider: name, model: `${name}-model`, message, status: 400 }))
        }))
      const schemaRefused = yield* refusing("strict", "openai HTTP 400: Invalid schema for response_format 'n': 'additionalProperties' is required")
      const brokenMessages = yield* refusing("broken", "openai HTTP 400: Invalid value for 'messages[0].role'")
      const gemini = yield* sim("gemini")
      const router = yield* Router.make({
        targets: { strict: { model: schemaRefused }, broken: { model: brokenMessages }, gemini: { model: gemini } },
        chains: { default: ["strict", "gemini"], broken: ["broken", "gemini"], alone: ["strict"] },
        policy: { retry: { maxAttempts: 3 } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("a prime", { responseFormat: jsonSchema }))))
      expect(meta).toMatchObject({ target: "gemini", fallbacks: 1 })
      // refused once: an InvalidRequest is not retried
      expect(meta.attempts.map((a) => [a.target, a.error?._tag ?? "ok"])).toEqual([
        ["strict", "InvalidRequest"],
        ["gemini", "ok"]
      ])
      const prose = failedWith(yield* settle(router.complete(Chat.prompt("a prime"))))
      expect(prose._tag).toBe("InvalidRequest")
      const other = failedWith(yield* settle(router.complete(Chat.prompt("a prime", { responseFormat: jsonSchema }), { chain: "broken" })))
      expect(other._tag).toBe("InvalidRequest")
      // alone, the chain is exhausted: its one target could not give that answer
      const alone = failedWith(yield* settle(router.complete(Chat.prompt("a prime", { responseFormat: jsonSchema }), { chain: "alone" })))
      expect(alone._tag).toBe("ChainExhausted")
    })
  )

  it.scoped("which 400s are about the format: those pointing at it, not a tool's schema, a JSON body or an image's MIME type", () =>
    Effect.gen(function* () {
      const tools = [{ name: "lookup", parameters: { type: "object" } }]
      // [the provider's words, whether the request has tools, whether it moves on]
      const refusals: ReadonlyArray<readonly [string, boolean, boolean]> = [
        ["openai HTTP 400: 'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", true, true],
        ["openai HTTP 400: Invalid schema for response_format 'n': 'additionalProperties' is required to be supplied and to be false", true, true],
        ["openai HTTP 400: Invalid parameter: 'response_format.json_schema.schema' must be an object", true, true],
        ["deepseek HTTP 400: This response_format type is unavailable now", true, true],
        ["anthropic HTTP 400: output_config.format.schema: For 'integer' type, property 'minimum' is not supported", true, true],
        ["anthropic HTTP 400: output_format: Extra inputs are not permitted", true, true],
        ["gemini HTTP 400: Function calling with a response mime type: 'application/json' is unsupported", true, true],
        ['gemini HTTP 400: Invalid JSON payload received. Unknown name "responseJsonSchema" at \'generation_config\': Cannot find field.', true, true],
        ["gemini HTTP 400: generation_config.response_json_schema: not supported", true, true],
        ["gemini HTTP 400: Json mode is not enabled for models/gemini-1.0-pro", true, true],
        ["groq HTTP 400: Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.", true, true],
        ["groq HTTP 400: json_validate_failed", true, true],
        // a request without tools has one schema, the format's
        ["gemini HTTP 400: The specified schema produces a constraint that has too many states for serving.", false, true],
        ["anthropic HTTP 400: Schema is too complex", false, true],
        ["gemini HTTP 400: The specified schema produces a constraint that has too many states for serving.", true, false],
        // about the request itself: it ends there
        ["openai HTTP 400: Invalid schema for function 'lookup': 'required' is required to be supplied and to be an array", true, false],
        ["anthropic HTTP 400: tools.0.custom.input_schema: JSON schema is invalid", true, false],
        ['gemini HTTP 400: Invalid JSON payload received. Unknown name "foo" at \'tools[0]\': Cannot find field.', true, false],
        ["openai HTTP 400: Invalid MIME type. Only image types are supported.", false, false],
        ["openai HTTP 400: Invalid value for 'messages[0].role'", false, false]
      ]
      for (const [message, withTools, moves] of refusals) {
        const refusing = yield* Effect.map(sim("refusing"), (base) => ({
          ...base,
          complete: () => Effect.fail(new InvalidRequestError({ provider: "p", model: "m", message, status: 400 }))
        }))
        const router = yield* Router.make({
          targets: { refusing: { model: refusing }, next: { model: yield* sim("next") } },
          chains: { default: ["refusing", "next"] }
        })
        const request = Chat.prompt("hi", { responseFormat: jsonSchema, ...(withTools ? { tools } : {}) })
        const exit = yield* settle(router.complete(request))
        expect([message, withTools, exit._tag === "Success"]).toEqual([message, withTools, moves])
        if (exit._tag === "Failure") expect(failedWith(exit)._tag).toBe("InvalidRequest")
        // JSON mode has no schema of its own: a 400 about "the schema" is not about it
        if (!withTools && /\bschema\b/i.test(message) && moves && !/response|output/i.test(message)) {
          const plain = yield* settle(router.complete(Chat.prompt("hi", { responseFormat: jsonObject })))
          expect(plain._tag).toBe("Failure")
        }
      }
    })
  )

  it.scoped("the router as a LanguageModel gives the JSON answers any target of its chain gives", () =>
    Effect.gen(function* () {
      const claude = yield* claudeLike("claude")
      const gpt = yield* sim("gpt", { info: { responseFormats: ["json_object"] } })
      const router = yield* Router.make({ targets: { claude: { model: claude }, gpt: { model: gpt } }, chains: { default: ["claude", "gpt"] } })
      const model = router.languageModel()
      expect(model.info).toMatchObject({ provider: "claude", responseFormats: ["json_schema", "json_object"] })
      const response = yield* settle(model.complete(Chat.prompt("hi", { responseFormat: jsonObject })))
      expect(succeeded(response).provider).toBe("gpt")
    })
  )

  it.scoped("degraded mode: the static answer never answers JSON; a cached answer answers the same JSON request only", () =>
    Effect.gen(function* () {
      const flaky = yield* sim("flaky", { faults: [{ from: "1 minute", status: 503 }] })
      const router = yield* Router.make({
        targets: { flaky: { model: flaky } },
        chains: { default: { targets: ["flaky"], fallbackResponse: "We are having trouble." } },
        policy: fastRetry,
        cache: { ttl: "10 minutes" }
      })
      const json = Chat.prompt("What is Effect?", { responseFormat: jsonObject })
      const first = succeeded(yield* settle(router.complete(json), "1 second"))
      yield* TestClock.adjust("2 minutes")
      const cached = succeeded(yield* settle(router.complete(json)))
      expect(cached.meta.degraded).toBe("cache")
      expect(cached.response.text).toBe(first.response.text)
      // the same messages asking another format, or none: not that answer
      const other = failedWith(yield* settle(router.complete(Chat.prompt("What is Effect?", { responseFormat: jsonSchema }))))
      expect(other._tag).toBe("ChainExhausted")
      const prose = succeeded(yield* settle(router.complete(Chat.prompt("What is Effect?"))))
      expect(prose).toMatchObject({ meta: { degraded: "static" }, response: { text: "We are having trouble." } })
    })
  )

  it.scoped("a hedge takes only targets that can", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "10 seconds" })
      const prose = yield* sim("prose", { info: { responseFormats: [] } })
      const fast = yield* sim("fast")
      const router = yield* Router.make({
        targets: { slow: { model: slow }, prose: { model: prose }, fast: { model: fast } },
        chains: { default: { targets: ["slow", "prose", "fast"], hedge: { delay: "1 second", maxHedges: 1 } } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi", { responseFormat: jsonObject }))))
      expect(meta.target).toBe("fast")
      expect((yield* prose.calls).length).toBe(0)
    })
  )

  it.scoped("continueStreams never resumes a JSON answer: the second model's document would not join the first's", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }] })
      const other = yield* sim("other")
      const router = yield* Router.make({
        targets: { cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["cut", "other"], continueStreams: true } }
      })
      const run = (request: Chat.ChatRequest) =>
        router.stream(request).pipe(
          Effect.flatMap((started) => Effect.zip(Effect.either(Stream.runCollect(started.chunks)), started.done)),
          Effect.scoped,
          (effect) => settle(effect),
          Effect.map(succeeded)
        )
      const [json, jsonDone] = yield* run(Chat.prompt("a prime", { responseFormat: jsonObject }))
      expect(json._tag === "Left" && json.left._tag).toBe("StreamInterrupted")
      expect(jsonDone.continued).toBeFalsy()
      expect((yield* other.calls).length).toBe(0)
      // prose still resumes
      const [prose, proseDone] = yield* run(Chat.prompt("a prime"))
      expect(prose._tag).toBe("Right")
      expect(proseDone).toMatchObject({ continued: true, target: "other" })
    })
  )
})

describe("Router: the caller's id of a request", () => {
  it.scoped("every event of a request carries its correlationId: through a fallback, a content-policy hand-over, a stream and a degraded answer", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const lenient = yield* sim("lenient")
      const router = yield* Router.make({
        targets: { refusing: { model: yield* refusingModel() }, down: { model: down }, lenient: { model: lenient } },
        chains: {
          default: ["down", "lenient"],
          edgy: { targets: ["refusing"], contentPolicy: "lenient" },
          dead: { targets: ["down"], fallbackResponse: "Try again soon." },
          raced: { targets: ["down", "lenient"], race: 2 },
          lenient: ["lenient"]
        },
        policy: { retry: { maxAttempts: 1 } }
      })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      const idsOf = (correlationId: string | undefined) => events.filter((e) => e.correlationId === correlationId)

      succeeded(yield* settle(router.complete(Chat.prompt("hi"), { correlationId: "fallback-1" })))
      expect(idsOf("fallback-1").map((e) => e._tag)).toEqual([
        "AttemptStarted", "AttemptFailed", "Fallback", "AttemptStarted", "AttemptSucceeded", "RequestFinished"
      ])
      // the hand-over is a request of its own in the engine, with the caller's id all the same
      const handedOver = succeeded(yield* settle(router.complete(Chat.prompt("edgy"), { chain: "edgy", correlationId: "edgy-1" })))
      expect(handedOver.meta.chain).toBe("lenient")
      expect(idsOf("edgy-1").map((e) => e._tag)).toEqual(expect.arrayContaining(["Fallback", "AttemptSucceeded", "RequestFinished"]))
      const streamed = yield* settle(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi"), { correlationId: "stream-1" }), (s) => Stream.runDrain(s.chunks)))
      )
      expect(Exit.isSuccess(streamed)).toBe(true)
      expect(idsOf("stream-1").map((e) => e._tag)).toEqual(expect.arrayContaining(["Fallback", "AttemptSucceeded", "RequestFinished"]))
      succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "dead", correlationId: "dead-1" })))
      expect(idsOf("dead-1").map((e) => e._tag)).toEqual(expect.arrayContaining(["DegradedResponse", "RequestFinished"]))
      // a race's fallback goes out from the group, once it has ended
      succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "raced", correlationId: "race-1" })))
      expect(idsOf("race-1").filter((e) => e._tag === "Fallback")).toHaveLength(1)
      // one request a correlationId, and no event without one but the request that gave none
      for (const id of ["fallback-1", "edgy-1", "stream-1", "dead-1", "race-1"]) expect(new Set(idsOf(id).map((e) => e.requestId)).size).toBe(1)
      expect(idsOf(undefined)).toEqual([])
      succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(idsOf(undefined).map((e) => e._tag)).toContain("RequestFinished")
    })
  )
})


describe("Router: racing and hedging", () => {
  it.scoped("racing sends to N targets at once; the first success wins and the losers are interrupted", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "3 seconds" })
      const fast = yield* sim("fast", { latency: "200 millis" })
      const router = yield* Router.make({
        targets: { slow: { model: slow }, fast: { model: fast } },
        chains: { default: { targets: ["slow", "fast"], race: 2 } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("fast")
      expect(Duration.toMillis(meta.latency)).toBe(200)
      const stats = yield* slow.stats
      expect(stats.calls).toBe(1)
      expect(stats.interrupted).toBe(1)
      // the interrupted loser does not count against its breaker or health
      expect((yield* router.breaker("slow")!.snapshot).consecutiveFailures).toBe(0)
    })
  )

  it.scoped("a race whose racers all fail goes on to the rest of the chain", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 500 }] })
      const b = yield* sim("b", { faults: [{ status: 500 }] })
      const c = yield* sim("c")
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b }, c: { model: c } },
        chains: { default: { targets: ["a", "b", "c"], race: 2 } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("c")
      expect(meta.fallbacks).toBe(2)
    })
  )

  it.scoped("hedging starts the next target after the delay and interrupts the slow primary", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "10 seconds" })
      const fast = yield* sim("fast", { latency: "300 millis" })
      const router = yield* Router.make({
        targets: { slow: { model: slow }, fast: { model: fast } },
        chains: { default: { targets: ["slow", "fast"], hedge: { delay: "1 second" } } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("fast")
      expect(Duration.toMillis(meta.latency)).toBe(1_300)
      expect((yield* slow.stats).interrupted).toBe(1)
    })
  )

  it.scoped("a failed attempt starts the hedge at once, without waiting for its backoff or the delay; one hedge a member, whole or streamed", () =>
    Effect.gen(function* () {
      for (const kind of ["complete", "stream"] as const) {
        // fails after 50 ms (the simulated error's delay), then would wait 2 s to retry, and fail again
        const first = yield* sim("first", { faults: [{ status: 500 }] })
        const second = yield* sim("second", { latency: "100 millis" })
        const third = yield* sim("third", { latency: "100 millis" })
        const router = yield* Router.make({
          targets: { first: { model: first }, second: { model: second }, third: { model: third } },
          chains: { default: { targets: ["first", "second", "third"], hedge: { delay: "5 seconds", maxHedges: 2 } } },
          policy: { retry: { maxAttempts: 3, base: "2 seconds", jitter: "none" } },
          cache: false
        })
        const call = kind === "complete"
          ? Effect.map(router.complete(Chat.prompt("hi")), (result) => result.meta)
          : Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi")), (started) => Effect.zipRight(Stream.runDrain(started.chunks), started.done)))
        const meta = succeeded(yield* settle(call, "10 seconds"))
        // 50 ms for the first's failure, 100 ms for the second's answer (and its stream's events)
        expect([kind, meta.target, Duration.toMillis(meta.latency) <= 200]).toEqual([kind, "second", true])
        // the first's one failure started one hedge, not two: the third was never called
        expect([(yield* first.stats).calls, (yield* second.stats).calls, (yield* third.stats).calls]).toEqual([1, 1, 0])
      }
    })
  )

  it.scoped("a fast primary wins before the hedge delay: the hedge target is never called", () =>
    Effect.gen(function* () {
      const primary = yield* sim("primary", { latency: "200 millis" })
      const backup = yield* sim("backup")
      const router = yield* Router.make({
        targets: { primary: { model: primary }, backup: { model: backup } },
        chains: { default: { targets: ["primary", "backup"], hedge: { delay: "1 second" } } }
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("primary")
      expect((yield* backup.stats).calls).toBe(0)
    })
  )

  it.scoped("in a hedge or a race, a target that answers after another failed is a fallback from it; one that was only faster is not", () =>
    Effect.gen(function* () {
      /** Who served one request through a two-target group, its fallbacks (the meta's and the events'). */
      const fallbacksOf = (chain: { readonly hedge: { readonly delay: Duration.DurationInput } } | { readonly race: number }, primary: Parameters<typeof sim>[1]) =>
        Effect.gen(function* () {
          const first = yield* sim("first", primary)
          const second = yield* sim("second", { latency: "300 millis" })
          const router = yield* Router.make({
            targets: { first: { model: first }, second: { model: second } },
            chains: { default: { targets: ["first", "second"], ...chain } },
            policy: { retry: { maxAttempts: 1 } }
          })
          const seen: Array<string> = []
          yield* router.listen((event) => {
            if (event._tag === "Fallback") seen.push(`${event.from} -> ${event.to} (${event.reason})`)
          })
          const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
          return { target: meta.target, fallbacks: meta.fallbacks, seen }
        })
      const hedge = { hedge: { delay: "1 second" as Duration.DurationInput } }
      // the first fails (at 50 ms, the simulated error's delay): the hedge starts at once and answers
      expect(yield* fallbacksOf(hedge, { latency: "100 millis", faults: [{ status: 500 }] })).toEqual({
        target: "second",
        fallbacks: 1,
        seen: ["first -> second (ServerError)"]
      })
      // the first is only slow: the hedge, started after the delay, answers first
      expect(yield* fallbacksOf(hedge, { latency: "10 seconds" })).toEqual({ target: "second", fallbacks: 0, seen: [] })
      // racing: the first fails, the second answers
      expect(yield* fallbacksOf({ race: 2 }, { latency: "100 millis", faults: [{ status: 500 }] })).toEqual({
        target: "second",
        fallbacks: 1,
        seen: ["first -> second (ServerError)"]
      })
      expect(yield* fallbacksOf({ race: 2 }, { latency: "10 seconds" })).toEqual({ target: "second", fallbacks: 0, seen: [] })
    })
  )

  it.scoped("a member still retrying after a failed attempt when another answers is a fallback too, as the meta counts it", () =>
    Effect.gen(function* () {
      const served = (chain: { readonly hedge: { readonly delay: Duration.DurationInput } } | { readonly race: number }) =>
        Effect.gen(function* () {
          // fails at 50 ms (the simulated error's delay), then waits 2 s to retry
          const first = yield* sim("first", { latency: "100 millis", faults: [{ status: 500 }] })
          const second = yield* sim("second", { latency: "300 millis" })
          const router = yield* Router.make({
            targets: { first: { model: first }, second: { model: second } },
            chains: { default: { targets: ["first", "second"], ...chain } },
            policy: { retry: { maxAttempts: 2, base: "2 seconds", jitter: "none" } }
          })
          const seen: Array<string> = []
          yield* router.listen((event) => {
            if (event._tag === "Fallback") seen.push(`${event.from} -> ${event.to} (${event.reason})`)
          })
          const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
          return { target: meta.target, fallbacks: meta.fallbacks, attempts: meta.attempts.length, seen, calls: (yield* first.stats).calls }
        })
      const expected = { target: "second", fallbacks: 1, attempts: 2, seen: ["first -> second (ServerError)"], calls: 1 }
      expect(yield* served({ race: 2 })).toEqual(expected)
      // the hedge starts at the first's failed attempt, the first still waiting to retry
      expect(yield* served({ hedge: { delay: "500 millis" } })).toEqual(expected)
    })
  )

  it.scoped("a race or hedge that fails whole: a fallback from each member to the next step, as the meta counts them", () =>
    Effect.gen(function* () {
      for (const group of [{ race: 2 }, { hedge: { delay: "1 second" } }] as const) {
        const a = yield* sim("a", { faults: [{ status: 500 }] })
        const b = yield* sim("b", { latency: "100 millis", faults: [{ status: 503 }] })
        const c = yield* sim("c")
        const router = yield* Router.make({
          targets: { a: { model: a }, b: { model: b }, c: { model: c } },
          chains: { default: { targets: ["a", "b", "c"], ...group } },
          policy: { retry: { maxAttempts: 1 } }
        })
        const seen: Array<string> = []
        yield* router.listen((event) => {
          if (event._tag === "Fallback") seen.push(`${event.from} -> ${event.to} (${event.reason})`)
        })
        const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
        // in the order the members failed; never from "a+b", which is no target (and would be a label of llm_fallbacks_total)
        expect({ target: meta.target, fallbacks: meta.fallbacks, seen: [...seen].sort() }).toEqual({
          target: "c",
          fallbacks: 2,
          seen: ["a -> c (ServerError)", "b -> c (Overloaded)"]
        })
      }
    })
  )

  it.scoped("a group's fallbacks go out once it has ended: one for each member that failed before the answer, none for a loser", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 500 }] })
      const b = yield* sim("b", { latency: "300 millis" })
      const c = yield* sim("c", { latency: "500 millis" })
      const d = yield* sim("d", { latency: "10 seconds" })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b }, c: { model: c }, d: { model: d } },
        chains: { default: { targets: ["a", "b", "c", "d"], race: 4 } },
        policy: { retry: { maxAttempts: 1 }, timeouts: { total: "1 second" } }
      })
      const seen: Array<string> = []
      yield* router.listen((event) => {
        if (event._tag !== "Fallback") return
        seen.push(`${event.from} -> ${event.to}`)
        // a listener's effect that takes a while: meanwhile c would answer and d pass the request's deadline
        return Effect.sleep("800 millis")
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi")), "5 seconds"))
      expect({ target: meta.target, fallbacks: meta.fallbacks, seen }).toEqual({ target: "b", fallbacks: 1, seen: ["a -> b"] })
      // a hedge of three whose first two fail: a fallback from each to the third, as the request's meta counts them
      const e = yield* sim("e", { faults: [{ status: 500 }] })
      const f = yield* sim("f", { latency: "100 millis", faults: [{ status: 503 }] })
      const g = yield* sim("g")
      const hedged = yield* Router.make({
        targets: { e: { model: e }, f: { model: f }, g: { model: g } },
        chains: { default: { targets: ["e", "f", "g"], hedge: { delay: "1 second", maxHedges: 2 } } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const events: Array<string> = []
      yield* hedged.listen((event) => {
        if (event._tag === "Fallback") events.push(`${event.from} -> ${event.to} (${event.reason})`)
      })
      const answered = succeeded(yield* settle(hedged.complete(Chat.prompt("hi")), "5 seconds"))
      expect({ target: answered.meta.target, fallbacks: answered.meta.fallbacks, events }).toEqual({
        target: "g",
        fallbacks: 2,
        events: ["e -> g (ServerError)", "f -> g (Overloaded)"]
      })
    })
  )

  it.scoped("a stream cancelled while its group's fallback events go out: the member that answered is not a slow loser", () =>
    Effect.gen(function* () {
      const first = yield* sim("first", { latency: "50 millis", faults: [{ status: 500 }] })
      const second = yield* sim("second", { latency: "300 millis", tokenDelay: "1 second" })
      const router = yield* Router.make({
        targets: { first: { model: first }, second: { model: second } },
        chains: { default: { targets: ["first", "second"], hedge: { delay: "100 millis" } } },
        policy: { retry: { maxAttempts: 1 } }
      })
      // a listener's effect that takes a while: the request is cancelled during it
      yield* router.listen((event) => (event._tag === "Fallback" ? Effect.sleep("10 seconds") : undefined))
      const streaming = yield* Effect.fork(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi")), (started) => Stream.runDrain(started.chunks)))
      )
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.interrupt(streaming)
      yield* TestClock.adjust("20 seconds")
      const answered = (yield* router.status).find((t) => t.name === "second")!
      expect(answered.health.slow).toBe(0)
      expect(answered.breaker.slowCallRate).toBe(0)
    })
  )

  it.scoped("a hedged primary that starts to hang after busy seconds opens after 5 lost hedges in a row, not after half a minute of them", () =>
    Effect.gen(function* () {
      /** The primary's calls made after it began to hang, and the reasons its breaker opened. */
      const hangingCalls = (breaker: Policy.BreakerPolicy) =>
        Effect.gen(function* () {
          const primary = yield* sim("primary", { latency: "400 millis", faults: [{ from: "30 seconds", latency: "50 seconds" }] })
          const backup = yield* sim("backup", { latency: "300 millis" })
          const router = yield* Router.make({
            targets: { primary: { model: primary }, backup: { model: backup } },
            chains: { default: { targets: ["primary", "backup"], hedge: { delay: "1 second" } } },
            policy: { breaker }
          })
          const trips: Array<string> = []
          const transitions = yield* router.breaker("primary")!.subscribe
          yield* Effect.forkScoped(
            Effect.forever(Effect.map(Queue.take(transitions), (t) => t.to === "open" && trips.push(t.reason)))
          )
          // two requests a second: 30 healthy seconds in the slow-call window, then 30 seconds of the hang
          const fibers = []
          for (let i = 0; i < 120; i++) {
            fibers.push(yield* Effect.fork(router.complete(Chat.prompt(`request ${i}`))))
            yield* TestClock.adjust("500 millis")
          }
          yield* TestClock.adjust("2 minutes")
          for (const fiber of fibers) succeeded(yield* Fiber.await(fiber))
          const calls = (yield* primary.stats).calls
          return { afterHang: calls - 60, trips }
        })
      const { afterHang, trips } = yield* hangingCalls({})
      expect(trips).toEqual(["consecutive-slow-calls"])
      // each call loses its hedge 1.3 s after it starts: a few are in flight before the 5th loss arrives
      expect(afterHang).toBeLessThanOrEqual(8)
      // without it, the slow-call rate waits until half of the last minute's calls lost their hedge
      const rateOnly = yield* hangingCalls({ consecutiveSlowCalls: 0 })
      expect(rateOnly.trips).toEqual(["slow-call-rate"])
      expect(rateOnly.afterHang).toBeGreaterThan(40)
    })
  )

  it.scoped("a p95 hedge delay follows the primary's observed latency", () =>
    Effect.gen(function* () {
      const primary = yield* sim("primary", { latency: "400 millis", faults: [{ from: "10 seconds", latency: "20 seconds" }] })
      const backup = yield* sim("backup", { latency: "100 millis" })
      const router = yield* Router.make({
        targets: { primary: { model: primary }, backup: { model: backup } },
        chains: { default: { targets: ["primary", "backup"], hedge: { delay: "p95" } } }
      })
      for (let i = 0; i < 10; i++) succeeded(yield* settle(router.complete(Chat.prompt(`warm ${i}`)), "1 second"))
      yield* TestClock.adjust("10 seconds")
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("now slow"))))
      expect(meta.target).toBe("backup")
      // hedged at the primary's p95 (about 400 ms), answered 100 ms later
      expect(Duration.toMillis(meta.latency)).toBeGreaterThanOrEqual(480)
      expect(Duration.toMillis(meta.latency)).toBeLessThanOrEqual(530)
    })
  )
})

describe("Router: streaming", () => {
  const drain = (router: Router.Service, request: Chat.ChatRequest) =>
    Effect.scoped(
      Effect.gen(function* () {
        const started = yield* router.stream(request)
        const chunks = yield* Stream.runCollect(started.chunks).pipe(Effect.either)
        return { started, chunks, done: yield* started.done }
      })
    )

  it.scoped("a stream that fails before its first chunk falls back invisibly", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 529 }] })
      const up = yield* sim("up")
      const router = yield* Router.make({
        targets: { down: { model: down }, up: { model: up } },
        chains: { default: ["down", "up"] },
        policy: fastRetry
      })
      const { started, chunks, done } = succeeded(yield* settle(drain(router, Chat.prompt("tell me a story"))))
      expect(started.meta.target).toBe("up")
      expect(chunks._tag).toBe("Right")
      if (chunks._tag !== "Right") return
      const text = Chunk.toArray(chunks.right)
        .flatMap((c) => (c._tag === "TextDelta" ? [c.text] : []))
        .join("")
      expect(text.length).toBeGreaterThan(0)
      expect(Chunk.toArray(chunks.right).some((c) => c._tag === "Finish")).toBe(true)
      expect(done.usage.outputTokens).toBeGreaterThan(0)
      expect(done.cost).toBe(0)
    })
  )

  it.scoped("a stream that fails after content has been sent raises StreamInterrupted with the partial text", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 3 }], reply: "one two three four five six" })
      const other = yield* sim("other")
      const router = yield* Router.make({ targets: { cut: { model: cut }, other: { model: other } }, chains: { default: ["cut", "other"] } })
      const finishedEvents = yield* Effect.forkScoped(
        Stream.runCollect(Stream.take(Stream.filter(router.events, (e) => e._tag === "RequestFinished"), 1))
      )
      yield* Effect.yieldNow()
      const { chunks, started } = succeeded(yield* settle(drain(router, Chat.prompt("count"))))
      const [finishedEvent] = Chunk.toArray(yield* Fiber.join(finishedEvents))
      expect(finishedEvent).toMatchObject({ _tag: "RequestFinished", outcome: "failure" })
      expect(chunks._tag).toBe("Left")
      if (chunks._tag !== "Left") return
      expect(chunks.left).toMatchObject({ _tag: "StreamInterrupted", provider: "cut" })
      expect(chunks.left.partialText).toBe("one two three")
      expect((yield* other.stats).calls).toBe(0)
      // the request finished as a failure, with the cut stream's tokens estimated
      const done = yield* started.done
      expect(done.usage.outputTokens).toBeGreaterThan(0)
    })
  )

  it.scoped("a stream cut during a tool call is billed an estimate of its prompt and of the call's name and arguments, where the provider reported no count", () =>
    Effect.gen(function* () {
      const info = { provider: "p", model: "m", contextWindow: 1_000_000, price: { input: 3, output: 15 } }
      const args = JSON.stringify({ rows: Array.from({ length: 2000 }, (_, i) => ({ id: i })) })
      const cutAfter = (chunks: ReadonlyArray<Chat.ChatChunk>): LanguageModel.Service => ({
        info,
        complete: () => Effect.die("unused"),
        stream: () => Stream.concat(Stream.fromIterable(chunks), Stream.fail(new TransportError({ provider: "p", model: "m", message: "reset" })))
      })
      const finishedOf = (chunks: ReadonlyArray<Chat.ChatChunk>, request: Chat.ChatRequest) =>
        Effect.gen(function* () {
          const router = yield* Router.make({ targets: { t: { model: cutAfter(chunks) } }, chains: { default: ["t"] } })
          const finished: Array<RouterEvent> = []
          yield* router.listen((event) => {
            if (event._tag === "RequestFinished") finished.push(event)
          })
          yield* Effect.exit(Effect.scoped(Effect.flatMap(router.stream(request), (started) => Stream.runDrain(started.chunks))))
          const [event] = finished
          return event?._tag === "RequestFinished" ? event : undefined
        })
      const prompt = Chat.prompt("x".repeat(4000))
      const call: Chat.ChatChunk = { _tag: "ToolCallDelta", index: 0, id: "c", name: "write_rows", arguments: args }
      const cut = yield* finishedOf([call], prompt)
      const usage = { inputTokens: Tokens.estimate(prompt), outputTokens: Math.ceil(("write_rows".length + args.length) / 4) }
      expect(cut).toMatchObject({ outcome: "failure", target: "t", usage })
      expect(cut?.cost).toBeCloseTo((usage.inputTokens * 3 + usage.outputTokens * 15) / 1_000_000, 12)
      // text and tool calls both
      const both = yield* finishedOf([{ _tag: "TextDelta", text: "Writing." }, call], prompt)
      expect(both?.usage?.outputTokens).toBe(Math.ceil(("Writing.".length + "write_rows".length + args.length) / 4))
      // a count the provider sent so far is its own, kept (with its cache counts): Gemini's running counts ...
      const reported: Chat.ChatChunk = { _tag: "Usage", usage: { inputTokens: 900, outputTokens: 2_500, cacheReadTokens: 800 } }
      const counted = yield* finishedOf([reported, { _tag: "TextDelta", text: "Hi" }], prompt)
      expect(counted?.usage).toEqual({ inputTokens: 900, outputTokens: 2_500, cacheReadTokens: 800 })
      // ... or a prompt counted at the start, before any output (Claude's message_start): the output is estimated
      const started = yield* finishedOf([{ _tag: "Usage", usage: { inputTokens: 900, outputTokens: 0, cacheReadTokens: 800 } }, call], prompt)
      expect(started?.usage).toEqual({ inputTokens: 900, outputTokens: usage.outputTokens, cacheReadTokens: 800 })
    })
  )

  it.scoped("continue mode resumes a broken stream on the next target", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta" })
      const other = yield* sim("other", { reply: " gamma delta" })
      const router = yield* Router.make({
        targets: { cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["cut", "other"], continueStreams: true } }
      })
      const fallbacks: Array<string> = []
      yield* router.listen((event) => {
        if (event._tag === "Fallback") fallbacks.push(`${event.from} -> ${event.to}`)
      })
      const { chunks, done } = succeeded(yield* settle(drain(router, Chat.prompt("letters"))))
      // the move to the target that resumed it is a fallback, as the final metadata counts it
      expect(fallbacks).toEqual(["cut -> other"])
      expect(chunks._tag).toBe("Right")
      if (chunks._tag !== "Right") return
      const text = Chunk.toArray(chunks.right)
        .flatMap((c) => (c._tag === "TextDelta" ? [c.text] : []))
        .join("")
      expect(text).toBe("alpha beta gamma delta")
      // the final metadata covers both parts: who finished it, every attempt, all the tokens
      expect(done).toMatchObject({ continued: true, target: "other", fallbacks: 1 })
      expect(done.attempts.map((a) => a.target)).toEqual(["cut", "other"])
      expect(done.usage.outputTokens).toBeGreaterThanOrEqual(4)
      expect((yield* other.calls).length).toBe(1)
    })
  )

  it.scoped("a stopped answer's text and refusal reach the caller only: no event or recorded attempt holds them", () =>
    Effect.gen(function* () {
      const base = yield* sim("strict")
      const stopped = new ContentFiltered({
        provider: "strict", model: "strict-model", message: "strict refused: SECRET REFUSAL", reason: "refusal",
        partialText: "SECRET OUTPUT", refusal: "SECRET REFUSAL", usage: { inputTokens: 3, outputTokens: 4 }
      })
      const strict = { ...base, complete: () => Effect.fail(stopped) }
      const lenient = yield* sim("lenient", { faults: [{ status: 500 }] })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, lenient: { model: lenient } },
        chains: { default: { targets: ["strict"], contentPolicy: "lenient" }, lenient: ["lenient"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => {
        events.push(event)
      })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi"))))
      // the content-policy chain failed too: its record holds the first attempt, without the answer
      expect(error._tag).toBe("ChainExhausted")
      const seen = JSON.stringify([events, error])
      expect(seen).not.toContain("SECRET")
      const failed = events.find((event) => event._tag === "AttemptFailed")
      expect(failed).toMatchObject({
        error: { _tag: "ContentFiltered", reason: "refusal", message: "strict refused", partialText: "", usage: { inputTokens: 3, outputTokens: 4 } }
      })
      // still a stopped answer, not a refused prompt
      expect(failed?._tag === "AttemptFailed" && isStoppedAnswer(failed.error)).toBe(true)
      // the caller of a chain that ends with it gets it whole, and the request's record what the provider billed
      const plain = yield* Router.make({ targets: { strict: { model: strict } }, chains: { default: ["strict"] } })
      const finishedSeen: Array<RouterEvent> = []
      yield* plain.listen((event) => {
        if (event._tag === "RequestFinished") finishedSeen.push(event)
      })
      expect(failedWith(yield* settle(plain.complete(Chat.prompt("hi"))))).toMatchObject({ partialText: "SECRET OUTPUT", refusal: "SECRET REFUSAL" })
      const price = strict.info.price
      expect(finishedSeen).toMatchObject([
        { outcome: "failure", target: "strict", usage: { inputTokens: 3, outputTokens: 4 }, cost: (3 * price.input + 4 * price.output) / 1_000_000 }
      ])
    })
  )

  it.scoped("continue mode never resumes a stream its provider stopped on content policy: no other model finishes it", () =>
    Effect.gen(function* () {
      const base = yield* sim("strict")
      const stopped = new ContentFiltered({ provider: "strict", model: "strict-model", message: "stopped", reason: "content_filter", partialText: "first half" })
      const strict = { ...base, stream: () => Stream.concat(Stream.make({ _tag: "TextDelta" as const, text: "first half" }), Stream.fail(stopped)) }
      const other = yield* sim("other", { reply: " of it" })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, other: { model: other } },
        chains: { default: { targets: ["strict", "other"], continueStreams: true } }
      })
      const { chunks, done } = succeeded(yield* settle(drain(router, Chat.prompt("tell me"))))
      expect(chunks._tag).toBe("Left")
      if (chunks._tag !== "Left") return
      expect(chunks.left).toMatchObject({ _tag: "StreamInterrupted", partialText: "first half", cause: { _tag: "ContentFiltered" } })
      expect(done.target).toBe("strict")
      expect((yield* other.calls).length).toBe(0)
    })
  )

  it.scoped("continue mode: a continuation that breaks too leaves the request's meta covering both parts", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta" })
      const other = yield* sim("other", { faults: [{ cutAfterTokens: 1 }], reply: " gamma delta" })
      const router = yield* Router.make({
        targets: { cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["cut", "other"], continueStreams: true } }
      })
      const { chunks, done } = succeeded(yield* settle(drain(router, Chat.prompt("letters"))))
      expect(chunks._tag).toBe("Left")
      expect(done.attempts.map((a) => a.target)).toEqual(["cut", "other"])
      expect(done).toMatchObject({ target: "other", continued: true, fallbacks: 1 })
      expect(done.usage.outputTokens).toBeGreaterThanOrEqual(3)
    })
  )

  it.scoped("a stream that ends without its Finish chunk is cut short: before content it falls back, after it is interrupted", () =>
    Effect.gen(function* () {
      const base = yield* sim("custom")
      const text = (t: string) => ({ _tag: "TextDelta" as const, text: t })
      // a model of the app's own whose stream just ends: first with nothing, then with half an answer
      let calls = 0
      const custom = {
        ...base,
        stream: () => (++calls === 1 ? Stream.make({ _tag: "Usage" as const, usage: { inputTokens: 1, outputTokens: 0 } }) : Stream.make(text("half an"), text(" ans")))
      }
      const other = yield* sim("other")
      const events: Array<RouterEvent> = []
      const router = yield* Router.make({
        targets: { custom: { model: custom }, other: { model: other } },
        chains: { default: ["custom", "other"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      yield* router.listen((event) => {
        if (event._tag === "AttemptFailed" || event._tag === "RequestFinished") events.push(event)
      })
      const before = succeeded(yield* settle(drain(router, Chat.prompt("hi"))))
      expect(before.chunks._tag).toBe("Right")
      expect(before.done).toMatchObject({ target: "other", fallbacks: 1 })
      expect(before.done.attempts.map((a) => [a.target, a.error?._tag ?? "ok"])).toEqual([["custom", "MalformedResponse"], ["other", "ok"]])
      const after = succeeded(yield* settle(drain(router, Chat.prompt("hi"))))
      expect(after.chunks._tag).toBe("Left")
      if (after.chunks._tag !== "Left") return
      expect(after.chunks.left).toMatchObject({ _tag: "StreamInterrupted", partialText: "half an ans", cause: { _tag: "MalformedResponse" } })
      expect(events.map((e) => (e._tag === "AttemptFailed" ? [e.target, e.error._tag] : e._tag === "RequestFinished" ? e.outcome : e))).toEqual([
        ["custom", "MalformedResponse"],
        "success",
        "failure"
      ])
      // both count against its breaker: two failures in a row
      expect((yield* router.status).find((t) => t.name === "custom")?.breaker.consecutiveFailures).toBe(2)
    })
  )

  it.scoped("a first-token timeout counts as a failure and falls back", () =>
    Effect.gen(function* () {
      const stalled = yield* sim("stalled", { latency: "1 minute" })
      const ok = yield* sim("ok")
      const router = yield* Router.make({
        targets: { stalled: { model: stalled }, ok: { model: ok } },
        chains: { default: ["stalled", "ok"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { firstToken: "2 seconds" } }
      })
      const { started } = succeeded(yield* settle(drain(router, Chat.prompt("hi"))))
      expect(started.meta.target).toBe("ok")
      expect(started.meta.attempts[0]?.error).toMatchObject({ _tag: "Timeout", phase: "first-token" })
      expect((yield* stalled.stats).interrupted).toBe(1)
    })
  )
})

describe("Router: degraded mode", () => {
  it.scoped("answers from the last-known-good cache when every target is down", () =>
    Effect.gen(function* () {
      const flaky = yield* sim("flaky", { faults: [{ from: "1 minute", status: 503 }] })
      const router = yield* Router.make({
        targets: { flaky: { model: flaky } },
        chains: { default: ["flaky"] },
        policy: fastRetry,
        cache: { ttl: "10 minutes" }
      })
      const first = succeeded(yield* settle(router.complete(Chat.prompt(" What is Effect?\n")), "1 second"))
      yield* TestClock.adjust("2 minutes")
      const again = succeeded(yield* settle(router.complete(Chat.prompt("What is Effect?"))))
      expect(again.meta.degraded).toBe("cache")
      // the one target was tried and moved on from: one fallback, as the usage report counts it
      expect(again.meta.fallbacks).toBe(1)
      expect(again.response.text).toBe(first.response.text)
      // past the TTL the cached answer is gone
      yield* TestClock.adjust("20 minutes")
      const error = failedWith(yield* settle(router.complete(Chat.prompt("What is Effect?"))))
      expect(error._tag).toBe("ChainExhausted")
    })
  )

  it.scoped("a chain's cached answers are its own: another chain never answers with them", () =>
    Effect.gen(function* () {
      const up = yield* sim("up")
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const router = yield* Router.make({
        targets: { up: { model: up }, down: { model: down } },
        chains: { default: ["up"], dead: ["down"] },
        policy: fastRetry
      })
      succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "default" }), "1 second"))
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hi"), { chain: "dead" })))
      expect(error._tag).toBe("ChainExhausted")
      // the chain that answered still has it
      expect(succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "default" }), "1 second")).meta.degraded).toBeUndefined()
    })
  )

  it.scoped("a tenant's cached answers are its own: another tenant, or a request of none, is never answered with them", () =>
    Effect.gen(function* () {
      const flaky = yield* sim("flaky", { faults: [{ from: "1 minute", status: 503 }] })
      const router = yield* Router.make({ targets: { flaky: { model: flaky } }, chains: { default: ["flaky"] }, policy: fastRetry })
      succeeded(yield* settle(router.complete(Chat.prompt("my balance?"), { tenant: "acme" }), "1 second"))
      yield* TestClock.adjust("2 minutes")
      expect(failedWith(yield* settle(router.complete(Chat.prompt("my balance?"), { tenant: "globex" })))._tag).toBe("ChainExhausted")
      expect(failedWith(yield* settle(router.complete(Chat.prompt("my balance?"))))._tag).toBe("ChainExhausted")
      expect(succeeded(yield* settle(router.complete(Chat.prompt("my balance?"), { tenant: "acme" }))).meta.degraded).toBe("cache")
    })
  )

  it.effect("DegradedCache keeps partitions apart", () =>
    Effect.gen(function* () {
      const cache = yield* DegradedCache.make()
      const answer = { id: "x", provider: "p", model: "m", text: "cached", toolCalls: [], finishReason: "stop", usage: { inputTokens: 1, outputTokens: 1 } } as const
      yield* cache.set(Chat.prompt("hi"), answer, "premium")
      expect(yield* cache.get(Chat.prompt("hi"), "premium")).toEqual(answer)
      expect(yield* cache.get(Chat.prompt("hi"), "budget")).toBeUndefined()
      expect(yield* cache.get(Chat.prompt("hi"))).toBeUndefined()
    })
  )

  it("DegradedCache.key: a short digest of what changes the answer, ends trimmed, fields never run together", () => {
    const long = "word ".repeat(20_000)
    const keyOf = (messages: Chat.ChatRequest["messages"], settings: Partial<Chat.ChatRequest> = {}) =>
      DegradedCache.key({ messages, ...settings })
    expect(keyOf([{ role: "user", content: long }])).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // a text's ends are trimmed
    expect(keyOf([{ role: "user", content: " What is Effect?\t\n" }])).toBe(keyOf([{ role: "user", content: "What is Effect?" }]))
    const distinct = [
      // whitespace inside a text is kept: code indented otherwise asks another thing
      keyOf([{ role: "user", content: "if x:\n    y" }]),
      keyOf([{ role: "user", content: "if x:\n  y" }]),
      keyOf([{ role: "user", content: "if x: y" }]),
      keyOf([{ role: "user", content: "ab" }]),
      keyOf([{ role: "user", content: "a b" }]),
      keyOf([{ role: "user", content: "ab", name: "x" }]),
      keyOf([{ role: "system", content: "ab" }]),
      keyOf([{ role: "user", content: "a" }, { role: "user", content: "b" }]),
      keyOf([{ role: "user", content: [{ type: "text", text: "ab" }] }]),
      keyOf([{ role: "user", content: [{ type: "image", url: "ab" }] }]),
      keyOf([{ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }]),
      keyOf([{ role: "assistant", toolCalls: [{ id: "1", name: "f", arguments: "{}" }] }]),
      keyOf([{ role: "assistant", toolCalls: [{ id: "1", name: "f{", arguments: "}" }] }]),
      keyOf([{ role: "assistant", content: "1:a", toolCalls: [] }]),
      keyOf([{ role: "tool", toolCallId: "1", content: "ab" }]),
      // a tool's error is not its result
      keyOf([{ role: "tool", toolCallId: "1", content: "ab", isError: true }]),
      keyOf([{ role: "user", content: "ab" }], { temperature: 0 }),
      keyOf([{ role: "user", content: "ab" }], { responseFormat: { type: "json_object" } }),
      keyOf([{ role: "user", content: "ab" }], { tools: [{ name: "f", parameters: { type: "object" } }] }),
      keyOf([{ role: "user", content: "ab" }], { tools: [{ name: "f", parameters: { type: "object", properties: { x: {} } } }] }),
      keyOf([{ role: "user", content: "ab" }], { tools: [{ name: "f", parameters: { type: "object" } }], toolChoice: "required" }),
      keyOf([{ role: "user", content: "ab" }], { parallelToolCalls: false }),
      keyOf([{ role: "user", content: "ab" }], { reasoningEffort: "high" }),
      keyOf([{ role: "user", content: "ab" }], { seed: 1 }),
      keyOf([{ role: "user", content: "ab" }], { presencePenalty: 1 }),
      keyOf([{ role: "user", content: "ab" }], { frequencyPenalty: 1 }),
      keyOf([{ role: "user", content: "ab" }], { topK: 1 }),
      keyOf([{ role: "user", content: "ab" }], { providerOptions: { anthropic: { betas: ["context-1m-2025-08-07"] } } }),
      keyOf([{ role: "user", content: "ab" }], { providerOptions: { gemini: { safetySettings: [{ category: "c", threshold: "t" }] } } }),
      keyOf([{ role: "user", content: [{ type: "image", url: "ab", detail: "low" }] }]),
      // JSON can carry a lone surrogate, which UTF-8 cannot
      keyOf([{ role: "user", content: "hi \ud800" }]),
      keyOf([{ role: "user", content: "hi \udfff" }]),
      keyOf([{ role: "user", content: "hi \ufffd" }])
    ]
    expect(new Set(distinct).size).toBe(distinct.length)
    // nor do prompt-cache breakpoints, on a message, a part or a tool
    const tool: Chat.ToolDefinition = { name: "f", parameters: { type: "object" } }
    expect(keyOf([{ role: "user", content: "ab", cache: "1h" }], { tools: [{ ...tool, cache: "5m" }] })).toBe(
      keyOf([{ role: "user", content: "ab" }], { tools: [tool] })
    )
    expect(keyOf([{ role: "user", content: [{ type: "text", text: "ab", cache: "5m" }] }])).toBe(distinct[8])
    // a call's id and a message's metadata do not change the answer
    expect(keyOf([{ role: "assistant", toolCalls: [{ id: "1", name: "f", arguments: "{}", signature: "s" }] }])).toBe(distinct[11])
  })

  it.scoped("answers with the chain's static response when nothing is cached", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const router = yield* Router.make({
        targets: { down: { model: down } },
        chains: { default: { targets: ["down"], fallbackResponse: "We are having trouble; try again soon." } },
        policy: fastRetry
      })
      const { response, meta } = succeeded(yield* settle(router.complete(Chat.prompt("anything"))))
      expect(response.text).toBe("We are having trouble; try again soon.")
      expect(meta.degraded).toBe("static")
      expect(meta.attempts.length).toBe(2)
    })
  )
})

describe("Router: strategies and classification", () => {
  it.scoped("health-aware: a degraded primary goes to the end of the chain, not away", () =>
    Effect.gen(function* () {
      const gray = yield* sim("gray", { faults: [{ errorRate: 0.6, status: 500 }], seed: 7 })
      const healthy = yield* sim("healthy")
      const router = yield* Router.make({
        targets: { gray: { model: gray }, healthy: { model: healthy } },
        chains: { default: { targets: ["gray", "healthy"], strategy: "health" } },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 100 } },
        health: { minimumCalls: 5, degradedBelow: 0.8 }
      })
      for (let i = 0; i < 20; i++) yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second")
      const before = (yield* gray.stats).calls
      for (let i = 0; i < 10; i++) {
        const { meta } = succeeded(yield* settle(router.complete(Chat.prompt(`r${i}`)), "1 second"))
        expect(meta.target).toBe("healthy")
      }
      expect((yield* gray.stats).calls).toBe(before)
    })
  )

  it.scoped("weighted: targets are drawn first in proportion to their weights", () =>
    Effect.gen(function* () {
      const a = yield* sim("a")
      const b = yield* sim("b")
      const router = yield* Router.make({
        targets: { a: { model: a, weight: 3 }, b: { model: b, weight: 1 } },
        chains: { default: { targets: ["a", "b"], strategy: "weighted" } },
        cache: false
      })
      // the distribution itself is checked over 20,000 draws in Strategy.test.ts
      const served = { a: 0, b: 0 }
      for (let i = 0; i < 60; i++) {
        const { meta } = succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second"))
        served[meta.target as "a" | "b"]++
      }
      expect(served.a).toBeGreaterThan(served.b)
      expect(served.b).toBeGreaterThan(0)
    }).pipe(Effect.withRandom(Random.make(42)))
  )

  it.scoped("cost: the cheapest target first, and the metadata says what a fallback cost", () =>
    Effect.gen(function* () {
      const premium = yield* sim("premium", { info: { price: prices.premium } })
      const cheap = yield* sim("cheap", { info: { price: prices.cheap }, faults: [{ to: "2 seconds", status: 500 }] })
      const router = yield* Router.make({
        targets: { premium: { model: premium }, cheap: { model: cheap } },
        chains: { default: { targets: ["premium", "cheap"], strategy: "cost" }, plain: ["cheap", "premium"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      // the cheap target is down for a second: the fallback to premium costs more than the chain's first target
      const during = succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "plain" }), "1 second"))
      expect(during.meta.target).toBe("premium")
      expect(during.meta.cost).toBeGreaterThan(0)
      expect(during.meta.costDelta).toBeCloseTo(
        during.meta.cost -
          (during.meta.usage.inputTokens * prices.cheap.input + during.meta.usage.outputTokens * prices.cheap.output) / 1e6,
        12
      )
      yield* TestClock.adjust("2 seconds")
      const after = succeeded(yield* settle(router.complete(Chat.prompt("hi again"))))
      expect(after.meta.target).toBe("cheap")
    })
  )

  it.scoped("latency: the fastest observed target first", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "2 seconds" })
      const fast = yield* sim("fast", { latency: "100 millis" })
      const router = yield* Router.make({
        targets: { slow: { model: slow }, fast: { model: fast } },
        chains: { default: { targets: ["slow", "fast"], strategy: "latency" }, warm: ["fast"] },
        cache: false
      })
      // no data yet: configured order
      expect(succeeded(yield* settle(router.complete(Chat.prompt("a")), "3 seconds")).meta.target).toBe("slow")
      succeeded(yield* settle(router.complete(Chat.prompt("b"), { chain: "warm" }), "1 second"))
      expect(succeeded(yield* settle(router.complete(Chat.prompt("d")), "1 second")).meta.target).toBe("fast")
    })
  )

  it.scoped("a classifier picks task chains and quality tiers", () =>
    Effect.gen(function* () {
      const opus = yield* sim("opus")
      const mini = yield* sim("mini")
      const { heuristic, defaultTiers } = yield* Effect.promise(() => import("../src/router/Classifier.js"))
      const router = yield* Router.make({
        targets: { opus: { model: opus }, mini: { model: mini } },
        chains: {
          default: ["opus", "mini"],
          premium: ["opus", "mini"],
          standard: ["mini", "opus"],
          budget: ["mini"],
          code_generation: ["opus"]
        },
        classifier: heuristic({ tiers: defaultTiers })
      })
      expect(router.chainFor(Chat.prompt("Translate 'hello' to Spanish"))).toBe("budget")
      expect(router.chainFor(Chat.prompt("Compare the trade-offs of two designs"))).toBe("premium")
      expect(router.chainFor(Chat.prompt("hi", { metadata: { task: "code_generation" } }))).toBe("code_generation")
      expect(router.chainFor(Chat.prompt("hi", { metadata: { task: "unknown_task" } }))).toBe("default")
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("List three colours"))))
      expect(meta.chain).toBe("budget")
      expect(meta.target).toBe("mini")
      // every target is a one-target chain under its own name
      const direct = succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "opus" })))
      expect(direct.meta).toMatchObject({ chain: "opus", target: "opus" })
      expect(router.chains).not.toContain("opus")
      const unknown = failedWith(yield* settle(router.complete(Chat.prompt("hi"), { chain: "nope" })))
      expect(unknown).toMatchObject({ _tag: "InvalidRequest" })
    })
  )
})

describe("Router: budget, shadow traffic, events and the LanguageModel layer", () => {
  it.scoped("under a full outage the retry budget bounds retries", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const router = yield* Router.make({
        targets: { down: { model: down } },
        chains: { default: ["down"] },
        policy: {
          retry: { maxAttempts: 5, base: "10 millis", jitter: "none" },
          breaker: { consecutiveFailures: 0 },
          budget: { maxTokens: 10, tokenRatio: 0.1 }
        },
        cache: false
      })
      for (let i = 0; i < 20; i++) yield* settle(router.complete(Chat.prompt(`q${i}`)), "10 seconds")
      // 20 first calls, and retries only while tokens > 5: 4 retries in all
      expect((yield* down.stats).calls).toBe(24)
    })
  )

  it.scoped("shadow traffic keeps a fallback's health fresh without changing the response", () =>
    Effect.gen(function* () {
      const primary = yield* sim("primary")
      const shadowed = yield* sim("shadowed", { info: { price: prices.cheap } })
      const router = yield* Router.make({
        targets: { primary: { model: primary }, shadowed: { model: shadowed } },
        chains: { default: ["primary", "shadowed"] },
        shadowRate: 1
      })
      const events = yield* Effect.forkScoped(Stream.runCollect(Stream.take(router.events, 4)))
      yield* Effect.yieldNow()
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi")), "1 second"))
      expect(meta.target).toBe("primary")
      const seen = Chunk.toArray(yield* Fiber.join(events))
      expect((yield* shadowed.stats).calls).toBe(1)
      const shadowEvent = seen.find((e): e is Extract<RouterEvent, { _tag: "AttemptSucceeded" }> =>
        e._tag === "AttemptSucceeded" && e.shadow
      )
      expect(shadowEvent?.target).toBe("shadowed")
      expect(shadowEvent?.cost).toBeGreaterThan(0)
      const status = yield* router.status
      expect(status.find((s) => s.name === "shadowed")?.health.calls).toBe(1)
    })
  )

  /** A chain whose first target fails every call: each request falls back once. */
  const fallingBack = Effect.gen(function* () {
    const down = yield* sim("down", { faults: [{ status: 500 }] })
    const up = yield* sim("up")
    return yield* Router.make({
      targets: { down: { model: down }, up: { model: up } },
      chains: { default: ["down", "up"] },
      policy: { retry: { maxAttempts: 1 } }
    })
  })

  /** The events of one request through `fallingBack`, in order. */
  const fallbackEvents = ["AttemptStarted", "AttemptFailed", "Fallback", "AttemptStarted", "AttemptSucceeded", "RequestFinished"]

  it.scoped("events report attempts, fallbacks and the finished request in order", () =>
    Effect.gen(function* () {
      const router = yield* fallingBack
      const events = yield* Effect.forkScoped(Stream.runCollect(Stream.take(router.events, 6)))
      yield* Effect.yieldNow()
      succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(Chunk.toArray(yield* Fiber.join(events)).map((e) => e._tag)).toEqual(fallbackEvents)
    })
  )

  it.scoped("listeners see every event at once, in order, before the stream; one that throws is logged and the request goes on", () =>
    Effect.gen(function* () {
      const router = yield* fallingBack
      const heard: Array<string> = []
      const streamed = yield* Effect.forkScoped(Stream.runCollect(Stream.take(router.events, 6)))
      yield* Effect.yieldNow()
      const logged: Array<string> = []
      const listenerScope = yield* Scope.make()
      yield* router.listen((event) => {
        heard.push(event._tag)
        // what a listener returns runs in the emitting fiber
        return event._tag === "Fallback" ? Effect.sync(() => logged.push(`${event.from} -> ${event.to}`)) : undefined
      }).pipe(Scope.extend(listenerScope))
      yield* router.listen((event) => {
        if (event._tag === "AttemptStarted") throw new Error("listener bug")
      }).pipe(Scope.extend(listenerScope))
      const errors: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Error") errors.push(String(Array.isArray(message) ? message[0] : message))
      })
      succeeded(yield* settle(router.complete(Chat.prompt("hi"))).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
      // all heard by the time the request returns: no fiber in between
      expect(heard).toEqual(fallbackEvents)
      expect(logged).toEqual(["down -> up"])
      expect(errors).toEqual(["router: an event listener failed", "router: an event listener failed"])
      expect(Chunk.toArray(yield* Fiber.join(streamed)).map((e) => e._tag)).toEqual(fallbackEvents)
      // closing the scope removes the listeners
      yield* Scope.close(listenerScope, Exit.void)
      succeeded(yield* settle(router.complete(Chat.prompt("again"))))
      expect(heard).toEqual(fallbackEvents)
    })
  )

  it.effect("Router.layer provides LanguageModel: app code gets failover without changing", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const up = yield* sim("up")
      const app = LanguageModel.complete(Chat.prompt("hello"))
      const exit = yield* settle(
        app.pipe(
          Effect.provide(
            Router.layer({ targets: { down: { model: down }, up: { model: up } }, chains: { default: ["down", "up"] } })
          )
        )
      )
      expect(succeeded(exit).provider).toBe("up")
    })
  )

  it.effect("an inconsistent config reports every problem", () =>
    Effect.gen(function* () {
      const a = yield* sim("a")
      const error = yield* Effect.flip(
        Effect.scoped(
          Router.make({
            targets: { a: { model: a } },
            chains: { default: ["a", "gpt5"], other: { targets: [], contentPolicy: "missing", race: 0 } },
            defaultChain: "nope"
          })
        )
      )
      expect(error.problems).toEqual([
        'chains.default.targets[1]: unknown target "gpt5" (known targets: a)',
        "chains.other: a chain needs at least one target",
        'chains.other.contentPolicy: unknown chain "missing" (known chains: default, other)',
        "chains.other.race: must be a whole number of at least 1",
        'defaultChain: unknown chain "nope" (known chains: default, other)'
      ])
    })
  )

  it.scoped("a request for an unknown chain names the close one, or the chains there are", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({ targets: { mini: { model: yield* sim("a") } }, chains: { support: ["mini"], billing: ["mini"] } })
      const close = yield* Effect.flip(router.complete(Chat.prompt("hi"), { chain: "suport" }))
      expect(close.message).toBe('unknown chain "suport" (did you mean "support"?)')
      const far = yield* Effect.flip(router.complete(Chat.prompt("hi"), { chain: "default" }))
      expect(far.message).toBe('unknown chain "default" (known chains: support, billing, mini)')
      expect(() => router.languageModel("bilings")).toThrow('Router.languageModel: unknown chain "bilings" (did you mean "billing"?)')
    })
  )

  it("the chain's error channel holds only fatal errors and ChainExhausted", () => {
    type CompleteError = Effect.Effect.Error<ReturnType<Router.Service["complete"]>>
    expectTypeOf<CompleteError>().toEqualTypeOf<InvalidRequest | ContentFiltered | ChainExhausted>()
    type StreamChunksError = Stream.Stream.Error<Router.StreamResult["chunks"]>
    expectTypeOf<StreamChunksError>().toEqualTypeOf<StreamInterrupted>()
    // no retriable error can escape
    expectTypeOf<Extract<CompleteError, { _tag: "RateLimited" | "Overloaded" | "ServerError" | "Timeout" }>>().toBeNever()
  })
})

describe("Router: what a call the provider was asked and did not answer costs", () => {
  const price = { input: 3, output: 15 }
  const prompt = Chat.prompt("x".repeat(40_000))
  /** The request's prompt as each unanswered call is billed it: the router's estimate, at the input price. */
  const input = { inputTokens: Tokens.estimate(prompt), outputTokens: 0 }
  const inputCost = (Tokens.estimate(prompt) * price.input) / 1_000_000

  const finishedOf = (router: Router.Service) =>
    Effect.gen(function* () {
      const finished: Array<Extract<RouterEvent, { _tag: "RequestFinished" }>> = []
      yield* router.listen((event) => {
        if (event._tag === "RequestFinished") finished.push(event)
      })
      return finished
    })

  it.scoped("a completion its caller gives up on after it was sent is billed its prompt, as an estimated part", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { latency: "5 seconds", outputTokens: 200, info: { price } })
      const router = yield* Router.make({ targets: { a: { model: a } }, chains: { default: ["a"] } })
      const finished = yield* finishedOf(router)
      const fiber = yield* Effect.fork(router.complete(prompt))
      yield* TestClock.adjust("4900 millis")
      yield* Fiber.interrupt(fiber)
      expect(finished).toHaveLength(1)
      expect(finished[0]).toMatchObject({ outcome: "cancelled", billed: [{ target: "a", provider: "a", model: "a-model", usage: input }] })
      expect(finished[0]?.cost).toBeCloseTo(inputCost, 12)
    })
  )

  it.scoped("one that timed out is billed its prompt beside the answer of the target that served it", () =>
    Effect.gen(function* () {
      const slow = yield* sim("slow", { latency: "1 hour", info: { price } })
      const fast = yield* sim("fast", { info: { price: { input: 0.15, output: 0.6 } } })
      const router = yield* Router.make({
        targets: { slow: { model: slow }, fast: { model: fast } },
        chains: { default: ["slow", "fast"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "5 seconds" } }
      })
      const finished = yield* finishedOf(router)
      const { meta, response } = succeeded(yield* settle(router.complete(prompt)))
      expect(meta.target).toBe("fast")
      expect(meta.billed).toEqual([{ target: "slow", provider: "slow", model: "slow-model", usage: input, cost: inputCost }])
      expect(meta.cost).toBeCloseTo(inputCost + (response.usage.inputTokens * 0.15 + response.usage.outputTokens * 0.6) / 1_000_000, 12)
      expect(meta.usage.inputTokens).toBe(response.usage.inputTokens + input.inputTokens)
      expect(finished[0]).toMatchObject({ outcome: "success", cost: meta.cost, billed: meta.billed })
    })
  )

  it.scoped("the losers of a race are billed their prompts; every target timing out, the failure is billed all of them", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { latency: "1 second", info: { price } })
      const b = yield* sim("b", { latency: "3 seconds", info: { price } })
      const raced = yield* Router.make({ targets: { a: { model: a }, b: { model: b } }, chains: { default: { targets: ["a", "b"], race: 2 } } })
      const ledger = yield* CostReport.ledger({ targets: yield* raced.status })
      yield* raced.listen(ledger.listener)
      const won = succeeded(yield* settle(raced.complete(prompt)))
      expect(won.meta.target).toBe("a")
      expect(won.meta.billed?.map((part) => [part.target, part.usage])).toEqual([["b", input]])
      // the cost report charges the loser's part to its model
      const report = yield* ledger.report()
      const loser = report.byModel.find((line) => line.model === "b-model")
      expect(loser).toMatchObject({ requests: 0, inputTokens: input.inputTokens })
      expect(loser?.cost).toBeCloseTo(inputCost, 12)

      const hung = yield* sim("hung", { latency: "1 hour", info: { price } })
      const router = yield* Router.make({
        targets: { one: { model: hung }, two: { model: hung } },
        chains: { default: ["one", "two"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "2 seconds", total: "10 seconds" } }
      })
      const finished = yield* finishedOf(router)
      yield* settle(router.complete(prompt))
      expect(finished[0]).toMatchObject({ outcome: "failure" })
      expect(finished[0]?.billed?.map((part) => part.target)).toEqual(["one", "two"])
      expect(finished[0]?.cost).toBeCloseTo(2 * inputCost, 12)
    })
  )

  it.scoped("a call answered with an error is billed nothing", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 500 }], info: { price } })
      const router = yield* Router.make({ targets: { down: { model: down } }, chains: { default: ["down"] }, policy: { retry: { maxAttempts: 1 } } })
      const finished = yield* finishedOf(router)
      yield* settle(router.complete(prompt))
      expect(finished[0]).toMatchObject({ outcome: "failure", cost: 0 })
      expect(finished[0]?.billed).toBeUndefined()
    })
  )
})
