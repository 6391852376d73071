import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as RetryBudget from "../src/resilience/RetryBudget.js"

const run = Effect.runSync

describe("RetryBudget", () => {
  it.effect("starts full and follows gRPC A6: -1 per failure, +ratio per success, allowed above half", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      expect(budget.maxTokens).toBe(10)
      expect(budget.tokenRatio).toBe(0.1)
      expect(yield* budget.tokens).toBe(10)
      expect(yield* budget.tryAcquire).toBe(true)

      yield* Effect.repeatN(budget.recordFailure, 3) // 4 failures
      expect(yield* budget.tokens).toBe(6)
      expect(yield* budget.tryAcquire).toBe(true)

      yield* budget.recordFailure
      expect(yield* budget.tokens).toBe(5)
      expect(yield* budget.tryAcquire).toBe(false) // exactly half is not above half

      yield* budget.recordSuccess
      expect(yield* budget.tokens).toBe(5.1)
      expect(yield* budget.tryAcquire).toBe(true)
    }))

  it.effect("never goes below 0 or above maxTokens", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ maxTokens: 3, tokenRatio: 0.5 })
      yield* Effect.repeatN(budget.recordFailure, 9)
      expect(yield* budget.tokens).toBe(0)
      yield* Effect.repeatN(budget.recordSuccess, 99)
      expect(yield* budget.tokens).toBe(3)
    }))

  it.effect("counts exactly: fifty successes of 0.1 make exactly 5, which is not above half", () =>
    Effect.gen(function*() {
      // In floating point, 0.1 added fifty times is 5.000000000000002 > 5.
      const budget = yield* RetryBudget.make()
      yield* Effect.repeatN(budget.recordFailure, 9)
      yield* Effect.repeatN(budget.recordSuccess, 49)
      expect(yield* budget.tokens).toBe(5)
      expect(yield* budget.tryAcquire).toBe(false)
      yield* budget.recordSuccess
      expect(yield* budget.tryAcquire).toBe(true)
    }))

  it.prop(
    "matches the A6 model over any sequence of outcomes",
    {
      maxTokens: fc.integer({ min: 1, max: 100_000 }).map((m) => m / 1000),
      tokenRatio: fc.integer({ min: 1, max: 2_000 }).map((m) => m / 1000),
      outcomes: fc.array(fc.boolean(), { maxLength: 300 })
    },
    ({ maxTokens, outcomes, tokenRatio }) => {
      const budget = RetryBudget.unsafeMake({ maxTokens, tokenRatio })
      // the model, in exact thousandths
      const max = Math.round(maxTokens * 1000)
      const ratio = Math.round(tokenRatio * 1000)
      let tokens = max
      for (const success of outcomes) {
        run(success ? budget.recordSuccess : budget.recordFailure)
        tokens = success ? Math.min(max, tokens + ratio) : Math.max(0, tokens - 1000)
        expect(run(budget.tokens)).toBe(tokens / 1000)
        expect(run(budget.tryAcquire)).toBe(tokens > max / 2)
      }
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.effect("is safe under concurrent updates", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ maxTokens: 1000, tokenRatio: 0.5 })
      const failure = Effect.zipRight(Effect.yieldNow(), budget.recordFailure)
      const success = Effect.zipRight(Effect.yieldNow(), budget.recordSuccess)
      // 600 failures and 400 successes interleaved over 1000 fibers; no clamping is reached
      yield* Effect.all(
        Array.from({ length: 1000 }, (_, i) => (i % 5 < 3 ? failure : success)),
        { concurrency: "unbounded", discard: true }
      )
      expect(yield* budget.tokens).toBe(1000 - 600 + 200)
    }))

  it.effect("keeps separate budgets apart", () =>
    Effect.gen(function*() {
      const a = yield* RetryBudget.make()
      const b = yield* RetryBudget.make()
      yield* a.recordFailure
      expect(yield* a.tokens).toBe(9)
      expect(yield* b.tokens).toBe(10)
    }))

  it.effect("rounds its settings to 3 decimal places, as A6 does", () =>
    Effect.gen(function*() {
      const budget = RetryBudget.unsafeMake({ maxTokens: 7.0004, tokenRatio: 0.12345 })
      expect(budget.maxTokens).toBe(7)
      expect(budget.tokenRatio).toBe(0.123)
      yield* budget.recordFailure
      yield* budget.recordSuccess
      expect(yield* budget.tokens).toBe(6.123)
    }))

  it("rejects settings that cannot work", () => {
    for (const maxTokens of [0, -1, 0.0004, Number.NaN, Infinity]) {
      expect(() => RetryBudget.unsafeMake({ maxTokens })).toThrow(RangeError)
    }
    for (const tokenRatio of [0, -0.1, 0.0004, Number.NaN, Infinity]) {
      expect(() => RetryBudget.unsafeMake({ tokenRatio })).toThrow(RangeError)
    }
  })

  it.effect("unlimited always allows and records nothing", () =>
    Effect.gen(function*() {
      const budget = RetryBudget.unlimited
      yield* Effect.repeatN(budget.recordFailure, 100)
      expect(yield* budget.tryAcquire).toBe(true)
      expect(yield* budget.tokens).toBe(Infinity)
    }))

  describe("named budgets and stores", () => {
    const recordingStore = () => {
      const changes: Array<number> = []
      const registrations: Array<RetryBudget.Registration> = []
      const store: RetryBudget.Store = {
        register: (registration) =>
          Effect.sync(() => {
            registrations.push(registration)
            return { onChange: (delta) => changes.push(delta) }
          })
      }
      return { store, changes, registrations }
    }

    it.effect("a named budget reports every change after clamping, and takes the shared count", () =>
      Effect.gen(function*() {
        const { changes, registrations, store } = recordingStore()
        const budget = yield* RetryBudget.make({ name: "gpt", maxTokens: 4, tokenRatio: 0.5 }).pipe(
          Effect.provide(RetryBudget.layer(store))
        )
        expect(registrations.map((r) => [r.name, r.maxTokens, r.tokenRatio])).toEqual([["gpt", 4, 0.5]])
        yield* budget.recordSuccess // full: moves nothing, reports nothing
        yield* budget.recordFailure
        yield* budget.recordSuccess
        expect(changes).toEqual([-1, 0.5])
        // another instance saw an outage: the shared count is 1
        yield* registrations[0]!.apply(1)
        expect(yield* budget.tokens).toBe(1)
        expect(yield* budget.tryAcquire).toBe(false)
        yield* budget.recordFailure
        yield* budget.recordFailure // already 0: reports nothing
        expect(changes).toEqual([-1, 0.5, -1])
        yield* registrations[0]!.apply(99) // clamped to the capacity
        expect(yield* budget.tokens).toBe(4)
      }))

    it.effect("an unnamed budget never registers, and a named one without a store stays local", () =>
      Effect.gen(function*() {
        const { registrations, store } = recordingStore()
        const unnamed = yield* RetryBudget.make({ maxTokens: 2 }).pipe(Effect.provide(RetryBudget.layer(store)))
        yield* unnamed.recordFailure
        expect(registrations).toEqual([])
        const local = yield* RetryBudget.make({ name: "x", maxTokens: 2 })
        yield* local.recordFailure
        expect(yield* local.tokens).toBe(1)
        const explicit = yield* RetryBudget.make({ name: "y", store })
        expect(registrations.map((r) => r.name)).toEqual(["y"])
        expect(yield* explicit.tokens).toBe(10)
      }))

    it.effect("a store that throws does not break the budget", () =>
      Effect.gen(function*() {
        const store: RetryBudget.Store = {
          register: () =>
            Effect.succeed({
              onChange: () => {
                throw new Error("down")
              }
            })
        }
        const budget = yield* RetryBudget.make({ name: "z", maxTokens: 2, store })
        yield* budget.recordFailure
        expect(yield* budget.tokens).toBe(1)
      }))
  })
})
