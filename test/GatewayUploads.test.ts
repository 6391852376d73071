/**
 * `maxBufferedBytes`: the request bodies being read at once hold at most
 * that many bytes between them. A body counts its announced length from its
 * head (or its bytes as they arrive, chunked), until it is read whole or
 * given up; past the budget, 429 `gateway_busy` with the connection closed.
 * Real HTTP on 127.0.0.1 (port 0), raw clients that send a head and hold
 * their body back.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Redacted } from "effect"
import type * as Net from "node:net"
import * as Config from "../src/config/Config.js"
import * as Gateway from "../src/gateway/Gateway.js"
import { Budget } from "../src/gateway/internal/body.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { turns } from "./support/clock.js"
import { rawPost, type RawResponse, send } from "./support/raw.js"

const body = (padding: number) =>
  JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }], user: "x".repeat(padding) })

const setup = Effect.gen(function* () {
  const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
  const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
  return yield* Gateway.make({ router, port: 0, maxBodyBytes: 1000, maxBufferedBytes: 2000 })
})

/** A client that sends a chat request's head (with `headers`) and some of its body, and holds the rest back. */
const holding = (port: number, headers: string, first: string) => rawPost(port, "/v1/chat/completions", headers, first)

/** Sends `request` until `done` holds of its answer (the gateway reads the held heads by turns of its loop), at most 50 times. */
const until = (request: Effect.Effect<RawResponse>, done: (answer: RawResponse) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 50; i++) {
      const answer = yield* request
      if (done(answer)) return answer
      yield* turns(20)
    }
    return yield* Effect.dieMessage("the answer never came")
  })

/** What a raw client read of its answer, once the gateway closed the connection. */
const answerOf = (socket: Net.Socket) =>
  Effect.async<string>((resume) => {
    let text = ""
    socket.setEncoding("utf8")
    socket.on("data", (piece: string) => (text += piece))
    socket.once("close", () => resume(Effect.succeed(text)))
  })

describe("Gateway maxBufferedBytes", () => {
  it.scopedLive("bodies held back by announced length fill the budget: the next gets a 429 unread, and is served once they go", () =>
    Effect.gen(function* () {
      const gateway = yield* setup
      const post = (text: string) => send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, text)
      // alone, a body of 900 bytes is served
      expect((yield* post(body(800))).status).toBe(200)
      const first = yield* holding(gateway.port, "content-length: 1000\r\n", "{")
      const second = yield* holding(gateway.port, "content-length: 1000\r\n", "{")
      const refused = yield* until(post(body(100)), (answer) => answer.status === 429)
      expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "gateway_busy", type: "rate_limit_exceeded" } })
      expect(refused.headers["connection"]).toBe("close")
      expect(refused.headers["retry-after"]).toBe("1")
      // the holders go: their bytes are given back
      first.destroy()
      second.destroy()
      const served = yield* until(post(body(800)), (answer) => answer.status !== 429)
      expect(served.status).toBe(200)
    }))

  it.scopedLive("a chunked body counts its bytes as they arrive", () =>
    Effect.gen(function* () {
      const gateway = yield* setup
      const post = (text: string) => send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json" }, text)
      // 900 bytes arrived of each of two chunked bodies that never end: 200 left in the budget
      const chunk = "x".repeat(900)
      const part = `${chunk.length.toString(16)}\r\n${chunk}\r\n`
      const chunked = yield* holding(gateway.port, "transfer-encoding: chunked\r\n", part)
      const other = yield* holding(gateway.port, "transfer-encoding: chunked\r\n", part)
      expect(body(100).length).toBeLessThan(200)
      const refused = yield* until(post(body(700)), (answer) => answer.status === 429)
      expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "gateway_busy" } })
      // a body that fits in what is left is served beside it
      expect((yield* post(body(100))).status).toBe(200)
      chunked.destroy()
      other.destroy()
      expect((yield* until(post(body(700)), (answer) => answer.status !== 429)).status).toBe(200)
    }))

  it.scopedLive("a client's key holds a quarter of the budget at most (one whole body at least): its slow uploads refuse no other key's request", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: 0 })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const gateway = yield* Gateway.make({
        router,
        port: 0,
        maxBodyBytes: 1000,
        maxBufferedBytes: 2000,
        keys: [
          Redacted.make("gw-uploads-bare"),
          { key: Redacted.make("gw-uploads-slow"), name: "slow", rpm: 1 },
          { key: Redacted.make("gw-uploads-other"), name: "other" }
        ]
      })
      const post = (key: string) =>
        send(gateway.url, "POST", "/v1/chat/completions", { "content-type": "application/json", authorization: `Bearer ${key}` }, body(100))
      // the slow key announces two whole bodies and sends a byte of each: the second passes its share (1000 bytes)
      const slow = "authorization: Bearer gw-uploads-slow\r\ncontent-length: 1000\r\n"
      const uploads = [yield* holding(gateway.port, slow, "{"), yield* holding(gateway.port, slow, "{")]
      // (answered at once; before, neither was, for the bodyTimeout of 30 s)
      const refused = yield* Effect.raceAll(uploads.map(answerOf)).pipe(Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "neither upload refused" }))
      expect(refused).toMatch(/^HTTP\/1\.1 429/)
      expect(refused).toContain(`"code":"gateway_busy"`)
      expect(refused).toContain("request bodies of the key 'slow'")
      // the bare key and another client's key are served beside the one it holds (before: 429 gateway_busy until its
      // bodyTimeout, again and again)
      expect((yield* until(post("gw-uploads-bare"), (answer) => answer.status !== 429)).status).toBe(200)
      expect((yield* post("gw-uploads-other")).status).toBe(200)
      // its share back once its upload goes
      for (const upload of uploads) upload.destroy()
      expect((yield* until(post("gw-uploads-slow"), (answer) => answer.status !== 429)).status).toBe(200)
    }))

  it("a Budget takes what fits and gives it back", () => {
    const budget = new Budget(100)
    expect(budget.take(60)).toBe(true)
    expect(budget.take(50)).toBe("full")
    expect(budget.used).toBe(60)
    budget.give(60)
    expect(budget.take(100)).toBe(true)
  })

  it("a Budget holds each owner to its share, and the whole to its limit", () => {
    const budget = new Budget(100, 40)
    expect(budget.take(30, "a")).toBe(true)
    expect(budget.take(20, "a")).toBe("share")
    expect(budget.take(40, "b")).toBe(true)
    expect(budget.take(31)).toBe("full")
    expect(budget.take(31, "c")).toBe("full")
    expect(budget.used).toBe(70)
    budget.give(30, "a")
    expect(budget.take(40, "a")).toBe(true)
  })

  it.scoped("a budget smaller than one body is refused: by Gateway.make, and by a config at its path", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const exit = yield* Effect.exit(Gateway.make({ router, port: 0, maxBodyBytes: 2000, maxBufferedBytes: 1000 }))
      expect(exit._tag === "Failure" && Cause.pretty(exit.cause)).toContain("Gateway: maxBufferedBytes (1000) must be at least maxBodyBytes (2000)")
      const parsed = yield* Effect.either(
        Config.parse(["providers: { sim: { type: simulated } }", "models: { mini: { provider: sim, model: m } }", "gateway: { maxBufferedBytes: 1000 }"].join("\n"))
      )
      expect(parsed._tag === "Left" && JSON.stringify(parsed.left)).toContain("gateway.maxBufferedBytes")
      expect(parsed._tag === "Left" && JSON.stringify(parsed.left)).toContain("must be at least maxBodyBytes (1048576)")
    }))
})
