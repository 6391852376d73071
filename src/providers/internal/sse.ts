/**
 * Server-sent events, decoded incrementally as the WHATWG spec says: lines
 * end with CRLF, LF or CR (a CRLF split across two reads is one ending),
 * `data:` lines join with "\n", a blank line dispatches, `:` lines are
 * comments (heartbeats), and an event not closed by a blank line when the
 * body ends is dropped (a truncated stream never yields half an event).
 *
 * @internal
 */
/** @internal */
export interface SseEvent {
  /** The `event:` field, `"message"` when absent. */
  readonly event: string
  readonly data: string
}

const LF = 10
const CR = 13
const COLON = 58
const SPACE = 32

/**
 * An incremental SSE parser: feed it text as it arrives, it pushes each
 * complete event to `out`.
 *
 * @internal
 */
export class SseParser {
  private pending = ""
  private skipLeadingLF = false
  private eventName = ""
  private data = ""
  private hasData = false

  feed(text: string, out: Array<SseEvent>): void {
    let start = 0
    if (this.skipLeadingLF && text.charCodeAt(0) === LF) start = 1
    this.skipLeadingLF = false
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c !== LF && c !== CR) continue
      const line = this.pending === "" ? text.slice(start, i) : this.pending + text.slice(start, i)
      this.pending = ""
      this.line(line, out)
      if (c === CR) {
        if (i + 1 === text.length) this.skipLeadingLF = true
        else if (text.charCodeAt(i + 1) === LF) i++
      }
      start = i + 1
    }
    if (start < text.length) this.pending += text.slice(start)
  }

  private line(line: string, out: Array<SseEvent>): void {
    if (line.length === 0) return this.dispatch(out)
    if (line.charCodeAt(0) === COLON) return
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    const valueStart = colon === -1 ? line.length : line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1
    if (field === "data") {
      const value = line.slice(valueStart)
      this.data = this.hasData ? this.data + "\n" + value : value
      this.hasData = true
    } else if (field === "event") {
      this.eventName = line.slice(valueStart)
    }
  }

  private dispatch(out: Array<SseEvent>): void {
    if (this.hasData) out.push({ event: this.eventName === "" ? "message" : this.eventName, data: this.data })
    this.eventName = ""
    this.data = ""
    this.hasData = false
  }
}
