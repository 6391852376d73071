/**
 * Gemini's thought signatures on tool calls: how one travels in OpenAI's
 * format (as Google's OpenAI-compatible endpoint carries it, in
 * `extra_content.google.thought_signature` on the call: clients that send
 * back the assistant message they got keep it), and what a Gemini 3 model
 * gets for a call that has none.
 *
 * @internal
 */
import type { ChatRequest } from "../Chat.js"
import * as Arr from "effect/Array"
import * as Predicate from "effect/Predicate"
import type { InvalidRequest } from "../ProviderError.js"

/**
 * What Gemini's docs say to send as a call's signature when its own is not
 * at hand (a call another provider made, or one whose client dropped it):
 * Gemini 3 refuses a conversation whose function calls lack one.
 *
 * @internal
 */
export const placeholderSignature = "skip_thought_signature_validator"

/**
 * How a model takes the signatures of a conversation's function calls:
 * - `"none"`: not at all. A model that is not Gemini (Gemma, or another
 *   model on Google's OpenAI-compatible endpoint) answers a request whose
 *   calls carry signatures with a 400.
 * - `"own"`: each call with its own signature, if it has one (Gemini 1 and 2).
 * - `"checked"`: the same, and a turn whose first call has none gets the
 *   placeholder, since the model refuses the conversation otherwise: every
 *   Gemini but 1 and 2 (an alias such as `gemini-flash-latest` may point at
 *   Gemini 3).
 *
 * By the id after any prefix (`models/`, Vertex's `google/`).
 *
 * @internal
 */
export type SignatureUse = "none" | "own" | "checked"

/** How `model` takes signatures (see `SignatureUse`). @internal */
export const signatureUse = (model: string): SignatureUse => {
  // the id after any prefix: `models/...`, Vertex's `google/...`
  const id = model.slice(model.lastIndexOf("/") + 1)
  if (!id.startsWith("gemini")) return "none"
  return /^gemini-[12](?:[.-]|$)/.test(id) ? "own" : "checked"
}

/**
 * The signature each call of one assistant turn goes with, as the model
 * takes them (`use`): its own, and for the turn's first call, when it has
 * none and the model checks them, the placeholder (Gemini signs the first
 * of parallel calls only).
 *
 * @internal
 */
export const turnSignatures = (
  calls: ReadonlyArray<{ readonly signature?: string | undefined }>,
  use: SignatureUse
): ReadonlyArray<string | undefined> =>
  use === "none" ? [] : calls.map((call, i) => call.signature ?? (use === "checked" && i === 0 ? placeholderSignature : undefined))

/**
 * Whether a provider's 400 refused the thought signatures of the
 * conversation's function calls. Gemini's words: "Corrupted thought
 * signature.", "Invalid thought signature." (a signature another model,
 * key or project made), "Function call is missing a thought_signature in
 * functionCall parts".
 *
 * @internal
 */
export const refusedSignatures = (error: unknown): boolean =>
  Predicate.isTagged(error, "InvalidRequest") && /thought[ _]?signature/i.test((error as InvalidRequest).message)

/**
 * The request with its signatures given up: the first call of each
 * assistant turn goes with the placeholder, the others with none. What a
 * Gemini model that refused the signatures gets instead (see
 * `refusedSignatures`): signatures made by another Gemini model, key or
 * project are refused, the placeholder is not. `undefined` when the request
 * holds no function call, so there is nothing to give up.
 *
 * @internal
 */
export const withPlaceholders = (request: ChatRequest): ChatRequest | undefined => {
  if (!request.messages.some((message) => message.role === "assistant" && (message.toolCalls?.length ?? 0) > 0)) return undefined
  return {
    ...request,
    messages: Arr.map(request.messages, (message) =>
      message.role === "assistant" && message.toolCalls !== undefined && message.toolCalls.length > 0
        ? {
          ...message,
          toolCalls: message.toolCalls.map(({ signature: _, ...call }, i) =>
            i === 0 ? { ...call, signature: placeholderSignature } : call
          )
        }
        : message
    )
  }
}

/** The `extra_content` of a call with this signature. @internal */
export const extraContent = (signature: string) => ({ google: { thought_signature: signature } })

/** The signature in a call's `extra_content`, if it has a string one. @internal */
export const signatureOf = (extra: unknown): string | undefined => {
  if (typeof extra !== "object" || extra === null) return undefined
  const google = (extra as { readonly google?: unknown }).google
  if (typeof google !== "object" || google === null) return undefined
  const signature = (google as { readonly thought_signature?: unknown }).thought_signature
  return typeof signature === "string" ? signature : undefined
}
