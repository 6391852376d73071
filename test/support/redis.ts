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
import { afterAll, beforeAll } from "@effect/vitest"
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

/** A node of a cluster of several: the slots it holds (none: a replica to be), and how soon the others count it as failed. */
export interface ClusterNode {
  readonly slots?: readonly [from: number, to: number]
  /** `cluster-node-timeout`, ms. Redis's default is 15 s. */
  readonly nodeTimeout?: number
}

/**
 * Starts a private server; wait for it with `await`. Stop it with `stop()` in
 * `afterAll`. `cluster: true` starts it as a one-node cluster holding every
 * slot (its node file in a temporary directory, removed by `stop()`); a
 * {@link ClusterNode} as a node of {@link startRedisCluster}'s.
 */
export const startRedis = async (options?: { readonly cluster?: boolean | ClusterNode }): Promise<TestRedis> => {
  const port = await freePort()
  const cluster = options?.cluster !== undefined && options.cluster !== false
  const node = typeof options?.cluster === "object" ? options.cluster : undefined
  let child: ChildProcess | undefined
  let dir: string | undefined
  const start = async () => {
    const clusterArgs: Array<string> = []
    if (cluster) {
      dir = mkdtempSync(join(tmpdir(), "redis-cluster-"))
      clusterArgs.push("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", dir)
      // a replica links at once (Redis waits 5 s for more replicas before a diskless full sync)
      if (node?.nodeTimeout !== undefined) {
        clusterArgs.push("--cluster-node-timeout", String(node.nodeTimeout), "--repl-diskless-sync-delay", "0")
      }
    }
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", ...clusterArgs],
      { stdio: "ignore" }
    )
    for (let i = 0; i < 200; i++) {
      if (await answersPing(port)) {
        if (node?.slots !== undefined) await command("CLUSTER", "ADDSLOTSRANGE", String(node.slots[0]), String(node.slots[1]))
        else if (node === undefined && cluster) await takeEverySlot()
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
        // one-line replies (+OK, :n, $-1, -ERR) and bulk strings (a value, CLUSTER INFO), which may span lines
        const head = reply.indexOf("\r\n")
        if (head < 0) return
        const bulk = reply.startsWith("$") && !reply.startsWith("$-1")
        const length = bulk ? Number(reply.slice(1, head)) : 0
        if (bulk && Buffer.byteLength(reply) < head + 2 + length + 2) return
        socket.destroy()
        resolve(bulk ? reply.slice(head + 2, head + 2 + length) : reply.slice(reply.startsWith("$-1") ? 0 : 1, head))
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

/** A private cluster of several nodes, each a master of its share of the slots. */
export interface TestRedisCluster {
  /** The masters, in the order of their slots. */
  readonly nodes: ReadonlyArray<TestRedis>
  /** Each master's replica, at the master's index (with `replicas: true`). */
  readonly replicas: ReadonlyArray<TestRedis>
  /** The first node's URL: a cluster client learns the others from it. */
  readonly url: string
  /** Stops every node. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `count` cluster nodes on free 127.0.0.1 ports, splits the 16384
 * slots between them, introduces them to each other, and waits until every
 * node says the cluster is ok; with `replicas`, one replica a master too,
 * linked to it before this returns, and a node timeout of half a second,
 * so a master that stops is replaced within a few seconds. Its nodes cannot
 * be restarted (a restarted node comes back empty, a stranger to the others).
 */
export const startRedisCluster = async (count: number, options?: { readonly replicas?: boolean }): Promise<TestRedisCluster> => {
  const nodes: Array<TestRedis> = []
  const replicas: Array<TestRedis> = []
  const stop = () => Promise.all([...nodes, ...replicas].map((node) => node.stop())).then(() => undefined)
  const until = async (what: string, check: () => Promise<boolean>) => {
    // generous: the nodes gossip every 100 ms, more slowly on a busy machine
    for (let i = 0; i < 2_000; i++) {
      if (await check()) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`the ${count}-node cluster: ${what} within 20 s`)
  }
  try {
    const nodeTimeout = options?.replicas === true ? 500 : undefined
    const share = Math.ceil(16_384 / count)
    for (let i = 0; i < count; i++) {
      const slots = [i * share, Math.min(16_383, (i + 1) * share - 1)] as const
      nodes.push(await startRedis({ cluster: { slots, ...(nodeTimeout === undefined ? {} : { nodeTimeout }) } }))
      if (options?.replicas === true) replicas.push(await startRedis({ cluster: { nodeTimeout: nodeTimeout! } }))
    }
    for (const node of [...nodes, ...replicas].slice(1)) await nodes[0]!.command("CLUSTER", "MEET", "127.0.0.1", String(node.port))
    for (const [i, replica] of replicas.entries()) {
      const master = await nodes[i]!.command("CLUSTER", "MYID")
      // the replica must have heard of its master through the cluster's gossip first
      await until("a replica did not learn of its master", async () => (await replica.command("CLUSTER", "REPLICATE", master)) === "OK")
      await until("a replica did not link to its master", async () => (await replica.command("INFO", "replication")).includes("master_link_status:up"))
    }
    await until("did not come up", async () => {
      const states = await Promise.all([...nodes, ...replicas].map((node) => node.command("CLUSTER", "INFO")))
      return states.every((state) => state.includes("cluster_state:ok"))
    })
    return { nodes, replicas, url: nodes[0]!.url, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * A private server for the suite this is called in: started before its
 * tests, stopped after them. Returns the server (once started).
 */
export const suiteRedis = (): (() => TestRedis) => {
  let redis: TestRedis | undefined
  beforeAll(async () => {
    redis = await startRedis()
  }, 10_000)
  afterAll(async () => {
    await redis?.stop()
  })
  return () => redis!
}
