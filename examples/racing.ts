/**
 * Racing: send a request to two models at once, keep the first answer.
 *
 *   npm run example -- racing
 *
 * Pattern: hand-written "Parallel Racing" (`race_models`: call
 * several models at once, `asyncio.wait(FIRST_COMPLETED)`, cancel the rest).
 *
 * The chain races its first two targets (`race: 2`); the third is an
 * ordinary fallback if both racers fail. Latencies are drawn from log-normal
 * distributions (seeded), so sometimes one racer wins, sometimes the other.
 * The loser is interrupted, which in a real provider aborts its HTTP
 * request: each simulated provider counts its interrupted calls. An
 * interrupted loser does not count as a failure for its breaker or health.
 *
 * Racing trades cost for latency: every request is paid up to twice (a
 * provider may bill an aborted request). Hedging (see `hedging`) is the
 * cheaper middle ground.
 */
import { Console, Duration, Effect } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { check, ms, runVirtual } from "./internal/show.js"

const REQUESTS = 10

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0
}

const program = Effect.gen(function* () {
  const deepseek = yield* Simulated.make({
    provider: "deepseek",
    model: "deepseek-chat",
    latency: { p50: "900 millis", p99: "6 seconds" },
    seed: 1
  })
  const qwen = yield* Simulated.make({
    provider: "qwen",
    model: "qwen-turbo",
    latency: { p50: "900 millis", p99: "6 seconds" },
    seed: 2
  })
  const glm = yield* Simulated.make({ provider: "zhipu", model: "glm-4-flash", latency: "700 millis" })
  const router = yield* Router.make({
    targets: { deepseek: { model: deepseek }, qwen: { model: qwen }, glm: { model: glm } },
    chains: { default: { targets: ["deepseek", "qwen", "glm"], race: 2 } }
  })

  yield* Console.log(`race: deepseek vs qwen (each p50 900 ms, p99 6 s); glm is the fallback\n`)
  const raced: Array<number> = []
  const alone: Array<number> = []
  for (let i = 0; i < REQUESTS; i++) {
    const { meta } = yield* router.complete(Chat.prompt(`Quick answer needed #${i}`))
    // what each racer was going to take (the simulated draw, kept even for an interrupted call)
    const a = (yield* deepseek.calls)[i]!
    const b = (yield* qwen.calls)[i]!
    const loser = meta.target === "deepseek" ? b : a
    raced.push(Duration.toMillis(meta.latency))
    alone.push(a.latency)
    yield* Console.log(
      `#${i}  ${meta.target.padEnd(8)} won in ${ms(meta.latency).padStart(8)};  ` +
        `${(meta.target === "deepseek" ? "qwen" : "deepseek").padEnd(8)} would have taken ${ms(loser.latency).padStart(8)}: ${loser.outcome}`
    )
    yield* check(Duration.toMillis(meta.latency) === Math.min(a.latency, b.latency), "the faster racer wins")
    yield* check(loser.outcome === "interrupted", "the loser is interrupted")
  }

  const stats = { deepseek: yield* deepseek.stats, qwen: yield* qwen.stats, glm: yield* glm.stats }
  yield* Console.log(`\ninterrupted calls: deepseek ${stats.deepseek.interrupted}, qwen ${stats.qwen.interrupted}; glm called ${stats.glm.calls} times`)
  yield* Console.log(
    `latency p50 / max: racing ${ms(percentile(raced, 0.5))} / ${ms(Math.max(...raced))}, ` +
      `deepseek alone ${ms(percentile(alone, 0.5))} / ${ms(Math.max(...alone))}`
  )
  const breakers = yield* router.status
  yield* Console.log(`breakers: ${breakers.map((s) => `${s.name} ${s.breaker.state} (${s.breaker.consecutiveFailures} failures)`).join(", ")}`)

  yield* check(stats.deepseek.interrupted + stats.qwen.interrupted === REQUESTS, "one loser interrupted per request")
  yield* check(stats.deepseek.interrupted > 0 && stats.qwen.interrupted > 0, "each racer wins some")
  yield* check(breakers.every((s) => s.breaker.consecutiveFailures === 0), "interrupted losers are not failures")
  yield* check(Math.max(...raced) < Math.max(...alone), "racing cuts the tail latency")
}).pipe(Effect.scoped)

runVirtual(program)
