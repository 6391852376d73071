/**
 * Loaded into a `serve` process with `--import` by `bench/ab-alloc.ts`: the
 * process's own inspector session, switched by SIGUSR2. The first signal
 * starts V8's sampling heap profiler (keeping what either GC collected) or,
 * with PROFILER_MODE=cpu, the CPU profiler (a sample every 100 µs); the
 * next stops it and writes PROFILER_OUT, then PROFILER_OUT.done: the total
 * (bytes, or µs of samples outside the idle and program nodes) and each
 * function's self share, keyed by its name and its place in the source
 * (through the bundle's source maps, so that builds compare). Nothing else
 * in the process changes: no request, no module of its own. With
 * PROFILER_MODE=ops (a bundle patched by `ab-alloc.ts --ops`), the Effect
 * operations its fibers ran and the fibers made between the two signals.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { SourceMap } from "node:module"
import { fileURLToPath } from "node:url"

const out = process.env.PROFILER_OUT
const mode = process.env.PROFILER_MODE ?? "heap"
const interval = Number(process.env.PROFILER_INTERVAL ?? "1024")
/** Filled by a bundle `bench/ab-alloc.ts --ops` patched: Effect's ops run and fibers made. */
globalThis.__effectCounts = { ops: 0, fibers: 0, byOp: {} }
let countsAtStart
const session = new Session()
session.connect()
let running = false

const maps = new Map()
const mapOf = (url) => {
  if (!maps.has(url)) {
    let map
    try {
      const path = url.startsWith("file:") ? fileURLToPath(url) : url
      if (existsSync(`${path}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")))
    } catch {
      map = undefined
    }
    maps.set(url, map)
  }
  return maps.get(url)
}

/** "name source:line", the source through the source map where there is one. */
const keyOf = (frame) => {
  const name = frame.functionName || "(anonymous)"
  const map = frame.url === "" ? undefined : mapOf(frame.url)
  if (map !== undefined) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber)
    if (entry?.originalSource !== undefined) {
      const source = entry.originalSource.replace(/^.*?(node_modules\/|src\/)/, "$1")
      return `${name} ${source}:${entry.originalLine + 1}`
    }
  }
  return `${name} ${frame.url.split("/").pop()}:${frame.lineNumber + 1}`
}

const sorted = (sums) => [...sums.entries()].sort((a, b) => b[1] - a[1])

/** Self bytes by function. */
const heapByFunction = (head) => {
  const sums = new Map()
  const walk = (node) => {
    const key = keyOf(node.callFrame)
    sums.set(key, (sums.get(key) ?? 0) + node.selfSize)
    for (const child of node.children) walk(child)
  }
  walk(head)
  return sorted(sums)
}

/** Self µs by function, idle and program left out. */
const cpuByFunction = (profile) => {
  const keys = new Map(profile.nodes.map((node) => [node.id, keyOf(node.callFrame)]))
  const sums = new Map()
  profile.samples.forEach((id, i) => {
    const key = keys.get(id)
    if (key.startsWith("(idle)") || key.startsWith("(program)")) return
    sums.set(key, (sums.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  })
  return sorted(sums)
}

process.on("SIGUSR2", () => {
  void (async () => {
    if (!running) {
      running = true
      if (mode === "ops") {
        countsAtStart = structuredClone(globalThis.__effectCounts)
      } else if (mode === "cpu") {
        await session.post("Profiler.enable")
        await session.post("Profiler.setSamplingInterval", { interval: 100 })
        await session.post("Profiler.start")
      } else {
        await session.post("HeapProfiler.startSampling", {
          samplingInterval: interval,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true
        })
      }
      writeFileSync(`${out}.started`, "")
      return
    }
    running = false
    if (mode === "ops") {
      const now = globalThis.__effectCounts
      const functions = [
        ["fibers made", now.fibers - countsAtStart.fibers],
        ...Object.entries(now.byOp).map(([op, n]) => [`op ${op}`, n - (countsAtStart.byOp[op] ?? 0)])
      ]
      writeFileSync(out, JSON.stringify({ total: now.ops - countsAtStart.ops, functions: sorted(new Map(functions)) }))
      writeFileSync(`${out}.done`, "")
      return
    }
    const functions =
      mode === "cpu"
        ? cpuByFunction((await session.post("Profiler.stop")).profile)
        : heapByFunction((await session.post("HeapProfiler.stopSampling")).profile.head)
    const total = functions.reduce((sum, [, value]) => sum + value, 0)
    writeFileSync(out, JSON.stringify({ total, functions }))
    writeFileSync(`${out}.done`, "")
  })()
})
