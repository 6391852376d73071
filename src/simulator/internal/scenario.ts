/**
 * A scenario file: the config file's schema (composed, not copied) plus
 * `load`, `seed`, `name` and `description`, checked like a config (every
 * problem at once, each at its path and line) and then for what only a
 * simulation needs: simulated providers only, and a load chain that exists.
 *
 * @internal
 */
import { Duration, Effect, Either, ParseResult, Schema } from "effect"
import type * as Config from "../../config/Config.js"
import * as durations from "../../config/internal/durations.js"
import * as problems from "../../config/internal/problems.js"
import * as references from "../../config/internal/references.js"
import * as schema from "../../config/internal/schema.js"
import * as secret from "../../config/internal/secret.js"
import { isRecord, optional, struct } from "../../config/internal/shape.js"
import * as text from "../../config/internal/text.js"
import * as Simulated from "../../providers/Simulated.js"

/**
 * More requests than this in one run is a mistake, not a scenario: a day at
 * about 3 a second, or an hour at about 70. Measured: 33,000 requests take
 * 29 s and 400,000 about 9 minutes a policy, so the cap keeps a run, and
 * `--compare`'s three, within minutes. @internal
 */
export const maxRequests = 250_000

/** A prompt or an answer longer than any model's window, which the simulation would build for every request. @internal */
export const maxPromptTokens = 2_000_000
/** @internal */
export const maxCompletionTokens = 1_000_000

const PositiveInt = Schema.Int.pipe(Schema.positive())

const PositiveDuration = Simulated.ConfigDuration.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero) || "must be longer than zero")
)

/** @internal */
export const Load = struct(
  "the load (duration, requestsPerSecond, promptTokens, completionTokens, stream, chain, arrivals, instances, shared, propagation)",
  {
    duration: PositiveDuration,
    requestsPerSecond: Schema.Number.pipe(Schema.finite(), Schema.positive()),
    promptTokens: optional(PositiveInt.pipe(Schema.lessThanOrEqualTo(maxPromptTokens))),
    completionTokens: optional(PositiveInt.pipe(Schema.lessThanOrEqualTo(maxCompletionTokens))),
    stream: optional(Schema.Boolean),
    chain: optional(Schema.String.pipe(Schema.minLength(1))),
    arrivals: optional(Schema.Literal("poisson", "even")),
    instances: optional(PositiveInt.pipe(Schema.lessThanOrEqualTo(16))),
    shared: optional(Schema.Boolean),
    propagation: optional(Simulated.ConfigDuration)
  }
).pipe(
  Schema.filter((load) => {
    const count = (Duration.toMillis(load.duration) / 1000) * load.requestsPerSecond
    if (count < 1) return `about ${count < 0.01 ? count.toPrecision(1) : count.toFixed(2)} requests: a run needs at least one (a bare number of duration is milliseconds)`
    return count <= maxRequests || `about ${Math.round(count)} requests; at most ${maxRequests} are allowed in one run`
  })
)

/** @internal */
export const File = struct("a scenario: a config (providers, models, chains, policy, ...) plus load and seed", {
  ...schema.File.fields,
  name: optional(Schema.String.pipe(Schema.minLength(1))),
  description: optional(Schema.String),
  seed: optional(Schema.Int),
  load: Load
})

/** @internal */
export type File = typeof File.Type

const scenarioKeys = ["name", "description", "seed", "load"] as const

/** The config part of a decoded scenario file. @internal */
export const configOf = (file: File): Config.ConfigFile => {
  const config: Record<string, unknown> = { ...file }
  for (const key of scenarioKeys) delete config[key]
  return config as unknown as Config.ConfigFile
}

/** Problems a config would not have: non-simulated providers, an unknown load chain. */
const simulationProblems = (raw: unknown): ReadonlyArray<problems.RawProblem> => {
  if (!isRecord(raw)) return []
  const found: Array<problems.RawProblem> = []
  if (isRecord(raw["providers"])) {
    for (const [name, provider] of Object.entries(raw["providers"])) {
      const type = isRecord(provider) ? provider["type"] : undefined
      if (typeof type === "string" && type !== "simulated") {
        found.push({
          path: ["providers", name, "type"],
          message: `a scenario runs in virtual time, so its providers must be "simulated" (this one is "${type}")`
        })
      }
    }
  }
  const load = raw["load"]
  const chain = isRecord(load) ? load["chain"] : undefined
  if (typeof chain === "string") {
    const chains = isRecord(raw["chains"]) ? Object.keys(raw["chains"]) : [references.implicitChain]
    const models = isRecord(raw["models"]) ? Object.keys(raw["models"]) : []
    if (!chains.includes(chain) && !models.includes(chain)) {
      found.push({
        path: ["load", "chain"],
        message: `unknown chain "${chain}" (known chains and models: ${[...chains, ...models].join(", ")})`
      })
    }
  }
  return found
}

const decodeFile = Schema.decodeUnknown(File, { errors: "all", onExcessProperty: "error" })

const rootProblem = (value: unknown): string | undefined =>
  value === null || value === undefined
    ? "the scenario is empty: it needs providers, models and load"
    : typeof value !== "object" || Array.isArray(value)
    ? "a scenario must be a mapping of providers, models, chains, policy, load, seed, ..."
    : undefined

/** A scenario file, decoded, with what it holds that is likely not what was meant. @internal */
export interface Parsed {
  readonly file: File
  /** Durations written as small bare numbers, which are milliseconds. */
  readonly warnings: ReadonlyArray<problems.Problem>
}

/**
 * Parses a scenario's text: every problem at once, each with its path and
 * line, or the decoded file and its warnings.
 *
 * @internal
 */
export const parse = (
  input: string,
  source: string | undefined,
  format?: text.Format
): Effect.Effect<Parsed, ReadonlyArray<problems.Problem>> =>
  Effect.suspend((): Effect.Effect<Parsed, ReadonlyArray<problems.Problem>> => {
    const parsed = text.parseText(input, format ?? text.detectFormat(input, source))
    if (Either.isLeft(parsed)) {
      // a syntax error's message may quote the file's text: scrubbed as a config's is
      const secrets = secret.suspectedSecrets(text.partialValue(input))
      return Effect.fail(parsed.left.map((p) => ({ ...p, message: secret.scrub(p.message, secrets) })))
    }
    const empty = rootProblem(parsed.right.value)
    if (empty !== undefined) return Effect.fail([{ path: "", message: empty }])
    const raw = parsed.right.value
    const secrets = secret.suspectedSecrets(raw)
    const extra = [...references.check(raw), ...simulationProblems(raw)]
    return decodeFile(raw).pipe(
      Effect.either,
      Effect.flatMap((decoded) => {
        const issues = Either.isLeft(decoded)
          ? problems.dropOtherAlternatives(problems.fromIssues(ParseResult.ArrayFormatter.formatErrorSync(decoded.left)))
          : []
        const found = problems.finish([...issues, ...extra], secrets, parsed.right.locate)
        if (found.length > 0 || Either.isLeft(decoded)) return Effect.fail(found)
        const warnings = problems.finish(durations.bareMillis(raw, decoded.right), secrets, parsed.right.locate)
        return Effect.succeed({ file: decoded.right, warnings })
      })
    )
  })
