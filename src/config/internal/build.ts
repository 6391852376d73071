/**
 * From a decoded config file to the router's configuration: one provider
 * adapter per model alias, chains with the default hedge applied, the
 * default policy, and the classifier.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect } from "effect"
import type * as LanguageModel from "../../llm/LanguageModel.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import * as Anthropic from "../../providers/Anthropic.js"
import * as Gemini from "../../providers/Gemini.js"
import * as OpenAi from "../../providers/OpenAi.js"
import * as Simulated from "../../providers/Simulated.js"
import * as Classifier from "../../router/Classifier.js"
import type * as Policy from "../../router/Policy.js"
import type * as Router from "../../router/Router.js"
import { implicitChain } from "./references.js"
import type * as Schema from "./schema.js"

/** @internal */
export type File = typeof Schema.File.Type
type Provider = File["providers"][string]
type Model = File["models"][string]
type Chain = NonNullable<File["chains"]>[string]
type Hedge = typeof Schema.Hedge.Type

/** Only the fields that are set, as `exactOptionalPropertyTypes` wants. */
const defined = <A extends Record<string, unknown>>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out as { [K in keyof A]?: Exclude<A[K], undefined> }
}

/** The model's info overrides: its window, output cap, price and JSON answers over the adapter's table. */
const infoOf = (model: Model) =>
  defined({
    contextWindow: model.contextWindow,
    maxOutputTokens: model.maxOutputTokens,
    price: model.price,
    responseFormats: model.responseFormats
  })

/**
 * The adapter of one model alias: its provider's adapter, with the model id
 * (default: the alias) and info overrides. The provider's name in errors and
 * metadata is its `name`, else its key in the file.
 *
 * @internal
 */
export const adapter = (
  alias: string,
  model: Model,
  providerKey: string,
  provider: Provider
): Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient> => {
  const id = model.model ?? alias
  const name = provider.name ?? providerKey
  const info = infoOf(model)
  switch (provider.type) {
    case "openai":
    case "anthropic":
    case "gemini": {
      const common = {
        model: id,
        provider: name,
        info,
        apiKey: provider.apiKey,
        baseUrl: provider.baseUrl,
        headers: provider.headers,
        timeouts: provider.timeouts
      }
      if (provider.type === "openai") return OpenAi.make({ ...common, maxTokensField: provider.maxTokensField, thoughtSignatures: provider.thoughtSignatures })
      if (provider.type === "anthropic") {
        return Anthropic.make({ ...common, maxTokens: provider.maxTokens, version: provider.version })
      }
      return Gemini.make(common)
    }
    case "simulated": {
      const { type: _type, name: _name, ...settings } = provider
      return Simulated.make({ ...settings, provider: name, model: id, info })
    }
  }
}

/**
 * The hedge of a config's chains when its `policy` names none: the next
 * target is asked too once the primary has taken longer than its own p95
 * latency (so about one request in twenty is hedged while all is well, and
 * nearly all during a latency spike, whose tail it caps near p95 plus the
 * backup's latency). `policy: { hedge: false }` turns it off.
 */
const defaultHedgePolicy: Hedge = { delay: "p95" }

const hedgeOf = (hedge: Hedge): Policy.HedgePolicy => ({
  delay: hedge.delay ?? "p95",
  ...defined({ maxHedges: hedge.maxHedges })
})

/**
 * A chain as the router takes it. The default hedge (`policy.hedge`) applies
 * to every chain of two or more models that neither races nor sets its own
 * `hedge`; a chain's `hedge` is merged over it, and `hedge: false` turns it off.
 */
const chainOf = (chain: Chain, defaultHedge: Hedge | undefined): Router.ChainConfig | ReadonlyArray<string> => {
  if (Array.isArray(chain)) {
    const targets = chain as ReadonlyArray<string>
    return defaultHedge !== undefined && targets.length > 1 ? { targets, hedge: hedgeOf(defaultHedge) } : targets
  }
  const options = chain as Exclude<Chain, ReadonlyArray<string>>
  const racing = (options.race ?? 1) > 1
  const hedge =
    options.hedge === false
      ? undefined
      : options.hedge !== undefined
      ? hedgeOf({ ...defaultHedge, ...options.hedge })
      : defaultHedge !== undefined && !racing && options.targets.length > 1
      ? hedgeOf(defaultHedge)
      : undefined
  return {
    targets: options.targets,
    ...defined({
      strategy: options.strategy,
      policy: options.policy,
      race: options.race,
      hedge,
      contentPolicy: options.contentPolicy,
      fallbackResponse: options.fallbackResponse,
      continueStreams: options.continueStreams
    })
  }
}

/**
 * The router's configuration. References must have been checked (every
 * model's provider exists).
 *
 * @internal
 */
export const routerConfig = (file: File): Effect.Effect<Router.Config, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const targets: Record<string, Router.TargetConfig> = {}
    for (const [alias, model] of Object.entries(file.models)) {
      const provider = file.providers[model.provider]!
      targets[alias] = {
        model: yield* adapter(alias, model, model.provider, provider),
        ...defined({ weight: model.weight, policy: model.policy, rpm: model.rpm, tpm: model.tpm })
      }
    }
    const { hedge, ...policy } = file.policy ?? {}
    // chains of two or more models hedge at the primary's p95 unless the config says otherwise
    const defaultHedge = hedge === false ? undefined : hedge ?? defaultHedgePolicy
    const chains: Record<string, Router.ChainConfig | ReadonlyArray<string>> = {}
    for (const [name, chain] of Object.entries(file.chains ?? { [implicitChain]: Object.keys(file.models) })) {
      chains[name] = chainOf(chain, defaultHedge)
    }
    return {
      targets,
      chains,
      classifier: Classifier.heuristic(file.tiers === undefined ? {} : { tiers: file.tiers }),
      ...defined({
        defaultChain: file.defaultChain,
        policy: file.policy === undefined ? undefined : policy,
        health: file.health,
        cache: file.cache,
        shadowRate: file.shadowRate
      })
    }
  })
