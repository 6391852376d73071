/**
 * Gemini's thought signatures on tool calls: how one travels in OpenAI's
 * format (as Google's OpenAI-compatible endpoint carries it, in
 * `extra_content.google.thought_signature` on the call: clients that send
 * back the assistant message they got keep it), which models take them,
 * what a Gemini 3 model gets for a call that has none, and what a model
 * that refused them gets on the second try.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Predicate from "effect/Predicate"
import type { ChatRequest } from "../Chat.js"
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
 * - `"none"`: not at all. A model that is not Gemini answers a request
 *   whose calls carry signatures with a 400: Gemma, or a partner's model
 *   on Vertex's OpenAI-compatible endpoint (`meta/llama-…`, named by its
 *   publisher).
 * - `"own"`: each call with its own signature, if it has one: Gemini 1 and
 *   2, and a model the id does not tell (a tuned model, a proxy's alias).
 * - `"checked"`: the same, and a turn whose first call has none gets the
 *   placeholder, since the model refuses the conversation otherwise: every
 *   Gemini but 1 and 2 (an alias such as `gemini-flash-latest` may point at
 *   Gemini 3).
 *
 * By the id after any prefix (`models/`, `tunedModels/`, Vertex's
 * `google/`), and by the publisher a Vertex id names.
 *
 * @internal
 */
export type SignatureUse = "none" | "own" | "checked"

/** The prefixes a Gemini model's id may have: the Gemini API's `models/`, `tunedModels/`, Vertex's publisher `google/`. */
const geminiPrefixes = new Set(["models", "tunedModels", "google"])

/** How `model` takes signatures (see `SignatureUse`). @internal */
export const signatureUse = (model: string): SignatureUse => {
  const slash = model.indexOf("/")
  // one prefix: a publisher on Vertex (`meta/llama-…`) is not Gemini; a longer path (an endpoint's) does not say
  if (slash > 0 && slash === model.lastIndexOf("/") && !geminiPrefixes.has(model.slice(0, slash))) return "none"
  const id = model.slice(model.lastIndexOf("/") + 1)
  if (id.startsWith("gemma")) return "none"
  if (!id.startsWith("gemini") || /^gemini-[12](?:[.-]|$)/.test(id)) return "own"
  return "checked"
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

type Message = ChatRequest["messages"][number]
type Assistant = Extract<Message, { readonly role: "assistant" }>

/** An assistant turn that called functions. */
const calling = (message: Message): message is Assistant & { readonly toolCalls: NonNullable<Assistant["toolCalls"]> } =>
  message.role === "assistant" && message.toolCalls !== undefined && message.toolCalls.length > 0

/** Whether a request holds a function call of an assistant turn, whose signature a model could refuse. @internal */
export const hasToolCalls = (request: ChatRequest): boolean => request.messages.some(calling)

/**
 * The request with its signatures given up: the first call of each
 * assistant turn goes with the placeholder, the others with none. What a
 * Gemini model that refused the signatures gets instead (see
 * `refusedSignatures`): signatures made by another Gemini model, key or
 * project are refused, the placeholder is not.
 *
 * @internal
 */
export const withPlaceholders = (request: ChatRequest): ChatRequest => ({
  ...request,
  messages: Arr.map(request.messages, (message) =>
    calling(message)
      ? {
        ...message,
        toolCalls: message.toolCalls.map(({ signature: _, ...call }, i) =>
          i === 0 ? { ...call, signature: placeholderSignature } : call
        )
      }
      : message
  )
})

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
