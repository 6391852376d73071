/**
 * `sendTimeout`: a client that asks for a stream and stops reading it (its
 * socket stays full) has its response closed once the timeout passes, the
 * upstream call cancelled, and its log line says so; the setting is checked
 * where it is given. Real HTTP on 127.0.0.1 (port 0) and a raw client that
 * never reads; the timeout runs on the test's clock, the sockets by turns of
 * the event loop.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Logger, LogLevel, TestClock } from "effect"
import * as Config from "../src/config/Config.js"
import * as Gateway from "../src/gateway/Gateway.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { turns } from "./support/clock.js"
import { rawPost, rawUpstream, sse } from "./support/raw.js"

/** A long answer: 3,000 chunks of 8 KiB of text, about 25 MB of SSE, more than the sockets' buffers hold. */
const longAnswer = () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    id: "c",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-4.1-mini",
    choices: [{ index: 0, delta, finish_reason: finish }]
  })
  const text = "x".repeat(8192)
  return sse(
    chunk({ role: "assistant", content: "" }),
    ...Array.from({ length: 3000 }, () => chunk({ content: text })),
    chunk({}, "stop"),
    "[DONE]"
  )
}


describe("Gateway sendTimeout", () => {
  it.scoped("a client that stops reading a stream has it closed after the send timeout, and the line says client-stalled", () =>
    Effect.gen(function* () {
      const body = longAnswer()
      const { baseUrl } = yield* rawUpstream(() => ({ body }))
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        lines.push(`${Array.isArray(message) ? message.join(" ") : String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
      })
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", baseUrl })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const gateway = yield* Gateway.make({ router, port: 0, sendTimeout: "60 seconds" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const request = JSON.stringify({ model: "default", stream: true, messages: [{ role: "user", content: "hi" }] })
      const socket = yield* rawPost(gateway.port, "/v1/chat/completions", `content-length: ${Buffer.byteLength(request)}\r\n`, request, { paused: true })
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
      // the answer fills the sockets, then the gateway waits for a drain that never comes
      yield* turns(1500)
      expect(lines.filter((line) => line.includes("POST /v1/chat/completions"))).toEqual([])
      yield* TestClock.adjust(Duration.seconds(59))
      yield* turns(20)
      expect(lines.filter((line) => line.includes("POST /v1/chat/completions"))).toEqual([])
      yield* TestClock.adjust(Duration.seconds(1))
      yield* turns(50)
      const line = lines.find((line) => line.includes("POST /v1/chat/completions 200"))
      expect(line).toBeDefined()
      expect(line).toContain('"outcome":"client-stalled"')
      socket.resume()
      yield* Effect.promise(() => closed)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.All), Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a send timeout that is no positive duration is refused by Gateway.make, and by a config at its path", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini" })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      for (const sendTimeout of ["0 seconds", "-1 second", "soon"]) {
        const exit = yield* Effect.exit(Gateway.make({ router, port: 0, sendTimeout: sendTimeout as Duration.DurationInput }))
        expect(exit._tag === "Failure" && Cause.pretty(exit.cause), sendTimeout).toContain("Gateway: sendTimeout must be a duration longer than zero")
      }
      const parsed = yield* Effect.either(
        Config.parse(["providers: { sim: { type: simulated } }", "models: { mini: { provider: sim, model: m } }", "gateway: { sendTimeout: 0 }"].join("\n"))
      )
      expect(parsed._tag === "Left" && JSON.stringify(parsed.left)).toContain("gateway.sendTimeout")
      const good = yield* Config.parse(
        ["providers: { sim: { type: simulated } }", "models: { mini: { provider: sim, model: m } }", "gateway: { sendTimeout: \"2 minutes\" }"].join("\n")
      )
      expect(Duration.toSeconds(Config.gatewaySettings(good.config).sendTimeout!)).toBe(120)
    }))
})
