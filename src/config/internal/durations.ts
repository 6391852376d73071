/**
 * Durations written as bare numbers: a number where a duration goes is
 * milliseconds, so `attempt: 30` is 30 ms, not the 30 seconds it was
 * likely meant to be. Found by comparing the file with what it decoded to:
 * wherever a small number became a `Duration`, whatever the field, without a
 * list of the places durations are read.
 *
 * @internal
 */
import { Duration } from "effect"
import type { RawProblem } from "./problems.js"
import { repeatedWindows } from "./schema.js"
import { isRecord } from "./shape.js"

/** Below this, a bare number of milliseconds is more likely seconds meant. */
const threshold = 1000

/** A repetition's fields, both durations, to walk its `every` and `until` against. */
const repetition = { every: Duration.zero, until: Duration.zero }

const at = (value: unknown, key: PropertyKey): unknown =>
  Array.isArray(value) && typeof key === "number" ? value[key] : isRecord(value) ? value[String(key)] : undefined

/**
 * A warning for each number from 0 (excluded) to 1000 (excluded) in the raw
 * config that decoded to a `Duration` at the same path. A breaker's `window`
 * of calls stays a number and is not one. A list of faults is decoded flat,
 * each repeated fault expanded into its windows: each entry is matched with
 * the first of its own windows, and a repetition's `every` and `until` are
 * durations.
 *
 * @internal
 */
export const bareMillis = (raw: unknown, decoded: unknown): ReadonlyArray<RawProblem> => {
  const found: Array<RawProblem> = []
  const faults = (entries: ReadonlyArray<unknown>, windows: ReadonlyArray<unknown>, path: ReadonlyArray<PropertyKey>): void => {
    let next = 0
    entries.forEach((entry, i) => {
      if (isRecord(entry) && "repeat" in entry) {
        walk(entry["repeat"], repetition, [...path, i, "repeat"])
        walk(entry["fault"], windows[next], [...path, i, "fault"])
        next += repeatedWindows(entry)
      } else {
        walk(entry, windows[next], [...path, i])
        next += 1
      }
    })
  }
  const walk = (value: unknown, into: unknown, path: ReadonlyArray<PropertyKey>): void => {
    if (typeof value === "number") {
      if (value > 0 && value < threshold && Duration.isDuration(into)) {
        const unit = value === 1 ? "millisecond" : "milliseconds"
        found.push({
          path,
          message: `${value} is ${value} ${unit}; write "${value} ${value === 1 ? "second" : "seconds"}" if you meant seconds (or "${value} millis")`
        })
      }
    } else if (Array.isArray(value) && path[path.length - 1] === "faults" && Array.isArray(into)) {
      faults(value, into, path)
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, at(into, i), [...path, i]))
    } else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) walk(item, at(into, key), [...path, key])
    }
  }
  walk(raw, decoded, [])
  return found
}
