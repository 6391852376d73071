/**
 * The subscriber connection against a stand-in Redis (a few lines of RESP on
 * 127.0.0.1, a random port): what a real server cannot be made to do on
 * cue, answer a reconnected subscriber's SUBSCRIBE late.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as Redis from "../src/state/Redis.js"

/** A server that answers INFO, SUBSCRIBE (unless told to hang) and anything else with +OK. */
const standIn = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly server: net.Server; readonly sockets: Set<net.Socket>; hang: boolean; subscribes: number }>(
    (resume) => {
      const sockets = new Set<net.Socket>()
      const state = { port: 0, server: undefined as unknown as net.Server, sockets, hang: false, subscribes: 0 }
      const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
      state.server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        let buffered = ""
        socket.on("data", (data) => {
          buffered += data.toString("latin1")
          // commands are arrays of bulk strings: *N\r\n($len\r\nword\r\n)*N
          for (;;) {
            const words: Array<string> = []
            let at = 0
            const line = () => {
              const end = buffered.indexOf("\r\n", at)
              if (end < 0) return undefined
              const text = buffered.slice(at, end)
              at = end + 2
              return text
            }
            const head = line()
            if (head === undefined || !head.startsWith("*")) return
            let complete = true
            for (let i = 0; i < Number(head.slice(1)); i++) {
              const size = line()
              if (size === undefined || buffered.length < at + Number(size.slice(1)) + 2) {
                complete = false
                break
              }
              words.push(buffered.slice(at, at + Number(size.slice(1))))
              at += Number(size.slice(1)) + 2
            }
            if (!complete) return
            buffered = buffered.slice(at)
            const command = words[0]!.toLowerCase()
            if (command === "info") socket.write(bulk("# Server\r\nloading:0\r\n"))
            else if (command === "subscribe") {
              state.subscribes++
              if (!state.hang) {
                words.slice(1).forEach((channel, i) => socket.write(`*3\r\n${bulk("subscribe")}${bulk(channel)}:${i + 1}\r\n`))
              }
            } else socket.write("+OK\r\n")
          }
        })
      })
      state.server.listen(0, "127.0.0.1", () => {
        state.port = (state.server.address() as net.AddressInfo).port
        resume(Effect.succeed(state))
      })
    }
  ),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)

const realWait = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("Redis's subscriber connection", () => {
  it.scopedLive("a reconnected subscriber whose SUBSCRIBE is answered late does not reject a promise nobody holds", () =>
    Effect.gen(function*() {
      // found in session 28: ioredis resubscribes a reconnected subscriber itself, without a handler, and its command
      // timeout rejected that SUBSCRIBE: an unhandled rejection, which ends a Node process (serve) by default
      const unhandled: Array<unknown> = []
      const record = (reason: unknown) => void unhandled.push(reason)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("unhandledRejection", record)),
        () => Effect.sync(() => process.off("unhandledRejection", record))
      )
      const server = yield* standIn
      const redis = yield* Redis.make({ url: `redis://127.0.0.1:${server.port}`, commandTimeout: "100 millis" })
      let subscribed = 0
      yield* redis.subscribe("events", () => {}, () => void subscribed++)
      for (let i = 0; i < 100 && subscribed === 0; i++) yield* realWait(20)
      expect(subscribed).toBe(1)
      // the server goes on answering, but no SUBSCRIBE any more; the connections drop, and reconnect
      server.hang = true
      const before = server.subscribes
      for (const socket of server.sockets) socket.destroy()
      for (let i = 0; i < 100 && server.subscribes === before; i++) yield* realWait(20)
      expect(server.subscribes).toBeGreaterThan(before)
      // well past the command timeout
      yield* realWait(400)
      expect(unhandled.map(String)).toEqual([])
    }), 10_000)
})
