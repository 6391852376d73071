/**
 * Models with no price: one of OpenAI's, Anthropic's or Google's API (or a
 * compatible server's) that the adapters' price table does not know and
 * the config gives no `price`, so every request to it costs $0 in
 * `meta.cost`, the cost report (`/v1/usage`), `llm_cost_usd_total` and a
 * key's spend cap, and the `cost` strategy takes it for the cheapest. Worth
 * a warning, not a problem: a local model is free, which `price: { input:
 * 0, output: 0 }` says (and silences). A simulated provider bills nobody.
 *
 * @internal
 */
import { isPriced } from "../../providers/internal/models.js"
import type { RawProblem } from "./problems.js"
import type * as Schema from "./schema.js"

type File = typeof Schema.File.Type

/**
 * A warning at each model of a decoded config that the price table does not
 * price and the config gives no `price`, on an HTTP provider.
 *
 * @internal
 */
export const unpricedModels = (file: File): ReadonlyArray<RawProblem> => {
  const found: Array<RawProblem> = []
  for (const [alias, model] of Object.entries(file.models)) {
    if (model.price !== undefined) continue
    const type = file.providers[model.provider]?.type
    if (type === undefined || type === "simulated") continue
    const id = model.model ?? alias
    if (isPriced(id)) continue
    found.push({
      path: ["models", alias],
      message: `${id} has no price (the table of known models does not list it): its requests cost $0 in meta.cost, /v1/usage, ` +
        "llm_cost_usd_total and spend caps, and the cost strategy takes it for the cheapest; set price: { input, output } " +
        "(US dollars a million tokens; { input: 0, output: 0 } for a free model)"
    })
  }
  return found
}
