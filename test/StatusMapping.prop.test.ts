/**
 * The one status → class mapping, as properties over every error status
 * 400..599: `fromStatus` picks exactly one class, retriable exactly for 429,
 * 5xx, 408, 409 and 499 (Gemini's CANCELLED), skippable exactly for 401, 402, 403, 404 and 413, fatal for
 * every other 4xx (DESIGN.md's table, as `fromStatus`'s doc encodes it); and
 * the adapters' error path (each provider's own error body, as the mock
 * server sends it) lands on the very same class.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, FastCheck } from "effect"
import { fromStatus, isFatal, isRetriable, isSkippable, retryAfter } from "../src/llm/ProviderError.js"
import * as Errors from "../src/providers/internal/errors.js"
import { anthropicWire } from "../src/testing/internal/anthropicWire.js"
import { geminiWire } from "../src/testing/internal/geminiWire.js"
import { openAiWire } from "../src/testing/internal/openAiWire.js"
import { defaultMessage } from "../src/testing/internal/wire.js"

const numRuns = 1000
const errorStatus = FastCheck.integer({ min: 400, max: 599 })

const expectedGroup = (status: number): "retriable" | "skippable" | "fatal" => {
  if (status === 429 || status >= 500 || status === 408 || status === 409 || status === 499) return "retriable"
  // 402 (payment required) is a fault of the target's account: Unauthorized, as 401 and 403
  if (status === 401 || status === 402 || status === 403 || status === 404 || status === 413) return "skippable"
  return "fatal"
}

const context = { provider: "p", model: "m", message: "failed" }

describe("status mapping", () => {
  it.prop(
    "every status 400..599 maps to exactly one class, in the group DESIGN.md gives it",
    [errorStatus],
    ([status]) => {
      const error = fromStatus(status, context)
      const groups = [isRetriable(error), isSkippable(error), isFatal(error)]
      expect(groups.filter(Boolean)).toHaveLength(1)
      const group = isRetriable(error) ? "retriable" : isSkippable(error) ? "skippable" : "fatal"
      expect(group).toBe(expectedGroup(status))
      expect([error.status, error.provider, error.model, error.message]).toEqual([status, "p", "m", "failed"])
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "the class is a function of the status alone, and only 429, 503 and 529 keep a Retry-After",
    [errorStatus, FastCheck.integer({ min: 0, max: 120_000 })],
    ([status, millis]) => {
      const wait = Duration.millis(millis)
      const error = fromStatus(status, { ...context, retryAfter: wait })
      expect(error._tag).toBe(fromStatus(status, context)._tag)
      const kept = status === 429 || status === 503 || status === 529
      expect(retryAfter(error)._tag).toBe(kept ? "Some" : "None")
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "an adapter reading any provider's error body of a status lands on fromStatus's class",
    [errorStatus, FastCheck.constantFrom(openAiWire, anthropicWire, geminiWire)],
    ([status, wire]) => {
      const body = JSON.stringify(wire.errorBody(status, defaultMessage(status), undefined))
      const error = Errors.fromResponse({ provider: "p", model: "m", secret: undefined }, status, {}, body, 0)
      expect(error._tag).toBe(fromStatus(status, context)._tag)
      expect(error.status).toBe(status)
      expect(error.message).toBe(defaultMessage(status))
    },
    { fastCheck: { numRuns } }
  )
})
