/**
 * Secrets in the config file (API keys, gateway keys, provider header
 * values): `"env:NAME"` reads the environment variable NAME through Effect's
 * `Config` (so the ambient `ConfigProvider` applies and tests can supply a
 * map); anything else is the secret itself, allowed but worth a warning
 * (for a header, only when it carries a credential). Either way the decoded
 * value is `Redacted`, and no message ever carries it.
 *
 * @internal
 */
import { Config, Effect, ParseResult, Redacted, Schema } from "effect"
import type { RawProblem } from "./problems.js"
import type { File } from "./schema.js"
import { isRecord } from "./shape.js"

const prefix = "env:"
const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/

const expected = `Expected a string: "env:NAME" to read the environment variable NAME, or the secret itself`

const expectedHeader = `Expected a string: the header's value, or "env:NAME" to read it from the environment variable NAME`

/**
 * A reference to a variable inside a longer value (`Bearer env:TOKEN`,
 * `Bearer ${TOKEN}`), which would be sent as written.
 *
 * @internal
 */
export const embeddedReference = /\$\{[A-Za-z_][A-Za-z0-9_]*\}|(?:^|[^A-Za-z0-9_])env:[A-Za-z_]/i

/** A shell's reference to a variable (`$NAME`, `${NAME}`), which the file does not expand. */
const shellVariable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/

/**
 * Why a literal is no secret but a mistake, if it is one: a shell's
 * reference to a variable or an `env:` in other letters (either would be
 * the secret itself, word for word: a gateway key anyone can guess), or,
 * for a key, nothing at all (as an empty variable is refused).
 */
const misread = (input: string, allowEmpty: boolean): string | undefined => {
  const shell = shellVariable.exec(input)
  if (shell !== null) return `a shell's variable is not read from the environment here: write env:${shell[1]}`
  if (input.toLowerCase().startsWith(prefix)) return `write env: in lower case to read the variable ${input.slice(prefix.length)}`
  if (!allowEmpty && input.trim().length === 0) return "a key cannot be empty: write env:NAME, or the key itself"
  const trimmed = input.trim()
  if (trimmed.toLowerCase().startsWith(prefix) && variableName.test(trimmed.slice(prefix.length))) {
    return `write env:${trimmed.slice(prefix.length)} without the spaces around it`
  }
  if (embeddedReference.test(input)) return "only a whole value is read from the environment: put all of it in the variable and write env:NAME"
  return undefined
}

/** A line break or NUL, which no HTTP header (nor a URL read from a header's worth of text) carries. */
const lineBreak = /[\r\n\0]/

const unsendable = "holds a line break or NUL, which no request can carry (a secret read from a file often ends with one)"

/**
 * `"env:NAME"` read through `Config.redacted`, or a literal; `expectedMessage` is the message for a
 * non-string; `allowEmpty`, whether an empty literal is one (a header's value may be; a key may not);
 * `literalBreak`, the message for a literal with a line break or NUL (a variable's names the variable).
 */
const secretOf = (
  expectedMessage: string,
  allowEmpty: boolean,
  literalBreak: string
): Schema.Schema<Redacted.Redacted<string>, string> =>
  Schema.transformOrFail(Schema.String.annotations({ message: () => expectedMessage }), Schema.RedactedFromSelf(Schema.String), {
    strict: true,
    decode: (input, _, ast) => {
      if (!input.startsWith(prefix)) {
        const mistake = misread(input, allowEmpty)
        if (mistake !== undefined) return ParseResult.fail(new ParseResult.Type(ast, input, mistake))
        return lineBreak.test(input)
          ? ParseResult.fail(new ParseResult.Type(ast, input, literalBreak))
          : ParseResult.succeed(Redacted.make(input))
      }
      const name = input.slice(prefix.length)
      if (!variableName.test(name)) {
        const message = `"${input}" does not name an environment variable: write env:NAME (letters, digits, _)`
        return ParseResult.fail(new ParseResult.Type(ast, input, message))
      }
      return Effect.matchEffect(Config.redacted(name), {
        onFailure: () => ParseResult.fail(new ParseResult.Type(ast, input, `environment variable ${name} is not set`)),
        onSuccess: (secret) =>
          Redacted.value(secret).length === 0
            ? ParseResult.fail(new ParseResult.Type(ast, input, `environment variable ${name} is empty`))
            : lineBreak.test(Redacted.value(secret))
            ? ParseResult.fail(new ParseResult.Type(ast, input, `environment variable ${name} ${unsendable}`))
            : ParseResult.succeed(secret)
      })
    },
    encode: (secret, _, ast) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, secret, "a secret has no file form: write env:NAME by hand"))
  })

/**
 * A secret: `"env:NAME"` or a literal. Decoding reads the variable through
 * `Config.redacted`; a secret has no file form, so encoding fails.
 *
 * @internal
 */
export const Secret: Schema.Schema<Redacted.Redacted<string>, string> = secretOf(expected, false, `the secret ${unsendable}`).pipe(
  // decoded, a secret has none (said above, naming its variable); one built by hand is checked here
  Schema.filter((secret) => !lineBreak.test(Redacted.value(secret)) || `a secret ${unsendable}`)
).annotations({ identifier: "Secret" })

/**
 * A provider header's value: like {@link Secret} (`"env:NAME"` or a
 * literal, decoded as `Redacted`), since headers often carry keys (a
 * gateway's `x-portkey-api-key`, `helicone-auth`).
 *
 * @internal
 */
export const HeaderValue: Schema.Schema<Redacted.Redacted<string>, string> = secretOf(expectedHeader, true, "a header's value cannot hold a line break or NUL").annotations({
  identifier: "HeaderValue"
})

const credentialHeaderName = /auth|key$|token$|secret|password|credential|^cookie$/i
const credentialScheme = /^(bearer|basic)\s+\S/i

/** A credential scheme and its token anywhere in a text (`Authorization: Bearer sk-...`; not a name like "basic tier"). */
const credentialSchemeIn = /(?:^|[\s:])(?:bearer|basic)\s+\S{12,}/i

/**
 * Whether a mapping key shaped like a credential rather than a field's name:
 * one unbroken run of 20 or more characters mixing letters and digits
 * (`sk-proj-...`, `AIza...`), or one holding a credential scheme. An unknown
 * key shaped so is not quoted in its problem's path (a typo such as
 * `baseURL` is).
 *
 * @internal
 */
export const looksLikeCredential = (key: string): boolean =>
  credentialSchemeIn.test(key) || (key.length >= 20 && !/\s/.test(key) && /\d/.test(key) && /[a-z]/i.test(key))

/** The password of a URL with credentials: `scheme://user:password@host`. */
const urlPassword = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^/@\s]+)@/i

/** A URL with a user or a password: `scheme://user:password@host`, `scheme://token@host`. */
const urlCredentials = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]+@/i

/** The same, anywhere in a message, the password's prefix kept in `$1`. */
const urlPasswords = /([a-z][a-z0-9+.-]*:\/\/[^/@\s:"]*:)[^/@\s"]+@/gi

/**
 * Whether a header carries a credential, by its name (`authorization`,
 * `api-key`, `x-portkey-api-key`, `helicone-auth`, `x-session-token`, ...)
 * or by its value (`Bearer ...`, `Basic ...`).
 *
 * @internal
 */
export const isCredentialHeader = (name: string, value: string): boolean =>
  credentialHeaderName.test(name) || credentialScheme.test(value)

/**
 * The places of secrets written literally in a raw (undecoded) config: each
 * provider's `apiKey`, each of its `headers` that carries a credential (see
 * {@link isCredentialHeader}), each of the gateway's `keys`, `state.redis`
 * when it has a user or password, and the alerts' webhook's `url` and
 * credential headers.
 *
 * @internal
 */
export const literalSecrets = (raw: unknown): ReadonlyArray<ReadonlyArray<PropertyKey>> => {
  const found: Array<ReadonlyArray<PropertyKey>> = []
  // a misread reference is a problem already, not a warning too
  const isLiteral = (value: unknown): value is string =>
    typeof value === "string" && !value.startsWith(prefix) && misread(value, true) === undefined && value !== ""
  if (!isRecord(raw)) return found
  if (isRecord(raw["providers"])) {
    for (const [name, provider] of Object.entries(raw["providers"])) {
      if (!isRecord(provider)) continue
      if (isLiteral(provider["apiKey"])) found.push(["providers", name, "apiKey"])
      if (!isRecord(provider["headers"])) continue
      for (const [header, value] of Object.entries(provider["headers"])) {
        if (isLiteral(value) && isCredentialHeader(header, value)) found.push(["providers", name, "headers", header])
      }
    }
  }
  const gateway = raw["gateway"]
  if (isRecord(gateway) && Array.isArray(gateway["keys"])) {
    gateway["keys"].forEach((key, i) => {
      if (isLiteral(key)) found.push(["gateway", "keys", i])
      if (isRecord(key) && isLiteral(key["key"])) found.push(["gateway", "keys", i, "key"])
    })
  }
  // a Redis URL holds its password, if it has one (or a user alone, which Redis takes as the password)
  const redis = isRecord(raw["state"]) ? raw["state"]["redis"] : undefined
  if (isLiteral(redis) && urlCredentials.test(redis)) found.push(["state", "redis"])
  const webhook = isRecord(raw["alerts"]) && isRecord(raw["alerts"]["webhook"]) ? raw["alerts"]["webhook"] : undefined
  if (webhook !== undefined) {
    // a webhook's URL holds its token (Slack's, Discord's, Teams')
    if (isLiteral(webhook["url"])) found.push(["alerts", "webhook", "url"])
    if (isRecord(webhook["headers"])) {
      for (const [header, value] of Object.entries(webhook["headers"])) {
        if (isLiteral(value) && isCredentialHeader(header, value)) found.push(["alerts", "webhook", "headers", header])
      }
    }
  }
  return found
}

const padded = /^[ \t]|[ \t]$/

/**
 * The secrets of a decoded config that begin or end with a space or tab,
 * sent as they are (a variable set from a file or a shell with one): each
 * provider's `apiKey`, the gateway's keys, `state.redis` and the alerts'
 * webhook URL. Said without the value.
 *
 * @internal
 */
export const paddedSecrets = (config: typeof File.Type): ReadonlyArray<RawProblem> => {
  const found: Array<ReadonlyArray<PropertyKey>> = []
  const check = (secret: Redacted.Redacted<string> | undefined, path: ReadonlyArray<PropertyKey>) => {
    if (secret !== undefined && padded.test(Redacted.value(secret))) found.push(path)
  }
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.type !== "simulated") check(provider.apiKey, ["providers", name, "apiKey"])
  }
  config.gateway?.keys?.forEach((key, i) =>
    Redacted.isRedacted(key) ? check(key, ["gateway", "keys", i]) : check(key.key, ["gateway", "keys", i, "key"])
  )
  check(config.state?.redis, ["state", "redis"])
  check(config.alerts?.webhook?.url, ["alerts", "webhook", "url"])
  return found.map((path) => ({
    path,
    message: "begins or ends with a space or tab, sent as it is: remove it unless it belongs to the secret"
  }))
}

const secretKey = /key|secret|token|password|credential|auth/i

/** A client key's fields shown in messages (its name, models and limits): all but its `key`. */
const clientKeyShown: ReadonlySet<string> = new Set(["name", "models", "rpm", "tpm", "spend"])

/**
 * The keys whose numbers may be secrets too: a credential's, not every key
 * with "token" in it (`maxTokens`, `promptTokens` hold numbers to show).
 */
const credentialKey = /^(api)?keys?$|secret|password|credential|auth/i

/**
 * Every string in a raw config that may be a secret: any string (or number)
 * under a key whose name suggests one (`apiKey`, `keys`, `token`, ...), at
 * any depth, any `Bearer ...` / `Basic ...` credential, and the password of
 * any URL that carries one (a Redis URL written where a mapping goes).
 * Messages are scrubbed of these before they are shown.
 *
 * @internal
 */
export const suspectedSecrets = (raw: unknown): ReadonlyArray<string> => {
  const found = new Set<string>()
  const gateway = isRecord(raw) && isRecord(raw["gateway"]) ? raw["gateway"] : undefined
  /** The gateway's keys, among which a record is a client's key. */
  const gatewayKeys = gateway !== undefined && Array.isArray(gateway["keys"]) ? gateway["keys"] : undefined
  const collect = (value: unknown, underSecretKey: boolean, underCredentialKey: boolean): void => {
    if (typeof value === "string") {
      const suspect = underSecretKey || credentialScheme.test(value)
      // a reference is no secret (nor one with spaces around it, a problem of its own that names it)
      if (suspect && value.length >= 4 && !value.trim().startsWith(prefix)) found.add(value)
      // a URL's password (`redis://user:password@host`), wherever the URL is (a shorter one is cut out of URLs by `scrub`)
      const password = urlPassword.exec(value)?.[1]
      if (password !== undefined && password.length >= 4) found.add(password)
    } else if (typeof value === "number" && underCredentialKey && Number.isFinite(value) && String(value).length >= 4) {
      // a key written as a number is still a key
      found.add(String(value))
    } else if (Array.isArray(value)) {
      for (const item of value) {
        // a client's key among the gateway's (`{ key, name, models, ... }`): its fields are shown but for its `key`,
        // and any other's value (a typo such as `kye`) is suspected, as anything under `keys` is (a field's name
        // is shown, but one shaped like a credential: see `looksLikeCredential`)
        if (value === gatewayKeys && isRecord(item)) {
          for (const [key, field] of Object.entries(item)) collect(field, !clientKeyShown.has(key), !clientKeyShown.has(key))
        } else {
          collect(item, underSecretKey, underCredentialKey)
        }
      }
    } else if (isRecord(value)) {
      for (const [key, item] of Object.entries(value)) {
        // a secret written as a mapping's key (`keys: { sk-...: admin }`, a header named `Authorization: Bearer ...`)
        // would be quoted in a problem's path or in its "actual" value
        if (key.length >= 4 && !key.startsWith(prefix) && (underCredentialKey || credentialSchemeIn.test(key))) found.add(key)
        collect(item, underSecretKey || secretKey.test(key), underCredentialKey || credentialKey.test(key))
      }
    }
  }
  collect(raw, false, false)
  // a webhook's URL holds its token, under a key named like no secret; so does a webhook given as its URL alone
  const alerts = isRecord(raw) && isRecord(raw["alerts"]) ? raw["alerts"] : undefined
  const webhook = alerts?.["webhook"]
  const webhookUrl = isRecord(webhook) ? webhook["url"] : webhook
  if (typeof webhookUrl === "string" && webhookUrl.length >= 4 && !webhookUrl.startsWith(prefix)) found.add(webhookUrl)
  // a secret's place given the wrong shape (headers as a line or a list, a Redis URL in a list): suspected whole
  const wrongShape = (value: unknown) => {
    if (value !== undefined && !isRecord(value)) collect(value, true, true)
  }
  if (isRecord(raw) && isRecord(raw["providers"])) {
    for (const provider of Object.values(raw["providers"])) if (isRecord(provider)) wrongShape(provider["headers"])
  }
  if (isRecord(webhook)) wrongShape(webhook["headers"])
  if (isRecord(raw) && isRecord(raw["state"])) collect(raw["state"]["redis"], true, true)
  // longest first, so a secret containing another is replaced whole
  return [...found].sort((a, b) => b.length - a.length)
}

/**
 * Replaces every suspected secret in a message with `<redacted>`; JSON-escaped
 * forms (as a message quoting a value prints them) are replaced too.
 *
 * @internal
 */
export const scrub = (message: string, secrets: ReadonlyArray<string>): string => {
  // any URL's password, however short, where it stands
  let out = message.replace(urlPasswords, "$1<redacted>@")
  for (const secret of secrets) {
    out = out.split(secret).join("<redacted>")
    const escaped = JSON.stringify(secret).slice(1, -1)
    if (escaped !== secret) out = out.split(escaped).join("<redacted>")
  }
  return out
}

/** The value at a path of a raw config. */
const valueAt = (raw: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>(
    (at, key) => (Array.isArray(at) && typeof key === "number" ? at[key] : isRecord(at) ? at[String(key)] : undefined),
    raw
  )

/**
 * Whether a path holds a secret, or secrets all through (a provider's
 * `headers`, the gateway's `keys`, the alerts' `webhook`): a value there
 * of the wrong shape is not quoted (a webhook given as its URL, headers as
 * one line `x-api-key: ...`).
 */
const holdsSecretValue = (path: ReadonlyArray<PropertyKey>): boolean =>
  (path[0] === "providers" && (path[2] === "apiKey" || path[2] === "headers")) ||
  (path[0] === "gateway" && path[1] === "keys" && (path.length <= 3 || path[3] === "key")) ||
  (path[0] === "state" && path[1] === "redis") ||
  (path[0] === "alerts" && path[1] === "webhook" && (path.length === 2 || path[2] === "url" || path[2] === "headers"))

/** A value in a message where a secret goes: a reference (`env:NAME`), a number or a boolean as it is; anything else by its shape. */
const unquotedValue = (value: unknown): string =>
  typeof value === "string"
    ? value.startsWith(prefix) ? JSON.stringify(value) : "a string (not quoted: it may hold a secret)"
    : Array.isArray(value)
    ? "a list (not quoted: it may hold a secret)"
    : isRecord(value)
    ? "a mapping (not quoted: it may hold a secret)"
    : String(value)

const expectedActual = /^(Expected .+), actual .+$/s

/**
 * A problem whose message quotes a value (`Expected X, actual Y`) where a
 * secret goes: the value is said by its shape instead, whatever it is
 * (scrubbing catches only what looks like a secret; a webhook given as its
 * URL, or headers as the line `x-api-key: ...`, do not).
 *
 * @internal
 */
export const unquotedSecrets =
  (raw: unknown) =>
  (problem: RawProblem): RawProblem => {
    const expected = expectedActual.exec(problem.message)?.[1]
    if (expected === undefined || !holdsSecretValue(problem.path)) return problem
    return { ...problem, message: `${expected}, actual ${unquotedValue(valueAt(raw, problem.path))}` }
  }

/** Whether a path is one where a secret goes, read from the environment when written `env:NAME`. */
const isSecretPlace = (path: ReadonlyArray<PropertyKey>): boolean =>
  (path[0] === "providers" && (path[2] === "apiKey" || path[2] === "headers")) ||
  (path[0] === "gateway" && path[1] === "keys" && (path.length === 3 || path[3] === "key")) ||
  (path[0] === "state" && path[1] === "redis") ||
  (path[0] === "alerts" && path[1] === "webhook" && (path[2] === "url" || path[2] === "headers"))

/**
 * Whether a path holds secrets deeper down (`gateway.keys`, `state`, a
 * provider): a value written `env:NAME` there is of the wrong shape (one key
 * where a list of them goes), not a secret's reference in the wrong place.
 */
const holdsSecrets = (path: ReadonlyArray<PropertyKey>): boolean =>
  path.length === 0 ||
  (path[0] === "providers" && path.length <= 2) ||
  (path[0] === "gateway" && (path.length === 1 || (path.length === 2 && path[1] === "keys"))) ||
  (path[0] === "state" && path.length === 1)

/**
 * A problem at a value written `env:NAME` where no secret goes (a `baseUrl`,
 * a port): only secrets are read from the environment, and that is the
 * mistake to name, not that `env:NAME` is no URL or number. An unknown key
 * (`apikey`) keeps its problem, and so does a value of the wrong shape where
 * secrets go deeper down (one key where a list of them goes).
 *
 * @internal
 */
export const misplacedReference =
  (raw: unknown) =>
  (problem: RawProblem): RawProblem => {
    if (isSecretPlace(problem.path) || holdsSecrets(problem.path) || problem.message.startsWith("unknown key")) return problem
    const value = valueAt(raw, problem.path)
    return typeof value === "string" && value.startsWith(prefix)
      ? {
        path: problem.path,
        message: `${JSON.stringify(value)}: only secrets (apiKey, headers, gateway.keys, state.redis, alerts.webhook.url) are read from the environment; write the value itself`
      }
      : problem
  }
