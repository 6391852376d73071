import { FetchHttpClient, FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Exit, FastCheck as fc, Fiber, Logger, LogLevel, Redacted, Schema, TestClock } from "effect"
import { inspect } from "node:util"
import { Config, Demo } from "../src/config/index.js"
import * as Secret from "../src/config/internal/secret.js"
import type * as Gateway from "../src/gateway/Gateway.js"
import { Chat } from "../src/llm/index.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"

const fakeKeys = new Map([
  ["OPENAI_API_KEY", "sk-openai-FAKE-0001"],
  ["ANTHROPIC_API_KEY", "sk-ant-FAKE-0002"],
  ["GEMINI_API_KEY", "AIza-FAKE-0003"],
  ["GATEWAY_KEY", "gw-FAKE-0004"]
])

/** Supplies environment variables through Effect's ConfigProvider. */
const withEnv =
  (env: ReadonlyMap<string, string>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(env)))

const parseOk = (text: string, options?: Config.ParseOptions, env: ReadonlyMap<string, string> = fakeKeys) =>
  Config.parse(text, options).pipe(withEnv(env))

const parseFail = (text: string, options?: Config.ParseOptions, env: ReadonlyMap<string, string> = fakeKeys) =>
  Config.parse(text, options).pipe(withEnv(env), Effect.flip)

const paths = (error: Config.ConfigError) => error.problems.map((p) => p.path)

const minimal = `
providers:
  sim: { type: simulated, latency: "300 millis" }
models:
  echo: { provider: sim }
`

describe("Config.parse: formats", () => {
  const yaml = `
providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
  sim: { type: simulated, latency: { p50: "400 millis", p99: "2 seconds" }, faults: [] }
models:
  mini: { provider: openai, model: gpt-4.1-mini, price: { input: 0.4, output: 1.6 } }
  echo: { provider: sim, contextWindow: 8000 }
chains:
  default: [mini, echo]
  premium: { strategy: priority, targets: [echo, mini] }
policy: { retry: { maxAttempts: 3, jitter: equal }, timeouts: { total: "1 minute" } }
`
  const json = JSON.stringify({
    providers: {
      openai: { type: "openai", apiKey: "env:OPENAI_API_KEY" },
      sim: { type: "simulated", latency: { p50: "400 millis", p99: "2 seconds" }, faults: [] }
    },
    models: {
      mini: { provider: "openai", model: "gpt-4.1-mini", price: { input: 0.4, output: 1.6 } },
      echo: { provider: "sim", contextWindow: 8000 }
    },
    chains: { default: ["mini", "echo"], premium: { strategy: "priority", targets: ["echo", "mini"] } },
    policy: { retry: { maxAttempts: 3, jitter: "equal" }, timeouts: { total: "1 minute" } }
  }, null, 2)

  /** The decoded config with its secret unwrapped, to compare two decodes. */
  const comparable = ({ config }: Config.Parsed) => {
    const openai = config.providers["openai"]
    const key = openai?.type === "openai" && openai.apiKey !== undefined ? Redacted.value(openai.apiKey) : undefined
    return { ...config, providers: { ...config.providers, openai: { ...openai, apiKey: key } } }
  }

  it.effect("YAML and JSON decode to the same config", () =>
    Effect.gen(function* () {
      const fromYaml = yield* parseOk(yaml, { source: "router.yaml" })
      const fromJson = yield* parseOk(json, { source: "router.json" })
      expect(comparable(fromJson)).toEqual(comparable(fromYaml))
      expect(fromYaml.config.models["mini"]).toEqual({
        provider: "openai",
        model: "gpt-4.1-mini",
        price: { input: 0.4, output: 1.6 }
      })
      expect(fromYaml.config.chains?.["premium"]).toEqual({ strategy: "priority", targets: ["echo", "mini"] })
      expect(fromYaml.config.policy?.retry).toEqual({ maxAttempts: 3, jitter: "equal" })
    })
  )

  it.effect("detects the format by extension, else by content, and keeps JSON strict", () =>
    Effect.gen(function* () {
      // JSON without a source is recognised by its opening brace
      const detected = yield* parseOk(json)
      expect(Object.keys(detected.config.models)).toEqual(["mini", "echo"])
      // YAML-only syntax in a .json file is an error, located
      const error = yield* parseFail("{ providers: { sim: { type: simulated } }, # comment\n}", { source: "x.json" })
      expect(error.source).toBe("x.json")
      expect(error.problems).toHaveLength(1)
      expect(error.problems[0]?.message).toMatch(/^not valid JSON/)
    })
  )

  it.effect("a JSON file's syntax error is JSON's, at its line and column, not YAML's reading of it", () =>
    Effect.gen(function* () {
      const problems = (text: string, source?: string) =>
        parseFail(text, source === undefined ? {} : { source }).pipe(Effect.map((e) => e.problems.map(Config.formatProblem)))
      // a missing comma: YAML said "Implicit keys need to be on a single line", "Implicit map keys need to be
      // followed by map values", ... (four problems), none of them JSON's
      const missingComma = '{\n  "providers": { "sim": { "type": "simulated" } }\n  "models": { "m": { "provider": "sim" } }\n}'
      const expected = ["line 3, column 3: not valid JSON: Expected ',' or '}' after property value"]
      expect(yield* problems(missingComma, "router.json")).toEqual(expected)
      expect(yield* problems(missingComma)).toEqual(expected)
      // a trailing comma, which YAML reads: JSON's error, and that the text reads as YAML
      expect(yield* problems('{\n  "providers": { "sim": { "type": "simulated", } }\n}', "router.json")).toEqual([
        "line 2, column 48: not valid JSON: Expected double-quoted property name (the text reads as YAML: name the file .yaml, or fix the JSON)"
      ])
      // a misspelt literal, for which V8 gives no position, and a text cut short
      expect(yield* problems('{\n  "providers": { "sim": { "type": tru } }\n}', "router.json")).toEqual([
        "line 2, column 38: not valid JSON: Unexpected token ' ' (the text reads as YAML: name the file .yaml, or fix the JSON)"
      ])
      expect(yield* problems('{\n  "providers": {\n', "router.json")).toEqual([
        "line 3, column 1: not valid JSON: Expected property name or '}'"
      ])
      // the source around the error is never quoted: it may hold a secret
      const secret = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
      for (const text of [`{ "providers": { "a": { "type": "openai", "apiKey": "${secret}" x } } }`, `{ "k": "${secret}" } }`, `{ "k": ${secret} }`]) {
        const found = yield* problems(text, "router.json")
        expect(found).toHaveLength(1)
        expect(found[0]).toMatch(/^line 1, column \d+: not valid JSON: /)
        expect(found[0]).not.toContain("abcdefgh")
      }
    })
  )

  it.effect("durations are Effect duration strings or numbers of milliseconds", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`${minimal}
policy:
  timeouts: { attempt: "30 seconds", firstToken: 2500, total: "2 minutes" }
  retry: { base: 250, cap: "5 seconds" }
`)
      expect(config.policy?.timeouts).toEqual({
        attempt: Duration.seconds(30),
        firstToken: Duration.millis(2500),
        total: Duration.minutes(2)
      })
      expect(config.policy?.retry).toEqual({ base: Duration.millis(250), cap: Duration.seconds(5) })

      const error = yield* parseFail(`${minimal}
policy:
  timeouts: { attempt: "soon", firstToken: -5, total: 0 }
`)
      expect(paths(error)).toEqual(["policy.timeouts.attempt", "policy.timeouts.firstToken", "policy.timeouts.total"])
      expect(error.problems[0]?.message).toMatch(/Expected a duration such as "30 seconds".*got "soon"/)
      expect(error.problems[2]?.message).toBe("must be longer than zero")
    })
  )

  it.effect("a duration written as a bare number under 1000 is warned of, wherever a duration is read: it is milliseconds", () =>
    Effect.gen(function* () {
      const warned = (text: string) => parseOk(text).pipe(Effect.map(({ warnings }) => warnings.map(Config.formatProblem)))
      expect(yield* warned(`${minimal}policy: { timeouts: { attempt: 30, total: 120 } }\n`)).toEqual([
        `policy.timeouts.attempt: 30 is 30 milliseconds; write "30 seconds" if you meant seconds (or "30 millis") (line 6, column 32)`,
        `policy.timeouts.total: 120 is 120 milliseconds; write "120 seconds" if you meant seconds (or "120 millis") (line 6, column 43)`
      ])
      // backoff, open durations, windows, a model's policy, the gateway's, a simulated provider's: by what is read, not by where
      expect(yield* warned(`
providers:
  sim: { type: simulated, latency: 1, faults: [{ from: 5, to: "2 minutes", status: 529 }] }
models:
  echo: { provider: sim, policy: { retry: { base: 250, cap: "5 seconds" } } }
policy:
  breaker: { openDuration: { base: 1.5 }, failureRate: { threshold: 0.5, window: 20 }, slowCallRate: { threshold: 0.5, slowCall: 900, window: 10 } }
health: { window: 60 }
gateway: { requestTimeout: 300, drainTimeout: 0, bodyTimeout: 1000 }
`)).toEqual([
        `providers.sim.latency: 1 is 1 millisecond; write "1 second" if you meant seconds (or "1 millis") (line 3, column 36)`,
        `providers.sim.faults[0].from: 5 is 5 milliseconds; write "5 seconds" if you meant seconds (or "5 millis") (line 3, column 56)`,
        `models.echo.policy.retry.base: 250 is 250 milliseconds; write "250 seconds" if you meant seconds (or "250 millis") (line 5, column 51)`,
        `policy.breaker.openDuration.base: 1.5 is 1.5 milliseconds; write "1.5 seconds" if you meant seconds (or "1.5 millis") (line 7, column 36)`,
        `policy.breaker.slowCallRate.slowCall: 900 is 900 milliseconds; write "900 seconds" if you meant seconds (or "900 millis") (line 7, column 130)`,
        `health.window: 60 is 60 milliseconds; write "60 seconds" if you meant seconds (or "60 millis") (line 8, column 19)`,
        `gateway.requestTimeout: 300 is 300 milliseconds; write "300 seconds" if you meant seconds (or "300 millis") (line 9, column 28)`
      ])
      // a repeated fault (which the decode expands into its windows): its fault and its repetition, and the faults after it
      expect(yield* warned(`
providers:
  sim:
    type: simulated
    faults:
      - { repeat: { every: "2 minutes", until: "1 hour" }, fault: { from: 30, to: "1 minute", status: 529 } }
      - { repeat: { every: 500, until: "1 minute" }, fault: { from: "0 seconds", to: 100, status: 500 } }
      - { from: "2 hours", to: "3 hours", latency: 45 }
      - { from: "4 hours", to: "5 hours", status: 429, retryAfter: 30 }
models:
  echo: { provider: sim }
`)).toEqual([
        `providers.sim.faults[0].fault.from: 30 is 30 milliseconds; write "30 seconds" if you meant seconds (or "30 millis") (line 6, column 75)`,
        `providers.sim.faults[1].repeat.every: 500 is 500 milliseconds; write "500 seconds" if you meant seconds (or "500 millis") (line 7, column 28)`,
        `providers.sim.faults[1].fault.to: 100 is 100 milliseconds; write "100 seconds" if you meant seconds (or "100 millis") (line 7, column 86)`,
        `providers.sim.faults[2].latency: 45 is 45 milliseconds; write "45 seconds" if you meant seconds (or "45 millis") (line 8, column 52)`,
        `providers.sim.faults[3].retryAfter: 30 is 30 milliseconds; write "30 seconds" if you meant seconds (or "30 millis") (line 9, column 68)`
      ])
      // a breaker's window of calls, a count, zero, 1000 and more, and a string say nothing
      expect(yield* warned(`${minimal}policy: { retry: { maxAttempts: 3, base: "250 millis", cap: 5000 }, timeouts: { attempt: 1000 } }\n`)).toEqual([])
    })
  )

  it.prop(
    "a number of milliseconds and its duration string decode alike",
    { millis: fc.integer({ min: 1, max: 1e9 }) },
    ({ millis }) => {
      const decode = Schema.decodeUnknownSync(Config.FileSchema)
      const at = (total: number | string) =>
        decode({
          providers: { sim: { type: "simulated" } },
          models: { echo: { provider: "sim" } },
          policy: { timeouts: { attempt: total } }
        }).policy?.timeouts?.attempt
      const fromNumber = at(millis)
      expect(fromNumber).toEqual(Duration.millis(millis))
      expect(at(`${millis} millis`)).toEqual(fromNumber)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("Config.parse: problems", () => {
  it.effect("__proto__ is refused as a name, which the decoded config could not hold; other Object keys are names like any", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        `providers:\n  __proto__: { type: simulated }\n  constructor: { type: simulated }\nmodels:\n  toString: { provider: constructor }\nchains:\n  __proto__: [toString]\n  valueOf: [toString]\n`
      )
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["providers.__proto__", `"__proto__" cannot be a name; choose another`],
        ["chains.__proto__", `"__proto__" cannot be a name; choose another`]
      ])
      const { config } = yield* Config.parse(`providers:\n  constructor: { type: simulated }\nmodels:\n  toString: { provider: constructor }\nchains:\n  valueOf: [toString]\n`)
      expect(Object.keys(config.chains ?? {})).toEqual(["valueOf"])
    })
  )

  const manyMistakes = `providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
  anthropic: { type: anthropic, apiKey: "env:ANTHROPIC_API_KEY" }
models:
  mini: { provider: opeani, model: gpt-4.1-mini, price: { input: -1, output: 1.6 } }
  sonnet: { provider: anthropic, contextWindow: "large" }
chains:
  default: [sonnet, gpt5]
  premium: { targets: [sonnet, sonnet], contentPolicy: strict }
defaultChain: main
policy:
  timeouts: { total: "forever" }
stats: { url: "redis://127.0.0.1:6379" }
`

  it.effect("alerts: the fallback-rate alert's options and a webhook (its URL and headers secrets), as serve takes them", () =>
    Effect.gen(function* () {
      const env = new Map([...fakeKeys, ["HOOK_URL", "https://hooks.slack.com/services/T0/B0/s3cret"], ["HOOK_TOKEN", "tok-s3cret"]])
      const { config } = yield* parseOk(
        `${minimal}alerts:\n  fallbackRate: { threshold: 0.1, resolveBelow: 0.05, window: "10 minutes", minimumRequests: 50 }\n  webhook: { url: "env:HOOK_URL", format: slack, on: [breakers], source: eu-1, headers: { authorization: "env:HOOK_TOKEN" } }\n`,
        undefined,
        env
      )
      const { alert, webhook } = Config.alertSettings(config)
      expect(alert).toEqual({ threshold: 0.1, resolveBelow: 0.05, window: Duration.minutes(10), minimumRequests: 50 })
      expect(webhook === undefined ? undefined : Redacted.value(webhook.url)).toBe("https://hooks.slack.com/services/T0/B0/s3cret")
      expect(webhook?.format).toBe("slack")
      expect(webhook?.on).toEqual(["breakers"])
      expect(webhook?.source).toBe("eu-1")
      expect(Redacted.isRedacted(webhook?.headers?.["authorization"])).toBe(true)
      // written in the file, the URL (and a credential header) is warned of, never quoted
      const literal = yield* parseOk(
        `${minimal}alerts: { webhook: { url: "https://hooks.slack.com/services/T0/B0/s3cret", headers: { x-token: lit-s3cret, x-env: prod } } }\n`
      )
      expect(literal.warnings.map((w) => w.path)).toEqual(["alerts.webhook.url", "alerts.webhook.headers.x-token"])
      expect(JSON.stringify(literal.warnings)).not.toContain("s3cret")
      expect(Config.alertSettings((yield* parseOk(`${minimal}alerts: { fallbackRate: false }\n`)).config)).toEqual({ alert: false, webhook: undefined })
      expect(Config.alertSettings((yield* parseOk(minimal)).config)).toEqual({ alert: undefined, webhook: undefined })
    })
  )

  it.effect("alerts: every mistake at its path, and never the webhook's URL", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        `${minimal}alerts:\n  fallbackRate: { threshold: 0, resolveBelow: 0.2, chain: premuim }\n  webhook: { url: "ftp://hooks.example.com/s3cret", format: teams, on: [pages], headers: { "bad name": x } }\n`
      )
      const said = error.problems.map(Config.formatProblem)
      expect(said).toEqual([
        expect.stringMatching(/^alerts\.fallbackRate\.threshold: must be more than 0 and at most 1/),
        expect.stringMatching(/^alerts\.fallbackRate\.chain: unknown chain "premuim"/),
        expect.stringMatching(/^alerts\.webhook\.url: must be an http:\/\/ or https:\/\/ URL/),
        expect.stringMatching(/^alerts\.webhook\.format: Expected "json" \| "slack"/),
        expect.stringMatching(/^alerts\.webhook\.on\[0\]: Expected "alerts" \| "breakers"/),
        expect.stringMatching(/^alerts\.webhook\.headers\["bad name"\]: a header's name is letters/)
      ])
      expect(error.message).not.toContain("s3cret")
      const above = yield* parseFail(`${minimal}alerts: { fallbackRate: { resolveBelow: 0.2 } }\n`)
      expect(above.problems.map(Config.formatProblem)).toEqual([
        expect.stringMatching(/^alerts\.fallbackRate\.resolveBelow: must be at most the threshold \(0\.05\), or the alert would never resolve/)
      ])
      const unset = yield* parseFail(`${minimal}alerts: { webhook: { url: "env:NO_SUCH_HOOK" } }\n`)
      expect(unset.problems.map(Config.formatProblem)).toEqual([expect.stringMatching(/^alerts\.webhook\.url: environment variable NO_SUCH_HOOK is not set/)])
    })
  )

  it.effect("reports every mistake at once, each at its exact path and line", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(manyMistakes, { source: "many.yaml" }, new Map([["ANTHROPIC_API_KEY", "k"]]))
      expect(error._tag).toBe("ConfigError")
      expect(error.problems.map(Config.formatProblem)).toEqual([
        "providers.openai.apiKey: environment variable OPENAI_API_KEY is not set (line 2, column 35)",
        'models.mini.provider: unknown provider "opeani" (did you mean "openai"?) (line 5, column 21)',
        "models.mini.price.input: Expected a non-negative number, actual -1 (line 5, column 66)",
        'models.sonnet.contextWindow: Expected number, actual "large" (line 6, column 49)',
        'chains.default[1]: unknown model "gpt5" (known models: mini, sonnet) (line 8, column 21)',
        "chains.premium.targets[1]: model \"sonnet\" is already in this chain (at 0); retries belong in its policy's retry (line 9, column 32)",
        'chains.premium.contentPolicy: unknown chain "strict" (known chains: default, premium) (line 9, column 56)',
        'defaultChain: unknown chain "main" (known chains: default, premium) (line 10, column 15)',
        'policy.timeouts.total: Expected a duration such as "30 seconds", "250 millis" or "2 minutes", or a number of milliseconds, got "forever" (line 12, column 22)',
        "stats: unknown key (did you mean \"state\"? expected one of: providers, models, chains, defaultChain, tiers, policy, health, cache, shadowRate, gateway, state, alerts) (line 13, column 1)"
      ])
      expect(error.message).toBe(
        `invalid config many.yaml (10 problems):\n${error.problems.map((p) => `  ${Config.formatProblem(p)}`).join("\n")}`
      )
      // a readable list, never a stack trace
      expect(error.message).not.toMatch(/\n\s+at /)
    })
  )

  it.effect("the admin listener on the gateway's own port and address is a problem at gateway.admin.port, not an EADDRINUSE at serve", () =>
    Effect.gen(function* () {
      const said = (gateway: string) =>
        Config.parse(`${minimal}gateway: ${gateway}\n`).pipe(
          Effect.match({ onFailure: (error) => error.problems.map(Config.formatProblem), onSuccess: () => [] })
        )
      expect(yield* said("{ port: 9000, admin: { port: 9000 } }")).toEqual([
        "gateway.admin.port: 9000 is gateway.port too, on 127.0.0.1: the admin listener needs a port of its own (line 6, column 39)"
      ])
      // the gateway's default port, and every interface on either side
      expect(yield* said("{ admin: { port: 8787 } }")).toEqual([
        "gateway.admin.port: 8787 is gateway.port too, on 127.0.0.1: the admin listener needs a port of its own (line 6, column 27)"
      ])
      expect(yield* said("{ host: 0.0.0.0, port: 9000, admin: { host: 127.0.0.1, port: 9000 } }")).toEqual([
        "gateway.admin.port: 9000 is gateway.port too, on 0.0.0.0: the admin listener needs a port of its own (line 6, column 71)"
      ])
      expect(yield* said("{ host: 10.0.0.5, port: 9000, admin: { host: 0.0.0.0, port: 9000 } }")).toHaveLength(1)
      // a port of its own, another address, or 0 (a free port each) is fine
      for (const gateway of [
        "{ port: 9000, admin: { port: 9001 } }",
        "{ host: 10.0.0.5, port: 9000, admin: { port: 9000 } }",
        "{ port: 0, admin: { port: 0 } }"
      ]) {
        expect(yield* said(gateway), gateway).toEqual([])
      }
    })
  )

  it.effect("an unknown key is reported where the key is written, not where its value is", () =>
    Effect.gen(function* () {
      const at = (text: string, source?: string) =>
        parseFail(text, source === undefined ? {} : { source }).pipe(
          Effect.map((error) => error.problems.map((p) => [p.path, p.line, p.column]))
        )
      // a block mapping's value on the next line, and a flow mapping's key mid-line
      expect(yield* at([
        "providers:",
        "  sim: { type: simulated }",
        "models:",
        "  mini: { provider: sim, model: gpt-4.1-mini, contextwindow: 8000 }",
        "chians:",
        "  default: [mini]",
        ""
      ].join("\n"))).toEqual([
        ["models.mini.contextwindow", 4, 47],
        ["chians", 5, 1]
      ])
      // a quoted key, and JSON's
      expect(yield* at(`providers: { sim: { type: simulated, "lat ency": 5 } }\nmodels: { m: { provider: sim } }\n`)).toEqual([
        ['providers.sim["lat ency"]', 1, 38]
      ])
      expect(yield* at(`{\n  "providers": { "sim": { "type": "simulated" } },\n  "models": { "m": { "provider": "sim" } },\n  "chian": {}\n}`, "c.json")).toEqual([
        ["chian", 4, 3]
      ])
    })
  )

  it.effect("a model's responseFormats takes json_object and json_schema only, each mistake at its path", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        "providers:\n  sim: { type: simulated }\nmodels:\n  a: { provider: sim, responseFormats: [json_schema, json] }\n  b: { provider: sim, responseFormats: json_object }\n",
        { source: "formats.yaml" },
        new Map()
      )
      expect(error.problems.map((p) => p.path)).toEqual(["models.a.responseFormats[1]", "models.b.responseFormats"])
      expect(error.problems[0]?.message).toMatch(/"json_object" \| "json_schema"/)
    })
  )

  it.effect("a YAML syntax error is reported with its line and column", () =>
    Effect.gen(function* () {
      const error = yield* parseFail("providers:\n  sim: { type: simulated }\nmodels:\n  echo: { provider: sim ]\n")
      expect(error.problems).toEqual([
        {
          path: "",
          message: "Flow map in block collection must be sufficiently indented and end with a }",
          line: 4,
          column: 25
        }
      ])
      expect(Config.formatProblem(error.problems[0]!)).toBe(
        "line 4, column 25: Flow map in block collection must be sufficiently indented and end with a }"
      )
    })
  )

  it.effect("duplicate keys, an empty file and a non-mapping are problems too", () =>
    Effect.gen(function* () {
      const duplicate = yield* parseFail(`${minimal}models:\n  other: { provider: sim }\n`)
      expect(duplicate.problems[0]).toMatchObject({ path: "", line: 6, message: "Map keys must be unique" })
      const empty = yield* parseFail("# nothing here\n")
      expect(empty.problems).toEqual([{ path: "", message: "the config is empty: it needs at least providers and models" }])
      const list = yield* parseFail("- a\n- b\n")
      expect(list.problems[0]?.message).toMatch(/^the config must be a mapping of providers, models/)
    })
  )

  it.effect("checks every name: providers, chain members, contentPolicy, defaultChain and tiers", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  sim: { type: simulated }
models:
  alpha: { provider: sim }
  beta: { provider: sims }
chains:
  main: { targets: [alpha, betta, c], contentPolicy: main }
tiers: { simple: alpha, moderate: main, complex: premium }
defaultChain: default
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'models.beta.provider: unknown provider "sims" (did you mean "sim"?)',
        'chains.main.targets[1]: unknown model "betta" (did you mean "beta"?)',
        'chains.main.targets[2]: unknown model "c" (known models: alpha, beta)',
        'tiers.complex: unknown chain or model "premium" (known chains and models: main, alpha, beta)',
        'defaultChain: unknown chain "default" (known chains: main)'
      ])
    })
  )

  it.effect("a chain may share a model's name (the chain wins); without chains, one default chain holds every model", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  fast: { provider: sim }
  slow: { provider: sim }
chains:
  fast: [slow, fast]
`)
      const routerConfig = yield* Config.toRouterConfig(config)
      // chains of two or more models hedge at the primary's p95 by default
      expect(routerConfig.chains["fast"]).toEqual({ targets: ["slow", "fast"], hedge: { delay: "p95" } })
      const implicit = yield* Config.toRouterConfig((yield* parseOk(minimal)).config)
      expect(implicit.chains).toEqual({ default: ["echo"] })
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.effect("an empty chains map is a mistake at chains (leaving chains out is one default chain)", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`${minimal}chains: {}\n`)
      expect(error.problems.map(Config.formatProblem)).toEqual([
        "chains: at least one chain is needed (leave chains out for one chain `default` of every model) (line 6, column 9)"
      ])
      const { config } = yield* parseOk(minimal)
      expect(config.chains).toBeUndefined()
    })
  )

  it.effect("reports problems inside providers, faults and policies at their paths", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  weird: { type: opeani }
  local: { type: openai, baseUrl: "ftp://example" }
  sim:
    type: simulated
    latency: { p50: "2 seconds", p99: "1 second" }
    faults:
      - { from: "1 minute", to: "2 minutes", status: 700 }
      - { status: 500, latency: "3 seconds" }
      - repeat: { every: "3 minutes" }
        fault: { from: "1 minute", status: 529 }
models:
  a: { provider: sim, policy: { retry: { jitter: wild }, breaker: { failureRate: { threshold: 0.5, window: 10, minimumCalls: 20 }, probeBeforeTrip: "yes" } } }
chains:
  default: { targets: [a], strategy: fastest, race: 2, hedge: { delay: p95 } }
  other: 5
  both: { targets: [a], race: 2, hedge: { delay: p95 } }
policy: { bulkhead: true }
gateway: { port: 70000 }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'providers.weird.type: unknown provider type "opeani" (expected one of: openai, anthropic, gemini, simulated)',
        "providers.local.baseUrl: must be an http:// or https:// URL",
        "providers.sim.latency: p99 must not be below p50",
        "providers.sim.faults[0].status: Expected a number between 400 and 599, actual 700",
        "providers.sim.faults[1]: a fault needs exactly one of status, latency, reset or cutAfterTokens, not status and latency",
        "providers.sim.faults[2]: a repeated fault needs an end (`to`)",
        'models.a.policy.retry.jitter: Expected "none" | "full" | "equal" | "decorrelated" | "proportional", actual "wild"',
        "models.a.policy.breaker.failureRate: minimumCalls (20) exceeds the window of 10 calls",
        'models.a.policy.breaker.probeBeforeTrip: Expected boolean, actual "yes"',
        "chains.default: race and hedge cannot both be set",
        'chains.default.strategy: Expected "priority" | "weighted" | "health" | "latency" | "cost", actual "fastest"',
        "chains.other: Expected a list of model names, or { targets, strategy, ... }, actual 5",
        "chains.both: race and hedge cannot both be set",
        "policy.bulkhead: Expected false (off) or { maxConcurrent, maxQueued, queueTimeout }, actual true",
        "gateway.port: Expected a number between 0 and 65535, actual 70000"
      ])
    })
  )

  it.effect("a rule across fields is reported beside a sibling's mistake, in the same run", () =>
    Effect.gen(function* () {
      // each mapping breaks a rule across two of its fields and has a mistake in a third; before, Schema ran
      // the rule only once every field decoded, so the rule's problem showed only after the other was fixed
      const error = yield* parseFail(`
providers:
  sim:
    type: simulated
    latency: { p50: "2 seconds", p99: "1 second", p90: "1 second" }
    faults:
      - { from: "2 minutes", to: "1 minute", status: 700 }
      - { from: "2 minutes", to: "1 minute", latency: "3 seconds", errorRate: 2 }
      - repeat: { every: "3 minutes", until: -1 }
        fault: { from: "1 minute", status: 529 }
      - { from: "1 minute", to: 5, reset: false }
models:
  a: { provider: sim, policy: { breaker: { failureRate: { threshold: 2, window: 10, minimumCalls: 20 } } } }
  b: { provider: sim, policy: { breaker: { slowCallRate: { threshold: 0.5, slowCall: 0, window: 10, minimumCalls: 11 } } } }
chains:
  default: { targets: [a], race: 2, hedge: { delay: p95 }, continueStreams: "yes" }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        "providers.sim.latency: p99 must not be below p50",
        "providers.sim.latency.p90: unknown key (did you mean \"p50\"? expected one of: p50, p99)",
        "providers.sim.faults[0]: `to` must be after `from`",
        "providers.sim.faults[0].status: Expected a number between 400 and 599, actual 700",
        "providers.sim.faults[1]: `to` must be after `from`",
        "providers.sim.faults[1].errorRate: unknown key (expected one of: from, to, latency)",
        "providers.sim.faults[2]: a repeated fault needs an end (`to`)",
        "providers.sim.faults[2].repeat.until: Expected a non-negative number | string, actual -1",
        "providers.sim.faults[3]: `to` must be after `from`",
        "providers.sim.faults[3].reset: Expected true, actual false",
        "models.a.policy.breaker.failureRate: minimumCalls (20) exceeds the window of 10 calls",
        "models.a.policy.breaker.failureRate.threshold: must be more than 0 and at most 1",
        "models.b.policy.breaker.slowCallRate: minimumCalls (11) exceeds the window of 10 calls",
        "models.b.policy.breaker.slowCallRate.slowCall: must be longer than zero",
        "chains.default: race and hedge cannot both be set",
        'chains.default.continueStreams: Expected boolean, actual "yes"'
      ])
      // a rule whose own fields failed says nothing: its problem would be a guess
      const unread = yield* parseFail(`
providers:
  sim: { type: simulated, faults: [{ from: "soon", to: "1 minute", status: 529 }] }
models:
  a: { provider: sim, policy: { breaker: { failureRate: { threshold: 0.5, window: -3, minimumCalls: 20 } } } }
`)
      expect(unread.problems.map((p) => p.path)).toEqual([
        "providers.sim.faults[0].from",
        "models.a.policy.breaker.failureRate.window"
      ])
      // a file without other mistakes reports the rules as before, and Config.check checks them on a hand-made config
      const alone = yield* parseFail(`
providers:
  sim: { type: simulated, faults: [{ from: "2 minutes", to: "1 minute", status: 529 }] }
models:
  a: { provider: sim }
`)
      expect(alone.problems.map((p) => `${p.path}: ${p.message}`)).toEqual(["providers.sim.faults[0]: `to` must be after `from`"])
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated, faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
models:
  a: { provider: sim }
`)
      const sim = config.providers["sim"]!
      const swapped = {
        ...config,
        providers: {
          sim: { ...sim, faults: [{ from: Duration.minutes(2), to: Duration.minutes(1), status: 529 }] }
        }
      } as Config.ConfigFile
      expect(Config.check(swapped).map((p) => `${p.path}: ${p.message}`)).toEqual([
        "providers.sim.faults[0]: `to` must be after `from`"
      ])
    })
  )
})

describe("Config.parse: secrets", () => {
  const envSecret = "sk-env-SECRET-0001"
  const literalSecret = "sk-literal-SECRET-0002"
  const gatewaySecret = "gw-literal-SECRET-0003"
  const env = new Map([["OPENAI_API_KEY", envSecret]])
  const good = `
providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
  anthropic: { type: anthropic, apiKey: "${literalSecret}" }
models:
  mini: { provider: openai, model: gpt-4.1-mini }
  haiku: { provider: anthropic, model: claude-haiku-4-5 }
gateway: { keys: ["env:OPENAI_API_KEY", "${gatewaySecret}"] }
`
  const secrets = [envSecret, literalSecret, gatewaySecret]
  const expectNoSecret = (text: string) => {
    for (const secret of secrets) expect(text).not.toContain(secret)
  }

  it.effect("decodes env: and literal secrets as Redacted, warning about the literal ones", () =>
    Effect.gen(function* () {
      const parsed = yield* parseOk(good, {}, env)
      const openai = parsed.config.providers["openai"]!
      const anthropic = parsed.config.providers["anthropic"]!
      expect(openai.type === "openai" && Redacted.isRedacted(openai.apiKey)).toBe(true)
      expect(openai.type === "openai" && openai.apiKey !== undefined && Redacted.value(openai.apiKey)).toBe(envSecret)
      expect(anthropic.type === "anthropic" && anthropic.apiKey !== undefined && Redacted.value(anthropic.apiKey)).toBe(
        literalSecret
      )
      const keys = Config.gatewaySettings(parsed.config).keys.map((key) => Redacted.value(key as Redacted.Redacted))
      expect(keys).toEqual([envSecret, gatewaySecret])
      expect(parsed.warnings.map((w) => w.path)).toEqual(["providers.anthropic.apiKey", "gateway.keys[1]"])
      expect(parsed.warnings[0]?.message).toMatch(/prefer "env:NAME"/)
      expectNoSecret(JSON.stringify(parsed))
      expectNoSecret(String(parsed.config.providers["openai"]))
    })
  )

  it.effect("no secret appears in an error, its message or its JSON", () =>
    Effect.gen(function* () {
      // mistakes whose messages would quote the values next to the secrets
      const bad = `
providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY", headers: { x-team: 5 } }
  anthropic: { type: anthropic, apiKey: "${literalSecret}", maxTokens: -1 }
  broken: { type: gemini, apiKey: ["${literalSecret}"] }
models:
  mini: { provider: openai, model: gpt-4.1-mini, price: "${literalSecret}" }
gateway: { keys: "${gatewaySecret}" }
`
      const error = yield* parseFail(bad, {}, env)
      expect(paths(error)).toEqual([
        "providers.openai.headers.x-team",
        "providers.anthropic.maxTokens",
        "providers.broken.apiKey",
        "models.mini.price",
        "gateway.keys"
      ])
      expect(error.problems.map((p) => p.message)).toContain(
        `Expected a string: "env:NAME" to read the environment variable NAME, or the secret itself`
      )
      // a secret pasted anywhere else is scrubbed as well
      expect(error.problems.find((p) => p.path === "gateway.keys")?.message).toContain("actual a string (not quoted: it may hold a secret)")
      expect(error.problems.find((p) => p.path === "models.mini.price")?.message).toContain("<redacted>")
      expectNoSecret(String(error))
      expectNoSecret(error.message)
      expectNoSecret(JSON.stringify(error))
      expectNoSecret(JSON.stringify(error.problems))

      // a syntax error on a line holding a secret does not quote the line
      const syntax = yield* parseFail(`providers:\n  a: { type: openai, apiKey: "${literalSecret}" ]\n`, {}, env)
      expect(syntax.problems[0]?.line).toBe(2)
      expectNoSecret(syntax.message)

      // a Redis URL with its password where a mapping goes, and a key written as a number
      const misplaced = yield* parseFail(
        `providers: { openai: { type: openai, apiKey: "env:OPENAI_API_KEY" } }\nmodels: { mini: { provider: openai, model: gpt-4.1-mini } }\n` +
          `state: "redis://default:Sup3rSecretRedisPw@redis.internal:6379"\ngateway: { keys: 987654321 }\n`,
        {},
        env
      )
      expect(paths(misplaced)).toEqual(["state", "gateway.keys"])
      expect(JSON.stringify(misplaced.problems)).not.toContain("Sup3rSecretRedisPw")
      expect(JSON.stringify(misplaced.problems)).not.toContain("987654321")
      expect(misplaced.problems.map((p) => p.message).join("\n")).toContain("redis://default:<redacted>@redis.internal:6379")
    })
  )

  it.effect("only secrets are scrubbed: a one-letter URL password is cut out of its URL alone, and numbers under token counts are shown", () =>
    Effect.gen(function* () {
      const short = yield* parseFail(
        `providers: { openai: { type: openai, apiKey: "env:OPENAI_API_KEY" } }\nmodels: { mini: { provider: openai, model: gpt-4.1-mini } }\n` +
          `state: "redis://:e@redis.internal:6379"\nchains: { default: [nope] }\n`
      )
      const text = short.problems.map((p) => p.message).join("\n")
      expect(text).toContain('redis://:<redacted>@redis.internal:6379')
      expect(text).toContain('unknown model "nope"')
      const counts = yield* parseFail(
        `providers: { a: { type: anthropic, apiKey: "env:ANTHROPIC_API_KEY", maxTokens: 4096 } }\n` +
          `models: { m: { provider: a, model: claude, maxOutputTokens: 4096, contextWindow: 4096.5 } }\n`
      )
      expect(counts.problems.map((p) => p.message).join("\n")).toContain("4096.5")
    })
  )

  const withHeaders = (baseUrl: string) => `
providers:
  portkey:
    type: openai
    baseUrl: "${baseUrl}"
    apiKey: "env:OPENAI_API_KEY"
    headers:
      x-portkey-api-key: "env:PORTKEY_KEY"
      helicone-auth: "Bearer ${literalSecret}"
      x-session-token: "${literalSecret}"
      x-title: "My app"
models:
  mini: { provider: portkey, model: gpt-4.1-mini }
`
  const portkeySecret = "pk-env-SECRET-0004"
  const headerEnv = new Map([...env, ["PORTKEY_KEY", portkeySecret]])

  it.effect("provider headers: env: values are read like secrets, literal credentials warn, all are Redacted", () =>
    Effect.gen(function* () {
      const parsed = yield* parseOk(withHeaders("https://api.portkey.ai/v1"), {}, headerEnv)
      const provider = parsed.config.providers["portkey"]!
      const headers = provider.type === "openai" ? provider.headers! : {}
      expect(Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.value(value)]))).toEqual({
        "x-portkey-api-key": portkeySecret,
        "helicone-auth": `Bearer ${literalSecret}`,
        "x-session-token": literalSecret,
        "x-title": "My app"
      })
      // a literal credential warns (by its name or its Bearer value); a plain header does not
      expect(parsed.warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
        'providers.portkey.headers.helicone-auth: a secret written in the file: prefer "env:NAME" so the file holds none',
        'providers.portkey.headers.x-session-token: a secret written in the file: prefer "env:NAME" so the file holds none'
      ])
      expect(JSON.stringify(parsed)).not.toContain(portkeySecret)
      expectNoSecret(JSON.stringify(parsed))

      const unset = yield* parseFail(withHeaders("https://api.portkey.ai/v1"), {}, env)
      expect(unset.problems.map((p) => `${p.path}: ${p.message} (line ${p.line})`)).toEqual([
        "providers.portkey.headers.x-portkey-api-key: environment variable PORTKEY_KEY is not set (line 8)"
      ])
      expectNoSecret(unset.message)
    })
  )

  it.live("the adapter sends each header with its resolved value", () =>
    Effect.gen(function* () {
      const upstream = yield* MockServer.make({ reply: { text: "hi" } })
      const { config } = yield* parseOk(withHeaders(upstream.baseUrls.openai), {}, headerEnv)
      const router = yield* Router.make(yield* Config.toRouterConfig(config))
      yield* router.complete(Chat.prompt("hello"))
      const sent = upstream.requests()[0]?.headers
      expect(sent).toMatchObject({
        authorization: `Bearer ${envSecret}`,
        "x-portkey-api-key": portkeySecret,
        "helicone-auth": `Bearer ${literalSecret}`,
        "x-session-token": literalSecret,
        "x-title": "My app"
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("a provider on OpenAI's, Anthropic's or Google's own API without an apiKey is warned of (the variable set or not); a local or other server is not", () =>
    Effect.gen(function* () {
      const warned = (providers: string, env: ReadonlyMap<string, string> = fakeKeys) =>
        // priced: a model the table does not know is warned of too (see below)
        parseOk(`providers:\n${providers}\nmodels: { m: { provider: p, price: { input: 1, output: 2 } } }\n`, {}, env).pipe(
          Effect.map(({ warnings }) => warnings.map((w) => `${w.path}: ${w.message}`))
        )
      // the config reads no variable for a provider without apiKey: OPENAI_API_KEY set in the environment sends nothing
      expect(yield* warned("  p: { type: openai }")).toEqual([
        'providers.p: no apiKey, and api.openai.com needs one (apiKey: "env:OPENAI_API_KEY")'
      ])
      expect(yield* warned("  p: { type: openai }", new Map())).toEqual([
        'providers.p: no apiKey, and api.openai.com needs one (apiKey: "env:OPENAI_API_KEY")'
      ])
      expect(yield* warned('  p: { type: anthropic, baseUrl: "https://api.anthropic.com/v1" }')).toEqual([
        'providers.p: no apiKey, and api.anthropic.com needs one (apiKey: "env:ANTHROPIC_API_KEY")'
      ])
      expect(yield* warned("  p: { type: gemini }")).toEqual([
        'providers.p: no apiKey, and generativelanguage.googleapis.com needs one (apiKey: "env:GEMINI_API_KEY")'
      ])
      // by the host, not the type: Gemini's OpenAI-compatible endpoint
      expect(yield* warned('  p: { type: openai, baseUrl: "https://generativelanguage.googleapis.com/v1beta/openai" }')).toEqual([
        'providers.p: no apiKey, and generativelanguage.googleapis.com needs one (apiKey: "env:GEMINI_API_KEY")'
      ])
      // silent: a local server (Ollama, vLLM), any other host, a key given another way, a key given, a simulated provider
      for (const provider of [
        '  p: { type: openai, baseUrl: "http://127.0.0.1:11434/v1" }',
        '  p: { type: anthropic, baseUrl: "http://localhost:4000/v1" }',
        '  p: { type: openai, baseUrl: "https://vllm.internal.example/v1" }',
        '  p: { type: openai, headers: { authorization: "env:OPENAI_API_KEY" } }',
        '  p: { type: anthropic, headers: { x-api-key: "env:ANTHROPIC_API_KEY" } }',
        '  p: { type: openai, apiKey: "env:OPENAI_API_KEY" }',
        "  p: { type: simulated }"
      ]) {
        expect(yield* warned(provider), provider).toEqual([])
      }
    })
  )

  it.effect("a model the price table does not know and the config gives no price is warned of (it would cost $0); a priced, listed or simulated one is not", () =>
    Effect.gen(function* () {
      const { warnings } = yield* parseOk(`
providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
  local: { type: openai, baseUrl: "http://127.0.0.1:11434/v1" }
  sim: { type: simulated }
models:
  mistral: { provider: openai, model: mistral-large-latest }
  routed: { provider: openai, model: openai/gpt-4o }
  pro: { provider: openai, model: o3-pro }
  llama: { provider: local, model: "llama3.1" }
  free: { provider: local, model: "qwen3", price: { input: 0, output: 0 } }
  echo: { provider: sim }
`)
      expect(warnings.map((w) => w.path)).toEqual(["models.mistral", "models.llama"])
      expect(Config.formatProblem(warnings[0]!)).toContain(
        "models.mistral: mistral-large-latest has no price (the table of known models does not list it): its requests cost $0"
      )
      expect(warnings[1]?.message).toContain("{ input: 0, output: 0 } for a free model")
    })
  )

  it.effect("an env: reference must name a variable, and the variable must be set and not empty", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        `
providers:
  a: { type: openai, apiKey: "env:" }
  b: { type: openai, apiKey: "env:MISSING_KEY" }
  c: { type: openai, apiKey: "env:EMPTY_KEY" }
models:
  m: { provider: a }
`,
        {},
        new Map([["EMPTY_KEY", ""]])
      )
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'providers.a.apiKey: "env:" does not name an environment variable: write env:NAME (letters, digits, _)',
        "providers.b.apiKey: environment variable MISSING_KEY is not set",
        "providers.c.apiKey: environment variable EMPTY_KEY is empty"
      ])
    })
  )
})

describe("Config.parse: values that would pass as something else", () => {
  it.effect("env:NAME where no secret goes says that only secrets are read from the environment, not what else it failed", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        [
          "providers:",
          '  local: { type: openai, baseUrl: "env:OLLAMA_URL", apiKey: "env:UNSET_KEY" }',
          "models:",
          '  m: { provider: local, contextWindow: "env:WINDOW" }',
          'gateway: { port: "env:PORT" }',
          ""
        ].join("\n")
      )
      const said = new Map(error.problems.map((p) => [p.path, p.message]))
      for (const path of ["providers.local.baseUrl", "models.m.contextWindow", "gateway.port"]) {
        expect(said.get(path), path).toMatch(/^"env:\w+": only secrets \(apiKey, headers, gateway\.keys, state\.redis, alerts\.webhook\.url\) are read from the environment; write the value itself$/)
      }
      // a secret's own reference keeps its message
      expect(said.get("providers.local.apiKey")).toBe("environment variable UNSET_KEY is not set")
    })
  )

  it.effect("env:NAME under an unknown key, or where a mapping or list of secrets goes, gets the key's or the shape's problem, not that only secrets are read", () =>
    Effect.gen(function* () {
      const said = (text: string) => parseFail(text).pipe(Effect.map((error) => error.problems.map((p) => `${p.path}: ${p.message}`)))
      // a key in other letters: unknown, and the key meant
      expect(yield* said(`providers:\n  openai: { type: openai, apikey: "env:OPENAI_API_KEY" }\nmodels: { m: { provider: openai } }\n`)).toEqual([
        'providers.openai.apikey: unknown key (did you mean "apiKey"? expected one of: type, apiKey, baseUrl, name, headers, timeouts, maxTokensField, thoughtSignatures)'
      ])
      // a literal under it says the same (never quoting it)
      expect(yield* said(`providers:\n  openai: { type: openai, apikey: "sk-literal-FAKE-0009" }\nmodels: { m: { provider: openai } }\n`)).toEqual([
        'providers.openai.apikey: unknown key (did you mean "apiKey"? expected one of: type, apiKey, baseUrl, name, headers, timeouts, maxTokensField, thoughtSignatures)'
      ])
      // a key one letter off too; one far from every key gets the list alone
      expect(yield* said(`providers:\n  o: { type: openai, baseUrk: "env:BASE", colour: "env:RED" }\nmodels: { m: { provider: o } }\n`)).toEqual([
        'providers.o.baseUrk: unknown key (did you mean "baseUrl"? expected one of: type, apiKey, baseUrl, name, headers, timeouts, maxTokensField, thoughtSignatures)',
        "providers.o.colour: unknown key (expected one of: type, apiKey, baseUrl, name, headers, timeouts, maxTokensField, thoughtSignatures)"
      ])
      // one key where a list of them goes, read from the environment or written: the same problem
      const keys = (value: string) => `providers: { sim: { type: simulated } }\nmodels: { m: { provider: sim } }\ngateway: { keys: ${value} }\n`
      expect(yield* said(keys(`"env:GATEWAY_KEY"`))).toEqual([
        'gateway.keys: Expected a list of keys (["env:GATEWAY_KEY", ...]), actual "env:GATEWAY_KEY"'
      ])
      expect(yield* said(keys(`"gw-literal-FAKE-0008"`))).toEqual([
        'gateway.keys: Expected a list of keys (["env:GATEWAY_KEY", ...]), actual a string (not quoted: it may hold a secret)'
      ])
      // a mapping that holds a secret, given as a reference
      expect(yield* said(`${minimal}state: "env:REDIS_URL"\n`)).toEqual([
        'state: Expected shared state (redis, cluster, namespace, syncInterval), actual "env:REDIS_URL"'
      ])
    })
  )

  it.effect("a shell's $NAME or ${NAME}, an ENV: in capitals, or an empty key is a problem, not the key itself", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  a: { type: openai, apiKey: "$OPENAI_API_KEY" }
  b: { type: gemini, apiKey: "ENV:GEMINI_API_KEY" }
  c: { type: anthropic, apiKey: "" }
models:
  m: { provider: a }
gateway: { keys: ["\${GATEWAY_KEY}", "a-real-literal-key"] }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        "providers.a.apiKey: a shell's variable is not read from the environment here: write env:OPENAI_API_KEY",
        "providers.b.apiKey: write env: in lower case to read the variable GEMINI_API_KEY",
        "providers.c.apiKey: a key cannot be empty: write env:NAME, or the key itself",
        "gateway.keys[0]: a shell's variable is not read from the environment here: write env:GATEWAY_KEY"
      ])
    })
  )

  it.effect("a header no HTTP request can carry, or that the client sets itself, is a problem at its path, beside a bad value's", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  o:
    type: openai
    baseUrl: "http://127.0.0.1:9/v1"
    headers: { "x team": "a", "x-trace": "one\\ntwo", "Content-Length": "5", "x-tier": "e" }
models: { m: { provider: o } }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'providers.o.headers["x team"]: a header\'s name is letters, digits and !#$%&\'*+.^_`|~- only',
        "providers.o.headers.x-trace: a header's value cannot hold a line break or NUL",
        "providers.o.headers.Content-Length: Content-Length is set by the HTTP client, not by the config"
      ])
      // a base URL's user and password would be dropped, never sent: a problem, said without quoting them
      const credentials = yield* parseFail(`
providers: { o: { type: openai, baseUrl: "https://user:Pa55-SECRET@proxy.internal/v1" } }
models: { m: { provider: o } }
`)
      expect(credentials.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        "providers.o.baseUrl: a URL's user and password are not sent: give the credentials as apiKey or in headers"
      ])
      expect(JSON.stringify(credentials)).not.toContain("Pa55-SECRET")
    })
  )

  it.effect("windows whose memory every target would hold have a ceiling, in the file and in a router's config", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`${minimal}
health: { buckets: 10000000 }
policy: { breaker: { failureRate: { threshold: 0.5, window: 5000000000 }, slowCallRate: { threshold: 0.5, slowCall: "5 seconds", window: 100001 } } }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        "health.buckets: must be at most 1000",
        "policy.breaker.failureRate.window: a window of calls holds at most 100000",
        "policy.breaker.slowCallRate.window: a window of calls holds at most 100000"
      ])
      // a router's config made by hand is refused with the same paths, not a RangeError on the first request
      const model = yield* Simulated.make({ provider: "sim", model: "echo" })
      const refused = yield* Effect.flip(
        Router.make({
          targets: { echo: { model } },
          chains: { default: ["echo"] },
          health: { buckets: 10_000_000 },
          policy: { breaker: { failureRate: { threshold: 0.5, window: 5_000_000_000 } } }
        })
      )
      expect(refused.problems).toEqual([
        "policy.breaker.failureRate.window: a number of calls must be a whole number from 1 to 100000",
        "health.buckets: must be a whole number from 1 to 1000"
      ])
    }).pipe(Effect.scoped)
  )
})

describe("Config.load and the example configs", () => {
  const dir = "examples/configs"

  it.scoped("every example config validates without warnings and builds a router", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const files = (yield* fs.readDirectory(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()
      expect(files).toEqual(["demo.yaml", "local-openai-compatible.yaml", "real-providers.yaml"])
      for (const file of files) {
        const { config, warnings } = yield* Config.load(`${dir}/${file}`).pipe(withEnv(fakeKeys))
        expect(warnings).toEqual([])
        const router = yield* Router.make(yield* Config.toRouterConfig(config))
        expect(router.targets).toEqual(Object.keys(config.models))
      }
    }).pipe(Effect.provide([NodeFileSystem.layer, FetchHttpClient.layer]))
  )

  it.effect("the real-providers example reports each missing key at its path", () =>
    Effect.gen(function* () {
      const error = yield* Config.load(`${dir}/real-providers.yaml`).pipe(withEnv(new Map()), Effect.flip)
      expect(error.problems.map(Config.formatProblem).map((line) => line.replace(/ \(line.*$/, ""))).toEqual([
        "providers.anthropic.apiKey: environment variable ANTHROPIC_API_KEY is not set",
        "providers.openai.apiKey: environment variable OPENAI_API_KEY is not set",
        "providers.gemini.apiKey: environment variable GEMINI_API_KEY is not set",
        "gateway.keys[0]: environment variable GATEWAY_KEY is not set"
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("a simulator scenario read as a config is one problem saying so, not an unknown key for each of its own", () =>
    Effect.gen(function* () {
      const scenario = "examples/scenarios/primary-down.yaml"
      const error = yield* Config.load(scenario).pipe(Effect.flip)
      expect(error.problems.map(Config.formatProblem)).toEqual([
        `line 4, column 1: a simulator scenario, not a config (name, description, seed and load are a scenario's): replay it with llm-failover simulate --scenario ${scenario}`
      ])
      // without a file's name, seed and providers are enough; the config's own mistakes are still said
      const text = "providers: { sim: { type: simulated } }\nmodels: { m: { provider: sims } }\nseed: 3\n"
      const parsed = yield* parseFail(text)
      expect(parsed.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        ": a simulator scenario, not a config (seed is a scenario's): replay it with llm-failover simulate --scenario FILE",
        'models.m.provider: unknown provider "sims" (did you mean "sim"?)'
      ])
      // a config's own misspelt key is an unknown key, as before
      const typo = yield* parseFail(`${minimal}nmae: x\n`)
      expect(typo.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^unknown key/)])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("a file that cannot be read is a ConfigError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Config.load(`${dir}/missing.yaml`).pipe(Effect.flip)
      expect(error.source).toBe(`${dir}/missing.yaml`)
      expect(error.problems[0]?.message).toMatch(/^cannot read the file: /)
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("examples/configs/demo.yaml is the embedded demo config, word for word", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      expect(yield* fs.readFileString(`${dir}/demo.yaml`)).toBe(Demo.text)
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )
})

describe("Config.toRouterConfig", () => {
  it.effect("makes each model a target over its provider's adapter, with the model's info", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
  local: { type: openai, baseUrl: "http://127.0.0.1:11434/v1" }
  claude: { type: anthropic, name: anthropic, apiKey: "env:ANTHROPIC_API_KEY" }
  gemini: { type: gemini, apiKey: "env:GEMINI_API_KEY" }
  sim: { type: simulated, name: acme }
models:
  mini: { provider: openai, model: gpt-4.1-mini, weight: 3, policy: { retry: { maxAttempts: 4 } } }
  llama3.2: { provider: local, contextWindow: 131072, price: { input: 0, output: 0 } }
  sonnet: { provider: claude, model: claude-sonnet-4-5, price: { input: 2.5, output: 12 } }
  haiku: { provider: claude, model: claude-3-5-haiku, responseFormats: [json_schema] }
  flash: { provider: gemini, model: gemini-2.5-flash }
  echo: { provider: sim, model: echo-1, contextWindow: 4096, maxOutputTokens: 512, responseFormats: [] }
`)
      const routerConfig = yield* Config.toRouterConfig(config)
      const info = (alias: string) => routerConfig.targets[alias]?.model.info
      expect(info("mini")).toMatchObject({ provider: "openai", model: "gpt-4.1-mini", price: { input: 0.4, output: 1.6 } })
      expect(info("llama3.2")).toEqual({
        provider: "local",
        model: "llama3.2",
        contextWindow: 131_072,
        price: { input: 0, output: 0 },
        responseFormats: ["json_object", "json_schema"]
      })
      expect(info("sonnet")).toMatchObject({ provider: "anthropic", price: { input: 2.5, output: 12 }, responseFormats: ["json_schema"] })
      // the table says Claude 3.5 Haiku has no structured outputs; the config says otherwise, and wins
      expect(info("haiku")).toMatchObject({ model: "claude-3-5-haiku", responseFormats: ["json_schema"] })
      expect(info("flash")).toMatchObject({ provider: "gemini", model: "gemini-2.5-flash", responseFormats: ["json_object", "json_schema"] })
      expect(info("echo")).toEqual({
        provider: "acme",
        model: "echo-1",
        contextWindow: 4096,
        maxOutputTokens: 512,
        price: { input: 0, output: 0 },
        responseFormats: []
      })
      expect(routerConfig.targets["mini"]).toMatchObject({ weight: 3, policy: { retry: { maxAttempts: 4 } } })
      expect(routerConfig.chains).toEqual({
        default: { targets: ["mini", "llama3.2", "sonnet", "haiku", "flash", "echo"], hedge: { delay: "p95" } }
      })
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.effect("policy.hedge: false turns the default hedge off for every chain", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  a: { provider: sim }
  b: { provider: sim }
chains:
  plain: [a, b]
  own: { targets: [a, b], hedge: { delay: "2 seconds" } }
policy: { hedge: false, breaker: { slowCallRate: false } }
`)
      const routerConfig = yield* Config.toRouterConfig(config)
      expect(routerConfig.chains).toEqual({
        plain: ["a", "b"],
        own: { targets: ["a", "b"], hedge: { delay: Duration.seconds(2) } }
      })
      expect(routerConfig.policy).toEqual({ breaker: { slowCallRate: false } })
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.effect("applies the default hedge to chains that neither race nor opt out, merging a chain's own", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  a: { provider: sim }
  b: { provider: sim }
chains:
  plain: [a, b]
  single: [a]
  tuned: { targets: [a, b], hedge: { maxHedges: 2 }, policy: { timeouts: { total: "30 seconds" } } }
  off: { targets: [a, b], hedge: false }
  racing: { targets: [a, b], race: 2 }
tiers: { simple: single, moderate: plain, complex: tuned }
policy: { hedge: { delay: "800 millis" }, retry: { maxAttempts: 3 } }
cache: false
shadowRate: 0.1
`)
      const routerConfig = yield* Config.toRouterConfig(config)
      const hedge = { delay: Duration.millis(800) }
      expect(routerConfig.chains).toEqual({
        plain: { targets: ["a", "b"], hedge },
        single: ["a"],
        tuned: { targets: ["a", "b"], hedge: { ...hedge, maxHedges: 2 }, policy: { timeouts: { total: Duration.seconds(30) } } },
        off: { targets: ["a", "b"] },
        racing: { targets: ["a", "b"], race: 2 }
      })
      expect(routerConfig.policy).toEqual({ retry: { maxAttempts: 3 } })
      expect(routerConfig).toMatchObject({ cache: false, shadowRate: 0.1 })
      const classify = routerConfig.classifier!
      expect(classify(Chat.prompt("List three colours"))).toBe("single")
      expect(classify(Chat.prompt("Compare these two designs"))).toBe("tuned")
      expect(classify(Chat.prompt("hi", { metadata: { chain: "off" } }))).toBe("off")
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.effect("checks names again for a config built by hand", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(minimal)
      const dangling: Config.ConfigFile = { ...config, chains: { default: ["echo", "ghost"] } }
      const error = yield* Effect.flip(Config.toRouterConfig(dangling))
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'chains.default[1]: unknown model "ghost" (known models: echo)'
      ])
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )
})

describe("Config.routerWarnings", () => {
  it.effect("what the router serves though not as written, at the chain's path: a race wider than its chain, a weighted chain that all weighs 0", () =>
    Effect.gen(function* () {
      const { config, warnings } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  a: { provider: sim, weight: 0 }
  b: { provider: sim, weight: 0 }
  c: { provider: sim }
chains:
  fast: { targets: [a, c], race: 3 }
  spread: { targets: [a, b], strategy: weighted }
  mixed: { targets: [a, c], strategy: weighted }
  exact: { targets: [a, c], race: 2 }
  plain: [a, b]
`)
      // not the file's own warnings (a secret written in it): the router's, read from the decoded config
      expect(warnings).toEqual([])
      expect(Config.routerWarnings(config).map(Config.formatProblem)).toEqual([
        "chains.fast.race: races 3 targets, but the chain has 2: all 2 race",
        'chains.spread.strategy: "weighted", but every one of its targets (a, b) weighs 0: they are tried in priority order, every time'
      ])
      const { config: implicit } = yield* parseOk("providers: { sim: { type: simulated } }\nmodels: { a: { provider: sim, weight: 0 } }\n")
      expect(Config.routerWarnings(implicit)).toEqual([])
    })
  )

  it.effect("an attempt's timeout as long as the total, from the file's policy, a model's or a chain's, and in the implicit chain", () =>
    Effect.gen(function* () {
      const warned = (text: string) => parseOk(text).pipe(Effect.map(({ config }) => Config.routerWarnings(config).map((w) => w.path)))
      const models = "providers: { sim: { type: simulated } }\nmodels: { a: { provider: sim }, b: { provider: sim } }\n"
      expect(yield* warned(`${models}policy: { timeouts: { attempt: "2 minutes" } }\n`)).toEqual(["chains.default"])
      expect(yield* warned(`${models}chains: { chat: { targets: [a, b], policy: { timeouts: { total: "1 minute" } } } }\npolicy: { timeouts: { attempt: "1 minute" } }\n`)).toEqual([
        "chains.chat.policy.timeouts"
      ])
      expect(yield* warned(`${models.replace("b: { provider: sim }", 'b: { provider: sim, policy: { timeouts: { attempt: "3 minutes" } } }')}chains: { x: [a, b], y: [a] }\n`)).toEqual([
        "chains.x"
      ])
      // half the total by default, or shorter than it: nothing
      expect(yield* warned(`${models}policy: { timeouts: { total: "10 seconds" } }\n`)).toEqual([])
      expect(yield* warned(`${models}policy: { timeouts: { attempt: "59 seconds", total: "1 minute" } }\n`)).toEqual([])
    })
  )

  it.effect("the same warnings, worded the same, as Router.make logs", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "sim", model: "m", latency: 0 })
      const config: Router.Config = {
        targets: { a: { model, weight: 0 }, b: { model, weight: 0 } },
        chains: { spread: { targets: ["a", "b"], strategy: "weighted" }, wide: { targets: ["a"], race: 2 } }
      }
      expect(Router.warnings(config).map((w) => `${w.path}: ${w.message}`)).toEqual([
        'chains.spread.strategy: "weighted", but every one of its targets (a, b) weighs 0: they are tried in priority order, every time',
        "chains.wide.race: races 2 targets, but the chain has 1: all 1 race"
      ])
    })
  )
})

describe("Config.check", () => {
  it.effect("a parsed config has no problems; one changed by hand has each refused value at its path", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  a: { provider: sim }
  b: { provider: sim }
chains:
  plain: [a, b]
  racing: { targets: [a, b], race: 2 }
policy: { retry: { maxAttempts: 2 }, hedge: { delay: "100 millis" } }
`)
      expect(Config.check(config)).toEqual([])
      const tuned: Config.ConfigFile = {
        ...config,
        chains: { plain: ["a", "b"], racing: { targets: ["a", "b"], race: 0 } },
        policy: {
          retry: { maxAttempts: 1.5, base: Duration.infinity },
          bulkhead: { maxConcurrent: 0, maxQueued: -1 },
          breaker: { failureRate: { threshold: 2, window: 10 }, halfOpenProbes: 0, openDuration: { factor: 0.5 } },
          hedge: { maxHedges: 0 }
        },
        health: { window: Duration.infinity }
      }
      const expected = [
        "chains.racing.race: Expected a positive number, actual 0",
        "policy.retry.maxAttempts: Expected an integer, actual 1.5",
        "policy.retry.base: must be finite",
        "policy.breaker.failureRate.threshold: must be more than 0 and at most 1",
        "policy.breaker.openDuration.factor: Expected a number greater than or equal to 1, actual 0.5",
        "policy.breaker.halfOpenProbes: Expected a positive number, actual 0",
        "policy.bulkhead.maxConcurrent: Expected a positive number, actual 0",
        "policy.bulkhead.maxQueued: Expected a non-negative number, actual -1",
        "policy.hedge.maxHedges: Expected a positive number, actual 0",
        "health.window: must be finite"
      ]
      expect(Config.check(tuned).map(Config.formatProblem)).toEqual(expected)
      const error = yield* Effect.flip(Config.toRouterConfig(tuned))
      expect(error.problems.map(Config.formatProblem)).toEqual(expected)

      const noChains = yield* Effect.flip(Config.toRouterConfig({ ...config, chains: {} }))
      expect(paths(noChains)).toEqual(["chains"])
      // a value that fits no alternative keeps its message
      const weird = { ...config, policy: { bulkhead: true } } as unknown as Config.ConfigFile
      expect(Config.check(weird).map(Config.formatProblem)).toEqual([
        "policy.bulkhead: Expected false | a bulkhead (maxConcurrent, maxQueued, queueTimeout), actual true"
      ])
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  const wholeAtLeast = (min: number) => (n: number) => Number.isInteger(n) && n >= min
  /** The router's rules for the values the property varies, by path. */
  const rules = {
    "policy.retry.maxAttempts": wholeAtLeast(1),
    "policy.bulkhead.maxConcurrent": wholeAtLeast(1),
    "policy.bulkhead.maxQueued": wholeAtLeast(0),
    "policy.breaker.failureRate.threshold": (n: number) => n > 0 && n <= 1,
    "policy.breaker.halfOpenProbes": wholeAtLeast(1),
    "policy.hedge.maxHedges": wholeAtLeast(1),
    "chains.racing.race": wholeAtLeast(1)
  }
  /** Mostly valid (so that a good share of runs builds a router), sometimes below `min` or fractional. */
  const count = (min: number) =>
    fc.oneof(
      { arbitrary: fc.integer({ min, max: min + 3 }), weight: 5 },
      { arbitrary: fc.integer({ min: min - 3, max: min - 1 }), weight: 1 },
      { arbitrary: fc.double({ min: -1, max: 4, noNaN: true }), weight: 1 }
    )
  const share = fc.oneof(
    { arbitrary: fc.double({ min: 0.01, max: 1, noNaN: true }), weight: 6 },
    { arbitrary: fc.double({ min: -0.5, max: 1.5, noNaN: true }), weight: 1 }
  )

  it.live.prop(
    "parse and check refuse exactly the values the router refuses; what they accept builds a router that serves",
    {
      maxAttempts: count(1),
      maxConcurrent: count(1),
      maxQueued: count(0),
      threshold: share,
      halfOpenProbes: count(1),
      maxHedges: count(1),
      race: count(1)
    },
    ({ halfOpenProbes, maxAttempts, maxConcurrent, maxHedges, maxQueued, race, threshold }) =>
      Effect.gen(function* () {
        const values: Record<keyof typeof rules, number> = {
          "policy.retry.maxAttempts": maxAttempts,
          "policy.bulkhead.maxConcurrent": maxConcurrent,
          "policy.bulkhead.maxQueued": maxQueued,
          "policy.breaker.failureRate.threshold": threshold,
          "policy.breaker.halfOpenProbes": halfOpenProbes,
          "policy.hedge.maxHedges": maxHedges,
          "chains.racing.race": race
        }
        const refused = Object.entries(rules)
          .filter(([path, valid]) => !valid(values[path as keyof typeof rules]))
          .map(([path]) => path)
          .sort()
        const policy = {
          retry: { maxAttempts },
          bulkhead: { maxConcurrent, maxQueued },
          breaker: { failureRate: { threshold, window: 10 }, halfOpenProbes },
          hedge: { delay: "100 millis", maxHedges }
        }
        const file = {
          providers: { sim: { type: "simulated", latency: 0, tokenDelay: 0 } },
          models: { a: { provider: "sim" }, b: { provider: "sim" } },
          chains: { plain: ["a", "b"], racing: { targets: ["a", "b"], race } },
          defaultChain: "plain",
          policy
        }
        // the file path: parse
        const parsed = yield* Effect.either(parseOk(JSON.stringify(file), { format: "json" }))
        expect(Either.match(parsed, { onLeft: (e) => paths(e).sort(), onRight: () => [] })).toEqual(refused)
        // the hand-built path: check and toRouterConfig
        const handBuilt = {
          ...file,
          providers: { sim: { type: "simulated", latency: Duration.zero, tokenDelay: Duration.zero } },
          policy: { ...policy, hedge: { delay: Duration.millis(100), maxHedges } }
        } as Config.ConfigFile
        expect(Config.check(handBuilt).map((p) => p.path).sort()).toEqual(refused)
        const built = yield* Effect.either(Config.toRouterConfig(handBuilt))
        expect(Either.isLeft(built)).toBe(refused.length > 0)
        if (Either.isLeft(built) || Either.isLeft(parsed)) return
        // accepted: the router builds and both chains serve (the simulated provider answers at once)
        yield* Effect.scoped(
          Effect.gen(function* () {
            // quiet: a race wider than its chain is a warning of `make`, which a thousand runs would print
            const router = yield* Router.make(yield* Config.toRouterConfig(parsed.right.config)).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
            for (const chain of ["plain", "racing"]) {
              const { meta } = yield* router.complete(Chat.prompt("hi"), { chain })
              expect(meta.chain).toBe(chain)
            }
          })
        )
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("Config.gatewaySettings", () => {
  it.effect("fills in the defaults and keeps what the file sets", () =>
    Effect.gen(function* () {
      const defaults = Config.gatewaySettings((yield* parseOk(minimal)).config)
      expect(defaults).toEqual({ keys: [], host: "127.0.0.1", port: 8787, maxBodyBytes: 1_048_576 })
      const { config } = yield* parseOk(`${minimal}
gateway:
  keys: ["env:GATEWAY_KEY"]
  host: 0.0.0.0
  port: 0
  maxBodyBytes: 65536
  maxConcurrent: 8
  maxQueued: 16
  requestTimeout: "30 seconds"
  shutdownDelay: "10 seconds"
`)
      const settings = Config.gatewaySettings(config)
      // the gateway takes these as they are
      const options: Omit<Gateway.Options, "router"> = settings
      expect(options).toMatchObject({
        host: "0.0.0.0",
        port: 0,
        maxBodyBytes: 65_536,
        maxConcurrent: 8,
        maxQueued: 16,
        requestTimeout: Duration.seconds(30),
        shutdownDelay: Duration.seconds(10)
      })
      expect(settings.keys.map((key) => Redacted.value(key as Redacted.Redacted))).toEqual(["gw-FAKE-0004"])
    })
  )

  it.effect("a host of blanks is refused at its path, as an empty one is: the gateway would die on it at serve", () =>
    Effect.gen(function* () {
      for (const host of ['""', '"   "', '"\\t"']) {
        const error = yield* parseFail(`${minimal}gateway: { host: ${host} }\n`)
        expect(paths(error)).toEqual(["gateway.host"])
      }
    })
  )
})

describe("Simulated faults in a config", () => {
  it.effect("a slow fault's { p50, p99 } with a bad p50 is one problem, at p50 (not also 'Expected number | string')", () =>
    Effect.gen(function* () {
      const text = `
providers:
  a: { type: simulated, faults: [ { latency: { p50: "2 secs", p99: "3 seconds" } } ] }
models: { m: { provider: a } }
`
      const error = yield* parseFail(text, { source: "faults.yaml" })
      expect(error.problems.map(Config.formatProblem)).toEqual([
        'providers.a.faults[0].latency.p50: Expected a duration such as "30 seconds", "250 millis" or "2 minutes", or a number of milliseconds, got "2 secs" (line 3, column 53)'
      ])
      expect(error.message).not.toMatch(/problems/)
      // a latency that is neither form keeps its one message
      const neither = yield* parseFail(text.replace('{ p50: "2 secs", p99: "3 seconds" }', "[1, 2]"), { source: "faults.yaml" })
      expect(neither.problems.map((p) => [p.path, p.message])).toEqual([
        ["providers.a.faults[0].latency", expect.stringMatching(/^Expected .*, actual \[1,2\]$/)]
      ])
    })
  )

  const decodeFaults = (faults: ReadonlyArray<unknown>) =>
    Schema.decodeUnknownEither(Config.FileSchema)({
      providers: { sim: { type: "simulated", faults } },
      models: { m: { provider: "sim" } }
    }).pipe(
      Either.map((file) => {
        const sim = file.providers["sim"]
        return sim?.type === "simulated" ? (sim.faults ?? []) : []
      })
    )

  it.prop(
    "a repeated fault expands into windows of the same length, `every` apart, starting before `until`",
    {
      every: fc.integer({ min: 60_000, max: 3_600_000 }),
      from: fc.integer({ min: 0, max: 3_600_000 }),
      length: fc.integer({ min: 1, max: 1_000_000 }),
      until: fc.integer({ min: 3_600_001, max: 12 * 3_600_000 })
    },
    ({ every, from, length, until }) => {
      const windows = Either.getOrThrow(
        decodeFaults([{ repeat: { every, until }, fault: { from, to: from + length, status: 503 } }])
      )
      expect(windows).toHaveLength(Math.ceil((until - from) / every))
      windows.forEach((fault, k) => {
        expect(Duration.toMillis(fault.from!)).toBe(from + k * every)
        expect(Duration.toMillis(fault.to!)).toBe(from + k * every + length)
        expect(fault).toMatchObject({ status: 503 })
      })
      expect(Duration.toMillis(windows.at(-1)!.from!)).toBeLessThan(until)
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it("refuses a repetition that would never happen or make too many windows", () => {
    const problem = (faults: ReadonlyArray<unknown>) =>
      Either.match(decodeFaults(faults), { onLeft: (e) => e.message, onRight: () => "decoded" })
    expect(problem([{ repeat: { every: "1 minute", until: "1 hour" }, fault: { from: "2 hours", to: "3 hours", status: 503 } }]))
      .toContain("the fault starts after `until`")
    expect(problem([{ repeat: { every: 1, until: "1 hour" }, fault: { from: 0, to: 1, status: 503 } }])).toContain(
      "repeats 3600000 times; at most 10000 windows are allowed"
    )
  })
})

describe("Demo", () => {
  const minute = 60_000

  it.effect("the primary's provider goes down for one minute in every three, from minute 1, for 24 hours", () =>
    Effect.gen(function* () {
      const { config } = yield* Demo.config
      const sonnet = config.models["sonnet"]!
      const provider = config.providers[sonnet.provider]!
      expect(provider.type).toBe("simulated")
      const faults = provider.type === "simulated" ? (provider.faults ?? []) : []
      const model = yield* Simulated.make({ provider: "anthropic", model: "sonnet", faults, epoch: 0 })
      const downMinutes: Array<number> = []
      for (let m = 0; m < 24 * 60 + 10; m++) {
        if (!model.canServe(m * minute + 30_000)) downMinutes.push(m)
      }
      expect(downMinutes).toHaveLength(480)
      expect(downMinutes.slice(0, 4)).toEqual([1, 4, 7, 10])
      expect(downMinutes.every((m) => m % 3 === 1)).toBe(true)
      expect(downMinutes.at(-1)).toBe(1438)
      // the outage holds the whole minute, and ends with it
      expect(model.canServe(minute - 1)).toBe(true)
      expect(model.canServe(minute)).toBe(false)
      expect(model.canServe(2 * minute - 1)).toBe(false)
      expect(model.canServe(2 * minute)).toBe(true)
      // and the primary leads the default and premium chains
      const chains = config.chains ?? {}
      const first = (chain: Config.ChainEntry | undefined) =>
        Array.isArray(chain) ? chain[0] : (chain as { readonly targets: ReadonlyArray<string> }).targets[0]
      expect(first(chains["default"])).toBe("sonnet")
      expect(first(chains["premium"])).toBe("sonnet")
      expect(Object.keys(chains)).toEqual(["default", "premium", "budget"])
      expect(Object.values(config.providers).every((p) => p.type === "simulated")).toBe(true)
    })
  )

  it.scoped("a router built from the demo answers from the primary, then fails over during its first outage", () =>
    Effect.gen(function* () {
      const { config } = yield* Demo.config
      const router = yield* Router.make(yield* Config.toRouterConfig(config))

      const settle = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(effect)
          yield* TestClock.adjust("30 seconds")
          const exit = yield* Fiber.await(fiber)
          if (Exit.isFailure(exit)) throw new Error(`expected success, got ${String(exit.cause)}`)
          return exit.value
        })

      const before = yield* settle(router.complete(Chat.prompt("hello")))
      expect(before.meta).toMatchObject({ chain: "default", target: "sonnet", provider: "anthropic", fallbacks: 0 })
      expect(before.response.text.length).toBeGreaterThan(0)

      yield* TestClock.adjust("45 seconds") // 75 seconds in: inside the outage [60 s, 120 s)
      const during = yield* settle(router.complete(Chat.prompt("hello again")))
      expect(during.meta).toMatchObject({ chain: "default", target: "mini", provider: "openai", fallbacks: 1 })
      expect(during.meta.attempts[0]).toMatchObject({ target: "sonnet", error: { _tag: "Overloaded", status: 529 } })
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )
})

describe("Config: rate limits and shared state", () => {
  it.effect("models take rpm and tpm; state takes a Redis URL as a secret", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`
providers:
  sim: { type: simulated }
models:
  echo: { provider: sim, rpm: 500, tpm: 200000 }
state: { redis: "env:REDIS_URL", namespace: checkout, syncInterval: "50 millis" }
`, undefined, new Map([...fakeKeys, ["REDIS_URL", "redis://:hunter2@127.0.0.1:6379"]]))
      expect(config.models["echo"]).toMatchObject({ rpm: 500, tpm: 200000 })
      // the router's target gets them
      const routerConfig = yield* Config.toRouterConfig(config).pipe(Effect.provide(FetchHttpClient.layer))
      expect(routerConfig.targets["echo"]).toMatchObject({ rpm: 500, tpm: 200000 })
      expect(Redacted.isRedacted(config.state?.redis)).toBe(true)
      expect(String(config.state?.redis)).not.toContain("hunter2")
      expect(config.state?.namespace).toBe("checkout")
      expect(Duration.toMillis(config.state!.syncInterval!)).toBe(50)
      expect(Config.sharedState(config)).toBeDefined()
      const { config: local } = yield* parseOk(minimal)
      expect(Config.sharedState(local)).toBeUndefined()
    }))

  it.effect("bad limits and a bad state are problems at their paths", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  sim: { type: simulated }
models:
  echo: { provider: sim, rpm: 0, tpm: 1.5 }
state: { redis: "http://127.0.0.1:6379", syncInterval: "0 millis" }
`)
      expect(paths(error)).toEqual(["models.echo.rpm", "models.echo.tpm", "state.redis", "state.syncInterval"])
      const url = yield* parseFail(`${minimal}state: { redis: "http://127.0.0.1:6379" }\n`)
      expect(url.problems.map((p) => [p.path, p.message])).toEqual([["state.redis", "redis must be a redis:// or rediss:// URL"]])
      // a password with a # or / not percent-encoded: a problem at its path that never quotes it
      const password = "Sup3r#Secret/pw"
      const unencoded = yield* parseFail(`${minimal}state: { redis: env:REDIS_URL }\n`, undefined, new Map([
        ...fakeKeys,
        ["REDIS_URL", `redis://default:${password}@127.0.0.1:6379`]
      ]))
      expect(unencoded.problems.map((p) => [p.path, p.message])).toEqual([[
        "state.redis",
        "redis is not a valid URL (percent-encode any #, /, ?, @ or % in the user name or password)"
      ]])
      expect(inspect(unencoded, { depth: 20 })).not.toContain("Secret")
      const missing = yield* parseFail(`${minimal}state: { namespace: x }\n`)
      expect(paths(missing)).toEqual(["state.redis"])
      // a cluster has database 0 only: a URL naming another is a problem at its path, beside a sibling's
      const database = yield* parseFail(`${minimal}state: { redis: "redis://:hunter2@127.0.0.1:6379/3", cluster: true, syncInterval: soon }\n`)
      expect(database.problems.map((p) => [p.path, p.message])).toEqual([
        ["state.redis", "redis names a database, and a Redis Cluster has database 0 only"],
        ["state.syncInterval", expect.stringContaining("")]
      ])
      expect(inspect(database, { depth: 20 })).not.toContain("hunter2")
      const notCluster = yield* parseFail(`${minimal}state: { redis: "redis://127.0.0.1:6379/3", cluster: yes }\n`)
      expect(paths(notCluster)).toEqual(["state.cluster"])
    }))

  it.effect("state takes cluster: true, for a Redis Cluster", () =>
    Effect.gen(function* () {
      const { config } = yield* parseOk(`${minimal}state: { redis: "redis://127.0.0.1:6379/0", cluster: true, namespace: "{checkout}" }\n`)
      expect(config.state).toMatchObject({ cluster: true, namespace: "{checkout}" })
      const { config: plain } = yield* parseOk(`${minimal}state: { redis: "redis://127.0.0.1:6379/3" }\n`)
      expect(plain.state?.cluster).toBeUndefined()
    }))
})

describe("Config: client keys", () => {
  it("a client key's record is shown but for its key, and only among the gateway's keys: a typo'd field, or a record with a name elsewhere, is suspected whole", () => {
    const suspected = Secret.suspectedSecrets({
      providers: { oa: { apiKey: { name: "OPENAI", value: "sk-proj-VALUE1234567890" } } },
      gateway: { keys: [{ kye: "sk-proj-TYPO1234567890", name: "team-a", models: ["fast"] }, { key: "sk-proj-KEY1234567890", name: "team-b" }] }
    })
    expect(suspected).toEqual(expect.arrayContaining(["sk-proj-VALUE1234567890", "sk-proj-TYPO1234567890", "sk-proj-KEY1234567890"]))
    // a client's name and models are shown
    expect(suspected).not.toContain("team-a")
    expect(suspected).not.toContain("fast")
  })

  const withKeys = (keys: string) => `${minimal}chains:\n  default: [echo]\n  fast: [echo]\ngateway:\n  keys:\n${keys}`

  it.effect("a key is bare or a client's, with its name, models, rpm, tpm and spend; gatewaySettings hands them to the gateway", () =>
    Effect.gen(function* () {
      const parsed = yield* parseOk(
        withKeys(`    - env:GATEWAY_KEY\n    - { key: env:OPENAI_API_KEY, name: team-a, models: [fast, echo], rpm: 600, tpm: 100000, spend: { usd: 50, window: "7 days" } }\n    - { key: env:ANTHROPIC_API_KEY, name: team-b }\n`)
      )
      expect(parsed.warnings).toEqual([])
      const [bare, teamA, teamB] = Config.gatewaySettings(parsed.config).keys
      expect(Redacted.isRedacted(bare) && Redacted.value(bare)).toBe("gw-FAKE-0004")
      const client = teamA as Gateway.ClientKey
      expect(Redacted.value(client.key)).toBe("sk-openai-FAKE-0001")
      expect({ ...client, key: undefined, spend: { ...client.spend, window: Duration.toMillis(client.spend!.window!) } }).toEqual({
        key: undefined,
        name: "team-a",
        models: ["fast", "echo"],
        rpm: 600,
        tpm: 100000,
        spend: { usd: 50, window: Duration.toMillis(Duration.days(7)) }
      })
      expect((teamB as Gateway.ClientKey).name).toBe("team-b")
      expect(JSON.stringify(parsed)).not.toContain("FAKE")
    })
  )

  it.effect("every mistake is reported at its path, a key never quoted", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(
        withKeys([
          `    - { key: env:GATEWAY_KEY, name: a, models: [fats, default] }`,
          `    - { key: env:OPENAI_API_KEY, name: b, rpm: 0, spend: { usd: 0 } }`,
          `    - { key: env:ANTHROPIC_API_KEY, name: c, models: [], tokens: 5 }`,
          `    - { name: d }`,
          `    - 42`
        ].join("\n") + "\n")
      )
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["gateway.keys[0].models[0]", `unknown chain or model "fats" (known chains and models: default, fast, echo)`],
        ["gateway.keys[1].rpm", "Expected a positive number, actual 0"],
        ["gateway.keys[1].spend.usd", "must be a positive amount of US dollars"],
        ["gateway.keys[2].models", "must name at least one chain or model (leave it out for all)"],
        ["gateway.keys[2].tokens", "unknown key (expected one of: key, name, models, rpm, tpm, spend)"],
        ["gateway.keys[3].key", "is required"],
        ["gateway.keys[4]", `Expected a key ("env:NAME", or the key itself) or a client's key ({ key, name, models, rpm, tpm, spend }), actual 42`]
      ])
    })
  )

  it.effect("a name used twice, or a key given twice, is a problem at the later one; a key written in the file is warned about", () =>
    Effect.gen(function* () {
      const twice = yield* parseFail(withKeys(`    - { key: env:GATEWAY_KEY, name: a }\n    - { key: env:OPENAI_API_KEY, name: a }\n`))
      expect(twice.problems.map((p) => [p.path, p.message])).toEqual([
        ["gateway.keys[1].name", `"a" is the name of keys[0] too: names are unique`]
      ])
      const same = yield* parseFail(withKeys(`    - env:GATEWAY_KEY\n    - { key: env:GATEWAY_KEY, name: b }\n`))
      expect(same.problems.map((p) => [p.path, p.message])).toEqual([["gateway.keys[1]", "the same key as keys[0]: give each key once"]])
      expect(JSON.stringify(same)).not.toContain("FAKE")
      const literal = yield* parseOk(withKeys(`    - { key: gw-written-in-the-file, name: c }\n`))
      expect(literal.warnings.map((w) => w.path)).toEqual(["gateway.keys[0].key"])
      const short = yield* parseFail(withKeys(`    - { key: env:GATEWAY_KEY, name: a, spend: { usd: 1, window: "10 millis" } }\n`))
      expect(short.problems.map((p) => [p.path, p.message])).toEqual([
        ["gateway.keys[0].spend.window", "must be at least 24 milliseconds (what is spent leaves it a 24th at a time)"]
      ])
      const reserved = yield* parseFail(withKeys(`    - env:GATEWAY_KEY\n    - { key: env:OPENAI_API_KEY, name: key-1 }\n`))
      expect(reserved.problems.map((p) => [p.path, p.message])).toEqual([
        ["gateway.keys[1].name", "key-N names a bare key (by its place) in logs and metrics: give a client's key another name"]
      ])
      const misplaced = yield* parseFail(withKeys(`    - { key: env:GATEWAY_KEY, name: env:TEAM }\n`))
      expect(misplaced.problems.map((p) => [p.path, p.message])).toEqual([
        ["gateway.keys[0].name", `"env:TEAM": only secrets (apiKey, headers, gateway.keys, state.redis, alerts.webhook.url) are read from the environment; write the value itself`]
      ])
    })
  )
})

describe("Config: a rule beside a secret read from the environment", () => {
  // each otherwise valid; each rule reads a field beside (or holding) an env: secret
  const broken = [
    [`gateway:\n  keys: ["env:RULES_KEY_A"]\n  admin: { port: 8787 }\n`, "gateway.admin.port", "8787 is gateway.port too, on 127.0.0.1: the admin listener needs a port of its own"],
    [`gateway:\n  keys: ["env:RULES_KEY_A"]\n  maxBodyBytes: 2000\n  maxBufferedBytes: 1000\n`, "gateway.maxBufferedBytes", "must be at least maxBodyBytes (2000): no body that large could be read"],
    [`gateway:\n  keys: ["env:RULES_KEY_A", "env:RULES_KEY_B"]\n`, "gateway.keys[1]", "the same key as keys[0]: give each key once"],
    [`gateway:\n  keys: [{ key: "env:RULES_KEY_A", name: n }, { key: other-key-1, name: n }]\n`, "gateway.keys[1].name", `"n" is the name of keys[0] too: names are unique`],
    [`state: { redis: "env:RULES_REDIS", cluster: true }\n`, "state.redis", "redis names a database, and a Redis Cluster has database 0 only"]
  ] as const
  const variables = new Map([["RULES_KEY_A", "same-key-1234"], ["RULES_KEY_B", "same-key-1234"], ["RULES_REDIS", "redis://127.0.0.1:6379/3"]])

  it.effect("each is a ConfigError at its path, read from process.env or from a ConfigProvider", () =>
    Effect.gen(function* () {
      for (const [section, path, message] of broken) {
        const fromMap = yield* parseFail(`${minimal}${section}`, undefined, variables)
        expect(fromMap.problems.map((p) => [p.path, p.message])).toEqual([[path, message]])
      }
      for (const [name, value] of variables) process.env[name] = value
      try {
        for (const [section, path, message] of broken) {
          const fromEnv = yield* Effect.flip(Config.parse(`${minimal}${section}`))
          expect(fromEnv.problems.map((p) => [p.path, p.message])).toEqual([[path, message]])
          expect(fromEnv.message).not.toContain("same-key-1234")
        }
      } finally {
        for (const name of variables.keys()) delete process.env[name]
      }
    }))

  it.effect("the rule reads the variable where the decode does (the ConfigProvider), and is reported beside a sibling's problem", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`${minimal}gateway:\n  keys: ["env:RULES_KEY_A", "env:RULES_KEY_B"]\n  port: eighty\n`, undefined, variables)
      expect(paths(error)).toEqual(["gateway.keys[1]", "gateway.port"])
    }))
})

describe("Config: a secret's place given the wrong shape", () => {
  it.effect("its value is never quoted, whatever its shape: a webhook given as its URL, headers as a line or a list, a key as a mapping", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  o: { type: openai, apiKey: "env:OPENAI_API_KEY", headers: "x-api-key: HDRSTRSECRET123" }
  o2: { type: openai, apiKey: "env:OPENAI_API_KEY", headers: ["x-portkey-api-key=PKSECRET456"] }
  o3: { type: openai, apiKey: { v: "sk-ant-OBJSECRET" } }
models: { m: { provider: o } }
alerts:
  webhook: "https://hooks.slack.com/services/T0000/B0000/WEBHOOKSECRETXYZ"
state: { redis: ["redis://REDISLISTSECRET@127.0.0.1:6379"] }
gateway: { keys: [{ key: { k: GWMAPSECRET1 }, name: a }] }
`)
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        `providers.o.headers: Expected a mapping of header names to values ("env:NAME" or the value itself), actual a string (not quoted: it may hold a secret)`,
        `providers.o2.headers: Expected a mapping of header names to values ("env:NAME" or the value itself), actual a list (not quoted: it may hold a secret)`,
        `providers.o3.apiKey: Expected a string: "env:NAME" to read the environment variable NAME, or the secret itself`,
        `alerts.webhook: Expected a webhook (url, format, headers, on, source), actual a string (not quoted: it may hold a secret)`,
        `state.redis: Expected a string: "env:NAME" to read the environment variable NAME, or the secret itself`,
        `gateway.keys[0].key: Expected a string: "env:NAME" to read the environment variable NAME, or the secret itself`
      ])
      for (const secret of ["HDRSTRSECRET123", "PKSECRET456", "OBJSECRET", "WEBHOOKSECRETXYZ", "REDISLISTSECRET", "GWMAPSECRET1"]) {
        expect(inspect(error, { depth: 20 })).not.toContain(secret)
      }
    }))

  it.effect("a value pasted at a secret's place is suspected wherever else it appears", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  o: { type: openai, apiKey: "env:OPENAI_API_KEY", headers: "x-api-key: HDRSTRSECRET123" }
models: { m: { provider: o, model: "x-api-key: HDRSTRSECRET123", contextWindow: "https://hooks.slack.com/services/T0/B0/HOOKSECRET" } }
alerts: { webhook: "https://hooks.slack.com/services/T0/B0/HOOKSECRET" }
`)
      expect(error.problems.map((p) => p.path)).toEqual(["providers.o.headers", "models.m.contextWindow", "alerts.webhook"])
      expect(error.message).not.toContain("HDRSTRSECRET123")
      expect(error.message).not.toContain("HOOKSECRET")
    }))
})

describe("Config: a secret with a line break", () => {
  const config = `
providers:
  o: { type: openai, apiKey: "env:BREAK_KEY" }
  p: { type: openai, apiKey: "sk-literal-FAKE-0010\\n" }
models: { m: { provider: o }, n: { provider: p } }
gateway: { keys: ["env:BREAK_CRLF", { key: "env:BREAK_NUL", name: a }] }
state: { redis: "env:BREAK_REDIS" }
alerts: { webhook: { url: "env:BREAK_HOOK" } }
`
  it.effect("is a problem at its path (no request could carry it), never quoting it", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(config, undefined, new Map([
        ["BREAK_KEY", "sk-FAKE-BREAK-0001\n"],
        ["BREAK_CRLF", "gw-FAKE-BREAK-0002\r\n"],
        ["BREAK_NUL", "gw-FAKE\0BREAK-0003"],
        ["BREAK_REDIS", "redis://:FAKEBREAKPW@127.0.0.1:6379\n"],
        ["BREAK_HOOK", "https://hooks.example.com/FAKE-BREAK-0004\n"]
      ]))
      const line = "holds a line break or NUL, which no request can carry (a secret read from a file often ends with one)"
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["providers.o.apiKey", `environment variable BREAK_KEY ${line}`],
        ["providers.p.apiKey", `the secret ${line}`],
        ["gateway.keys[0]", `environment variable BREAK_CRLF ${line}`],
        ["gateway.keys[1].key", `environment variable BREAK_NUL ${line}`],
        ["state.redis", `environment variable BREAK_REDIS ${line}`],
        ["alerts.webhook.url", `environment variable BREAK_HOOK ${line}`]
      ])
      expect(inspect(error, { depth: 20 })).not.toMatch(/FAKE-BREAK|FAKEBREAKPW|FAKE-0010/)
    }))

  it.effect("a secret built by hand with one is a problem of Config.check", () =>
    Effect.gen(function* () {
      const { config: parsed } = yield* parseOk(minimal)
      const problems = Config.check({ ...parsed, gateway: { keys: [Redacted.make("gw-FAKE-BREAK-0005\n")] } })
      expect(problems.map((p) => p.path)).toEqual(["gateway.keys[0]"])
      expect(JSON.stringify(problems)).not.toContain("FAKE-BREAK")
    }))

  it.effect("a space or tab before or after a secret is warned of, at its path", () =>
    Effect.gen(function* () {
      const parsed = yield* parseOk(config.replace(`"sk-literal-FAKE-0010\\n"`, `"sk-literal-FAKE-0010 "`), undefined, new Map([
        ["BREAK_KEY", " sk-FAKE-BREAK-0001"],
        ["BREAK_CRLF", "gw-FAKE-BREAK-0002\t"],
        ["BREAK_NUL", "gw-FAKE-BREAK-0003"],
        ["BREAK_REDIS", "redis://127.0.0.1:6379"],
        ["BREAK_HOOK", "https://hooks.example.com/FAKE-BREAK-0004"]
      ]))
      expect(parsed.warnings.filter((w) => w.message.includes("space")).map((w) => [w.path, w.message])).toEqual([
        ["providers.o.apiKey", "begins or ends with a space or tab, sent as it is: remove it unless it belongs to the secret"],
        ["providers.p.apiKey", "begins or ends with a space or tab, sent as it is: remove it unless it belongs to the secret"],
        ["gateway.keys[0]", "begins or ends with a space or tab, sent as it is: remove it unless it belongs to the secret"]
      ])
    }).pipe(Effect.catchAll((e) => Effect.die(e))))
})

describe("Config: repeated faults in all", () => {
  const repeated = (until: string, status: string | number = 500) =>
    `{ repeat: { every: "1 second", until: "${until}" }, fault: { from: 0, to: 500, status: ${status} } }`

  it.effect("come to at most 10,000 windows in a file: each repeated fault past that is a problem at its path, beside the file's other problems", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  a: { type: simulated, faults: [${repeated("6000 seconds")}] }
  b: { type: simulated, faults: [${repeated("6000 seconds")}, ${repeated("5000 seconds", `"x"`)}] }
models: { m: { provider: a, rpm: 0 } }
`)
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["providers.b.faults[0]", "repeats 6000 times, and the file's repeated faults would come to 17000 windows: at most 10000 in all"],
        ["providers.b.faults[1]", "repeats 5000 times, and the file's repeated faults would come to 17000 windows: at most 10000 in all"],
        ["providers.b.faults[1].fault.status", expect.stringContaining("")],
        ["models.m.rpm", "Expected a positive number, actual 0"]
      ])
      const within = yield* parseOk(`
providers:
  a: { type: simulated, faults: [${repeated("6000 seconds")}] }
  b: { type: simulated, faults: [${repeated("4000 seconds")}] }
models: { m: { provider: a } }
`)
      const count = (name: string) => {
        const provider = within.config.providers[name]
        return provider?.type === "simulated" ? provider.faults?.length : undefined
      }
      expect([count("a"), count("b")]).toEqual([6000, 4000])
    }))

  it.effect("twenty repeated faults of 10,000 windows each are refused without expanding them", () =>
    Effect.gen(function* () {
      const faults = Array.from({ length: 20 }, () => `      - ${repeated("10000 seconds")}`).join("\n")
      // not parseFail: a config that passed would be printed whole, 200,000 windows of it
      const exit = yield* Effect.exit(Config.parse(`providers:\n  s:\n    type: simulated\n    faults:\n${faults}\nmodels: { m: { provider: s } }\n`))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error.problems).toHaveLength(19)
      expect(error.problems[0]).toMatchObject({ path: "providers.s.faults[1]", message: "repeats 10000 times, and the file's repeated faults would come to 200000 windows: at most 10000 in all" })
    }))
})

describe("Config: durations past a year", () => {
  it.effect("are a problem at their path (1e308 milliseconds crashed validate and serve)", () =>
    Effect.gen(function* () {
      // not parseFail: a config that passed, its durations printed, hangs the reporter
      const exit = yield* Effect.exit(parseOk(`${minimal}policy:
  timeouts: { total: 1e308, attempt: 1e308 }
  retry: { cap: "1000 days" }
gateway: { requestTimeout: 1e308, shutdownDelay: "366 days", drainTimeout: "365 days" }
health: { window: 1e300 }
`))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["policy.timeouts.total", "must be at most 365 days"],
        ["policy.timeouts.attempt", "must be at most 365 days"],
        ["policy.retry.cap", "must be at most 365 days"],
        ["gateway.requestTimeout", "must be at most 365 days"],
        ["gateway.shutdownDelay", "must be at most 365 days"],
        ["health.window", "must be at most 365 days"]
      ])
      // a config built by hand may still say "never" with an infinite timeout
      const { config } = yield* parseOk(minimal)
      expect(Config.check({ ...config, policy: { timeouts: { total: Duration.infinity } } })).toEqual([])
    }))
})

describe("Config: a reference inside a longer value", () => {
  it.effect("is a problem at its path, not sent as written", () =>
    Effect.gen(function* () {
      const error = yield* parseFail(`
providers:
  o: { type: openai, baseUrl: "https://\${HOST}/v1", apiKey: "env:OPENAI_API_KEY", headers: { authorization: "Bearer env:TOKEN", helicone-auth: "Bearer \${HELICONE}" } }
  p: { type: openai, apiKey: " env:OPENAI_API_KEY" }
models: { m: { provider: o }, n: { provider: p } }
`)
      const whole = "only a whole value is read from the environment: put all of it in the variable and write env:NAME"
      expect(error.problems.map((p) => [p.path, p.message])).toEqual([
        ["providers.o.baseUrl", "a shell's variable is not read from the file: write the URL itself"],
        ["providers.o.headers.authorization", whole],
        ["providers.o.headers.helicone-auth", whole],
        ["providers.p.apiKey", "write env:OPENAI_API_KEY without the spaces around it"]
      ])
    }))
})

describe("Config: a Redis URL written in the file", () => {
  it.effect("with a password (or a user) is warned of as a secret written in the file; without one it is not", () =>
    Effect.gen(function* () {
      const warned = (redis: string) =>
        Effect.map(parseOk(`${minimal}state: { redis: "${redis}" }\n`), ({ warnings }) => warnings.map((w) => [w.path, w.message]))
      expect(yield* warned("redis://default:FAKE-REDIS-PW@127.0.0.1:6379")).toEqual([
        ["state.redis", `a secret written in the file: prefer "env:NAME" so the file holds none`]
      ])
      expect(yield* warned("redis://FAKE-REDIS-TOKEN@127.0.0.1:6379")).toHaveLength(1)
      expect(yield* warned("redis://127.0.0.1:6379")).toEqual([])
    }))
})

describe("Config: the wrong file", () => {
  it.effect("a message lists the first 20 problems and counts the rest; a file with NUL bytes is said to be no config", () =>
    Effect.gen(function* () {
      const models = Array.from({ length: 30 }, (_, i) => `  m${i}: { provider: nope }`).join("\n")
      const error = yield* parseFail(`providers: { s: { type: simulated } }\nmodels:\n${models}\n`)
      expect(error.problems).toHaveLength(30)
      const lines = error.message.split("\n")
      expect(lines).toHaveLength(22)
      expect(lines[0]).toBe("invalid config (30 problems):")
      expect(lines.at(-1)).toBe("  ... and 10 more")
      const binary = yield* parseFail("\u007fELF\u0002\u0001\u0001\u0000\u0000\u0000garbage: [\n")
      expect(binary.problems).toEqual([{ path: "", message: "the file holds NUL bytes: not a YAML or JSON config" }])
    }))
})
