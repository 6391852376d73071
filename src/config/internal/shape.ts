/**
 * Schema helpers for a hand-written config file: strict mappings with a
 * readable "expected" line, optional fields that stay absent, and choices
 * decided by the input's shape so that a mistake is reported once, inside
 * the alternative the user meant, instead of once per alternative.
 *
 * @internal
 */
import { Either, ParseResult, Schema, type SchemaAST } from "effect"

/** An optional field that is absent when not given, never `undefined`. @internal */
export const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** Whether a value is a plain mapping (not an array, not null). @internal */
export const isRecord = (input: unknown): input is Readonly<Record<string, unknown>> =>
  typeof input === "object" && input !== null && !Array.isArray(input)

/**
 * A value as it appears in a message, JSON-like. It is not shortened here:
 * messages are scrubbed of secrets first and shortened after, so a secret
 * is never cut in two where the scrubber cannot see it.
 *
 * @internal
 */
export const show = (input: unknown): string => {
  if (input === undefined) return "nothing"
  try {
    return JSON.stringify(input) ?? String(input)
  } catch {
    return String(input)
  }
}

/**
 * A mapping whose unknown keys are errors, and which, when given something
 * else than a mapping, says what it wanted in words (`what`) rather than by
 * printing its whole type.
 *
 * @internal
 */
export const struct = <Fields extends Schema.Struct.Fields>(what: string, fields: Fields) =>
  Schema.Struct(fields).annotations({
    parseOptions: { onExcessProperty: "error" },
    message: (issue) => ({
      message: `Expected ${what}, actual ${show(issue.actual)}`,
      override: false
    })
  })

/**
 * A choice between schemas made by looking at the input: `pick` returns the
 * schema the input is meant for, or a message when it fits none. The result
 * decodes like that schema (its issues keep their paths) and encodes through
 * the union of the choices. Its type side checks a value against the union,
 * and when it fits none, reports the mistakes of the alternative `pick`
 * chooses for it, so that `Schema.validate` (`Config.check`) says what is
 * wrong with a fault once, not once per kind of fault.
 *
 * @internal
 */
export const byShape = <const Members extends ReadonlyArray<Schema.Schema.AnyNoContext>>(
  members: Members,
  pick: (input: unknown) => Members[number] | string
): Schema.Schema<Schema.Schema.Type<Members[number]>, Schema.Schema.Encoded<Members[number]>> => {
  const union = Schema.Union(...members) as unknown as Schema.Schema<
    Schema.Schema.Type<Members[number]>,
    Schema.Schema.Encoded<Members[number]>
  >
  const typeOfUnion = Schema.typeSchema(union)
  const typeOf = new Map<Schema.Schema.AnyNoContext, Schema.Schema.AnyNoContext>(
    members.map((member) => [member, Schema.typeSchema(member)])
  )
  const validateUnion = ParseResult.validateEither(typeOfUnion as Schema.Schema<unknown>)
  const validate = (input: unknown, options: SchemaAST.ParseOptions) => {
    const valid = validateUnion(input, options)
    if (Either.isRight(valid)) return valid
    const chosen = pick(input)
    const member = typeof chosen === "string" ? undefined : typeOf.get(chosen)
    return member === undefined ? valid : ParseResult.validateEither(member as Schema.Schema<unknown>)(input, options)
  }
  const typeSide = Schema.declare([], {
    decode: () => validate,
    encode: () => validate
  }) as unknown as typeof typeOfUnion
  const schema = Schema.transformOrFail(Schema.Unknown, typeSide, {
    strict: true,
    decode: (input, options, ast) => {
      const chosen = pick(input)
      return typeof chosen === "string"
        ? ParseResult.fail(new ParseResult.Type(ast, input, chosen))
        : ParseResult.decodeUnknown(chosen)(input, options)
    },
    encode: (value, options) => ParseResult.encodeUnknown(union)(value, options)
  })
  return schema as unknown as Schema.Schema<Schema.Schema.Type<Members[number]>, Schema.Schema.Encoded<Members[number]>>
}
