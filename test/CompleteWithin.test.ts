/**
 * A completion under a deadline the HTTP adapters keep themselves (on the
 * client's timers on the live clock, on the fiber's clock otherwise), which
 * the router uses for its attempt deadline instead of forking a fiber: it
 * fails with the caller's error once the deadline passes, in any phase,
 * aborting the request; a nearer phase deadline keeps its own error; a
 * wrapper's `complete` does not carry it, and the router then times the
 * call itself, with the same outcome.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Redacted, TestClock } from "effect"
import * as Chat from "../src/llm/Chat.js"
import type { ChainExhausted } from "../src/llm/FailoverError.js"
import * as CompleteWithin from "../src/llm/internal/completeWithin.js"
import type * as LanguageModel from "../src/llm/LanguageModel.js"
import type { ProviderError } from "../src/llm/ProviderError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

class Late {
  readonly _tag = "Late"
}

const late = () => new Late()

const adapter = (server: MockServer.MockServer, connect?: Duration.DurationInput) =>
  OpenAi.make({
    model: "gpt-4o-mini",
    apiKey: Redacted.make("sk-test"),
    baseUrl: server.baseUrls.openai,
    ...(connect === undefined ? {} : { timeouts: { connect } })
  })

const withinOf = (model: LanguageModel.Service<ProviderError>) => {
  const within = CompleteWithin.of(model.complete)
  if (within === undefined) throw new Error("the adapter's complete carries no CompleteWithin")
  return within
}

const request = Chat.prompt("hello")

describe("CompleteWithin", () => {
  // the live clock: the adapters keep the deadline on their client's timers only there
  it.live("fails with the caller's error when the headers or the body miss the deadline, and aborts the request", () =>
    Effect.gen(function* () {
      for (const [phase, fault] of [["headers", MockServer.stall], ["body", MockServer.stallAfter(0)]] as const) {
        const server = yield* MockServer.make({ faults: [fault] })
        const within = withinOf(yield* adapter(server))
        const error = yield* Effect.flip(within(request, 80, late))
        expect(error, phase).toBeInstanceOf(Late)
        yield* MockServer.awaitAborted(server, 1)
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.live("answers as complete does within the deadline, and a nearer connect deadline keeps its own error", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ reply: { text: "in time" } })
      const within = withinOf(yield* adapter(server))
      const answer = yield* within(request, 5_000, late)
      expect(answer.text).toBe("in time")

      const stalled = yield* MockServer.make({ faults: [MockServer.stall] })
      const short = withinOf(yield* adapter(stalled, "50 millis"))
      const error = yield* Effect.flip(short(request, 5_000, late))
      expect(error).toMatchObject({ _tag: "Timeout", phase: "connect" })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.scoped("every HTTP adapter's complete carries it", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make()
      const apiKey = Redacted.make("sk-test")
      const models = [
        yield* OpenAi.make({ model: "gpt-4o-mini", apiKey, baseUrl: server.baseUrls.openai }),
        yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey, baseUrl: server.baseUrls.anthropic }),
        yield* Gemini.make({ model: "gemini-2.5-flash", apiKey, baseUrl: server.baseUrls.gemini })
      ]
      for (const model of models) expect(CompleteWithin.of(model.complete)).toBeTypeOf("function")
    }).pipe(Effect.provide(UndiciHttpClient.layer)))

  it.live("with connect and attempt deadlines equal, the caller's error wins, as its timer (armed first) would under timeoutFail", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ faults: [MockServer.stall] })
      const within = withinOf(yield* adapter(server, "60 millis"))
      const error = yield* Effect.flip(within(request, 60, late))
      expect(error).toBeInstanceOf(Late)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.scoped("keeps the deadline on the fiber's clock when it is not the live one, waiting for headers or for the body", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ faults: [MockServer.stall, MockServer.stallAfter(0)] })
      const within = withinOf(yield* adapter(server))
      for (const [index, path] of ["headers", "body"].entries()) {
        const call = yield* Effect.fork(Effect.either(within(request, 2_000, late)))
        yield* MockServer.awaitRequests(server, index + 1)
        // the body's half is on its way once the headers are: let it come before time moves
        if (path === "body") yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        yield* TestClock.adjust("1999 millis")
        expect(call.unsafePoll(), path).toBeNull()
        yield* TestClock.adjust("1 millis")
        const result = yield* Fiber.join(call)
        expect(Either.isLeft(result) && result.left, path).toBeInstanceOf(Late)
        yield* MockServer.awaitAborted(server, index + 1)
      }
    }).pipe(Effect.provide(UndiciHttpClient.layer)))

  it.live("the router's attempt deadline: the same outcome kept by the adapter or, for a wrapper, by the router", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ faults: [MockServer.stall, MockServer.stall] })
      const model = yield* adapter(server)
      // a wrapper builds its own complete: nothing rides on it, so the router forks to time it
      const wrapped: LanguageModel.Service<ProviderError> = { ...model, complete: (r) => model.complete(r) }
      // the adapter's, watched: the router hands it the attempt's deadline
      const within = withinOf(model)
      const deadlines: Array<number> = []
      const watched: LanguageModel.Service<ProviderError> = {
        ...model,
        complete: CompleteWithin.attach(model.complete, (r, millis, onTimeout) => {
          deadlines.push(millis)
          return within(r, millis, onTimeout)
        })
      }
      for (const target of [watched, wrapped]) {
        const router = yield* Router.make({
          targets: { only: { model: target } },
          chains: { default: ["only"] },
          policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "80 millis" } },
          cache: false
        })
        const error = (yield* Effect.flip(router.complete(request))) as ChainExhausted
        expect(error._tag).toBe("ChainExhausted")
        expect(error.attempts.map((a) => a.error)).toMatchObject([{ _tag: "Timeout", phase: "attempt" }])
      }
      expect(deadlines).toEqual([80])
      yield* MockServer.awaitAborted(server, 2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))
})
