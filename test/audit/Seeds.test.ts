/**
 * The patterns of the five articles in /work/shared/seeds, written with this
 * library in Effect, typed, over simulated providers in virtual time. Each
 * test names its seed and what already shows it in examples/ or test/.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Schedule, Stream, TestClock } from "effect"
import { Chat, isRetriable, LanguageModel, retryAfter } from "../../src/llm/index.js"
import type { ProviderError } from "../../src/llm/index.js"
import { Simulated } from "../../src/providers/index.js"
import { Backoff, CircuitBreaker, Retry } from "../../src/resilience/index.js"
import { Classifier, Router } from "../../src/router/index.js"

const req = Chat.prompt("Name a prime.")

/** Forks, moves virtual time on, returns the exit. */
const settle = <A, E>(effect: Effect.Effect<A, E>, by: Duration.DurationInput = "5 minutes") =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(by)
    return yield* Fiber.await(fiber)
  })

describe("seeds", () => {
  // seed 000 call_with_fallback, seed 002 "try A, then B", seed 004 ModelFallbackChain
  // (the router's form: examples/fallback-sequential.ts, examples/quickstart.ts)
  it.effect("Effect.orElse chain of providers: the primary's 529 falls over to the backup", () =>
    Effect.gen(function* () {
      const sonnet = yield* Simulated.make({ provider: "anthropic", model: "sonnet", faults: [{ status: 529 }] })
      const mini = yield* Simulated.make({ provider: "openai", model: "mini", reply: "7" })
      const chain: Effect.Effect<Chat.ChatResponse, ProviderError> = sonnet.complete(req).pipe(
        Effect.orElse(() => mini.complete(req))
      )
      const exit = yield* settle(chain)
      expect(Exit.isSuccess(exit) && exit.value.text).toBe("7")
      expect((yield* sonnet.stats).failures).toEqual({ Overloaded: 1 })
    }))

  // seed 000 call_with_retry_and_fallback: exponential backoff with jitter on 429/5xx, no retry on a 400
  // (examples/retry-backoff.ts, test/Retry.test.ts, test/Backoff.test.ts)
  it.effect("Schedule-based retry of a provider call, exponential jittered, only while retriable", () =>
    Effect.gen(function* () {
      const flaky = yield* Simulated.make({ provider: "openai", model: "gpt", faults: [{ to: "1 second", status: 503 }] })
      const retried = flaky.complete(req).pipe(
        Effect.retry({
          schedule: Schedule.exponential("400 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(4))),
          while: isRetriable
        })
      )
      const exit = yield* settle(retried)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect((yield* flaky.stats).calls).toBeGreaterThan(1)

      // the library's own schedule, as a plain Schedule, and a fatal error not retried
      const bad = yield* Simulated.make({ provider: "openai", model: "bad", faults: [{ status: 400 }] })
      const once = bad.complete(req).pipe(
        Effect.retry({ schedule: Backoff.schedule({ base: "100 millis", jitter: "full", maxAttempts: 5 }), while: isRetriable })
      )
      const failed = yield* settle(once)
      expect(Exit.isFailure(failed)).toBe(true)
      expect((yield* bad.stats).calls).toBe(1)

      // Retry.retry with the Retry-After a 429 carries
      const limited = yield* Simulated.make({
        provider: "openai", model: "rl", faults: [{ to: "1 second", status: 429, retryAfter: "2 seconds" }]
      })
      const honoured = limited.complete(req).pipe(
        Retry.retry({ maxAttempts: 3, jitter: "full", while: isRetriable, retryAfter: (e) => retryAfter(e) })
      )
      const exit3 = yield* settle(honoured)
      expect(Exit.isSuccess(exit3)).toBe(true)
      expect((yield* limited.stats).calls).toBe(2)
    }))

  // seed 003 race_models (asyncio FIRST_COMPLETED, cancel the rest); examples/racing.ts
  it.effect("Effect.raceAll of providers: the fastest wins, the others are interrupted", () =>
    Effect.gen(function* () {
      const slow = yield* Simulated.make({ provider: "a", model: "slow", latency: "5 seconds" })
      const fast = yield* Simulated.make({ provider: "b", model: "fast", latency: "1 second" })
      const exit = yield* settle(Effect.raceAll([slow.complete(req), fast.complete(req)]), "10 seconds")
      expect(Exit.isSuccess(exit) && exit.value.model).toBe("fast")
      expect((yield* slow.stats).interrupted).toBe(1)
    }))

  // seed 004 chat(timeout=30.0) and seed 003 timeout=15
  it.effect("Effect.timeout around a call: a stalled provider is abandoned and its call interrupted", () =>
    Effect.gen(function* () {
      const stalled = yield* Simulated.make({ provider: "a", model: "stalled", latency: "1 minute" })
      const exit = yield* settle(stalled.complete(req).pipe(Effect.timeout("15 seconds")), "20 seconds")
      expect(Exit.isFailure(exit) && Cause.isFailType(exit.cause) && exit.cause.error._tag).toBe("TimeoutException")
      expect((yield* stalled.stats).interrupted).toBe(1)
    }))

  // README "A short tour"; test/Layers.test.ts
  it.effect("Layers: app code asks LanguageModel; a Simulated layer, then the Router's, provide it", () =>
    Effect.gen(function* () {
      const app = LanguageModel.complete(req).pipe(Effect.map((r) => r.text))
      const alone = yield* settle(app.pipe(Effect.provide(Simulated.layer({ provider: "sim", model: "echo", reply: "2" }))))
      expect(Exit.isSuccess(alone) && alone.value).toBe("2")

      const routed = Layer.unwrapEffect(
        Effect.gen(function* () {
          const down = yield* Simulated.make({ provider: "anthropic", model: "sonnet", faults: [{ status: 529 }] })
          const up = yield* Simulated.make({ provider: "openai", model: "mini", reply: "3" })
          return Router.layer({
            targets: { sonnet: { model: down }, mini: { model: up } },
            chains: { default: ["sonnet", "mini"] },
            policy: { retry: { maxAttempts: 2, jitter: "full" } }
          })
        })
      )
      const viaRouter = yield* settle(app.pipe(Effect.provide(routed)))
      expect(Exit.isSuccess(viaRouter) && viaRouter.value).toBe("3")
    }))

  // interruption: the caller going away cancels the upstream call
  it.effect("interrupting a router call interrupts the provider's call", () =>
    Effect.gen(function* () {
      const slow = yield* Simulated.make({ provider: "a", model: "slow", latency: "30 seconds" })
      const fiber = yield* Effect.fork(
        Router.complete(req).pipe(
          Effect.provide(Router.layer({ targets: { a: { model: slow } }, chains: { default: ["a"] } }))
        )
      )
      yield* TestClock.adjust("1 second")
      expect((yield* slow.stats).inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      const stats = yield* slow.stats
      expect(stats.inFlight).toBe(0)
      expect(stats.interrupted).toBe(1)
    }))

  // seed 002 MultiProviderRouter circuit_breaker_threshold / seed 004 ProviderCircuitBreaker
  // (examples/circuit-breaker.ts, test/CircuitBreaker.test.ts)
  it.effect("a circuit breaker around a provider call opens after N failures, typed CircuitOpen", () =>
    Effect.gen(function* () {
      const down = yield* Simulated.make({ provider: "a", model: "down", faults: [{ status: 500 }] })
      const breaker = yield* CircuitBreaker.make<ProviderError>({
        name: "a", trip: CircuitBreaker.consecutiveFailures(3), openDuration: { base: "60 seconds" }
      })
      const call: Effect.Effect<Chat.ChatResponse, ProviderError | CircuitBreaker.CircuitOpen> = down
        .complete(req)
        .pipe(CircuitBreaker.protect(breaker))
      for (let i = 0; i < 3; i++) yield* settle(call, "1 second")
      const fourth = yield* settle(call, "1 second")
      expect(Exit.isFailure(fourth) && Cause.isFailType(fourth.cause) && fourth.cause.error._tag).toBe("CircuitOpen")
      expect((yield* down.stats).calls).toBe(3)
    }))

  // seed 003 QUALITY_TIERS / tiered_complete, seed 001 task_type chains (examples/tiers.ts)
  it.effect("quality tiers as named chains, picked per request", () =>
    Effect.gen(function* () {
      const opus = yield* Simulated.make({ provider: "anthropic", model: "opus", faults: [{ status: 503 }] })
      const gpt = yield* Simulated.make({ provider: "openai", model: "gpt" })
      const flash = yield* Simulated.make({ provider: "google", model: "flash" })
      const layer = Router.layer({
        targets: { opus: { model: opus }, gpt: { model: gpt }, flash: { model: flash } },
        chains: { premium: ["opus", "gpt"], budget: ["flash", "gpt"] },
        defaultChain: "premium",
        policy: { retry: { maxAttempts: 1 } }
      })
      const exit = yield* settle(
        Effect.all([Router.complete(req, { chain: "premium" }), Router.complete(req, { chain: "budget" })]).pipe(
          Effect.provide(layer)
        )
      )
      if (!Exit.isSuccess(exit)) throw new Error(String(exit))
      const [premium, budget] = exit.value
      expect([premium.meta.target, premium.meta.fallbacks, budget.meta.target]).toEqual(["gpt", 1, "flash"])
    }))

  // seed 000 stream_with_fallback: a stream that fails before its first token falls over (examples/streaming.ts)
  it.scoped("streaming fallback before the first token", () =>
    Effect.gen(function* () {
      const down = yield* Simulated.make({ provider: "anthropic", model: "sonnet", faults: [{ status: 529 }] })
      const up = yield* Simulated.make({ provider: "openai", model: "mini", reply: "hello there" })
      const router = yield* Router.make({
        targets: { sonnet: { model: down }, mini: { model: up } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const exit = yield* settle(
        Effect.scoped(
          Effect.flatMap(router.stream(req), ({ chunks, meta }) =>
            Stream.runCollect(chunks).pipe(Effect.map((all) => ({ target: meta.target, n: all.length })))
          )
        )
      )
      if (!Exit.isSuccess(exit)) throw new Error(String(exit))
      expect(exit.value.target).toBe("mini")
      expect(exit.value.n).toBeGreaterThan(0)
    }))

  // seed 004 chat(timeout=30.0) around the whole chain; seed 000 streaming, the reader leaving early
  it.effect("Effect.timeout around a router call, and a stream left early, both cancel the upstream call", () =>
    Effect.gen(function* () {
      const slow = yield* Simulated.make({ provider: "a", model: "slow", latency: "1 minute", tokenDelay: "1 second" })
      const layer = Router.layer({ targets: { a: { model: slow } }, chains: { default: ["a"] }, policy: { retry: { maxAttempts: 1 }, timeouts: { firstToken: "2 minutes" } } })
      const timedOut = yield* settle(Router.complete(req).pipe(Effect.timeout("30 seconds"), Effect.provide(layer)), "31 seconds")
      expect(Exit.isFailure(timedOut) && Cause.isFailType(timedOut.cause) && timedOut.cause.error._tag).toBe("TimeoutException")
      expect(yield* slow.stats).toMatchObject({ inFlight: 0, interrupted: 1 })

      const firstChunk = Effect.scoped(
        Effect.flatMap(Router.stream(req), ({ chunks }) => Stream.runHead(chunks.pipe(Stream.filter(Chat.isContent))))
      ).pipe(Effect.provide(layer))
      const exit = yield* settle(firstChunk, "2 minutes")
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* slow.stats).toMatchObject({ inFlight: 0, interrupted: 2 })
    }))

  // seed 004 CostAwareRouter (classify_complexity, then the cheapest model that fits) and seed 002's
  // cost balancing; examples/cost-aware.ts and examples/tiers.ts show the same at length
  it.effect("cost-aware routing: the cheapest target first, a complex prompt to the premium tier", () =>
    Effect.gen(function* () {
      const opus = yield* Simulated.make({ provider: "anthropic", model: "opus", latency: 0, info: { price: { input: 15, output: 75 } } })
      const mini = yield* Simulated.make({ provider: "openai", model: "mini", latency: 0, info: { price: { input: 0.4, output: 1.6 } } })
      const layer = Router.layer({
        targets: { opus: { model: opus }, mini: { model: mini } },
        chains: {
          premium: ["opus", "mini"],
          standard: { targets: ["opus", "mini"], strategy: "cost" },
          budget: { targets: ["mini", "opus"], strategy: "cost" }
        },
        defaultChain: "standard",
        classifier: Classifier.heuristic({ tiers: Classifier.defaultTiers })
      })
      const exit = yield* settle(
        Effect.all([
          Router.complete(Chat.prompt("List three colours")),
          Router.complete(Chat.prompt("Compare microservices vs monolith trade-offs in depth, with a migration plan"))
        ]).pipe(Effect.provide(layer))
      )
      if (!Exit.isSuccess(exit)) throw new Error(String(exit))
      const [simple, complex] = exit.value
      expect([simple.meta.chain, simple.meta.target]).toEqual(["budget", "mini"])
      expect([complex.meta.chain, complex.meta.target]).toEqual(["premium", "opus"])
    }))

  // seed 004 DegradedModeHandler.handle_total_failure: a static answer when every provider is down
  // (examples/degraded-mode.ts also shows the last-known-good cache)
  it.effect("degraded mode: every target down, the chain answers its static fallback, marked degraded", () =>
    Effect.gen(function* () {
      const a = yield* Simulated.make({ provider: "a", model: "a", latency: 0, faults: [{ status: 503 }] })
      const b = yield* Simulated.make({ provider: "b", model: "b", latency: 0, faults: [{ status: 500 }] })
      const layer = Router.layer({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: { targets: ["a", "b"], fallbackResponse: "We are busy; please try again shortly." } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const exit = yield* settle(Router.complete(req).pipe(Effect.provide(layer)))
      if (!Exit.isSuccess(exit)) throw new Error(String(exit))
      expect(exit.value.response.text).toBe("We are busy; please try again shortly.")
      expect(exit.value.meta.degraded).toBe("static")
    }))
})
