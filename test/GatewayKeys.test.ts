/**
 * Client keys: a gateway key with a name, the models it may call, requests
 * and tokens a minute, and a spending cap; driven by the official `openai`
 * and `@anthropic-ai/sdk` clients against a gateway on 127.0.0.1 over a
 * mock upstream. Time is the test's clock: a window passes with
 * `TestClock.adjust`.
 */
import { type HttpClient, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, Metric, Redacted, type Scope, TestClock } from "effect"
import AnthropicSdk from "@anthropic-ai/sdk"
import OpenAI from "openai"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Clients from "../src/gateway/internal/clients.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { rejection } from "./support/client.js"

const question = [{ role: "user" as const, content: "Say hello." }]

/** A million prompt tokens an answer: $0.40 at gpt-4.1-mini's price, so caps read in round figures. */
const pricey: MockServer.Reply = { usage: { inputTokens: 1_000_000, outputTokens: 0 } }

interface Setup {
  readonly upstream: MockServer.MockServer
  readonly gateway: Gateway.Server
  readonly clientOf: (key: string) => OpenAI
}

/** An upstream, a router with chains `default` and `fast` (both the one model) and the alias `gpt`, and the gateway. */
const setup = (keys: ReadonlyArray<Redacted.Redacted | Gateway.ClientKey> | Gateway.KeyRing, reply?: MockServer.Reply) =>
  Effect.gen(function* () {
    const upstream = yield* MockServer.make(reply === undefined ? {} : { reply })
    const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
    const router = yield* Router.make({
      targets: { gpt: { model } },
      chains: { default: ["gpt"], fast: ["gpt"] },
      policy: { retry: { maxAttempts: 1 } }
    })
    const gateway = yield* Gateway.make({ router, port: 0, ...(Array.isArray(keys) ? { keys } : { keyRing: keys as Gateway.KeyRing }) })
    const clientOf = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0, timeout: 10_000 })
    return { upstream, gateway, clientOf } satisfies Setup
  })

const complete = (client: OpenAI, model = "default") =>
  Effect.promise(() => client.chat.completions.create({ model, messages: question }))

const apiError = (error: unknown) => error as InstanceType<typeof OpenAI.APIError>

const admin = Redacted.make("gw-admin-key-0001")
const teamKey = Redacted.make("gw-team-key-0002")

/** A counter's value for a key's outcome (`llm_gateway_key_requests_total`). */
const outcomes = (key: string, outcome: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(Clients.requests, "key", key), "outcome", outcome)),
    (state) => state.count
  )

/** A test with the test's clock and services, and undici as the adapters' HTTP client for its whole length. */
const test = <E>(name: string, body: () => Effect.Effect<void, E, HttpClient.HttpClient | Scope.Scope>) =>
  it.scoped(name, () => Effect.provide(body(), NodeHttpClient.layerUndici))

/**
 * The bare key's request to the gateway at `url`, holding its one slot
 * while `upstream` stalls it: the team's client, and what lets the held
 * request go (its client leaves).
 */
const holdingTheSlot = (url: string, upstream: MockServer.MockServer) =>
  Effect.gen(function* () {
    const clientOf = (key: Redacted.Redacted) => new OpenAI({ baseURL: `${url}/v1`, apiKey: Redacted.value(key), maxRetries: 0 })
    const controller = new AbortController()
    const holding = yield* Effect.fork(rejection(() =>
      clientOf(admin).chat.completions.create({ model: "default", messages: question }, { signal: controller.signal })
    ))
    yield* MockServer.awaitRequests(upstream, 1)
    return { team: clientOf(teamKey), release: Effect.zipRight(Effect.sync(() => controller.abort()), holding.await) }
  })

describe("client keys", () => {
  test("models: another chain is a 403 on every route, the list shows its models only, and a bare key may call all", () =>
    Effect.gen(function* () {
      const { gateway, clientOf, upstream } = yield* setup([admin, { key: teamKey, name: "models-team", models: ["fast", "gpt"] }])
      const team = clientOf(Redacted.value(teamKey))
      expect((yield* complete(team, "fast")).choices[0]?.message.content).toBe("Hello from the mock server.")

      const refused = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(refused.code).toBe("model_not_allowed")
      expect(refused.param).toBe("model")
      expect(refused.message).toContain("The key 'models-team' may not call the model 'default'")
      expect(refused.message).not.toContain("gw-team")

      const listed = yield* Effect.promise(() => team.models.list())
      expect(listed.data.map((model) => model.id).sort()).toEqual(["fast", "gpt"])
      const one = yield* Effect.promise(() => fetch(`${gateway.url}/v1/models/default`, { headers: { authorization: `Bearer ${Redacted.value(teamKey)}` } }))
      expect(one.status).toBe(403)

      // the Messages API's route: Anthropic's error for a 403, by x-api-key
      const anthropic = new AnthropicSdk({ baseURL: gateway.url, apiKey: Redacted.value(teamKey), maxRetries: 0 })
      const denied = yield* rejection(() =>
        anthropic.messages.create({ model: "default", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] })
      )
      expect(denied).toBeInstanceOf(AnthropicSdk.PermissionDeniedError)
      expect((denied as InstanceType<typeof AnthropicSdk.PermissionDeniedError>).error).toMatchObject({ type: "error", error: { type: "permission_error" } })
      const counted = yield* rejection(() =>
        anthropic.messages.countTokens({ model: "default", messages: [{ role: "user", content: "Hi" }] })
      )
      expect(counted).toBeInstanceOf(AnthropicSdk.PermissionDeniedError)

      // a misspelt model: the 404 suggests a close name the key may call, never one it may not
      const misspelt = (client: OpenAI, model: string) =>
        Effect.map(rejection(() => client.chat.completions.create({ model, messages: question })), (error) => apiError(error).message)
      expect(yield* misspelt(team, "fastt")).toContain("does not exist (did you mean 'fast'?)")
      expect(yield* misspelt(team, "defualt")).not.toContain("did you mean")
      expect(yield* misspelt(clientOf(Redacted.value(admin)), "defualt")).toContain("(did you mean 'default'?)")
      expect(yield* misspelt(team, "zzzzzz")).not.toContain("did you mean")

      // the bare key: everything
      const all = yield* Effect.promise(() => clientOf(Redacted.value(admin)).models.list())
      expect(all.data.map((model) => model.id).sort()).toEqual(["default", "fast", "gpt"])
      expect((yield* complete(clientOf(Redacted.value(admin)))).choices[0]?.message.content).toBe("Hello from the mock server.")
      expect(upstream.count()).toBe(2) // refused requests never reached upstream
      expect(yield* outcomes("models-team", "model_not_allowed")).toBe(4) // chat, the model, messages, count_tokens
      expect(yield* outcomes("models-team", "admitted")).toBe(1)
      expect(yield* outcomes("key-1", "admitted")).toBe(1)
    })
  )

  test("rpm: past it, 429 rate_limit_exceeded of type requests with Retry-After, for that key only, until the minute passes", () =>
    Effect.gen(function* () {
      const other = Redacted.make("gw-other-key-0003")
      const { clientOf } = yield* setup([{ key: teamKey, name: "rpm-team", rpm: 2 }, { key: other, name: "rpm-other", rpm: 2 }])
      const team = clientOf(Redacted.value(teamKey))
      yield* complete(team)
      yield* complete(team)
      const limited = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(limited).toBeInstanceOf(OpenAI.RateLimitError)
      expect(limited.code).toBe("rate_limit_exceeded")
      expect(limited.type).toBe("requests")
      expect(limited.message).toContain("Rate limit reached for the key 'rpm-team' on requests per minute (RPM): limit 2.")
      const wait = Number(limited.headers?.get("retry-after"))
      expect(wait).toBeGreaterThanOrEqual(1)
      expect(wait).toBeLessThanOrEqual(60)
      // another key has its own count
      yield* complete(clientOf(Redacted.value(other)))
      yield* TestClock.adjust(`${wait} seconds`)
      expect((yield* complete(team)).choices[0]?.message.content).toBe("Hello from the mock server.")
      expect(yield* outcomes("rpm-team", "rate_limited")).toBe(1)
    })
  )

  test("rpm: Anthropic's count_tokens and Gemini's :countTokens count against it (no provider asked, none of its tokens)", () =>
    Effect.gen(function* () {
      const { gateway, upstream } = yield* setup([{ key: teamKey, name: "count-team", rpm: 2 }])
      const count = (path: string, body: unknown) =>
        Effect.promise(() =>
          fetch(`${gateway.url}${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-key": Redacted.value(teamKey), "x-goog-api-key": Redacted.value(teamKey) },
            body: JSON.stringify(body)
          }).then(async (response) => ({ status: response.status, retryAfter: response.headers.get("retry-after"), text: await response.text() }))
        )
      const messages = { model: "default", messages: question }
      const gemini = { contents: [{ role: "user", parts: [{ text: "Say hello." }] }] }
      expect((yield* count("/v1/messages/count_tokens", messages)).status).toBe(200)
      expect((yield* count("/v1beta/models/default:countTokens", gemini)).status).toBe(200)
      // the minute's two requests taken: a third, by either route, is refused with the wait
      const limited = yield* count("/v1/messages/count_tokens", messages)
      expect(limited.status, limited.text).toBe(429)
      expect(limited.text).toContain("Rate limit reached for the key 'count-team' on requests per minute (RPM): limit 2.")
      expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1)
      expect((yield* count("/v1beta/models/default:countTokens", gemini)).status).toBe(429)
      expect(yield* outcomes("count-team", "rate_limited")).toBe(2)
      yield* TestClock.adjust("1 minute")
      expect((yield* count("/v1/messages/count_tokens", messages)).status).toBe(200)
      expect(upstream.requests().length).toBe(0)
    })
  )

  test("tpm: the prompt's estimate is counted when admitted and corrected to the provider's count once answered", () =>
    Effect.gen(function* () {
      // the answer reports a million prompt tokens for a prompt estimated at a few: after one, the window is full
      const { clientOf } = yield* setup([{ key: teamKey, name: "tpm-team", tpm: 1_000 }], pricey)
      const team = clientOf(Redacted.value(teamKey))
      yield* complete(team)
      const limited = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(limited.status).toBe(429)
      expect(limited.type).toBe("tokens")
      expect(limited.message).toContain("on tokens per minute (TPM): limit 1000.")
      yield* TestClock.adjust("1 minute")
      yield* complete(team)
    })
  )

  test("rpm: a request the gateway refuses before any provider is asked (its bulkhead full) is given back; one a provider failed counts", () =>
    Effect.gen(function* () {
      // the first request (the bare key's) stalls upstream, holding the gateway's one slot; the third fails upstream
      const upstream = yield* MockServer.make({ faultFor: (i) => (i === 0 ? MockServer.stall : i === 1 ? MockServer.status(500) : undefined) })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
      const gateway = yield* Gateway.make({ router, port: 0, maxConcurrent: 1, maxQueued: 0, keys: [admin, { key: teamKey, name: "busy-team", rpm: 1 }] })
      const { team, release } = yield* holdingTheSlot(gateway.url, upstream)
      // the gateway is full: each of the team's requests is refused busy, never rate limited, as none took its one request
      for (let i = 0; i < 3; i++) {
        const busy = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
        expect(busy.code).toBe("gateway_busy")
      }
      expect(yield* outcomes("busy-team", "rate_limited")).toBe(0)
      // the slot freed: the team's next request reaches the provider, which fails it; it counts
      yield* release
      yield* MockServer.awaitAborted(upstream, 1)
      let failed = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      // the slot is freed once the gateway has seen the client leave: until then, busy (and given back)
      for (let turns = 0; failed.code === "gateway_busy" && turns < 1_000; turns++) {
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        failed = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      }
      expect(failed.status).toBe(503)
      expect(upstream.count()).toBe(2)
      const limited = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(limited.code).toBe("rate_limit_exceeded")
      expect(upstream.count()).toBe(2)
    })
  )

  test("rpm: a request no provider was asked for (every target's breaker open) is given back, whole or streamed; one a provider answered counts", () =>
    Effect.gen(function* () {
      const upstream = yield* MockServer.make()
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
      const gateway = yield* Gateway.make({ router, port: 0, keys: [{ key: teamKey, name: "open-team", rpm: 1 }] })
      const team = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(teamKey), maxRetries: 0 })
      yield* router.breaker("gpt")!.isolate
      for (let i = 0; i < 3; i++) {
        const refused = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
        expect(refused.status).toBe(503)
        const streamed = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question, stream: true })))
        expect(streamed.status).toBe(503)
      }
      expect(yield* outcomes("open-team", "rate_limited")).toBe(0)
      expect(upstream.count()).toBe(0)
      // the breaker closed: the one request of the minute reaches the provider, and the next is limited
      yield* router.breaker("gpt")!.reset
      expect((yield* complete(team, "default")).choices[0]?.message.content).toBe("Hello from the mock server.")
      const limited = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(limited.code).toBe("rate_limit_exceeded")
      expect(upstream.count()).toBe(1)
    })
  )

  test("rpm: a request that waited for a slot while a reload took its model away (a 404) is given back", () =>
    Effect.gen(function* () {
      const upstream = yield* MockServer.make({ faultFor: (i) => (i === 0 ? MockServer.stall : undefined) })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const first = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"], other: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
      const swappable = yield* Router.swappable(first)
      const gateway = yield* Gateway.make({
        router: swappable.router,
        port: 0,
        maxConcurrent: 1,
        maxQueued: 1,
        keys: [admin, { key: teamKey, name: "reload-team", rpm: 1 }]
      })
      // the bare key's request holds the one slot (its upstream never answers); the team's waits for it
      const { team, release } = yield* holdingTheSlot(gateway.url, upstream)
      const waiting = yield* Effect.fork(rejection(() => team.chat.completions.create({ model: "other", messages: question })))
      for (let i = 0; i < 1_000 && (yield* gateway.inFlight) < 2; i++) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(yield* gateway.inFlight).toBe(2)
      yield* swappable.swap(yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } }))
      yield* release
      const gone = apiError(yield* Effect.flatten(waiting.await))
      expect(gone.status).toBe(404)
      expect(upstream.count()).toBe(1)
      // its one request a minute is still the team's
      expect((yield* complete(team)).choices[0]?.message.content).toBe("Hello from the mock server.")
    })
  )

  test("spend: answers are charged their cost; once the cap is spent, 429 insufficient_quota until it leaves the window", () =>
    Effect.gen(function* () {
      const { clientOf, gateway, upstream } = yield* setup([{ key: teamKey, name: "spend-team", spend: { usd: 1, window: "1 day" } }], pricey)
      const team = clientOf(Redacted.value(teamKey))
      // $0.40 each: admitted at $0, $0.40 and $0.80 (under the cap), refused at $1.20; the first spent an hour and a half
      // before the others, in the window's first bucket (a 24th of it: an hour)
      yield* complete(team)
      yield* TestClock.adjust("90 minutes")
      yield* complete(team)
      // a stream is charged once it ends
      const stream = yield* Effect.promise(() => team.chat.completions.create({ model: "default", messages: question, stream: true }))
      yield* Effect.promise(async () => {
        for await (const _ of stream) void _
      })
      const refused = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError)
      expect(refused.code).toBe("insufficient_quota")
      // the first $0.40 leaves the window a day after its bucket began: 22.5 hours from now
      expect((refused.error as { message: string }).message).toBe(
        "The key 'spend-team' has spent $1.2000 of its cap of $1.00 for a window of 1d; what it spent leaves the window a 24th of it at a time, the first of it in 81000s."
      )
      expect(refused.headers?.get("retry-after")).toBe("81000")
      expect(refused.headers?.get("x-should-retry")).toBe("false")
      // on the Gemini route, Google's error with the wait as RetryInfo, which Gemini CLI reads
      const google = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1beta/models/default:generateContent`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": Redacted.value(teamKey) },
          body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Say hello." }] }] })
        }).then(async (response) => ({ status: response.status, body: (await response.json()) as { error: { status: string; details: Array<Record<string, unknown>> } } }))
      )
      expect(google.status).toBe(429)
      expect(google.body.error.status).toBe("RESOURCE_EXHAUSTED")
      expect(google.body.error.details).toContainEqual({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "81000s" })
      expect(upstream.count()).toBe(3)
      const spent = yield* Metric.value(
        Metric.tagged(Clients.spent, "key", "spend-team")
      )
      expect(spent.count).toBeCloseTo(1.2, 9)
      // a second before, still refused; once it has left, $0.80 is counted and a request is admitted
      yield* TestClock.adjust("80999 seconds")
      expect(apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question }))).code).toBe(
        "insufficient_quota"
      )
      yield* TestClock.adjust("1 second")
      yield* complete(team)
      expect(yield* outcomes("spend-team", "spend_cap")).toBe(3)
    })
  )

  test("spend: a stream cut short is charged what it used, whether the provider failed it, the client left it or requestTimeout ended it", () =>
    Effect.gen(function* () {
      // two long answers: the first cut by the provider after a few events, the second stalled there and left by the client
      const reply: MockServer.Reply = { text: "word ".repeat(2_000) }
      const upstream = yield* MockServer.make({ reply, faultFor: (i) => (i === 0 ? MockServer.resetAfter(3) : MockServer.stallAfter(3)) })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
      const gateway = yield* Gateway.make({ router, port: 0, keys: [{ key: teamKey, name: "cut-team", spend: { usd: 1 } }] })
      const team = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(teamKey), maxRetries: 0 })
      const spent = Effect.map(Metric.value(Metric.tagged(Clients.spent, "key", "cut-team")), (state) => state.count)
      /** What the key has been charged once more than `than`, waiting a turn of the event loop at a time (no timer), for a while. */
      const chargedOver = (than: number, turns = 20_000): Effect.Effect<number> =>
        Effect.flatMap(spent, (now) =>
          now > than || turns === 0
            ? Effect.succeed(now)
            : Effect.zipRight(Effect.promise(() => new Promise((resolve) => setImmediate(resolve))), chargedOver(than, turns - 1)))

      const cut = yield* Effect.promise(() => team.chat.completions.create({ model: "default", messages: question, stream: true }))
      yield* rejection(async () => {
        for await (const _ of cut) void _
      })
      const first = yield* chargedOver(0)
      expect(first).toBeGreaterThan(0)

      const controller = new AbortController()
      const left = yield* Effect.promise(() =>
        team.chat.completions.create({ model: "default", messages: question, stream: true }, { signal: controller.signal })
      )
      yield* Effect.promise(async () => {
        for await (const _ of left) {
          controller.abort()
          break
        }
      })
      yield* MockServer.awaitAborted(upstream, 1)
      expect(yield* chargedOver(first)).toBeGreaterThan(first)

      // the gateway's requestTimeout ends the third, stalled too
      const timed = yield* Gateway.make({ router, port: 0, keys: [{ key: teamKey, name: "cut-team", spend: { usd: 1 } }], requestTimeout: "5 seconds" })
      const late = new OpenAI({ baseURL: `${timed.url}/v1`, apiKey: Redacted.value(teamKey), maxRetries: 0 })
      const second = yield* spent
      const stalled = yield* Effect.promise(() => late.chat.completions.create({ model: "default", messages: question, stream: true }))
      const reading = yield* Effect.fork(rejection(async () => {
        for await (const _ of stalled) void _
      }))
      yield* MockServer.awaitRequests(upstream, 3)
      yield* TestClock.adjust("5 seconds")
      yield* reading.await
      expect(yield* chargedOver(second)).toBeGreaterThan(second)
    })
  )

  test("spend and tpm: a request that fails though its provider billed it is charged what was billed (a stop on content policy; the stopped part of one a content-policy chain then failed)", () =>
    Effect.gen(function* () {
      // a million prompt tokens each ($0.40): `strict` stops its answers on content policy, `open` fails
      const stopped: MockServer.Reply = { text: "", finishReason: "content_filter", usage: { inputTokens: 1_000_000, outputTokens: 0 } }
      const strictUp = yield* MockServer.make({ reply: stopped })
      const openUp = yield* MockServer.make({ faultFor: () => MockServer.status(500) })
      const strict = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: strictUp.baseUrls.openai })
      const open = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: openUp.baseUrls.openai })
      const router = yield* Router.make({
        targets: { strict: { model: strict }, open: { model: open } },
        chains: { default: ["strict"], moderated: { targets: ["strict"], contentPolicy: "lenient" }, lenient: ["open"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const keys: Array<Gateway.ClientKey> = [
        { key: teamKey, name: "billed-team", spend: { usd: 5 } },
        { key: admin, name: "billed-tpm", tpm: 1_000 }
      ]
      const gateway = yield* Gateway.make({ router, port: 0, keys })
      const clientOf = (key: Redacted.Redacted) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(key), maxRetries: 0 })
      const team = clientOf(teamKey)
      const spent = Effect.map(Metric.value(Metric.tagged(Clients.spent, "key", "billed-team")), (state) => state.count)
      // stopped on content policy: a 200 as OpenAI answers it, and $0.40 charged
      const answer = yield* complete(team)
      expect(answer.choices[0]?.finish_reason).toBe("content_filter")
      expect(yield* spent).toBeCloseTo(0.4, 9)
      // the same stopped before any content went out of a stream
      const stream = yield* Effect.promise(() => team.chat.completions.create({ model: "default", messages: question, stream: true }))
      yield* Effect.promise(async () => {
        for await (const _ of stream) void _
      })
      expect(yield* spent).toBeCloseTo(0.8, 9)
      // stopped, handed to the content-policy chain, which fails: the stopped answer was billed all the same
      const failed = apiError(yield* rejection(() => team.chat.completions.create({ model: "moderated", messages: question })))
      expect(failed.status).toBe(503)
      expect(openUp.count()).toBe(1)
      expect(yield* spent).toBeCloseTo(1.2, 9)
      const info = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1/key`, { headers: { authorization: `Bearer ${Redacted.value(teamKey)}` } }).then((r) => r.json())
      )
      expect(info).toMatchObject({ spend: { spent_usd: 1.2 } })
      // the million tokens count against tpm too
      const tpm = clientOf(admin)
      yield* complete(tpm)
      const limited = apiError(yield* rejection(() => tpm.chat.completions.create({ model: "default", messages: question })))
      expect(limited.code).toBe("rate_limit_exceeded")
      expect(limited.type).toBe("tokens")
    })
  )

  test("spend: a spent cap is refused before the key's rpm is counted, and told to the SDKs as not worth retrying", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup([{ key: teamKey, name: "spent-team", rpm: 3, spend: { usd: 0.5 } }], pricey)
      // the SDK's own retries left on, as an application has them
      const team = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(teamKey), timeout: 10_000 })
      yield* complete(team)
      yield* complete(team) // $0.80: the cap is spent
      const refused = apiError(yield* rejection(() => team.chat.completions.create({ model: "default", messages: question })))
      expect(refused.code).toBe("insufficient_quota")
      expect(refused.headers?.get("x-should-retry")).toBe("false")
      expect(yield* outcomes("spent-team", "spend_cap")).toBe(1) // not retried
      expect(yield* outcomes("spent-team", "rate_limited")).toBe(0)
      expect(upstream.count()).toBe(2)
      const anthropic = new AnthropicSdk({ baseURL: gateway.url, apiKey: Redacted.value(teamKey) })
      const denied = yield* rejection(() =>
        anthropic.messages.create({ model: "default", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] })
      )
      expect(denied).toBeInstanceOf(AnthropicSdk.RateLimitError)
      expect(yield* outcomes("spent-team", "spend_cap")).toBe(2)
      const info = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1/key`, { headers: { authorization: `Bearer ${Redacted.value(teamKey)}` } }).then((r) => r.json())
      )
      expect(info).toMatchObject({ name: "spent-team", spend: { spent_usd: 0.8, remaining_usd: 0 } })
    })
  )

  test("the request's log line names the key, never the key itself", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push(`${String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
      })
      const { clientOf } = yield* setup([admin, { key: teamKey, name: "log-team", models: ["fast"] }]).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      yield* complete(clientOf(Redacted.value(teamKey)), "fast")
      yield* rejection(() => clientOf(Redacted.value(teamKey)).chat.completions.create({ model: "default", messages: question }))
      yield* complete(clientOf(Redacted.value(admin)))
      yield* Effect.yieldNow()
      const requests = lines.filter((line) => line.startsWith("POST /v1/chat/completions"))
      expect(requests).toHaveLength(3)
      expect(requests[0]).toContain(`"key":"log-team"`)
      expect(requests[1]).toContain(`"key":"log-team"`)
      expect(requests[1]).toContain(`"error":"model_not_allowed"`)
      expect(requests[2]).toContain(`"key":"key-1"`)
      expect(lines.some((line) => line.includes("gw-team") || line.includes("gw-admin"))).toBe(false)
    })
  )

  test("a key ring: a rotated secret under the same name keeps its counts; changed limits start afresh", () =>
    Effect.gen(function* () {
      const ring = Gateway.keyRing([{ key: teamKey, name: "ring-team", rpm: 1 }])
      const { clientOf } = yield* setup(ring)
      yield* complete(clientOf(Redacted.value(teamKey)))
      const rotated = Redacted.make("gw-rotated-key-0004")
      expect(ring.set([{ key: rotated, name: "ring-team", rpm: 1 }])).toBe(true)
      // the old secret no longer works; the new one has the old one's count
      const old = apiError(yield* rejection(() => clientOf(Redacted.value(teamKey)).chat.completions.create({ model: "default", messages: question })))
      expect(old.status).toBe(401)
      const limited = apiError(yield* rejection(() => clientOf(Redacted.value(rotated)).chat.completions.create({ model: "default", messages: question })))
      expect(limited.status).toBe(429)
      // a new limit: a new count
      ring.set([{ key: rotated, name: "ring-team", rpm: 5 }])
      yield* complete(clientOf(Redacted.value(rotated)))
    })
  )

  test("degraded mode's cache follows the key, not its place: keys swapped in a ring never read each other's answers", () =>
    Effect.gen(function* () {
      let down = false
      const upstream = yield* MockServer.make({ faultFor: () => (down ? MockServer.status(500) : undefined) })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] }, policy: { retry: { maxAttempts: 1 } } })
      const one = Redacted.make("gw-key-one-0005")
      const two = Redacted.make("gw-key-two-0006")
      const ring = Gateway.keyRing([one, two])
      const gateway = yield* Gateway.make({ router, port: 0, keyRing: ring })
      const clientOf = (key: Redacted.Redacted) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(key), maxRetries: 0 })
      yield* complete(clientOf(one))
      // the same keys, the other way round: "two" now holds the first place
      ring.set([two, one])
      down = true
      const error = apiError(yield* rejection(() => clientOf(two).chat.completions.create({ model: "default", messages: question })))
      expect(error.status).toBe(503)
      const { response } = yield* Effect.promise(() =>
        clientOf(one).chat.completions.create({ model: "default", messages: question }).withResponse()
      )
      expect(response.headers.get("x-llm-degraded")).toBe("cache")
    })
  )

  test("with shared state, each client key's limiters register with the store under the key's name", () =>
    Effect.gen(function* () {
      const registered: Array<string> = []
      const store: RateLimit.Store = {
        register: (registration) =>
          Effect.sync(() => {
            registered.push(registration.name)
            return { onCount: () => undefined }
          })
      }
      yield* setup([admin, { key: teamKey, name: "shared-team", rpm: 10, spend: { usd: 5 } }]).pipe(
        Effect.provide(RateLimit.layer(store))
      )
      expect(registered).toEqual(['gateway key "shared-team"', 'gateway key "shared-team" spend'])
      // the names stay apart whatever a client's name: "a"'s spending and "a spend"'s rate limit are not one count
      registered.length = 0
      yield* setup([{ key: admin, name: "a", spend: { usd: 5 } }, { key: teamKey, name: "a spend", rpm: 10 }]).pipe(
        Effect.provide(RateLimit.layer(store))
      )
      expect(new Set(registered).size).toBe(2)
    })
  )

  test("with shared state, a reload lets go of the limiters it replaces or drops: the store stops mirroring them", () =>
    Effect.gen(function* () {
      const live = new Set<RateLimit.Registration>()
      const registered: Array<RateLimit.Registration> = []
      const store: RateLimit.Store = {
        register: (registration) =>
          Effect.sync(() => {
            live.add(registration)
            registered.push(registration)
            return { onCount: () => undefined, unregister: Effect.sync(() => void live.delete(registration)) }
          })
      }
      const other = Redacted.make("gw-other-key-0003")
      const ring = Gateway.keyRing([
        { key: teamKey, name: "kept-team", rpm: 10, spend: { usd: 5 } },
        { key: other, name: "gone-team", rpm: 10 },
        { key: admin, name: "changed-team", tpm: 1_000, spend: { usd: 5 } }
      ])
      const { gateway } = yield* setup(ring).pipe(Effect.provide(RateLimit.layer(store)))
      const names = () => [...live].map((registration) => registration.name).sort()
      expect(names()).toEqual([
        'gateway key "changed-team"',
        'gateway key "changed-team" spend',
        'gateway key "gone-team"',
        'gateway key "kept-team"',
        'gateway key "kept-team" spend'
      ])
      const before = [...registered]
      // "gone-team" is gone, "changed-team" has a new tpm (its spending counter, whose window stays, is kept)
      ring.set([
        { key: teamKey, name: "kept-team", rpm: 10, spend: { usd: 5 } },
        { key: admin, name: "changed-team", tpm: 2_000, spend: { usd: 5 } }
      ])
      // the clients are made again at the next request
      const info = yield* Effect.promise(() => fetch(`${gateway.url}/v1/key`, { headers: { authorization: `Bearer ${Redacted.value(teamKey)}` } }))
      expect(info.status).toBe(200)
      expect(names()).toEqual([
        'gateway key "changed-team"',
        'gateway key "changed-team" spend',
        'gateway key "kept-team"',
        'gateway key "kept-team" spend'
      ])
      // the one registered again is the new limiter; the old one of that name was let go
      expect(registered.length).toBe(before.length + 1)
      expect(live.has(before.find((registration) => registration.name === 'gateway key "changed-team"')!)).toBe(false)
      expect(live.has(registered.at(-1)!)).toBe(true)
    })
  )

  test("GET /v1/key: a key sees its name, models, limits and what it has spent, never the key; routes about the whole gateway answer bare keys only", () =>
    Effect.gen(function* () {
      const routes = [{ path: "/v1/usage", handler: Effect.succeed(HttpServerResponse.unsafeJson({ total: 1 })), requireKey: true }]
      const upstream = yield* MockServer.make({ reply: pricey })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: upstream.baseUrls.openai })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] } })
      const keys: Array<Redacted.Redacted | Gateway.ClientKey> = [admin, { key: teamKey, name: "info-team", models: ["default"], rpm: 60, spend: { usd: 2, window: "1 hour" } }]
      const gateway = yield* Gateway.make({ router, port: 0, keys, routes })
      const get = (path: string, key: Redacted.Redacted) =>
        Effect.promise(async () => {
          const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${Redacted.value(key)}` } })
          return { status: response.status, body: await response.text() }
        })
      const team = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Redacted.value(teamKey), maxRetries: 0 })
      yield* complete(team)
      const mine = yield* get("/v1/key", teamKey)
      expect(mine.status).toBe(200)
      expect(JSON.parse(mine.body)).toEqual({
        object: "key",
        name: "info-team",
        models: ["default"],
        rpm: 60,
        tpm: null,
        spend: { usd: 2, window_seconds: 3600, spent_usd: 0.4, remaining_usd: 1.6 }
      })
      expect(mine.body).not.toContain("gw-team")
      // the key as Anthropic's and Google's clients send it, bare
      for (const header of ["x-api-key", "x-goog-api-key"]) {
        const bare = yield* Effect.promise(() => fetch(`${gateway.url}/v1/key`, { headers: { [header]: Redacted.value(teamKey) } }))
        expect(bare.status, header).toBe(200)
        expect(((yield* Effect.promise(() => bare.json())) as { name: string }).name).toBe("info-team")
      }
      expect(JSON.parse((yield* get("/v1/key", admin)).body)).toEqual({
        object: "key",
        name: "key-1",
        models: null,
        rpm: null,
        tpm: null,
        spend: null
      })
      // the gateway's costs are the operators': a client's key is refused them
      const usage = yield* get("/v1/usage", teamKey)
      expect(usage.status).toBe(403)
      expect(JSON.parse(usage.body).error.code).toBe("key_not_allowed")
      expect((yield* get("/v1/usage", admin)).status).toBe(200)
    })
  )

  test("keys that contradict each other are a defect: a name or a key given twice, a cap of nothing", () =>
    Effect.gen(function* () {
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl: "http://127.0.0.1:9/v1" })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] } })
      const made = (keys: ReadonlyArray<Redacted.Redacted | Gateway.ClientKey>) =>
        Effect.exit(Effect.scoped(Gateway.make({ router, port: 0, keys })))
      const messageOf = (exit: Exit.Exit<unknown, unknown>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
      expect(messageOf(yield* made([{ key: admin, name: "a" }, { key: teamKey, name: "a" }]))).toContain(
        `keys[1] ("a"): the name is used by an earlier key`
      )
      expect(messageOf(yield* made([admin, { key: admin, name: "b" }]))).toContain("keys[1] is the same key as an earlier one")
      expect(messageOf(yield* made([{ key: teamKey, name: "c", spend: { usd: 0 } }]))).toContain("spend.usd must be a positive amount")
      expect(messageOf(yield* made([{ key: teamKey, name: "d", models: [] }]))).toContain("models must name at least one chain or model")
      expect(messageOf(yield* made([{ key: teamKey, name: "e", rpm: 1.5 }]))).toContain("rpm must be a positive integer")
      expect(messageOf(yield* made([{ key: teamKey, name: "f", spend: { usd: 1, window: "10 millis" } }]))).toContain(
        `keys[0] ("f").spend.window must be at least 24 milliseconds (what is spent leaves it a 24th at a time), got 10ms`
      )
      // key-N stands for a bare key in logs and metrics: a client so named would share its figures
      expect(messageOf(yield* made([admin, { key: teamKey, name: "key-1" }]))).toContain(`keys[1] ("key-1").name: key-N names a bare key`)
      const ring = Gateway.keyRing([admin])
      expect(() => ring.set([admin, admin])).toThrow("keys[1] is the same key as an earlier one")
    })
  )
})
