/**
 * The outage scenarios: every scenario of `examples/scenarios/` replayed by
 * the simulator (the real router, in virtual time, against an oracle that
 * knows the fault schedule) under three policies, as `llm-failover simulate
 * --compare` runs them: `naive` (a hand-written loop: two attempts a
 * target, no breaker, no budget), `default` (the router's defaults) and
 * `scenario` (the scenario's own policy). Then the issue's targets, checked
 * for `default`, and for the scenario's own policy when it differs:
 *
 * - availability within 0.1 percentage point of the oracle's;
 * - wasted calls per outage per target at most a yardstick that does not
 *   depend on what the policy did: min(its trip threshold, the default's 5)
 *   + its half-open probes x the half-open spells of the router's default
 *   open schedule (30 s doubling to 5 min) within the outage (at least 1);
 * - p99 latency at most 1.25x the oracle's, over the requests the oracle
 *   could serve (one the router did not answer counts as never answered);
 * - while every target is down (all-down*.yaml), upstream calls at most
 *   1.2x the requests.
 *
 * **The oracle** serves a request when some chain target is up (`canServe`),
 * not in an outage (below: its faults fail more than half its calls), and
 * its answer for that request arrives within the policy's total timeout
 * (the chain's deadline).
 *
 * **Wasted calls per outage per target.** An outage is a window in which
 * the faults active on one target fail a call with a combined chance
 * (1 - the product of 1 - each failing fault's `errorRate`) of more than one
 * half, or its slow fault's median is past the policy's total timeout;
 * windows of one target that touch are one outage. The library's 30% gray
 * failure is none; a 99% one is. A wasted call is an upstream call that
 * started inside an outage of its target (first attempts, retries, probes,
 * hedges alike). The allowance (the report's `allowed`) is per outage per
 * target: the policy's trip threshold (consecutive failures; else the rate
 * trip's minimum calls), at most the router's default 5 (the default's 5
 * for a breaker that cannot trip, as under `naive`), plus the policy's
 * `halfOpenProbes` (1 without a breaker) times the report's `spells`: the
 * half-open spells the router's default open schedule has within the
 * outage's length, at least 1. Instances without shared state each pay it
 * (`load.instances`; one with shared state). The half-open spells the
 * policy's breakers went through are printed beside it, for information:
 * they no longer raise the allowance.

 * Runs are deterministic: the figures are the same on every run and every
 * machine; only the real time taken varies. Our modules are loaded compiled
 * (see `lib/compiled.ts`), as they ship.
 */
import { Duration, Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type * as Config from "../src/config/Config.js"
import type * as Report from "../src/simulator/Report.js"
import type * as Scenario from "../src/simulator/Scenario.js"
import type * as Simulator from "../src/simulator/Simulator.js"
import type * as VirtualTime from "../src/simulator/VirtualTime.js"
import { importCompiled } from "./lib/compiled.js"
import { root } from "./lib/machine.js"
import type { Cell, Suite, SuiteContext, SuiteResult, Table } from "./lib/suite.js"

type SimulatorModule = typeof import("../src/simulator/index.js")
type RouterModule = typeof import("../src/router/index.js")

interface Modules {
  readonly sim: SimulatorModule
  readonly Policy: RouterModule["Policy"]
}

/** Where the scenario library lives, from the repository root. */
const library = "examples/scenarios"

/** The policies of the first table, in the order `--compare` runs them. */
const policies: ReadonlyArray<Simulator.PolicyName> = ["naive", "default", "scenario"]

/** The issue's targets. */
const targets = {
  availabilityGapPp: 0.1,
  p99Ratio: 1.25,
  allDownCallsPerRequest: 1.2
} as const

// ---- breaker yardstick --------------------------------------------------------

/** The policies' breaker threshold that no outage reaches (`naive`'s), as in the simulator. */
const unreachable = 1_000_000_000

/** The router's default breaker: the yardstick's cap and schedule (`src/simulator/internal/report.ts` `defaultBreaker`). */
const defaultBreaker = { threshold: 5, probes: 1, base: 30_000, factor: 2, cap: 300_000 } as const

/** A target's breaker under a policy, and the yardstick the wasted-calls target takes from it. */
interface Yardstick {
  /** The policy's own trip threshold, probes and open durations, for the table (`undefined` threshold: cannot trip). */
  readonly policyThreshold: number | undefined
  readonly policyProbes: number
  readonly base: number
  readonly cap: number
  /** The yardstick: min(the policy's threshold, 5), its probes. */
  readonly threshold: number
  readonly probes: number
  /** The breaker cannot trip; the router's default stands in. */
  readonly substituted: boolean
}

const millis = (input: Duration.DurationInput) => Duration.toMillis(Duration.decode(input))

/** The yardstick of a target's breaker under a policy's config, as the report's `allowed` counts it. */
const yardstick = (modules: Modules, file: Config.ConfigFile, name: string): Yardstick => {
  const breaker = modules.Policy.resolve(file.policy, file.models[name]?.policy).breaker
  const consecutive = breaker.consecutiveFailures ?? defaultBreaker.threshold
  // a rate trip's minimum of calls by default, as the report's: 10, or the whole of a smaller count window
  const window = breaker.failureRate?.window
  const rate = breaker.failureRate === undefined ? undefined : (breaker.failureRate.minimumCalls ?? (typeof window === "number" ? Math.min(10, window) : 10))
  const threshold = consecutive > 0 ? consecutive : (rate ?? unreachable)
  const open = breaker.openDuration ?? {}
  const durations = { base: millis(open.base ?? "30 seconds"), cap: millis(open.cap ?? "5 minutes") }
  return threshold >= unreachable
    ? { policyThreshold: undefined, policyProbes: 0, ...durations, threshold: defaultBreaker.threshold, probes: defaultBreaker.probes, substituted: true }
    : {
        policyThreshold: threshold,
        policyProbes: breaker.halfOpenProbes ?? 1,
        ...durations,
        threshold: Math.min(threshold, defaultBreaker.threshold),
        // at most the default's 1, as the report counts them
        probes: Math.min(breaker.halfOpenProbes ?? 1, defaultBreaker.probes),
        substituted: false
      }
}

/** The half-open spells of the default open schedule within `length` ms (at least 1), as the report counts them. */
const defaultSpells = (length: number): number => {
  let elapsed = 0
  let spells = 0
  for (let n = 1; ; n++) {
    elapsed += Math.min(defaultBreaker.cap, defaultBreaker.base * Math.pow(defaultBreaker.factor, n - 1))
    if (elapsed >= length) return Math.max(1, spells)
    spells++
  }
}

// ---- figures of one run -------------------------------------------------------

/** One outage of one target. */
interface OutageFigure {
  readonly target: string
  readonly from: number
  readonly to: number
  readonly wasted: number
  /** The half-open spells the policy's breakers went through in it (informational). */
  readonly halfOpens: number
  /** The default open schedule's half-open spells in its length. */
  readonly spells: number
  /** The report's allowance: learners x (threshold + probes x spells). */
  readonly allowed: number
}

/** One target's outages in one run. */
interface TargetOutages {
  readonly target: string
  readonly yardstick: Yardstick
  readonly outages: ReadonlyArray<OutageFigure>
  /** The outage furthest over (or least under) its allowance. */
  readonly worst: OutageFigure
  readonly over: number
}

/** The window in which every chain target was down, and what happened in it. */
interface AllDown {
  readonly windows: ReadonlyArray<{ readonly from: number; readonly to: number }>
  readonly requests: number
  readonly calls: number
}

/** Everything the tables need about one run. */
interface Figures {
  readonly scenario: string
  readonly policy: Simulator.PolicyName
  readonly report: Report.Report
  readonly stats: VirtualTime.Stats
  readonly instances: number
  readonly shared: boolean
  /** Instances that learn of an outage alone, each paying the allowance. */
  readonly learners: number
  readonly availabilityGapPp: number
  readonly p99Ratio: number | null
  readonly callsPerRequest: number
  readonly costRatio: number
  readonly outages: ReadonlyArray<TargetOutages>
  readonly allDown: AllDown | undefined
}

/** Instances that learn of an outage alone: all of them without shared state, one with it. */
const learnersOf = (scenario: Scenario.Scenario) => (scenario.load.shared && scenario.load.instances > 1 ? 1 : scenario.load.instances)

const outagesOf = (
  modules: Modules,
  file: Config.ConfigFile,
  report: Report.Report
): ReadonlyArray<TargetOutages> => {
  return report.targets
    .filter((t) => t.outages.length > 0)
    .map((t): TargetOutages => {
      const y = yardstick(modules, file, t.name)
      const outages = t.outages.map((o): OutageFigure => ({
        target: t.name,
        from: o.from,
        to: o.to,
        wasted: o.wasted,
        halfOpens: o.halfOpens,
        spells: o.spells,
        allowed: o.allowed
      }))
      const worst = outages.reduce((a, b) => (b.wasted - b.allowed > a.wasted - a.allowed ? b : a))
      return { target: t.name, yardstick: y, outages, worst, over: outages.filter((o) => o.wasted > o.allowed).length }
    })
}

type Window = { readonly from: number; readonly to: number }

/** The intersection of two sorted lists of disjoint windows. */
const intersect = (a: ReadonlyArray<Window>, b: ReadonlyArray<Window>): ReadonlyArray<Window> =>
  a.flatMap((x) =>
    b.flatMap((y) => {
      const from = Math.max(x.from, y.from)
      const to = Math.min(x.to, y.to)
      return to > from ? [{ from, to }] : []
    })
  )

/**
 * The windows in which every chain target was down, the requests that
 * arrived in them and the upstream calls made in them. Every call made in
 * such a window is wasted, so the calls are the wasted calls of the
 * outages that lie inside it; when an outage reaches beyond it, the
 * report's own check is read instead.
 */
const allDownOf = (sim: SimulatorModule, scenario: Scenario.Scenario, report: Report.Report): AllDown | undefined => {
  const chain = report.targets.filter((t) => report.chainTargets.includes(t.name))
  if (chain.length === 0 || chain.length < report.chainTargets.length) return undefined
  const windows = chain.map((t) => t.outages as ReadonlyArray<Window>).reduce(intersect)
  if (windows.length === 0) return undefined
  const inside = (at: number) => windows.some((w) => at >= w.from && at < w.to)
  const requests = sim.Scenario.arrivals(scenario).filter(inside).length
  const exact = chain.every((t) =>
    t.outages.every((o) => windows.some((w) => o.from >= w.from && o.to <= w.to) || !windows.some((w) => o.from < w.to && w.from < o.to))
  )
  if (exact) {
    const calls = chain.reduce(
      (sum, t) => sum + t.outages.filter((o) => windows.some((w) => o.from >= w.from && o.to <= w.to)).reduce((s, o) => s + o.wasted, 0),
      0
    )
    return { windows, requests, calls }
  }
  const check = report.checks.find((c) => c.name.startsWith("upstream calls at most"))
  const match = check === undefined ? null : /(\d+) calls for (\d+) requests/.exec(check.detail)
  return match === null ? undefined : { windows, requests: Number(match[2]), calls: Number(match[1]) }
}

const figuresOf = (
  modules: Modules,
  scenario: Scenario.Scenario,
  policy: Simulator.PolicyName,
  run: Simulator.Run
): Figures => {
  const { report, stats } = run
  const file = modules.sim.Simulator.configFor(scenario, policy)
  const { oracleLatency, servableLatency } = report
  return {
    scenario: scenario.name,
    policy,
    report,
    stats,
    instances: scenario.load.instances,
    shared: scenario.load.shared,
    learners: learnersOf(scenario),
    availabilityGapPp: (report.oracleAvailability - report.availability) * 100,
    // over the servable requests; a p99 that falls on one not answered is never (Infinity)
    p99Ratio:
      oracleLatency.p99 === null ? null : servableLatency.p99 === null ? Infinity : oracleLatency.p99 > 0 ? servableLatency.p99 / oracleLatency.p99 : Infinity,
    callsPerRequest: report.requests === 0 ? 0 : report.upstreamCalls / report.requests,
    costRatio: report.oracleCost > 0 ? report.cost / report.oracleCost : Infinity,
    outages: outagesOf(modules, file, report),
    allDown: allDownOf(modules.sim, scenario, report)
  }
}

// ---- formatting -------------------------------------------------------------------

const percent = (share: number) => `${(share * 100).toFixed(2)}%`
const pp = (gap: number) => `${gap > 0.005 ? "-" : gap < -0.005 ? "+" : "±"}${Math.abs(gap).toFixed(2)} pp`
const ms = (value: number | null) => (value === null ? "-" : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`)
const x = (ratio: number | null) => (ratio === null ? "-" : Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "inf")
const minute = (offset: number) => `${Math.floor(offset / 60_000)}:${String(Math.floor((offset % 60_000) / 1000)).padStart(2, "0")}`
const dollars = (amount: number) => `$${amount.toFixed(2)}`
/** A configured duration: "30 s", "5 min", "250 ms". */
const span = (value: number) =>
  value >= 60_000 && value % 60_000 === 0 ? `${value / 60_000} min` : value >= 1000 ? `${+(value / 1000).toFixed(1)} s` : `${value} ms`

/** "sonnet 11/11": each target's worst outage, wasted against allowed; "-" without outages. */
const worstCell = (f: Figures): string =>
  f.outages.length === 0
    ? "- (no outage)"
    : f.outages.map((t) => `${t.target} ${t.worst.wasted}/${t.worst.allowed}${t.over > 0 ? ` (${t.over} of ${t.outages.length} over)` : ""}`).join("; ")

/** The router's p99 over the servable requests: "never" when it falls on one not answered. */
const servableP99 = (f: Figures) =>
  f.report.oracleLatency.p99 !== null && f.report.servableLatency.p99 === null
    ? `never (${f.report.servableUnanswered} unanswered)`
    : ms(f.report.servableLatency.p99)

const figuresTable = (all: ReadonlyArray<Figures>): Table => ({
  title: "Outage scenarios: each under the naive loop, the router's defaults and its own policy",
  columns: [
    "Scenario",
    "Policy",
    "Requests",
    "Availability",
    "vs oracle",
    "p50",
    "p99",
    "p99 over servable / oracle p99",
    "Calls / request",
    "Wasted calls",
    "Wasted in worst outage / allowed",
    "Cost / oracle",
    "Fallback rate"
  ],
  rows: all.map((f): ReadonlyArray<Cell> => [
    f.scenario,
    f.policy,
    f.report.requests,
    percent(f.report.availability),
    pp(f.availabilityGapPp),
    ms(f.report.latency.p50),
    ms(f.report.latency.p99),
    `${servableP99(f)}: ${x(f.p99Ratio)} of ${ms(f.report.oracleLatency.p99)}`,
    f.callsPerRequest.toFixed(2),
    f.report.wastedCalls,
    worstCell(f),
    `${x(f.costRatio)} (${dollars(f.report.cost)})`,
    percent(f.report.fallbackRate)
  ]),
  note:
    "Availability: requests a target answered (degraded answers not counted); vs oracle: percentage points below (-) or " +
    "above (+) what a router knowing the fault schedule could serve (a request is servable when some chain target is up, " +
    "not in an outage, and its answer arrives within the policy's total timeout). p50, p99: over answered requests, arrival to answer. p99 " +
    "over servable: the router's p99 over the requests the oracle could serve, one it did not answer counted as never " +
    "answered (so 'never' past 1% unanswered), against the oracle's p99, one draw per servable request from its fastest " +
    "servable target. Calls / request: upstream calls (retries, probes, hedges) per request. Wasted: calls that started " +
    "inside an outage of their target (the faults active fail more than half the calls, or its latency is past the total " +
    "timeout). Worst outage: per target, the outage furthest over its allowance (min(threshold, 5) + probes x the default " +
    "open schedule's half-open spells in it), wasted/allowed. Cost: what the providers bill (every call that returned an " +
    "answer), against the oracle's cheapest servable target per request. Fallback rate: requests that fell back (answered " +
    "by another target than the chain's first, answered from degraded mode, or failed after moving on to another target), " +
    "over all requests, as the fallback-rate alert counts them."
})

const outageTable = (all: ReadonlyArray<Figures>): Table => ({
  title: "Wasted calls per outage per target, against a yardstick the policy does not set",
  columns: [
    "Scenario",
    "Policy",
    "Target",
    "Policy's breaker",
    "Yardstick",
    "Outages",
    "Wasted per outage (mean, max)",
    "Worst outage: wasted / allowed",
    "Over",
    "Half-open spells seen in it (informational)"
  ],
  rows: all.flatMap((f) =>
    f.outages.map((t): ReadonlyArray<Cell> => {
      const y = t.yardstick
      const total = t.outages.reduce((s, o) => s + o.wasted, 0)
      const max = Math.max(...t.outages.map((o) => o.wasted))
      const w = t.worst
      const formula = `${y.threshold} + ${y.probes}x${w.spells}`
      return [
        f.scenario,
        f.policy,
        t.target,
        y.substituted
          ? "none"
          : `${y.policyThreshold} + ${y.policyProbes} probe${y.policyProbes === 1 ? "" : "s"}, open ${span(y.base)}..${span(y.cap)}`,
        `${y.threshold} + ${y.probes} x default spells${f.learners > 1 ? `, x${f.learners} instances` : ""}`,
        t.outages.length,
        `${(total / t.outages.length).toFixed(1)}, ${max}`,
        `${w.wasted} / ${w.allowed} = ${f.learners > 1 ? `${f.learners}x(${formula})` : formula} at ${minute(w.from)}-${minute(w.to)}`,
        `${t.over} of ${t.outages.length}`,
        w.halfOpens
      ]
    })
  ),
  note:
    "An outage: a window in which the faults active fail a call with a combined chance of more than one half (1 - the " +
    "product of 1 - each errorRate), or the target's latency is past the policy's total timeout; merged when windows " +
    "touch. Yardstick: min(the policy's trip threshold, the router's default 5) (5 without a breaker) + the policy's " +
    "half-open probes, at most the default's 1 (1 without a breaker), x the half-open spells the router's default open schedule (30 s doubling to " +
    "5 min, tripped at the outage's start) has within the outage, at least 1; each instance without shared state pays " +
    "it. It does not depend on what the policy did: the half-open spells its breakers went through are shown, not counted."
})

/** A target checked: `met` is `null` when it does not apply. */
type Verdict = { readonly met: boolean | null; readonly text: string }

const mark = (v: Verdict) => (v.met === null ? `n/a (${v.text})` : `${v.met ? "met" : "MISSED"}: ${v.text}`)

const availabilityVerdict = (f: Figures): Verdict => ({
  met: f.availabilityGapPp <= targets.availabilityGapPp + 1e-9,
  text: `${percent(f.report.availability)} vs ${percent(f.report.oracleAvailability)} (${pp(f.availabilityGapPp)})`
})

const wastedVerdict = (f: Figures): Verdict => {
  if (f.outages.length === 0) return { met: null, text: "no outage" }
  const outages = f.outages.flatMap((t) => t.outages)
  const over = outages.filter((o) => o.wasted > o.allowed)
  const worst = outages.reduce((a, b) => (b.wasted - b.allowed > a.wasted - a.allowed ? b : a))
  return {
    met: over.length === 0,
    text: `${over.length} of ${outages.length} outages over; worst ${worst.target} at ${minute(worst.from)}: ${worst.wasted} wasted, ${worst.allowed} allowed`
  }
}

const latencyVerdict = (f: Figures): Verdict =>
  f.p99Ratio === null
    ? { met: null, text: "no request servable" }
    : {
        met: f.p99Ratio <= targets.p99Ratio,
        text: `${servableP99(f)} vs ${ms(f.report.oracleLatency.p99)} (${x(f.p99Ratio)})` +
          (f.report.servableUnanswered > 0 && f.report.servableLatency.p99 !== null ? `, ${f.report.servableUnanswered} unanswered` : "")
      }

const allDownVerdict = (f: Figures): Verdict => {
  if (f.allDown === undefined) return { met: null, text: "some target always up" }
  const ratio = f.allDown.requests === 0 ? 0 : f.allDown.calls / f.allDown.requests
  const windows = f.allDown.windows.map((w) => `${minute(w.from)}-${minute(w.to)}`).join(", ")
  return { met: ratio <= targets.allDownCallsPerRequest, text: `${f.allDown.calls} calls for ${f.allDown.requests} requests in ${windows} (${x(ratio)})` }
}

const verdicts = (f: Figures) => [availabilityVerdict(f), wastedVerdict(f), latencyVerdict(f), allDownVerdict(f)] as const

/** Whether the scenario's own config is the defaults' (then its row adds nothing). */
const sameConfig = (sim: SimulatorModule, scenario: Scenario.Scenario) =>
  JSON.stringify(sim.Simulator.configFor(scenario, "default")) === JSON.stringify(sim.Simulator.configFor(scenario, "scenario"))

const targetsTable = (checked: ReadonlyArray<Figures>): Table => ({
  title: "The issue's targets, under the router's defaults and each scenario's own policy",
  columns: [
    "Scenario",
    "Policy",
    "Availability within 0.1 pp of the oracle",
    "Wasted calls per outage per target <= min(threshold, 5) + probes x default half-open spells",
    "p99 at most 1.25x the oracle's",
    "All down: upstream calls at most 1.2x requests"
  ],
  rows: checked.map((f) => [f.scenario, f.policy, ...verdicts(f).map(mark)]),
  note:
    "`default`: every policy section of the scenario removed (the router's defaults); `scenario`: the scenario's own " +
    "policy, shown when it differs from the defaults. n/a: the target does not apply to the scenario."
})

// ---- running ------------------------------------------------------------------------

const scenarioFiles = (): ReadonlyArray<string> =>
  readdirSync(join(root, library))
    .filter((name) => /\.(ya?ml|json)$/i.test(name))
    .sort()
    .map((name) => join(library, name))

const load = (sim: SimulatorModule, path: string): Promise<Scenario.Scenario> =>
  Effect.runPromise(sim.Scenario.parse(readFileSync(join(root, path), "utf8"), { source: path }))

/** Encodes a report as its `Schema` does (plain JSON). */
const encoded = (sim: SimulatorModule, report: Report.Report): unknown => JSON.parse(sim.Report.toJson(report))

const run = async ({ log }: SuiteContext): Promise<SuiteResult> => {
  const [sim, router] = await Promise.all([
    importCompiled<SimulatorModule>("src/simulator/index.ts"),
    importCompiled<RouterModule>("src/router/index.ts")
  ])
  const modules: Modules = { sim, Policy: router.Policy }
  const all: Array<Figures> = []
  const checked: Array<Figures> = []
  for (const path of scenarioFiles()) {
    const scenario = await load(sim, path)
    const same = sameConfig(sim, scenario)
    for (const policy of policies) {
      const done = await Effect.runPromise(sim.Simulator.run(scenario, { policy }))
      const f = figuresOf(modules, scenario, policy, done)
      log(
        `  ${scenario.name} / ${policy}: ${(done.stats.virtualMillis / 60_000).toFixed(0)} virtual minutes in ` +
          `${(done.stats.realMillis / 1000).toFixed(1)} s; availability ${percent(f.report.availability)}, ` +
          `p99 ${ms(f.report.latency.p99)} (servable ${servableP99(f)}), wasted ${f.report.wastedCalls}`
      )
      all.push(f)
      if (policy === "default" || (policy === "scenario" && !same)) checked.push(f)
    }
  }
  const tally = (policy: string) => {
    const rows = checked.filter((f) => f.policy === policy)
    const marks = rows.flatMap((f) => verdicts(f).map((v) => v.met))
    const missed = rows.flatMap((f) =>
      verdicts(f).flatMap((v, i) => (v.met === false ? [`${f.scenario} (${["availability", "wasted calls", "p99", "all-down load"][i]})`] : []))
    )
    return `${policy}: ${marks.filter((m) => m === true).length} met, ${marks.filter((m) => m === false).length} missed` +
      (missed.length > 0 ? ` (${missed.join(", ")})` : "")
  }
  // the yardstick is recomputed from the policy to print it: say so if it no longer matches the report's allowance
  const disagreements = all.flatMap((f) =>
    f.outages.flatMap((t) =>
      t.outages.flatMap((o) =>
        o.spells === defaultSpells(o.to - o.from) && o.allowed === f.learners * (t.yardstick.threshold + t.yardstick.probes * o.spells)
          ? []
          : [`${f.scenario}/${f.policy}/${t.target}`]
      )
    )
  )
  const realSeconds = all.reduce((s, f) => s + f.stats.realMillis, 0) / 1000
  const virtualHours = all.reduce((s, f) => s + f.stats.virtualMillis, 0) / 3_600_000
  return {
    tables: [figuresTable(all), outageTable(all), targetsTable(checked)],
    summary: [
      `Targets: ${tally("default")}; ${tally("scenario")}.`,
      ...(disagreements.length === 0
        ? []
        : [`Warning: the breaker column disagrees with the report's allowance for ${[...new Set(disagreements)].join(", ")}.`]),
      `${all.length} runs, ${virtualHours.toFixed(1)} hours of virtual time in ${realSeconds.toFixed(1)} s of real time ` +
        "(the figures are deterministic: the same on every run and machine)."
    ],
    data: {
      scenarios: scenarioFiles(),
      policies,
      targets,
      runs: all.map((f) => ({
        scenario: f.scenario,
        policy: f.policy,
        checked: checked.includes(f),
        instances: f.instances,
        shared: f.shared,
        availabilityGapPp: f.availabilityGapPp,
        p99Ratio: f.p99Ratio,
        callsPerRequest: f.callsPerRequest,
        costRatio: f.costRatio,
        outages: f.outages,
        allDown: f.allDown ?? null,
        verdicts: verdicts(f),
        stats: f.stats,
        report: encoded(sim, f.report)
      }))
    }
  }
}

/** The outage-scenario suite: the scenario library under three policies, and the issue's targets. */
export const suite: Suite = {
  name: "scenarios",
  description: "outage scenarios in virtual time: availability, latency, wasted calls and cost against an oracle",
  run
}
