/**
 * Reads a tool call's arguments as they stream, to find how much of them
 * is the beginning of one JSON object: what a route may pass on to a client
 * whose SDK parses every piece it gets as the start of an object
 * (Anthropic's `input_json_delta`s, which its SDK's stream helper parses as
 * partial JSON, and raises on anything else).
 *
 * A model may write arguments that are no JSON (OpenAI's do at times;
 * OpenAI-compatible servers' more often), or a JSON object followed by
 * more; an upstream cut by a length stop leaves an object unfinished.
 * `accept` takes the arguments piece by piece and gives back the part of
 * each that keeps what it accepted the beginning of one object (whitespace
 * before the `{` left out): all of it while they are, then nothing. An
 * unfinished object stays a beginning, which a partial-JSON reader reads
 * (as Anthropic's SDK reads its own streams cut by `max_tokens`).
 *
 * One character at a time, no allocation but the slices returned: the
 * per-chunk cost of a streamed call is a loop over its new characters.
 *
 * @internal
 */

// What the next character may be.
const Start = 0 // whitespace, then the `{` that opens the object
const KeyOrEnd = 1 // after `{`: a key or `}`
const Key = 2 // after `,` in an object: a key
const Colon = 3 // after a key
const Value = 4 // a value
const ValueOrEnd = 5 // after `[`: a value or `]`
const After = 6 // after a value: `,` or the container's end
const Done = 7 // after the object: whitespace only
const InString = 8
const Escape = 9 // after `\` in a string
const Hex = 10 // in a `\u` escape's four hex digits
const Minus = 11 // after a number's `-`
const Zero = 12 // after a number's leading `0`
const Int = 13 // in a number's integer digits
const Dot = 14 // after a number's `.`
const Frac = 15 // in a number's fraction digits
const Exp = 16 // after a number's `e`
const ExpSign = 17 // after the exponent's sign
const ExpDigits = 18 // in the exponent's digits
const Literal = 19 // in `true`, `false` or `null`
const Broken = 20 // past the beginning of an object: nothing more

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)

/**
 * The beginning of one JSON object, read as it comes (see the module's
 * docs). Mutable by design: one reader serves one call's arguments, in
 * order.
 *
 * @internal
 */
export class ObjectPrefix {
  private mode = Start
  /** The open containers, `{` or `[`, innermost last. */
  private readonly open: Array<number> = []
  /** In a string: whether it is a key. */
  private key = false
  /** In a `\u` escape: the hex digits still to come. */
  private hexLeft = 0
  /** In a literal: the word, and how much of it came. */
  private word = ""
  private at = 0

  /** Whether what was accepted is one whole object (with whitespace after it, maybe). */
  get complete(): boolean {
    return this.mode === Done
  }

  /**
   * The part of `piece` that keeps what was accepted the beginning of one
   * JSON object: from its `{` (whitespace before the object left out) to
   * its end, or to the first character that would end that.
   */
  accept(piece: string): string {
    if (this.mode === Broken) return ""
    let from = 0
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i)
      if (this.mode === Start) {
        if (isSpace(c)) {
          from = i + 1
          continue
        }
        if (c !== 0x7b) return this.broken(piece, from, i)
        this.open.push(c)
        this.mode = KeyOrEnd
        continue
      }
      if (!this.step(c)) return this.broken(piece, from, i)
    }
    return from === 0 ? piece : piece.slice(from)
  }

  private broken(piece: string, from: number, to: number): string {
    this.mode = Broken
    return piece.slice(from, to)
  }

  /** After a value: the object is done if it closed the outermost container. */
  private valueEnded(): void {
    this.mode = this.open.length === 0 ? Done : After
  }

  /** Reads one character past the opening `{`; false if it cannot come there. */
  private step(c: number): boolean {
    switch (this.mode) {
      case KeyOrEnd:
        return c === 0x7d ? this.close(0x7b) : this.keyStart(c)
      case Key:
        return this.keyStart(c)
      case Colon:
        if (isSpace(c)) return true
        if (c !== 0x3a) return false
        this.mode = Value
        return true
      case ValueOrEnd:
        return c === 0x5d ? this.close(0x5b) : this.value(c)
      case Value:
        return this.value(c)
      case After:
        if (isSpace(c)) return true
        if (c === 0x2c) {
          this.mode = this.open[this.open.length - 1] === 0x7b ? Key : Value
          return true
        }
        return c === 0x7d ? this.close(0x7b) : c === 0x5d ? this.close(0x5b) : false
      case Done:
        return isSpace(c)
      case InString:
        if (c === 0x22) {
          if (this.key) this.mode = Colon
          else this.valueEnded()
          return true
        }
        if (c === 0x5c) this.mode = Escape
        return c >= 0x20
      case Escape:
        if (c === 0x75) {
          this.hexLeft = 4
          this.mode = Hex
          return true
        }
        this.mode = InString
        // " \ / b f n r t
        return c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74
      case Hex:
        if (!isHex(c)) return false
        if (--this.hexLeft === 0) this.mode = InString
        return true
      case Minus:
        if (c === 0x30) this.mode = Zero
        else if (isDigit(c)) this.mode = Int
        else return false
        return true
      case Zero:
      case Int:
      case Frac:
      case ExpDigits:
        if (isDigit(c)) return this.mode !== Zero
        if (c === 0x2e && this.mode !== Frac && this.mode !== ExpDigits) {
          this.mode = Dot
          return true
        }
        if ((c === 0x65 || c === 0x45) && this.mode !== ExpDigits) {
          this.mode = Exp
          return true
        }
        // the number ended: the character is what comes after it
        this.valueEnded()
        return this.step(c)
      case Dot:
        if (!isDigit(c)) return false
        this.mode = Frac
        return true
      case Exp:
        if (c === 0x2b || c === 0x2d) {
          this.mode = ExpSign
          return true
        }
        if (!isDigit(c)) return false
        this.mode = ExpDigits
        return true
      case ExpSign:
        if (!isDigit(c)) return false
        this.mode = ExpDigits
        return true
      case Literal:
        if (c !== this.word.charCodeAt(this.at)) return false
        if (++this.at === this.word.length) this.valueEnded()
        return true
      default:
        return false
    }
  }

  /** Whitespace, or the quote that opens a key. */
  private keyStart(c: number): boolean {
    if (isSpace(c)) return true
    if (c !== 0x22) return false
    this.key = true
    this.mode = InString
    return true
  }

  /** The first character of a value. */
  private value(c: number): boolean {
    if (isSpace(c)) return true
    switch (c) {
      case 0x7b: // {
        this.open.push(c)
        this.mode = KeyOrEnd
        return true
      case 0x5b: // [
        this.open.push(c)
        this.mode = ValueOrEnd
        return true
      case 0x22: // "
        this.key = false
        this.mode = InString
        return true
      case 0x2d: // -
        this.mode = Minus
        return true
      case 0x30:
        this.mode = Zero
        return true
      case 0x74:
        return this.literal("true")
      case 0x66:
        return this.literal("false")
      case 0x6e:
        return this.literal("null")
      default:
        if (!isDigit(c)) return false
        this.mode = Int
        return true
    }
  }

  private literal(word: string): boolean {
    this.word = word
    this.at = 1
    this.mode = Literal
    return true
  }

  /** Closes the innermost container, if it is the one `opener` opened. */
  private close(opener: number): boolean {
    if (this.open[this.open.length - 1] !== opener) return false
    this.open.pop()
    this.valueEnded()
    return true
  }
}

/**
 * A tool call's arguments as an object: the JSON object they begin with,
 * if they hold one whole (what follows it left out, as a stream of them
 * leaves it out), else `{}` (no JSON object, or one a length stop cut).
 *
 * @internal
 */
export const objectOf = (args: string): Record<string, unknown> => {
  const prefix = new ObjectPrefix()
  const accepted = prefix.accept(args)
  if (!prefix.complete) return {}
  try {
    return JSON.parse(accepted) as Record<string, unknown>
  } catch {
    return {} // nothing the reader accepts is refused by JSON.parse; kept safe all the same
  }
}
