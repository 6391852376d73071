/**
 * `NodeBody.write`: a streamed response written from its pull into Node's
 * `ServerResponse`, waiting for `drain` when the socket's buffer is full. A
 * real server and client on 127.0.0.1; the client's reading is paused and
 * resumed by the test, nothing waits on time (turns of the event loop only).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { createServer, request as httpRequest } from "node:http"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeBody from "../src/gateway/internal/nodeBody.js"
import { turns } from "./support/clock.js"

const chunkBytes = 256 * 1024
const chunks = 64

/** A pull of `chunks` chunks of `chunkBytes` bytes (each filled with its index), counting its reads. */
const counted = () => {
  const state = { pulls: 0 }
  const pull: NodeBody.Pull = Effect.suspend(() => {
    const index = state.pulls++
    return index < chunks ? Effect.succeed(Chunk.of(new Uint8Array(chunkBytes).fill(index % 256))) : Effect.fail(Option.none())
  })
  return { state, pull }
}

/**
 * A server on 127.0.0.1 and one GET to it: the server's response, for the
 * test to write, and the client's side of it once its headers arrive (its
 * reading paused: nothing is read until the test says so).
 */
const exchange = Effect.acquireRelease(
  Effect.async<{
    readonly response: ServerResponse
    readonly client: Promise<IncomingMessage>
    readonly close: () => void
  }>((resume) => {
    let answer: (incoming: IncomingMessage) => void = () => {}
    let refused: (error: Error) => void = () => {}
    const client = new Promise<IncomingMessage>((resolve, reject) => {
      answer = resolve
      refused = reject
    })
    // a test that closes the connection before the head arrives looks at it itself
    client.catch(() => {})
    const server = createServer((_request, response) =>
      resume(Effect.succeed({ response, client, close: () => server.close() }))
    )
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      const request = httpRequest({ host: "127.0.0.1", port, path: "/" }, (incoming) => {
        incoming.pause()
        answer(incoming)
      })
      request.on("error", (error) => refused(error))
      request.end()
    })
  }),
  ({ close, client }) =>
    Effect.promise(async () => {
      await client.then((incoming) => incoming.destroy(), () => {})
      close()
    })
)


describe("NodeBody.write", () => {
  it.scopedLive("writes status and headers, stops pulling while the socket is full, and ends the response once all is read", () =>
    Effect.gen(function* () {
      const { response, client: answered } = yield* exchange
      const { state, pull } = counted()
      const writing = yield* Effect.fork(NodeBody.write(response, 200, { "x-test": "yes" }, pull))
      const client = yield* Effect.promise(() => answered)
      yield* turns(50)
      // the socket is full long before the last chunk: the writer waits for drain and reads no more
      const pulls = state.pulls
      expect(pulls).toBeLessThan(chunks)
      expect(response.writableNeedDrain).toBe(true)
      yield* turns(50)
      expect(state.pulls).toBe(pulls)
      expect(writing.unsafePoll()).toBeNull()
      expect(client.statusCode).toBe(200)
      expect(client.headers["x-test"]).toBe("yes")
      // the client reads: every chunk arrives, in order, and the response ends
      const received = yield* Effect.promise(
        () =>
          new Promise<Buffer>((resolve) => {
            const parts: Array<Buffer> = []
            client.on("data", (part: Buffer) => parts.push(part))
            client.on("end", () => resolve(Buffer.concat(parts)))
            client.resume()
          })
      )
      expect(yield* Fiber.await(writing)).toEqual(Exit.void)
      expect(received.length).toBe(chunks * chunkBytes)
      for (let index = 0; index < chunks; index++) expect(received[index * chunkBytes]).toBe(index % 256)
      expect(state.pulls).toBe(chunks + 1)
      expect(response.writableEnded).toBe(true)
    }))

  it.scopedLive("a client that leaves while the writer waits for drain does not leave it waiting", () =>
    Effect.gen(function* () {
      const { response, client: answered } = yield* exchange
      const { state, pull } = counted()
      const writing = yield* Effect.fork(NodeBody.write(response, 200, {}, pull))
      const client = yield* Effect.promise(() => answered)
      yield* turns(50)
      expect(state.pulls).toBeLessThan(chunks)
      expect(writing.unsafePoll()).toBeNull()
      const pulls = state.pulls
      client.destroy()
      // the close wakes the writer, and with the response destroyed it stops after the read in hand
      expect(yield* Fiber.await(writing)).toEqual(Exit.void)
      expect(response.destroyed).toBe(true)
      expect(state.pulls).toBe(pulls + 1)
    }))

  it.scoped("a client that leaves the socket full for the send timeout has its response closed, and no more is read for it", () =>
    Effect.gen(function* () {
      const { response, client: answered } = yield* exchange
      const { state, pull } = counted()
      const stalls: Array<string> = []
      const stall = { sendTimeout: Duration.seconds(60), onStall: () => stalls.push("stalled") }
      const writing = yield* Effect.fork(NodeBody.write(response, 200, {}, pull, stall))
      const client = yield* Effect.promise(() => answered)
      yield* turns(50)
      const pulls = state.pulls
      expect(response.writableNeedDrain).toBe(true)
      // (the test's clock: the socket's events come by turns of the event loop, the timeout by the clock)
      yield* TestClock.adjust(Duration.seconds(59))
      yield* turns(5)
      expect(writing.unsafePoll()).toBeNull()
      expect(stalls).toEqual([])
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* Fiber.await(writing)).toEqual(Exit.void)
      expect(stalls).toEqual(["stalled"])
      expect(response.destroyed).toBe(true)
      expect(state.pulls).toBe(pulls)
      expect(response.listenerCount("drain")).toBe(0)
      // the client sees its body cut, not an end
      const ended = yield* Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            client.on("aborted", () => resolve("cut"))
            client.on("error", () => resolve("cut"))
            client.on("end", () => resolve("ended"))
            client.resume()
          })
      )
      expect(ended).toBe("cut")
    }))

  it.scoped("a client that reads within the send timeout gets every byte, however long the whole takes", () =>
    Effect.gen(function* () {
      const { response, client: answered } = yield* exchange
      const { state, pull } = counted()
      const stalls: Array<string> = []
      const writing = yield* Effect.fork(
        NodeBody.write(response, 200, {}, pull, { sendTimeout: Duration.seconds(60), onStall: () => stalls.push("stalled") })
      )
      const client = yield* Effect.promise(() => answered)
      const parts: Array<Buffer> = []
      client.on("data", (part: Buffer) => parts.push(part))
      // each wait for drain is short of the timeout, their sum well past it
      while (writing.unsafePoll() === null) {
        yield* turns(20)
        yield* TestClock.adjust(Duration.seconds(50))
        client.resume()
        yield* turns(20)
        client.pause()
      }
      client.resume()
      expect(yield* Fiber.await(writing)).toEqual(Exit.void)
      expect(stalls).toEqual([])
      expect(state.pulls).toBe(chunks + 1)
      expect(response.writableEnded).toBe(true)
    }))

  it.scopedLive("interrupting the writer while it waits for drain stops it there", () =>
    Effect.gen(function* () {
      const { response } = yield* exchange
      const { state, pull } = counted()
      const writing = yield* Effect.fork(NodeBody.write(response, 200, {}, pull))
      yield* turns(50)
      const pulls = state.pulls
      yield* Fiber.interrupt(writing)
      yield* turns(5)
      expect(state.pulls).toBe(pulls)
      expect(response.listenerCount("drain")).toBe(0)
      // cut short: closed, and marked ended, so that nobody writes a second head on it
      expect(response.destroyed).toBe(true)
      expect(response.writableEnded).toBe(true)
    }))

  it.scopedLive("a pull that dies after the head closes the response: the client sees it end, not a body that never does", () =>
    Effect.gen(function* () {
      const { response, client: answered } = yield* exchange
      let reads = 0
      const pull: NodeBody.Pull = Effect.suspend(() =>
        reads++ === 0 ? Effect.succeed(Chunk.of(new TextEncoder().encode("data: one\n\n"))) : Effect.die(new Error("broken"))
      )
      const exit = yield* Effect.exit(NodeBody.write(response, 200, {}, pull))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(response.destroyed).toBe(true)
      expect(response.writableEnded).toBe(true)
      // the connection closes: before the head reached the client (its request fails), or after (its body does)
      const ended = yield* Effect.promise(() =>
        answered.then(
          (client) =>
            new Promise<string>((resolve) => {
              client.on("error", () => resolve("body failed"))
              client.on("aborted", () => resolve("body failed"))
              client.on("end", () => resolve("body ended"))
              client.resume()
            }),
          () => "request failed"
        )
      )
      expect(["request failed", "body failed"]).toContain(ended)
    }))
})
