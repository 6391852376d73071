/**
 * Runs the benchmark suites: `npm run bench` runs all of them,
 * `npm run bench -- <name> [<name> ...]` only those named. Each suite's
 * tables go to stdout (Markdown, ready for BENCHMARKS.md), progress to
 * stderr, and its figures to `bench/results/<name>.json`.
 *
 * To add a suite: write `bench/<name>.ts` exporting a `Suite` (see
 * `bench/lib/suite.ts`) and add it to `suites` below.
 */
import { loadavg } from "node:os"
import { performance } from "node:perf_hooks"
import { render } from "./lib/format.js"
import { describe, machine, revision } from "./lib/machine.js"
import { write } from "./lib/results.js"
import { suite as allocations } from "./allocations.js"
import { suite as gateway } from "./gateway.js"
import { suite as gatewayParts } from "./gateway-parts.js"
import type { Suite } from "./lib/suite.js"
import { suite as resilience } from "./resilience.js"
import { suite as scenarios } from "./scenarios.js"

/** Every suite, in the order `npm run bench` runs them. */
const suites: ReadonlyArray<Suite> = [resilience, allocations, gateway, gatewayParts, scenarios]

/** Packages whose versions every result file records, beside each suite's own. */
const recordedPackages = ["effect", "typescript", "tsx"]

const usage = (): string =>
  [
    "usage: npm run bench [-- <suite> ...]",
    "suites:",
    ...suites.map((s) => `  ${s.name.padEnd(16)} ${s.description}`)
  ].join("\n")

const select = (names: ReadonlyArray<string>): ReadonlyArray<Suite> | string => {
  if (names.length === 0) return suites
  const unknown = names.filter((name) => !suites.some((s) => s.name === name))
  if (unknown.length > 0) return `unknown suite ${unknown.map((n) => `"${n}"`).join(", ")}\n${usage()}`
  return suites.filter((s) => names.includes(s.name))
}

const runSuite = async (suite: Suite): Promise<void> => {
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const startedAt = new Date()
  const source = revision()
  const loadBefore = loadavg()
  const start = performance.now()
  log(`[${suite.name}] ${suite.description}`)
  const result = await suite.run({ log })
  const seconds = (performance.now() - start) / 1000
  const host = machine([...recordedPackages, ...(suite.packages ?? [])])
  const load = { before: loadBefore, after: loadavg() }
  const out = [
    `## ${suite.name}`,
    "",
    `${startedAt.toISOString()}, ${seconds.toFixed(1)} s; ${describe(host)}; ` +
    `load average ${load.before[0]!.toFixed(1)} before, ${load.after[0]!.toFixed(1)} after; ` +
    `source ${source.commit}${source.changedInSrc.length === 0 ? "" : ` with ${source.changedInSrc.length} file(s) under src/ changed`}`,
    "",
    ...result.tables.flatMap((table) => [render(table), ""]),
    ...(result.summary ?? [])
  ]
  process.stdout.write(`${out.join("\n")}\n\n`)
  const path = write({
    suite: suite.name,
    description: suite.description,
    startedAt: startedAt.toISOString(),
    seconds,
    command: `npm run bench -- ${suite.name}`,
    machine: host,
    revision: source,
    load,
    ...result
  })
  log(`[${suite.name}] done in ${seconds.toFixed(1)} s; results in ${path}`)
}

const main = async (): Promise<number> => {
  const args = process.argv.slice(2)
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${usage()}\n`)
    return 0
  }
  const selected = select(args)
  if (typeof selected === "string") {
    process.stderr.write(`${selected}\n`)
    return 1
  }
  for (const suite of selected) await runSuite(suite)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  }
)
