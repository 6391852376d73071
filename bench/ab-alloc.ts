/**
 * Builds of `llm-failover serve` side by side by what a response allocates,
 * a figure the machine's load does not move (`bench/ab.ts` times them, and
 * on a shared 2-core machine its spread hides a few percent). Each variant
 * serves the gateway suite's config against one mock upstream, as in
 * `ab.ts`, with `lib/profiler-preload.mjs` loaded: after `--warmup`
 * requests, V8's sampling heap profiler (keeping what either GC collected)
 * runs over exactly `--requests` responses at `--connections` at a time,
 * and the bytes it counted, over the responses, are the figure. Rounds
 * repeat that per variant, so the spread of the figure shows.
 *
 *   npx tsx bench/ab-alloc.ts [--case complete|stream|fcomplete|fstream]
 *     [--requests 4000] [--warmup 3000] [--rounds 2] [--connections 50]
 *     [--top 25] [--cpu | --ops | --syscalls | --instructions] [--lines] before=/tmp/a/llm-failover.mjs after=/tmp/b/llm-failover.mjs
 *
 * Printed: bytes a response for each variant and round, each variant's
 * ratio to the first (a single variant: its largest functions), and the functions whose allocation (self bytes a
 * response, by name and module, lines left out since they move between
 * builds; `--lines` keeps them, for builds whose sources of interest are
 * the same) differs most from the first variant's. With `--cpu`, the CPU
 * profiler runs instead and the functions' self time a response is
 * compared (sampled every 100 µs: noisier than bytes, but by function).
 * With `--ops`, each bundle is copied with effect's fiber runtime patched to
 * count, and the figure is the Effect operations run a response (the
 * fibers made, and the operations by tag, compared below it): exact counts.
 * With `--syscalls`, `strace -c -f` counts the process's system calls a
 * response, by call (strace slows the process; the counts are the figure).
 * With `--instructions`, each `serve` runs under valgrind's callgrind,
 * counting only while measured (`callgrind_control -i on`): the machine
 * instructions a response, JIT code, collector and all of the process's
 * threads. About 50 times slower: use a few hundred requests.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"
import { execFileSync, spawn } from "node:child_process"
import autocannon from "autocannon"
import * as chat from "./lib/chat.js"
import { root } from "./lib/machine.js"
import type { Child } from "./lib/processes.js"
import { freePort, startNode, tearDown } from "./lib/processes.js"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    case: { type: "string", default: "stream" },
    requests: { type: "string", default: "4000" },
    warmup: { type: "string", default: "3000" },
    rounds: { type: "string", default: "2" },
    connections: { type: "string", default: "50" },
    top: { type: "string", default: "25" },
    cpu: { type: "boolean", default: false },
    ops: { type: "boolean", default: false },
    syscalls: { type: "boolean", default: false },
    instructions: { type: "boolean", default: false },
    lines: { type: "boolean", default: false }
  }
})
const chosen = chat.abCase(values.case)
const requests = Number(values.requests)
const connections = Number(values.connections)
const cpu = values.cpu
const ops = values.ops
const syscalls = values.syscalls
const instructions = values.instructions
const mode = syscalls || instructions ? "none" : ops ? "ops" : cpu ? "cpu" : "heap"
const preload = join(root, "bench", "lib", "profiler-preload.mjs")
const variants = positionals.map((arg) => {
  const at = arg.indexOf("=")
  if (at <= 0) throw new Error(`a variant is name=bundle, not ${arg}`)
  return { name: arg.slice(0, at), bundle: arg.slice(at + 1) }
})
if (variants.length === 0) throw new Error("name at least one variant: name=bundle")

/** Exactly `amount` requests, `connections` at a time; throws on any error or wrong body if `strict`. */
const send = async (url: string, body: string, amount: number, strict = true) => {
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections,
    amount,
    timeout: instructions ? 120 : 10,
    verifyBody: chosen.stream ? chat.verifyStream : chat.verifyJson
  })
  const ok = result.errors === 0 && result.non2xx === 0 && result.mismatches === 0 && result.timeouts === 0
  if (!ok && strict) throw new Error(`load failed: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.mismatches} mismatches`)
}

const waitFor = async (path: string) => {
  const deadline = Date.now() + 60_000
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`no ${path}`)
    await sleep(20)
  }
}

/**
 * A copy of a bundle whose fiber runtime counts into `globalThis.__effectCounts`
 * (set by the preload): each fiber made, and each operation its run loop runs,
 * by the operation's tag. The copy runs slower; it is for counting, not timing.
 */
const countingCopy = (bundle: string, dir: string): string => {
  const from = dirname(bundle)
  cpSync(from, dir, { recursive: true })
  const patches: Array<[RegExp, string]> = [
    [/(FiberRuntime=class extends \w+\{[^]*?constructor\(\w+,\w+,\w+\)\{if\(super\(\),)/, "$1globalThis.__effectCounts.fibers++,"],
    [/return this\[cur\._op\]\(cur\)\},this\)/, "return globalThis.__effectCounts.ops++,globalThis.__effectCounts.byOp[cur._op]=(globalThis.__effectCounts.byOp[cur._op]||0)+1,this[cur._op](cur)},this)"]
  ]
  let patched = 0
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".mjs"))) {
    const path = join(dir, file)
    let text = readFileSync(path, "utf8")
    for (const [pattern, replacement] of patches) {
      if (pattern.test(text)) {
        text = text.replace(pattern, replacement)
        patched++
      }
    }
    writeFileSync(path, text)
  }
  if (patched !== patches.length) throw new Error(`${bundle}: patched ${patched} of ${patches.length} places in effect's fiber runtime`)
  return join(dir, basename(bundle))
}

/** `strace -c -f` attached to `pid` until the returned function stops it. */
const startStrace = async (pid: number, out: string): Promise<() => Promise<void>> => {
  const child = spawn("strace", ["-c", "-f", "-p", String(pid), "-o", out], { stdio: "ignore" })
  await sleep(1_000) // attached to every thread
  return async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGINT")
    await exited
  }
}

/** The calls of `strace -c`'s summary, by system call. */
const straceSummary = (path: string) => {
  const functions: Array<[string, number]> = []
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const cells = line.trim().split(/\s+/)
    if (cells.length < 5 || !/^\d/.test(cells[0]!) || cells.at(-1) === "total") continue
    functions.push([cells.at(-1)!, Number(cells[3])])
  }
  return { total: functions.reduce((sum, [, n]) => sum + n, 0), functions }
}

const callgrindControl = (...args: Array<string>) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn("callgrind_control", args, { stdio: "ignore" })
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`callgrind_control ${args.join(" ")}: ${code}`))))
  })

/** Callgrind's counting in `pid` (run with `--instr-atstart=no`) until the returned function dumps it. */
const startCallgrind = async (pid: number, rewarm: () => Promise<void>): Promise<() => Promise<void>> => {
  await callgrindControl("-i", "on", String(pid))
  // instrumenting translates every piece of code again: a stall of seconds, left out of the count
  await rewarm()
  await callgrindControl("-z", String(pid))
  return async () => {
    await callgrindControl("-i", "off", String(pid))
    await callgrindControl("-d", String(pid))
  }
}

/** The instructions (Ir) of the last dump of callgrind's `out`. */
const callgrindSummary = (out: string) => {
  const dumps = readdirSync(dirname(out))
    .filter((f) => f.startsWith(`${basename(out)}.`))
    .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()))
  const text = readFileSync(join(dirname(out), dumps.at(-1)!), "utf8")
  const total = Number(/^totals: (\d+)/m.exec(text)![1])
  // by function (node's own: the collector, the compilers, the runtime; JIT code is "???")
  const annotated = execFileSync("callgrind_annotate", ["--inclusive=no", "--threshold=99", join(dirname(out), dumps.at(-1)!)], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024
  })
  const functions: Array<[string, number]> = []
  for (const line of annotated.split("\n")) {
    const match = /^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?(\S.*)$/.exec(line)
    if (match === null || match[2]!.startsWith("PROGRAM TOTALS") || match[2]!.startsWith("Ir")) continue
    functions.push([match[2]!.replace(/^.*?:/, "").slice(0, 140), Number(match[1]!.replaceAll(",", ""))])
  }
  return { total, functions }
}

const workDir = join(root, ".bench-tmp", `ab-alloc-${process.pid}`)
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
    // under valgrind a response may take seconds (a collection, a compile): no deadline cuts one
    const slow = `up: { type: openai, apiKey: "env:BENCH_UPSTREAM_KEY", baseUrl: "${url}/v1", timeouts: { connect: "2 minutes", firstToken: "2 minutes", idle: "2 minutes" } }`
    const text = chat.gatewayConfig(url, port)
    writeFileSync(
      config,
      instructions
        ? text
          .replace(/up: \{ type: openai[^\n]*\}/, slow)
          .replace("policy:\n", `policy:\n  timeouts: { attempt: "2 minutes", firstToken: "2 minutes", total: "2 minutes" }\n`)
        : text
    )
    const out = join(workDir, `${v.name}.json`)
    const child = await startNode({
      name: v.name,
      args: [`--import=${preload}`, ops ? countingCopy(v.bundle, join(workDir, `${v.name}-ops`)) : v.bundle, "serve", "--config", config],
      env: { BENCH_UPSTREAM_KEY: chat.upstreamKey, PROFILER_OUT: out, PROFILER_MODE: mode },
      readyUrl: `http://127.0.0.1:${port}/healthz`,
      ...(instructions
        ? {
          wrapper: ["valgrind", "--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${out}.callgrind`],
          timeoutMs: 180_000
        }
        : {})
    })
    started.push(child)
    servers.push({ ...v, child, out, url: `http://127.0.0.1:${port}/v1/chat/completions`, perRound: [] as Array<number>, functions: new Map<string, number>() })
  }
  const body = chat.chatBody(chosen.failover ? "failover" : "healthy", chosen.stream)
  // under valgrind a warm-up's first requests may outlast a deadline: only the measured ones must all succeed
  for (const s of servers) await send(s.url, body, Number(values.warmup), !instructions)
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const s of servers) {
      await chat.settled(mock)
      for (const suffix of ["", ".started", ".done"]) rmSync(`${s.out}${suffix}`, { force: true })
      const tracer = syscalls
        ? await startStrace(s.child.pid, `${s.out}.strace`)
        : instructions
        ? await startCallgrind(s.child.pid, () => send(s.url, body, 100, false))
        : undefined
      process.kill(s.child.pid, "SIGUSR2")
      await waitFor(`${s.out}.started`)
      await send(s.url, body, requests)
      await sleep(500) // what a response leaves to do after its last byte (events, log lines)
      process.kill(s.child.pid, "SIGUSR2")
      await waitFor(`${s.out}.done`)
      if (tracer !== undefined) {
        await tracer()
        writeFileSync(s.out, JSON.stringify(syscalls ? straceSummary(`${s.out}.strace`) : callgrindSummary(`${s.out}.callgrind`)))
      }
      const data = JSON.parse(readFileSync(s.out, "utf8")) as { total: number; functions: Array<[string, number]> }
      for (const [key, value] of data.functions) {
        const k = values.lines ? key : key.replace(/:\d+$/, "")
        s.functions.set(k, (s.functions.get(k) ?? 0) + value / requests)
      }
      s.perRound.push(data.total / requests)
    }
  }
  const unit = instructions ? "instructions (callgrind's Ir)" : syscalls ? "system calls (strace -c -f)" : ops ? "Effect operations run" : cpu ? "µs sampled CPU (not idle, not program)" : "bytes"
  const fmt = (x: number) => (instructions ? `${(x / 1e6).toFixed(3)} M` : ops || syscalls ? x.toFixed(2) : cpu ? `${x.toFixed(1)} µs` : `${(x / 1024).toFixed(2)} KiB`)
  const mean = (xs: Array<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
  const first = servers[0]!
  console.log(`case ${values.case}, ${requests} responses a round at ${connections} connections, ${unit} a response:`)
  for (const s of servers) {
    console.log(
      `${s.name.padEnd(12)} ${fmt(mean(s.perRound)).padStart(12)} a response (rounds: ${s.perRound.map(fmt).join(", ")}), ` +
        `${(mean(s.perRound) / mean(first.perRound)).toFixed(4)}x the first`
    )
  }
  const rounds = Number(values.rounds)
  if (servers.length === 1) {
    // one build alone: where its figure goes, by function
    const top = [...first.functions].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))
    console.log(`\n${first.name} by function (self, a response; the ${values.top} largest):`)
    for (const [k, v] of top) console.log(`  ${fmt(v / rounds).padStart(12)}  ${k}`)
  }
  for (const s of servers.slice(1)) {
    const keys = new Set([...first.functions.keys(), ...s.functions.keys()])
    const diffs = [...keys]
      .map((k) => [k, ((s.functions.get(k) ?? 0) - (first.functions.get(k) ?? 0)) / rounds, (s.functions.get(k) ?? 0) / rounds] as const)
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
      .slice(0, Number(values.top))
    console.log(`\n${s.name} against ${first.name}, by function (self, a response; the ${values.top} largest differences):`)
    for (const [k, d, v] of diffs) console.log(`  ${(d >= 0 ? "+" : "") + fmt(d)}`.padEnd(16) + ` (${fmt(v)})  ${k}`)
  }
  succeeded = true
} finally {
  await tearDown(started, workDir, succeeded, () => {})
}
