/**
 * A provider whose code dies (a defect: a bug, a promise that rejected
 * under `Effect.promise`) costs that provider the request, not the request:
 * the router makes it a `ProviderDefect`, counts it against the target's
 * breaker and health, and goes on to the next target without a retry.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Stream } from "effect"
import * as Gateway from "../src/gateway/Gateway.js"
import * as LogSink from "../src/observability/internal/logSink.js"
import * as Simulated from "../src/providers/Simulated.js"
import { quiet } from "./support/upstreams.js"
import type { ChainExhausted, StreamInterrupted } from "../src/llm/index.js"
import { Chat, ProviderDefect } from "../src/llm/index.js"
import type { Service as LanguageModelService } from "../src/llm/LanguageModel.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import { failedWith, settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("10 seconds")

/** The secret-looking text a defect carries, which must not reach the error's message. */
const secret = "sk-live-0123456789abcdef"

/** A model of `name` whose calls die, counting them; `stream` dies after `afterChunks` chunks of the healthy stream, if set. */
const dying = (name: string, options: { readonly afterChunks?: number } = {}) =>
  Effect.gen(function* () {
    const healthy = yield* sim(name)
    const calls = { complete: 0, stream: 0 }
    const model: LanguageModelService = {
      info: healthy.info,
      complete: () =>
        Effect.suspend(() => {
          calls.complete++
          // a custom provider's mistake: a rejected promise under Effect.promise is a defect
          return Effect.promise(() => Promise.reject(new TypeError(`bad key ${secret}`)))
        }),
      stream: (request) =>
        Stream.suspend(() => {
          calls.stream++
          return options.afterChunks === undefined
            ? Stream.die(new TypeError(`bad key ${secret}`))
            : Stream.concat(healthy.stream(request).pipe(Stream.take(options.afterChunks)), Stream.die(new TypeError(`bad key ${secret}`)))
        })
    }
    return { model, calls }
  })

const policy = { retry: { maxAttempts: 3, base: "10 millis" }, breaker: { consecutiveFailures: 2, openDuration: { base: "1 minute" } } } as const

/** A chain of a dying target, then a healthy one. */
const badThenGood = Effect.gen(function* () {
  const bad = yield* dying("bad")
  const router = yield* Router.make({
    targets: { bad: { model: bad.model }, good: { model: yield* sim("good") } },
    chains: { default: ["bad", "good"] },
    policy
  })
  return { bad, router }
})

describe("a provider's defect", () => {
  it.scoped("fails over to the next target as a ProviderDefect, without a retry, and its message holds no text of the defect", () =>
    Effect.gen(function* () {
      const { bad, router } = yield* badThenGood
      const events: Array<RouterEvent> = []
      yield* router.listen((event) => void events.push(event))
      const { response, meta } = succeeded(yield* settle(router.complete(Chat.prompt("hello"))))
      expect(response.text.length).toBeGreaterThan(0)
      expect(meta.target).toBe("good")
      expect(bad.calls.complete).toBe(1) // a bug would die again: no retry
      const error = meta.attempts[0]?.error
      expect(error).toBeInstanceOf(ProviderDefect)
      expect(error).toMatchObject({ _tag: "ProviderDefect", provider: "bad", model: "bad-model" })
      expect(error?.message).toContain("TypeError")
      expect(error?.message).not.toContain(secret)
      expect((error as ProviderDefect).cause).toBeInstanceOf(TypeError)
      expect(events.some((e) => e._tag === "AttemptFailed" && e.target === "bad" && e.error._tag === "ProviderDefect")).toBe(true)
      expect(events.some((e) => e._tag === "RequestFinished" && e.outcome === "success")).toBe(true)
    })
  )

  it.scoped("counts against the target's breaker: two defects open it, and the next request does not call it", () =>
    Effect.gen(function* () {
      const { bad, router } = yield* badThenGood
      for (let i = 0; i < 2; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`))))
      expect((yield* router.breaker("bad")!.snapshot).state).toBe("open")
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("after"))))
      expect(meta.attempts[0]?.error).toMatchObject({ _tag: "Rejected", reason: "circuit-open" })
      expect(bad.calls.complete).toBe(2)
    })
  )

  it.scoped("every target dying: the chain fails with ChainExhausted, a typed error with each defect, not a defect", () =>
    Effect.gen(function* () {
      const one = yield* dying("one")
      const two = yield* dying("two")
      const router = yield* Router.make({
        targets: { one: { model: one.model }, two: { model: two.model } },
        chains: { default: ["one", "two"] },
        policy
      })
      const error = failedWith(yield* settle(router.complete(Chat.prompt("hello")))) as ChainExhausted
      expect(error._tag).toBe("ChainExhausted")
      expect(error.attempts.map((a) => [a.target, a.error?._tag])).toEqual([["one", "ProviderDefect"], ["two", "ProviderDefect"]])
    })
  )

  it.scoped("a stream that dies before its first content falls over to the next target", () =>
    Effect.gen(function* () {
      const { bad, router } = yield* badThenGood
      const exit = yield* settle(
        Effect.scoped(
          Effect.flatMap(router.stream(Chat.prompt("hello")), (started) =>
            Effect.zip(Stream.runCollect(started.chunks), started.done)
          )
        )
      )
      const [chunks, meta] = succeeded(exit)
      expect(meta.target).toBe("good")
      expect(Chunk.some(chunks, Chat.isContent)).toBe(true)
      expect(meta.attempts[0]?.error?._tag).toBe("ProviderDefect")
      expect(bad.calls.stream).toBe(1)
    })
  )

  it.scoped("a stream that dies after content went out fails with a typed StreamInterrupted whose cause is the ProviderDefect", () =>
    Effect.gen(function* () {
      const bad = yield* dying("bad", { afterChunks: 3 })
      const router = yield* Router.make({
        targets: { bad: { model: bad.model } },
        chains: { default: ["bad"] },
        policy
      })
      const exit = yield* settle(
        Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hello")), (started) => Stream.runCollect(started.chunks)))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const error = failedWith(exit) as StreamInterrupted
      expect(error._tag).toBe("StreamInterrupted")
      expect(error.cause).toMatchObject({ _tag: "ProviderDefect", provider: "bad" })
      expect(error.message).not.toContain(secret)
    })
  )

  it.scoped("in a hedge, a member that dies is a failed member: the next starts at once, not after the delay; in a race, the other answers", () =>
    Effect.gen(function* () {
      for (const chain of [{ targets: ["bad", "good"], hedge: { delay: "30 seconds" } }, { targets: ["bad", "good"], race: 2 }] as const) {
        const bad = yield* dying("bad")
        const router = yield* Router.make({
          targets: { bad: { model: bad.model }, good: { model: yield* sim("good") } },
          chains: { default: chain },
          policy
        })
        // far less than the hedge's delay: the defect started the hedge
        const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hello")), "1 second"))
        expect(meta.target).toBe("good")
        expect(meta.attempts.find((a) => a.target === "bad")?.error?._tag).toBe("ProviderDefect")
        expect(bad.calls.complete).toBe(1)
      }
    })
  )

  it.scoped("a defect beside an interruption (a concurrent step of the provider's own code died, its sibling interrupted) is a ProviderDefect too", () =>
    Effect.gen(function* () {
      const healthy = yield* sim("bad")
      const dies = Effect.all([Effect.die(new TypeError(`cannot read 'choices' (key ${secret})`)), Effect.never], { concurrency: "unbounded" })
      const model: LanguageModelService = {
        info: healthy.info,
        complete: () => Effect.zipRight(dies, Effect.never),
        stream: () => Stream.drain(Stream.fromEffect(dies))
      }
      const router = yield* Router.make({
        targets: { bad: { model }, good: { model: yield* sim("good") } },
        chains: { default: ["bad", "good"] },
        policy
      })
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("hello"))))
      expect([meta.target, meta.attempts[0]?.error?._tag]).toEqual(["good", "ProviderDefect"])
      const streamed = succeeded(
        yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hello")), (started) => Effect.zip(Stream.runCollect(started.chunks), started.done))))
      )
      expect(streamed[1].target).toBe("good")
      // two defects: the breaker opened
      expect((yield* router.breaker("bad")!.snapshot).state).toBe("open")
    })
  )

  it.scoped("after content, a defect beside an interruption fails the stream typed, and the request is reported failed, not cancelled", () =>
    Effect.gen(function* () {
      const healthy = yield* sim("bad")
      const dies = Effect.all([Effect.die(new TypeError("cannot read 'delta'")), Effect.never], { concurrency: "unbounded" })
      const model: LanguageModelService = {
        info: healthy.info,
        complete: healthy.complete,
        stream: (request) => Stream.concat(healthy.stream(request).pipe(Stream.take(3)), Stream.drain(Stream.fromEffect(dies)))
      }
      const router = yield* Router.make({ targets: { bad: { model } }, chains: { default: ["bad"] }, policy: { retry: { maxAttempts: 1 } } })
      const outcomes: Array<string> = []
      yield* router.listen((event) => void (event._tag === "RequestFinished" && outcomes.push(event.outcome)))
      const exit = yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hello")), (started) => Stream.runCollect(started.chunks))))
      expect((failedWith(exit) as StreamInterrupted).cause).toMatchObject({ _tag: "ProviderDefect" })
      expect(outcomes).toEqual(["failure"])
    })
  )

  it.scoped("a provider's stream whose finalizer dies after a whole answer ends as that answer", () =>
    Effect.gen(function* () {
      const healthy = yield* sim("bad")
      const model: LanguageModelService = {
        info: healthy.info,
        complete: healthy.complete,
        stream: (request) => Stream.ensuring(healthy.stream(request), Effect.die(new TypeError("socket.destroy is not a function")))
      }
      const router = yield* Router.make({ targets: { bad: { model } }, chains: { default: ["bad"] }, policy: { retry: { maxAttempts: 1 } } })
      const outcomes: Array<string> = []
      yield* router.listen((event) => void (event._tag === "RequestFinished" && outcomes.push(event.outcome)))
      const [chunks, meta] = succeeded(
        yield* settle(Effect.scoped(Effect.flatMap(router.stream(Chat.prompt("hello")), (started) => Effect.zip(Stream.runCollect(started.chunks), started.done))))
      )
      expect(Chunk.some(chunks, Chat.isContent)).toBe(true)
      expect(meta.target).toBe("bad")
      expect(outcomes).toEqual(["success"])
    })
  )
})

describe("a provider's defect, through the gateway", () => {
  it.live("a request whose router dies is a 500 whose log line names the defect's class and place, not its text; a provider's defect fails over", () =>
    Effect.gen(function* () {
      const records: Array<LogSink.Line> = []
      const logs = Layer.succeed(LogSink.LogSink, { write: (record) => void records.push(record) })
      const healthy = yield* Simulated.make({ provider: "good", model: "good-model", latency: "1 millis", tokenDelay: "1 millis" })
      const dies = Effect.all([Effect.die(new TypeError(`cannot read 'choices' (key ${secret})`)), Effect.never], { concurrency: "unbounded" })
      const bad: LanguageModelService = { info: healthy.info, complete: () => Effect.zipRight(dies, Effect.never), stream: () => Stream.drain(Stream.fromEffect(dies)) }
      const router = yield* Router.make({ targets: { bad: { model: bad }, good: { model: healthy } }, chains: { default: ["bad", "good"] }, policy })
      const post = (url: string, body: unknown) =>
        Effect.promise(() =>
          fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
            .then(async (r) => ({ status: r.status, text: await r.text() }))
        )
      const gateway = yield* quiet(Gateway.make({ router, port: 0 }).pipe(Effect.provide(logs)))
      const served = yield* post(`${gateway.url}/v1/chat/completions`, { model: "default", messages: [{ role: "user", content: "hello" }] })
      expect(served.status).toBe(200)
      // a router that dies itself (not a provider's call): the gateway's 500
      const broken: Router.Service = { ...router, complete: () => Effect.die(new TypeError(`boom ${secret}`)) }
      const other = yield* quiet(Gateway.make({ router: broken, port: 0 }).pipe(Effect.provide(logs)))
      const died = yield* post(`${other.url}/v1/chat/completions`, { model: "default", messages: [{ role: "user", content: "hello" }] })
      expect(died.status).toBe(500)
      yield* Effect.sleep("100 millis") // the log lines' batch
      const text = JSON.stringify(records)
      expect(text).not.toContain(secret)
      expect(records.some((record) => record.fields["error"] === "internal_error" && String(record.fields["outcome"]).startsWith("TypeError at "))).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("a streamed completion whose provider's finalizer dies after the whole answer still ends with its finish and [DONE]", () =>
    Effect.gen(function* () {
      const healthy = yield* Simulated.make({ provider: "bad", model: "bad-model", latency: "1 millis", tokenDelay: "1 millis" })
      const model: LanguageModelService = {
        info: healthy.info,
        complete: healthy.complete,
        stream: (request) => Stream.ensuring(healthy.stream(request), Effect.die(new TypeError("socket.destroy is not a function")))
      }
      const router = yield* Router.make({ targets: { bad: { model } }, chains: { default: ["bad"] }, policy: { retry: { maxAttempts: 1 } } })
      const gateway = yield* quiet(Gateway.make({ router, port: 0 }))
      const body = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hello" }], stream: true })
        }).then((r) => r.text())
      )
      expect(body).toContain('"finish_reason":"stop"')
      expect(body.endsWith("data: [DONE]\n\n")).toBe(true)
    }).pipe(Effect.scoped)
  )
})
