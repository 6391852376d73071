/**
 * From what a run gathered to its report: the oracle per request, the
 * figures, the target table, outages and wasted calls, the timeline, and
 * the issue's targets checked.
 *
 * @internal
 */
import { Duration } from "effect"
import type * as Config from "../../config/Config.js"
import { cost as priceOf } from "../../llm/ModelInfo.js"
import type * as Simulated from "../../providers/Simulated.js"
import type * as CircuitBreaker from "../../resilience/CircuitBreaker.js"
import * as Policy from "../../router/Policy.js"
import type * as Report from "../Report.js"
import * as Scenario from "../Scenario.js"
import * as oracle from "./oracle.js"
import { unreachable } from "./policies.js"
import type { Raw, RequestRecord, TargetRecord } from "./run.js"
import * as timeline from "./timeline.js"

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

/** Nearest-rank percentiles of a sorted list; `null` for an empty one. @internal */
export const percentiles = (sorted: ReadonlyArray<number>): Report.Percentiles => {
  const at = (q: number) => (sorted.length === 0 ? null : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!)
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) }
}

const ascending = (a: number, b: number) => a - b

/** A window `[from, to)` in milliseconds since the start. @internal */
export interface Window {
  readonly from: number
  readonly to: number
}

/** Every offset from the run's start in `[0, end)` where some target's schedule may change. */
const boundaries = (sims: ReadonlyArray<Simulated.Service>, start: number, end: number): ReadonlyArray<number> => {
  const points = new Set<number>([0])
  for (const sim of sims) {
    const shift = sim.epoch - start
    for (const fault of sim.faults) {
      const from = shift + Duration.toMillis(fault.from ?? Duration.zero)
      const to = fault.to === undefined ? Infinity : shift + Duration.toMillis(fault.to)
      if (from > 0 && from < end) points.add(from)
      if (to > 0 && to < end) points.add(to)
    }
  }
  return [...points].sort(ascending)
}

/**
 * The windows of `[0, end)` (offsets from the run's `start`) in which
 * `down(offset)` holds, merged; `down` is asked once per segment between
 * schedule boundaries, at the segment's start.
 *
 * @internal
 */
export const windows = (
  sims: ReadonlyArray<Simulated.Service>,
  start: number,
  end: number,
  down: (offset: number) => boolean
): ReadonlyArray<Window> => {
  const points = boundaries(sims, start, end)
  const out: Array<Window> = []
  points.forEach((from, i) => {
    const to = points[i + 1] ?? end
    if (to <= from || !down(from)) return
    const last = out[out.length - 1]
    if (last !== undefined && last.to === from) out[out.length - 1] = { from: last.from, to }
    else out.push({ from, to })
  })
  return out
}

const inside = (w: Window, offset: number) => offset >= w.from && offset < w.to

/**
 * A request's deadline on `chain` in milliseconds, as the router sets it:
 * the largest total timeout of its targets' policies (the top-level one,
 * the model's, the chain's).
 *
 * @internal
 */
export const deadlineOf = (file: Config.ConfigFile, chain: string, names: ReadonlyArray<string>): number => {
  const entry = file.chains?.[chain]
  const chainPolicy = entry === undefined || Array.isArray(entry) ? undefined : (entry as { readonly policy?: Policy.ChainPolicy }).policy
  if (names.length === 0) return Infinity
  return Math.max(...names.map((name) => Duration.toMillis(Policy.resolve(file.policy, file.models[name]?.policy, chainPolicy).timeouts.total)))
}

/**
 * Percentiles over the requests the oracle could serve: the router's
 * latency for each, `Infinity` for one it did not answer; a percentile that
 * falls on one of those is `null`.
 */
const servablePercentiles = (sorted: ReadonlyArray<number>): Report.Percentiles => {
  const p = percentiles(sorted)
  const finite = (value: number | null) => (value === null || !Number.isFinite(value) ? null : value)
  return { p50: finite(p.p50), p95: finite(p.p95), p99: finite(p.p99) }
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

/**
 * The router's default breaker (`CircuitBreaker`'s defaults, which the
 * router keeps: `resolveConfig` in `resilience/internal/circuitBreaker.ts`):
 * it trips on 5 failures in a row, sends 1 probe a half-open spell, and
 * stays open 30 s, then twice as long each time a probe fails, at most
 * 5 minutes.
 *
 * @internal
 */
export const defaultBreaker = { threshold: 5, probes: 1, base: 30_000, factor: 2, cap: 300_000 } as const

/**
 * The half-open spells the default open schedule has within an outage of
 * `length` ms, tripped at its start and every probe failing: spell n
 * begins once the first n open durations (30 s, 60 s, 120 s, 240 s, then
 * 5 min each) have passed. At least 1.
 *
 * @internal
 */
export const defaultSpells = (length: number): number => {
  let elapsed = 0
  let spells = 0
  for (let n = 1; ; n++) {
    elapsed += Math.min(defaultBreaker.cap, defaultBreaker.base * Math.pow(defaultBreaker.factor, n - 1))
    if (elapsed >= length) return Math.max(1, spells)
    spells++
  }
}

/**
 * The wasted-calls yardstick of a target: what the policy under test does
 * (its open durations, the half-open spells it went through) plays no
 * part, so a policy cannot earn a larger allowance by tripping late or
 * probing often.
 */
interface Yardstick {
  /** The policy's trip threshold, at most the default's 5. */
  readonly threshold: number
  /** The policy's half-open probes, at most the default's 1 (the default's 1 without a breaker). */
  readonly probes: number
  /** True when the policy's breaker cannot trip and the router's default breaker is the yardstick. */
  readonly substituted: boolean
  /** True when the policy's threshold is above the default's, which stands in. */
  readonly capped: boolean
}

/** A rate trip's minimum of calls by default (the breaker's): 10, or the whole window when a count window is smaller. */
const defaultMinimumCalls = (window: Policy.WindowPolicy) => (typeof window === "number" ? Math.min(10, window) : 10)

/**
 * The trip threshold of a target's breaker: its consecutive failures, else
 * the minimum calls of its rate trip, at most the default's 5; a breaker
 * that cannot trip is measured against the router's default (5 failures,
 * 1 probe).
 */
const yardstick = (file: Config.ConfigFile, name: string): Yardstick => {
  const breaker = Policy.resolve(file.policy, file.models[name]?.policy).breaker
  const consecutive = breaker.consecutiveFailures ?? defaultBreaker.threshold
  const failureRate = breaker.failureRate
  const rate = failureRate === undefined ? undefined : failureRate.minimumCalls ?? defaultMinimumCalls(failureRate.window)
  const threshold = consecutive > 0 ? consecutive : rate ?? unreachable
  return threshold >= unreachable
    ? { threshold: defaultBreaker.threshold, probes: defaultBreaker.probes, substituted: true, capped: false }
    : {
      threshold: Math.min(threshold, defaultBreaker.threshold),
      // as the threshold: a policy cannot earn a larger allowance by asking for more probes
      probes: Math.min(breaker.halfOpenProbes ?? defaultBreaker.probes, defaultBreaker.probes),
      substituted: false,
      capped: threshold > defaultBreaker.threshold
    }
}

/**
 * The calls an outage of `length` ms may waste: the threshold plus the
 * probes of each of the default schedule's half-open spells in it, once
 * per instance that learns of the outage alone (each of them without
 * shared state, one with it).
 */
const allowance = (gauge: Yardstick, length: number, learners: number) =>
  learners * (gauge.threshold + gauge.probes * defaultSpells(length))

/** The spans the breaker was open (or isolated), in milliseconds since the start. */
const openSpans = (transitions: ReadonlyArray<CircuitBreaker.Transition>, start: number, end: number): ReadonlyArray<Window> => {
  const spans: Array<Window> = []
  transitions.forEach((t, i) => {
    const next = transitions[i + 1]?.at ?? start + end
    if (t.to === "open") spans.push({ from: t.at - start, to: Math.min(next, t.openUntil ?? next) - start })
    else if (t.to === "isolated") spans.push({ from: t.at - start, to: next - start })
  })
  return spans
}

interface TargetFigures {
  readonly report: Report.Target
  readonly outages: ReadonlyArray<Window>
}

const callCost = (sim: Simulated.Service, call: Simulated.Call, inputTokens: number) =>
  priceOf(sim.info.price, { inputTokens, outputTokens: call.tokens })

/**
 * A target's outages, as the wasted-calls target counts them: the windows
 * in which {@link oracle.outageAt} holds (the faults active fail more than
 * half the calls, or its latency is past the deadline), merged.
 */
const targetFigures = (
  file: Config.ConfigFile,
  raw: Raw,
  record: TargetRecord,
  columns: timeline.Columns,
  usual: number,
  down: (at: number) => boolean
): TargetFigures => {
  const { sim, calls, transitions } = record
  const start = raw.start
  const outages = windows([sim], start, raw.end, (offset) => down(start + offset))
  const wastes = (call: Simulated.Call) => outages.some((w) => inside(w, call.startedAt - start))
  const gauge = yardstick(file, record.name)
  let succeeded = 0
  let failed = 0
  let cancelled = 0
  let wasted = 0
  let cost = 0
  for (const call of calls) {
    if (call.outcome === "succeeded") {
      succeeded++
      cost += callCost(sim, call, raw.inputTokens)
    } else if (call.outcome === "failed") failed++
    else if (call.outcome === "interrupted") cancelled++
    if (wastes(call)) wasted++
  }
  const outageReports = outages.map((w): Report.Outage => {
    const wastedIn = calls.filter((c) => inside(w, c.startedAt - start)).length
    // every instance's probe spells, as they happened: shown, not part of the allowance
    const halfOpens = record.halfOpens.filter((at) => inside(w, at - start)).length
    const spells = defaultSpells(w.to - w.from)
    return { from: w.from, to: w.to, wasted: wastedIn, halfOpens, spells, allowed: allowance(gauge, w.to - w.from, raw.learners) }
  })
  return {
    outages,
    report: {
      name: record.name,
      provider: sim.info.provider,
      model: sim.info.model,
      calls: calls.length,
      succeeded,
      failed,
      cancelled,
      served: record.attempts.served,
      failures: sortedRecord(record.attempts.failures),
      rejected: sortedRecord(record.attempts.rejected),
      wasted,
      breakerOpens: record.opens,
      budgetRefusals: record.budgetRefusals,
      cost,
      outages: outageReports,
      timeline: timeline.targetRow(columns, calls, start, openSpans(transitions, start, raw.end), usual, raw.end)
    }
  }
}

const sortedRecord = (record: Readonly<Record<string, number>>): Record<string, number> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const percent = (share: number) => `${(share * 100).toFixed(2)}%`

/**
 * The oracle counts a request servable when a target could answer it at its
 * arrival; a policy that retries or waits out a Retry-After past the end of a
 * short fault answers some that were not, and is above it.
 */
const availabilityCheck = (availability: number, oracleShare: number): Report.Check => {
  const gap = (oracleShare - availability) * 100
  const above = -gap >= 0.005
  return {
    name: "availability within 0.1 pp of the oracle",
    met: gap <= 0.1 + 1e-9,
    detail: `${percent(availability)} vs the oracle's ${percent(oracleShare)} (${
      above
        ? `${(-gap).toFixed(2)} pp above the oracle: it waited out a fault within the deadline, where the oracle counts a request only if a target could answer it at its arrival`
        : `${Math.max(gap, 0).toFixed(2)} pp short`
    })`
  }
}

const wastedCheck = (file: Config.ConfigFile, targets: ReadonlyArray<Report.Target>, learners: number): Report.Check => {
  const name = "wasted calls per outage within the breaker's bound"
  const outages = targets.flatMap((t) => t.outages.map((o) => ({ target: t.name, ...o })))
  if (outages.length === 0) return { name, met: null, detail: "no outage" }
  const over = outages.filter((o) => o.wasted > o.allowed)
  const worst = [...outages].sort((a, b) => b.wasted - b.allowed - (a.wasted - a.allowed))[0]!
  const gauge = yardstick(file, worst.target)
  const times = learners > 1 ? `${learners} x (` : ""
  const formula = `${times}${gauge.threshold} + ${gauge.probes} x ${worst.spells} half-open spell${worst.spells === 1 ? "" : "s"}${times === "" ? "" : ")"}`
  const substituted = targets.filter((t) => yardstick(file, t.name).substituted).map((t) => t.name)
  const capped = targets.filter((t) => yardstick(file, t.name).capped).map((t) => t.name)
  const notes = [
    ...(substituted.length > 0 ? [`no breaker on ${substituted.join(", ")}: the default's 5 failures and 1 probe`] : []),
    ...(capped.length > 0 ? [`threshold above the default's on ${capped.join(", ")}: 5 counted`] : [])
  ]
  return {
    name,
    met: over.length === 0,
    detail: `${over.length} of ${outages.length} outages over; worst: ${worst.target} at ${minutes(worst.from)} wasted ${worst.wasted} ` +
      `(allowed ${worst.allowed} = ${formula} of the default open schedule in ${Math.round((worst.to - worst.from) / 1000)} s)` +
      notes.map((n) => `; ${n}`).join("")
  }
}

const minutes = (millis: number) => `${Math.floor(millis / 60_000)}:${String(Math.floor((millis % 60_000) / 1000)).padStart(2, "0")}`

/**
 * p99 over the requests the oracle could serve, the router's and the
 * oracle's: a servable request the router did not answer counts as never
 * answered, so the router's p99 is infinite when more than 1% of them were
 * not answered.
 */
const latencyCheck = (servable: ReadonlyArray<number>, oracleLatency: Report.Percentiles): Report.Check => {
  const name = "p99 latency at most 1.25x the oracle's"
  if (servable.length === 0 || oracleLatency.p99 === null) return { name, met: null, detail: "no request was servable" }
  const unanswered = servable.filter((latency) => !Number.isFinite(latency)).length
  const p99 = percentiles(servable).p99!
  const share = `${unanswered} of ${servable.length} servable requests not answered (${percent(unanswered / servable.length)}), counted as never answered`
  if (!Number.isFinite(p99)) {
    return { name, met: false, detail: `never (${share}) vs the oracle's ${Math.round(oracleLatency.p99)} ms` }
  }
  const ratio = oracleLatency.p99 > 0 ? p99 / oracleLatency.p99 : p99 > 0 ? Infinity : 1
  return {
    name,
    met: ratio <= 1.25,
    detail: `${Math.round(p99)} ms vs the oracle's ${Math.round(oracleLatency.p99)} ms (${ratio.toFixed(2)}x), over the servable requests` +
      (unanswered > 0 ? `; ${share}` : "")
  }
}

const amplificationCheck = (
  raw: Raw,
  sims: ReadonlyArray<Simulated.Service>,
  down: ReadonlyArray<(at: number) => boolean>,
  requests: ReadonlyArray<RequestRecord>
): Report.Check => {
  const name = "upstream calls at most 1.2x requests while every target is down"
  // down as the wasted-calls target reads an outage (more than half the calls failing, or past the deadline)
  const allDown = windows(sims, raw.start, raw.end, (offset) => down.every((isDown) => isDown(raw.start + offset)))
  const arrived = requests.filter((r) => allDown.some((w) => inside(w, r.at))).length
  if (arrived === 0) return { name, met: null, detail: "no request arrived while every target was down" }
  let calls = 0
  for (const target of raw.targets) {
    for (const call of target.calls) if (allDown.some((w) => inside(w, call.startedAt - raw.start))) calls++
  }
  const ratio = calls / arrived
  return { name, met: ratio <= 1.2, detail: `${calls} calls for ${arrived} requests (${ratio.toFixed(2)}x)` }
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

/**
 * The report of one run.
 *
 * @internal
 */
export const build = (scenario: Scenario.Scenario, policy: string, file: Config.ConfigFile, raw: Raw): Report.Report => {
  const duration = Duration.toMillis(scenario.load.duration)
  const byName = new Map(raw.targets.map((t) => [t.name, t]))
  const chainTargets = Scenario.chainTargets(scenario.config, raw.chain).filter((name) => byName.has(name))
  const oracleTargets = chainTargets.map((name) =>
    oracle.target(file, name, byName.get(name)!.sim, {
      inputTokens: raw.inputTokens,
      completionTokens: scenario.load.completionTokens,
      stream: scenario.load.stream
    })
  )
  const deadline = deadlineOf(file, raw.chain, chainTargets)
  const latencies: Array<number> = []
  const oracleLatencies: Array<number> = []
  /** The router's latency for each request the oracle could serve; `Infinity` for one it did not answer. */
  const onServable: Array<number> = []
  const oracleByRequest = new Array<number | undefined>(raw.requests.length)
  let served = 0
  let degraded = 0
  let fellBack = 0
  let servable = 0
  let oracleCost = 0
  for (const request of raw.requests) {
    const verdict = oracle.verdict(oracleTargets, raw.start + request.at, request.index, scenario.seed, deadline)
    if (verdict.servable) {
      servable++
      onServable.push(request.outcome === "served" ? request.latency : Infinity)
      oracleLatencies.push(verdict.latency)
      oracleByRequest[request.index] = verdict.latency
      oracleCost += verdict.cost
    }
    // fell back as the fallback-rate alert counts it: to another target than the first, or to degraded mode
    if (request.outcome === "served") {
      served++
      latencies.push(request.latency)
      if (request.target !== chainTargets[0]) fellBack++
    } else if (request.outcome === "degraded") {
      degraded++
      fellBack++
    } else if (request.tried > 1) fellBack++
  }
  const columns = timeline.columns(duration)
  const shape = { inputTokens: raw.inputTokens, completionTokens: scenario.load.completionTokens, stream: scenario.load.stream }
  const downAt = new Map<string, (at: number) => boolean>()
  const targets = raw.targets.map((t) => {
    const usual = oracle.usualLatency(file, t.name, t.sim, shape)
    // a chain target's calls have the chain's deadline; another's (a shadow's), its own policy's
    const limit = chainTargets.includes(t.name) ? deadline : deadlineOf(file, t.name, [t.name])
    const view = oracle.target(file, t.name, t.sim, shape)
    const down = (at: number) => oracle.outageAt(view, at, limit)
    downAt.set(t.name, down)
    return targetFigures(file, raw, t, columns, usual, down).report
  })
  const requests = raw.requests.length
  const availability = requests === 0 ? 1 : served / requests
  const oracleAvailability = requests === 0 ? 1 : servable / requests
  const latency = percentiles(latencies.sort(ascending))
  const oracleLatency = percentiles(oracleLatencies.sort(ascending))
  onServable.sort(ascending)
  const chainSims = chainTargets.map((name) => byName.get(name)!.sim)
  return {
    scenario: scenario.name,
    ...(scenario.description === undefined ? {} : { description: scenario.description }),
    policy,
    seed: scenario.seed,
    duration,
    end: raw.end,
    chain: raw.chain,
    chainTargets,
    stream: scenario.load.stream,
    requests,
    served,
    degraded,
    failed: requests - served - degraded,
    availability,
    oracleAvailability,
    latency,
    oracleLatency,
    servableLatency: servablePercentiles(onServable),
    servableUnanswered: onServable.filter((latency) => !Number.isFinite(latency)).length,
    upstreamCalls: targets.reduce((sum, t) => sum + t.calls, 0),
    wastedCalls: targets.reduce((sum, t) => sum + t.wasted, 0),
    cost: targets.reduce((sum, t) => sum + t.cost, 0),
    oracleCost,
    fallbackRate: requests === 0 ? 0 : fellBack / requests,
    minutesPerColumn: columns.minutes,
    timeline: timeline.requestRow(columns, raw.requests, oracleByRequest),
    targets,
    checks: [
      availabilityCheck(availability, oracleAvailability),
      wastedCheck(file, targets, raw.learners),
      latencyCheck(onServable, oracleLatency),
      amplificationCheck(raw, chainSims, chainTargets.map((name) => downAt.get(name)!), raw.requests)
    ]
  }
}
