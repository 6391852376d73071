/**
 * A defect told without its text: its class, and where it was thrown (the
 * first frame of its stack, the file's name and line), for a log line or an
 * error's message. A defect's own message may hold anything, a secret
 * included (a key in a URL, a header echoed), so it is left out; the frame
 * says where to look.
 *
 * @internal
 */

/** `TypeError at engine.ts:120:7`, `string`, `null`: what a defect is, and where it was thrown. @internal */
export const describe = (defect: unknown): string => {
  if (!(defect instanceof Error)) return defect === null ? "null" : typeof defect
  const frame = typeof defect.stack === "string" ? firstFrame(defect.stack) : undefined
  return frame === undefined ? defect.name : `${defect.name} at ${frame}`
}

/** The first stack frame's place, `file.ts:12:5` (the file's name only, no directory or query). */
const firstFrame = (stack: string): string | undefined => {
  for (const line of stack.split("\n", 12)) {
    const at = /^\s+at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/.exec(line)
    if (at !== null) {
      const file = at[1]!.split(/[\\/]/).pop()!.split("?")[0]!
      return `${file.slice(0, 80)}:${at[2]}:${at[3]}`
    }
  }
  return undefined
}
