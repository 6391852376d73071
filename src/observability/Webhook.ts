/**
 * Alerts and breaker changes posted to a webhook, so on-call hears of an
 * outage from the gateway itself: Slack's incoming webhooks (and
 * Mattermost's, which take the same `{ "text": ... }`), or any endpoint
 * that takes JSON.
 *
 * - What is posted: the fallback-rate alert raised and resolved, and a
 *   breaker opened, isolated or closed again (not its half-open probes).
 *   With shared state, a breaker another instance opened (`reason`
 *   `"remote"`) is left to that instance, so one trip is one notification.
 * - Never on the hot path: a notification is queued (at most `queue`, the
 *   oldest dropped beyond it) and posted in order, each within `timeout`,
 *   retried on a 429, a 5xx or a transport failure with exponential
 *   jittered backoff (`retries` times). Alerts have a queue and a poster of
 *   their own: breaker changes never push one out nor hold one up.
 * - A flapping breaker does not flood the channel: a target's breaker is
 *   posted at most twice in 5 minutes (`breakerLimit`); its changes beyond
 *   that are coalesced into one post of the latest, as soon as the limit
 *   allows, which says how many changes it stands for (`changes`). A change
 *   to the state last posted (opened again after a failed probe) is not
 *   posted on its own: it is counted into the target's next post.
 * - The URL is a secret (a Slack webhook's holds its token): it is never
 *   logged, and the posts make no span (whose `url.full` would carry it).
 *   A failed post is logged as a warning with its status or error tag.
 * - When the scope closes, what is still queued or coalesced, and the one
 *   being posted, is posted for up to `drainTimeout`; what is left then is
 *   counted `dropped`.
 * - `llm_webhook_notifications_total{outcome}` counts them: `delivered`,
 *   `failed` (after the retries), `dropped` (the queue was full).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Data, Duration, Effect, Metric, Queue, Redacted, Schedule, Stream, SubscriptionRef } from "effect"
import type { Scope } from "effect"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import type * as Alerts from "./Alerts.js"

/**
 * A breaker's transition worth telling: to open, isolated or closed.
 *
 * @example
 * import type { Webhook } from "effect-llm-failover/observability"
 *
 * const changed: Webhook.BreakerChanged = {
 *   _tag: "BreakerChanged",
 *   transition: { name: "primary", from: "closed", to: "open", at: Date.now(), reason: "consecutive-failures", generation: 1, trips: 1 }
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerChanged {
  readonly _tag: "BreakerChanged"
  readonly transition: CircuitBreaker.Transition
  /**
   * Set on a post that stands for more than one change of a flapping
   * breaker (see `Options.breakerLimit`): how many changes since its
   * previous notification, this latest one included.
   */
  readonly changes?: number
}

/**
 * What a webhook is told: an alert's change, or a breaker's.
 *
 * @example
 * import type { Webhook } from "effect-llm-failover/observability"
 *
 * const kind = (notification: Webhook.Notification) =>
 *   notification._tag === "BreakerChanged" ? `breaker ${notification.transition.to}` : notification._tag
 *
 * @since 0.1.0
 * @category models
 */
export type Notification = Alerts.AlertEvent | BreakerChanged

/**
 * Options of {@link make}.
 *
 * | option | default |
 * |---|---|
 * | `url` | (required) |
 * | `format` | `"json"` |
 * | `headers` | none |
 * | `on` | `["alerts", "breakers"]` |
 * | `source` | `"llm-failover"` |
 * | `timeout` | 10 seconds a post |
 * | `retries` | 3 |
 * | `queue` | 100 (alerts', and breakers') |
 * | `breakerLimit` | 2 posts a target per 5 minutes |
 * | `drainTimeout` | 5 seconds |
 *
 * @example
 * import { Redacted } from "effect"
 * import type { Webhook } from "effect-llm-failover/observability"
 *
 * const options: Webhook.Options = {
 *   url: Redacted.make(process.env["SLACK_WEBHOOK_URL"] ?? ""),
 *   format: "slack",
 *   source: "gateway-eu-1",
 *   on: ["alerts"]
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where to post: an http(s) URL, kept redacted. */
  readonly url: Redacted.Redacted<string>
  /** `"json"`: the notification as a JSON object ({@link payload}); `"slack"`: `{ "text": ... }`. */
  readonly format?: "json" | "slack"
  /** Sent with every post (an `authorization`, say); values may be redacted. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>>
  /** What is posted: the alerts' changes, the breakers', or both. */
  readonly on?: ReadonlyArray<"alerts" | "breakers">
  /** Who speaks, in the text and the JSON: an instance's or a deployment's name. */
  readonly source?: string
  readonly timeout?: Duration.DurationInput
  /** Retries of a post after its first try, on a 429, a 5xx, a timeout or a transport failure. */
  readonly retries?: number
  /** Notifications waiting at most, alerts and breaker changes each; beyond it the oldest is dropped. */
  readonly queue?: number
  /**
   * At most `posts` notifications of one target's breaker per `per`
   * (sliding); its changes beyond are coalesced into one, posted as soon as
   * the limit allows: the latest change, with how many it stands for. A
   * change to the state last posted waits for the target's next post.
   */
  readonly breakerLimit?: { readonly posts?: number; readonly per?: Duration.DurationInput }
  /** How long the scope's close waits for the queued ones. */
  readonly drainTimeout?: Duration.DurationInput
}

/**
 * A running webhook.
 *
 * @example
 * import { Effect } from "effect"
 * import type { Webhook } from "effect-llm-failover/observability"
 *
 * declare const webhook: Webhook.Notifier
 *
 * const program = Effect.gen(function* () {
 *   yield* webhook.notify({
 *     _tag: "BreakerChanged",
 *     transition: { name: "primary", from: "closed", to: "isolated", at: Date.now(), reason: "isolated", generation: 2, trips: 0 }
 *   })
 *   yield* webhook.flush
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Notifier {
  /** Queues a notification, unless `on` leaves its kind out (or it is not worth telling); never waits on the network. */
  readonly notify: (notification: Notification) => Effect.Effect<void>
  /**
   * Waits until no notification is queued or being posted (each delivered
   * or given up); not for a breaker's coalesced changes, posted when its
   * limit allows.
   */
  readonly flush: Effect.Effect<void>
}

/**
 * Notifications posted, by outcome.
 *
 * @example
 * import { Metric } from "effect"
 * import { Webhook } from "effect-llm-failover/observability"
 *
 * const failed = Metric.value(Webhook.notifications.pipe(Metric.tagged("outcome", "failed")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const notifications = Metric.counter("llm_webhook_notifications_total", {
  description: "Webhook notifications (alerts, breaker changes) by outcome: delivered, failed (after retries), dropped (queue full)",
  incremental: true
})

const counted = {
  delivered: Metric.tagged(notifications, "outcome", "delivered"),
  failed: Metric.tagged(notifications, "outcome", "failed"),
  dropped: Metric.tagged(notifications, "outcome", "dropped")
}

/** Whether a breaker's transition is told: one to open, isolated or closed, made here. */
const worthTelling = (t: CircuitBreaker.Transition): boolean => t.to !== "half-open" && t.reason !== "remote"

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`
const minutes = (millis: number) => {
  const m = millis / 60_000
  return Number.isInteger(m) ? `${m} min` : `${(millis / 1000).toFixed(0)} s`
}

/**
 * One line saying what happened, as a person reads it.
 *
 * @example
 * import { Webhook } from "effect-llm-failover/observability"
 *
 * const line = Webhook.text({
 *   _tag: "BreakerChanged",
 *   transition: { name: "primary", from: "closed", to: "open", at: 0, reason: "consecutive-failures", generation: 1, trips: 1, openUntil: 30_000 }
 * }, "gateway-eu-1")
 * // "[gateway-eu-1] breaker primary opened (consecutive-failures); retries at 1970-01-01T00:00:30.000Z"
 *
 * @since 0.1.0
 * @category formatting
 */
export const text = (notification: Notification, source: string): string => {
  switch (notification._tag) {
    case "AlertRaised":
      return `[${source}] ${notification.alert} alert raised: ${notification.fallbacks} of ${notification.requests} requests fell back (${percent(notification.rate)}) in the last ${minutes(notification.windowMillis)}, threshold ${percent(notification.threshold)}`
    case "AlertResolved":
      return `[${source}] ${notification.alert} alert resolved: ${percent(notification.rate)} of ${notification.requests} requests fell back in the last ${minutes(notification.windowMillis)}, after ${minutes(notification.at - notification.raisedAt)}`
    case "BreakerChanged": {
      const t = notification.transition
      const changes = notification.changes === undefined
        ? ""
        : ` (the last of ${notification.changes} changes since its previous notification)`
      if (t.to === "open") {
        const until = t.openUntil === undefined ? "" : `; retries at ${new Date(t.openUntil).toISOString()}`
        return `[${source}] breaker ${t.name} opened (${t.reason})${until}${changes}`
      }
      if (t.to === "isolated") return `[${source}] breaker ${t.name} isolated by an operator: no calls until it is reset${changes}`
      return `[${source}] breaker ${t.name} closed (${t.reason}): calls go through again${changes}`
    }
  }
}

/**
 * The JSON body posted in the `"json"` format: `source`, `kind`
 * (`alert.raised`, `alert.resolved`, `breaker.open`, `breaker.isolated`,
 * `breaker.closed`), `at` (ISO time), `text` ({@link text}), and the
 * alert's window or the breaker's transition (with `changes` when it
 * stands for several).
 *
 * @example
 * import { Webhook } from "effect-llm-failover/observability"
 *
 * const body = Webhook.payload({
 *   _tag: "BreakerChanged",
 *   transition: { name: "primary", from: "open", to: "closed", at: 0, reason: "probes-succeeded", generation: 3, trips: 0 }
 * }, "gateway")
 * // { source: "gateway", kind: "breaker.closed", at: "1970-01-01T00:00:00.000Z", text: "...", breaker: { name: "primary", from: "open", ... } }
 *
 * @since 0.1.0
 * @category formatting
 */
export const payload = (notification: Notification, source: string): Record<string, unknown> => {
  const line = text(notification, source)
  if (notification._tag === "BreakerChanged") {
    const t = notification.transition
    return {
      source,
      kind: `breaker.${t.to}`,
      at: new Date(t.at).toISOString(),
      text: line,
      breaker: {
        name: t.name,
        from: t.from,
        to: t.to,
        reason: t.reason,
        trips: t.trips,
        ...(t.openUntil === undefined ? {} : { openUntil: new Date(t.openUntil).toISOString() }),
        ...(notification.changes === undefined ? {} : { changes: notification.changes })
      }
    }
  }
  const { _tag, at, ...window } = notification
  return {
    source,
    kind: _tag === "AlertRaised" ? "alert.raised" : "alert.resolved",
    at: new Date(at).toISOString(),
    text: line,
    alert: "raisedAt" in window ? { ...window, raisedAt: new Date(window.raisedAt).toISOString() } : window
  }
}

/** Why a post failed, in words that never hold its URL. */
class PostFailed extends Data.TaggedError("PostFailed")<{ readonly why: string; readonly retriable: boolean }> {}

/**
 * A webhook poster for the life of the scope.
 *
 * @example
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Redacted } from "effect"
 * import { Webhook } from "effect-llm-failover/observability"
 *
 * const program = Effect.gen(function* () {
 *   const webhook = yield* Webhook.make({ url: Redacted.make("https://hooks.slack.com/services/T0/B0/XXX"), format: "slack" })
 *   yield* webhook.notify({
 *     _tag: "BreakerChanged",
 *     transition: { name: "primary", from: "closed", to: "open", at: Date.now(), reason: "failure-rate", generation: 1, trips: 1 }
 *   })
 * }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Notifier, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const source = options.source ?? "llm-failover"
    const on = new Set(options.on ?? ["alerts", "breakers"])
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    const headers = Object.fromEntries(
      Object.entries(options.headers ?? {}).map(([name, value]) => [name, Redacted.isRedacted(value) ? Redacted.value(value) : value])
    )
    // notifications queued, in both lanes; delivered, given up or dropped: all of them once it reaches `queued`
    let queued = 0
    const settled = yield* SubscriptionRef.make(0)
    const settle = (n: number) => SubscriptionRef.update(settled, (count) => count + n)

    const post = (notification: Notification) => {
      const body = options.format === "slack" ? { text: text(notification, source) } : payload(notification, source)
      const request = HttpClientRequest.post(Redacted.value(options.url)).pipe(
        HttpClientRequest.setHeaders(headers),
        HttpClientRequest.bodyUnsafeJson(body)
      )
      return client.execute(request).pipe(
        Effect.flatMap((response) =>
          response.status >= 200 && response.status < 300
            ? Effect.void
            : Effect.fail(new PostFailed({ why: `HTTP ${response.status}`, retriable: response.status === 429 || response.status >= 500 }))
        ),
        // the client's error's message holds the URL: only its kind is kept
        Effect.catchTags({
          RequestError: (error) => Effect.fail(new PostFailed({ why: `${error.reason} error`, retriable: true })),
          ResponseError: (error) => Effect.fail(new PostFailed({ why: `HTTP ${error.response.status}`, retriable: true }))
        }),
        Effect.scoped,
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new PostFailed({ why: `no answer within ${Duration.format(timeout)}`, retriable: true }) }),
        Effect.retry({
          schedule: Schedule.exponential("1 second").pipe(Schedule.jittered),
          times: Math.max(0, options.retries ?? 3),
          while: (failure) => failure.retriable
        }),
        Effect.matchEffect({
          onFailure: (failure) =>
            Effect.zipRight(
              Metric.increment(counted.failed),
              Effect.logWarning(`webhook: a notification (${kindOf(notification)}) was not delivered: ${failure.why}`)
            ),
          onSuccess: () => Metric.increment(counted.delivered)
        }),
        // no span: its url.full would carry the webhook's secret
        Effect.withTracerEnabled(false)
      )
    }

    // two lanes, each a queue and a fiber posting from it in order: alerts never wait behind breaker changes
    const alerts = yield* lane(Math.max(1, options.queue ?? 100), post, settle, () => queued++)
    const breakers = yield* lane(Math.max(1, options.queue ?? 100), post, settle, () => queued++)

    // per target: the times of its breaker's posts within `per`, the state it last told, and the changes held since
    const limitPosts = Math.max(1, Math.floor(options.breakerLimit?.posts ?? 2))
    const limitPer = Duration.toMillis(options.breakerLimit?.per ?? Duration.minutes(5))
    const recent = new Map<string, Array<number>>()
    const told = new Map<string, CircuitBreaker.Transition["to"]>()
    /** `waiting`: for the limit (a fiber will post it); else a repeat of the state told, counted into the next post. */
    const held = new Map<string, { latest: CircuitBreaker.Transition; changes: number; waiting: boolean }>()
    const scope = yield* Effect.scope
    /** Whether a post of `target` at `now` is within its limit; if so, it is counted. */
    const allowed = (target: string, now: number): boolean => {
      const times = (recent.get(target) ?? []).filter((t) => t > now - limitPer)
      const ok = times.length < limitPosts
      if (ok) times.push(now)
      if (times.length === 0) recent.delete(target)
      else recent.set(target, times)
      return ok
    }
    /** The post of `latest`, standing for `changes` changes; told. */
    const telling = (latest: CircuitBreaker.Transition, changes: number): Notification => {
      held.delete(latest.name)
      told.set(latest.name, latest.to)
      return { _tag: "BreakerChanged", transition: latest, ...(changes > 1 ? { changes } : {}) }
    }
    /** Posts a target's held changes once its oldest post in the window has left it. */
    const release = (target: string): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const oldest = recent.get(target)?.[0] ?? now - limitPer
        return Effect.flatMap(Effect.sleep(Duration.millis(Math.max(0, oldest + limitPer - now))), () =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => {
            const entry = held.get(target)
            if (entry === undefined) return Effect.void
            if (!allowed(target, at)) return release(target)
            return breakers.offer(telling(entry.latest, entry.changes))
          }))
      })
    const breakerChange = (transition: CircuitBreaker.Transition): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const target = transition.name
        const entry = held.get(target)
        const changes = (entry?.changes ?? 0) + 1
        // waiting for the limit: it will post the latest
        if (entry?.waiting === true) {
          entry.latest = transition
          entry.changes = changes
          return Effect.void
        }
        // the state it last told again (opened again after a failed probe): counted into its next post
        if (told.get(target) === transition.to) {
          held.set(target, { latest: transition, changes, waiting: false })
          return Effect.void
        }
        if (allowed(target, now)) return breakers.offer(telling(transition, changes))
        held.set(target, { latest: transition, changes, waiting: true })
        return Effect.asVoid(Effect.forkIn(release(target), scope))
      })

    const flush: Effect.Effect<void> = settled.changes.pipe(Stream.takeUntil((count) => count >= queued), Stream.runDrain)

    // runs before the posters are interrupted (finalizers run last first): what is queued or coalesced is posted
    // here, the one being posted finishes there; what the drain's time cuts off is counted dropped
    yield* Effect.addFinalizer(() =>
      // those held for the limit: not a repeat of what was told
      Effect.forEach([...held.values()].filter((entry) => entry.waiting), (entry) => breakers.offer(telling(entry.latest, entry.changes)), {
        discard: true
      }).pipe(
        Effect.zipRight(Effect.all([alerts.drain, breakers.drain], { concurrency: 2, discard: true })),
        Effect.zipRight(flush),
        // a finalizer runs uninterruptibly: the drain must be interruptible for its timeout to end it
        Effect.interruptible,
        Effect.timeoutOption(options.drainTimeout ?? "5 seconds"),
        // those the drain's time left unstarted
        Effect.zipRight(Effect.suspend(() => Effect.zipRight(alerts.countUnstarted, breakers.countUnstarted)))
      )
    )

    const notify = (notification: Notification): Effect.Effect<void> =>
      notification._tag === "BreakerChanged"
        ? on.has("breakers") && worthTelling(notification.transition) ? breakerChange(notification.transition) : Effect.void
        : on.has("alerts")
        ? alerts.offer(notification)
        : Effect.void

    return { notify, flush } satisfies Notifier
  })

/**
 * A queue of notifications and the fiber posting from it, in order. Each is
 * numbered as it is queued: the sliding queue drops the oldest when full,
 * which whoever takes the next one learns from the gap in the numbers
 * (exact, whichever fiber ran when).
 */
const lane = (
  capacity: number,
  post: (notification: Notification) => Effect.Effect<void>,
  settle: (n: number) => Effect.Effect<void>,
  onQueued: () => void
) =>
  Effect.gen(function* () {
    const queue = yield* Queue.sliding<{ readonly number: number; readonly notification: Notification }>(capacity)
    let numbered = 0
    let taken = 0
    // one cut off (the scope closed, the drain's time passed) is counted dropped; so are those the queue dropped
    // before it (the numbers it skips)
    const deliver = (item: { readonly number: number; readonly notification: Notification }) =>
      Effect.suspend(() => {
        const skipped = item.number - taken - 1
        taken = item.number
        const dropped = skipped > 0 ? Effect.zipRight(Metric.incrementBy(counted.dropped, skipped), settle(skipped)) : Effect.void
        return Effect.zipRight(
          dropped,
          post(item.notification).pipe(Effect.onInterrupt(() => Metric.increment(counted.dropped)), Effect.ensuring(settle(1)))
        )
      })
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), deliver)))
    return {
      offer: (notification: Notification): Effect.Effect<void> =>
        Effect.suspend(() => {
          onQueued()
          return Queue.offer(queue, { number: ++numbered, notification })
        }),
      /** Posts what is queued, in order. */
      drain: Effect.flatMap(Queue.takeAll(queue), (left) => Effect.forEach(left, deliver, { discard: true })),
      /** Counts dropped those queued and never started. */
      countUnstarted: Effect.suspend(() => (numbered > taken ? Metric.incrementBy(counted.dropped, numbered - taken) : Effect.void))
    }
  })

const kindOf = (notification: Notification): string =>
  notification._tag === "BreakerChanged"
    ? `breaker ${notification.transition.name} ${notification.transition.to}`
    : `${notification.alert} ${notification._tag === "AlertRaised" ? "raised" : "resolved"}`

/**
 * Posts `alerts` and `transitions` (an {@link Observability}'s) to a
 * webhook for the life of the scope.
 *
 * @example
 * import { Effect, Redacted } from "effect"
 * import { Observability, Webhook } from "effect-llm-failover/observability"
 *
 * declare const observability: Observability.Service
 *
 * const program = Webhook.attach(
 *   { alerts: observability.alerts, transitions: observability.transitions },
 *   { url: Redacted.make(process.env["ALERT_WEBHOOK_URL"] ?? ""), source: "gateway-eu-1" }
 * )
 *
 * @since 0.1.0
 * @category constructors
 */
export const attach = (
  from: { readonly alerts: Stream.Stream<Alerts.AlertEvent>; readonly transitions: Stream.Stream<CircuitBreaker.Transition> },
  options: Options
): Effect.Effect<Notifier, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const notifier = yield* make(options)
    yield* Effect.forkScoped(Stream.runForEach(from.alerts, notifier.notify))
    yield* Effect.forkScoped(
      Stream.runForEach(from.transitions, (transition) => notifier.notify({ _tag: "BreakerChanged", transition }))
    )
    return notifier
  })
