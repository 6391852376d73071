/**
 * Suggestions for a name that is not known: the closest known one, or the
 * list of them. Used by the config's cross-references, the router's unknown
 * chain and the gateway's unknown model.
 *
 * @internal
 */

/** The Levenshtein distance of two short strings. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * The known name closest to `name`, in any letters, when it is close: at
 * most a third of its letters off (a name of one or two letters is too short
 * to guess from, unless only its case differs).
 *
 * @internal
 */
export const closest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  const limit = name.length <= 2 ? 0 : Math.max(1, Math.floor(name.length / 3))
  return known
    .filter((candidate) => candidate !== name)
    .map((candidate) => ({ candidate, d: distance(name.toLowerCase(), candidate.toLowerCase()) }))
    .filter(({ d }) => d <= limit)
    .sort((a, b) => a.d - b.d)[0]?.candidate
}

/** `(did you mean "openai"?)` for a close name, else the known names (when few). @internal */
export const hint = (name: string, known: ReadonlyArray<string>, plural: string): string => {
  const close = closest(name, known)
  if (close !== undefined) return ` (did you mean "${close}"?)`
  if (known.length === 0) return ` (no ${plural} are defined)`
  return known.length <= 12 ? ` (known ${plural}: ${known.join(", ")})` : ""
}
