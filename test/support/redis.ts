/**
 * A private `redis-server` for tests: on 127.0.0.1, on a free port, keeping
 * nothing on disk, stoppable and restartable on the same port mid-test. Or
 * a one-node Redis Cluster holding every slot: it refuses a script or a
 * command whose keys hash to different slots (`CROSSSLOT`), as a real
 * cluster does, while a plain client can still send it everything.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"

/** Why the Redis tests cannot run here, or undefined when they can. */
export const unavailable: string | undefined = (() => {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" })
  if (probe.error !== undefined || probe.status !== 0) {
    return "redis-server is not installed (Debian: apt-get install redis-server); the shared-state tests against a real Redis were skipped"
  }
  return undefined
})()

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(200, () => done(false))
    socket.once("error", () => done(false))
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"))
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")))
  })

/** A running private server. */
export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Stops the server (SIGKILL: like a crash), and waits until its port is closed. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port (empty: it keeps nothing). */
  readonly start: () => Promise<void>
  /**
   * Freezes the server for `millis` (SIGSTOP, then SIGCONT): connections stay
   * open and nothing is answered, as in a stall of the network or of a slow fork.
   */
  readonly freeze: (millis: number) => Promise<void>
  /** Runs one command with redis-cli-free plain RESP, for assertions (e.g. TTLs). */
  readonly command: (...args: ReadonlyArray<string>) => Promise<string>
}

/**
 * Starts a private server; wait for it with `await`. Stop it with `stop()` in
 * `afterAll`. `cluster: true` starts it as a one-node cluster holding every
 * slot (its node file in a temporary directory, removed by `stop()`).
 */
export const startRedis = async (options?: { readonly cluster?: boolean }): Promise<TestRedis> => {
  const port = await freePort()
  const cluster = options?.cluster === true
  let child: ChildProcess | undefined
  let dir: string | undefined
  const start = async () => {
    const clusterArgs: Array<string> = []
    if (cluster) {
      dir = mkdtempSync(join(tmpdir(), "redis-cluster-"))
      clusterArgs.push("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", dir)
    }
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", ...clusterArgs],
      { stdio: "ignore" }
    )
    for (let i = 0; i < 200; i++) {
      if (await answersPing(port)) {
        if (cluster) await takeEverySlot()
        return
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 2 s`)
  }
  /** Gives the one node every slot, and waits until the cluster says it is ok. */
  const takeEverySlot = async () => {
    await command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    for (let i = 0; i < 300; i++) {
      if ((await command("CLUSTER", "INFO")).includes("cluster_state:ok")) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error("the one-node cluster did not come up within 3 s")
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running !== undefined && running.exitCode === null) {
      await new Promise<void>((resolve) => {
        running.once("exit", () => resolve())
        running.kill("SIGKILL")
      })
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  }
  const command = (...args: ReadonlyArray<string>) =>
    new Promise<string>((resolve, reject) => {
      const socket = new Socket()
      let reply = ""
      socket.setTimeout(1_000, () => {
        socket.destroy()
        reject(new Error("redis command timed out"))
      })
      socket.once("error", reject)
      socket.connect(port, "127.0.0.1", () =>
        socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`)
      )
      socket.on("data", (data) => {
        reply += data.toString()
        // one-line replies are all the tests use (+OK, :n, $-1, -ERR); bulk strings end in a second CRLF
        const lines = reply.split("\r\n")
        const complete = reply.startsWith("$") && !reply.startsWith("$-1") ? lines.length >= 3 : lines.length >= 2
        if (complete) {
          socket.destroy()
          resolve(reply.startsWith("$") ? (lines[1] ?? "") : lines[0]!.slice(reply.startsWith("$-1") ? 0 : 1))
        }
      })
    })
  const freeze = async (millis: number) => {
    const running = child
    if (running === undefined) return
    running.kill("SIGSTOP")
    try {
      await new Promise((r) => setTimeout(r, millis))
    } finally {
      running.kill("SIGCONT")
    }
  }
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, stop, start, freeze, command }
}

/** Polls `check` every 10 ms until it holds, for at most `within` ms; returns how long it took. */
export const eventually = (check: Effect.Effect<boolean>, within = 2_000): Effect.Effect<number> =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!(yield* check)) {
      if (Date.now() - start > within) return yield* Effect.dieMessage(`condition not met within ${within} ms`)
      yield* Effect.sleep("10 millis")
    }
    return Date.now() - start
  })
