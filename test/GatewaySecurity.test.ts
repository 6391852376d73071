/**
 * The gateway against a security review's findings (secrev): each test
 * failed on the code as it was. Real HTTP on 127.0.0.1 (port 0).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Gateway from "../src/gateway/Gateway.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/router/Router.js"
import { json, rawUpstream, send } from "./support/raw.js"

const key = "gw-secrev-test-key"
const bearer = { "content-type": "application/json", authorization: `Bearer ${key}` }
const chat = JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }] })

describe("an upstream 400 that quotes the provider's key masked", () => {
  it.scopedLive("reaches the client with none of the key's first or last characters (OpenAI masks keys as sk-abcd****wxyz)", () =>
    Effect.gen(function* () {
      const providerKey = "sk-proj-SECREVabcdefghijklmnopqrstuvwxyz0123456789"
      const masked = `${providerKey.slice(0, 14)}${"*".repeat(20)}${providerKey.slice(-4)}`
      const upstream = yield* rawUpstream(() =>
        json(400, { error: { message: `Invalid request for key ${masked}: 'messages' is malformed.`, type: "invalid_request_error" } })
      )
      const model = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(providerKey), baseUrl: upstream.baseUrl })
      const router = yield* Router.make({ targets: { mini: { model } }, chains: { default: ["mini"] } })
      const gateway = yield* Gateway.make({ router, port: 0, keys: [Redacted.make(key)] })
      const answer = yield* send(gateway.url, "POST", "/v1/chat/completions", bearer, chat)
      expect(answer.status, answer.text).toBe(400)
      expect(answer.text).toContain("Invalid request for key [redacted]: 'messages' is malformed.")
      expect(answer.text).not.toContain(providerKey.slice(0, 8))
      expect(answer.text).not.toContain(providerKey.slice(-4))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )
})
