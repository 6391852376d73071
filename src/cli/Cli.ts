/**
 * The `llm-failover` command line: `serve` runs the gateway from a config
 * file (or the embedded demo), `validate` checks a config and reports every
 * problem at its path, `simulate` replays an incident against a policy in
 * virtual time, and `report` prints a running gateway's cost report.
 *
 * @since 0.1.0
 */
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import type { ServeError } from "@effect/platform/HttpServerError"
import { FileSystem } from "@effect/platform"
import { Console, Duration, Effect, ExecutionStrategy, Layer, Logger, LogLevel, Option, Predicate, Redacted, Scope } from "effect"
import * as Yaml from "yaml"
import * as Config from "../config/Config.js"
import * as Demo from "../config/Demo.js"
import * as Gateway from "../gateway/Gateway.js"
import * as CostReport from "../observability/CostReport.js"
import * as Observability from "../observability/Observability.js"
import * as Webhook from "../observability/Webhook.js"
import * as Router from "../router/Router.js"
import * as Report from "../simulator/Report.js"
import * as Scenario from "../simulator/Scenario.js"
import * as Simulator from "../simulator/Simulator.js"
import type * as VirtualTime from "../simulator/VirtualTime.js"
import * as HeapGrowth from "./internal/heapGrowth.js"
import * as LogLines from "./internal/logLines.js"
import * as Otlp from "./internal/otlp.js"
import * as Reload from "./internal/reload.js"
import * as Runaway from "./internal/runaway.js"
import * as ServeRefs from "./internal/serveRefs.js"

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

/**
 * A server that cannot listen (the port taken, a host that is no address
 * here): one line, exit 1. With an admin listener, a failure on its port
 * (Node's error names the port) says it is the admin listener's; on a port
 * both listeners were given (`--port` over the file's), that they share it.
 */
const reportListenFailure = (error: ServeError, listeners: { readonly port: number; readonly admin?: number }) => {
  const said = error.cause instanceof Error ? error.cause.message : String(error.cause)
  const failed: unknown = Predicate.isRecord(error.cause) ? error.cause["port"] : undefined
  const admin = listeners.admin !== undefined && listeners.admin !== 0 && failed === listeners.admin ? listeners.admin : undefined
  const line = admin === undefined
    ? `cannot listen: ${said}`
    : admin === listeners.port
    ? `cannot listen: ${said} (the admin listener, gateway.admin, is on port ${admin} too: give it a port of its own)`
    : `cannot listen (the admin listener, gateway.admin): ${said}`
  return Effect.zipRight(
    Console.error(`llm-failover serve: ${line}`),
    Effect.sync(() => {
      process.exitCode = 1
    })
  )
}

/**
 * The environment variable a config file's first gateway key is read from
 * (`env:NAME`), for the banner's examples; `undefined` for a key written in
 * the file, or none.
 */
const keyVariable = (path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => Effect.succeed(undefined),
    onSome: (file) =>
      Effect.flatMap(FileSystem.FileSystem, (fs) => Effect.orElseSucceed(fs.readFileString(file), () => "")).pipe(
        Effect.map((text): string | undefined => {
          try {
            const root: unknown = Yaml.parse(text, { logLevel: "error" })
            const gateway = Predicate.isRecord(root) ? root["gateway"] : undefined
            const keys = Predicate.isRecord(gateway) ? gateway["keys"] : undefined
            const entry: unknown = Array.isArray(keys) ? keys[0] : undefined
            // a key bare, or a client's
            const first = Predicate.isRecord(entry) ? entry["key"] : entry
            return typeof first === "string" && first.startsWith("env:") ? first.slice("env:".length) : undefined
          } catch {
            return undefined
          }
        })
      )
  })

/** Whether an address to bind is this machine's alone. */
const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^(?:::ffff:)?127\.\d+\.\d+\.\d+$/.test(host)

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
  /** The environment variable the gateway's key is in, for the examples (default `GATEWAY_KEY`); never the key. */
  readonly keyVariable?: string
  /** The admin listener's URL, where `/status` and `/metrics` are served, when `gateway.admin` asks for one. */
  readonly adminUrl?: string
  /** Where traces are exported, when they are (OTLP): a URL without credentials. */
  readonly traces?: string
  /** Where metrics are pushed, when they are (OTLP): a URL without credentials. */
  readonly metrics?: string
}): string => {
  const model = options.chains[0] ?? options.models[0] ?? "default"
  const variable = options.keyVariable ?? "GATEWAY_KEY"
  // Node reads the variable; a string "$GATEWAY_KEY" would be sent as it is
  const key = options.auth ? `process.env[${JSON.stringify(variable)}]` : `"unused"`
  const authHeader = options.auth ? ` \\\n    -H "authorization: Bearer $${variable}"` : ""
  // Claude Code sends ANTHROPIC_AUTH_TOKEN as a Bearer key, Gemini CLI GEMINI_API_KEY as x-goog-api-key; both want one set
  const claudeKey = ` ANTHROPIC_AUTH_TOKEN=${options.auth ? `$${variable}` : "unused"}`
  const geminiKey = ` GEMINI_API_KEY=${options.auth ? `$${variable}` : "unused"}`
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
    `  const client = new OpenAI({ baseURL: "${options.url}/v1", apiKey: ${key} })`,
    `  const { data, response } = await client.chat.completions`,
    `    .create({ model: "${model}", messages: [{ role: "user", content: "Say hello" }] })`,
    `    .withResponse()`,
    `  console.log(response.headers.get("x-llm-provider"), data.choices[0].message.content)`,
    ``,
    `The Responses API is served too, stateless: client.responses.create({ model: "${model}", input: "Say hello" }),`,
    `Anthropic's Messages API: new Anthropic({ baseURL: "${options.url}" }).messages.create(...), and Gemini's API:`,
    `new GoogleGenAI({ httpOptions: { baseUrl: "${options.url}" } }).models.generateContent({ model: "${model}", ... }).`,
    `Claude Code (its sonnet, opus and haiku asks, each to a chain):`,
    `  ANTHROPIC_BASE_URL=${options.url}${claudeKey} ANTHROPIC_DEFAULT_SONNET_MODEL=${model} ANTHROPIC_DEFAULT_OPUS_MODEL=${model} ANTHROPIC_DEFAULT_HAIKU_MODEL=${model} claude`,
    `Gemini CLI: GOOGLE_GEMINI_BASE_URL=${options.url}${geminiKey} gemini -m ${model}`,
    ``,
    ...(options.demo
      ? [
          `The demo's primary (sonnet) is down one minute in every three, from minute 1: watch`,
          `x-llm-target and x-llm-fallbacks change. With provider keys set, serve the real providers:`,
          `  llm-failover serve --config router.yaml   (a clone has examples/configs/real-providers.yaml)`,
          ``
        ]
      : []),
    `Operators: ${options.adminUrl ?? options.url}/status (health at a glance), ${options.adminUrl ?? options.url}/metrics (Prometheus),`,
    `${options.url}/v1/usage (tokens and cost, and what fallbacks cost).`,
    ...(options.traces === undefined ? [] : [`Traces: exported to ${options.traces}.`]),
    ...(options.metrics === undefined ? [] : [`Metrics: pushed to ${options.metrics}.`]),
    ``,
    `Ctrl-C (or SIGTERM) drains requests in flight and stops; a second Ctrl-C stops at once.`,
    ...(options.demo ? [] : [`SIGHUP reloads the config file without dropping a request (not on Windows).`]),
    ``
  ].join("\n")
}

const serve = Command.make(
  "serve",
  {
    config: configOption.pipe(
      Options.withDescription("(default: the embedded demo, simulated providers)"),
      Options.optional
    ),
    port: Options.integer("port").pipe(
      Options.withDescription("the port (default: the config's gateway.port, else 8787; 0 picks a free one)"),
      Options.filterMap(
        (port) => (port >= 0 && port <= 65535 ? Option.some(port) : Option.none()),
        "--port must be a whole number from 0 to 65535"
      ),
      Options.optional
    ),
    host: Options.text("host").pipe(
      Options.withDescription("the address to bind (default: the config's gateway.host, else 127.0.0.1)"),
      // Node binds every interface for "": an unset `--host "$HOST"` must not open the gateway to the network
      Options.filterMap((host) => (host.trim() === "" ? Option.none() : Option.some(host.trim())), "--host must name an address, not be empty"),
      Options.optional
    ),
    heapGrowth: Options.integer("heap-growth").pipe(
      Options.withDescription(
        `how far the heap may grow past what is live before a full collection, in percent (default ${HeapGrowth.defaultPercent}; 0: V8's own policy, which lets it grow up to 4x under load)`
      ),
      Options.filterMap(
        (percent) => (percent >= 0 && percent <= HeapGrowth.maxPercent ? Option.some(percent) : Option.none()),
        `--heap-growth must be a whole number from 0 to ${HeapGrowth.maxPercent}`
      ),
      Options.withDefault(HeapGrowth.defaultPercent)
    )
  },
  ({ config, heapGrowth, host, port }) =>
    Effect.matchEffect(Otlp.allSettings, {
      // the trace export's and metrics push's variables, every problem at once: a gateway that would silently export nothing is not started
      onFailure: (problems) =>
        Effect.zipRight(
          Console.error(`OpenTelemetry's environment variables hold ${count(problems.length, "problem")}; serve did not start:\n${problems.map((p) => `  ${p}`).join("\n")}`),
          Effect.sync(() => {
            process.exitCode = 1
          })
        ),
      onSuccess: ({ metrics, traces }) => serveGateway({ config, heapGrowth, host, port }, traces, metrics)
    }).pipe(Effect.provide(LogLines.layer))
).pipe(
  Command.withDescription(
    "serve the OpenAI-compatible gateway (without --config: the demo); SIGHUP reloads the config file without dropping a request " +
      "(an invalid one is logged and the old one kept; open breakers stay open; gateway keys rotate; host, port, admin, the gateway's other settings (limits, timeouts, cors), a change between keys and none, state and alerts need a restart); " +
      "OTEL_EXPORTER_OTLP_ENDPOINT (and OpenTelemetry's other variables) exports traces over OTLP/HTTP, and OTEL_METRICS_EXPORTER=otlp pushes metrics"
  )
)

/** This package's version (the command's `--version`, the traces' `service.version`). */
const packageVersion = "0.1.0"

/** `serve`, with its trace export (`Some`) or none, and its metrics push or none. */
const serveGateway = (
  { config, heapGrowth, host, port }: {
    readonly config: Option.Option<string>
    readonly heapGrowth: number
    readonly host: Option.Option<string>
    readonly port: Option.Option<number>
  },
  tracing: Option.Option<Otlp.Settings>,
  metrics: Option.Option<Otlp.MetricsSettings>
) =>
    Effect.gen(function* () {
      yield* HeapGrowth.set(heapGrowth)
      const parsed = yield* loadConfig(config)
      yield* logWarnings(parsed)
      const settings = Config.gatewaySettings(parsed.config)
      const variable = settings.keys.length > 0 ? yield* keyVariable(config) : undefined
      const bound = Option.getOrElse(host, () => settings.host)
      if (settings.keys.length === 0 && !isLoopback(bound)) {
        // without gateway keys, a completion asks for none
        yield* Effect.logWarning(
          `gateway on ${bound} with no gateway key: anyone who can reach the port can call its providers; set gateway.keys, or serve on 127.0.0.1`
        )
      }
      if (settings.keys.length === 0 && settings.cors?.origins.includes("*") === true) {
        // a keyless loopback gateway answers only a loopback Host (DNS rebinding), but "*" lets any page call it by its address
        yield* Effect.logWarning(
          `gateway.cors allows any origin ("*") and the gateway asks no key: any web page open in a browser that can reach ${bound} can call its providers and read the answers; set gateway.keys, or list the origins`
        )
      }
      // /status and /metrics never ask for a key
      const adminHost = settings.admin === undefined ? undefined : settings.admin.host ?? Gateway.defaults.host
      if (adminHost === undefined ? !isLoopback(bound) : !isLoopback(adminHost)) {
        yield* Effect.logWarning(
          adminHost === undefined
            ? `gateway on ${bound} serves /status and /metrics to anyone who can reach the port; set gateway.admin to serve them on a private address`
            : `gateway's admin listener on ${adminHost} serves /status and /metrics to anyone who can reach its port; keep it on a private address`
        )
      }
      const shared = Config.sharedState(parsed.config)
      // shared state lives as long as the server: built in its scope, provided to every router (a reload's too)
      const sharedContext = shared === undefined ? undefined : yield* Layer.build(shared)
      const makeRouter = Effect.flatMap(Config.toRouterConfig(parsed.config), (routerConfig) => Router.make(routerConfig))
      // each router in a scope of its own, closed once a reload has replaced it and its requests are done
      const serverScope = yield* Effect.scope
      const routerScope = yield* Scope.fork(serverScope, ExecutionStrategy.sequential)
      const first = yield* Scope.extend(sharedContext === undefined ? makeRouter : Effect.provide(makeRouter, sharedContext), routerScope)
      const swappable = yield* Scope.extend(Router.swappable(first), routerScope)
      const router = swappable.router
      // rotated on a reload (between keys, not to or from none)
      const keyRing = Gateway.keyRing(settings.keys)
      if (Option.isSome(config)) {
        yield* Reload.onHangup({
          file: config.value,
          swappable,
          scope: serverScope,
          shared: sharedContext,
          overrides: { host: Option.isSome(host), port: Option.isSome(port) },
          scopes: new Map([[first, routerScope]]),
          keyRing,
          config: parsed.config,
          started: parsed.config
        })
      }
      // without an exporter, no spans: building them costs a request about 0.5 ms for nothing
      const alerting = Config.alertSettings(parsed.config)
      const observability = yield* Observability.attach(router, {
        telemetry: { tracing: Option.isSome(tracing) },
        ...(alerting.alert === undefined ? {} : { alert: alerting.alert })
      })
      if (alerting.webhook !== undefined) yield* Webhook.attach(observability, alerting.webhook)
      const serving = Gateway.serve({
        routes: [
          { path: "/metrics", handler: observability.handlers.metrics },
          { path: "/status", handler: observability.handlers.status },
          { path: "/status.json", handler: observability.handlers.statusJson },
          { path: "/v1/usage", handler: observability.handlers.usage, requireKey: true }
        ],
        ...settings,
        ...Option.match(port, { onNone: () => ({}), onSome: (p) => ({ port: p }) }),
        ...Option.match(host, { onNone: () => ({}), onSome: (h) => ({ host: h }) }),
        router,
        keyRing,
        onListening: (server) =>
          Console.log(
            banner({
              url: server.url,
              chains: router.chains,
              models: router.targets,
              demo: Option.isNone(config),
              auth: settings.keys.length > 0,
              ...(server.admin === undefined ? {} : { adminUrl: server.admin.url }),
              ...(variable === undefined ? {} : { keyVariable: variable }),
              ...Option.match(tracing, { onNone: () => ({}), onSome: (settings) => ({ traces: Otlp.describe(settings) }) }),
              ...Option.match(metrics, { onNone: () => ({}), onSome: (settings) => ({ metrics: Otlp.describeMetrics(settings) }) })
            })
          )
      })
      // with shared state, a client key's limits and spending are counted across the instances too
      yield* (sharedContext === undefined ? serving : Effect.provide(serving, sharedContext)).pipe(
        Effect.catchTag("ServeError", (error) =>
          reportListenFailure(error, {
            port: Option.getOrElse(port, () => settings.port),
            ...(settings.admin === undefined ? {} : { admin: settings.admin.port })
          })
        )
      )
    }).pipe(
      Effect.scoped,
      // spans only with an exporter, and the providers' auth header names (and the collectors') redacted once
      ServeRefs.withServeRefs({
        tracing: Option.isSome(tracing),
        redact: [...Option.match(tracing, { onNone: () => [], onSome: Otlp.headerNames }), ...Option.match(metrics, { onNone: () => [], onSome: Otlp.headerNames })]
      }),
      // the exporters outlive the server: the drained requests' spans and counts are sent as they close
      (served) => Option.match(metrics, { onNone: () => served, onSome: (settings) => Effect.provide(served, Otlp.metricsLayer(settings, packageVersion)) }),
      (served) => Option.match(tracing, { onNone: () => served, onSome: (settings) => Effect.provide(served, Otlp.layer(settings, packageVersion)) }),
      // a scenario given as the config is one problem that says so (Config's)
      Effect.catchTag("ConfigError", reportProblems)
    )

/** `1 model`, `2 models`. */
const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`

/** What a valid config holds, in words; without `chains`, one default chain holds every model. */
const contents = (config: Config.ConfigFile): string => {
  const chains = config.chains === undefined ? "1 chain (default: every model)" : count(Object.keys(config.chains).length, "chain")
  const keys = config.gateway?.keys ?? []
  // a client's key by its name; never a key
  const clients = keys.flatMap((key) => (Redacted.isRedacted(key) ? [] : [key.name]))
  const gateway = keys.length === 0 ? "" : `, ${count(keys.length, "gateway key")}${clients.length === 0 ? "" : ` (clients: ${clients.join(", ")})`}`
  return `${count(Object.keys(config.providers).length, "provider")}, ${count(Object.keys(config.models).length, "model")}, ${chains}${gateway}`
}

/**
 * Whether a file's text is a scenario's (a top-level `load` or `seed`), which
 * `simulate` reads, not a config: its root read as YAML (JSON too, and a
 * flow mapping), as a simulated provider's `seed` sits deeper. Text that does
 * not parse is left to the config's parser, which says what is wrong.
 */
const looksLikeScenario = (text: string): boolean => kindOf(text) === "scenario"

/** A file's text as a scenario (a top-level `load` or `seed`), a config (`providers` or `models`), or neither. */
const kindOf = (text: string): "scenario" | "config" | undefined => {
  try {
    // errors only: a warning goes to process.emitWarning quoting its line, which may hold a secret
    const root: unknown = Yaml.parse(text, { logLevel: "error" })
    if (typeof root !== "object" || root === null || Array.isArray(root)) return undefined
    return "load" in root || "seed" in root ? "scenario" : "providers" in root || "models" in root ? "config" : undefined
  } catch {
    return undefined
  }
}

/**
 * After a config given to `simulate` failed it: one more line, saying what
 * the file is and which command reads it. (A scenario given to `serve` is
 * one problem of the config's, which says so.)
 */
const hintConfig = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => Effect.orElseSucceed(fs.readFileString(path), () => "")).pipe(
    Effect.flatMap((text) =>
      kindOf(text) === "config"
        ? Console.error(`${path} is a config, not a scenario (a scenario adds load and seed): serve it with llm-failover serve --config ${path}`)
        : Effect.void
    )
  )

/**
 * Prints each warning on a line of its own (`warning: chains.fast.race: ...`),
 * on stderr, as every command's (stdout is the command's answer, `--json`'s
 * too): a warning stops nothing.
 */
const showWarnings = (warnings: ReadonlyArray<Config.Problem>) =>
  Effect.forEach(warnings, (warning) => Console.error(`warning: ${Config.formatProblem(warning)}`), { discard: true })

/**
 * A scenario's warnings: its file's, then the router's (what it would log
 * when made from the scenario's config), then a retry or hedge almost
 * without end (which a simulation stops at its bound of calls).
 */
const scenarioWarnings = (scenario: Scenario.Scenario): ReadonlyArray<Config.Problem> => [
  ...(scenario.warnings ?? []),
  ...Config.routerWarnings(scenario.config),
  ...Runaway.warnings(scenario.config)
]

const validate = Command.make("validate", { config: configOption }, ({ config }) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* Effect.orElseSucceed(fs.readFileString(config), () => "")
    if (looksLikeScenario(text)) {
      // a scenario: the config it holds and its load, checked as `simulate` would read them
      const scenario = yield* Scenario.parse(text, { source: config })
      const { duration, requestsPerSecond } = scenario.load
      yield* showWarnings(scenarioWarnings(scenario))
      return yield* Console.log(
        `${config}: valid scenario (${contents(scenario.config)}; ${Duration.format(duration)} at ${requestsPerSecond} ${requestsPerSecond === 1 ? "request" : "requests"} a second)`
      )
    }
    const parsed = yield* Config.load(config)
    // the file's own warnings, then the router's (what it would log when made from the file), then a retry or hedge almost without end
    yield* showWarnings([...parsed.warnings, ...Config.routerWarnings(parsed.config), ...Runaway.warnings(parsed.config)])
    yield* Console.log(`${config}: valid (${contents(parsed.config)})`)
  }).pipe(Effect.catchTags({ ConfigError: reportProblems, ScenarioError: simulationFailed }))
).pipe(Command.withDescription("check a config file (or a simulator scenario) and report every problem at its path"))

/** What runs of a simulation cost in real time, for a person only: the report itself never varies. */
const cost = (stats: ReadonlyArray<VirtualTime.Stats>) => {
  const real = stats.reduce((sum, s) => sum + s.realMillis, 0)
  const virtual = stats.reduce((sum, s) => sum + s.virtualMillis, 0)
  const wakeUps = stats.reduce((sum, s) => sum + s.wakeUps, 0)
  return `${(virtual / 60_000).toFixed(1)} virtual minutes in ${(real / 1000).toFixed(1)} s of real time, ${wakeUps.toLocaleString("en-US")} clock wake-ups`
}

/** The terminal report's last line: what the runs cost. */
const footer = (stats: ReadonlyArray<VirtualTime.Stats>) => `\n(${cost(stats)})`

/** What each run cost, at debug level, by its policy: with `--json`, the footer's figures are not printed. */
const logRuns = (runs: ReadonlyArray<{ readonly report: Report.Report; readonly stats: VirtualTime.Stats }>) =>
  Effect.forEach(runs, ({ report, stats }) => Effect.logDebug(`simulated ${report.scenario} under ${report.policy}: ${cost([stats])}`), {
    discard: true
  })

/**
 * Log records on stderr, not stdout, for a command whose stdout is its
 * answer (`--json` piped into another program): with `--log-level debug`
 * they went into the JSON.
 */
const toStderr = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provide(effect, Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))

/** An invalid scenario or a run that could not happen: the message, and exit code 1. */
const simulationFailed = (error: { readonly message: string }) =>
  Effect.zipRight(
    Console.error(error.message),
    Effect.sync(() => {
      process.exitCode = 1
    })
  )

const simulate = Command.make(
  "simulate",
  {
    scenario: Options.file("scenario").pipe(Options.withAlias("s"), Options.withDescription("the scenario file (YAML or JSON)")),
    json: Options.boolean("json").pipe(Options.withDescription("print the report as JSON")),
    compare: Options.boolean("compare").pipe(
      Options.withDescription("run the scenario under the naive, default and its own policy, side by side")
    )
  },
  ({ compare, json, scenario }) =>
    Effect.gen(function* () {
      const loaded = yield* Scenario.load(scenario)
      // on stderr: with --json, stdout is the report alone
      yield* showWarnings(scenarioWarnings(loaded))
      if (compare) {
        const { comparison, stats } = yield* Simulator.compare(loaded)
        yield* logRuns(comparison.reports.map((report, i) => ({ report, stats: stats[i]! })))
        yield* Console.log(json ? Report.comparisonToJson(comparison) : Report.formatComparison(comparison) + footer(stats))
      } else {
        const { report, stats } = yield* Simulator.run(loaded)
        yield* logRuns([{ report, stats }])
        yield* Console.log(json ? Report.toJson(report) : Report.format(report) + footer([stats]))
      }
    }).pipe(
      Effect.catchTags({
        ScenarioError: (error) => Effect.zipRight(simulationFailed(error), hintConfig(scenario)),
        SimulationError: simulationFailed
      }),
      toStderr
    )
).pipe(Command.withDescription("replay a provider incident against a fallback policy, in virtual time"))

const dollars = (n: number) => `$${n.toFixed(6)}`

/**
 * A cost report as a table a person reads: per model and per chain, requests,
 * fallbacks, tokens, cost, and the extra cost fallbacks caused.
 *
 * @example
 * import { Cli } from "effect-llm-failover/cli"
 *
 * declare const report: import("effect-llm-failover/observability").CostReport.Report
 * console.log(Cli.formatUsage(report))
 *
 * @since 0.1.0
 * @category output
 */
export const formatUsage = (report: CostReport.Report): string => {
  const row = (name: string, line: CostReport.Report["totals"]) =>
    [
      name.padEnd(36),
      String(line.requests).padStart(9),
      String(line.fallbackRequests).padStart(10),
      String(line.inputTokens).padStart(10),
      String(line.outputTokens).padStart(10),
      dollars(line.cost).padStart(12),
      dollars(line.fallbackExtraCost).padStart(14)
    ].join(" ")
  const header = [
    "".padEnd(36),
    "requests".padStart(9),
    "fallbacks".padStart(10),
    "tokens in".padStart(10),
    "tokens out".padStart(10),
    "cost".padStart(12),
    "fallback cost".padStart(14)
  ].join(" ")
  return [
    `usage from ${new Date(report.from).toISOString()} to ${new Date(report.to).toISOString()} (${report.currency})`,
    header,
    ...report.byModel.map((line) => row(`${line.provider}/${line.model}`, line)),
    ...report.byChain.map((line) => row(`chain ${line.chain}`, line)),
    row("total", report.totals),
    `shadow calls: ${report.shadow.totals.calls}, ${dollars(report.shadow.totals.cost)}`
  ].join("\n")
}

/**
 * The usage endpoint under a gateway's base URL, its query kept; the OpenAI
 * client's base URL (`.../v1`, which the banner prints too) is taken as the
 * gateway's. A URL that is not http(s) is left as given, for
 * `CostReport.fetch` to refuse.
 */
const usageUrl = (base: string): string => {
  try {
    const url = new URL(base)
    if (url.protocol !== "http:" && url.protocol !== "https:") return base
    url.pathname = `${url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/usage`
    return url.href
  } catch {
    return base
  }
}

const defaultUrl = `http://${Config.gatewayDefaults.host}:${Config.gatewayDefaults.port}`

const report = Command.make(
  "report",
  {
    url: Options.text("url").pipe(
      Options.withDescription(`the gateway's base URL, or the OpenAI client's (.../v1) (default ${defaultUrl})`),
      Options.withDefault(defaultUrl)
    ),
    since: Options.text("since").pipe(
      Options.withDescription("from when: epoch millis or an ISO date"),
      Options.filterMap((text) => {
        const millis = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
        return Number.isFinite(millis) ? Option.some(millis) : Option.none()
      }, "--since must be epoch milliseconds or an ISO 8601 date"),
      Options.optional
    ),
    json: Options.boolean("json").pipe(Options.withDescription("print the report as JSON"))
  },
  ({ json, since, url }) =>
    Effect.gen(function* () {
      const key = process.env["GATEWAY_KEY"]
      const usage = yield* CostReport.fetch(usageUrl(url), {
        ...Option.match(since, { onNone: () => ({}), onSome: (millis) => ({ since: millis }) }),
        ...(key === undefined || key === "" ? {} : { apiKey: Redacted.make(key) })
      }).pipe(
        Effect.mapError((error) =>
          // the gateway tells an HTTP client to send a header; the command line takes the key from the environment
          error.status === 401
            ? new CostReport.UsageFetchError({ message: `${error.message} (set GATEWAY_KEY to the gateway's key)`, status: 401 })
            : error
        )
      )
      yield* Console.log(json ? JSON.stringify(usage, null, 2) : formatUsage(usage))
    }).pipe(Effect.catchTag("UsageFetchError", simulationFailed), toStderr)
).pipe(Command.withDescription("tokens and cost per model and chain from a running gateway (key from GATEWAY_KEY)"))

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
  Command.withSubcommands([serve, validate, simulate, report])
)

/**
 * Global options go before a command's own: @effect/cli reads them only
 * there, and takes one after them for an unknown argument.
 */
const globalsFirst =
  "Global options (--log-level, --help) go before a command's own options: " +
  "llm-failover simulate --log-level debug --scenario FILE, or llm-failover --log-level debug simulate --scenario FILE; " +
  "not after them (llm-failover simulate --scenario FILE --log-level debug)."

/** What the command's exit codes mean, at the end of every help. */
const exitCodes =
  "Exit codes: 0 done; 1 a config, scenario or run that failed (an invalid file, a port taken, a gateway that cannot be reached); " +
  "2 a usage error (an unknown option, a missing or bad value)."

const globalAfterOwn = /Received unknown argument: '(?:--log-level|--help|-h|--completions|--wizard|--version)'/

const app = Command.run(command, {
  name: "llm-failover",
  version: packageVersion,
  footer: HelpDoc.sequence(HelpDoc.p(globalsFirst), HelpDoc.p(exitCodes))
})

/**
 * Runs the command line on `process.argv`-style arguments, its help and
 * errors without colour codes when NO_COLOR is set or the output is not a
 * terminal. Every help ends with where global options go and what the exit
 * codes mean; the error of a global option given after a command's own
 * options says where it goes. A usage error (an unknown option, a missing
 * or bad value) is printed and fails with its `ValidationError`, which the
 * executable exits 2 on; a command that fails (an invalid config, a port
 * taken) prints why and sets `process.exitCode` to 1.
 *
 * @example
 * import { Cli } from "effect-llm-failover/cli"
 *
 * const program = Cli.run(["node", "llm-failover", "validate", "--config", "router.yaml"])
 *
 * @since 0.1.0
 * @category commands
 */
export const run = (args: ReadonlyArray<string>) => {
  // @effect/cli reads a level it does not know as an unknown argument, or a missing subcommand, or a missing option;
  // and its wizard waits for answers from a stdin that is no terminal for ever
  const problem = logLevelProblem(args.slice(2)) ?? wizardProblem(args.slice(2))
  if (problem !== undefined) {
    return Effect.zipRight(Console.error(problem), Effect.fail(ValidationError.invalidValue(HelpDoc.p(problem))))
  }
  return app(args).pipe(
    plainWhereAsked,
    Effect.tapError((error) => {
      if (!ValidationError.isValidationError(error)) return Effect.void
      const said = HelpDoc.toAnsiText(error.error)
      const rest = args.slice(2)
      if (globalAfterOwn.test(said)) {
        const hint = reordered(rest)
        // a global option straight after the command is in its place: it is its value that is missing
        if (hint !== "in place") return Console.error(hint ?? globalsFirst)
      }
      const missing = valueLeftOut(rest, said)
      return missing === undefined ? Effect.void : Console.error(missing)
    })
  )
}

/** The levels `--log-level` takes, as @effect/cli reads them (lower case only). */
const logLevels = LogLevel.allLevels.map((level) => level._tag.toLowerCase())

/** A terminal's colour and style codes (SGR), as @effect/cli's help and errors write them. */
const ansi = /\u001b\[[\d;]*m/g

const stripAnsi = (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((arg) => (typeof arg === "string" && arg.includes("\u001b[") ? arg.replace(ansi, "") : arg))

/**
 * The console with colour codes left out of what goes to stdout (`log`,
 * `info`) when `plainOut`, and of what goes to stderr (`error`, `warn`)
 * when `plainErr`.
 */
const plainConsole = (base: Console.Console, plainOut: boolean, plainErr: boolean): Console.Console => {
  const out = <R>(f: (...args: ReadonlyArray<unknown>) => R, plain: boolean): (...args: ReadonlyArray<unknown>) => R =>
    plain ? (...args) => f(...stripAnsi(args)) : f
  return {
    ...base,
    log: out(base.log, plainOut),
    info: out(base.info, plainOut),
    error: out(base.error, plainErr),
    warn: out(base.warn, plainErr),
    unsafe: {
      ...base.unsafe,
      log: out(base.unsafe.log, plainOut),
      info: out(base.unsafe.info, plainOut),
      error: out(base.unsafe.error, plainErr),
      warn: out(base.unsafe.warn, plainErr)
    }
  }
}

/**
 * Help and errors without colour codes where they would be noise: NO_COLOR
 * set (no-color.org), or the stream not a terminal (piped, redirected to a
 * file). @effect/cli writes them whatever the stream is.
 */
const plainWhereAsked = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const noColor = (process.env["NO_COLOR"] ?? "") !== ""
  const plainOut = noColor || process.stdout.isTTY !== true
  const plainErr = noColor || process.stderr.isTTY !== true
  if (!plainOut && !plainErr) return effect
  return Effect.flatMap(Effect.console, (base) => Effect.withConsole(effect, plainConsole(base, plainOut, plainErr)))
}

/** What is wrong with `--wizard` where no one can answer it: stdin is no terminal (a pipe, `< /dev/null`, CI). */
const wizardProblem = (rest: ReadonlyArray<string>): string | undefined =>
  rest.includes("--wizard") && process.stdin.isTTY !== true
    ? "--wizard asks its questions on a terminal, and stdin is not one: give the command and its options instead (llm-failover --help)"
    : undefined

/**
 * What is wrong with a `--log-level` given a value that is no level
 * (`--log-level warn`, `--log-level=Debug`), wherever it stands; `undefined`
 * when every one names a level, or has no value (which the option's own
 * hint covers).
 */
const logLevelProblem = (rest: ReadonlyArray<string>): string | undefined => {
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const value = arg === "--log-level" ? rest[i + 1] : arg.startsWith("--log-level=") ? arg.slice("--log-level=".length) : undefined
    if (value === undefined || (arg === "--log-level" && value.startsWith("-"))) continue
    if (!logLevels.includes(value)) return `--log-level takes one of ${logLevels.join(", ")}, not '${value}'`
  }
  return undefined
}

/** The options that take a value, by what it is, for the hint of one given without it. */
const valued: Readonly<Record<string, string>> = {
  "--config": "FILE",
  "--scenario": "FILE",
  "--port": "PORT",
  "--host": "ADDRESS",
  "--url": "URL",
  "--since": "TIME",
  "--heap-growth": "PERCENT",
  "--log-level": "LEVEL"
}

const shown = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`)

/**
 * The hint for a global option given after a command's own, written for the
 * command line given: the same arguments with the global option moved before
 * the command's own, and before the command; for `--help`, the command's
 * help alone. `undefined` when the arguments are not command, options,
 * global option; `"in place"` when the global option stands straight after
 * the command already.
 */
const reordered = (rest: ReadonlyArray<string>): string | "in place" | undefined => {
  const at = rest.findIndex((arg, i) => i > 0 && /^(?:--log-level|--help|-h|--completions|--wizard|--version)$/.test(arg))
  const command = rest[0]
  if (at < 0 || command === undefined || command.startsWith("-")) return undefined
  if (at === 1) return "in place"
  const width = rest[at] === "--log-level" && rest[at + 1] !== undefined && !rest[at + 1]!.startsWith("-") ? 2 : 1
  const global = rest.slice(at, at + width)
  const own = [...rest.slice(1, at), ...rest.slice(at + width)]
  const line = (parts: ReadonlyArray<string>) => ["llm-failover", ...parts].map(shown).join(" ")
  // the command's help, not the top level's (which --help before the command prints); its options change nothing
  if (global[0] === "--help" || global[0] === "-h") return `Global options (${global[0]}) go before a command's own options: ${line([command, global[0]])}.`
  return `Global options (${global[0]}) go before a command's own options: ${line([command, ...global, ...own])}, or ${line([...global, command, ...own])}.`
}

/**
 * The hint for an option given last, without its value: @effect/cli reads
 * it as an unknown argument (`Received unknown argument: '--config'`).
 */
const valueLeftOut = (rest: ReadonlyArray<string>, said: string): string | undefined => {
  const option = /Received unknown argument: '(--[\w-]+)'/.exec(said)?.[1]
  const what = option === undefined ? undefined : valued[option]
  if (option === undefined || what === undefined) return undefined
  const at = rest.lastIndexOf(option)
  const next = rest[at + 1]
  return at >= 0 && (next === undefined || next.startsWith("--")) ? `${option} needs a value: ${option} ${what}` : undefined
}

