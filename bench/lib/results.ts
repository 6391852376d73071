/**
 * Writes a suite's results to `bench/results/<suite>.json`: the machine,
 * when and how it ran, and everything the suite returned.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Machine, Revision } from "./machine.js"
import { root } from "./machine.js"
import type { SuiteResult } from "./suite.js"

/** The directory result files go to. */
export const resultsDir = join(root, "bench", "results")

export interface ResultFile extends SuiteResult {
  readonly suite: string
  readonly description: string
  /** ISO 8601, when the suite started. */
  readonly startedAt: string
  readonly seconds: number
  /** How to run this suite again. */
  readonly command: string
  readonly machine: Machine
  /** The source measured: commit and uncommitted changes under `src/` when the suite started. */
  readonly revision: Revision
  /** `os.loadavg()` (1, 5, 15 minutes) when the suite started and ended: the machine may be shared. */
  readonly load: { readonly before: ReadonlyArray<number>; readonly after: ReadonlyArray<number> }
}

/** Writes the file and returns its path. */
export const write = (result: ResultFile): string => {
  mkdirSync(resultsDir, { recursive: true })
  const path = join(resultsDir, `${result.suite}.json`)
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`)
  return path
}
