/**
 * Servers in child processes, for benchmarks that load them over HTTP: each
 * in its own process, so its memory is its own (VmRSS from /proc) and it
 * does not share an event loop with the load generator.
 *
 * Every child started here is killed when this process exits, however it
 * exits, so a failed run leaves nothing listening.
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { root } from "./machine.js"

/** Where children's output goes: `.bench-tmp/logs-<pid>/<name>.log` (gitignored). */
export const logDir = join(root, ".bench-tmp", `logs-${process.pid}`)

const alive = new Set<ChildProcess>()

process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL")
})

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port"))))
    })
  })

/** A process's resident set size in KiB (`VmRSS` of /proc/<pid>/status), or undefined once it is gone. */
export const rssKiB = (pid: number): number | undefined => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
    const kib = line === undefined ? NaN : Number.parseInt(line.slice(6).trim(), 10)
    return Number.isFinite(kib) ? kib : undefined
  } catch {
    return undefined
  }
}

/** A server running in a child process. */
export interface Child {
  readonly name: string
  readonly pid: number
  /** Where its stdout and stderr go. */
  readonly log: string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  readonly stop: (graceMs?: number) => Promise<void>
  readonly exited: () => boolean
}

const exitOf = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

const wrap = (name: string, child: ChildProcess, log: string): Child => {
  alive.add(child)
  const exit = exitOf(child).then(() => {
    alive.delete(child)
  })
  const exited = () => child.exitCode !== null || child.signalCode !== null
  return {
    name,
    pid: child.pid!,
    log,
    exited,
    stop: async (graceMs = 5_000) => {
      if (exited()) return exit
      if (child.connected) child.disconnect()
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      await exit
      clearTimeout(timer)
    }
  }
}

const logFile = (name: string): { readonly path: string; readonly fd: number } => {
  mkdirSync(logDir, { recursive: true })
  const path = join(logDir, `${name}.log`)
  return { path, fd: openSync(path, "w") }
}

/**
 * Polls `url` with GET until it answers (any status), failing after
 * `timeoutMs` or as soon as the process exits.
 */
const waitUntilAnswering = async (child: Child, url: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exited()) throw new Error(`${child.name} exited before answering (see ${child.log})`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await response.arrayBuffer()
      return
    } catch {
      if (Date.now() > deadline) throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms (see ${child.log})`)
      await sleep(100)
    }
  }
}

/**
 * Starts `node <args>` (no shell, so the pid is node's), output to a log
 * file, and waits until `readyUrl` answers.
 */
export const startNode = async (options: {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  readonly readyUrl: string
  readonly timeoutMs?: number
  /** A command that runs node, as `valgrind --tool=callgrind` (node and `args` follow it). */
  readonly wrapper?: ReadonlyArray<string>
}): Promise<Child> => {
  const log = logFile(options.name)
  const [command, ...args] = [...(options.wrapper ?? []), process.execPath, ...options.args]
  const child = spawn(command!, args, {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", log.fd, log.fd]
  })
  closeSync(log.fd)
  const started = wrap(options.name, child, log.path)
  try {
    await waitUntilAnswering(started, options.readyUrl, options.timeoutMs ?? 20_000)
  } catch (error) {
    await started.stop(1_000)
    throw error
  }
  return started
}

/** A child started with `fork`: it can exchange messages with this process. */
export interface ForkedChild extends Child {
  /** Sends `message` and resolves with the first message back of type `reply`. */
  readonly ask: <A>(message: { readonly type: string }, reply: string) => Promise<A>
}

/**
 * Forks `node <modulePath>` with an IPC channel and waits for its first
 * message of type `ready`, which it resolves with.
 */
export const forkNode = async <Ready>(options: {
  readonly name: string
  readonly modulePath: string
  readonly env?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
}): Promise<{ readonly child: ForkedChild; readonly ready: Ready }> => {
  const log = logFile(options.name)
  const child = fork(options.modulePath, [], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", log.fd, log.fd, "ipc"]
  })
  closeSync(log.fd)
  const base = wrap(options.name, child, log.path)
  const next = <A>(type: string, timeoutMs: number): Promise<A> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if (typeof message === "object" && message !== null && (message as { type?: unknown }).type === type) {
          cleanup()
          resolve(message as A)
        }
      }
      const onExit = () => {
        cleanup()
        reject(new Error(`${options.name} exited (see ${log.path})`))
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`${options.name}: no "${type}" message within ${timeoutMs} ms (see ${log.path})`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        child.off("message", onMessage)
        child.off("exit", onExit)
      }
      child.on("message", onMessage)
      child.once("exit", onExit)
    })
  const forked: ForkedChild = {
    ...base,
    ask: <A>(message: { readonly type: string }, reply: string) => {
      const answer = next<A>(reply, 5_000)
      child.send(message)
      return answer
    }
  }
  try {
    const ready = await next<Ready>("ready", options.timeoutMs ?? 20_000)
    return { child: forked, ready }
  } catch (error) {
    await base.stop(1_000)
    throw error
  }
}

/**
 * Samples the RSS of some processes every `everyMs` while running, keeping
 * each one's peak (KiB).
 */
export class RssSampler {
  private readonly peaks = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly pids: ReadonlyArray<number>,
    private readonly everyMs = 100
  ) {}

  private sample(): void {
    for (const pid of this.pids) {
      const kib = rssKiB(pid)
      if (kib !== undefined && kib > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, kib)
    }
  }

  start(): void {
    this.peaks.clear()
    this.sample()
    this.timer = setInterval(() => this.sample(), this.everyMs)
  }

  /** Stops and returns the peak of each process (KiB), by pid. */
  stop(): ReadonlyMap<number, number> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.sample()
    return new Map(this.peaks)
  }
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
const ticksPerSecond = 100

/**
 * CPU time a process has used so far (user + system, all its threads), in
 * milliseconds, from /proc/<pid>/stat; undefined once it is gone. Its
 * resolution is one clock tick (10 ms).
 */
export const cpuMillis = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // the command name (field 2) may hold spaces: fields are counted after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const user = Number(fields[11])
    const system = Number(fields[12])
    return Number.isFinite(user) && Number.isFinite(system) ? ((user + system) * 1000) / ticksPerSecond : undefined
  } catch {
    return undefined
  }
}

/** The 16 bytes of an address as /proc/net/tcp{,6} print it: 32-bit words, each in host (little-endian) order. */
const procAddressBytes = (hex: string): Array<number> => {
  const bytes: Array<number> = []
  for (let word = 0; word < hex.length; word += 8) {
    for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(hex.slice(word + i, word + i + 2), 16))
  }
  return bytes
}

const formatAddress = (bytes: ReadonlyArray<number>): string => {
  if (bytes.length === 4) return bytes.join(".")
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16))
  const text = groups.join(":")
  if (text === "0:0:0:0:0:0:0:0") return "::"
  if (text === "0:0:0:0:0:0:0:1") return "::1"
  if (text.startsWith("0:0:0:0:0:ffff:")) return `::ffff:${bytes.slice(12).join(".")}`
  return text
}

/**
 * The TCP addresses a process listens on ("127.0.0.1:8787", "::1:8787",
 * ":::8787" for every IPv6 and IPv4 interface), read from Linux's /proc:
 * the socket inodes among its open files, matched against the LISTEN rows
 * (state 0A) of /proc/<pid>/net/tcp and tcp6. Empty when the process is gone
 * or listens on nothing.
 */
export const listeningAddresses = (pid: number): ReadonlyArray<string> => {
  let inodes: Set<string>
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
        try {
          const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
          return match === null ? [] : [match[1]!]
        } catch {
          return [] // closed in the meantime
        }
      })
    )
  } catch {
    return []
  }
  const found: Array<string> = []
  for (const table of ["tcp", "tcp6"]) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8")
    } catch {
      continue
    }
    for (const row of text.split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/)
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (fields.length < 10 || fields[3] !== "0A" || !inodes.has(fields[9]!)) continue
      const [address, port] = fields[1]!.split(":")
      found.push(`${formatAddress(procAddressBytes(address!))}:${Number.parseInt(port!, 16)}`)
    }
  }
  return found
}

/**
 * A suite's teardown: stops every child, removes `workDir`, and removes the
 * children's output too unless the suite failed (it is kept to read why).
 */
export const tearDown = async (
  started: ReadonlyArray<Child>,
  workDir: string,
  succeeded: boolean,
  log: (line: string) => void
): Promise<void> => {
  await Promise.all(started.map((child) => child.stop()))
  log(`stopped ${started.map((c) => `${c.name} (pid ${c.pid})`).join(", ")}`)
  rmSync(workDir, { recursive: true, force: true })
  if (succeeded) rmSync(logDir, { recursive: true, force: true })
  else log(`the children's output: ${logDir}`)
}
