/**
 * Durations as options are written: `Duration.decode` reads a negative one
 * (`-100`, `"-1 seconds"`) as zero, so a check of the decoded value cannot
 * see it.
 *
 * @internal
 */
import type { Duration } from "effect"

/**
 * Whether a duration was written negative.
 *
 * @internal
 */
export const isNegative = (input: Duration.DurationInput): boolean =>
  (typeof input === "number" && input < 0) || (typeof input === "bigint" && input < 0n) ||
  (typeof input === "string" && input.trim().startsWith("-"))
