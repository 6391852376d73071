/**
 * How a tool call's `signature` travels in OpenAI's format: as Google's
 * OpenAI-compatible endpoint carries Gemini's thought signature, in
 * `extra_content.google.thought_signature` on the call. Clients that send
 * back the assistant message they got keep it.
 *
 * @internal
 */

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
