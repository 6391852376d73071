/**
 * Alerts and breaker changes posted to a webhook: what is posted and how,
 * retries in virtual time, what is dropped, and the URL kept secret.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, Metric, Redacted, Scope, TestClock } from "effect"
import type { Alerts, Webhook as WebhookTypes } from "../src/observability/index.js"
import { Webhook } from "../src/observability/index.js"

const url = Redacted.make("https://hooks.example.com/services/T000/B000/s3cretToken")

interface Posted {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** An HttpClient answering each post with the next status of `statuses` (the last one from then on), recording the posts. */
const client = (statuses: ReadonlyArray<number | "hang" | "refuse">) => {
  const posted: Array<Posted> = []
  let calls = 0
  const answer = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.gen(function* () {
      const status = statuses[Math.min(calls++, statuses.length - 1)]!
      const body = request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : undefined
      posted.push({ url: request.url, headers: request.headers, body })
      if (status === "hang") return yield* Effect.never
      if (status === "refuse") {
        return yield* Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: `connect ECONNREFUSED ${request.url}` }))
      }
      return HttpClientResponse.fromWeb(request, new Response("ok", { status }))
    })
  return { posted, layer: Layer.succeed(HttpClient.HttpClient, HttpClient.make(answer)) }
}

const opened = (name: string, reason = "consecutive-failures"): WebhookTypes.Notification => ({
  _tag: "BreakerChanged",
  transition: { name, from: "closed", to: "open", at: 60_000, reason, generation: 1, trips: 1, openUntil: 90_000 }
})
const probing = (name: string): WebhookTypes.Notification => ({
  _tag: "BreakerChanged",
  transition: { name, from: "open", to: "half-open", at: 90_000, reason: "deadline", generation: 2, trips: 1 }
})
const closed = (name: string): WebhookTypes.Notification => ({
  _tag: "BreakerChanged",
  transition: { name, from: "half-open", to: "closed", at: 95_000, reason: "probes-succeeded", generation: 3, trips: 0 }
})
const raised: Alerts.AlertRaised = {
  _tag: "AlertRaised",
  alert: "fallback-rate",
  at: 120_000,
  threshold: 0.05,
  windowMillis: 300_000,
  requests: 40,
  fallbacks: 8,
  rate: 0.2
}
const resolved: Alerts.AlertResolved = {
  _tag: "AlertResolved",
  alert: "fallback-rate",
  at: 420_000,
  resolveBelow: 0.04,
  windowMillis: 300_000,
  raisedAt: 120_000,
  requests: 50,
  fallbacks: 1,
  rate: 0.02
}

const count = (outcome: string) => Metric.value(Webhook.notifications.pipe(Metric.tagged("outcome", outcome))).pipe(Effect.map((state) => state.count))

/** The warnings logged while `self` runs. */
const warnings = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    const result = yield* Effect.provide(self, Logger.replace(Logger.defaultLogger, logger))
    return { result, lines }
  })

describe("Webhook", () => {
  it.scoped("posts breakers opening and closing and alerts raised and resolved, each kind in order, as JSON with the headers; not a probe, nor another instance's trip", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([200])
      const webhook = yield* Effect.provide(Webhook.make({ url, source: "gw-1", headers: { authorization: Redacted.make("Bearer hook-key"), "x-env": "prod" } }), layer)
      for (const notification of [opened("primary"), probing("primary"), opened("backup", "remote"), closed("primary"), raised, resolved]) {
        yield* webhook.notify(notification)
      }
      yield* webhook.flush
      // alerts are posted apart from breaker changes (a queue and a poster each): each kind in order
      const kinds = posted.map((post) => (post.body as { kind: string }).kind)
      expect(kinds.filter((kind) => kind.startsWith("breaker."))).toEqual(["breaker.open", "breaker.closed"])
      expect(kinds.filter((kind) => kind.startsWith("alert."))).toEqual(["alert.raised", "alert.resolved"])
      const ofKind = (kind: string) => posted.find((post) => (post.body as { kind: string }).kind === kind)!
      expect(posted.every((post) => post.url === Redacted.value(url) && post.headers["authorization"] === "Bearer hook-key" && post.headers["x-env"] === "prod")).toBe(true)
      expect(ofKind("breaker.open").body).toEqual({
        source: "gw-1",
        kind: "breaker.open",
        at: "1970-01-01T00:01:00.000Z",
        text: "[gw-1] breaker primary opened (consecutive-failures); retries at 1970-01-01T00:01:30.000Z",
        breaker: { name: "primary", from: "closed", to: "open", reason: "consecutive-failures", trips: 1, openUntil: "1970-01-01T00:01:30.000Z" }
      })
      expect(ofKind("alert.raised").body).toMatchObject({
        kind: "alert.raised",
        text: "[gw-1] fallback-rate alert raised: 8 of 40 requests fell back (20.0%) in the last 5 min, threshold 5.0%",
        alert: { alert: "fallback-rate", requests: 40, fallbacks: 8, rate: 0.2, threshold: 0.05 }
      })
      expect(ofKind("alert.resolved").body).toMatchObject({
        text: "[gw-1] fallback-rate alert resolved: 2.0% of 50 requests fell back in the last 5 min, after 5 min",
        alert: { raisedAt: "1970-01-01T00:02:00.000Z" }
      })
    })
  )

  it.scoped("slack's format is one text; `on` leaves the other kind out", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([200])
      const webhook = yield* Effect.provide(Webhook.make({ url, format: "slack", on: ["breakers"] }), layer)
      yield* webhook.notify(raised)
      yield* webhook.notify({ _tag: "BreakerChanged", transition: { ...(opened("primary") as WebhookTypes.BreakerChanged).transition, to: "isolated", reason: "isolated" } })
      yield* webhook.flush
      expect(posted.map((post) => post.body)).toEqual([{ text: "[llm-failover] breaker primary isolated by an operator: no calls until it is reset" }])
    })
  )

  it.scoped("a 503 and a refused connection are retried with backoff, then delivered once", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([503, "refuse", 200])
      const delivered = yield* count("delivered")
      const webhook = yield* Effect.provide(Webhook.make({ url }), layer)
      yield* webhook.notify(opened("primary"))
      const flushed = yield* Effect.fork(webhook.flush)
      // the first retry waits 1 s, jittered: 0.8 to 1.2 s
      yield* TestClock.adjust("700 millis")
      expect(posted).toHaveLength(1)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(flushed)
      expect(posted).toHaveLength(3)
      expect((yield* count("delivered")) - delivered).toBe(1)
    })
  )

  it.scoped("a 400 is not retried; a post that gets no answer gives up after its retries; the warning never holds the URL", () =>
    Effect.gen(function* () {
      const failed = yield* count("failed")
      const refused = client([400])
      const { lines } = yield* warnings(
        Effect.gen(function* () {
          const webhook = yield* Effect.provide(Webhook.make({ url }), refused.layer)
          yield* webhook.notify(opened("primary"))
          yield* webhook.flush
        })
      )
      expect(refused.posted).toHaveLength(1)
      expect(lines).toEqual(["webhook: a notification (breaker primary open) was not delivered: HTTP 400"])

      const silent = client(["hang"])
      const gaveUp = yield* warnings(
        Effect.gen(function* () {
          const webhook = yield* Effect.provide(Webhook.make({ url, timeout: "2 seconds", retries: 1 }), silent.layer)
          yield* webhook.notify(raised)
          const flushed = yield* Effect.fork(webhook.flush)
          yield* TestClock.adjust("10 seconds")
          yield* Fiber.join(flushed)
        })
      )
      expect(silent.posted).toHaveLength(2)
      expect(gaveUp.lines).toEqual(["webhook: a notification (fallback-rate raised) was not delivered: no answer within 2s"])
      expect((yield* count("failed")) - failed).toBe(2)

      const unreachable = client(["refuse"])
      const transport = yield* warnings(
        Effect.gen(function* () {
          const webhook = yield* Effect.provide(Webhook.make({ url, retries: 0 }), unreachable.layer)
          yield* webhook.notify(raised)
          yield* webhook.flush
        })
      )
      expect(transport.lines).toEqual(["webhook: a notification (fallback-rate raised) was not delivered: Transport error"])
      expect(JSON.stringify([lines, gaveUp.lines, transport.lines])).not.toContain("s3cretToken")
    })
  )

  it.scoped("beyond its queue the oldest waiting notification is dropped and counted; the one being posted is not", () =>
    Effect.gen(function* () {
      const dropped = yield* count("dropped")
      const gate = yield* Deferred.make<void>()
      const posted: Array<string> = []
      const slow = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) =>
          Effect.gen(function* () {
            posted.push(JSON.parse(new TextDecoder().decode((request.body as { body: Uint8Array }).body)).breaker.name)
            yield* Deferred.await(gate)
            return HttpClientResponse.fromWeb(request, new Response("ok"))
          })
        )
      )
      const webhook = yield* Effect.provide(Webhook.make({ url, queue: 2 }), slow)
      yield* webhook.notify(opened("a"))
      yield* Effect.yieldNow()
      for (const name of ["b", "c", "d"]) yield* webhook.notify(opened(name))
      yield* Deferred.succeed(gate, undefined)
      yield* webhook.flush
      expect(posted).toEqual(["a", "c", "d"])
      expect((yield* count("dropped")) - dropped).toBe(1)
    })
  )

  it.scoped("a flapping breaker is posted at most twice in 5 minutes: its other changes are coalesced into one post of the latest, saying how many it stands for", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([200])
      const webhook = yield* Effect.provide(Webhook.make({ url }), layer)
      const at = (notification: WebhookTypes.Notification) =>
        Effect.flatMap(TestClock.currentTimeMillis, (now) =>
          webhook.notify({ ...notification, transition: { ...(notification as WebhookTypes.BreakerChanged).transition, at: now } } as WebhookTypes.Notification))
      // 30 cycles of opening and closing again, one a minute
      for (let i = 0; i < 30; i++) {
        yield* at(opened("a"))
        yield* TestClock.adjust("30 seconds")
        yield* at(closed("a"))
        yield* TestClock.adjust("30 seconds")
        if (i === 10) {
          // another target's first change, and an alert: posted at once
          yield* at(opened("b"))
          yield* webhook.notify(raised)
          yield* webhook.flush
          expect(posted.slice(-2).map((post) => (post.body as { kind: string }).kind).sort()).toEqual(["alert.raised", "breaker.open"])
        }
      }
      yield* TestClock.adjust("5 minutes")
      yield* webhook.flush
      const ofA = posted.map((post) => post.body as { kind: string; text: string; breaker?: { name: string; changes?: number } })
        .filter((body) => body.breaker?.name === "a")
      expect(ofA.length).toBeLessThanOrEqual(14)
      // no change is lost: each post stands for one, or for `changes`
      expect(ofA.reduce((n, body) => n + (body.breaker!.changes ?? 1), 0)).toBe(60)
      expect(ofA.at(-1)!.kind).toBe("breaker.closed")
      const coalesced = ofA.find((body) => body.breaker!.changes !== undefined)!
      expect(coalesced.text).toContain(`the last of ${coalesced.breaker!.changes} changes since its previous notification`)
    })
  )

  it.scoped("an outage's reopenings after failed probes are not posted on their own: its recovery is, at once, saying how many changes it stands for", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([200])
      const webhook = yield* Effect.provide(Webhook.make({ url }), layer)
      const reopened = (at: number): WebhookTypes.Notification => ({
        _tag: "BreakerChanged",
        transition: { name: "primary", from: "half-open", to: "open", at, reason: "probe-failed", generation: 2, trips: 2, openUntil: at + 30_000 }
      })
      yield* webhook.notify(opened("primary"))
      for (const at of [90_000, 120_000, 150_000]) {
        yield* TestClock.adjust("30 seconds")
        yield* webhook.notify(reopened(at))
      }
      yield* TestClock.adjust("30 seconds")
      yield* webhook.notify(closed("primary"))
      yield* webhook.flush
      expect(posted.map((post) => post.body)).toMatchObject([
        { kind: "breaker.open", breaker: { reason: "consecutive-failures" } },
        { kind: "breaker.closed", breaker: { changes: 4 } }
      ])
    })
  )

  it.effect("alerts have a queue and a poster of their own: breaker changes never push one out, nor hold it behind a post that hangs", () =>
    Effect.gen(function* () {
      const posted: Array<string> = []
      const breakersHang = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) =>
          Effect.gen(function* () {
            const body = JSON.parse(new TextDecoder().decode((request.body as { body: Uint8Array }).body)) as { kind: string }
            posted.push(body.kind)
            if (body.kind.startsWith("breaker")) return yield* Effect.never
            return HttpClientResponse.fromWeb(request, new Response("ok"))
          })
        )
      )
      const scope = yield* Scope.make()
      const webhook = yield* Effect.provide(Webhook.make({ url, queue: 2, timeout: "1 hour", drainTimeout: "1 second" }), breakersHang).pipe(Scope.extend(scope))
      yield* webhook.notify(opened("a"))
      yield* Effect.yieldNow()
      for (const name of ["b", "c", "d", "e"]) yield* webhook.notify(opened(name))
      yield* webhook.notify(raised)
      for (const name of ["f", "g"]) yield* webhook.notify(opened(name))
      yield* webhook.notify(resolved)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      expect(posted.filter((kind) => kind.startsWith("alert"))).toEqual(["alert.raised", "alert.resolved"])
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      for (let i = 0; i < 4; i++) yield* TestClock.adjust("500 millis")
      yield* Fiber.join(closing)
    })
  )

  it.effect("what is still queued when the scope closes is posted then", () =>
    Effect.gen(function* () {
      const { posted, layer } = client([200])
      const scope = yield* Scope.make()
      const webhook = yield* Effect.provide(Webhook.make({ url }), layer).pipe(Scope.extend(scope))
      yield* webhook.notify(opened("a"))
      yield* webhook.notify(closed("a"))
      yield* Scope.close(scope, Exit.void)
      expect(posted).toHaveLength(2)
    })
  )

  it.effect("a notification being posted when the scope closes is delivered, not cut off; one the drain's time leaves is counted dropped", () =>
    Effect.gen(function* () {
      const delivered = yield* count("delivered")
      const dropped = yield* count("dropped")
      const slow = (after: Duration.DurationInput) =>
        Layer.succeed(HttpClient.HttpClient, HttpClient.make((request) => Effect.as(Effect.sleep(after), HttpClientResponse.fromWeb(request, new Response("ok")))))
      const scope = yield* Scope.make()
      const webhook = yield* Effect.provide(Webhook.make({ url }), slow("1 second")).pipe(Scope.extend(scope))
      yield* webhook.notify(opened("a"))
      // the consumer takes it and starts posting
      yield* Effect.yieldNow()
      yield* Effect.yieldNow()
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(closing)
      expect((yield* count("delivered")) - delivered).toBe(1)

      const hung = yield* Scope.make()
      const never = yield* Effect.provide(Webhook.make({ url, drainTimeout: "1 second" }), slow("1 hour")).pipe(Scope.extend(hung))
      // b being posted, c and d queued: c posted by the drain, d left unstarted when its time is up
      yield* never.notify(opened("b"))
      yield* never.notify(opened("c"))
      yield* never.notify(opened("d"))
      const giving = yield* Effect.fork(Scope.close(hung, Exit.void))
      // in steps: the drain's timer is set once the close has begun
      for (let i = 0; i < 4; i++) yield* TestClock.adjust("500 millis")
      yield* Fiber.join(giving)
      expect((yield* count("dropped")) - dropped).toBe(3)
    })
  )
})
