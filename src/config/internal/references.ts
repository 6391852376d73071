/**
 * Cross-references: every name a config uses must be defined. The checks
 * read the raw document defensively (whatever shape it has), so they run
 * even when the schema rejected other parts, and every problem is reported
 * in one pass.
 *
 * - `models.<m>.provider` names a provider;
 * - chain members (`chains.<c>[i]` or `chains.<c>.targets[i]`) name models;
 * - `chains.<c>.contentPolicy` and `defaultChain` name chains;
 * - `alerts.fallbackRate.chain` names a chain or a model;
 * - `tiers.<t>` names a chain or a model (each model is also a one-model
 *   chain under its own name; a chain of the same name wins).
 *
 * @internal
 */
import { hint } from "../../llm/internal/names.js"
import type { RawProblem } from "./problems.js"
import { isRecord } from "./shape.js"

const keysOf = (value: unknown): ReadonlyArray<string> => (isRecord(value) ? Object.keys(value) : [])

/** The default chain's name when the file has no `chains`: one chain of every model. @internal */
export const implicitChain = "default"

/**
 * Every dangling reference in a raw config.
 *
 * @internal
 */
export const check = (raw: unknown): ReadonlyArray<RawProblem> => {
  if (!isRecord(raw)) return []
  const problems: Array<RawProblem> = []
  const providers = keysOf(raw["providers"])
  const models = keysOf(raw["models"])
  const chains = raw["chains"] === undefined ? [implicitChain] : keysOf(raw["chains"])
  const unknown = (
    path: ReadonlyArray<PropertyKey>,
    kind: string,
    name: string,
    known: ReadonlyArray<string>,
    plural = `${kind}s`
  ) => problems.push({ path, message: `unknown ${kind} "${name}"${hint(name, known, plural)}` })

  // an object's key it cannot hold as a name: the decoded config would lose it, and `validate` would pass what `serve` refuses
  for (const section of ["providers", "models", "chains"] as const) {
    const entries = raw[section]
    if (isRecord(entries) && Object.prototype.hasOwnProperty.call(entries, "__proto__")) {
      problems.push({ path: [section, "__proto__"], message: `"__proto__" cannot be a name; choose another` })
    }
  }

  if (isRecord(raw["providers"]) && isRecord(raw["models"])) {
    for (const [alias, model] of Object.entries(raw["models"])) {
      const provider = isRecord(model) ? model["provider"] : undefined
      if (typeof provider === "string" && !providers.includes(provider)) {
        unknown(["models", alias, "provider"], "provider", provider, providers)
      }
    }
  }

  if (isRecord(raw["chains"])) {
    for (const [name, chain] of Object.entries(raw["chains"])) {
      const [targets, at] = Array.isArray(chain)
        ? [chain, ["chains", name]]
        : isRecord(chain) && Array.isArray(chain["targets"])
        ? [chain["targets"], ["chains", name, "targets"]]
        : [[], []]
      targets.forEach((target: unknown, i: number) => {
        if (typeof target === "string" && isRecord(raw["models"]) && !models.includes(target)) {
          unknown([...at, i], "model", target, models)
        } else if (typeof target === "string" && targets.indexOf(target) < i) {
          // a target once a chain: retries of one target are its policy's `retry`
          problems.push({
            path: [...at, i],
            message: `model "${target}" is already in this chain (at ${targets.indexOf(target)}); retries belong in its policy's retry`
          })
        }
      })
      const contentPolicy = isRecord(chain) ? chain["contentPolicy"] : undefined
      if (typeof contentPolicy === "string" && !chains.includes(contentPolicy)) {
        unknown(["chains", name, "contentPolicy"], "chain", contentPolicy, chains)
      }
    }
  }

  const defaultChain = raw["defaultChain"]
  if (typeof defaultChain === "string" && !chains.includes(defaultChain)) {
    unknown(["defaultChain"], "chain", defaultChain, chains)
  }

  // the alert counts the requests of one chain: one a request names (a model's own chain of one included)
  const alerts = raw["alerts"]
  const alertChain = isRecord(alerts) && isRecord(alerts["fallbackRate"]) ? alerts["fallbackRate"]["chain"] : undefined
  if (typeof alertChain === "string") {
    const routable = [...new Set([...chains, ...models])]
    if (!routable.includes(alertChain)) unknown(["alerts", "fallbackRate", "chain"], "chain", alertChain, routable, "chains and models")
  }

  if (isRecord(raw["tiers"])) {
    const routable = [...new Set([...chains, ...models])]
    for (const [tier, target] of Object.entries(raw["tiers"])) {
      if (typeof target === "string" && !routable.includes(target)) {
        unknown(["tiers", tier], "chain or model", target, routable, "chains and models")
      }
    }
  }
  // a client key's models: the names a request may give
  const gateway = raw["gateway"]
  if (isRecord(gateway) && Array.isArray(gateway["keys"])) {
    const routable = [...new Set([...chains, ...models])]
    gateway["keys"].forEach((key: unknown, i: number) => {
      const allowed = isRecord(key) ? key["models"] : undefined
      if (!Array.isArray(allowed)) return
      allowed.forEach((name: unknown, j: number) => {
        if (typeof name === "string" && !routable.includes(name)) {
          unknown(["gateway", "keys", i, "models", j], "chain or model", name, routable, "chains and models")
        }
      })
    })
  }
  return problems
}
