/**
 * Our gateway (`llm-failover serve`) against the Portkey open-source gateway
 * (`@portkey-ai/gateway`) and against the mock upstream called directly, all
 * on 127.0.0.1, loaded with autocannon in one run:
 *
 * - requests per second at 50 connections,
 * - the latency each gateway adds over the direct call at 1 connection,
 * - each gateway's RSS under the 50-connection load,
 *
 * each for a healthy upstream and for a primary answering 503 with a
 * fallback to a healthy one, non-streaming and streaming.
 *
 * Equivalent work on both sides: one mock upstream (the project's
 * `MockServer`, its own process) answers every call; the client sends the
 * same body everywhere (`stream_options.include_usage` with `stream`,
 * which our gateway always asks upstream for); every response body is
 * checked (the reply's text, and for a stream every `data:` event parsed,
 * the usage chunk and the closing `[DONE]`); the mock's own counts prove
 * one upstream call per request on a healthy chain and exactly one 503 and
 * one healthy call per request on the failover chain (no retry on either
 * side: Portkey's fallback has no retry unless configured; ours is set to
 * one attempt a target, and its circuit breaker never opens, so the primary
 * is called every time, as Portkey calls it).
 *
 * - Ours: `node <bundled src/cli/bin.ts> serve --config <file>`, the
 *   command line as shipped: bundled by `scripts/bundle.ts`, as
 *   `npm run build` and `npm start` bundle it, with its default heap growth
 *   and observability on (a logfmt line a request, two with a fallback,
 *   written to its stdout, here a file).
 * - Portkey: `node --import <bench/lib/servers/loopback.ts, compiled>
 *   node_modules/@portkey-ai/gateway/build/start-server.js --port=N
 *   --headless`; the preload binds its server to 127.0.0.1 (it listens on
 *   every interface otherwise), and the suite checks from /proc that every
 *   process listens on 127.0.0.1 only. Its fallback config travels in the
 *   `x-portkey-config` header, as Portkey's docs show: targets of provider
 *   `openai` whose `custom_host` is the mock, `on_status_codes: [503]`.
 *   Its package's postinstall (`patch-package`) never ran here, and would
 *   have changed nothing: the published package holds no `patches/`
 *   directory. (Its repository's patches, of `@hono/node-server` 1.13.5
 *   and `async-retry`, touch an error path of a failed response write and
 *   a 429 with Retry-After, neither of which these runs reach.)
 *
 * Runs are interleaved: for each case, rounds in which every side runs
 * once, the order rotating, so a ratio compares runs seconds apart on a
 * shared machine. Figures pool the rounds; the range of per-round ratios
 * shows the spread.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { Counts } from "./lib/chat.js"
import * as chat from "./lib/chat.js"
import { bundledPath, compiledPath } from "./lib/compiled.js"
import * as load from "./lib/load.js"
import { root } from "./lib/machine.js"
import type { Child, ForkedChild } from "./lib/processes.js"
import { cpuMillis, freePort, listeningAddresses, logDir, RssSampler, rssKiB, startNode, tearDown } from "./lib/processes.js"
import type { Cell, Suite, SuiteContext, SuiteResult, Table } from "./lib/suite.js"

// ---- settings --------------------------------------------------------------

const timing = {
  /**
   * At the start, each gateway gets every case for this long at 50
   * connections (not counted): our gateway's first seconds under load cost
   * up to twice as much CPU a request as later ones (JIT), and the first
   * case measured must not pay for it.
   */
  startWarmupSeconds: 2,
  /** Each side again before a case's first round (autocannon's shortest run: it stops on a 1 s tick). */
  warmupSeconds: 1,
  /** One measured run at 50 connections. */
  runSeconds: 3,
  /** One measured run at 1 connection (40 to 60 responses from the slowest side, Portkey streaming). */
  latencyRunSeconds: 2,
  rounds: 2,
  loadConnections: 50,
  latencyConnections: 1
} as const

const targets = {
  /** Requests per second at 50 connections: ours at least 3x Portkey's. */
  rpsRatio: 3,
  /** Latency added over direct at 1 connection: ours at most a third of Portkey's. */
  addedLatencyRatio: 1 / 3,
  /** RSS under the 50-connection load, in megabytes (10^6 bytes, as the issue says MB). */
  rssMB: 150
} as const

type Side = "direct" | "ours" | "portkey"
const sides: ReadonlyArray<Side> = ["direct", "ours", "portkey"]
const sideLabel: Readonly<Record<Side, string>> = { direct: "mock, direct", ours: "ours", portkey: "Portkey" }

interface Case {
  readonly id: string
  readonly label: string
  readonly failover: boolean
  readonly stream: boolean
}

const cases: ReadonlyArray<Case> = [
  { id: "healthy-json", label: "healthy, non-streaming", failover: false, stream: false },
  { id: "healthy-stream", label: "healthy, streaming", failover: false, stream: true },
  { id: "failover-json", label: "503 primary + fallback, non-streaming", failover: true, stream: false },
  { id: "failover-stream", label: "503 primary + fallback, streaming", failover: true, stream: true }
]

// ---- requests and their checks ---------------------------------------------

interface Endpoints {
  readonly mock: string
  readonly ours: string
  readonly portkey: string
}

/** The request each side gets in a case. */
const requestFor = (side: Side, c: Case, at: Endpoints): load.Request => {
  const verify = c.stream ? chat.verifyStream : chat.verifyJson
  const json = { "content-type": "application/json" }
  switch (side) {
    case "direct":
      return {
        url: `${at.mock}/v1/chat/completions`,
        headers: { ...json, authorization: `Bearer ${chat.upstreamKey}` },
        body: chat.chatBody(chat.upstreamModel, c.stream),
        verify
      }
    case "ours":
      // the model names a chain of the config (see `chat.gatewayConfig`)
      return {
        url: `${at.ours}/v1/chat/completions`,
        headers: json,
        body: chat.chatBody(c.failover ? "failover" : "healthy", c.stream),
        verify
      }
    case "portkey":
      return {
        url: `${at.portkey}/v1/chat/completions`,
        headers: { ...json, "x-portkey-config": JSON.stringify(portkeyConfig(c, at.mock)) },
        body: chat.chatBody(chat.upstreamModel, c.stream),
        verify
      }
  }
}

/** Portkey's config for a case: one openai target on the mock, or a fallback from a 503 one. */
const portkeyConfig = (c: Case, mock: string): unknown => {
  const healthy = { provider: "openai", api_key: chat.upstreamKey, custom_host: `${mock}/v1` }
  if (!c.failover) return healthy
  return {
    strategy: { mode: "fallback", on_status_codes: [503] },
    targets: [{ provider: "openai", api_key: chat.upstreamKey, custom_host: `${mock}/down/v1` }, healthy]
  }
}

// ---- processes ---------------------------------------------------------------

interface Processes {
  readonly mock: ForkedChild
  readonly ours: Child
  readonly portkey: Child
  readonly at: Endpoints
}

const portkeyEntry = join(root, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")

/** Where the config file goes (removed at the end). */
const workDir = join(root, ".bench-tmp", `gateway-${process.pid}`)

const start = async (log: (line: string) => void, started: Array<Child>): Promise<Processes> => {
  mkdirSync(workDir, { recursive: true })
  log("compiling src/ and the servers' entries")
  const loopback = compiledPath("bench/lib/servers/loopback.ts")
  const bin = await bundledPath("src/cli/bin.ts")

  const { mock, url: mockUrl } = await chat.startMock()
  started.push(mock)
  log(`mock upstream on ${mockUrl} (pid ${mock.pid})`)

  const oursPort = await freePort()
  const config = join(workDir, "config.yaml")
  writeFileSync(config, chat.gatewayConfig(mockUrl, oursPort))
  const ours = await startNode({
    name: "ours",
    args: [bin, "serve", "--config", config],
    env: { BENCH_UPSTREAM_KEY: chat.upstreamKey },
    readyUrl: `http://127.0.0.1:${oursPort}/healthz`
  })
  started.push(ours)
  log(`ours on http://127.0.0.1:${oursPort} (pid ${ours.pid})`)

  const portkeyPort = await freePort()
  const portkey = await startNode({
    name: "portkey",
    args: ["--import", pathToFileURL(loopback).href, portkeyEntry, `--port=${portkeyPort}`, "--headless"],
    readyUrl: `http://127.0.0.1:${portkeyPort}/`
  })
  started.push(portkey)
  log(`Portkey on http://127.0.0.1:${portkeyPort} (pid ${portkey.pid})`)

  return {
    mock,
    ours,
    portkey,
    at: { mock: mockUrl, ours: `http://127.0.0.1:${oursPort}`, portkey: `http://127.0.0.1:${portkeyPort}` }
  }
}

/** Every listening address of each process; throws unless each is 127.0.0.1 only. */
const checkLoopback = (ps: Processes): Record<string, ReadonlyArray<string>> => {
  const found = {
    mock: listeningAddresses(ps.mock.pid),
    ours: listeningAddresses(ps.ours.pid),
    portkey: listeningAddresses(ps.portkey.pid)
  }
  for (const [name, addresses] of Object.entries(found)) {
    if (addresses.length === 0 || !addresses.every((a) => a.startsWith("127.0.0.1:"))) {
      throw new Error(`${name} must listen on 127.0.0.1 only; it listens on ${addresses.join(", ") || "nothing"}`)
    }
  }
  return found
}

// ---- one run -------------------------------------------------------------------

interface Run {
  readonly case: string
  readonly side: Side
  readonly round: number
  readonly load: load.LoadResult
  /** Upstream calls the mock answered during the run. */
  readonly upstream: Counts
  /** What is wrong with the upstream calls against the responses, if anything (see `chat.upstreamProblem`). */
  readonly upstreamCheck: string | undefined
  /** CPU time of the gateway process (none for direct) and of the mock, in ms. */
  readonly gatewayCpuMs: number | undefined
  readonly mockCpuMs: number | undefined
  /** Peak RSS of the gateway during the run, KiB. */
  readonly gatewayRssKiB: number | undefined
}

const gatewayOf = (side: Side, ps: Processes): Child | undefined =>
  side === "ours" ? ps.ours : side === "portkey" ? ps.portkey : undefined

const delta = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined ? undefined : b - a

const measureRun = async (
  ps: Processes,
  c: Case,
  side: Side,
  connections: number,
  seconds: number,
  round: number
): Promise<{ readonly run: Run; readonly samples: load.Samples }> => {
  const gateway = gatewayOf(side, ps)
  const request = requestFor(side, c, ps.at)
  const before = await chat.counts(ps.mock)
  const cpuBefore = { gateway: gateway === undefined ? undefined : cpuMillis(gateway.pid), mock: cpuMillis(ps.mock.pid) }
  const sampler = new RssSampler(gateway === undefined ? [] : [gateway.pid])
  sampler.start()
  const { result, samples } = await load.run(request, connections, seconds)
  const peaks = sampler.stop()
  // read at once: what the gateway does afterwards for requests cut off at
  // the stop balances the work the window's first requests did not pay for
  const cpuAfter = { gateway: gateway === undefined ? undefined : cpuMillis(gateway.pid), mock: cpuMillis(ps.mock.pid) }
  const after = await chat.settled(ps.mock)
  const upstream = { healthy: after.healthy - before.healthy, down: after.down - before.down }
  const run: Run = {
    case: c.id,
    side,
    round,
    load: result,
    upstream,
    upstreamCheck: chat.upstreamProblem(c.failover && side !== "direct", result.responses, connections, upstream),
    gatewayCpuMs: delta(cpuBefore.gateway, cpuAfter.gateway),
    mockCpuMs: delta(cpuBefore.mock, cpuAfter.mock),
    gatewayRssKiB: gateway === undefined ? undefined : peaks.get(gateway.pid)
  }
  return { run, samples }
}

// ---- aggregation ---------------------------------------------------------------

/** The pooled figures of one side in one case at one connection count. */
interface Pooled {
  readonly runs: ReadonlyArray<Run>
  readonly rps: number
  readonly latency: load.Latency
  /** Gateway CPU ms a response (undefined for direct). */
  readonly cpuMsPerResponse: number | undefined
  readonly mockCpuMsPerResponse: number | undefined
  readonly rssKiB: number | undefined
  /** Every problem of its runs (errors, non-2xx, failed checks, upstream counts). */
  readonly problems: ReadonlyArray<string>
}

const pool = (runs: ReadonlyArray<Run>, samples: ReadonlyArray<load.Samples>): Pooled => {
  const all = new load.Samples()
  for (const s of samples) all.pushAll(s)
  const ok = runs.reduce((n, r) => n + r.load.rps * r.load.seconds, 0)
  const seconds = runs.reduce((n, r) => n + r.load.seconds, 0)
  const responses = runs.reduce((n, r) => n + r.load.responses, 0)
  const sum = (f: (r: Run) => number | undefined): number | undefined =>
    runs.every((r) => f(r) !== undefined) ? runs.reduce((n, r) => n + f(r)!, 0) : undefined
  const gatewayCpu = sum((r) => r.gatewayCpuMs)
  const mockCpu = sum((r) => r.mockCpuMs)
  const rss = runs.map((r) => r.gatewayRssKiB).filter((k): k is number => k !== undefined)
  const problems = runs.flatMap((r) => [
    ...(load.clean(r.load) ? [] : [`round ${r.round + 1}: ${load.problems(r.load)}`]),
    ...(r.upstreamCheck === undefined ? [] : [`round ${r.round + 1}: ${r.upstreamCheck}`])
  ])
  return {
    runs,
    rps: ok / seconds,
    latency: all.summary(),
    cpuMsPerResponse: gatewayCpu === undefined || responses === 0 ? undefined : gatewayCpu / responses,
    mockCpuMsPerResponse: mockCpu === undefined || responses === 0 ? undefined : mockCpu / responses,
    rssKiB: rss.length === 0 ? undefined : Math.max(...rss),
    problems
  }
}

interface CaseResult {
  readonly case: Case
  /** By side, at 50 connections and at 1. */
  readonly loaded: Readonly<Record<Side, Pooled>>
  readonly single: Readonly<Record<Side, Pooled>>
}

/** Per-round ratios of a figure, ours over Portkey's, pairing the runs of the same round. */
const roundRatios = (
  ours: ReadonlyArray<Run>,
  portkey: ReadonlyArray<Run>,
  figure: (r: Run) => number
): ReadonlyArray<number> =>
  ours.map((r) => {
    const other = portkey.find((p) => p.round === r.round)
    return other === undefined ? NaN : figure(r) / figure(other)
  })

// ---- formatting ----------------------------------------------------------------

const fixed = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits))
const ms = (x: number | undefined): string => `${fixed(x, x !== undefined && x < 10 ? 2 : 1)} ms`
/** KiB (as /proc counts) in megabytes (10^6 bytes), the unit of the RSS target. */
const mb = (kib: number | undefined): string => (kib === undefined ? "n/a" : `${((kib * 1024) / 1e6).toFixed(0)} MB`)
const range = (xs: ReadonlyArray<number>, digits = 2): string => {
  const finite = xs.filter(Number.isFinite)
  if (finite.length === 0) return "n/a"
  const lo = Math.min(...finite)
  const hi = Math.max(...finite)
  return lo === hi ? lo.toFixed(digits) : `${lo.toFixed(digits)}-${hi.toFixed(digits)}`
}
const verdict = (met: boolean, valid: boolean): string => (!valid ? "invalid" : met ? "met" : "MISSED")

// ---- the suite -----------------------------------------------------------------

const run = async ({ log }: SuiteContext): Promise<SuiteResult> => {
  const started: Array<Child> = []
  const suiteStart = Date.now()
  let succeeded = false
  try {
    const ps = await start(log, started)
    const listening = checkLoopback(ps)
    log(`listening: ${Object.entries(listening).map(([n, a]) => `${n} ${a.join(", ")}`).join("; ")}`)
    const idleRss = { ours: rssKiB(ps.ours.pid), portkey: rssKiB(ps.portkey.pid), mock: rssKiB(ps.mock.pid) }

    const warmUp = async (c: Case, side: Side, seconds: number) => {
      const { result } = await load.run(requestFor(side, c, ps.at), timing.loadConnections, seconds)
      if (!load.clean(result)) throw new Error(`${c.label}, ${sideLabel[side]}: warm-up failed: ${load.problems(result)}`)
    }
    log(`warming up the gateways, ${timing.startWarmupSeconds} s a case`)
    for (const c of cases) {
      for (const side of ["ours", "portkey"] as const) await warmUp(c, side, timing.startWarmupSeconds)
    }

    const allRuns: Array<Run> = []
    const results: Array<CaseResult> = []
    for (const [index, c] of cases.entries()) {
      log(`[${c.id}] warming up`)
      for (const side of sides) await warmUp(c, side, timing.warmupSeconds)
      await chat.settled(ps.mock)
      type Measured = Map<Side, Array<{ readonly run: Run; readonly samples: load.Samples }>>
      const measured: Record<"loaded" | "single", Measured> = { loaded: new Map(), single: new Map() }
      for (const [phase, connections] of [["loaded", timing.loadConnections], ["single", timing.latencyConnections]] as const) {
        for (let round = 0; round < timing.rounds; round++) {
          // rotate the order, so no side always runs first or last
          const shift = (round + index) % sides.length
          const order = [...sides.slice(shift), ...sides.slice(0, shift)]
          for (const side of order) {
            const seconds = phase === "loaded" ? timing.runSeconds : timing.latencyRunSeconds
            const m = await measureRun(ps, c, side, connections, seconds, round)
            allRuns.push(m.run)
            const list = measured[phase].get(side) ?? []
            list.push(m)
            measured[phase].set(side, list)
            log(
              `[${c.id}] ${connections} conn, round ${round + 1}, ${sideLabel[side]}: ${m.run.load.rps.toFixed(0)} rps, ` +
                `p50 ${m.run.load.latency.p50.toFixed(2)} ms` +
                (load.clean(m.run.load) ? "" : ` (${load.problems(m.run.load)})`) +
                (m.run.upstreamCheck === undefined ? "" : ` (${m.run.upstreamCheck})`)
            )
          }
        }
      }
      const pooled = (phase: "loaded" | "single") =>
        Object.fromEntries(
          sides.map((side) => {
            const list = measured[phase].get(side) ?? []
            return [side, pool(list.map((m) => m.run), list.map((m) => m.samples))]
          })
        ) as Record<Side, Pooled>
      results.push({ case: c, loaded: pooled("loaded"), single: pooled("single") })
    }
    const seconds = (Date.now() - suiteStart) / 1000
    const result = report(results, allRuns, { listening, idleRss, seconds, logs: logSizes(), portkeyErrors: errorLines("portkey") })
    succeeded = true
    return result
  } finally {
    await tearDown(started, workDir, succeeded, log)
  }
}

const report = (
  results: ReadonlyArray<CaseResult>,
  runs: ReadonlyArray<Run>,
  extra: {
    readonly listening: Record<string, ReadonlyArray<string>>
    readonly idleRss: Readonly<Record<string, number | undefined>>
    readonly seconds: number
    readonly logs: string
    readonly portkeyErrors: number
  }
): SuiteResult => {
  const summary: Array<string> = []
  const rpsRows: Array<ReadonlyArray<Cell>> = []
  const latencyRows: Array<ReadonlyArray<Cell>> = []
  const rssRows: Array<ReadonlyArray<Cell>> = []
  const cpuRows: Array<ReadonlyArray<Cell>> = []
  const detailRows: Array<ReadonlyArray<Cell>> = []
  const verdicts: Array<{ readonly what: string; readonly met: boolean; readonly valid: boolean }> = []

  for (const { case: c, loaded, single } of results) {
    const validLoaded = loaded.ours.problems.length === 0 && loaded.portkey.problems.length === 0 && loaded.direct.problems.length === 0
    const validSingle = single.ours.problems.length === 0 && single.portkey.problems.length === 0 && single.direct.problems.length === 0

    // requests per second at 50 connections
    const rpsRatio = loaded.ours.rps / loaded.portkey.rps
    const rpsRounds = roundRatios(loaded.ours.runs, loaded.portkey.runs, (r) => r.load.rps)
    const rpsMet = rpsRatio >= targets.rpsRatio
    verdicts.push({ what: `${c.label}: rps ratio ${rpsRatio.toFixed(2)}x (target ≥ ${targets.rpsRatio}x)`, met: rpsMet, valid: validLoaded })
    rpsRows.push([
      c.label,
      fixed(loaded.direct.rps, 0),
      fixed(loaded.ours.rps, 0),
      fixed(loaded.portkey.rps, 0),
      `${rpsRatio.toFixed(2)}x (${range(rpsRounds)})`,
      verdict(rpsMet, validLoaded)
    ])

    // latency added over direct at 1 connection (medians)
    const addedOurs = single.ours.latency.p50 - single.direct.latency.p50
    const addedPortkey = single.portkey.latency.p50 - single.direct.latency.p50
    const addedRatio = addedOurs / addedPortkey
    const addedMean = (single.ours.latency.mean - single.direct.latency.mean) / (single.portkey.latency.mean - single.direct.latency.mean)
    const directByRound = new Map(single.direct.runs.map((r) => [r.round, r.load.latency.p50]))
    const addedRounds = roundRatios(single.ours.runs, single.portkey.runs, (r) => r.load.latency.p50 - (directByRound.get(r.round) ?? NaN))
    const latencyMet = addedRatio <= targets.addedLatencyRatio
    verdicts.push({
      what: `${c.label}: added latency ratio ${addedRatio.toFixed(2)} (${addedOurs.toFixed(3)} ms against ${addedPortkey.toFixed(3)} ms; target ≤ 0.33)`,
      met: latencyMet,
      valid: validSingle
    })
    latencyRows.push([
      c.label,
      ms(single.direct.latency.p50),
      ms(single.ours.latency.p50),
      ms(single.portkey.latency.p50),
      ms(addedOurs),
      ms(addedPortkey),
      `${addedRatio.toFixed(2)} (${range(addedRounds)})`,
      addedMean.toFixed(2),
      verdict(latencyMet, validSingle)
    ])

    // RSS under the 50-connection load
    const rssMet = ((loaded.ours.rssKiB ?? Infinity) * 1024) / 1e6 <= targets.rssMB
    verdicts.push({ what: `${c.label}: our RSS ${mb(loaded.ours.rssKiB)} (target ≤ ${targets.rssMB} MB)`, met: rssMet, valid: validLoaded })
    rssRows.push([c.label, mb(loaded.ours.rssKiB), mb(loaded.portkey.rssKiB), verdict(rssMet, validLoaded)])

    // CPU a response
    for (const [connections, bySide] of [[timing.loadConnections, loaded], [timing.latencyConnections, single]] as const) {
      cpuRows.push([
        c.label,
        connections,
        ms(bySide.ours.cpuMsPerResponse),
        ms(bySide.portkey.cpuMsPerResponse),
        `${((bySide.ours.cpuMsPerResponse ?? NaN) / (bySide.portkey.cpuMsPerResponse ?? NaN)).toFixed(2)}x`,
        ms(bySide.direct.mockCpuMsPerResponse),
        ms(bySide.ours.mockCpuMsPerResponse),
        ms(bySide.portkey.mockCpuMsPerResponse)
      ])
    }

    for (const [phase, bySide] of [["50", loaded], ["1", single]] as const) {
      for (const side of sides) {
        const p = bySide[side]
        detailRows.push([
          c.label,
          phase,
          sideLabel[side],
          fixed(p.rps, 0),
          ms(p.latency.mean),
          ms(p.latency.p50),
          ms(p.latency.p90),
          ms(p.latency.p99),
          p.problems.length === 0 ? "ok" : p.problems.join("; ")
        ])
      }
    }
  }

  const tables: Array<Table> = [
    {
      title: `Requests per second at ${timing.loadConnections} connections (target: ours ≥ ${targets.rpsRatio}x Portkey's)`,
      columns: ["case", "mock, direct", "ours", "Portkey", "ours / Portkey (rounds)", "target"],
      rows: rpsRows,
      note:
        `2xx responses a second, ${timing.rounds} rounds of ${timing.runSeconds} s a side pooled (after warm-ups: ` +
        `${timing.startWarmupSeconds} s a gateway and case at the start, ${timing.warmupSeconds} s a side before ` +
        "the case); in brackets the ratio " +
        "of each round's runs (seconds apart). The load generator, the mock and the gateway share the machine's cores."
    },
    {
      title: `Latency added over the direct call at ${timing.latencyConnections} connection (target: ours ≤ a third of Portkey's)`,
      columns: ["case", "direct p50", "ours p50", "Portkey p50", "ours adds", "Portkey adds", "ours / Portkey (rounds)", "same, on means", "target"],
      rows: latencyRows,
      note:
        "Median latency from the request's write to the response's last byte (for a stream, its end), pooled over rounds; " +
        "added = a gateway's median minus the direct call's. With the 503 primary, a gateway makes two upstream calls, " +
        "the direct call one (the healthy one): the difference includes the 503's round trip, on both sides. " +
        "Portkey's stream reader sleeps 25 ms before it forwards the first event of a stream " +
        "(`setTimeout(e,25)` in build/start-server.js), which is most of what it adds to a stream."
    },
    {
      title: `RSS under the ${timing.loadConnections}-connection load (target: ours ≤ ${targets.rssMB} MB)`,
      columns: ["case", "ours", "Portkey", "target"],
      rows: [
        ...rssRows,
        ["idle, after start", mb(extra.idleRss["ours"]), mb(extra.idleRss["portkey"]), ""]
      ],
      note: "Peak VmRSS of the gateway's process, sampled every 100 ms during the case's 50-connection runs."
    },
    {
      title: "CPU time a response",
      columns: ["case", "conns", "ours", "Portkey", "ours / Portkey", "mock, direct", "mock, via ours", "mock, via Portkey"],
      rows: cpuRows,
      note:
        "User + system CPU of each process (all threads) during the runs, divided by the responses: less sensitive " +
        "than requests per second to the other work on a shared machine. The mock's columns show the upstream work " +
        "a response costs on each path (two calls with the 503 primary)."
    },
    {
      title: "Every side, every case",
      columns: ["case", "conns", "side", "rps", "mean", "p50", "p90", "p99", "checks"],
      rows: detailRows,
      note:
        "checks: every response 2xx with a verified body, and the mock's counts of upstream calls match the responses " +
        "(one a response on a healthy chain; one 503 and one healthy call a response with the 503 primary)."
    }
  ]

  const met = verdicts.filter((v) => v.valid && v.met)
  const missed = verdicts.filter((v) => v.valid && !v.met)
  const invalid = verdicts.filter((v) => !v.valid)
  summary.push(
    `Listening (from /proc): ${Object.entries(extra.listening).map(([n, a]) => `${n} ${a.join(", ")}`).join("; ")}.`,
    `Targets met: ${met.length} of ${verdicts.length}.`,
    ...met.map((v) => `- met: ${v.what}`),
    ...missed.map((v) => `- MISSED: ${v.what}`),
    ...invalid.map((v) => `- INVALID (a run had errors or failed checks): ${v.what}`),
    `Measured in ${extra.seconds.toFixed(0)} s; the children wrote ${extra.logs} to stdout and stderr; ` +
      `Portkey's output has ${extra.portkeyErrors} line(s) with "error" or "unhandled".`
  )
  return {
    tables,
    summary,
    data: {
      settings: { timing, targets, replyText: chat.replyText, upstreamModel: chat.upstreamModel },
      listening: extra.listening,
      idleRssKiB: extra.idleRss,
      verdicts,
      cases: results.map(({ case: c, loaded, single }) => ({
        case: c,
        loaded: strip(loaded),
        single: strip(single)
      })),
      runs
    }
  }
}

/** The pooled figures without their runs (those are listed once, in `runs`). */
const strip = (bySide: Readonly<Record<Side, Pooled>>) =>
  Object.fromEntries(sides.map((side) => {
    const { runs: _runs, ...rest } = bySide[side]
    return [side, rest]
  }))

/** Lines of a child's output that mention an error (an unhandled rejection, a failed upstream call). */
const errorLines = (name: string): number => {
  try {
    return readFileSync(join(logDir, `${name}.log`), "utf8")
      .split("\n")
      .filter((line) => /error|unhandled/i.test(line)).length
  } catch {
    return -1
  }
}

const logSizes = (): string =>
  ["mock", "ours", "portkey"]
    .map((name) => {
      try {
        return `${name} ${(statSync(join(logDir, `${name}.log`)).size / 1024).toFixed(0)} KiB`
      } catch {
        return `${name}.log missing`
      }
    })
    .join(", ")

/** The gateway benchmark: ours against Portkey and the mock called directly. */
export const suite: Suite = {
  name: "gateway",
  description: "llm-failover serve vs Portkey gateway vs direct, autocannon on 127.0.0.1: rps, added latency, RSS",
  packages: ["@portkey-ai/gateway", "@hono/node-server", "hono", "autocannon"],
  run
}
