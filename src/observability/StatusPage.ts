/**
 * The health dashboard as one HTML page: every target's state in a colour
 * (green healthy, amber degraded or half-open, red down, open or isolated),
 * its breaker and when it retries, success rate, p50 and p95 latency, errors
 * by class, any alert in force, and the recent fallbacks.
 *
 * Self-contained: inline style and script, no external asset, no build
 * step. The page refreshes itself every `refreshSeconds` by fetching its own
 * URL and swapping its content in place (a `<meta refresh>` does it without
 * JavaScript). Every text is HTML-escaped; the response forbids every other
 * origin through its Content-Security-Policy.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import type { Snapshot } from "./HealthSnapshot.js"
import * as html from "./internal/html.js"

/**
 * Options of the page.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { StatusPage } from "effect-llm-failover/observability"
 * import type { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 *
 * const options: StatusPage.Options = { title: "Checkout assistant", refreshSeconds: 30 }
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/status", StatusPage.handler(health.snapshot, options)))
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The page's heading. Default `"LLM failover status"`. */
  readonly title?: string
  /** Seconds between refreshes. Default 5. */
  readonly refreshSeconds?: number
}

const contentSecurityPolicy =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * The page for a snapshot.
 *
 * @example
 * import { Effect } from "effect"
 * import { StatusPage } from "effect-llm-failover/observability"
 * import type { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 * const page = Effect.map(health.snapshot, (snapshot) => StatusPage.render(snapshot, { title: "Gateway" }))
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (snapshot: Snapshot, options: Options = {}): string =>
  html.page(snapshot, options.title ?? "LLM failover status", Math.max(1, Math.round(options.refreshSeconds ?? 5)))

/**
 * `GET /status`: the page, made from a fresh snapshot on every request.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { StatusPage } from "effect-llm-failover/observability"
 * import type { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/status", StatusPage.handler(health.snapshot)))
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (snapshot: Effect.Effect<Snapshot>, options: Options = {}): HttpApp.Default =>
  Effect.map(snapshot, (s) =>
    HttpServerResponse.text(render(s, options), {
      contentType: "text/html; charset=utf-8",
      headers: {
        "cache-control": "no-store",
        "content-security-policy": contentSecurityPolicy,
        "x-content-type-options": "nosniff"
      }
    }))

/**
 * `GET /status.json`: the snapshot as JSON (decode it with `HealthSnapshot.decode`).
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { StatusPage } from "effect-llm-failover/observability"
 * import type { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/status.json", StatusPage.jsonHandler(health.snapshot)))
 *
 * @since 0.1.0
 * @category handlers
 */
export const jsonHandler = (snapshot: Effect.Effect<Snapshot>): HttpApp.Default =>
  Effect.map(snapshot, (s) => HttpServerResponse.unsafeJson(s, { headers: { "cache-control": "no-store" } }))
