/**
 * The `llm-failover` command line: `serve` runs the gateway from a config
 * file (or the embedded demo), `validate` checks a config and reports every
 * problem at its path.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as Config from "../config/Config.js"
import * as Demo from "../config/Demo.js"
import * as Gateway from "../gateway/Gateway.js"
import * as Router from "../router/Router.js"

const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("the config file (YAML or JSON)")
)

/** Reads a config, or the embedded demo; prints every problem and exits 1 on an invalid one. */
const loadConfig = (path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => Demo.config,
    onSome: (file) => Config.load(file)
  })

const reportProblems = (error: Config.ConfigError) =>
  Effect.zipRight(
    Console.error(error.message),
    Effect.sync(() => {
      process.exitCode = 1
    })
  )

const logWarnings = (parsed: Config.Parsed) =>
  Effect.forEach(parsed.warnings, (warning) => Effect.logWarning(Config.formatProblem(warning)), { discard: true })

/**
 * What the server prints once it listens: where it is, what it serves, and
 * how to call it with curl and with the official `openai` client.
 *
 * @example
 * import { Cli } from "effect-llm-failover/cli"
 *
 * console.log(Cli.banner({ url: "http://127.0.0.1:8787", chains: ["default"], models: ["mini"], demo: true, auth: false }))
 *
 * @since 0.1.0
 * @category output
 */
export const banner = (options: {
  readonly url: string
  readonly chains: ReadonlyArray<string>
  readonly models: ReadonlyArray<string>
  readonly demo: boolean
  readonly auth: boolean
}): string => {
  const model = options.chains[0] ?? options.models[0] ?? "default"
  const key = options.auth ? "$GATEWAY_KEY" : "unused"
  const authHeader = options.auth ? ` \\\n  -H "authorization: Bearer $GATEWAY_KEY"` : ""
  return [
    ``,
    `effect-llm-failover gateway listening on ${options.url}${options.demo ? " (demo config: simulated providers)" : ""}`,
    `  chains: ${options.chains.join(", ") || "(none)"}`,
    `  models: ${options.models.join(", ")}`,
    ``,
    `Try it with curl (-i shows the x-llm-* headers: who answered, after how many fallbacks):`,
    `  curl -i ${options.url}/v1/chat/completions${authHeader} \\`,
    `    -H "content-type: application/json" \\`,
    `    -d '{"model":"${model}","messages":[{"role":"user","content":"Say hello"}]}'`,
    ``,
    `Or with the openai client (npm install openai):`,
    `  import OpenAI from "openai"`,
    `  const client = new OpenAI({ baseURL: "${options.url}/v1", apiKey: "${key}" })`,
    `  const { data, response } = await client.chat.completions`,
    `    .create({ model: "${model}", messages: [{ role: "user", content: "Say hello" }] })`,
    `    .withResponse()`,
    `  console.log(response.headers.get("x-llm-provider"), data.choices[0].message.content)`,
    ``,
    ...(options.demo
      ? [
          `The demo's primary (sonnet) is down one minute in every three, from minute 1: watch`,
          `x-llm-target and x-llm-fallbacks change. With provider keys set, serve the real providers:`,
          `  npm run cli -- serve --config examples/configs/real-providers.yaml`,
          ``
        ]
      : []),
    `Ctrl-C (or SIGTERM) drains requests in flight and stops.`,
    ``
  ].join("\n")
}

const serve = Command.make(
  "serve",
  {
    config: Options.optional(configOption),
    port: Options.integer("port").pipe(Options.withDescription("the port (0 picks a free one)"), Options.optional),
    host: Options.text("host").pipe(Options.withDescription("the address to bind (default 127.0.0.1)"), Options.optional)
  },
  ({ config, host, port }) =>
    Effect.gen(function* () {
      const parsed = yield* loadConfig(config)
      yield* logWarnings(parsed)
      const settings = Config.gatewaySettings(parsed.config)
      const router = yield* Router.make(yield* Config.toRouterConfig(parsed.config))
      yield* Gateway.serve({
        ...settings,
        ...Option.match(port, { onNone: () => ({}), onSome: (p) => ({ port: p }) }),
        ...Option.match(host, { onNone: () => ({}), onSome: (h) => ({ host: h }) }),
        router,
        onListening: (server) =>
          Console.log(
            banner({
              url: server.url,
              chains: router.chains,
              models: router.targets,
              demo: Option.isNone(config),
              auth: settings.keys.length > 0
            })
          )
      })
    }).pipe(Effect.scoped, Effect.catchTag("ConfigError", reportProblems))
).pipe(Command.withDescription("serve the OpenAI-compatible gateway (without --config: the demo)"))

const validate = Command.make("validate", { config: configOption }, ({ config }) =>
  Effect.gen(function* () {
    const parsed = yield* Config.load(config)
    for (const warning of parsed.warnings) yield* Console.log(`warning: ${Config.formatProblem(warning)}`)
    const { chains, models, providers } = parsed.config
    yield* Console.log(
      `${config}: valid (${Object.keys(providers).length} providers, ${Object.keys(models).length} models, ${
        Object.keys(chains ?? {}).length
      } chains)`
    )
  }).pipe(Effect.catchTag("ConfigError", reportProblems))
).pipe(Command.withDescription("check a config file and report every problem at its path"))

/**
 * The `llm-failover` command and its subcommands.
 *
 * @example
 * import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Cli } from "effect-llm-failover/cli"
 *
 * Cli.run(process.argv).pipe(
 *   Effect.provide(NodeContext.layer),
 *   Effect.provide(NodeHttpClient.layerUndici),
 *   NodeRuntime.runMain
 * )
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("llm-failover").pipe(
  Command.withDescription("resilient multi-provider LLM calls: gateway and tools"),
  Command.withSubcommands([serve, validate])
)

/**
 * Runs the command line on `process.argv`-style arguments.
 *
 * @example
 * import { Cli } from "effect-llm-failover/cli"
 *
 * const program = Cli.run(["node", "llm-failover", "validate", "--config", "router.yaml"])
 *
 * @since 0.1.0
 * @category commands
 */
export const run = Command.run(command, { name: "llm-failover", version: "0.1.0" })
