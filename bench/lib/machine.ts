/**
 * The machine and software a benchmark ran on, for the result JSON and for
 * BENCHMARKS.md.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root (bench/lib/../..). */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly v8: string
  /** Installed versions of the packages a benchmark compares. */
  readonly packages: Readonly<Record<string, string>>
}

/** The CPU model as /proc/cpuinfo names it, else as Node reports it. */
const cpuModel = (): string => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"))
    const model = line?.split(":")[1]?.trim()
    if (model !== undefined && model !== "") return model
  } catch {
    // not Linux: fall back to Node's view
  }
  return os.cpus()[0]?.model ?? "unknown"
}

/** The installed version of a package in node_modules, or "missing". */
export const packageVersion = (name: string): string => {
  try {
    const json: unknown = JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8"))
    return typeof json === "object" && json !== null && "version" in json && typeof json.version === "string"
      ? json.version
      : "unknown"
  } catch {
    return "missing"
  }
}

/** Describes this machine and the given packages' installed versions. */
export const machine = (packages: ReadonlyArray<string>): Machine => ({
  cpu: cpuModel(),
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  v8: process.versions.v8,
  packages: Object.fromEntries(packages.map((name) => [name, packageVersion(name)]))
})

/** One line: "AMD EPYC, 2 cores, 23 GiB, Node v20.20.2". */
export const describe = (m: Machine): string =>
  `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} (V8 ${m.v8}), ${m.os}; ` +
  Object.entries(m.packages).map(([name, version]) => `${name} ${version}`).join(", ")

/** The source a run measured: the commit checked out, and the files under `src/` changed since (uncommitted). */
export interface Revision {
  readonly commit: string
  readonly changedInSrc: ReadonlyArray<string>
}

/** Reads the revision with `git` (read-only commands); "unknown" outside a work tree. */
export const revision = (): Revision => {
  const git = (args: ReadonlyArray<string>) =>
    execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  try {
    const commit = git(["rev-parse", "--short=12", "HEAD"])
    const changedInSrc = git(["status", "--porcelain", "--", "src"])
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.slice(3))
    return { commit, changedInSrc }
  } catch {
    return { commit: "unknown", changedInSrc: [] }
  }
}
