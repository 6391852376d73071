/**
 * Hedging: when the primary is slower than usual, ask the backup too.
 *
 *   npm run example -- hedging
 *
 * Pattern: the common failure "Latency spikes: provider is up but responding in 30+
 * seconds", answered with a hedged request (the tail-at-scale technique):
 * cheaper than racing every request (see `racing`), since the backup is only
 * called when the primary is already late.
 *
 * The chain hedges its primary with `hedge: { delay: "p95" }`: a request
 * goes to the primary alone; if no answer has come after the primary's
 * observed 95th percentile latency, the backup is called too, the first
 * answer wins and the other call is interrupted. A normal request is never
 * hedged more than about 5% of the time; during a latency spike nearly every
 * request is, and its latency is capped near p95 + the backup's latency.
 *
 * Three minutes of traffic, a request every 5 seconds, in virtual time; the
 * primary's latency spikes to 8 seconds from 01:00 to 02:00. Each request is
 * compared with the time the primary alone was going to take (the simulated
 * provider records the latency it drew even for an interrupted call).
 */
import { Clock, Console, Duration, Effect, Option } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { check, ms, runVirtual } from "./internal/show.js"

const EVERY = Duration.seconds(5)
const REQUESTS = 36
const SPIKE = { from: Duration.minutes(1), to: Duration.minutes(2) }

type Phase = "before" | "spike" | "after"

interface Sample {
  readonly phase: Phase
  readonly hedged: number
  readonly alone: number
  readonly backupServed: boolean
  readonly hedgeFired: boolean
}

const phaseAt = (sinceEpoch: number): Phase =>
  sinceEpoch < Duration.toMillis(SPIKE.from) ? "before" : sinceEpoch < Duration.toMillis(SPIKE.to) ? "spike" : "after"

const p50 = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0

const program = Effect.gen(function* () {
  const primary = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: { p50: "500 millis", p99: "1500 millis" },
    seed: 3,
    faults: [{ ...SPIKE, latency: "8 seconds" }]
  })
  const backup = yield* Simulated.make({ provider: "openai", model: "gpt-4.1", latency: { p50: "600 millis", p99: "1 second" } })
  const router = yield* Router.make({
    targets: { primary: { model: primary }, backup: { model: backup } },
    chains: { default: { targets: ["primary", "backup"], hedge: { delay: "p95" } } },
    // hedging alone, so every request still reaches the primary; by default the breaker would also
    // open on 5 lost hedges in a row, or once half the primary's calls of a minute lost theirs, and skip it for a while
    policy: { breaker: { consecutiveSlowCalls: 0, slowCallRate: false } },
    cache: false
  })

  const samples: Array<Sample> = []
  const delays: Record<Phase, Array<number>> = { before: [], spike: [], after: [] }
  for (let i = 0; i < REQUESTS; i++) {
    const phase = phaseAt((yield* Clock.currentTimeMillis) - primary.epoch)
    // the hedge delay this request will use: the primary's p95 so far (2 s before any data)
    const health = (yield* router.status).find((s) => s.name === "primary")!.health
    delays[phase].push(Option.match(health.latency, { onNone: () => 2_000, onSome: (q) => Duration.toMillis(q.p95) }))
    const backupCallsBefore = (yield* backup.stats).calls
    const { meta } = yield* router.complete(Chat.prompt(`request ${i}`))
    samples.push({
      phase,
      hedged: Duration.toMillis(meta.latency),
      alone: (yield* primary.calls)[i]!.latency,
      backupServed: meta.target === "backup",
      hedgeFired: (yield* backup.stats).calls > backupCallsBefore
    })
    const next = primary.epoch + (i + 1) * Duration.toMillis(EVERY)
    yield* Effect.sleep(Duration.millis(Math.max(0, next - (yield* Clock.currentTimeMillis))))
  }

  yield* Console.log(`primary p50 500 ms, p99 1.5 s; 8 s from 01:00 to 02:00. backup p50 600 ms.\n`)
  yield* Console.log(
    `${"phase".padEnd(8)} ${"requests".padStart(8)} ${"hedge delay".padStart(14)} ${"hedged".padStart(7)} ${"backup won".padStart(11)}   ${"with hedging p50 / max".padStart(24)}   ${"primary alone p50 / max".padStart(24)}`
  )
  for (const phase of ["before", "spike", "after"] as const) {
    const of = samples.filter((s) => s.phase === phase)
    const hedged = of.map((s) => s.hedged)
    const alone = of.map((s) => s.alone)
    const range = `${Math.round(Math.min(...delays[phase]))}..${ms(Math.max(...delays[phase]))}`
    yield* Console.log(
      `${phase.padEnd(8)} ${String(of.length).padStart(8)} ${range.padStart(14)} ${String(of.filter((s) => s.hedgeFired).length).padStart(7)} ${String(of.filter((s) => s.backupServed).length).padStart(11)}   ${`${ms(p50(hedged))} / ${ms(Math.max(...hedged))}`.padStart(24)}   ${`${ms(p50(alone))} / ${ms(Math.max(...alone))}`.padStart(24)}`
    )
  }
  const stats = yield* primary.stats
  yield* Console.log(
    `\nthe hedge delay follows the primary's p95 over the last 60 s; a primary call that loses its hedge counts as` +
      `\na slow sample at the delay it outlasted, so through the spike the delay holds where it was when the spike began.`
  )
  yield* Console.log(`primary calls interrupted by a faster hedge: ${stats.interrupted}; backup calls: ${(yield* backup.stats).calls} for ${REQUESTS} requests`)

  const spike = samples.filter((s) => s.phase === "spike")
  const calm = samples.filter((s) => s.phase !== "spike")
  yield* check(spike.every((s) => s.hedgeFired && s.backupServed), "every request in the spike is hedged and won by the backup")
  yield* check(Math.max(...spike.map((s) => s.hedged)) < 3_000, "hedging keeps spike latency under 3 s")
  yield* check(spike.every((s) => s.alone === 8_000), "without hedging the spike would cost 8 s a request")
  yield* check(calm.filter((s) => s.hedgeFired).length <= calm.length / 4, "outside the spike few requests are hedged")
  yield* check(stats.interrupted >= spike.length, "the slow primary calls are interrupted")
}).pipe(Effect.scoped)

runVirtual(program)
