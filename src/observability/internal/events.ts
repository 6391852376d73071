/**
 * Small readings of router events shared by the observability modules.
 *
 * @internal
 */
import type { Rejected } from "../../llm/FailoverError.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import type { Usage } from "../../llm/Chat.js"
import type { BilledPart, RequestFinished } from "../../router/Events.js"

/** An attempt's error class: the error's tag, or for a rejection its reason. @internal */
export const errorClass = (error: ProviderError | Rejected): string =>
  error._tag === "Rejected" ? error.reason : error._tag

/** Whether a finished request fell back (to another target or to degraded mode). @internal */
export const fellBack = (event: RequestFinished): boolean => event.fallbacks > 0 || event.outcome === "degraded"

/** A target's provider and model, by target name. @internal */
export type Targets = ReadonlyMap<string, { readonly provider: string; readonly model: string }>

/** The lookup of targets from the router's status. @internal */
export const targetsOf = (
  status: ReadonlyArray<{ readonly name: string; readonly provider: string; readonly model: string }>
): Targets => new Map(status.map((s) => [s.name, { provider: s.provider, model: s.model }] as const))

/** Usage less another's, never below zero; a cache count absent when neither has it. */
const lessUsage = (usage: Usage, part: Usage): Usage => {
  const less = (a: number | undefined, b: number | undefined) => (a === undefined ? undefined : Math.max(0, a - (b ?? 0)))
  const cacheRead = less(usage.cacheReadTokens, part.cacheReadTokens)
  const cacheWrite = less(usage.cacheWriteTokens, part.cacheWriteTokens)
  const longCacheWrite = less(usage.longCacheWriteTokens, part.longCacheWriteTokens)
  return {
    inputTokens: Math.max(0, usage.inputTokens - part.inputTokens),
    outputTokens: Math.max(0, usage.outputTokens - part.outputTokens),
    ...(cacheRead === undefined ? {} : { cacheReadTokens: cacheRead }),
    ...(cacheWrite === undefined ? {} : { cacheWriteTokens: cacheWrite }),
    ...(longCacheWrite === undefined ? {} : { longCacheWriteTokens: longCacheWrite })
  }
}

/**
 * Who billed what for a finished request: its serving target's share (its
 * cost and usage less what other targets billed) and each of theirs, so
 * that each model is charged its own.
 *
 * @internal
 */
export const sharesOf = (
  event: RequestFinished
): { readonly served: { readonly cost: number; readonly usage: Usage | undefined }; readonly others: ReadonlyArray<BilledPart> } => {
  const others = event.billed ?? []
  let cost = event.cost
  let usage = event.usage
  for (const part of others) {
    cost -= part.cost
    if (usage !== undefined) usage = lessUsage(usage, part.usage)
  }
  return { served: { cost: Math.max(0, cost), usage }, others }
}
