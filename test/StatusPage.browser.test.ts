/**
 * The status page in a real browser: served on 127.0.0.1 over a router of
 * simulated providers (one target down, one half-open, one healthy), opened
 * in headless Chromium through playwright-core. Checks that every target's
 * state is shown in its colour, that the page refreshes itself in place,
 * and saves a screenshot (its path is printed).
 *
 * Needs Chromium at /usr/bin/chromium (Debian's `chromium` package); without
 * it the test is skipped, and says so.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import type { Duration } from "effect"
import { existsSync, mkdtempSync, statSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium } from "playwright-core"
import type { Page } from "playwright-core"
import { Chat } from "../src/llm/index.js"
import * as Observability from "../src/observability/Observability.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"

const executablePath = "/usr/bin/chromium"
const hasChromium = existsSync(executablePath)
if (!hasChromium) {
  console.warn(
    `StatusPage.browser.test.ts: SKIPPED: no Chromium at ${executablePath} (install Debian's "chromium" package to run it)`
  )
}

const launchArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** The page's colours (see the status page's style). */
const colours = {
  green: "rgb(26, 127, 55)",
  amber: "rgb(191, 135, 0)",
  red: "rgb(207, 34, 46)"
}

const sim = (name: string, options: Partial<Simulated.Options> = {}) =>
  Simulated.make({ provider: name, model: `${name}-model`, latency: "100 millis", ...options })

const settle = <A, E>(effect: Effect.Effect<A, E>, by: Duration.DurationInput = "1 second") =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(by)
    const exit = yield* Fiber.await(fiber)
    if (Exit.isFailure(exit)) throw new Error(`expected success, got ${String(exit.cause)}`)
    return exit.value
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

interface BrowserGlobals {
  readonly document: { querySelector(selector: string): unknown }
  getComputedStyle(element: unknown): { readonly backgroundColor: string }
}

/**
 * The computed background colour of the element `selector` matches, read in
 * one task of the page, so the page's own refresh cannot swap it mid-read.
 */
const background = (page: Page, selector: string) =>
  promise(() =>
    page.evaluate((s) => {
      const browser = globalThis as unknown as BrowserGlobals
      const element = browser.document.querySelector(s)
      return element === null ? "missing" : browser.getComputedStyle(element).backgroundColor
    }, selector)
  )

describe("status page in a browser", () => {
  it.scoped.skipIf(!hasChromium)("shows every target's state in its colour, refreshes in place, and screenshots", () =>
    Effect.gen(function* () {
      const sonnet = yield* sim("anthropic", { faults: [{ status: 529 }] })
      const flaky = yield* sim("google", { faults: [{ to: "10 seconds", status: 500 }] })
      const mini = yield* sim("openai")
      const router = yield* Router.make({
        targets: {
          sonnet: { model: sonnet, policy: { breaker: { openDuration: { base: "10 minutes", cap: "10 minutes" } } } },
          flaky: { model: flaky, policy: { breaker: { openDuration: { base: "30 seconds" } } } },
          mini: { model: mini }
        },
        chains: { default: ["sonnet", "mini"], fast: ["flaky", "mini"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 2 } }
      })
      const observability = yield* Observability.attach(router, {
        labels: { run: "browser" },
        alert: false,
        statusPage: { title: "Gateway status", refreshSeconds: 1 }
      })
      for (let i = 0; i < 3; i++) yield* settle(router.complete(Chat.prompt(`question ${i}`)))
      for (let i = 0; i < 2; i++) yield* settle(router.complete(Chat.prompt(`quick ${i}`), { chain: "fast" }))
      // flaky's breaker is past its 30 s: half-open; sonnet's is open for 10 minutes
      yield* TestClock.adjust("40 seconds")
      yield* observability.flush

      const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
      yield* server.serve(Observability.httpRouter(observability))
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0

      const browser = yield* Effect.acquireRelease(
        promise(() => chromium.launch({ executablePath, args: launchArgs })),
        (b) => promise(() => b.close())
      )
      const page = yield* promise(() => browser.newPage({ viewport: { width: 1280, height: 720 } }))
      const response = yield* promise(() => page.goto(`http://127.0.0.1:${port}${Observability.paths.status}`))
      expect(response?.status()).toBe(200)
      expect(yield* promise(() => page.title())).toBe("(1 down) Gateway status")

      const expected = [
        { target: "sonnet", state: "down", breaker: "open", colour: colours.red, breakerColour: colours.red },
        { target: "flaky", state: "degraded", breaker: "half-open", colour: colours.amber, breakerColour: colours.amber },
        { target: "mini", state: "healthy", breaker: "closed", colour: colours.green, breakerColour: colours.green }
      ]
      for (const row of expected) {
        const tr = page.locator(`tr[data-target="${row.target}"]`)
        expect(yield* promise(() => tr.getAttribute("data-state"))).toBe(row.state)
        const state = tr.locator(".badge[data-state]")
        const breaker = tr.locator(".badge[data-breaker]")
        expect(yield* promise(() => state.innerText())).toBe(row.state)
        expect(yield* promise(() => breaker.innerText())).toBe(row.breaker)
        expect(yield* promise(() => state.isVisible())).toBe(true)
        expect(yield* background(page, `tr[data-target="${row.target}"] .badge[data-state]`)).toBe(row.colour)
        expect(yield* background(page, `tr[data-target="${row.target}"] .badge[data-breaker]`)).toBe(row.breakerColour)
        expect(yield* promise(() => tr.locator("th").innerText())).toBe(row.target)
      }
      const sonnetRow = yield* promise(() => page.locator(`tr[data-target="sonnet"]`).innerText())
      expect(sonnetRow).toContain("Overloaded ×2")
      expect(sonnetRow).toMatch(/9 min \d+ s/) // retries in
      expect(yield* promise(() => page.locator("table.fallbacks tbody tr").count())).toBe(5)

      const dir = mkdtempSync(join(tmpdir(), "status-page-"))
      const screenshot = join(dir, "status.png")
      yield* promise(() => page.screenshot({ path: screenshot, fullPage: true }))
      expect(statSync(screenshot).size).toBeGreaterThan(10_000)
      console.log(`status page screenshot: ${screenshot}`)

      // the page refreshes itself without a reload: isolate mini and watch its row turn red
      yield* promise(() => page.evaluate("window.__sameDocument = true"))
      yield* router.breaker("mini")!.isolate
      const isolated = page.locator(`tr[data-target="mini"][data-state="down"]`)
      yield* promise(() => isolated.waitFor({ timeout: 10_000 }))
      expect(yield* background(page, `tr[data-target="mini"] .badge[data-breaker]`)).toBe(colours.red)
      expect(yield* promise(() => isolated.locator(".badge[data-breaker]").innerText())).toBe("isolated")
      expect(yield* promise(() => page.evaluate("window.__sameDocument"))).toBe(true)
      expect(yield* promise(() => page.title())).toBe("(2 down) Gateway status")
      yield* promise(() => page.screenshot({ path: join(dir, "status-isolated.png"), fullPage: true }))
    }), { timeout: 90_000 })
})
