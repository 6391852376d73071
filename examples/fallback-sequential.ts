/**
 * Sequential fallback with retries, backoff and a circuit breaker, through a
 * 20-minute outage.
 *
 *   npm run example -- fallback-sequential
 *
 * Pattern: the hand-written MODEL_CHAIN ("claude-sonnet-4-5" -> "gpt-4.1-mini" ->
 * "gemini-2.5-flash"), `call_with_retry_and_fallback` (one retry per model,
 * exponential backoff with jitter) and the provider circuit breaker
 * (CLOSED -> OPEN -> HALF_OPEN).
 *
 * Half an hour of traffic, one request every 30 seconds, in virtual time:
 * - 02:00 to 22:00 the primary (Anthropic) is hard down with 529;
 * - 10:00 to 11:00 the secondary (OpenAI) is rate limited with a 30 s
 *   Retry-After, longer than the 5 s we are willing to wait, so the router
 *   skips it at once (and holds its breaker open for those 30 s, so the next
 *   request skips it too) and the tertiary (Gemini) answers.
 *
 * The timeline shows each request's attempts (runs of identical requests
 * folded into one line) and the primary's breaker: it opens after 3 failures
 * in a row, later requests skip the primary without calling it, half-open
 * probes test it with growing pauses, and after the outage a probe succeeds
 * and closes it.
 */
import { Chunk, Clock, Console, Duration, Effect, Queue, Random } from "effect"
import type { Attempt } from "../src/llm/index.js"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import type { CircuitBreaker } from "../src/resilience/index.js"
import { Router } from "../src/router/index.js"
import { check, clock, errorLabel, ms, runVirtual } from "./internal/show.js"

const OUTAGE = { from: Duration.minutes(2), to: Duration.minutes(22) }
const EVERY = Duration.seconds(30)
const REQUESTS = 61 // 00:00 to 30:00

/** The providers of that MODEL_CHAIN, with their fault schedules. */
const providers = Effect.gen(function* () {
  const sonnet = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: { p50: "900 millis", p99: "3 seconds" },
    faults: [{ from: OUTAGE.from, to: OUTAGE.to, status: 529 }]
  })
  const mini = yield* Simulated.make({
    provider: "openai",
    model: "gpt-4.1-mini",
    latency: { p50: "500 millis", p99: "2 seconds" },
    faults: [{ from: "10 minutes", to: "11 minutes", status: 429, retryAfter: "30 seconds" }]
  })
  const flash = yield* Simulated.make({
    provider: "google",
    model: "gemini-2.5-flash",
    latency: { p50: "400 millis", p99: "1500 millis" }
  })
  return { sonnet, mini, flash }
})

/** One target's attempts in a request: `"sonnet: Overloaded 529, Overloaded 529"`. */
const describe = (attempts: ReadonlyArray<Attempt>): string => {
  const byTarget: Array<[string, Array<string>]> = []
  for (const attempt of attempts) {
    const outcome = attempt.error === undefined ? "ok" : errorLabel(attempt.error)
    const last = byTarget.at(-1)
    if (last !== undefined && last[0] === attempt.target) last[1].push(outcome)
    else byTarget.push([attempt.target, [outcome]])
  }
  return byTarget.map(([target, outcomes]) => `${target}: ${outcomes.join(", ")}`).join("  ->  ")
}

interface Line {
  readonly at: number
  readonly kind: "request" | "breaker"
  readonly text: string
  readonly latency?: number
}

const transitionLine = (t: CircuitBreaker.Transition, epoch: number): Line => ({
  at: t.at,
  kind: "breaker",
  text: `   [breaker ${t.name}: ${t.from} -> ${t.to} (${t.reason})${
    t.openUntil === undefined ? "" : `, until ${clock(t.openUntil, epoch)}`
  }]`
})

/** Prints the timeline, folding runs of requests that went the same way into one line. */
const printTimeline = (lines: ReadonlyArray<Line>, epoch: number) =>
  Effect.gen(function* () {
    let i = 0
    while (i < lines.length) {
      const line = lines[i]!
      if (line.kind === "breaker") {
        yield* Console.log(line.text)
        i++
        continue
      }
      let j = i
      while (j + 1 < lines.length && lines[j + 1]!.kind === "request" && lines[j + 1]!.text === line.text) j++
      const run = lines.slice(i, j + 1)
      const latencies = run.map((l) => l.latency ?? 0)
      const when = j > i ? `${clock(line.at, epoch)}-${clock(lines[j]!.at, epoch)}` : clock(line.at, epoch)
      const count = j > i ? `x${run.length}` : ""
      const latency =
        j > i ? `${ms(Math.min(...latencies))}..${ms(Math.max(...latencies))}` : ms(latencies[0] ?? 0)
      yield* Console.log(`${when.padEnd(11)} ${count.padStart(3)}  ${line.text}   [${latency}]`)
      i = j + 1
    }
  })

const program = Effect.gen(function* () {
  const { sonnet, mini, flash } = yield* providers
  const router = yield* Router.make({
    targets: { sonnet: { model: sonnet }, mini: { model: mini }, flash: { model: flash } },
    chains: { default: ["sonnet", "mini", "flash"] },
    policy: {
      // one retry per model, exponential backoff from 500 ms with full jitter
      retry: { maxAttempts: 2, base: "500 millis", factor: 2, jitter: "full", retryAfterCap: "5 seconds" },
      // open after 3 failures in a row; stay open 1 min, then 2, 4... up to 5 min
      breaker: { consecutiveFailures: 3, openDuration: { base: "1 minute", factor: 2, cap: "5 minutes" } }
    },
    cache: false
  })
  const epoch = sonnet.epoch
  const transitions = yield* router.breaker("sonnet")!.subscribe

  const lines: Array<Line> = []
  const served: Array<{ readonly at: number; readonly target: string; readonly skippedPrimary: boolean }> = []
  for (let i = 0; i < REQUESTS; i++) {
    const at = yield* Clock.currentTimeMillis
    const { meta } = yield* router.complete(Chat.prompt(`question ${i}`))
    lines.push({ at, kind: "request", text: describe(meta.attempts), latency: Duration.toMillis(meta.latency) })
    const first = meta.attempts[0]?.error
    served.push({ at, target: meta.target, skippedPrimary: first?._tag === "Rejected" })
    const next = epoch + (i + 1) * Duration.toMillis(EVERY)
    yield* Effect.sleep(Duration.millis(Math.max(0, next - (yield* Clock.currentTimeMillis))))
  }
  const changes = Chunk.toArray(yield* Queue.takeAll(transitions))
  for (const t of changes) lines.push(transitionLine(t, epoch))
  lines.sort((a, b) => a.at - b.at)

  yield* Console.log(`chain: sonnet (anthropic) -> mini (openai) -> flash (google)`)
  yield* Console.log(`primary down (529) from ${clock(epoch + Duration.toMillis(OUTAGE.from), epoch)} to ${clock(epoch + Duration.toMillis(OUTAGE.to), epoch)}\n`)
  yield* Console.log(`when        runs  attempts, per target in chain order   [request latency, backoff included]`)
  yield* printTimeline(lines, epoch)

  const stats = { sonnet: yield* sonnet.stats, mini: yield* mini.stats, flash: yield* flash.stats }
  const inOutage = served.filter((s) => s.at - epoch >= Duration.toMillis(OUTAGE.from) && s.at - epoch < Duration.toMillis(OUTAGE.to))
  yield* Console.log(`\n${REQUESTS} requests, all answered. Served by: ${["sonnet", "mini", "flash"].map((t) => `${t} ${served.filter((s) => s.target === t).length}`).join(", ")}`)
  yield* Console.log(
    `calls to the primary: ${stats.sonnet.calls} (${stats.sonnet.failed} failed); without a breaker the outage alone would have cost ${inOutage.length * 2} failed calls`
  )
  yield* Console.log(`breaker now: ${(yield* router.breaker("sonnet")!.snapshot).state}`)

  const last = served.at(-1)!
  yield* check(served.slice(0, 4).every((s) => s.target === "sonnet"), "the primary serves before the outage")
  yield* check(inOutage.every((s) => s.target !== "sonnet"), "the fallbacks serve during the outage")
  yield* check(changes.some((t) => t.to === "open" && t.reason === "consecutive-failures"), "the breaker opens on consecutive failures")
  yield* check(inOutage.filter((s) => s.skippedPrimary).length > inOutage.length / 2, "most outage requests skip the open primary")
  yield* check(changes.some((t) => t.from === "half-open" && t.to === "closed"), "a half-open probe closes the breaker after the outage")
  yield* check(last.target === "sonnet" && !last.skippedPrimary, "the primary serves again after the outage")
  yield* check(served.some((s) => s.target === "flash"), "the tertiary answers while the secondary is rate limited")
  yield* check(stats.sonnet.calls < inOutage.length * 2, "the breaker spares the primary most calls")
}).pipe(Effect.scoped, Effect.withRandom(Random.make(7)))

runVirtual(program)
