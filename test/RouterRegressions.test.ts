/**
 * Regressions found in review: each test pins a behaviour the router once got wrong.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Duration, Effect, Either, Exit, Fiber, Logger, Option, Scope, Stream, TestClock, Tracer } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse } from "../src/llm/Chat.js"
import * as Pullable from "../src/llm/internal/pullable.js"
import { Chat, ContentFiltered, InvalidRequest, ServerError } from "../src/llm/index.js"
import type { Service } from "../src/llm/LanguageModel.js"
import type { ProviderError } from "../src/llm/ProviderError.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import * as Config from "../src/config/Config.js"
import { FetchHttpClient } from "@effect/platform"

const response = (name: string, text = "ok"): ChatResponse => ({
  id: `${name}-1`,
  provider: name,
  model: `${name}-m`,
  text,
  toolCalls: [],
  finishReason: "stop",
  usage: { inputTokens: 10, outputTokens: 5 }
})

const text = (t: string): ChatChunk => ({ _tag: "TextDelta", text: t })
const finish: ChatChunk = { _tag: "Finish", reason: "stop" }

/** A model whose calls are scripted by call number; it counts its calls. */
const fake = (
  name: string,
  script: {
    readonly complete?: (n: number, request: ChatRequest) => Effect.Effect<ChatResponse, ProviderError>
    readonly stream?: (n: number, request: ChatRequest) => Stream.Stream<ChatChunk, ProviderError>
  } = {}
): Service<ProviderError> & { readonly calls: () => number } => {
  let calls = 0
  return {
    info: { provider: name, model: `${name}-m`, contextWindow: 100_000, price: { input: 1, output: 2 } },
    calls: () => calls,
    complete: (request) => Effect.suspend(() => (script.complete ?? (() => Effect.succeed(response(name))))(++calls, request)),
    stream: (request) => Stream.suspend(() => (script.stream ?? (() => Stream.make(text(name), finish)))(++calls, request))
  }
}

const serverError = (name: string) => new ServerError({ provider: name, model: `${name}-m`, message: "cut", status: 500 })
const failsAfter = (name: string, sent: string) => Stream.concat(Stream.make(text(sent)), Stream.fail(serverError(name)))

const collectEvents = (router: Router.Service) =>
  Effect.gen(function* () {
    const seen: Array<RouterEvent> = []
    yield* Effect.forkScoped(Stream.runForEach(router.events, (event) => Effect.sync(() => seen.push(event))))
    yield* Effect.yieldNow()
    return seen
  })

const finishedOf = (seen: ReadonlyArray<RouterEvent>) =>
  seen.flatMap((e) => (e._tag === "RequestFinished" ? [{ id: e.requestId, outcome: e.outcome, fallbacks: e.fallbacks }] : []))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  if (error === undefined) throw new Error(`expected a typed failure, got ${String(exit)}`)
  return error
}

describe("Router regressions: breakers and bulkheads", () => {
  it.scoped("a primary that answers four in five of its 10 s calls, a request a second, keeps its breaker closed (the default, 5 in a row)", () =>
    Effect.gen(function* () {
      // found by a review: calls that overlap never reset the count of failures in a row (a success counted only when
      // it started after the latest failure ended), so one failure in five tripped the default breaker, and half the
      // requests went to the fallback
      let k = 0
      const a = fake("a", {
        complete: () =>
          Effect.zipRight(
            Effect.sleep("10 seconds"),
            k++ % 5 === 0 ? Effect.fail(new ServerError({ provider: "a", model: "a-m", message: "boom", status: 500 })) : Effect.succeed(response("a"))
          )
      })
      const b = fake("b", { complete: () => Effect.succeed(response("b")) })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      for (let i = 0; i < 40; i++) {
        yield* Effect.fork(router.complete(Chat.prompt(`q${i}`)))
        yield* TestClock.adjust("1 second")
      }
      yield* TestClock.adjust("1 minute")
      const snapshot = yield* router.breaker("a")!.snapshot
      expect({ state: snapshot.state, trips: snapshot.trips, a: k }).toEqual({ state: "closed", trips: 0, a: 40 })
    }))

  it.scoped("a full bulkhead sheds load without opening the target's breaker", () =>
    Effect.gen(function* () {
      const slow = fake("a", { complete: () => Effect.as(Effect.sleep("1 second"), response("a")) })
      const router = yield* Router.make({
        targets: {
          a: { model: slow, policy: { bulkhead: { maxConcurrent: 1, maxQueued: 0 }, breaker: { consecutiveFailures: 3 } } },
          b: { model: fake("b") }
        },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const fibers = yield* Effect.forEach([1, 2, 3, 4], (i) => Effect.fork(router.complete(Chat.prompt(`q${i}`))), {
        concurrency: "unbounded"
      })
      yield* TestClock.adjust("2 seconds")
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(results.map((r) => r.meta.target).sort()).toEqual(["a", "b", "b", "b"])
      expect((yield* router.breaker("a")!.snapshot).state).toBe("closed")
    })
  )

  it.scoped("a streaming probe cut by the deadline before its first token frees its half-open slot", () =>
    Effect.gen(function* () {
      let down = true
      const a = fake("a", {
        complete: () => (down ? Effect.fail(serverError("a")) : Effect.succeed(response("a"))),
        stream: () => Stream.fromEffect(Effect.as(Effect.sleep("10 seconds"), text("late")))
      })
      const router = yield* Router.make({
        targets: { a: { model: a, policy: { breaker: { consecutiveFailures: 1, openDuration: { base: "1 second" } } } } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { total: "2 seconds", firstToken: "1 minute" } },
        cache: false
      })
      yield* Effect.exit(router.complete(Chat.prompt("trip")))
      yield* TestClock.adjust("1500 millis")
      const fiber = yield* Effect.fork(Effect.scoped(router.stream(Chat.prompt("probe"))))
      yield* TestClock.adjust("3 seconds")
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      const snapshot = yield* router.breaker("a")!.snapshot
      expect(snapshot.probesInFlight).toBe(0)
      // the next call is admitted as a probe and closes the breaker
      down = false
      const ok = yield* Effect.fork(router.complete(Chat.prompt("recover")))
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(ok)).meta.target).toBe("a")
      expect((yield* router.breaker("a")!.snapshot).state).toBe("closed")
    })
  )

  it.scoped("a raced stream whose caller leaves as the race starts opens no upstream stream it never closes (found by RouterInvariants.prop)", () =>
    Effect.gen(function* () {
      let opened = 0
      let closed = 0
      /** An upstream stream that holds a resource (an HTTP body, say) until its scope closes. */
      const held = () =>
        Stream.acquireRelease(Effect.sync(() => opened++), () => Effect.sync(() => closed++)).pipe(
          Stream.flatMap(() => Stream.fromEffect(Effect.as(Effect.sleep("50 millis"), text("hi")))),
          Stream.concat(Stream.make(finish))
        )
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { stream: held }) }, b: { model: fake("b", { stream: held }) } },
        chains: { default: { targets: ["a", "b"], race: 2 } },
        cache: false
      })
      // the caller goes away at once: while the race's members are still opening their streams
      const caller = Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("q")), (s) => Stream.runDrain(s.chunks)))
      const fiber = yield* Effect.fork(Effect.timeoutOption(caller, Duration.zero))
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.join(fiber))).toBe(true)
      expect(opened).toBe(2)
      expect(closed).toBe(opened)
    })
  )

  it.scoped("drained streams give their bulkhead slots back at once", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a"), policy: { bulkhead: { maxConcurrent: 2, maxQueued: 0 } } } },
        chains: { default: ["a"] }
      })
      for (let i = 0; i < 5; i++) {
        const started = yield* router.stream(Chat.prompt(`s${i}`))
        yield* Stream.runDrain(started.chunks)
        expect((yield* started.done).target).toBe("a")
      }
    })
  )
})

describe("Router regressions: a streamed probe is judged by its first content", () => {
  // found by a review: a half-open probe (or a trial, one failure short of a trip) that was a stream held its slot
  // until the stream ended, so every other request went to the fallback meanwhile, for as long as a reader that
  // stopped reading kept it open
  const slowStream = Stream.concat(
    Stream.make(text("one ")),
    Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep("1 second"), text("two"))), Stream.make(finish))
  )
  const setup = (threshold: number, stream: (n: number) => Stream.Stream<ChatChunk, ProviderError>) =>
    Effect.gen(function* () {
      let down = true
      const a = fake("a", {
        complete: () => (down ? Effect.fail(serverError("a")) : Effect.succeed(response("a"))),
        stream: (n) => (down ? Stream.fail(serverError("a")) : stream(n))
      })
      const b = fake("b")
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: threshold, openDuration: { base: "10 seconds" } } }
      })
      // trip it (threshold 1), or take it one failure short (threshold 2); then the target recovers
      yield* router.complete(Chat.prompt("trip"))
      down = false
      yield* TestClock.adjust("11 seconds")
      return router
    })

  it.scoped("a half-open probe's first content frees its slot: a reader that stops reading holds nothing back", () =>
    Effect.gen(function* () {
      const router = yield* setup(1, () => slowStream)
      assert.strictEqual((yield* router.breaker("a")!.snapshot).state, "half-open")
      const reader = yield* Effect.fork(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("probe")), () => Effect.sleep("30 minutes"))))
      yield* TestClock.adjust("10 minutes")
      // the next request takes the slot, and its success closes the breaker
      const during = yield* router.complete(Chat.prompt("during"))
      expect(during.meta.target).toBe("a")
      assert.strictEqual((yield* router.breaker("a")!.snapshot).state, "closed")
      yield* Fiber.interrupt(reader)
    }))

  it.scoped("a trial stream (one failure short) frees the trial at its first content", () =>
    Effect.gen(function* () {
      const router = yield* setup(2, () => slowStream)
      const reader = yield* Effect.fork(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("trial")), () => Effect.sleep("30 minutes"))))
      yield* TestClock.adjust("10 minutes")
      const during = yield* router.complete(Chat.prompt("during"))
      expect(during.meta.target).toBe("a")
      yield* Fiber.interrupt(reader)
    }))

  it.scoped("a probe stream cut after its first content is a failed probe: the breaker opens again, for longer", () =>
    Effect.gen(function* () {
      const router = yield* setup(1, () => failsAfter("a", "one "))
      const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("probe")), (s) => Stream.runDrain(s.chunks))))
      expect(Exit.isFailure(exit)).toBe(true)
      const snapshot = yield* router.breaker("a")!.snapshot
      expect([snapshot.state, snapshot.trips]).toEqual(["open", 2])
    }))

  // found by a diff review of the first fix (a probe's or trial's success recorded at its first content): a trial's
  // success reset the count before its stream failed, so a target whose every stream dies after its first content
  // never tripped, and every request failed on it; and a probe's closed the breaker, so its open time never grew
  it.scoped("a target whose every stream fails after its first content trips its default breaker", () =>
    Effect.gen(function* () {
      const a = fake("a", { stream: () => failsAfter("a", "one ") })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: fake("b") } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      for (let i = 0; i < 40; i++) {
        yield* Effect.exit(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt(`q${i}`)), (s) => Stream.runDrain(s.chunks))))
        yield* TestClock.adjust("1 second")
      }
      const snapshot = yield* router.breaker("a")!.snapshot
      expect(snapshot.trips).toBeGreaterThan(0)
      expect(a.calls()).toBeLessThan(10)
    }))

  it.scoped("a target that always dies after its first content is probed less and less often", () =>
    Effect.gen(function* () {
      const a = fake("a", { stream: () => failsAfter("a", "one ") })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: fake("b") } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "10 seconds", cap: "10 minutes" } } }
      })
      for (let i = 0; i < 60; i++) {
        yield* Effect.exit(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt(`q${i}`)), (s) => Stream.runDrain(s.chunks))))
        yield* TestClock.adjust("11 seconds")
      }
      // 11 minutes: open 10, 20, 40, 80, 160, 320 s, backing off, so a handful of probes, not one every 11 s
      const snapshot = yield* router.breaker("a")!.snapshot
      expect(snapshot.trips).toBeGreaterThanOrEqual(3)
      expect(a.calls()).toBeLessThanOrEqual(10)
    }))
})

describe("Router regressions: a chain's models take different answer lengths", () => {
  it.scoped("each target is asked for at most its model's maxOutputTokens, whole and streamed, and its window is checked against that", () =>
    Effect.gen(function* () {
      const asked: Array<[string, number | undefined]> = []
      const model = (name: string, maxOutputTokens: number | undefined, contextWindow: number, fails: boolean) => ({
        ...fake(name, {
          complete: (_, request) => {
            asked.push([name, request.maxTokens])
            return fails ? Effect.fail(serverError(name)) : Effect.succeed(response(name))
          },
          stream: (_, request) => {
            asked.push([name, request.maxTokens])
            return fails ? Stream.fail(serverError(name)) : Stream.make(text(name), finish)
          }
        }),
        info: { provider: name, model: `${name}-m`, contextWindow, price: { input: 1, output: 2 }, ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }) }
      })
      const router = yield* Router.make({
        targets: {
          large: { model: model("large", 64_000, 200_000, true) },
          // 100,000 tokens asked would not fit its window of 128,000 with the prompt; the 16,384 it can give do
          small: { model: model("small", 16_384, 128_000, true) },
          open: { model: model("open", undefined, 1_000_000, false) }
        },
        chains: { default: ["large", "small", "open"] },
        policy: { retry: { maxAttempts: 1 } },
        cache: false
      })
      const request: ChatRequest = { ...Chat.prompt("word ".repeat(24_000)), maxTokens: 100_000 } // about 30,000 tokens
      expect((yield* router.complete(request)).meta.target).toBe("open")
      yield* Effect.scoped(Effect.flatMap(router.stream(request), (started) => Stream.runDrain(started.chunks)))
      const each = [["large", 64_000], ["small", 16_384], ["open", 100_000]]
      expect(asked).toEqual([...each, ...each])
      // a request that asks less is sent as it is
      asked.length = 0
      yield* router.complete({ ...Chat.prompt("hi"), maxTokens: 500 })
      expect(asked).toEqual([["large", 500], ["small", 500], ["open", 500]])
      // and the cost strategy prices each target on what it is asked: small's 16,384 tokens at $2/M are
      // cheaper than open's 100,000 at $1/M
      asked.length = 0
      const byCost = yield* Router.make({
        targets: { open: { model: model("open", undefined, 1_000_000, false) }, small: { model: model("small", 16_384, 128_000, false) } },
        chains: { default: { targets: ["open", "small"], strategy: "cost" } },
        cache: false
      })
      expect((yield* byCost.complete({ ...Chat.prompt("hi"), maxTokens: 100_000 })).meta.target).toBe("small")
    }))
})

describe("Router regressions: how requests end", () => {
  it.scoped("a model of one's own whose stream stalls after its first content fails it at the idle deadline, a typed StreamInterrupted", () =>
    Effect.gen(function* () {
      const stalls = fake("a", { stream: () => Stream.concat(Stream.make(text("partial ")), Stream.never) })
      const router = yield* Router.make({
        targets: { a: { model: stalls } },
        chains: { default: ["a"] },
        policy: { timeouts: { idle: "5 seconds" } }
      })
      const seen = yield* collectEvents(router)
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi")), (s) => Effect.either(Stream.runCollect(s.chunks))))
      )
      yield* TestClock.adjust("4 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const chunks = yield* Fiber.join(fiber)
      if (chunks._tag !== "Left") throw new Error("the stream ended")
      expect(chunks.left).toMatchObject({ _tag: "StreamInterrupted", partialText: "partial ", cause: { _tag: "Timeout", phase: "idle" } })
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "failure", fallbacks: 0 }])
      // a target that stalls counts against its breaker, as an adapter's idle timeout does
      expect((yield* router.breaker("a")!.snapshot).consecutiveFailures).toBe(1)
    })
  )

  it.scoped("the idle deadline is 30 s by default, and a stream that keeps writing within it is never cut", () =>
    Effect.gen(function* () {
      const slow = fake("a", {
        stream: () => Stream.concat(Stream.make(text("a")), Stream.fromEffect(Effect.as(Effect.sleep("29 seconds"), text("b")))).pipe(Stream.concat(Stream.make(finish)))
      })
      const stalls = fake("b", { stream: () => Stream.concat(Stream.make(text("partial ")), Stream.never) })
      const router = yield* Router.make({ targets: { a: { model: slow }, b: { model: stalls } }, chains: { slow: ["a"], stalls: ["b"] } })
      const read = (chain: string) =>
        Effect.fork(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi"), { chain }), (s) => Effect.either(Stream.runCollect(s.chunks)))))
      const [slowFiber, stallsFiber] = [yield* read("slow"), yield* read("stalls")]
      yield* TestClock.adjust("30 seconds")
      expect(Either.isRight(yield* Fiber.join(slowFiber))).toBe(true)
      expect(yield* Fiber.join(stallsFiber)).toMatchObject({ left: { _tag: "StreamInterrupted", cause: { phase: "idle" } } })
    })
  )

  it.scoped("a consumer that stops reading cancels the request: ignored by the breaker, reported once", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { stream: () => Stream.make(text("one"), text("two"), text("three"), finish) }) } },
        chains: { default: ["a"] }
      })
      const seen = yield* collectEvents(router)
      const partial = yield* Effect.scoped(
        Effect.flatMap(router.stream(Chat.prompt("hi")), (s) => Stream.runCollect(Stream.take(s.chunks, 1)))
      )
      expect(Chunk.size(partial)).toBe(1)
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "cancelled", fallbacks: 0 }])
      expect((yield* router.breaker("a")!.snapshot).consecutiveFailures).toBe(0)
      // one health sample per stream, and none for a cancelled one
      expect((yield* router.status).find((s) => s.name === "a")!.health.calls).toBe(0)
      yield* Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("again")), (s) => Stream.runDrain(s.chunks)))
      expect((yield* router.status).find((s) => s.name === "a")!.health.calls).toBe(1)
    })
  )

  it.scoped("a stream whose consumer never reads its chunks finishes cancelled when its scope closes, once (found by RouterInvariants.prop)", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { stream: () => Stream.make(text("one"), text("two"), finish) }) } },
        chains: { default: ["a"] },
        cache: false
      })
      const seen = yield* collectEvents(router)
      // the head came (the stream started), then the caller left without reading (`take(0)` never runs it)
      yield* Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hi")), (s) => Stream.runDrain(Stream.take(s.chunks, 0))))
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "cancelled", fallbacks: 0 }])
      // ignored by the breaker and health, as a consumer that stopped reading
      expect((yield* router.breaker("a")!.snapshot).consecutiveFailures).toBe(0)
      expect((yield* router.status).find((s) => s.name === "a")!.health.calls).toBe(0)
      // one read to its end, its scope closed after: reported once, by its end
      yield* Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("again")), (s) => Stream.runDrain(s.chunks)))
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "cancelled", fallbacks: 0 }, { id: 2, outcome: "success", fallbacks: 0 }])
    })
  )

  it.scoped("an interrupted completion reports itself cancelled", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { complete: () => Effect.as(Effect.sleep("1 minute"), response("a")) }) } },
        chains: { default: ["a"] }
      })
      const seen = yield* collectEvents(router)
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi")))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "cancelled", fallbacks: 0 }])
    })
  )

  it.scoped("a failed single-target request reports no fallback", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { complete: () => Effect.fail(serverError("a")) }) } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 1 } },
        cache: false
      })
      const seen = yield* collectEvents(router)
      yield* Effect.exit(router.complete(Chat.prompt("hi")))
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "failure", fallbacks: 0 }])
    })
  )

  it.scoped("a backoff that would pass the deadline is not waited: no phantom attempt, the request ends at once", () =>
    Effect.gen(function* () {
      const a = fake("a", { complete: () => Effect.fail(serverError("a")) })
      const router = yield* Router.make({
        targets: { a: { model: a } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 3, base: "10 seconds", jitter: "none" }, timeouts: { total: "5 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi")))
      yield* TestClock.adjust("0 millis")
      expect(fiber.unsafePoll()).not.toBeNull()
      const error = failureOf(yield* Fiber.await(fiber))
      expect(error._tag).toBe("ChainExhausted")
      if (error._tag !== "ChainExhausted") return
      expect(a.calls()).toBe(1)
      expect(error.attempts.map((x) => x.error?._tag)).toEqual(["ServerError"])
    })
  )

  it.scoped("a deadline records every call in flight with its real duration", () =>
    Effect.gen(function* () {
      const slow = (name: string) => fake(name, { complete: () => Effect.as(Effect.sleep("1 minute"), response(name)) })
      const router = yield* Router.make({
        targets: { a: { model: slow("a") }, b: { model: slow("b") } },
        chains: { default: { targets: ["a", "b"], hedge: { delay: "1 second" } } },
        // attempts longer than the total (half of it by default): both calls are in flight when it passes
        policy: { timeouts: { attempt: "10 seconds", total: "5 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi")))
      yield* TestClock.adjust("10 seconds")
      const error = failureOf(yield* Fiber.await(fiber))
      if (error._tag !== "ChainExhausted") throw new Error(error._tag)
      expect(error.attempts.map((x) => [x.target, Duration.toMillis(x.duration)]).sort()).toEqual([
        ["a", 5_000],
        ["b", 4_000]
      ])
    })
  )
})

describe("Router regressions: fatal errors, content policy and continuations", () => {
  it.scoped("a fatal error in a hedge group ends the chain: the hedge may not answer", () =>
    Effect.gen(function* () {
      for (const fatal of [
        new ContentFiltered({ provider: "a", model: "a-m", message: "refused" }),
        new InvalidRequest({ provider: "a", model: "a-m", message: "bad", status: 400 })
      ]) {
        const b = fake("b", { complete: () => Effect.as(Effect.sleep("10 millis"), response("b")) })
        const router = yield* Router.make({
          targets: { a: { model: fake("a", { complete: () => Effect.fail(fatal) }) }, b: { model: b } },
          chains: { default: { targets: ["a", "b"], hedge: { delay: "10 seconds" } } }
        })
        const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi")))
        yield* TestClock.adjust("1 minute")
        expect(failureOf(yield* Fiber.await(fiber))._tag).toBe(fatal._tag)
        expect(b.calls()).toBe(0)
      }
    })
  )

  it.scoped("the content-policy chain's answer keeps the refusing attempt, as one request", () =>
    Effect.gen(function* () {
      const refusing = fake("strict", {
        complete: () => Effect.fail(new ContentFiltered({ provider: "strict", model: "strict-m", message: "no" }))
      })
      const router = yield* Router.make({
        targets: { strict: { model: refusing }, lenient: { model: fake("lenient") } },
        chains: { default: { targets: ["strict"], contentPolicy: "open" }, open: ["lenient"] }
      })
      const seen = yield* collectEvents(router)
      const { meta } = yield* router.complete(Chat.prompt("edgy"))
      expect(meta.attempts.map((a) => [a.target, a.error?._tag ?? "ok"])).toEqual([
        ["strict", "ContentFiltered"],
        ["lenient", "ok"]
      ])
      expect(meta.fallbacks).toBe(1)
      yield* Effect.yieldNow()
      expect(seen.filter((e) => e._tag === "Fallback").length).toBe(1)
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "success", fallbacks: 1 }])
    })
  )

  it.scoped("a request handed to the content-policy chain finishes under the chain it was made on, naming the one that served it", () =>
    Effect.gen(function* () {
      const refused = () => new ContentFiltered({ provider: "strict", model: "strict-m", message: "no" })
      const router = yield* Router.make({
        targets: {
          strict: { model: fake("strict", { complete: () => Effect.fail(refused()), stream: () => Stream.fail(refused()) }) },
          lenient: { model: fake("lenient") },
          down: { model: fake("down", { complete: () => Effect.fail(serverError("down")) }) }
        },
        chains: {
          default: { targets: ["strict"], contentPolicy: "open" },
          open: ["lenient"],
          guarded: { targets: ["strict"], contentPolicy: "closed" },
          closed: { targets: ["down"] }
        },
        policy: { retry: { maxAttempts: 1 } },
        cache: false
      })
      const ends: Array<RouterEvent> = []
      yield* router.listen((event) => {
        if (event._tag === "RequestFinished") ends.push(event)
      })
      const { meta } = yield* router.complete(Chat.prompt("edgy"))
      // the answer's meta names the chain that served it
      expect(meta.chain).toBe("open")
      const started = yield* router.stream(Chat.prompt("edgy"))
      yield* Stream.runDrain(started.chunks)
      // the content-policy chain failing too: the request failed on the chain it was made on
      expect(failureOf(yield* Effect.exit(router.complete(Chat.prompt("edgy"), { chain: "guarded" })))._tag).toBe("ChainExhausted")
      // a request served by its own chain names no other
      yield* router.complete(Chat.prompt("edgy"), { chain: "open" })
      expect(ends.map((e) => e._tag === "RequestFinished" && [e.chain, e.servingChain, e.outcome])).toEqual([
        ["default", "open", "success"],
        ["default", "open", "success"],
        ["guarded", "closed", "failure"],
        ["open", undefined, "success"]
      ])
    })
  )

  it.scoped("a continuation never splices the chain's canned answer onto a partial one", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: {
          a: { model: fake("a", { stream: () => failsAfter("a", "The capital of France is ") }) },
          b: { model: fake("b", { stream: () => Stream.fail(serverError("b")) }) }
        },
        chains: {
          default: { targets: ["a", "b"], continueStreams: true, fallbackResponse: "Service busy, try later." }
        },
        policy: { retry: { maxAttempts: 1 } }
      })
      const s = yield* router.stream(Chat.prompt("capital?"))
      const error = failureOf(yield* Effect.exit(Stream.runCollect(s.chunks)))
      expect(error).toMatchObject({ _tag: "StreamInterrupted", partialText: "The capital of France is " })
    })
  )

  it.scoped("a continuation that fails after content reports everything the caller received", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: {
          a: { model: fake("a", { stream: () => failsAfter("a", "Hello ") }) },
          b: { model: fake("b", { stream: () => failsAfter("b", "world") }) }
        },
        chains: { default: { targets: ["a", "b"], continueStreams: true } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const seen = yield* collectEvents(router)
      const s = yield* router.stream(Chat.prompt("hi"))
      const error = failureOf(yield* Effect.exit(Stream.runCollect(s.chunks)))
      expect(error).toMatchObject({ _tag: "StreamInterrupted", partialText: "Hello world" })
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "failure", fallbacks: 1 }])
    })
  )

  it.scoped("a continued stream finishes its one request once", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: {
          a: { model: fake("a", { stream: () => failsAfter("a", "Hello ") }) },
          b: { model: fake("b", { stream: () => Stream.make(text("world"), finish) }) }
        },
        chains: { default: { targets: ["a", "b"], continueStreams: true } },
        policy: { retry: { maxAttempts: 1 } }
      })
      const seen = yield* collectEvents(router)
      const s = yield* router.stream(Chat.prompt("hi"))
      yield* Stream.runDrain(s.chunks)
      yield* Effect.yieldNow()
      expect(finishedOf(seen)).toEqual([{ id: 1, outcome: "success", fallbacks: 1 }])
      expect(yield* s.done).toMatchObject({ target: "b", continued: true })
    })
  )
})

describe("Router regressions: validation", () => {
  it.effect("invalid policy values are config problems, not defects on the first request", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.scoped(
          Router.make({
            targets: { a: { model: fake("a"), policy: { bulkhead: { maxConcurrent: 0 } } } },
            chains: { default: { targets: ["a"], policy: { retry: { maxAttempts: 0 } } } },
            policy: { breaker: { halfOpenProbes: 0 } }
          })
        )
      )
      expect(error.problems).toEqual([
        "policy.breaker.halfOpenProbes: must be a whole number of at least 1",
        "chains.default.policy.retry.maxAttempts: must be a whole number of at least 1",
        "targets.a.policy.bulkhead.maxConcurrent: must be a whole number of at least 1"
      ])
    })
  )
})

describe("Router regressions: chains that cannot do what they say", () => {
  /** The warnings logged while `effect` runs. */
  const warningsOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
      })
      const value = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      return { value, warnings }
    })

  it.scoped("a weighted chain whose targets all weigh 0, and a race wider than its chain, are warned of, and served as they can be", () =>
    Effect.gen(function* () {
      const a = fake("a", { complete: () => Effect.as(Effect.sleep("20 millis"), response("a")) })
      const c = fake("c", { complete: () => Effect.as(Effect.sleep("10 millis"), response("c")) })
      const { value: router, warnings } = yield* warningsOf(
        Router.make({
          targets: { a: { model: a, weight: 0 }, b: { model: fake("b"), weight: 0 }, c: { model: c } },
          chains: {
            // every weight 0: "weighted" tries them in priority order, every time
            drained: { targets: ["a", "b"], strategy: "weighted" },
            // one target of weight: fine, the zeros are tried after it
            mixed: { targets: ["a", "c"], strategy: "weighted" },
            // not weighted: the weights say nothing
            ordered: { targets: ["a", "b"], strategy: "priority" },
            wide: { targets: ["a", "c"], race: 3 },
            exact: { targets: ["a", "c"], race: 2 }
          }
        })
      )
      expect(warnings).toEqual([
        'router config: chains.drained.strategy: "weighted", but every one of its targets (a, b) weighs 0: they are tried in priority order, every time',
        "router config: chains.wide.race: races 3 targets, but the chain has 2: all 2 race"
      ])
      for (let i = 0; i < 10; i++) {
        const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi"), { chain: "drained" }))
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(fiber)).meta.target).toBe("a")
      }
      // the wide race races both: the faster answers, and both were called
      const [before, beforeC] = [a.calls(), c.calls()]
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("hi"), { chain: "wide" }))
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(fiber)).meta.target).toBe("c")
      expect([a.calls() - before, c.calls() - beforeC]).toEqual([1, 1])
    })
  )

  it.effect("a config file's chain racing wider than itself is warned of when the router is made from it", () =>
    Effect.gen(function* () {
      const yaml = [
        "providers: { sim: { type: simulated } }",
        "models: { a: { provider: sim, model: a }, b: { provider: sim, model: b } }",
        "chains: { default: { targets: [a, b], race: 4 } }"
      ].join("\n")
      const { config } = yield* Config.parse(yaml)
      const { warnings } = yield* warningsOf(Effect.scoped(Effect.flatMap(Config.toRouterConfig(config), Router.make)))
      expect(warnings).toEqual(["router config: chains.default.race: races 4 targets, but the chain has 2: all 2 race"])
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )
})

describe("Router regressions: a stream its consumer left, settled when its scope closes", () => {
  /** Opens a stream of `router` in `scope` and reads its head, as a consumer that then leaves. */
  const readHead = (router: Router.Service, scope: Scope.Scope) =>
    Effect.gen(function* () {
      const started = yield* Scope.extend(router.stream(Chat.prompt("q")), scope)
      const pull = yield* Scope.extend(Pullable.toPull(started.chunks), scope)
      yield* pull
    })
  const pending = () => Stream.concat(Stream.make(text("Hi")), Stream.never)

  it.scoped("whole, even when the fiber closing the scope is interrupted meanwhile: the attempt's bulkhead permit comes back", () =>
    Effect.gen(function* () {
      // closing the provider's stream takes 50 ms (an HTTP abort, say)
      const a = fake("a", { stream: () => pending().pipe(Stream.ensuring(Effect.sleep("50 millis"))) })
      const router = yield* Router.make({
        targets: { a: { model: a } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 1 }, bulkhead: { maxConcurrent: 1, maxQueued: 0 } }
      })
      const scope = yield* Scope.make()
      yield* readHead(router, scope)
      const closer = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("10 millis")
      const interrupting = yield* Effect.fork(Fiber.interrupt(closer))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(interrupting)
      expect((yield* router.complete(Chat.prompt("again"))).meta.target).toBe("a")
    }))

  it.scoped("in the runtime that opened it: its clock and span, whoever closes the scope", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({
        targets: { a: { model: fake("a", { stream: pending }) } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 1 } },
        cache: false
      })
      const finished: Array<{ readonly at: number; readonly span: string | undefined }> = []
      yield* router.listen((event) =>
        event._tag === "RequestFinished"
          ? Effect.map(Effect.serviceOption(Tracer.ParentSpan), (span) => {
              finished.push({ at: event.at, span: Option.isSome(span) && span.value._tag === "Span" ? span.value.name : undefined })
            })
          : undefined
      )
      // opened under a clock a second ahead and inside a span; closed outside both
      const base = yield* Effect.clock
      const ahead: Clock.Clock = {
        [Clock.ClockTypeId]: Clock.ClockTypeId,
        unsafeCurrentTimeMillis: () => base.unsafeCurrentTimeMillis() + 1_000,
        currentTimeMillis: Effect.sync(() => base.unsafeCurrentTimeMillis() + 1_000),
        unsafeCurrentTimeNanos: () => base.unsafeCurrentTimeNanos() + 1_000_000_000n,
        currentTimeNanos: Effect.sync(() => base.unsafeCurrentTimeNanos() + 1_000_000_000n),
        sleep: (duration) => base.sleep(duration)
      }
      const scope = yield* Scope.make()
      yield* readHead(router, scope).pipe(Effect.withSpan("http.server POST"), Effect.withClock(ahead))
      yield* Scope.close(scope, Exit.void)
      expect(finished).toEqual([{ at: (yield* Clock.currentTimeMillis) + 1_000, span: "http.server POST" }])
    }))
})
