/**
 * The prompt-cache counts of a provider's usage, read the same way by every
 * wire format: leniently (a count that is not one is none, rather than an
 * answer lost over a field only pricing reads) and kept consistent with the
 * prompt they are part of.
 *
 * @internal
 */
import type { Usage } from "../../llm/Chat.js"

/**
 * A token count as a wire sends it: a whole positive number, else 0 (absent,
 * null, or not a count).
 *
 * @example
 * count(1_024) // 1024
 * count(null) // 0
 * count("12") // 0
 *
 * @internal
 */
export const count = (value: unknown): number =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0

/**
 * The cache fields of a usage whose prompt was `inputTokens` in all: reads,
 * writes and the long writes among them, each capped at what holds it (a
 * provider's counts that do not add up never price more of the prompt than
 * there was), and each left out when none, as `Chat.Usage` has it.
 *
 * @example
 * cacheCounts(1_000, 900, 0, 0) // { cacheReadTokens: 900 }
 * cacheCounts(1_000, 0, 0, 0) // {}
 *
 * @internal
 */
export const cacheCounts = (
  inputTokens: number,
  read: number,
  written: number,
  longWritten: number
): Pick<Usage, "cacheReadTokens" | "cacheWriteTokens" | "longCacheWriteTokens"> => {
  const cacheRead = Math.min(read, inputTokens)
  const cacheWrite = Math.min(written, Math.max(0, inputTokens - cacheRead))
  const longCacheWrite = Math.min(longWritten, cacheWrite)
  return {
    ...(cacheRead > 0 ? { cacheReadTokens: cacheRead } : {}),
    ...(cacheWrite > 0 ? { cacheWriteTokens: cacheWrite } : {}),
    ...(longCacheWrite > 0 ? { longCacheWriteTokens: longCacheWrite } : {})
  }
}

/**
 * The reasoning field of a usage whose answer was `outputTokens` in all:
 * the tokens spent reasoning, capped at the answer they are part of, and
 * left out when none, as `Chat.Usage` has it.
 *
 * @example
 * reasoningCount(30, 20) // { reasoningTokens: 20 }
 * reasoningCount(30, 0) // {}
 *
 * @internal
 */
export const reasoningCount = (outputTokens: number, reasoning: number): Pick<Usage, "reasoningTokens"> => {
  const reasoningTokens = Math.min(reasoning, outputTokens)
  return reasoningTokens > 0 ? { reasoningTokens } : {}
}
