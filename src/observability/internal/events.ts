/**
 * Small readings of router events shared by the observability modules.
 *
 * @internal
 */
import type { Rejected } from "../../llm/FailoverError.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import type { RequestFinished } from "../../router/Events.js"

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
