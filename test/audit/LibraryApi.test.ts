/**
 * The library as an Effect developer uses it: misuse of `Router.make` is a
 * typed `RouterConfigError` at construction, not a defect or a surprise at
 * call time.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Cause, Context, Duration, Effect, Exit, Fiber, FiberId, Layer, Option, pipe, TestClock } from "effect"
import { Config } from "../../src/config/index.js"
import { Chat, ContentFiltered, fromStatus, isStoppedAnswer, ModelInfo, RateLimited, retryAfter, Tokens } from "../../src/llm/index.js"
import { Observability } from "../../src/observability/index.js"
import { Anthropic, Gemini, OpenAi, Simulated } from "../../src/providers/index.js"
import { Backoff, Bulkhead, CircuitBreaker, Hedge, RateLimit, Retry, RetryBudget, Timeout } from "../../src/resilience/index.js"
import { Classifier, DegradedCache, Policy, Router } from "../../src/router/index.js"
import { MockServer } from "../../src/testing/index.js"

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

describe("doc examples do what their comments say", () => {
  it("Backoff.delay: equal jitter at u = 0.5 on the third delay is 300 ms", () => {
    const options = { base: "100 millis", cap: "1 second", jitter: "equal" } as const
    expect(Duration.toMillis(Backoff.delay(options, 2, Duration.zero, 0.5))).toBe(300)
  })

  it.effect("Backoff.schedule: 1 call + 4 retries, full jitter under ~100, 200, 400, 800 ms", () =>
    Effect.gen(function* () {
      let calls = 0
      const flaky = Effect.suspend(() => (calls++, Effect.fail(new Error("boom"))))
      const fiber = yield* Effect.fork(Effect.retry(flaky, Backoff.schedule({ base: "100 millis", maxAttempts: 5 })))
      yield* TestClock.adjust("1500 millis")
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      expect(calls).toBe(5)
    }))

  it.effect("Hedge.runIndexed / run / raceIndexed / race", () =>
    Effect.gen(function* () {
      const slow = Effect.as(Effect.sleep("2 seconds"), "primary")
      const fast = Effect.as(Effect.sleep("100 millis"), "backup")
      const f1 = yield* Effect.fork(Hedge.runIndexed([slow, fast], { delay: "300 millis" }))
      const f2 = yield* Effect.fork(Hedge.run([slow, fast], { delay: "300 millis", maxParallel: 2 }))
      const budget = RetryBudget.unsafeMake({ maxTokens: 10 })
      const f3 = yield* Effect.fork(
        pipe([slow, fast] as const, Hedge.run({ delay: (index) => Duration.millis(300 * index), allow: budget.tryAcquire }))
      )
      const f4 = yield* Effect.fork(
        Hedge.raceIndexed([Effect.as(Effect.sleep("1 second"), "a"), Effect.as(Effect.sleep("10 millis"), "b")])
      )
      const f5 = yield* Effect.fork(Hedge.race([Effect.fail("down"), Effect.as(Effect.sleep("20 millis"), "up")]))
      yield* TestClock.adjust("399 millis")
      expect(f2.unsafePoll()).toBe(null) // "about 400 ms in"
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(f1)).toEqual({ value: "backup", index: 1 })
      expect(yield* Fiber.join(f2)).toBe("backup")
      expect(yield* Fiber.join(f3)).toBe("backup")
      expect(yield* Fiber.join(f4)).toEqual({ value: "b", index: 1 })
      expect(yield* Fiber.join(f5)).toBe("up")
    }))

  it.effect("RateLimit.make: two admitted at rpm 2, the third Limited with limit rpm and a retryAfter", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimit.make({ name: "gpt-4o", rpm: 2 })
      expect((yield* limiter.tryAcquire(100))._tag).toBe("Admitted")
      expect((yield* limiter.tryAcquire(100))._tag).toBe("Admitted")
      const third = yield* limiter.tryAcquire(100)
      expect(third).toMatchObject({ _tag: "Limited", limit: "rpm" })
      expect(third._tag === "Limited" && Duration.toMillis(third.retryAfter) > 0).toBe(true)
    }))

  it.effect("RetryBudget.make: a dead upstream gets at most 4 retries in all", () =>
    Effect.gen(function* () {
      const budget = yield* RetryBudget.make({ maxTokens: 10, tokenRatio: 0.1 })
      let calls = 0
      const call = Effect.suspend(() => (calls++, Effect.fail("unavailable")))
      const fiber = yield* Effect.fork(Effect.forEach([1, 2, 3], () => Effect.either(Retry.retry(call, { budget }))))
      yield* TestClock.adjust("5 minutes")
      yield* Fiber.join(fiber)
      expect(calls - 3).toBeLessThanOrEqual(4)
    }))

  it.effect("Bulkhead: the only permit taken and no queue: rejected with full", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1 })
      yield* Effect.fork(bulkhead.run(Effect.never))
      yield* Effect.yieldNow()
      const reason = yield* bulkhead.run(Effect.succeed("admitted")).pipe(
        Effect.catchTag("BulkheadRejected", (e) => Effect.succeed(e.reason))
      )
      expect(reason).toBe("full")
    }))

  it.effect("Timeout.timeout / timeoutFail", () =>
    Effect.gen(function* () {
      const f = yield* Effect.fork(
        Effect.never.pipe(Timeout.timeout("1 second"), Effect.catchTag("TimeoutException", () => Effect.succeed("gave up")))
      )
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(f)).toBe("gave up")
    }))
})

describe("doc examples: providers, testing, config", () => {
  it.effect("Simulated.Service: canServe, faultAt and stats as the comment says", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({
        provider: "openai", model: "gpt-4.1", latency: 0,
        faults: [{ from: "1 minute", to: "2 minutes", status: 503 }]
      })
      expect(model.canServe(model.epoch + 30_000)).toBe(true)
      expect(model.canServe(model.epoch + 90_000)).toBe(false)
      const fault = Option.getOrThrow(model.faultAt(model.epoch + 90_000))
      expect(fault).toMatchObject({ status: 503 })
      expect(Duration.toMillis((fault as { from: Duration.Duration }).from)).toBe(60_000)
      yield* model.complete(Chat.prompt("Hi"))
      expect(yield* model.stats).toMatchObject({ calls: 1, succeeded: 1 })
    }))

  it.effect("Simulated.make: the answer after exactly 2 seconds, rate limited from 1 to 2 minutes", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({
        provider: "openai", model: "gpt-4.1-mini", latency: "2 seconds",
        faults: [{ from: "1 minute", to: "2 minutes", status: 429, retryAfter: "30 seconds" }]
      })
      const fiber = yield* Effect.fork(model.complete(Chat.prompt("Hi")))
      yield* TestClock.adjust("1999 millis")
      expect(fiber.unsafePoll()).toBe(null)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber)).text).toBe("openai/gpt-4.1-mini: Hi")
      expect(model.canServe(model.epoch + 90_000)).toBe(false)
    }))

  it.live("MockServer.make: a 429 with retryAfter 2 seconds, then an answer, over real HTTP", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ faults: [MockServer.status(429, { retryAfter: { seconds: 2 } })] })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: server.url })
      const first = yield* Effect.flip(model.complete(Chat.prompt("hi")))
      const second = yield* model.complete(Chat.prompt("hi"))
      expect(first._tag).toBe("RateLimited")
      expect(first._tag === "RateLimited" && first.retryAfter && Duration.toMillis(first.retryAfter)).toBe(2000)
      expect(second.text.length).toBeGreaterThan(0)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("Config.load the demo, toRouterConfig, Router.make: it answers", () =>
    Effect.gen(function* () {
      const { config } = yield* Config.load("examples/configs/demo.yaml")
      const router = yield* Router.make(yield* Config.toRouterConfig(config))
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("Hello")))
      yield* TestClock.adjust("1 minute")
      const { meta } = yield* Fiber.join(fiber)
      expect(router.chains).toContain(meta.chain)
    }).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodeHttpClient.layerUndici))))

  it.effect("Config.check: maxAttempts 0 is a problem, as the example's comment says", () =>
    Effect.gen(function* () {
      const { config } = yield* Config.load("examples/configs/demo.yaml")
      const tuned: Config.ConfigFile = { ...config, policy: { retry: { maxAttempts: 0 } } }
      expect(Config.check(tuned).map(Config.formatProblem)).toEqual([
        "policy.retry.maxAttempts: Expected a positive number, actual 0"
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("provider adapters: a baseUrl that is no http(s) URL is refused at construction", () => {
  const makers = [
    ["openai", (baseUrl: string) => OpenAi.make({ model: "m", baseUrl })],
    ["anthropic", (baseUrl: string) => Anthropic.make({ model: "m", baseUrl })],
    ["gemini", (baseUrl: string) => Gemini.make({ model: "m", baseUrl })]
  ] as const
  for (const [name, make] of makers) {
    it.effect(`${name}: a defect naming the option at make, not a retriable TransportError at every call`, () =>
      Effect.gen(function* () {
        for (const baseUrl of ["not a url", "ftp://example.com/v1", "127.0.0.1:11434/v1"]) {
          const exit = yield* Effect.exit(make(baseUrl))
          expect(Exit.isFailure(exit) && Cause.isDieType(exit.cause) && String(exit.cause.defect)).toMatch(
            /baseUrl must be an http:\/\/ or https:\/\/ URL/
          )
        }
        expect(Exit.isSuccess(yield* Effect.exit(make("http://127.0.0.1:11434/v1")))).toBe(true)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  }
})

describe("doc examples: the pure helpers' stated values", () => {
  it("llm, router and resilience helpers return what their examples say", () => {
    expect(Classifier.complexity(Chat.prompt("Translate 'hello' to Spanish"))).toBe("simple")
    expect(Classifier.complexity(Chat.prompt("Compare microservices vs monolith trade-offs"))).toBe("complex")
    expect(Classifier.defaultTiers.complex).toBe("premium")
    const classify = Classifier.heuristic({ tiers: Classifier.defaultTiers })
    expect(classify(Chat.prompt("List three colours"))).toBe("budget")
    expect(classify(Chat.prompt("hi", { metadata: { task: "code_generation" } }))).toBe("code_generation")
    expect(DegradedCache.key(Chat.prompt("  What is Effect? "))).toBe(DegradedCache.key(Chat.prompt("What is Effect?")))
    expect(DegradedCache.key(Chat.prompt("if x:\n    y"))).not.toBe(DegradedCache.key(Chat.prompt("if x:\n  y")))
    expect(Policy.defaults.timeouts.total).toBe("120 seconds")
    const resolved = Policy.resolve(Policy.defaults, { retry: { maxAttempts: 3 } })
    expect([resolved.retry.maxAttempts, resolved.retry.base]).toEqual([3, "200 millis"])
    expect(Tokens.estimate(Chat.prompt("Hello there"))).toBe(7)
    expect(Tokens.required(Chat.prompt("Hello there", { maxTokens: 100 }))).toBe(107)
    expect(ModelInfo.cost({ input: 3, output: 15 }, { inputTokens: 1_000, outputTokens: 500 })).toBeCloseTo(0.0105, 10)
    expect(
      ModelInfo.cost({ input: 3, output: 15, cachedInput: 0.3 }, { inputTokens: 100_100, outputTokens: 10, cacheReadTokens: 100_000 })
    ).toBeCloseTo(0.03045, 10)
    expect(Chat.addUsage({ inputTokens: 1_000, outputTokens: 50, cacheReadTokens: 800 }, { inputTokens: 1_100, outputTokens: 70 }))
      .toEqual({ inputTokens: 2_100, outputTokens: 120, cacheReadTokens: 800 })
    const acc = Chat.accumulator({ id: "1", provider: "p", model: "m" })
    acc.add({ _tag: "TextDelta", text: "Hel" })
    acc.add({ _tag: "TextDelta", text: "lo" })
    acc.add({ _tag: "Finish", reason: "stop" })
    expect(acc.response().text).toBe("Hello")
    expect(Chat.messageText({ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] })).toBe("ab")
    expect(Chat.isContent({ _tag: "Finish", reason: "stop" })).toBe(false)
    const info: ModelInfo.ModelInfo = {
      provider: "anthropic", model: "claude-haiku-4-5", contextWindow: 200_000,
      price: { input: 1, output: 5 }, responseFormats: ["json_schema"]
    }
    expect(ModelInfo.honours(info, Chat.prompt("Hi"))).toBe(true)
    expect(ModelInfo.honours(info, Chat.prompt("Hi", { responseFormat: { type: "json_object" } }))).toBe(false)
    expect(
      Option.map(retryAfter(new RateLimited({ provider: "p", model: "m", message: "429", retryAfter: Duration.seconds(3) })), Duration.toMillis)
    ).toEqual(Option.some(3000))
    expect(fromStatus(529, { provider: "anthropic", model: "claude-sonnet-4-5", message: "Overloaded" })._tag).toBe("Overloaded")
    expect(isStoppedAnswer(new ContentFiltered({ provider: "p", model: "m", message: "stopped", partialText: "" }))).toBe(true)
    expect(isStoppedAnswer(new ContentFiltered({ provider: "p", model: "m", message: "refused", status: 400 }))).toBe(false)
    expect(CircuitBreaker.defaultClassifier(Exit.succeed("answer"))).toBe("success")
    expect(CircuitBreaker.defaultClassifier(Exit.fail("overloaded"))).toBe("failure")
    expect(CircuitBreaker.defaultClassifier(Exit.die(new Error("bug")))).toBe("failure")
    expect(CircuitBreaker.defaultClassifier(Exit.interrupt(FiberId.none))).toBe("ignored")
    expect(Config.gatewayDefaults.host).toBe("127.0.0.1")
  })
})

describe("doc examples: Observability.layer over Router.layer", () => {
  it.scoped("a fallback is recorded, counted and rendered", () =>
    Effect.gen(function* () {
      const down = yield* Simulated.make({ provider: "anthropic", model: "sonnet", latency: 0, faults: [{ status: 503 }] })
      const up = yield* Simulated.make({ provider: "openai", model: "mini", latency: 0 })
      const config: Router.Config = {
        targets: { sonnet: { model: down }, mini: { model: up } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 } }
      }
      const live = Observability.layer({ labels: { router: "main" } }).pipe(Layer.provideMerge(Router.layer(config)))
      const context = yield* Layer.build(live)
      const fiber = yield* Effect.fork(Router.complete(Chat.prompt("Hi")).pipe(Effect.provide(context)))
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(fiber)).meta.fallbacks).toBe(1)
      const observability = Context.get(context, Observability.Observability)
      yield* observability.flush
      expect((yield* observability.recentFallbacks).length).toBe(1)
      expect(yield* observability.render).toMatch(/llm_fallbacks_total\{[^}]*router="main"[^}]*\} 1/)
    }))
})

describe("Backoff: a negative duration is refused as an invalid option, not read as zero", () => {
  it("Backoff.schedule, Retry.make and Backoff.delay throw a RangeError", () => {
    expect(() => Backoff.schedule({ base: "-1 seconds" })).toThrow(RangeError)
    expect(() => Backoff.schedule({ base: -100 })).toThrow(/Backoff: base must be/)
    expect(() => Retry.make({ cap: "-5 seconds" })).toThrow(/Backoff: cap must be/)
    expect(() => Backoff.delay({ base: "-100 millis" }, 0, Duration.zero, 0.5)).toThrow(RangeError)
    expect(() => Backoff.schedule({ base: 0, cap: "0 millis" })).not.toThrow()
  })
})

describe("CircuitBreaker: a negative duration is an invalid option, not read as zero", () => {
  it.effect("a negative openDuration base or cap is the defect of an invalid option at make", () =>
    Effect.gen(function* () {
      for (const openDuration of [{ base: "-10 seconds" }, { cap: -1 }] as const) {
        const exit = yield* Effect.exit(CircuitBreaker.make({ openDuration }))
        expect(Exit.isFailure(exit) && Cause.isDieType(exit.cause) && String(exit.cause.defect)).toMatch(
          /CircuitBreaker\.make: openDuration\.(base|cap) must not be negative/
        )
      }
    }))

  it("a negative slowCallDuration throws a RangeError (it would be read as zero: every call slow)", () => {
    expect(() =>
      CircuitBreaker.slowCallRate({ threshold: 0.5, window: CircuitBreaker.countWindow(10), slowCallDuration: "-1 seconds" })
    ).toThrow(/slowCallRate: slowCallDuration must not be negative/)
  })
})

describe("provider adapters: a negative, zero or unreadable timeout is refused at construction", () => {
  it.effect("a defect naming the option at make, not a Timeout at every call", () =>
    Effect.gen(function* () {
      const cases = [
        [{ connect: "-1 seconds" }, /OpenAi\.make: timeouts\.connect must be longer than zero/],
        [{ idle: 0 }, /OpenAi\.make: timeouts\.idle must be longer than zero/],
        [{ firstToken: "soon" as Duration.DurationInput }, /OpenAi\.make: timeouts\.firstToken must be a duration/]
      ] as const
      for (const [timeouts, message] of cases) {
        const exit = yield* Effect.exit(OpenAi.make({ model: "m", baseUrl: "http://127.0.0.1:1/v1", timeouts }))
        expect(Exit.isFailure(exit) && Cause.isDieType(exit.cause) && String(exit.cause.defect)).toMatch(message)
      }
      const anthropic = yield* Effect.exit(Anthropic.make({ model: "m", timeouts: { idle: "-5 seconds" } }))
      expect(Exit.isFailure(anthropic)).toBe(true)
      const gemini = yield* Effect.exit(Gemini.make({ model: "m", timeouts: { connect: -1 } }))
      expect(Exit.isFailure(gemini)).toBe(true)
      expect(Exit.isSuccess(yield* Effect.exit(OpenAi.make({ model: "m", timeouts: { connect: Duration.infinity } })))).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("interruption reaches every upstream call", () => {
  it.effect("Hedge.run: the loser's finalizer has run when the value is returned", () =>
    Effect.gen(function* () {
      let finalized = false
      const primary = Effect.as(Effect.sleep("2 seconds"), "primary").pipe(Effect.onInterrupt(() => Effect.sync(() => (finalized = true))))
      const backup = Effect.as(Effect.sleep("100 millis"), "backup")
      const fiber = yield* Effect.fork(
        Hedge.run([primary, backup], { delay: "300 millis" }).pipe(Effect.map((value) => [value, finalized] as const))
      )
      yield* TestClock.adjust("400 millis")
      expect(yield* Fiber.join(fiber)).toEqual(["backup", true])
    }))

  it.effect("interrupting a hedged or raced router call interrupts every target's call in flight", () =>
    Effect.gen(function* () {
      const a = yield* Simulated.make({ provider: "a", model: "a", latency: "30 seconds" })
      const b = yield* Simulated.make({ provider: "b", model: "b", latency: "30 seconds" })
      const layer = Router.layer({
        targets: { a: { model: a }, b: { model: b } },
        chains: { hedged: { targets: ["a", "b"], hedge: { delay: "1 second" } }, raced: { targets: ["a", "b"], race: 2 } }
      })
      for (const chain of ["hedged", "raced"]) {
        const fiber = yield* Effect.fork(Router.complete(Chat.prompt("hi"), { chain }).pipe(Effect.provide(layer)))
        yield* TestClock.adjust("2 seconds")
        expect([(yield* a.stats).inFlight, (yield* b.stats).inFlight]).toEqual([1, 1])
        yield* Fiber.interrupt(fiber)
        expect([(yield* a.stats).inFlight, (yield* b.stats).inFlight]).toEqual([0, 0])
      }
    }))
})

describe("Simulated.make: a negative duration is a defect, as its Config schema refuses it", () => {
  it.effect("latency, tokenDelay, errorDelay and a fault's window", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<Simulated.Options> = [
        { provider: "a", model: "b", latency: "-1 seconds" },
        { provider: "a", model: "b", latency: { p50: -5, p99: "1 second" } },
        { provider: "a", model: "b", tokenDelay: -10 },
        { provider: "a", model: "b", errorDelay: "-50 millis" },
        { provider: "a", model: "b", faults: [{ from: "-1 minute", status: 503 }] }
      ]
      for (const options of cases) {
        const exit = yield* Effect.exit(Simulated.make(options))
        expect(Exit.isFailure(exit) && Cause.isDieType(exit.cause) && String(exit.cause.defect), JSON.stringify(options))
          .toMatch(/must not be negative/)
      }
    }))
})
