/**
 * A simulator scenario given where a config goes (`serve --config
 * scenario.yaml`): a scenario is a config plus `name`, `description`,
 * `seed` and `load`, so it reads as a config with four unknown keys. Those
 * become one problem that says what the file is and which command reads it.
 *
 * @internal
 */
import type { RawProblem } from "./problems.js"
import { isRecord } from "./shape.js"

/** The keys a scenario adds to a config. */
const scenarioKeys: ReadonlyArray<string> = ["name", "description", "seed", "load"]

/** `a`, `a and b`, `a, b and c`. */
const words = (items: ReadonlyArray<string>): string =>
  items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`

/**
 * The problems of a raw config, the unknown keys a scenario adds folded into
 * one problem for the whole document when it is a scenario's: a `load`, or a
 * `seed` beside `providers` (a config's misspelt key stays what it is).
 *
 * @internal
 */
export const foldScenarioKeys = (
  raw: unknown,
  found: ReadonlyArray<RawProblem>,
  source: string | undefined
): ReadonlyArray<RawProblem> => {
  if (!isRecord(raw) || !("load" in raw || ("seed" in raw && "providers" in raw))) return found
  const isScenarioKey = (problem: RawProblem) =>
    problem.atKey === true && problem.path.length === 1 && scenarioKeys.includes(String(problem.path[0]))
  const keys = found.filter(isScenarioKey).map((problem) => String(problem.path[0]))
  if (keys.length === 0) return found
  const theirs = keys.length === 1 ? `${keys[0]} is a scenario's` : `${words(keys)} are a scenario's`
  return [
    {
      path: [],
      message: `a simulator scenario, not a config (${theirs}): replay it with llm-failover simulate --scenario ${source ?? "FILE"}`
    },
    ...found.filter((problem) => !isScenarioKey(problem))
  ]
}
