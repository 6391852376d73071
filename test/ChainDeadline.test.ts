/**
 * The request's total deadline, kept without a fiber forked to run the
 * chain: each call is handed what is left of it when that is nearer than
 * its own deadline (the HTTP adapters keep it on their timers, through
 * `CompleteWithin` and `StreamWithin`; any other model is timed by the
 * router), a backoff never sleeps past it, a bulkhead's queue waits no
 * longer than it. Whatever it cuts ends the chain, recorded as
 * `Timeout(total)` and ignored by the breaker, exactly when it passes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Redacted, Stream, Supervisor, TestClock } from "effect"
import type { ChatChunk, ChatResponse } from "../src/llm/Chat.js"
import * as Chat from "../src/llm/Chat.js"
import type { ChainExhausted } from "../src/llm/FailoverError.js"
import * as CompleteWithin from "../src/llm/internal/completeWithin.js"
import * as StreamWithin from "../src/llm/internal/streamWithin.js"
import type * as LanguageModel from "../src/llm/LanguageModel.js"
import type { ProviderError } from "../src/llm/ProviderError.js"
import { ContentFiltered, RateLimited, ServerError } from "../src/llm/ProviderError.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"
import * as VirtualTime from "../src/simulator/VirtualTime.js"
import * as MockServer from "../src/testing/MockServer.js"
import { sim } from "./support/virtual.js"

/** Counts the fibers started while it supervises. */
class Forks extends Supervisor.AbstractSupervisor<number> {
  count = 0
  value = Effect.sync(() => this.count)
  override onStart(): void {
    this.count++
  }
}

const forksOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const forks = new Forks()
    const value = yield* Effect.supervised(effect, forks)
    return { value, forks: forks.count }
  })

const request = Chat.prompt("hello")

const adapter = (server: MockServer.MockServer) =>
  OpenAi.make({ model: "gpt-4o-mini", apiKey: Redacted.make("sk-test"), baseUrl: server.baseUrls.openai })

/** The adapter as a wrapper sees it: its own functions, which carry no deadline of the router's. */
const wrap = (model: LanguageModel.Service<ProviderError>): LanguageModel.Service<ProviderError> => ({
  ...model,
  complete: (r) => model.complete(r),
  stream: (r) => model.stream(r)
})

/** The adapter, with the deadlines the router hands it written down. */
const watch = (model: LanguageModel.Service<ProviderError>, handed: Array<string>): LanguageModel.Service<ProviderError> => {
  const complete = CompleteWithin.of(model.complete)!
  const stream = StreamWithin.of(model.stream)!
  return {
    ...model,
    complete: CompleteWithin.attach(model.complete, (r, millis, onTimeout) => {
      handed.push(`complete ${millis}`)
      return complete(r, millis, onTimeout)
    }),
    stream: StreamWithin.attach(model.stream, (r, millis, onTimeout) => {
      handed.push(`stream ${millis}`)
      return stream(r, millis, onTimeout)
    })
  }
}

const routerOver = (model: LanguageModel.Service<ProviderError>, timeouts: Record<string, Duration.DurationInput>) =>
  Router.make({
    targets: { only: { model, policy: { breaker: { consecutiveFailures: 1 } } } },
    chains: { default: ["only"] },
    policy: { retry: { maxAttempts: 1 }, timeouts },
    cache: false
  })

const headOf = (router: Router.Service) =>
  Effect.scoped(Effect.flatMap(router.stream(request), (started) => Stream.runCollect(started.chunks)))

describe("the request's total deadline, kept without a forked fiber", () => {
  it.live("a completion or a stream through an HTTP adapter forks no fiber for its deadlines; a wrapper's call forks one, for the router's timer", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ reply: { text: "in time" } })
      const model = yield* adapter(server)
      const counts: Array<[string, number, number]> = []
      for (const [name, target] of [["adapter", model], ["wrapper", wrap(model)]] as const) {
        const router = yield* routerOver(target, {})
        const completion = yield* forksOf(router.complete(request))
        expect(completion.value.response.text).toBe("in time")
        const streamed = yield* forksOf(router.stream(request).pipe(Effect.scoped))
        expect(streamed.value.meta.target).toBe("only")
        counts.push([name, completion.forks, streamed.forks])
      }
      expect(counts).toEqual([["adapter", 0, 0], ["wrapper", 1, 1]])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.live("a deadline nearer than the call's own is handed to the adapter, or kept by the router for a wrapper: Timeout(total), the request aborted, the breaker untouched", () =>
    Effect.gen(function* () {
      const server = yield* MockServer.make({ faults: Array.from({ length: 4 }, () => MockServer.stall) })
      const model = yield* adapter(server)
      const handed: Array<string> = []
      for (const target of [watch(model, handed), wrap(model)]) {
        const router = yield* routerOver(target, { attempt: "5 seconds", firstToken: "5 seconds", total: "80 millis" })
        for (const call of [Effect.asVoid(router.complete(request)), Effect.asVoid(headOf(router))]) {
          const error = (yield* Effect.flip(call)) as ChainExhausted
          expect(error._tag).toBe("ChainExhausted")
          expect(error.message).toContain(`deadline of ${Duration.format("80 millis")} passed`)
          expect(error.attempts.map((a) => a.error)).toMatchObject([{ _tag: "Timeout", phase: "total" }])
          expect(Duration.toMillis(error.attempts[0]!.duration)).toBeGreaterThanOrEqual(75)
          // cut by the deadline: no failure of the provider's, so the breaker (1 failure trips it) stays closed
          expect((yield* router.breaker("only")!.snapshot).state).toBe("closed")
        }
      }
      expect(handed.map((h) => h.split(" ")[0])).toEqual(["complete", "stream"])
      // what is left of the 80 ms, not the attempt's 5 s: less what the machine took to get there (33 ms at a load of 15)
      for (const h of handed) expect(Number(h.split(" ")[1])).toBeGreaterThan(0)
      for (const h of handed) expect(Number(h.split(" ")[1])).toBeLessThanOrEqual(80)
      yield* MockServer.awaitAborted(server, 4)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.live("a call Gemini asks again (its signatures refused) is still within the request's deadline, whole or streamed", () =>
    Effect.gen(function* () {
      const refused = () => MockServer.status(400, { message: "Corrupted thought signature." })
      const server = yield* MockServer.make({ faults: [refused(), MockServer.stall, refused(), MockServer.stall] })
      const model = yield* Gemini.make({ model: "gemini-3-flash-preview", apiKey: Redacted.make("AIza-test"), baseUrl: server.baseUrls.gemini })
      // time enough for the refusal to come back on a loaded machine (at 80 ms, one run in a few got only the first call)
      const router = yield* routerOver(model, { attempt: "5 seconds", firstToken: "5 seconds", total: "400 millis" })
      const turn = {
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", toolCalls: [{ id: "a", name: "f", arguments: "{}", signature: "another model's" }] },
          { role: "tool", toolCallId: "a", content: "1" }
        ]
      } satisfies Chat.ChatRequest
      const head = Effect.scoped(Effect.flatMap(router.stream(turn), (started) => Stream.runCollect(started.chunks)))
      for (const call of [Effect.asVoid(router.complete(turn)), Effect.asVoid(head)]) {
        const error = (yield* Effect.flip(call)) as ChainExhausted
        expect(error.attempts.map((a) => a.error)).toMatchObject([{ _tag: "Timeout", phase: "total" }])
        expect(Duration.toMillis(error.attempts[0]!.duration)).toBeLessThan(2_000)
      }
      // each asked twice: the refusal, then the placeholder's call the deadline cut
      expect(server.count()).toBe(4)
      yield* MockServer.awaitAborted(server, 2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))

  it.live("a first-token deadline nearer than the request's is handed to the adapter and fails the attempt as first-token", () =>
    Effect.gen(function* () {
      // headers and the role chunk come, then nothing
      const server = yield* MockServer.make({ faults: [MockServer.stallAfter(1), MockServer.stallAfter(1)] })
      const model = yield* adapter(server)
      const handed: Array<string> = []
      for (const target of [watch(model, handed), wrap(model)]) {
        const router = yield* routerOver(target, { firstToken: "80 millis", total: "1 minute" })
        const error = (yield* Effect.flip(headOf(router))) as ChainExhausted
        expect(error.message).not.toContain("deadline")
        expect(error.attempts.map((a) => a.error)).toMatchObject([{ _tag: "Timeout", phase: "first-token" }])
      }
      expect(handed).toEqual(["stream 80"])
      yield* MockServer.awaitAborted(server, 2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer)))
})

const answer = (name: string): ChatResponse => ({
  id: `${name}-1`,
  provider: name,
  model: `${name}-m`,
  text: name,
  toolCalls: [],
  finishReason: "stop",
  usage: { inputTokens: 1, outputTokens: 1 }
})

/** A model on the fiber's clock: each completion as `complete(n)` says for its `n`th call. */
const scripted = (name: string, complete: (n: number) => Effect.Effect<ChatResponse, ProviderError>) => {
  let calls = 0
  const model: LanguageModel.Service<ProviderError> = {
    info: { provider: name, model: `${name}-m`, contextWindow: 100_000, price: { input: 1, output: 1 } },
    complete: () => Effect.suspend(() => complete(++calls)),
    stream: (): Stream.Stream<ChatChunk, ProviderError> => Stream.never
  }
  return { model, calls: () => calls }
}

const hangs = (name: string) => scripted(name, () => Effect.as(Effect.sleep("1 hour"), answer(name)))
const answers = (name: string) => scripted(name, () => Effect.succeed(answer(name))).model

/** Each attempt of a failed request: its target and how it ended (a timeout's phase, else the error's tag). */
const outcomes = (error: ChainExhausted) =>
  error.attempts.map((x) => [x.target, x.error?._tag === "Timeout" ? x.error.phase : x.error?._tag])
const serverError = (name: string) => new ServerError({ provider: name, model: `${name}-m`, message: "down", status: 500 })

/** Advances the TestClock to `millis` after the start, then says whether `fiber` is done. */
const doneAt = (fiber: Fiber.RuntimeFiber<unknown, unknown>, start: number, millis: number) =>
  Effect.gen(function* () {
    const now = yield* TestClock.currentTimeMillis
    yield* TestClock.adjust(Duration.millis(start + millis - now))
    return fiber.unsafePoll() !== null
  })

describe("the waits between calls, bounded by the request's deadline (virtual time)", () => {
  it.scoped("a bulkhead's queue waits no longer than what is left of the request's deadline", () =>
    Effect.gen(function* () {
      const a = hangs("a")
      const router = yield* Router.make({
        targets: { a: { model: a.model, policy: { bulkhead: { maxConcurrent: 1, maxQueued: 4 } } }, b: { model: answers("b") } },
        chains: { default: ["a", "b"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 hour", total: "5 seconds" } },
        cache: false
      })
      const first = yield* Effect.fork(router.complete(request))
      yield* TestClock.adjust("2 seconds")
      const queued = yield* Effect.fork(router.complete(request))
      expect(yield* doneAt(first, 0, 5_000)).toBe(true)
      // the first call's permit came back at 5 s: the queued request then called a, and is cut at its own deadline
      expect(yield* doneAt(queued, 0, 6_999)).toBe(false)
      expect(yield* doneAt(queued, 0, 7_000)).toBe(true)
      for (const fiber of [first, queued]) {
        const error = (yield* Effect.flip(Fiber.join(fiber))) as ChainExhausted
        expect(error.message).toContain(`deadline of ${Duration.format("5 seconds")} passed`)
        expect(outcomes(error)).toEqual([["a", "total"]])
      }
      expect(a.calls()).toBe(2)
    }))

  it.scoped("a request the deadline finds still queued for a permit ends then; the bulkhead's own nearer queue timeout hands it to the next target", () =>
    Effect.gen(function* () {
      for (const queueTimeout of [undefined, "1 second"] as const) {
        const a = hangs("a")
        const bulkhead = { maxConcurrent: 1, maxQueued: 4, ...(queueTimeout === undefined ? {} : { queueTimeout }) }
        const router = yield* Router.make({
          targets: { a: { model: a.model, policy: { bulkhead } }, b: { model: answers("b") } },
          // the hog holds a's only permit for an hour
          chains: { default: ["a", "b"], hog: { targets: ["a"], policy: { timeouts: { total: "2 hours" } } } },
          policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 hour", total: "5 seconds" } },
          cache: false
        })
        const t0 = yield* TestClock.currentTimeMillis
        const hog = yield* Effect.fork(router.complete(request, { chain: "hog" }))
        yield* TestClock.adjust("4 seconds")
        const queued = yield* Effect.fork(router.complete(request))
        if (queueTimeout === undefined) {
          expect(yield* doneAt(queued, t0, 8_999)).toBe(false)
          expect(yield* doneAt(queued, t0, 9_000)).toBe(true)
          const error = (yield* Effect.flip(Fiber.join(queued))) as ChainExhausted
          expect(error.message).toContain(`deadline of ${Duration.format("5 seconds")} passed`)
          expect(outcomes(error)).toEqual([["a", "total"]])
          expect(Duration.toMillis(error.attempts[0]!.duration)).toBe(5_000)
        } else {
          // after a second in the queue, a refuses it and b answers
          expect(yield* doneAt(queued, t0, 4_999)).toBe(false)
          expect(yield* doneAt(queued, t0, 5_000)).toBe(true)
          const result = yield* Fiber.join(queued)
          expect(result.meta.target).toBe("b")
          expect(result.meta.attempts.map((x) => x.error?._tag === "Rejected" && x.error.reason)).toEqual(["bulkhead-full", false])
        }
        expect(a.calls()).toBe(1)
        yield* Fiber.interrupt(hog)
      }
    }))

  it.scoped("a retry due before the deadline is made with what is left of it; one due at or after it is not, and the request moves on at once", () =>
    Effect.gen(function* () {
      // fails at once, then hangs: the retry (after 1 s) is cut by the deadline at 5 s
      const a = scripted("a", (n) => (n === 1 ? Effect.fail(serverError("a")) : Effect.as(Effect.sleep("1 hour"), answer("a"))))
      const router = yield* Router.make({
        targets: { a: { model: a.model } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 3, base: "1 second", jitter: "none" }, timeouts: { attempt: "1 hour", total: "5 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(router.complete(request))
      expect(yield* doneAt(fiber, 0, 4_999)).toBe(false)
      expect(yield* doneAt(fiber, 0, 5_000)).toBe(true)
      const error = (yield* Effect.flip(Fiber.join(fiber))) as ChainExhausted
      expect(error.attempts.map((x) => [x.error?._tag, Duration.toMillis(x.duration)])).toEqual([["ServerError", 0], ["Timeout", 4_000]])
      expect(a.calls()).toBe(2)

      // every call fails; the second retry is due at 1 + 2 = 3 s, exactly the deadline: it is not made, and the
      // request does not wait for a deadline it can do nothing with: it ends with the last error at 1 s
      const b = scripted("b", () => Effect.fail(serverError("b")))
      const failing = yield* Router.make({
        targets: { b: { model: b.model } },
        chains: { default: ["b"] },
        policy: { retry: { maxAttempts: 3, base: "1 second", jitter: "none" }, timeouts: { total: "3 seconds" } },
        cache: false
      })
      const started = yield* TestClock.currentTimeMillis
      const next = yield* Effect.fork(failing.complete(request))
      expect(yield* doneAt(next, started, 999)).toBe(false)
      expect(yield* doneAt(next, started, 1_000)).toBe(true)
      const exhausted = (yield* Effect.flip(Fiber.join(next))) as ChainExhausted
      expect(exhausted.message).not.toContain("deadline")
      expect(outcomes(exhausted)).toEqual([["b", "ServerError"], ["b", "ServerError"]])
      expect(b.calls()).toBe(2)

      // with a next target, the request moves on to it at once with the time left: a Retry-After of 8 s (within
      // its cap) cannot be honoured under a deadline of 5 s
      const limited = scripted("limited", () =>
        Effect.fail(new RateLimited({ provider: "limited", model: "limited-m", message: "slow down", status: 429, retryAfter: Duration.seconds(8) })))
      const backup = scripted("backup", () => Effect.succeed(answer("backup")))
      const chain = yield* Router.make({
        targets: { limited: { model: limited.model }, backup: { model: backup.model } },
        chains: { default: ["limited", "backup"] },
        policy: { retry: { maxAttempts: 2 }, timeouts: { total: "5 seconds" } },
        cache: false
      })
      const from = yield* TestClock.currentTimeMillis
      const served = yield* Effect.fork(chain.complete(request))
      expect(yield* doneAt(served, from, 0)).toBe(true)
      const { meta } = yield* Fiber.join(served)
      expect([meta.target, limited.calls(), backup.calls()]).toEqual(["backup", 1, 1])
    }))

  it.scoped("on a tie the request's deadline wins: a call or a stream's head that ends as it passes, answering or failing, is cut by it; a queue timeout equal to it is the deadline", () =>
    Effect.gen(function* () {
      // under the TestClock and under the simulator's clock (`VirtualTime`), whose timers fire in the order they were set
      for (const clock of ["TestClock", "VirtualTime"] as const) {
        for (const outcome of ["answers", "fails"] as const) {
          for (const kind of ["completion", "stream"] as const) {
            const ends = outcome === "answers" ? Effect.succeed(answer("a")) : Effect.fail(serverError("a"))
            const a = scripted("a", () => Effect.zipRight(Effect.sleep("5 seconds"), ends))
            // the stream's first content comes as the deadline passes
            const stream = (): Stream.Stream<ChatChunk, ProviderError> =>
              Stream.fromEffect(Effect.as(Effect.sleep("5 seconds"), { _tag: "TextDelta", text: "late" } as const))
            const router = yield* Router.make({
              targets: {
                a: { model: { ...a.model, stream }, policy: { breaker: { consecutiveFailures: 1 } } },
                b: { model: answers("b") }
              },
              chains: { default: ["a", "b"] },
              policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 hour", firstToken: "1 hour", total: "5 seconds" } },
              cache: false
            })
            const call = Effect.flip(kind === "completion" ? Effect.asVoid(router.complete(request)) : Effect.asVoid(headOf(router)))
            const onTestClock = Effect.flatMap(Effect.fork(call), (fiber) =>
              Effect.zipRight(TestClock.adjust("5 seconds"), Fiber.join(fiber)))
            const error = (clock === "VirtualTime" ? yield* VirtualTime.run(call) : yield* onTestClock) as ChainExhausted
            const label = `${clock}, ${kind} ${outcome}`
            expect(error.message, label).toContain("deadline")
            expect(outcomes(error), label).toEqual([["a", "total"]])
            expect((yield* router.breaker("a")!.snapshot).state, label).toBe("closed")
          }
        }
      }

      // an attempt deadline equal to what is left of the request's: the request's
      const e = hangs("e")
      const even = yield* Router.make({
        targets: { e: { model: e.model } },
        chains: { default: ["e"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "5 seconds", firstToken: "5 seconds", total: "5 seconds" } },
        cache: false
      })
      for (const call of [Effect.asVoid(even.complete(request)), Effect.asVoid(headOf(even))]) {
        const fiber = yield* Effect.fork(call)
        yield* TestClock.adjust("5 seconds")
        const error = (yield* Effect.flip(Fiber.join(fiber))) as ChainExhausted
        expect(outcomes(error)).toEqual([["e", "total"]])
      }

      const c = hangs("c")
      const tied = yield* Router.make({
        targets: {
          c: { model: c.model, policy: { bulkhead: { maxConcurrent: 1, maxQueued: 1, queueTimeout: "5 seconds" } } },
          d: { model: answers("d") }
        },
        chains: { default: ["c", "d"], hog: { targets: ["c"], policy: { timeouts: { total: "2 hours" } } } },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 hour", total: "5 seconds" } },
        cache: false
      })
      const hog = yield* Effect.fork(tied.complete(request, { chain: "hog" }))
      yield* TestClock.adjust("2 seconds")
      // its deadline and the queue timeout both 5 s away: the deadline's, so d is not tried
      const queued = yield* Effect.fork(tied.complete(request))
      yield* TestClock.adjust("5 seconds")
      const error = (yield* Effect.flip(Fiber.join(queued))) as ChainExhausted
      expect(outcomes(error)).toEqual([["c", "total"]])
      yield* Fiber.interrupt(hog)
    }))

  it.scoped("an attempt due to start once the deadline has passed (held up by a listener's effect) does not call its model", () =>
    Effect.gen(function* () {
      const a = hangs("a")
      const router = yield* Router.make({
        targets: { a: { model: a.model } },
        chains: { default: ["a"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 hour", total: "5 seconds" } },
        cache: false
      })
      yield* router.listen((event) => (event._tag === "AttemptStarted" ? Effect.sleep("5 seconds") : undefined))
      const fiber = yield* Effect.fork(router.complete(request))
      yield* TestClock.adjust("5 seconds")
      const error = (yield* Effect.flip(Fiber.join(fiber))) as ChainExhausted
      expect(outcomes(error)).toEqual([["a", "total"]])
      expect(Duration.toMillis(error.attempts[0]!.duration)).toBe(5_000)
      expect(a.calls()).toBe(0)
    }))
})

describe("the request's deadline across a hand-over, and a stream past its first content", () => {
  it.scoped("a chain that takes a request over on content policy ends by the request's deadline, not by a new one of its own", () =>
    Effect.gen(function* () {
      // the strict target refuses on content policy after 100 s; the lenient one takes 100 s to answer
      const strictModel = yield* sim("strict", { latency: "100 seconds" })
      const strict: LanguageModel.Service = {
        ...strictModel,
        complete: (request) =>
          Effect.zipRight(
            strictModel.complete(request),
            Effect.fail(new ContentFiltered({ provider: "strict", model: "strict-model", message: "refused" }))
          )
      }
      const lenient = yield* sim("lenient", { latency: "100 seconds" })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, lenient: { model: lenient } },
        chains: { default: { targets: ["strict"], contentPolicy: "open" }, open: ["lenient"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "5 minutes", total: "120 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(router.complete(Chat.prompt("edgy")))
      yield* TestClock.adjust("119 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      // at the request's 120 s, not at 100 + 120 s; the lenient target was cut 20 s into its call
      const error = (yield* Effect.flip(Fiber.join(fiber))) as ChainExhausted
      expect(error._tag).toBe("ChainExhausted")
      expect(error.deadlinePassed).toBe(true)
      expect(error.message).toContain("the request's deadline of 2m passed")
      expect(outcomes(error)).toEqual([["strict", "ContentFiltered"], ["lenient", "total"]])
      expect(Duration.toMillis(error.attempts[1]!.duration)).toBe(20_000)
      // the taking-over chain's own total, when nearer, still ends it first
      const nearer = yield* Router.make({
        targets: { strict: { model: strict }, lenient: { model: lenient } },
        chains: {
          default: { targets: ["strict"], contentPolicy: "open" },
          open: { targets: ["lenient"], policy: { timeouts: { total: "10 seconds" } } }
        },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "5 minutes", total: "10 minutes" } },
        cache: false
      })
      const second = yield* Effect.fork(nearer.complete(Chat.prompt("edgy again")))
      yield* TestClock.adjust("110 seconds")
      const cut = (yield* Effect.flip(Fiber.join(second))) as ChainExhausted
      expect(outcomes(cut)).toEqual([["strict", "ContentFiltered"], ["lenient", "total"]])
      expect(cut.message).toContain("the request's deadline of 10s passed")
      expect(Duration.toMillis(cut.attempts[1]!.duration)).toBe(10_000)
    }))

  it.scoped("past its first content a stream is bounded by its idle timeout, not by the total: a long answer runs to its end", () =>
    Effect.gen(function* () {
      // first content after 100 ms, then 200 tokens 100 ms apart: about 20 s, against a 5 s total
      const slow = yield* sim("slow", { latency: "100 millis", tokenDelay: "100 millis", outputTokens: 200 })
      const router = yield* Router.make({
        targets: { slow: { model: slow } },
        chains: { default: ["slow"] },
        policy: { retry: { maxAttempts: 1 }, timeouts: { attempt: "1 minute", firstToken: "1 minute", total: "5 seconds" } },
        cache: false
      })
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("a long answer")), (s) => Stream.runCollect(s.chunks)))
      )
      yield* TestClock.adjust("25 seconds")
      const chunks = [...(yield* Fiber.join(fiber))]
      expect(chunks.filter((chunk) => chunk._tag === "TextDelta")).toHaveLength(200)
      expect(chunks.some((chunk) => chunk._tag === "Finish")).toBe(true)
    }))
})
