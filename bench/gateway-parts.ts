/**
 * Where our gateway's time and memory go: the gateway benchmark's healthy
 * request (non-streaming and streaming) through our gateway with its parts
 * taken away one at a time, each variant in its own process, on the same
 * mock upstream, interleaved in rounds as in the gateway suite:
 *
 * 1. `llm-failover serve` as shipped (the gateway suite's "ours");
 * 2. the same gateway without its log lines (minimum level `None`);
 * 3. and without observability (metrics, log lines and spans of router
 *    events, health, cost ledger);
 * 4. the gateway's HTTP side alone: a router whose `complete` answers at
 *    once with a canned result (no upstream call, no policies);
 * 5. the floor: a bare `@effect/platform` Node server, one route that
 *    parses the body and answers canned JSON;
 * 6. and, against 1, `serve` with V8's own heap growth (`--heap-growth 0`):
 *    what `serve`'s default growth saves in memory and costs in CPU.
 *
 * Variants 2 to 5 run `bench/lib/servers/gateway.ts` (the config, router
 * and `Gateway.serve` of `serve`, bundled as `serve` ships, with the same
 * heap growth); 5 answers non-streaming requests only
 * (4 streams a canned stream's chunks, all at once). The differences between neighbours are what a part costs a
 * request; they are rougher than each figure, as each side is measured
 * on its own and the machine is shared.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as chat from "./lib/chat.js"
import { bundledPath } from "./lib/compiled.js"
import * as load from "./lib/load.js"
import { root } from "./lib/machine.js"
import type { Child, ForkedChild } from "./lib/processes.js"
import { cpuMillis, freePort, RssSampler, rssKiB, startNode, tearDown } from "./lib/processes.js"
import type { Cell, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"

const timing = {
  warmupSeconds: 2,
  runSeconds: 3,
  rounds: 3,
  loadConnections: 50,
  latencyConnections: 1
} as const

interface Variant {
  readonly id: string
  readonly label: string
  /** `undefined`: the real command line; else the environment of `servers/gateway.ts`. */
  readonly env: Readonly<Record<string, string>> | undefined
  /** More arguments of `serve` (the real command line only). */
  readonly serveArgs?: ReadonlyArray<string>
  /** The variant "the part adds" is measured against, when not the next row (which then is not measured against this one). */
  readonly against?: string
  /** Whether it serves streams (the stub and the floor do not). */
  readonly streams: boolean
  /** Whether a response costs an upstream call. */
  readonly upstream: boolean
}

const variants: ReadonlyArray<Variant> = [
  { id: "serve", label: "1. llm-failover serve, as shipped", env: undefined, streams: true, upstream: true },
  {
    id: "no-logs",
    label: "2. without log lines",
    env: { BENCH_OBSERVABILITY: "1", BENCH_LOG_LEVEL: "none" },
    streams: true,
    upstream: true
  },
  {
    id: "no-observability",
    label: "3. and without observability",
    env: { BENCH_OBSERVABILITY: "0", BENCH_LOG_LEVEL: "none" },
    streams: true,
    upstream: true
  },
  {
    id: "stub-router",
    label: "4. HTTP side only (router answers at once)",
    env: { BENCH_OBSERVABILITY: "0", BENCH_LOG_LEVEL: "none", BENCH_ROUTER: "stub" },
    streams: true,
    upstream: false
  },
  {
    id: "platform",
    label: "5. floor: @effect/platform, one route",
    env: { BENCH_SERVER: "platform", BENCH_LOG_LEVEL: "none" },
    streams: false,
    upstream: false
  },
  {
    id: "v8-heap",
    label: "6. serve with V8's own heap growth (against 1)",
    env: undefined,
    serveArgs: ["--heap-growth", "0"],
    against: "serve",
    streams: true,
    upstream: true
  }
]

interface Running {
  readonly variant: Variant
  readonly child: Child
  readonly url: string
}

interface Figures {
  readonly rps: number
  readonly p50: number
  readonly cpuMsPerResponse: number | undefined
  readonly rssKiB: number | undefined
  readonly problems: ReadonlyArray<string>
}

const workDir = join(root, ".bench-tmp", `gateway-parts-${process.pid}`)

const startVariants = async (mockUrl: string, started: Array<Child>, log: (line: string) => void) => {
  const bin = await bundledPath("src/cli/bin.ts")
  const server = await bundledPath("bench/lib/servers/gateway.ts")
  const running: Array<Running> = []
  for (const variant of variants) {
    const port = await freePort()
    const config = join(workDir, `${variant.id}.yaml`)
    writeFileSync(config, chat.gatewayConfig(mockUrl, port))
    const child = await startNode({
      name: variant.id,
      args: variant.env === undefined ? [bin, "serve", "--config", config, ...(variant.serveArgs ?? [])] : [server],
      env: {
        BENCH_UPSTREAM_KEY: chat.upstreamKey,
        ...(variant.env === undefined ? {} : { ...variant.env, BENCH_CONFIG: config, BENCH_PORT: String(port) })
      },
      readyUrl: `http://127.0.0.1:${port}/healthz`
    })
    started.push(child)
    running.push({ variant, child, url: `http://127.0.0.1:${port}` })
    log(`${variant.label} on port ${port} (pid ${child.pid})`)
  }
  return running
}

const request = (r: Running, stream: boolean): load.Request => ({
  url: `${r.url}/v1/chat/completions`,
  headers: { "content-type": "application/json" },
  body: chat.chatBody("healthy", stream),
  verify: stream ? chat.verifyStream : chat.verifyJson
})

/** One run: its load figures, the variant's CPU a response and peak RSS, and the upstream check. */
const measure = async (mock: ForkedChild, r: Running, stream: boolean, connections: number) => {
  const before = await chat.counts(mock)
  const cpuBefore = cpuMillis(r.child.pid)
  const sampler = new RssSampler([r.child.pid])
  sampler.start()
  const { result, samples } = await load.run(request(r, stream), connections, timing.runSeconds)
  const rss = sampler.stop().get(r.child.pid)
  const cpuAfter = cpuMillis(r.child.pid)
  const after = await chat.settled(mock)
  const calls = { healthy: after.healthy - before.healthy, down: after.down - before.down }
  const upstream = r.variant.upstream
    ? chat.upstreamProblem(false, result.responses, connections, calls)
    : calls.healthy + calls.down === 0
    ? undefined
    : `${calls.healthy + calls.down} upstream calls, expected none`
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore
  return { result, samples, cpu, rss, upstream }
}

const combine = (runs: ReadonlyArray<Awaited<ReturnType<typeof measure>>>): Figures => {
  const all = new load.Samples()
  for (const r of runs) all.pushAll(r.samples)
  const responses = runs.reduce((n, r) => n + r.result.responses, 0)
  const ok = runs.reduce((n, r) => n + r.result.rps * r.result.seconds, 0)
  const seconds = runs.reduce((n, r) => n + r.result.seconds, 0)
  const cpu = runs.every((r) => r.cpu !== undefined) ? runs.reduce((n, r) => n + r.cpu!, 0) : undefined
  const rss = runs.map((r) => r.rss).filter((k): k is number => k !== undefined)
  return {
    rps: ok / seconds,
    p50: all.summary().p50,
    cpuMsPerResponse: cpu === undefined || responses === 0 ? undefined : cpu / responses,
    rssKiB: rss.length === 0 ? undefined : Math.max(...rss),
    problems: runs.flatMap((r) => [
      ...(load.clean(r.result) ? [] : [load.problems(r.result)]),
      ...(r.upstream === undefined ? [] : [r.upstream])
    ])
  }
}

const ms = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? "n/a" : `${x.toFixed(x < 10 ? 2 : 1)} ms`
/** KiB (as /proc counts) in megabytes (10^6 bytes), the unit of the RSS target. */
const mb = (kib: number | undefined): string => (kib === undefined ? "n/a" : `${((kib * 1024) / 1e6).toFixed(0)} MB`)

const run = async ({ log }: SuiteContext): Promise<SuiteResult> => {
  const started: Array<Child> = []
  let succeeded = false
  mkdirSync(workDir, { recursive: true })
  try {
    const { mock, url: mockUrl } = await chat.startMock()
    started.push(mock)
    const running = await startVariants(mockUrl, started, log)
    const idle = new Map(running.map((r) => [r.variant.id, rssKiB(r.child.pid)]))
    const tables = []
    const data: Record<string, unknown> = {}
    for (const stream of [false, true]) {
      const here = running.filter((r) => !stream || r.variant.streams)
      const label = stream ? "streaming" : "non-streaming"
      log(`[${label}] warming up`)
      for (const r of here) {
        const { result } = await load.run(request(r, stream), timing.loadConnections, timing.warmupSeconds)
        if (!load.clean(result)) throw new Error(`${r.variant.label}: warm-up failed: ${load.problems(result)}`)
      }
      await chat.settled(mock)
      const figures = new Map<string, { loaded: Figures; single: Figures }>()
      const byPhase = new Map<string, Array<Awaited<ReturnType<typeof measure>>>>()
      for (const connections of [timing.loadConnections, timing.latencyConnections]) {
        for (let round = 0; round < timing.rounds; round++) {
          const shift = round % here.length
          for (const r of [...here.slice(shift), ...here.slice(0, shift)]) {
            const m = await measure(mock, r, stream, connections)
            const key = `${r.variant.id}/${connections}`
            byPhase.set(key, [...(byPhase.get(key) ?? []), m])
            log(`[${label}] ${connections} conn, round ${round + 1}, ${r.variant.id}: ${m.result.rps.toFixed(0)} rps`)
          }
        }
      }
      for (const r of here) {
        figures.set(r.variant.id, {
          loaded: combine(byPhase.get(`${r.variant.id}/${timing.loadConnections}`) ?? []),
          single: combine(byPhase.get(`${r.variant.id}/${timing.latencyConnections}`) ?? [])
        })
      }
      const rows: Array<ReadonlyArray<Cell>> = here.map((r, i) => {
        const f = figures.get(r.variant.id)!
        const following = here[i + 1]
        const next =
          r.variant.against !== undefined
            ? figures.get(r.variant.against)
            : following === undefined || following.variant.against !== undefined
              ? undefined
              : figures.get(following.variant.id)
        const adds = (a: number | undefined, b: number | undefined) =>
          a === undefined || b === undefined ? "" : ms(a - b)
        return [
          r.variant.label,
          ms(f.loaded.cpuMsPerResponse),
          next === undefined ? "" : adds(f.loaded.cpuMsPerResponse, next.loaded.cpuMsPerResponse),
          f.loaded.rps.toFixed(0),
          ms(f.single.cpuMsPerResponse),
          ms(f.single.p50),
          mb(f.loaded.rssKiB),
          mb(idle.get(r.variant.id)),
          [...f.loaded.problems, ...f.single.problems].join("; ") || "ok"
        ]
      })
      tables.push({
        title: `Our gateway, part by part: healthy, ${label}`,
        columns: [
          "variant",
          `CPU a response, ${timing.loadConnections} conns`,
          "the part adds",
          `rps, ${timing.loadConnections} conns`,
          `CPU a response, ${timing.latencyConnections} conn`,
          `p50, ${timing.latencyConnections} conn`,
          `peak RSS, ${timing.loadConnections} conns`,
          "idle RSS",
          "checks"
        ],
        rows,
        note:
          `${timing.rounds} rounds of ${timing.runSeconds} s a variant at each connection count, after a ` +
          `${timing.warmupSeconds} s warm-up. "The part adds": this row's CPU a response minus the next row's (row 6: minus row 1's).`
      })
      data[label] = Object.fromEntries(figures)
    }
    succeeded = true
    return { tables, data: { timing, variants, idleRssKiB: Object.fromEntries(idle), ...data } }
  } finally {
    await tearDown(started, workDir, succeeded, log)
  }
}

/** Our gateway with its parts taken away one at a time: what each costs a request. */
export const suite: Suite = {
  name: "gateway-parts",
  description: "our gateway part by part (logs, observability, router + upstream call, HTTP side, floor): CPU and RSS",
  run
}
