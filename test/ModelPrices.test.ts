/**
 * The adapters' price table (`providers/internal/models.ts`): a listed id
 * prices itself and its snapshots (a dated or `-latest` suffix as each
 * provider names them), never another model whose id merely starts the
 * same (`o3-pro` is not `o3`); a vendor prefix (`openai/`) is read past;
 * a model the table does not know is priced 0, which the config warns of.
 */
import { describe, expect, it } from "@effect/vitest"
import { anthropicDefaults, geminiDefaults, infoFor, openAiDefaults } from "../src/providers/internal/models.js"
import type { ProviderDefaults } from "../src/providers/internal/models.js"

const priceOf = (model: string, defaults: ProviderDefaults = openAiDefaults) => {
  const { input, output } = infoFor("p", model, defaults, undefined).price
  return { input, output }
}

describe("the price table", () => {
  it("a listed id prices its snapshots: a date (-2025-04-16, -20250514, @20250514), -latest, Gemini's -preview and versions", () => {
    expect(priceOf("o3")).toEqual({ input: 2, output: 8 })
    expect(priceOf("o3-2025-04-16")).toEqual({ input: 2, output: 8 })
    expect(priceOf("gpt-4.1-mini-2025-04-14")).toEqual({ input: 0.4, output: 1.6 })
    expect(priceOf("gpt-4o-2024-05-13")).toEqual({ input: 5, output: 15 })
    expect(priceOf("claude-sonnet-4-20250514", anthropicDefaults)).toEqual({ input: 3, output: 15 })
    expect(priceOf("claude-opus-4-20250514", anthropicDefaults)).toEqual({ input: 15, output: 75 })
    expect(priceOf("claude-opus-4-1-20250805", anthropicDefaults)).toEqual({ input: 15, output: 75 })
    expect(priceOf("claude-opus-4@20250514", anthropicDefaults)).toEqual({ input: 15, output: 75 })
    expect(priceOf("claude-3-5-haiku-latest", anthropicDefaults)).toEqual({ input: 0.8, output: 4 })
    expect(priceOf("gemini-3-pro-preview", geminiDefaults)).toEqual({ input: 2, output: 12 })
    expect(priceOf("gemini-2.5-flash-preview-09-2025", geminiDefaults)).toEqual({ input: 0.3, output: 2.5 })
    expect(priceOf("gemini-2.5-pro-preview-06-05", geminiDefaults)).toEqual({ input: 1.25, output: 10 })
    expect(priceOf("gemini-2.0-flash-001", geminiDefaults)).toEqual({ input: 0.1, output: 0.4 })
  })

  it("another model whose id starts as a listed one's is not priced as it: the pro and deep-research models are listed at their own prices", () => {
    expect(priceOf("o3-pro")).toEqual({ input: 20, output: 80 })
    expect(priceOf("o3-pro-2025-06-10")).toEqual({ input: 20, output: 80 })
    expect(priceOf("o1-pro")).toEqual({ input: 150, output: 600 })
    expect(priceOf("gpt-5-pro")).toEqual({ input: 15, output: 120 })
    expect(priceOf("gpt-5-pro-2025-10-06")).toEqual({ input: 15, output: 120 })
    expect(priceOf("o3-deep-research")).toEqual({ input: 10, output: 40 })
    expect(priceOf("o4-mini-deep-research-2025-06-26")).toEqual({ input: 2, output: 8 })
    // models the table does not list are unpriced, not a cheaper sibling's price
    expect(priceOf("gpt-4o-realtime-preview")).toEqual({ input: 0, output: 0 })
    expect(priceOf("gpt-4o-audio-preview")).toEqual({ input: 0, output: 0 })
    expect(priceOf("gemini-2.5-flash-image", geminiDefaults)).toEqual({ input: 0, output: 0 })
    expect(priceOf("gemini-2.0-flash-lite", geminiDefaults)).toEqual({ input: 0, output: 0 })
    expect(priceOf("claude-opus-4-7", anthropicDefaults)).toEqual({ input: 0, output: 0 })
  })

  it("the GPT-5 chat and codex models and GPT-5.1 and 5.2 are listed, each at its price (GPT-5.2 is not GPT-5's)", () => {
    expect(priceOf("gpt-5-chat-latest")).toEqual({ input: 1.25, output: 10 })
    expect(infoFor("p", "gpt-5-chat-latest", openAiDefaults, undefined).contextWindow).toBe(128_000)
    expect(priceOf("gpt-5-codex")).toEqual({ input: 1.25, output: 10 })
    expect(priceOf("gpt-5.1")).toEqual({ input: 1.25, output: 10 })
    expect(priceOf("gpt-5.1-2025-11-13")).toEqual({ input: 1.25, output: 10 })
    expect(priceOf("gpt-5.2")).toEqual({ input: 1.75, output: 14 })
    expect(priceOf("gpt-5.2-pro")).toEqual({ input: 21, output: 168 })
  })

  it("a vendor prefix (OpenRouter's openai/, Gemini's models/) is read past", () => {
    expect(priceOf("openai/gpt-4o")).toEqual({ input: 2.5, output: 10 })
    expect(priceOf("anthropic/claude-sonnet-4-5")).toEqual({ input: 3, output: 15 })
    expect(priceOf("models/gemini-2.5-flash", geminiDefaults)).toEqual({ input: 0.3, output: 2.5 })
    expect(priceOf("mistral-large-latest")).toEqual({ input: 0, output: 0 })
  })
})
