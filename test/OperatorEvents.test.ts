/**
 * What operators count on seeing, in events, metrics, the health snapshot
 * and spans: a stream that fails after its first content, a target passed
 * over before any call, a hedge the retry budget refuses, a continued
 * stream its consumer leaves. Virtual time, simulated providers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Chat, ContentFiltered } from "../src/llm/index.js"
import * as Observability from "../src/observability/Observability.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import { settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("1 minute")

/** The sum of every sample of `name` whose labels include all of `labels`. */
const sumOf = (text: string, name: string, labels: Record<string, string>): number =>
  text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((acc, line) => acc + Number(line.slice(line.lastIndexOf(" ") + 1)), 0)

const tags = (events: ReadonlyArray<RouterEvent>) => events.map((e) => e._tag)

describe("events operators count on", () => {
  it.scoped("a stream cut after its first content is a StreamFailed: counted in llm_stream_failures_total and as a failure in the health snapshot, as its breaker counts it", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta" })
      const router = yield* Router.make({
        targets: { cut: { model: cut } },
        chains: { default: ["cut"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, openDuration: { base: "10 minutes" } } }
      })
      const run = { run: "stream-failed" }
      const observability = yield* Observability.attach(router, { labels: run })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      for (let i = 0; i < 3; i++) {
        const outcome = yield* settle(
          Effect.scoped(Effect.flatMap(router.stream(Chat.prompt(`q${i}`)), (s) => Effect.either(Stream.runDrain(s.chunks))))
        )
        expect(succeeded(outcome)._tag).toBe("Left")
      }
      expect(tags(events).slice(0, 4)).toEqual(["AttemptStarted", "AttemptSucceeded", "StreamFailed", "RequestFinished"])
      expect(events[2]).toMatchObject({ _tag: "StreamFailed", target: "cut", attempt: 1, error: { _tag: "TransportError" } })
      expect((yield* router.status).find((s) => s.name === "cut")?.breaker.state).toBe("open")
      yield* observability.flush
      const text = yield* observability.render
      const health = (yield* observability.snapshot).targets.find((t) => t.name === "cut")!
      expect({
        started: sumOf(text, "llm_attempts_total", { ...run, provider: "cut", outcome: "success" }),
        failed: sumOf(text, "llm_stream_failures_total", { ...run, provider: "cut" }),
        calls: health.calls,
        failures: health.failures,
        successRate: health.successRate
      }).toEqual({ started: 3, failed: 3, calls: 3, failures: 3, successRate: 0 })
    })
  )

  it.scoped("a target passed over for its context window is an AttemptFailed (the router's refusal), counted as a rejection", () =>
    Effect.gen(function* () {
      const small = yield* sim("small", { info: { contextWindow: 50 } })
      const big = yield* sim("big", { info: { contextWindow: 100_000 } })
      const router = yield* Router.make({ targets: { small: { model: small }, big: { model: big } }, chains: { default: ["small", "big"] } })
      const run = { run: "passed-over" }
      const observability = yield* Observability.attach(router, { labels: run })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("word ".repeat(400)))))
      expect(meta.attempts.map((a) => [a.target, a.error?._tag === "Rejected" ? a.error.reason : a.error?._tag])).toEqual([
        ["small", "context-too-small"],
        ["big", undefined]
      ])
      expect(events.filter((e) => e._tag === "AttemptFailed")).toMatchObject([
        { target: "small", attempt: 1, error: { _tag: "Rejected", reason: "context-too-small" } }
      ])
      yield* observability.flush
      const text = yield* observability.render
      expect(sumOf(text, "llm_attempts_total", { ...run, provider: "small", outcome: "rejected", reason: "context-too-small" })).toBe(1)
      expect(sumOf(text, "llm_rejections_total", { ...run, target: "small", reason: "context-too-small" })).toBe(1)
    })
  )

  it.scoped("a hedge the retry budget refuses is a BudgetExhausted, counted as a refused retry is", () =>
    Effect.gen(function* () {
      const primary = yield* sim("primary", { latency: "10 seconds" })
      // the backup fails during the first second only: one failure leaves its budget of 2 at 1, not above half
      const backup = yield* sim("backup", { latency: "100 millis", faults: [{ to: "1 second", status: 500 }] })
      const router = yield* Router.make({
        targets: { primary: { model: primary }, backup: { model: backup } },
        chains: { default: { targets: ["primary", "backup"], hedge: { delay: "1 second" } }, warm: ["backup"] },
        policy: { retry: { maxAttempts: 1 }, budget: { maxTokens: 2 }, breaker: { consecutiveFailures: 100 } }
      })
      const run = { run: "hedge-refused" }
      const observability = yield* Observability.attach(router, { labels: run })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      yield* settle(router.complete(Chat.prompt("warm"), { chain: "warm" }), "2 seconds")
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hedged"))))
      expect(meta.target).toBe("primary")
      expect((yield* backup.stats).calls).toBe(1)
      expect(events.filter((e) => e._tag === "BudgetExhausted")).toMatchObject([{ chain: "default", target: "backup" }])
      yield* observability.flush
      expect(sumOf(yield* observability.render, "llm_retry_budget_exhausted_total", { ...run, target: "backup" })).toBe(1)
    })
  )

  it.scoped("every upstream call is counted: a race's loser, and a call the request's deadline cut, are AttemptCancelled", () =>
    Effect.gen(function* () {
      const fast = yield* sim("fast", { latency: "100 millis" })
      const slow = yield* sim("slow", { latency: "2 seconds" })
      const router = yield* Router.make({
        targets: { fast: { model: fast }, slow: { model: slow } },
        chains: { default: { targets: ["fast", "slow"], race: 2 }, alone: { targets: ["slow"], policy: { timeouts: { attempt: "5 seconds", total: "1 second" } } } }
      })
      const run = { run: "cancelled-attempts" }
      const observability = yield* Observability.attach(router, { labels: run })
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      expect(meta.target).toBe("fast")
      yield* settle(router.complete(Chat.prompt("hi"), { chain: "alone" }))
      expect([(yield* fast.stats).calls, (yield* slow.stats).calls]).toEqual([1, 2])
      expect(events.filter((e) => e._tag === "AttemptCancelled")).toMatchObject([
        { target: "slow", attempt: 1, reason: "lost", chain: "default" },
        { target: "slow", attempt: 1, reason: "deadline", chain: "alone" }
      ])
      yield* observability.flush
      const text = yield* observability.render
      expect(sumOf(text, "llm_attempts_total", { ...run, provider: "slow", outcome: "cancelled", reason: "lost" })).toBe(1)
      expect(sumOf(text, "llm_attempts_total", { ...run, provider: "slow", outcome: "cancelled", reason: "deadline" })).toBe(1)
      expect(sumOf(text, "llm_attempts_total", run)).toBe(3)
    })
  )

  it.scoped("a continued stream its consumer leaves finishes its request cancelled, with both parts' targets and tokens", () =>
    Effect.gen(function* () {
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta" })
      const other = yield* sim("other", { reply: " gamma delta epsilon zeta eta theta iota kappa lambda mu" })
      const router = yield* Router.make({
        targets: { cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["cut", "other"], continueStreams: true } }
      })
      const run = { run: "continued-abandoned" }
      const observability = yield* Observability.attach(router, { labels: run })
      const finished: Array<RouterEvent> = []
      yield* router.listen((event) => {
        if (event._tag === "RequestFinished") finished.push(event)
      })
      // the client reads the two cut tokens and a few of the continuation's, then goes away
      const taken = succeeded(
        yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("letters")), (s) => Stream.runCollect(Stream.take(s.chunks, 5)))))
      )
      expect(taken.length).toBe(5)
      expect((yield* other.calls).length).toBe(1)
      expect(finished).toMatchObject([{ outcome: "cancelled", target: "other", fallbacks: 1 }])
      yield* observability.flush
      expect(sumOf(yield* observability.render, "llm_requests_total", { ...run, chain: "default", outcome: "cancelled" })).toBe(1)
      // read to its end, it finishes once, a success
      finished.length = 0
      yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("letters")), (s) => Stream.runDrain(s.chunks))))
      expect(finished).toMatchObject([{ outcome: "success", target: "other" }])
    })
  )

  it.scoped("what a continued stream's cut target billed is charged to it, and the rest's extra cost over the chain's first is the fallback's", () =>
    Effect.gen(function* () {
      const cheap = { input: 0.15, output: 0.6 }
      const premium = { input: 3, output: 15 }
      const cut = yield* sim("cut", { faults: [{ cutAfterTokens: 2 }], reply: "alpha beta gamma delta", info: { price: cheap } })
      const other = yield* sim("other", { reply: " gamma delta epsilon zeta eta theta", info: { price: premium } })
      const router = yield* Router.make({
        targets: { cut: { model: cut }, other: { model: other } },
        chains: { default: { targets: ["cut", "other"], continueStreams: true } }
      })
      const run = { run: "continued-cost" }
      const observability = yield* Observability.attach(router, { labels: run })
      const done = succeeded(
        yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("letters")), (s) => Effect.zipRight(Stream.runDrain(s.chunks), s.done))))
      )
      expect(done).toMatchObject({ continued: true, target: "other" })
      const [part] = done.billed ?? []
      expect(part).toMatchObject({ target: "cut", model: "cut-model" })
      const rest = done.cost - part!.cost
      // the rest, on the premium model, cost more than the chain's first (the cheap one) would have charged for it
      const restIn = done.usage.inputTokens - part!.usage.inputTokens
      const restOut = done.usage.outputTokens - part!.usage.outputTokens
      expect(done.costDelta).toBeCloseTo(rest - (restIn * cheap.input + restOut * cheap.output) / 1_000_000, 12)
      expect(done.costDelta).toBeGreaterThan(0)
      yield* observability.flush
      const text = yield* observability.render
      const report = yield* observability.costReport()
      expect(sumOf(text, "llm_cost_usd_total", { ...run, provider: "cut", kind: "served" })).toBeCloseTo(part!.cost, 12)
      expect(sumOf(text, "llm_cost_usd_total", { ...run, provider: "other", kind: "served" })).toBeCloseTo(rest, 12)
      expect(report.byModel.find((l) => l.model === "cut-model")?.cost).toBeCloseTo(part!.cost, 12)
      expect(report.totals.cost).toBeCloseTo(done.cost, 12)
      expect(report.totals.fallbackExtraCost).toBeCloseTo(done.costDelta, 12)
    })
  )

  it.scoped("an answer stopped on content policy before the content-policy chain took over is charged to the model that billed it", () =>
    Effect.gen(function* () {
      const base = yield* sim("strict", { info: { price: { input: 3, output: 15 } } })
      const stopped = new ContentFiltered({
        provider: "strict",
        model: "strict-model",
        message: "strict stopped its answer",
        reason: "content_filter",
        partialText: "some text",
        usage: { inputTokens: 1000, outputTokens: 4000 }
      })
      const strict = { ...base, complete: () => Effect.fail(stopped) }
      const lenient = yield* sim("lenient", { info: { price: { input: 0.15, output: 0.6 } } })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, lenient: { model: lenient } },
        chains: { default: { targets: ["strict"], contentPolicy: "lenient" }, lenient: ["lenient"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const observability = yield* Observability.attach(router, { labels: { run: "handed-over-cost" } })
      const finished: Array<RouterEvent> = []
      yield* router.listen((event) => {
        if (event._tag === "RequestFinished") finished.push(event)
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      const billed = (1000 * 3 + 4000 * 15) / 1_000_000
      expect(meta.target).toBe("lenient")
      expect(meta.billed).toMatchObject([{ target: "strict", cost: billed, usage: { inputTokens: 1000, outputTokens: 4000 } }])
      expect(meta.cost).toBeGreaterThan(billed)
      expect(finished).toMatchObject([{ target: "lenient", cost: meta.cost, billed: [{ target: "strict" }] }])
      yield* observability.flush
      const report = yield* observability.costReport()
      expect(report.byModel.find((l) => l.model === "strict-model")?.cost).toBeCloseTo(billed, 12)
      expect(report.totals.cost).toBeCloseTo(meta.cost, 12)

      // the content-policy chain down and degraded mode answering: what the stopped answer billed is still charged
      const down = yield* sim("down", { faults: [{ status: 500 }] })
      const degrading = yield* Router.make({
        targets: { strict: { model: strict }, down: { model: down } },
        chains: { default: { targets: ["strict"], contentPolicy: "open" }, open: { targets: ["down"], fallbackResponse: "Try again later." } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const seen = yield* Observability.attach(degrading, { labels: { run: "handed-over-degraded" } })
      const ends: Array<RouterEvent> = []
      yield* degrading.listen((event) => {
        if (event._tag === "RequestFinished") ends.push(event)
      })
      const answer = succeeded(yield* settle(degrading.complete(Chat.prompt("hi"))))
      expect(answer.response.text).toBe("Try again later.")
      expect(answer.meta).toMatchObject({ degraded: "static", cost: billed, billed: [{ target: "strict", cost: billed }] })
      expect(ends).toMatchObject([{ outcome: "degraded", cost: billed, billed: [{ target: "strict", cost: billed }] }])
      yield* seen.flush
      const degradedReport = yield* seen.costReport()
      expect(degradedReport.byModel.find((l) => l.model === "strict-model")?.cost).toBeCloseTo(billed, 12)
      expect(degradedReport.totals.cost).toBeCloseTo(billed, 12)
    })
  )
})
