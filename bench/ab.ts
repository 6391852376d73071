/**
 * Builds of `llm-failover serve` side by side, interleaved: how each change
 * to the gateway's hot path was measured alone before it was kept
 * (BENCHMARKS.md). Not a suite of `npm run bench`: it compares builds of
 * this project with each other, not with a peer.
 *
 *   npx tsx scripts/bundle.ts /tmp/a/llm-failover.mjs     # before the change
 *   npx tsx scripts/bundle.ts /tmp/b/llm-failover.mjs     # after it
 *   npx tsx bench/ab.ts [--case complete|stream|fcomplete|fstream] [--seconds 3]
 *     [--rounds 4] [--warmup 6] [--connections 50] [--prompt-kib 0]
 *     before=/tmp/a/llm-failover.mjs after=/tmp/b/llm-failover.mjs[,--node-flag...][,NAME=value...]
 *
 * Each variant is `name=bundle`, with node flags and environment variables
 * (`NAME=value`) after commas. All of them
 * serve the gateway suite's config against one mock upstream (each in its own
 * process, on 127.0.0.1), get `--warmup` seconds of load, then `--rounds`
 * rounds in which each runs `--seconds` seconds at `--connections`, the
 * order rotating. Printed: each variant's CPU a response (user + system of
 * its process, all threads, over its runs' responses), requests a second and
 * peak RSS, and each one's CPU over the first variant's, pooled and by round.
 * `f…` cases use the chain whose primary answers 503. `--prompt-kib` sends a
 * conversation of about that size instead of "Say hello" (its turns of
 * prose, paragraphs apart), as a chat application's requests are.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import * as chat from "./lib/chat.js"
import * as load from "./lib/load.js"
import { root } from "./lib/machine.js"
import type { Child } from "./lib/processes.js"
import { cpuMillis, freePort, RssSampler, startNode, tearDown } from "./lib/processes.js"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    case: { type: "string", default: "complete" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "4" },
    warmup: { type: "string", default: "6" },
    connections: { type: "string", default: "50" },
    "prompt-kib": { type: "string", default: "0" }
  }
})

const chosen = chat.abCase(values.case)
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const connections = Number(values.connections)
const variants = positionals.map((arg) => {
  const at = arg.indexOf("=")
  if (at <= 0) throw new Error(`a variant is name=bundle[,node-flag...][,NAME=value...], not ${arg}`)
  const [bundle, ...rest] = arg.slice(at + 1).split(",")
  const isEnv = (item: string) => /^[A-Z_][A-Z0-9_]*=/.test(item)
  const env = Object.fromEntries(rest.filter(isEnv).map((item) => [item.slice(0, item.indexOf("=")), item.slice(item.indexOf("=") + 1)]))
  return { name: arg.slice(0, at), bundle: bundle!, flags: rest.filter((item) => !isEnv(item)), env }
})
if (variants.length === 0) throw new Error("name at least one variant: name=bundle[,node-flag...][,NAME=value...]")

interface Tally {
  cpuMs: number
  responses: number
  seconds: number
  /** Peak RSS over its measured runs, KiB. */
  rssKiB: number
  readonly byRound: Array<number>
}

const workDir = join(root, ".bench-tmp", `ab-${process.pid}`)
const started: Array<Child> = []
let succeeded = false
try {
  mkdirSync(workDir, { recursive: true })
  const { mock, url } = await chat.startMock()
  started.push(mock)
  const servers = []
  for (const v of variants) {
    const port = await freePort()
    const config = join(workDir, `${v.name}.yaml`)
    writeFileSync(config, chat.gatewayConfig(url, port))
    const child = await startNode({
      name: v.name,
      args: [...v.flags, v.bundle, "serve", "--config", config],
      env: { ...v.env, BENCH_UPSTREAM_KEY: chat.upstreamKey },
      readyUrl: `http://127.0.0.1:${port}/healthz`
    })
    started.push(child)
    const request: load.Request = {
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: { "content-type": "application/json" },
      body: chat.chatBody(chosen.failover ? "failover" : "healthy", chosen.stream, Number(values["prompt-kib"])),
      verify: chosen.stream ? chat.verifyStream : chat.verifyJson
    }
    servers.push({ ...v, child, request, tally: { cpuMs: 0, responses: 0, seconds: 0, rssKiB: 0, byRound: [] } as Tally })
  }
  for (const s of servers) {
    const { result } = await load.run(s.request, connections, Number(values.warmup))
    if (!load.clean(result)) throw new Error(`${s.name}: warm-up failed: ${load.problems(result)}`)
  }
  for (let round = 0; round < rounds; round++) {
    const shift = round % servers.length
    for (const s of [...servers.slice(shift), ...servers.slice(0, shift)]) {
      await chat.settled(mock)
      const before = cpuMillis(s.child.pid)!
      const sampler = new RssSampler([s.child.pid])
      sampler.start()
      const { result } = await load.run(s.request, connections, seconds)
      const cpu = cpuMillis(s.child.pid)! - before
      s.tally.rssKiB = Math.max(s.tally.rssKiB, sampler.stop().get(s.child.pid) ?? 0)
      if (!load.clean(result)) throw new Error(`${s.name}: round ${round + 1} failed: ${load.problems(result)}`)
      s.tally.cpuMs += cpu
      s.tally.responses += result.responses
      s.tally.seconds += result.seconds
      s.tally.byRound[round] = cpu / result.responses
    }
  }
  const first = servers[0]!.tally
  for (const s of servers) {
    const t = s.tally
    const perResponse = t.cpuMs / t.responses
    const ratios = t.byRound.map((x, i) => (x / first.byRound[i]!).toFixed(2)).join(" ")
    console.log(
      `${s.name.padEnd(12)} ${(perResponse * 1000).toFixed(0).padStart(5)} µs CPU a response, ` +
        `${(t.responses / t.seconds).toFixed(0).padStart(6)} rps, ` +
        `RSS ${((t.rssKiB * 1024) / 1e6).toFixed(0)} MB, ` +
        `${(perResponse / (first.cpuMs / first.responses)).toFixed(3)}x the first (rounds: ${ratios})`
    )
  }
  succeeded = true
} finally {
  await tearDown(started, workDir, succeeded, () => {})
}
