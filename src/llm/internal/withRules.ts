/**
 * A mapping with rules across its fields: a fault's `to` after its `from`,
 * a window's `minimumCalls` within it. Schema runs a filter only once every
 * field decoded, so a sibling's mistake (a misspelt key, a bad status) hid
 * such a rule's problem until the next run. Here a rule also runs when the
 * mapping fails, as soon as the fields it reads decoded, and its problem is
 * reported beside the others.
 *
 * @internal
 */
import { Effect, Either, ParseResult, Predicate, Schema, type SchemaAST } from "effect"

/** What a rule says: `true` when it holds, else its message, at the mapping or at a path inside it. */
export type Verdict = true | string | Schema.FilterIssue

/**
 * A rule over a mapping's decoded fields. It runs when each field in `reads`
 * decoded (or is optional and absent); it must read no other field.
 *
 * @internal
 */
export interface Rule<A> {
  readonly reads: ReadonlyArray<keyof A & string>
  readonly check: (value: A) => Verdict
}

const issueOf = (verdict: Verdict, ast: SchemaAST.AST, input: unknown): ParseResult.ParseIssue | undefined => {
  if (verdict === true) return undefined
  if (typeof verdict === "string") return new ParseResult.Type(ast, input, verdict)
  const issue = new ParseResult.Type(ast, input, verdict.message)
  const [head, ...rest] = verdict.path
  return head === undefined ? issue : new ParseResult.Pointer([head, ...rest], input, issue)
}

/**
 * `schema` with `rules`. Decoded whole, the value passes every rule (a filter
 * on the type side, so `Schema.validate` checks them too). Failing, it adds
 * the problems of the rules whose fields decoded to the schema's own.
 *
 * @internal
 */
export const withRules = <S extends Schema.Schema.AnyNoContext & { readonly fields: Schema.Struct.Fields }>(
  schema: S,
  rules: ReadonlyArray<Rule<Schema.Schema.Type<S>>>
): Schema.Schema<Schema.Schema.Type<S>, Schema.Schema.Encoded<S>> => {
  type A = Schema.Schema.Type<S>
  const checked = Schema.typeSchema(schema).pipe(Schema.filter((value) => rules.map((rule) => rule.check(value))))
  // each field alone, so that an absent optional field decodes (to nothing) and an absent required one fails;
  // as effects, so that a field read from the environment (an `env:` secret) is read through the ambient
  // ConfigProvider, as the whole decode reads it (never the process's environment behind its back)
  const alone = new Map(
    Object.entries(schema.fields).map(([key, field]) => [
      key,
      ParseResult.decodeUnknown(Schema.Struct({ [key]: field }) as unknown as Schema.Schema<object, unknown>)
    ])
  )
  const decodeWhole = ParseResult.decodeUnknown(schema)
  /** The fields a rule reads, or nothing when one of them does not decode. */
  const fieldsOf = (input: Readonly<Record<string, unknown>>, reads: ReadonlyArray<string>) =>
    Effect.reduce(reads, {} as Record<string, unknown> | undefined, (value, key) => {
      const decode = alone.get(key)
      if (value === undefined || decode === undefined) return Effect.succeed(undefined)
      return Effect.match(decode(key in input ? { [key]: input[key] } : {}), {
        onFailure: () => undefined,
        onSuccess: (decoded) => ({ ...value, ...decoded })
      })
    }) as Effect.Effect<A | undefined>
  const wrapped = Schema.transformOrFail(Schema.Unknown, checked, {
    strict: true,
    // an effect where a field reads the environment (run at once where the caller allows no effects)
    decode: (input, options, ast) => {
      const decoded = decodeWhole(input, options)
      if (Either.isEither(decoded) && Either.isRight(decoded)) return decoded
      return Effect.flatMap(Effect.either(decoded), (whole) => {
        if (Either.isRight(whole) || !Predicate.isRecord(input)) return whole
        const verdicts = Effect.forEach(rules, (rule) =>
          Effect.map(fieldsOf(input, rule.reads), (value) => value === undefined ? undefined : issueOf(rule.check(value), ast, input)))
        return Effect.flatMap(verdicts, (issues) => {
          const broken = issues.filter((issue) => issue !== undefined)
          return broken.length === 0 ? whole : ParseResult.fail(new ParseResult.Composite(ast, input, [whole.left, ...broken]))
        })
      })
    },
    encode: (value, options) => ParseResult.encodeUnknown(schema)(value, options)
  })
  return wrapped as unknown as Schema.Schema<A, Schema.Schema.Encoded<S>>
}
