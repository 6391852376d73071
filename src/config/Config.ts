/**
 * The config file: one `effect/Schema` for a YAML or JSON file that names
 * providers, models, chains and their resilience policy, and turns into a
 * `Router.Config` and the gateway's settings.
 *
 * ```yaml
 * providers:
 *   openai:    { type: openai, apiKey: "env:OPENAI_API_KEY" }        # baseUrl optional
 *   local:     { type: openai, baseUrl: "http://127.0.0.1:11434/v1" } # any OpenAI-compatible server
 *   anthropic: { type: anthropic, apiKey: "env:ANTHROPIC_API_KEY" }
 *   gemini:    { type: gemini, apiKey: "env:GEMINI_API_KEY" }
 *   sim:       { type: simulated, latency: { p50: "400 millis", p99: "2 seconds" }, faults: [] }
 * models:
 *   sonnet: { provider: anthropic, model: claude-sonnet-4-5, contextWindow: 200000, price: { input: 3, output: 15 } }
 *   mini:   { provider: openai, model: gpt-4.1-mini, price: { input: 0.4, output: 1.6 } }
 * chains:
 *   default: [sonnet, mini]
 *   premium: { strategy: priority, targets: [sonnet, mini], hedge: { delay: p95 } }
 * policy: { retry: { maxAttempts: 2 }, timeouts: { total: "60 seconds" } }
 * gateway: { keys: ["env:GATEWAY_KEY"], port: 8787 }
 * ```
 *
 * **Sections** (unknown keys are errors, at every level):
 *
 * - `providers` (required): by name, each with a `type`:
 *   - `openai` (and every OpenAI-compatible server via `baseUrl`),
 *     `anthropic`, `gemini`: `apiKey` (a secret, optional for local
 *     servers: without it none is sent, and no variable is read; on
 *     OpenAI's, Anthropic's or Google's own API that is warned of), `baseUrl`, `name` (the provider's name in errors and
 *     metadata; default: its key here), `headers` (sent with every request;
 *     each value a secret, see below), `timeouts` (transport:
 *     `connect`, `firstToken`, `idle`); openai also `maxTokensField` and
 *     `thoughtSignatures` (see `OpenAi.Options`), anthropic also
 *     `maxTokens` and `version`.
 *   - `simulated`: the simulated provider's settings (`latency`, `faults`,
 *     `tokensPerSecond`, `tokenDelay`, `errorDelay`, `reply`,
 *     `outputTokens`, `seed`, `history`; see `Simulated.Config`), plus
 *     `name`. A fault may repeat: `{ repeat: { every: "3 minutes", until:
 *     "24 hours" }, fault: { from: "1 minute", to: "2 minutes", status: 529 } }`
 *     is the window [1, 2) minutes, then [4, 5), [7, 8), ... while a window
 *     starts before `until` (default 24 hours); a file's repeated faults
 *     come to at most 10,000 windows in all. Times count from when the
 *     router is built.
 * - `models` (required): by alias; each is one router target: `provider`,
 *   `model` (the id sent upstream; default: the alias), `contextWindow`,
 *   `maxOutputTokens`, `price` (`{ input, output, cachedInput, cacheWrite,
 *   longCacheWrite }`, US dollars per million tokens; a cache price left
 *   out is the provider's multiple of `input` where the adapter's table
 *   knows it, else `input`: see `ModelInfo.Price`), `responseFormats` (the
 *   JSON answers it can give: `json_object`, `json_schema`; these override
 *   the adapter's table), `weight`, `rpm` and `tpm`
 *   (requests and tokens per minute: over either, the router skips the
 *   model as it skips one whose breaker is open; shared by every instance
 *   with `state`), and `policy` (this model's overrides: `retry`,
 *   `timeouts`, `breaker`, `bulkhead`, `budget`).
 * - `chains`: by name, a list of model aliases (primary first), or
 *   `{ targets, strategy, policy (retry, timeouts), race, hedge,
 *   contentPolicy, fallbackResponse, continueStreams }`. Without `chains`,
 *   one chain `default` holds every model in file order (`chains: {}` is a
 *   mistake). Every model is also a one-model chain under its own alias; a
 *   chain with the same name as a model is allowed and wins for requests
 *   that name it.
 * - `defaultChain`: the chain for requests nothing else places (default
 *   `default`, else the first chain).
 * - `tiers`: `{ simple, moderate, complex }`, a chain (or model) for each
 *   complexity: turns on the heuristic complexity classifier. Requests may
 *   always pick a chain by `metadata.chain`, `metadata.task` or
 *   `metadata.tier`.
 * - `policy`: the defaults for every model and chain: `retry`, `timeouts`,
 *   `breaker`, `bulkhead` (`false` turns it off), `budget`, and `hedge`
 *   (`{ delay: duration | "p95", maxHedges }`: hedging for every chain of
 *   two or more models that does not race and sets no `hedge` of its own; a
 *   chain's `hedge` is merged over it, `hedge: false` opts out).
 * - `health`, `cache` (`false` turns degraded mode's cache off),
 *   `shadowRate`: as in `Router.Config`.
 * - `gateway`: `keys` (secrets clients must present: each bare, or a
 *   client's `{ key, name, models, rpm, tpm, spend: { usd, window } }`, see
 *   `Gateway.ClientKey`; names and keys unique, and no client named
 *   `key-N`, the bare keys' names), `host`, `port`,
 *   `maxBodyBytes`, `maxBufferedBytes`, `bodyTimeout`, `maxConnections`, `allowPrivateImageUrls`, `maxConcurrent`, `maxQueued`, `requestTimeout`, `sendTimeout`, `drainTimeout`, `shutdownDelay`, `cors`,
 *   `admin` (`{ host, port }`: a port of its own, not `port` on the same address or on 0.0.0.0); see
 *   {@link gatewaySettings} for the defaults.
 * - `state`: `{ redis, cluster, namespace, syncInterval }`: share breakers, rate
 *   limits and retry budgets with every instance using the same Redis and
 *   namespace; see {@link sharedState}. Without it, all state is in process.
 * - `alerts`: `fallbackRate` (`{ threshold, resolveBelow, window,
 *   minimumRequests, chain }`, or `false`) and `webhook` (`{ url, format,
 *   headers, on, source }`: where alerts and breaker changes are posted);
 *   see {@link alertSettings}.
 *
 * **Durations** are Effect duration strings (`"400 millis"`, `"2 seconds"`,
 * `"5 minutes"`) or numbers of milliseconds, at most 365 days (a timeout
 * past 24.8 days, a timer's range, is none); a breaker's rate `window` is a
 * number of calls when it is a number. A number under 1000 where a duration
 * goes is warned of (`attempt: 30` is 30 milliseconds, seconds were likely
 * meant): write `"30 seconds"`, or `"30 millis"` if milliseconds were.
 *
 * **Secrets** (`apiKey`, `gateway.keys`, and every value of a provider's
 * `headers`): `"env:NAME"`, the whole value, reads the environment variable NAME through
 * Effect's `Config` (so an `Effect.withConfigProvider` applies); anything
 * else is the secret itself, allowed, with a warning (for a header, only
 * when it carries a credential: `authorization`, `*-key`, `*-token`,
 * `*auth*`, ..., or a `Bearer` / `Basic` value). Either way the value is
 * `Redacted` (the adapter gets it resolved), and no problem message,
 * warning or log holds it. A secret with a line break or NUL (a variable
 * set from a file that ends with one) is a problem, as no request could
 * carry it; one that begins or ends with a space or tab is warned of. A
 * reference inside a longer value (`"Bearer env:TOKEN"`, `"Bearer ${TOKEN}"`,
 * a `baseUrl` of `"https://${HOST}/v1"`) is a problem: it would be sent as
 * written; put the whole value in the variable.
 *
 * **Problems** are all reported at once, each at its path with its line:
 * schema mistakes (including every policy value the router would refuse),
 * unset variables, unknown names (a model's provider, a chain's models,
 * `contentPolicy`, `defaultChain`, `tiers`) and syntax errors. A config that
 * parses builds a router; {@link check} applies the same rules to a
 * `ConfigFile` built by hand.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Duration, Effect, Either, type Layer, ParseResult, Schema } from "effect"
import type * as Redacted from "effect/Redacted"
import type * as BreakerStore from "../resilience/BreakerStore.js"
import type * as RateLimit from "../resilience/RateLimit.js"
import type * as RetryBudget from "../resilience/RetryBudget.js"
import * as Router from "../router/Router.js"
import * as SharedState from "../state/SharedState.js"
import * as build from "./internal/build.js"
import * as durations from "./internal/durations.js"
import * as problems from "./internal/problems.js"
import * as headers from "./internal/headers.js"
import * as hosted from "./internal/hosted.js"
import * as references from "./internal/references.js"
import * as schema from "./internal/schema.js"
import * as secret from "./internal/secret.js"
import * as text from "./internal/text.js"
import * as unpriced from "./internal/unpriced.js"
import * as wrongKind from "./internal/wrongKind.js"

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

/**
 * The schema of a config file (see the module docs for the format). Its
 * decoded type is {@link ConfigFile}: durations are `Duration`s, secrets
 * `Redacted`, repeated faults expanded. Decoding reads `env:` secrets through
 * Effect's `Config`. Unknown keys are errors. Names are not cross-checked
 * here: {@link parse} does that.
 *
 * @example
 * import { Effect, Schema } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * const file = Schema.decodeUnknown(Config.FileSchema)({
 *   providers: { sim: { type: "simulated", latency: "300 millis" } },
 *   models: { echo: { provider: "sim" } }
 * })
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileSchema: Schema.Schema<ConfigFile, typeof schema.File.Encoded> = schema.File

/**
 * A decoded config file.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const yaml: string // the config file's text
 * const aliases = Effect.gen(function* () {
 *   const { config } = yield* Config.parse(yaml)
 *   const file: Config.ConfigFile = config
 *   return Object.keys(file.models) // ["sonnet", "mini"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigFile extends Schema.Schema.Type<typeof schema.File> {}

/**
 * One provider of a decoded config: openai, anthropic, gemini or simulated
 * (by `type`).
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * // the host only: a base URL's query may hold a key
 * const where = (baseUrl: string | undefined) => (baseUrl === undefined ? "its default URL" : new URL(baseUrl).host)
 * const describe = (entry: Config.ProviderEntry): string =>
 *   entry.type === "simulated" ? "simulated" : `${entry.type} at ${where(entry.baseUrl)}`
 * Object.values(config.providers).map(describe)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ProviderEntry = ConfigFile["providers"][string]

/**
 * One model alias of a decoded config.
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * // the id sent upstream: `model`, else the alias
 * const upstreamId = (alias: string, entry: Config.ModelEntry): string => entry.model ?? alias
 * Object.entries(config.models).map(([alias, entry]) => upstreamId(alias, entry))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ModelEntry = ConfigFile["models"][string]

/**
 * One chain of a decoded config: a list of model aliases or the full form.
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * // a chain is a list of aliases or `{ targets, strategy, ... }`
 * const targetsOf = (entry: Config.ChainEntry): ReadonlyArray<string> => "targets" in entry ? entry.targets : entry
 * Object.values(config.chains ?? {}).flatMap(targetsOf)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChainEntry = NonNullable<ConfigFile["chains"]>[string]

// ---------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------

/**
 * One problem of a config: `path` (`chains.default[1]`; empty for the whole
 * document), `message` (never holding a secret), and `line` / `column` in
 * the file when known.
 *
 * @example
 * import { Schema } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * const problem = Schema.decodeUnknownSync(Config.Problem)({ path: "models.mini.provider", message: "unknown provider", line: 4, column: 21 })
 * Config.formatProblem(problem) // "models.mini.provider: unknown provider (line 4, column 21)"
 *
 * @since 0.1.0
 * @category schemas
 */
export const Problem: typeof problems.Problem = problems.Problem

/**
 * One problem of a config, decoded: its path, message, and place in the file.
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * const problems: ReadonlyArray<Config.Problem> = Config.check(config)
 * problems.filter((problem) => problem.path.startsWith("chains.")).map(Config.formatProblem)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem extends Schema.Schema.Type<typeof Problem> {}

/**
 * A problem as one line: `chains.default[1]: unknown model "gpt5" (line 12, column 20)`.
 *
 * @example
 * import { Config } from "effect-llm-failover/config"
 *
 * Config.formatProblem({ path: "defaultChain", message: 'unknown chain "main"', line: 3, column: 15 })
 * // 'defaultChain: unknown chain "main" (line 3, column 15)'
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatProblem: (problem: Problem) => string = problems.formatProblem

/** The problems a `ConfigError`'s message lists; the rest are counted. */
const maxShownProblems = 20

/**
 * The config is invalid: `problems` lists every mistake, each at its path;
 * `message` lists them one per line (the first 20, then how many more;
 * print it, not a stack trace).
 *
 * @example
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * const program = Config.parse("providers: {}\nmodels: {}\n").pipe(
 *   Effect.catchTag("ConfigError", (error) => Effect.logError(error.message))
 * )
 * // invalid config (2 problems):
 * //   providers: at least one provider is needed (line 1, column 12)
 * //   models: at least one model is needed (line 2, column 9)
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Schema.TaggedError<ConfigError>("effect-llm-failover/ConfigError")("ConfigError", {
  /** The file (or a label) the config came from, when known. */
  source: Schema.optionalWith(Schema.String, { exact: true }),
  problems: Schema.Array(Problem)
}) {
  override get message(): string {
    const from = this.source === undefined ? "" : ` ${this.source}`
    const count = this.problems.length === 1 ? "1 problem" : `${this.problems.length} problems`
    // the wrong file (a README, a binary) has hundreds: the first are enough, and `problems` holds them all
    const shown = this.problems.slice(0, maxShownProblems).map((p) => `  ${formatProblem(p)}`)
    const more = this.problems.length > maxShownProblems ? [`  ... and ${this.problems.length - maxShownProblems} more`] : []
    return `invalid config${from} (${count}):\n${[...shown, ...more].join("\n")}`
  }
}

const configError = (found: ReadonlyArray<Problem>, source: string | undefined) =>
  new ConfigError({ problems: found, ...(source === undefined ? {} : { source }) })

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/**
 * A config's text format.
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const body: string // an HTTP body whose content type says JSON
 * const format: Config.Format = "json"
 * const parsed = Config.parse(body, { format })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "yaml" | "json"

/**
 * Options of {@link parse}.
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const text: string
 * const options: Config.ParseOptions = { format: "yaml", source: "deploy/router.yaml" }
 * const parsed = Config.parse(text, options) // problems name "deploy/router.yaml"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ParseOptions {
  /** Default: by the source's extension (`.json`, `.yaml`, `.yml`), else by content (`{` is JSON). */
  readonly format?: Format
  /** Where the text came from (a path), for messages and format detection. */
  readonly source?: string
}

/**
 * A parsed config and its warnings (problems that do not stop it, such as
 * a secret written literally in the file, or a model with no price: one the
 * adapters' table does not know and the file prices not, which would cost
 * $0 in the cost report and spend caps). Log the warnings.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const yaml: string
 * const program = Effect.gen(function* () {
 *   const parsed: Config.Parsed = yield* Config.parse(yaml)
 *   for (const warning of parsed.warnings) yield* Effect.logWarning(Config.formatProblem(warning))
 *   return parsed.config
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly config: ConfigFile
  readonly warnings: ReadonlyArray<Problem>
}

const literalWarning = "a secret written in the file: prefer \"env:NAME\" so the file holds none"

/**
 * Parses and validates a config's text: syntax, schema, secrets (read
 * through Effect's `Config`) and cross-references, every problem at once.
 *
 * @example
 * import { ConfigProvider, Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * const yaml = `
 * providers:
 *   openai: { type: openai, apiKey: "env:OPENAI_API_KEY" }
 * models:
 *   mini: { provider: openai, model: gpt-4.1-mini }
 * chains:
 *   default: [mini]
 * `
 * const program = Config.parse(yaml, { source: "router.yaml" }).pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-test"]])))
 * )
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string, options: ParseOptions = {}): Effect.Effect<Parsed, ConfigError> =>
  Effect.suspend(() => {
    const source = options.source
    if (input.includes("\u0000")) {
      return Effect.fail(configError([{ path: "", message: "the file holds NUL bytes: not a YAML or JSON config" }], source))
    }
    const format = options.format ?? text.detectFormat(input, source)
    const parsed = text.parseText(input, format)
    if (Either.isLeft(parsed)) {
      const secrets = secret.suspectedSecrets(text.partialValue(input))
      const found = parsed.left.map((p) => ({ ...p, message: secret.scrub(p.message, secrets) }))
      return Effect.fail(configError(found, source))
    }
    return validate(parsed.right, source)
  })

const rootProblem = (value: unknown): string | undefined =>
  value === null || value === undefined
    ? `the config is empty: it needs at least ${schema.topLevelKeys.slice(0, 2).join(" and ")}`
    : typeof value !== "object" || Array.isArray(value)
    ? `the config must be a mapping of ${schema.topLevelKeys.join(", ")}`
    : undefined

const decodeFile = Schema.decodeUnknown(schema.File, { errors: "all", onExcessProperty: "error" })

const validate = (parsed: text.Parsed, source: string | undefined): Effect.Effect<Parsed, ConfigError> => {
  const empty = rootProblem(parsed.value)
  if (empty !== undefined) return Effect.fail(configError([{ path: "", message: empty }], source))
  const secrets = secret.suspectedSecrets(parsed.value)
  const dangling = [...references.check(parsed.value), ...headers.check(parsed.value)]
  const finish = (raw: ReadonlyArray<problems.RawProblem>) => problems.finish(raw, secrets, parsed.locate)
  // repeated faults past the file's windows are refused before they are expanded
  const budget = schema.windowBudget(parsed.value)
  return decodeFile(budget.value).pipe(
    Effect.either,
    Effect.flatMap((decoded) => {
      // a union's other alternatives are dropped, as check does: a fault's { p50: "2 secs", p99 } is one
      // problem at latency.p50, not a second one saying that latency is no number | string either
      const issues = Either.isLeft(decoded)
        ? problems.dropOtherAlternatives(problems.fromIssues(ParseResult.ArrayFormatter.formatErrorSync(decoded.left)))
        : []
      const found = finish([
        ...budget.problems,
        ...wrongKind.foldScenarioKeys(parsed.value, issues, source).map(secret.misplacedReference(parsed.value)).map(
          secret.unquotedSecrets(parsed.value)
        ),
        ...dangling
      ])
      if (found.length > 0 || Either.isLeft(decoded)) return Effect.fail(configError(found, source))
      const warnings = finish([
        ...secret.literalSecrets(parsed.value).map((path) => ({ path, message: literalWarning })),
        ...secret.paddedSecrets(decoded.right),
        ...durations.bareMillis(parsed.value, decoded.right),
        ...hosted.missingKeys(parsed.value),
        ...unpriced.unpricedModels(decoded.right)
      ])
      return Effect.succeed({ config: decoded.right, warnings })
    })
  )
}

/**
 * Reads and parses a config file (YAML or JSON, by extension or content).
 *
 * @example
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * const program = Config.load("examples/configs/demo.yaml").pipe(Effect.provide(NodeFileSystem.layer))
 *
 * @since 0.1.0
 * @category parsing
 */
export const load = (path: string): Effect.Effect<Parsed, ConfigError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        configError([{ path: "", message: `cannot read the file: ${error.message}` }], path)
      ),
      Effect.flatMap((content) => parse(content, { source: path }))
    )
  )

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

const validateFile = Schema.validateEither(Schema.typeSchema(schema.File), { errors: "all", onExcessProperty: "error" })

/**
 * Every problem of a decoded config, each at its path: the values the router
 * would refuse (`retry.maxAttempts` a whole number >= 1, a bulkhead's
 * `maxConcurrent` a positive integer and `maxQueued` >= 0, breaker
 * thresholds in (0, 1], `hedge.maxHedges` and `race` >= 1, an empty
 * `chains`, an infinite backoff base, ...) and unknown names. A config from
 * {@link parse} has none; this is for one built or changed by hand, and
 * {@link toRouterConfig} runs it first. Problems have no line (there is no
 * file) and never hold a secret.
 *
 * @example
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const yaml: string // the config file's text
 * const program = Effect.gen(function* () {
 *   const { config } = yield* Config.parse(yaml)
 *   const tuned: Config.ConfigFile = { ...config, policy: { retry: { maxAttempts: 0 } } }
 *   Config.check(tuned).map(Config.formatProblem)
 *   // ["policy.retry.maxAttempts: Expected a positive number, actual 0"]
 * })
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (file: ConfigFile): ReadonlyArray<Problem> => {
  const validated = validateFile(file)
  const issues = Either.isLeft(validated)
    ? problems.dropOtherAlternatives(problems.fromIssues(ParseResult.ArrayFormatter.formatErrorSync(validated.left)))
    : []
  return problems.finish([...issues, ...references.check(file), ...headers.check(file)], [], () => undefined)
}

/**
 * What the router would warn of when made from a config, each at the
 * chain's path (`Router.warnings`, the checks `Router.make` logs): a `race`
 * wider than its chain (all its models race), a `weighted` chain whose
 * models all weigh 0 (tried in priority order, every time). Not problems:
 * the router serves such a config; `llm-failover validate` shows them as
 * warnings. Apart from {@link Parsed}'s warnings (those of the file itself),
 * as `Router.make` logs them when the router is made.
 *
 * @example
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const yaml: string // chains: { fast: { targets: [a, b], race: 3 } }
 * const program = Effect.gen(function* () {
 *   const { config } = yield* Config.parse(yaml)
 *   Config.routerWarnings(config).map(Config.formatProblem)
 *   // ["chains.fast.race: races 3 targets, but the chain has 2: all 2 race"]
 * })
 *
 * @since 0.1.0
 * @category validation
 */
export const routerWarnings = (file: ConfigFile): ReadonlyArray<Problem> =>
  // a config without chains has the implicit one, every model in priority order (with no race or weights to warn of)
  Router.warnings({
    targets: file.models,
    chains: file.chains ?? { [references.implicitChain]: Object.keys(file.models) },
    ...(file.policy === undefined ? {} : { policy: file.policy })
  }).map(({ path, message }) => ({ path, message }))

/**
 * The router's configuration: each model alias becomes a target whose
 * `LanguageModel` is its provider's adapter (OpenAI, Anthropic, Gemini over
 * the ambient `HttpClient`, or a simulated provider) with the model id,
 * its provider's headers (their secrets resolved) and the model's info
 * (context window, output cap, price) over the adapter's defaults. Chains,
 * the default policy, health, cache and shadow rate carry over; the
 * classifier is `Classifier.heuristic` (with `tiers` when given). Simulated
 * fault windows count from now. The config is checked again first
 * ({@link check}: a `ConfigFile` built by hand may hold values the router
 * refuses, or dangling names), so a config that passes builds a router.
 *
 * @example
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const yaml: string // the config file's text
 * const router = Effect.gen(function* () {
 *   const { config } = yield* Config.parse(yaml)
 *   return yield* Router.make(yield* Config.toRouterConfig(config))
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 *
 * @since 0.1.0
 * @category conversions
 */
export const toRouterConfig = (
  file: ConfigFile
): Effect.Effect<Router.Config, ConfigError, HttpClient.HttpClient> =>
  Effect.suspend(() => {
    const found = check(file)
    return found.length > 0 ? Effect.fail(configError(found, undefined)) : build.routerConfig(file)
  })

/**
 * The gateway's settings: `keys`, `host`, `port` and `maxBodyBytes` always
 * set; the rest only when the file sets them, so the gateway's own defaults
 * apply otherwise. The shape of `Gateway.Options` without the router:
 * `Gateway.make({ router, ...Config.gatewaySettings(file) })`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * const settings: Config.GatewaySettings = Config.gatewaySettings(config)
 * // the keys clients may present: bare, or a client's (with its name and limits)
 * const names = settings.keys.map((key, i) => (Redacted.isRedacted(key) ? `key-${i + 1}` : key.name))
 * const url = `http://${settings.host}:${settings.port}` // where the gateway listens
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GatewaySettings {
  /**
   * The keys clients must present (`Authorization: Bearer`), bare or a
   * client's with its name, models and limits (`Gateway.ClientKey`);
   * empty: no auth.
   */
  readonly keys: ReadonlyArray<Redacted.Redacted<string> | ClientKey>
  readonly host: string
  readonly port: number
  /** The largest request body accepted, in bytes. */
  readonly maxBodyBytes: number
  /** The bytes the request bodies being read at once may hold between them. */
  readonly maxBufferedBytes?: number
  /** How long a request body may take to arrive (absent: the gateway's default, 30 seconds). */
  readonly bodyTimeout?: Duration.Duration
  /** The connections the gateway holds at once; one past it is closed as it comes (absent: no limit). */
  readonly maxConnections?: number
  /** Send image URLs of loopback, private and link-local addresses upstream (absent: refused with a 400). */
  readonly allowPrivateImageUrls?: boolean
  /** Chat requests served at once (absent: no limit). */
  readonly maxConcurrent?: number
  /** Chat requests that may wait for a slot; more are refused. */
  readonly maxQueued?: number
  /** The longest a chat request may take end to end. */
  readonly requestTimeout?: Duration.Duration
  /** How long a client may leave a stream unread before it is closed. */
  readonly sendTimeout?: Duration.Duration
  /** On shutdown, how long requests in flight may take to finish. */
  readonly drainTimeout?: Duration.Duration
  /** On shutdown, how long the gateway goes on serving with `/readyz` at 503, before it drains. */
  readonly shutdownDelay?: Duration.Duration
  /** The web pages that may call from a browser (see `Gateway.CorsOptions`). */
  readonly cors?: { readonly origins: ReadonlyArray<string>; readonly maxAge?: Duration.Duration }
  /** A second listener for `/metrics` and `/status` (see `Gateway.AdminOptions`). */
  readonly admin?: { readonly host?: string; readonly port: number }
}

/**
 * A client's key as a config gives it (an entry of `gateway.keys` that is a
 * mapping): `key`, `name`, and what it may do (`models`, `rpm`, `tpm`,
 * `spend: { usd, window }`). The shape of `Gateway.ClientKey`, which says
 * what each does.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * const clients: ReadonlyArray<Config.ClientKey> = Config.gatewaySettings(config).keys.filter(
 *   (key): key is Config.ClientKey => !Redacted.isRedacted(key)
 * )
 * clients.map((client) => client.name) // e.g. ["search", "batch"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientKey extends Schema.Schema.Type<typeof schema.ClientKey> {}

/**
 * The defaults of the settings that always have a value: no keys,
 * `127.0.0.1:8787`, bodies up to 1 MiB.
 *
 * @example
 * import { Config } from "effect-llm-failover/config"
 *
 * Config.gatewayDefaults.host // "127.0.0.1": a gateway binds the loopback unless told otherwise
 *
 * @since 0.1.0
 * @category defaults
 */
export const gatewayDefaults = {
  keys: [],
  host: schema.defaultHost,
  port: schema.defaultPort,
  maxBodyBytes: schema.defaultMaxBodyBytes
} as const satisfies Partial<GatewaySettings>

/**
 * The `gateway` section of a config, over {@link gatewayDefaults}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const yaml: string // the config file's text
 * const serve = Effect.gen(function* () {
 *   const { config } = yield* Config.parse(yaml)
 *   const router = yield* Router.make(yield* Config.toRouterConfig(config))
 *   return yield* Gateway.make({ router, ...Config.gatewaySettings(config) })
 * })
 *
 * @since 0.1.0
 * @category conversions
 */
export const gatewaySettings = (file: ConfigFile): GatewaySettings => {
  const { keys, host, port, maxBodyBytes, ...rest } = file.gateway ?? {}
  return {
    keys: keys ?? gatewayDefaults.keys,
    host: host ?? gatewayDefaults.host,
    port: port ?? gatewayDefaults.port,
    maxBodyBytes: maxBodyBytes ?? gatewayDefaults.maxBodyBytes,
    ...rest
  }
}

/**
 * What a config's `alerts` section asks of `serve`: the fallback-rate
 * alert's options (`false`: no alert; `undefined`: its defaults, 5% over 5
 * minutes) and the webhook to post alerts and breaker changes to, if any.
 *
 * ```yaml
 * alerts:
 *   fallbackRate: { threshold: 0.1, window: "10 minutes", minimumRequests: 50 }   # or false
 *   webhook:
 *     url: env:SLACK_WEBHOOK_URL   # a secret (a Slack webhook's URL holds its token)
 *     format: slack                # or json (default): { source, kind, at, text, alert | breaker }
 *     on: [alerts, breakers]       # default: both
 *     source: gateway-eu-1         # who speaks; default llm-failover
 *     headers: { authorization: env:HOOK_TOKEN }
 * ```
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config } from "effect-llm-failover/config"
 * import { Observability, Webhook } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Config.ConfigFile
 * declare const router: Router.Service
 *
 * const program = Effect.gen(function* () {
 *   const { alert, webhook } = Config.alertSettings(config)
 *   const observability = yield* Observability.attach(router, alert === undefined ? {} : { alert })
 *   if (webhook !== undefined) yield* Webhook.attach(observability, webhook)
 * })
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const alertSettings = (file: ConfigFile): AlertSettings => ({
  alert: file.alerts?.fallbackRate,
  webhook: file.alerts?.webhook
})

/**
 * What {@link alertSettings} gives: the fallback-rate alert's options (as
 * `Alerts.FallbackRateOptions` takes them, or `false`; `undefined`: the
 * defaults) and the webhook's (as `Webhook.Options` takes them).
 *
 * @example
 * ```ts
 * import { Config } from "effect-llm-failover/config"
 *
 * declare const config: Config.ConfigFile
 * const { alert }: Config.AlertSettings = Config.alertSettings(config)
 * const alerting = alert !== false
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AlertSettings {
  readonly alert: NonNullable<ConfigFile["alerts"]>["fallbackRate"]
  readonly webhook: NonNullable<ConfigFile["alerts"]>["webhook"]
}

/**
 * The shared-state layer a config's `state` section asks for (breakers, rate
 * limits and retry budgets shared through Redis by every instance with the
 * same `state`), or `undefined` without one: everything stays in process.
 * Provide it around `Router.make`.
 *
 * ```yaml
 * state:
 *   redis: env:REDIS_URL        # or "redis://127.0.0.1:6379"; a Redacted secret either way
 *   cluster: false               # default; true: the URL names a node of a Redis Cluster
 *   namespace: checkout          # default "llm-failover": instances share state within one namespace
 *   syncInterval: "100 millis"   # default
 * ```
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Config } from "effect-llm-failover/config"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Config.ConfigFile
 * const program = Effect.gen(function* () {
 *   const shared = Config.sharedState(config)
 *   const make = Effect.flatMap(Config.toRouterConfig(config), Router.make)
 *   return yield* (shared === undefined ? make : Effect.provide(make, shared))
 * })
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const sharedState = (
  file: ConfigFile
): Layer.Layer<
  SharedState.SharedState | BreakerStore.CurrentBreakerStore | RateLimit.CurrentStore | RetryBudget.CurrentStore
> | undefined => {
  const state = file.state
  if (state === undefined) return undefined
  return SharedState.layerRedis({
    url: state.redis,
    ...(state.cluster !== undefined ? { cluster: state.cluster } : {}),
    ...(state.namespace !== undefined ? { namespace: state.namespace } : {}),
    ...(state.syncInterval !== undefined ? { syncInterval: state.syncInterval } : {})
  })
}
