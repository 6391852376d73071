/**
 * Fibers whose failures their forker handles log no "Fiber terminated with
 * an unhandled error" line (Effect's Debug line for a fiber ending in
 * failure, stack trace and all): a race's and a hedge's failed members, a
 * deadline's child. Under `--log-level debug` every failed attempt of a
 * hedge printed one. A fiber a provider forks of its own still does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Fiber, FiberRef, Logger, LogLevel, Option, Stream, TestClock } from "effect"
import { Chat, LanguageModel } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Hedge, Timeout } from "../src/resilience/index.js"
import { Router } from "../src/router/index.js"

/** Runs `program` at Debug, returning the lines Effect logged about unhandled errors, by their cause's first line. */
const unhandled = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ message, cause }) => {
      const text = Array.isArray(message) ? message.join(" ") : String(message)
      if (text.includes("unhandled error")) lines.push(Cause.pretty(cause).split("\n")[0]!)
    })
    yield* program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.Debug))
    return lines
  })

const settled = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(program)
    yield* TestClock.adjust("1 minute")
    return yield* Fiber.join(fiber)
  })

describe("unhandled-error lines", () => {
  it.scoped("none for a race's, a hedge's or a deadline's failed members, answered whole or streamed", () =>
    Effect.gen(function* () {
      const down = yield* Simulated.make({ provider: "down", model: "d", latency: "100 millis", faults: [{ status: 500 }] })
      const up = yield* Simulated.make({ provider: "up", model: "u", latency: "300 millis" })
      const router = yield* Router.make({
        targets: { down: { model: down }, up: { model: up } },
        chains: { race: { targets: ["down", "up"], race: 2 }, hedge: { targets: ["down", "up"], hedge: { delay: "50 millis" } } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const lines = yield* unhandled(
        Effect.gen(function* () {
          for (const chain of ["race", "hedge"]) {
            const { meta } = yield* settled(router.complete(Chat.prompt("x"), { chain }))
            expect(meta.target).toBe("up")
            const streamed = yield* settled(
              Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("x"), { chain }), (s) => Stream.runCollect(s.chunks)))
            )
            expect(streamed.length).toBeGreaterThan(0)
          }
          // the library's own combinators, used directly
          expect(yield* settled(Hedge.race([Effect.fail("down"), Effect.as(Effect.sleep("20 millis"), "up")]))).toBe("up")
          const late = yield* settled(Effect.flip(Timeout.timeoutFail(Effect.fail("own failure"), { duration: "1 second", onTimeout: () => "late" })))
          expect(late).toBe("own failure")
        })
      )
      // each request's call to the down target failed
      expect((yield* down.stats).calls).toBe(4)
      expect(lines).toEqual([])
    })
  )

  it.scoped("the caller's level is its own again once a race, a hedge or a deadline has returned", () =>
    Effect.gen(function* () {
      const levelAfter = <A, E>(program: Effect.Effect<A, E>) =>
        Effect.gen(function* () {
          yield* settled(Effect.either(program))
          return yield* FiberRef.get(FiberRef.unhandledErrorLogLevel)
        }).pipe(Effect.withUnhandledErrorLogLevel(Option.some(LogLevel.Warning)), Logger.withMinimumLogLevel(LogLevel.Debug))
      const after = [
        yield* levelAfter(Hedge.race([Effect.fail("down"), Effect.as(Effect.sleep("20 millis"), "up")])),
        yield* levelAfter(Hedge.race([Effect.fail("down"), Effect.fail("down too")])),
        yield* levelAfter(Hedge.run([Effect.fail("down"), Effect.succeed("up")], { delay: "10 millis" })),
        yield* levelAfter(Timeout.timeoutFail(Effect.fail("own failure"), { duration: "1 second", onTimeout: () => "late" })),
        yield* levelAfter(Timeout.timeoutFail(Effect.never, { duration: "1 second", onTimeout: () => "late" }))
      ]
      expect(after).toEqual(after.map(() => Option.some(LogLevel.Warning)))
    })
  )

  it.scoped("still one for a fiber a provider forks of its own and leaves failing", () =>
    Effect.gen(function* () {
      const up = yield* Simulated.make({ provider: "up", model: "u", latency: "300 millis" })
      const careless: LanguageModel.Service = {
        ...up,
        complete: (request) => Effect.zipRight(Effect.fork(Effect.fail("the provider's own")), up.complete(request))
      }
      const router = yield* Router.make({
        targets: { careless: { model: careless }, up: { model: up } },
        chains: { race: { targets: ["careless", "up"], race: 2 } }
      })
      const lines = yield* unhandled(settled(router.complete(Chat.prompt("x"), { chain: "race" })))
      expect(lines).toEqual(["Error: the provider's own"])
    })
  )
})
