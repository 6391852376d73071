/**
 * Gemini's thought signatures on tool calls: how one travels in OpenAI's
 * format (as Google's OpenAI-compatible endpoint carries it, in
 * `extra_content.google.thought_signature` on the call: clients that send
 * back the assistant message they got keep it), and what a Gemini 3 model
 * gets for a call that has none.
 *
 * @internal
 */

/**
 * What Gemini's docs say to send as a call's signature when its own is not
 * at hand (a call another provider made, or one whose client dropped it):
 * Gemini 3 refuses a conversation whose function calls lack one.
 *
 * @internal
 */
export const placeholderSignature = "skip_thought_signature_validator"

/**
 * Whether a Gemini model checks the signatures of the function calls in a
 * conversation: all but Gemini 1 and 2 (an alias such as
 * `gemini-flash-latest` may point at Gemini 3), by the id after any
 * prefix (`models/`, Vertex's `google/`).
 *
 * @internal
 */
export const checksSignatures = (model: string): boolean => {
  // the id after any prefix: `models/...`, Vertex's `google/...`
  const id = model.slice(model.lastIndexOf("/") + 1)
  return id.startsWith("gemini") && !/^gemini-[12](?:[.-]|$)/.test(id)
}

/**
 * The signature each call of one assistant turn goes with: its own, and
 * for the turn's first call, when it has none and the model checks them,
 * the placeholder (Gemini signs the first of parallel calls only).
 *
 * @internal
 */
export const turnSignatures = (
  calls: ReadonlyArray<{ readonly signature?: string | undefined }>,
  checks: boolean
): ReadonlyArray<string | undefined> =>
  calls.map((call, i) => call.signature ?? (checks && i === 0 ? placeholderSignature : undefined))

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
