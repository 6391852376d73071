/**
 * The setup of the gateway's route tests: two mock upstreams, a router with
 * the chain `default` = [primary, secondary] (one attempt a target), and
 * the gateway over it on 127.0.0.1, port 0. The primary speaks OpenAI's wire
 * format; the secondary the one a test names, so each route is seen over a
 * provider of another format than its own.
 */
import { Effect, Logger, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Router from "../../src/router/Router.js"
import * as MockServer from "../../src/testing/MockServer.js"

/** The key the adapters send upstream: a test checks it never reaches a client. */
export const upstreamKey = "sk-upstream-secret-123"

/** What a route test may set. */
export interface Options {
  readonly primary?: MockServer.Options
  readonly secondary?: MockServer.Options
  readonly gateway?: Omit<Gateway.Options, "router">
  /** The key the test's client sends (default `"unused"`). */
  readonly apiKey?: string
}

/** The gateway's log lines (one a request) kept out of the test's output. */
export const quiet = Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(() => undefined)))

/** The two upstreams and the gateway over them; the secondary's wire format is `secondary`'s. */
export const make = (secondaryFormat: "anthropic" | "gemini", options: Options = {}, quietLogs = false) =>
  Effect.gen(function* () {
    const primary = yield* MockServer.make(options.primary)
    const secondary = yield* MockServer.make(options.secondary)
    const gpt = yield* OpenAi.make({ model: "gpt-4.1-mini", apiKey: Redacted.make(upstreamKey), baseUrl: primary.baseUrls.openai })
    const other = secondaryFormat === "anthropic"
      ? yield* Anthropic.make({ model: "claude-haiku-4-5", apiKey: Redacted.make(upstreamKey), baseUrl: secondary.baseUrls.anthropic })
      : yield* Gemini.make({ model: "gemini-2.5-flash", apiKey: Redacted.make(upstreamKey), baseUrl: secondary.baseUrls.gemini })
    const router = yield* Router.make({
      targets: { primary: { model: gpt }, secondary: { model: other } },
      chains: { default: ["primary", "secondary"] },
      policy: { retry: { maxAttempts: 1 } }
    })
    const made = Gateway.make({ router, port: 0, ...options.gateway })
    const gateway = yield* quietLogs ? quiet(made) : made
    return { primary, secondary, gateway }
  })
