/**
 * `serve`'s config reload on SIGHUP: the config file read again and checked
 * whole; if valid, a new router built over the old one's state (the targets
 * still at the same provider, model and base URL keep their breakers,
 * budgets and health) and switched in for new requests, the old one closed
 * once its requests in flight are done; if not, every problem logged at its
 * path and the old config kept. What a reload cannot change without a
 * restart (the listeners, the gateway's other settings, shared state) is
 * named in a warning and kept as it was.
 *
 * @internal
 */
import type { HttpClient } from "@effect/platform"
import { FileSystem } from "@effect/platform"
import { Cause, Context, Effect, ExecutionStrategy, Exit, Metric, Option, Predicate, Queue, Redacted, Scope } from "effect"
import * as Config from "../../config/Config.js"
import * as Gateway from "../../gateway/Gateway.js"
import * as Router from "../../router/Router.js"

/** A value with every secret read out, for comparing two configs only: never logged. */
const plain = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return { redacted: Redacted.value(value as Redacted.Redacted<unknown>) }
  if (Array.isArray(value)) return value.map(plain)
  if (Predicate.isRecord(value)) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) if (value[key] !== undefined) out[key] = plain(value[key])
    return out
  }
  return value
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(plain(a)) === JSON.stringify(plain(b))

/** A name of the config's own (a target called `toString` is not one of every object's). */
const has = (record: object, name: string): boolean => Object.hasOwn(record, name)

/** What a target is upstream: its provider's kind and base URL, and the model id. Same identity: its state carries over. */
const identity = (file: Config.ConfigFile, alias: string): string | undefined => {
  if (!has(file.models, alias)) return undefined
  const entry = file.models[alias]!
  const provider = has(file.providers, entry.provider) ? file.providers[entry.provider] : undefined
  const baseUrl = provider !== undefined && "baseUrl" in provider ? provider.baseUrl : undefined
  return JSON.stringify([entry.provider, provider?.type, baseUrl === undefined ? null : String(baseUrl), entry.model ?? alias])
}

/** The targets of `next` that keep the state they had under `previous`. @internal */
export const kept = (previous: Config.ConfigFile, next: Config.ConfigFile): ReadonlyArray<string> =>
  Object.keys(next.models).filter((alias) => {
    const id = identity(next, alias)
    return id !== undefined && id === identity(previous, alias)
  })

/** The chains a config defines (without `chains`: one default chain of every model). */
const chainsOf = (file: Config.ConfigFile): Record<string, unknown> =>
  file.chains === undefined ? { default: Object.keys(file.models) } : { ...file.chains }

/** What changed between two configs, in one line. @internal */
export const describeChanges = (previous: Config.ConfigFile, next: Config.ConfigFile): string => {
  const parts: Array<string> = []
  const names = (record: Record<string, unknown>) => Object.keys(record)
  const added = names(next.models).filter((alias) => !has(previous.models, alias))
  const removed = names(previous.models).filter((alias) => !has(next.models, alias))
  const keeps = new Set(kept(previous, next))
  const changed = names(next.models)
    .filter((alias) => has(previous.models, alias))
    .filter((alias) => {
      const provider = (file: Config.ConfigFile) => file.providers[file.models[alias]!.provider]
      return !same(previous.models[alias], next.models[alias]) || !same(provider(previous), provider(next))
    })
  if (added.length > 0) parts.push(`targets added: ${added.join(", ")}`)
  if (removed.length > 0) parts.push(`targets removed: ${removed.join(", ")}`)
  if (changed.length > 0) {
    parts.push(`targets changed: ${changed.map((alias) => `${alias} (${keeps.has(alias) ? "state kept" : "fresh state"})`).join(", ")}`)
  }
  const before = chainsOf(previous)
  const after = chainsOf(next)
  const chains = [
    ...names(after).filter((name) => !has(before, name)).map((name) => `${name} (added)`),
    ...names(before).filter((name) => !has(after, name)).map((name) => `${name} (removed)`),
    ...names(after).filter((name) => has(before, name) && !same(before[name], after[name]))
  ]
  if (chains.length > 0) parts.push(`chains changed: ${chains.join(", ")}`)
  // a provider no target uses changes nothing that runs, but the file did change: say so
  const used = new Set(names(next.models).map((alias) => next.models[alias]!.provider))
  const idle = (name: string) => !used.has(name)
  const unused = [
    ...names(next.providers).filter((name) => idle(name) && !has(previous.providers, name)).map((name) => `${name} (added)`),
    ...names(previous.providers).filter((name) => idle(name) && !has(next.providers, name)).map((name) => `${name} (removed)`),
    ...names(next.providers).filter(
      (name) => idle(name) && has(previous.providers, name) && !same(previous.providers[name], next.providers[name])
    )
  ]
  if (unused.length > 0) parts.push(`providers no target uses changed: ${unused.join(", ")}`)
  const others = (["defaultChain", "tiers", "policy", "health", "cache", "shadowRate"] as const).filter(
    (key) => !same(previous[key], next[key])
  )
  if (others.length > 0) parts.push(`changed: ${others.join(", ")}`)
  return parts.length === 0 ? "nothing changed" : parts.join("; ")
}

/** What `serve` was told on its command line, which a config's own value does not override. @internal */
export interface Overrides {
  readonly host: boolean
  readonly port: boolean
}

/**
 * The settings a reload cannot change while serving, each that changed:
 * the listeners' (`gateway.host`, `gateway.port`, `gateway.admin`, unless
 * the command line set them), the gateway's others, `state` and `alerts`.
 *
 * @internal
 */
export const restartOnly = (
  previous: Config.ConfigFile,
  next: Config.ConfigFile,
  overrides: Overrides
): { readonly listener: ReadonlyArray<string>; readonly other: ReadonlyArray<string> } => {
  const before = Config.gatewaySettings(previous)
  const after = Config.gatewaySettings(next)
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])] as Array<keyof Config.GatewaySettings>
  const changed = keys.filter((key) => !same(before[key], after[key]))
  const listener = changed
    .filter((key) => key === "admin" || (key === "host" && !overrides.host) || (key === "port" && !overrides.port))
    .map((key) => `gateway.${key}`)
  const other = changed.filter((key) => key !== "admin" && key !== "host" && key !== "port").map((key) => `gateway.${key}`)
  const others = same(previous.state, next.state) ? other : [...other, "state"]
  return { listener, other: same(previous.alerts, next.alerts) ? others : [...others, "alerts"] }
}

/** What a reload needs of the running server. @internal */
export interface Serving {
  readonly file: string
  readonly swappable: Router.Swappable
  /** The server's scope: each router's scope is a child of it, so shutdown closes every one still open. */
  readonly scope: Scope.Scope
  /** What the shared state's layer built, provided to every router; `undefined` without shared state. */
  readonly shared: Context.Context<never> | undefined
  readonly overrides: Overrides
  /** The scope of each router not yet closed (the first one's included, a child of `scope` too). */
  readonly scopes: Map<Router.Service, Scope.CloseableScope>
  /** The gateway's keys, replaced by a reload that changes them (not to or from none). */
  readonly keyRing: Gateway.KeyRing
  /** The config being served; replaced on a successful reload. */
  config: Config.ConfigFile
  /**
   * The config the server started with: its listeners, the gateway's other
   * settings and `state` are what runs until a restart (its keys but as the
   * key ring holds them now), which a reload's warnings compare with.
   */
  readonly started: Config.ConfigFile
}

/** Logs a failed reload's problems, one line each, at their paths. */
const logProblems = (file: string, problems: ReadonlyArray<string>) =>
  Effect.zipRight(
    Effect.logError(`config reload: ${file} is invalid (${problems.length === 1 ? "1 problem" : `${problems.length} problems`}); still serving the previous config`),
    Effect.forEach(problems, (problem) => Effect.logError(`config reload: ${problem}`), { discard: true })
  )

/** How a reload ended: its new config serving, or the previous one kept, and why. @internal */
export type Outcome = "applied" | "unreadable" | "invalid" | "failed"

/**
 * `llm_config_reloads_total{outcome}`: every reload, by how it ended
 * (`applied`; or the previous config kept: `unreadable`, `invalid`, or
 * `failed`, a router that could not be built or a defect), so that a
 * refused reload, which only its log lines told, can be alerted on.
 *
 * @internal
 */
export const reloads = Metric.counter("llm_config_reloads_total", {
  description: "Config reloads (SIGHUP) by outcome: applied, or the previous config kept: unreadable, invalid, failed",
  incremental: true
})

/** Counts a reload's outcome in `reloads`. @internal */
export const countReload = (outcome: Outcome): Effect.Effect<void> => Metric.increment(Metric.tagged(reloads, "outcome", outcome))

/**
 * Reads the config again and, if valid, switches to a router built from it
 * (see the module's docs). Never fails: a problem is logged, and the outcome
 * counted (`reloads`).
 *
 * @internal
 */
export const reload = (serving: Serving): Effect.Effect<void, never, FileSystem.FileSystem | HttpClient.HttpClient> =>
  Effect.flatMap(reloadOnce(serving), countReload)

const reloadOnce = (serving: Serving): Effect.Effect<Outcome, never, FileSystem.FileSystem | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const { file } = serving
    yield* Effect.logInfo(`config reload: reading ${file}`)
    // read apart from the parse: a file deleted or unreadable is not an invalid config
    const text = yield* Effect.either(Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file)))
    if (text._tag === "Left") {
      yield* Effect.logError(`config reload: cannot read ${file} (${text.left.message}); still serving the previous config`)
      return "unreadable" as const
    }
    const loaded = yield* Effect.either(Config.parse(text.right, { source: file }))
    if (loaded._tag === "Left") return yield* Effect.as(logProblems(file, loaded.left.problems.map(Config.formatProblem)), "invalid" as const)
    const parsed = loaded.right
    const previous = serving.config
    const built = yield* Effect.either(Config.toRouterConfig(parsed.config))
    if (built._tag === "Left") return yield* Effect.as(logProblems(file, built.left.problems.map(Config.formatProblem)), "invalid" as const)
    for (const warning of parsed.warnings) yield* Effect.logWarning(Config.formatProblem(warning))

    const scope = yield* Scope.fork(serving.scope, ExecutionStrategy.sequential)
    const make = Router.make(built.right, { previous: serving.swappable.current(), keep: kept(previous, parsed.config) })
    const next = yield* Effect.exit(Scope.extend(serving.shared === undefined ? make : Effect.provide(make, serving.shared), scope))
    if (Exit.isFailure(next)) {
      yield* Scope.close(scope, next)
      const failure = Cause.failureOption(next.cause)
      return yield* Option.match(failure, {
        onNone: () =>
          Effect.as(Effect.logError(`config reload: the new router could not be built; still serving the previous config`, next.cause), "failed" as const),
        onSome: (error) => Effect.as(logProblems(file, error.problems.map((problem) => `router config: ${problem}`)), "invalid" as const)
      })
    }
    serving.scopes.set(next.value, scope)
    const old = yield* Scope.extend(serving.swappable.swap(next.value), scope)
    serving.config = parsed.config
    yield* Effect.logInfo(`config reloaded from ${file}: ${describeChanges(previous, parsed.config)}`)
    if (serving.shared !== undefined) {
      // "fresh state" but for what Redis holds under the name: the others' breaker, budget and limit of that name
      const keeps = new Set(kept(previous, parsed.config))
      const moved = Object.keys(parsed.config.models).filter((alias) => has(previous.models, alias) && !keeps.has(alias))
      if (moved.length > 0) {
        yield* Effect.logWarning(
          `config reload: ${moved.join(", ")} changed upstream, but state shares breakers, retry budgets and rate limits by target name: ${
            moved.length === 1 ? "it keeps" : "they keep"
          } those the instances share (an open breaker stays open)`
        )
      }
    }

    const keys = Config.gatewaySettings(parsed.config).keys
    const rotated = !same(serving.keyRing.keys, keys) && serving.keyRing.set(keys)
    if (rotated) yield* Effect.logInfo(`config reload: gateway keys replaced (${keys.length === 1 ? "1 key" : `${keys.length} keys`})`)
    // against what runs, not the previous file: a setting a reload could not apply is named again on each reload until it is back
    const { listener, other: restart } = restartOnly(serving.started, parsed.config, serving.overrides)
    // the keys run as the ring holds them: rotated (now or by an earlier reload) is not a restart's
    const other = same(serving.keyRing.keys, keys) ? restart.filter((name) => name !== "gateway.keys") : restart
    if (listener.length > 0) {
      yield* Effect.logWarning(`config reload: ${listener.join(", ")} changed: the listeners stay as they are until a restart`)
    }
    if (other.length > 0) {
      yield* Effect.logWarning(`config reload: ${other.join(", ")} changed: kept as ${other.length === 1 ? "it was" : "they were"} until a restart`)
    }
    // the old router's scope closes once its last request is done (or at shutdown, with the server's)
    yield* Effect.forkIn(
      Effect.zipRight(
        serving.swappable.idle(old),
        Effect.suspend(() => {
          const closing = serving.scopes.get(old)
          serving.scopes.delete(old)
          return closing === undefined ? Effect.void : Scope.close(closing, Exit.void)
        })
      ),
      serving.scope
    )
    return "applied" as const
  })


/**
 * Reloads on every SIGHUP for as long as the scope lives (one at a time;
 * signals during a reload make one more; a reload that dies is logged, and
 * the next signal reloads). Nothing on Windows, which has no SIGHUP.
 *
 * @internal
 */
export const onHangup = (
  serving: Serving,
  platform: NodeJS.Platform = process.platform
): Effect.Effect<void, never, Scope.Scope | FileSystem.FileSystem | HttpClient.HttpClient> =>
  platform === "win32"
    ? Effect.void
    : Effect.gen(function* () {
      const signals = yield* Queue.sliding<void>(1)
      const handler = () => void Queue.unsafeOffer(signals, undefined)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("SIGHUP", handler)),
        () => Effect.sync(() => process.off("SIGHUP", handler))
      )
      // a defect ends that reload only: the next SIGHUP still reloads
      const once = Effect.catchAllCause(reload(serving), (cause) => Effect.zipRight(Effect.logError("config reload failed; still serving the previous config", cause), countReload("failed")))
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(signals), once)))
    })
