/**
 * Default context windows and list prices (US dollars per million tokens)
 * of well-known models, matched by the longest id prefix. These are the
 * public list prices when this table was written; an adapter's `info`
 * option overrides them, and a model not listed gets its provider's
 * fallback window and a price of zero (set `info.price` for cost routing).
 *
 * @internal
 */
import type { ModelInfo, Price } from "../../llm/ModelInfo.js"

interface Known {
  readonly prefix: string
  readonly contextWindow: number
  readonly maxOutputTokens?: number
  readonly price: Price
}

const known: ReadonlyArray<Known> = [
  { prefix: "gpt-5-nano", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 0.05, output: 0.4 } },
  { prefix: "gpt-5-mini", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 0.25, output: 2 } },
  { prefix: "gpt-5", contextWindow: 400_000, maxOutputTokens: 128_000, price: { input: 1.25, output: 10 } },
  { prefix: "gpt-4.1-nano", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 0.1, output: 0.4 } },
  { prefix: "gpt-4.1-mini", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 0.4, output: 1.6 } },
  { prefix: "gpt-4.1", contextWindow: 1_047_576, maxOutputTokens: 32_768, price: { input: 2, output: 8 } },
  { prefix: "gpt-4o-mini", contextWindow: 128_000, maxOutputTokens: 16_384, price: { input: 0.15, output: 0.6 } },
  { prefix: "gpt-4o", contextWindow: 128_000, maxOutputTokens: 16_384, price: { input: 2.5, output: 10 } },
  { prefix: "o4-mini", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 1.1, output: 4.4 } },
  { prefix: "o3-mini", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 1.1, output: 4.4 } },
  { prefix: "o3", contextWindow: 200_000, maxOutputTokens: 100_000, price: { input: 2, output: 8 } },
  { prefix: "claude-opus-4-5", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 5, output: 25 } },
  { prefix: "claude-opus-4", contextWindow: 200_000, maxOutputTokens: 32_000, price: { input: 15, output: 75 } },
  { prefix: "claude-sonnet-4", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 } },
  { prefix: "claude-3-7-sonnet", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 3, output: 15 } },
  { prefix: "claude-haiku-4-5", contextWindow: 200_000, maxOutputTokens: 64_000, price: { input: 1, output: 5 } },
  { prefix: "claude-3-5-haiku", contextWindow: 200_000, maxOutputTokens: 8_192, price: { input: 0.8, output: 4 } },
  { prefix: "gemini-2.5-pro", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 1.25, output: 10 } },
  {
    prefix: "gemini-2.5-flash-lite",
    contextWindow: 1_048_576,
    maxOutputTokens: 65_536,
    price: { input: 0.1, output: 0.4 }
  },
  { prefix: "gemini-2.5-flash", contextWindow: 1_048_576, maxOutputTokens: 65_536, price: { input: 0.3, output: 2.5 } },
  { prefix: "gemini-2.0-flash", contextWindow: 1_048_576, maxOutputTokens: 8_192, price: { input: 0.1, output: 0.4 } }
]

// longest prefix first, so "gpt-4.1-mini" wins over "gpt-4.1"
const byPrefix = [...known].sort((a, b) => b.prefix.length - a.prefix.length)

/**
 * What a caller may override of a model's info.
 *
 * @internal
 */
export interface InfoOverrides {
  readonly contextWindow?: number | undefined
  readonly maxOutputTokens?: number | undefined
  readonly price?: Price | undefined
}

/**
 * The info of a model: the caller's overrides, else the table, else the
 * provider's fallback window and a zero price.
 *
 * @internal
 */
export const infoFor = (
  provider: string,
  model: string,
  fallbackWindow: number,
  overrides: InfoOverrides | undefined
): ModelInfo => {
  const entry = byPrefix.find((candidate) => model.startsWith(candidate.prefix))
  const maxOutputTokens = overrides?.maxOutputTokens ?? entry?.maxOutputTokens
  return {
    provider,
    model,
    contextWindow: overrides?.contextWindow ?? entry?.contextWindow ?? fallbackWindow,
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    price: overrides?.price ?? entry?.price ?? { input: 0, output: 0 }
  }
}
