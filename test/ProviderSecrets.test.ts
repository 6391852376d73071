/**
 * Secrets end to end, for the three HTTP adapters: the API key and every
 * secret header (a `Redacted` value, or a plain one under a credential's
 * name) reach the upstream with their real values, are redacted in the HTTP
 * client's spans and logs during the call (and only during it), and never
 * show in a `ProviderError` (message, fields, `String`, JSON, encoded form,
 * pretty cause), whatever form the upstream echoes them in.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import {
  Cause,
  Context,
  Effect,
  type Exit,
  FiberRef,
  Inspectable,
  Logger,
  Option,
  Redacted,
  Schema,
  Stream,
  Tracer
} from "effect"
import * as Chat from "../src/llm/Chat.js"
import type * as LanguageModel from "../src/llm/LanguageModel.js"
import { ProviderError } from "../src/llm/ProviderError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import { authHeaderNames } from "../src/providers/internal/http.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Url from "../src/providers/internal/url.js"
import * as MockServer from "../src/testing/MockServer.js"

// Every secret holds "SECRET", so a test can also look for any part of one.
// `/`, `+`, `=` and `\` make the JSON-escaped and URL-encoded forms differ.
const apiKey = "sk-KEY-SECRET-7f3a/b+c="
const proxyKey = "PROXY-SECRET-91\\x/y="
const heliconeAuth = "Bearer HELICONE-SECRET-42"
const sessionToken = "SESSION-SECRET-plain" // plain, but under a credential's name
const traceTag = "visible-tag-123" // plain and not a credential: shown as is
const secrets = [apiKey, proxyKey, heliconeAuth, sessionToken]

const headers = {
  "X-Proxy-Key": Redacted.make(proxyKey),
  "Helicone-Auth": Redacted.make(heliconeAuth),
  "x-session-token": sessionToken,
  "x-trace-tag": traceTag
}
const secretHeaderNames = ["x-proxy-key", "helicone-auth", "x-session-token"]

const relaxed = { connect: "5 seconds", firstToken: "5 seconds", idle: "5 seconds" } as const

interface Adapter {
  readonly name: "openai" | "anthropic" | "gemini"
  readonly make: (options: {
    readonly model: string
    readonly baseUrl: string
    readonly apiKey: Redacted.Redacted
    readonly headers: Readonly<Record<string, string | Redacted.Redacted<string>>>
    readonly timeouts: OpenAi.Timeouts
    readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  }) => Effect.Effect<LanguageModel.Service<ProviderError>, never, HttpClient.HttpClient>
  /** The header the key travels in, and its value there. */
  readonly keyHeader: string
  readonly keyValue: string
}

const adapters: ReadonlyArray<Adapter> = [
  { name: "openai", make: OpenAi.make, keyHeader: "authorization", keyValue: `Bearer ${apiKey}` },
  { name: "anthropic", make: Anthropic.make, keyHeader: "x-api-key", keyValue: apiKey },
  { name: "gemini", make: Gemini.make, keyHeader: "x-goog-api-key", keyValue: apiKey }
]

const request = Chat.prompt("hi")

type Form = "raw" | "json" | "url"

const render = (value: string, form: Form): string =>
  form === "raw" ? value : form === "json" ? JSON.stringify(value).slice(1, -1) : encodeURIComponent(value)

/** What a careless upstream says back: the headers it got (the secret ones and the trace tag), in one form. */
const echo = (seen: MockServer.RecordedRequest, keyHeader: string, form: Form): string =>
  [keyHeader, ...secretHeaderNames, "x-trace-tag"]
    .map((name) => `${name}=${render(seen.headers[name] ?? "", form)}`)
    .join(" ")

/** Every text a `ProviderError` can turn into. */
const textsOf = (error: ProviderError): ReadonlyArray<string> => [
  error.message,
  String(error),
  JSON.stringify(error),
  JSON.stringify(Schema.encodeSync(ProviderError)(error)),
  Cause.pretty(Cause.fail(error)),
  Inspectable.toStringUnknown(error),
  ...Object.values(error).map((value) => String(value))
]

const expectNoSecret = (error: ProviderError) => {
  for (const text of textsOf(error)) {
    expect(text).not.toContain("SECRET")
    for (const secret of secrets) {
      for (const form of ["raw", "json", "url"] as const) expect(text).not.toContain(render(secret, form))
    }
  }
}

const redactions = (text: string): number => text.split("[redacted]").length - 1

interface CapturedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
}

/** A tracer that keeps every span's name and attributes. */
const captureSpans = () => {
  const spans: Array<CapturedSpan> = []
  let ids = 0
  const tracer = Tracer.make({
    span: (name, parent, _context, links, startTime, kind, options) => {
      const captured: CapturedSpan = { name, attributes: new Map(Object.entries(options?.attributes ?? {})) }
      spans.push(captured)
      const spanId = String(++ids)
      let ended: { endTime: bigint; exit: Exit.Exit<unknown, unknown> } | undefined
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId,
        traceId: Option.match(parent, { onNone: () => spanId, onSome: (p) => p.traceId }),
        parent,
        context: Context.empty(),
        get status() {
          return ended === undefined
            ? { _tag: "Started" as const, startTime }
            : { _tag: "Ended" as const, startTime, endTime: ended.endTime, exit: ended.exit }
        },
        attributes: captured.attributes,
        links,
        sampled: true,
        kind,
        end: (endTime, exit) => {
          ended = { endTime, exit }
        },
        attribute: (key, value) => {
          captured.attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

/** The request headers an HTTP client span recorded, by lower-cased name. */
const requestHeadersOf = (span: CapturedSpan): Record<string, unknown> => {
  const prefix = "http.request.header."
  const out: Record<string, unknown> = {}
  for (const [key, value] of span.attributes) if (key.startsWith(prefix)) out[key.slice(prefix.length)] = value
  return out
}

const httpSpans = (spans: ReadonlyArray<CapturedSpan>) => spans.filter((span) => span.attributes.has("http.request.method"))

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("provider secrets", (it) => {
  describe.each(adapters)("$name", (adapter) => {
    const connect = (
      server: MockServer.MockServer,
      transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
    ) =>
      adapter.make({
        model: "test-model",
        baseUrl: server.url,
        apiKey: Redacted.make(apiKey),
        headers,
        timeouts: relaxed,
        transformClient
      })

    it.scoped("sends the key and every header upstream with its real value, the key never in the URL", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* connect(server)
        yield* model.complete(request)
        yield* Stream.runDrain(model.stream(request))
        const sent = server.requests()
        expect(sent.length).toBe(2)
        for (const seen of sent) {
          expect(seen.headers[adapter.keyHeader]).toBe(adapter.keyValue)
          expect(seen.headers["x-proxy-key"]).toBe(proxyKey)
          expect(seen.headers["helicone-auth"]).toBe(heliconeAuth)
          expect(seen.headers["x-session-token"]).toBe(sessionToken)
          expect(seen.headers["x-trace-tag"]).toBe(traceTag)
          // no key in the path or the query (Gemini accepts `?key=`: never used)
          expect(seen.path).not.toContain("SECRET")
          expect(Object.keys(seen.query)).not.toContain("key")
          expect(JSON.stringify(seen.query)).not.toContain("SECRET")
        }
      })
    )

    const echoed = (seen: MockServer.RecordedRequest, form: Form) => echo(seen, adapter.keyHeader, form)

    /** A failure that quotes the headers back: its name, the call it fails, the error it must become. */
    const faults: ReadonlyArray<
      readonly [
        string,
        "complete" | "stream",
        ProviderError["_tag"],
        (seen: MockServer.RecordedRequest, form: Form) => MockServer.Fault
      ]
    > = [
      [
        "a JSON error message",
        "complete",
        "Unauthorized",
        (seen, form) => MockServer.status(401, { message: `rejected: ${echoed(seen, form)}` })
      ],
      [
        "a text error body",
        "complete",
        "ServerError",
        (seen, form) => MockServer.status(502, { body: `bad gateway: ${echoed(seen, form)}` })
      ],
      [
        "a 200 that is not JSON",
        "complete",
        "MalformedResponse",
        (seen, form) => MockServer.status(200, { body: `not json: ${echoed(seen, form)}` })
      ],
      [
        "a streamed call's error status",
        "stream",
        "RateLimited",
        (seen, form) => MockServer.status(429, { message: `slow down: ${echoed(seen, form)}` })
      ],
      [
        "a stream event that is not JSON",
        "stream",
        "MalformedResponse",
        (seen, form) => MockServer.status(200, { body: `data: not json: ${echoed(seen, form)}\n\n` })
      ]
    ]

    describe.each(["raw", "json", "url"] as const)("echoed %s", (form) => {
      it.scoped.each(faults)("scrubs every secret from %s", ([, call, tag, fault]) =>
        Effect.gen(function* () {
          const server = yield* MockServer.make({ faultFor: (_, seen) => fault(seen, form) })
          const model = yield* connect(server)
          const error = yield* Effect.flip(
            call === "complete" ? model.complete(request) : Stream.runDrain(model.stream(request))
          )
          expect(error._tag).toBe(tag)
          expectNoSecret(error)
          // the echo did come back: each of the four secrets replaced, the plain tag kept
          expect(redactions(error.message)).toBeGreaterThanOrEqual(4)
          expect(error.message).toContain(`x-trace-tag=${render(traceTag, form)}`)
        })
      )
    })

    it.scoped("scrubs an Unauthorized that quotes back a wrong key", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ apiKey: "the-right-key" })
        const error = yield* Effect.flip((yield* connect(server)).complete(request))
        expect(error._tag).toBe("Unauthorized")
        expect(error.message).toContain("Incorrect API key provided: [redacted]")
        expectNoSecret(error)
      })
    )

    it.scoped("redacts the secret headers in the HTTP client's span, and only during the call", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const model = yield* connect(server)
        const { spans, tracer } = captureSpans()
        yield* model.complete(request).pipe(Effect.withTracer(tracer))
        yield* Stream.runDrain(model.stream(request)).pipe(Effect.withTracer(tracer))
        const calls = httpSpans(spans)
        expect(calls.length).toBe(2)
        for (const span of calls) {
          const recorded = requestHeadersOf(span)
          for (const name of [adapter.keyHeader, ...secretHeaderNames]) expect(recorded[name]).toBe("<redacted>")
          expect(recorded["x-trace-tag"]).toBe(traceTag)
          expect(String(span.attributes.get("url.full"))).toContain(server.url)
          const everything = JSON.stringify([...span.attributes].map(([key, value]) => [key, String(value)]))
          expect(everything).not.toContain("SECRET")
        }

        // the same headers sent by the bare client, outside the adapter: recorded as they are
        const client = yield* HttpClient.HttpClient
        const before = yield* FiberRef.get(Headers.currentRedactedNames)
        yield* client
          .execute(
            HttpClientRequest.post(`${server.url}/v1/chat/completions`).pipe(
              HttpClientRequest.setHeaders({ "x-proxy-key": proxyKey, "helicone-auth": heliconeAuth }),
              HttpClientRequest.bodyUnsafeJson({ model: "m", messages: [] })
            )
          )
          .pipe(Effect.withTracer(tracer), Effect.scoped)
        const bare = requestHeadersOf(httpSpans(spans)[2]!)
        expect(bare["x-proxy-key"]).toBe(proxyKey)
        expect(bare["helicone-auth"]).toBe(heliconeAuth)
        // nothing was added to the global list
        expect(before).not.toContain("x-proxy-key")
        expect(before).not.toContain("helicone-auth")
      })
    )

    it.scoped("a request logged during the call shows the secret headers redacted", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const lines: Array<string> = []
        const redactedHeaders: Array<Record<string, string | Redacted.Redacted>> = []
        const logger = Logger.make(({ message }) => {
          lines.push(Inspectable.toStringUnknown(message))
        })
        const model = yield* connect(
          server,
          HttpClient.tapRequest((sent) =>
            Effect.zipRight(
              Effect.map(FiberRef.get(Headers.currentRedactedNames), (names) =>
                redactedHeaders.push(Headers.redact(sent.headers, names))
              ),
              Effect.logInfo("sending", sent)
            )
          )
        )
        yield* model.complete(request).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        expect(redactedHeaders.length).toBe(1)
        const seen = redactedHeaders[0]!
        for (const name of [adapter.keyHeader, ...secretHeaderNames]) expect(Redacted.isRedacted(seen[name])).toBe(true)
        expect(seen["x-trace-tag"]).toBe(traceTag)
        const logged = lines.join("\n")
        expect(logged).toContain("x-proxy-key")
        expect(logged).toContain(traceTag)
        expect(logged).not.toContain("SECRET")
      })
    )

    it.scoped("the secret headers are redacted whether the fiber names them all already (as under serve) or not, and added for the call only", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make()
        const seen: Array<ReadonlyArray<string | RegExp>> = []
        const redactedHeaders: Array<Record<string, string | Redacted.Redacted>> = []
        const model = yield* connect(
          server,
          HttpClient.tapRequest((sent) =>
            Effect.map(FiberRef.get(Headers.currentRedactedNames), (names) => {
              seen.push(names)
              redactedHeaders.push(Headers.redact(sent.headers, names))
            })
          )
        )
        const initial = yield* FiberRef.get(Headers.currentRedactedNames)
        // as under `serve`: every name set once, around everything
        const everyName = [...initial, adapter.keyHeader, ...secretHeaderNames, ...authHeaderNames]
        yield* model.complete(request).pipe(Effect.locally(Headers.currentRedactedNames, everyName))
        // on its own list, the names are added for the call only
        yield* model.complete(request)
        expect(seen.length).toBe(2)
        expect(seen[0]).toBe(everyName)
        expect(seen[1]).not.toBe(initial)
        for (const name of [adapter.keyHeader, ...secretHeaderNames]) expect(seen[1]).toContain(name)
        for (const headers of redactedHeaders) {
          for (const name of [adapter.keyHeader, ...secretHeaderNames]) expect(Redacted.isRedacted(headers[name])).toBe(true)
        }
        expect(yield* FiberRef.get(Headers.currentRedactedNames)).toBe(initial)
      })
    )

    it.scoped("a base URL's user and password are neither sent nor shown: not in the request, a span's attributes or an error", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({ faults: [MockServer.reply({}), MockServer.status(400, { message: "bad URL-SECRET-pw" })] })
        const spans: Array<ReadonlyArray<readonly [string, unknown]>> = []
        const native = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind, options) => {
            const span = native.span(name, parent, context, links, startTime, kind, options)
            const attribute = span.attribute.bind(span)
            const seen: Array<readonly [string, unknown]> = Object.entries(options?.attributes ?? {})
            spans.push(seen)
            span.attribute = (key, value) => {
              seen.push([key, value])
              attribute(key, value)
            }
            return span
          },
          context: native.context
        })
        const model = yield* adapter.make({
          model: "test-model",
          baseUrl: server.url.replace("http://", "http://proxyuser:URL-SECRET-pw@"),
          apiKey: Redacted.make(apiKey),
          headers: {},
          timeouts: relaxed,
          transformClient: undefined
        })
        yield* model.complete(request).pipe(Effect.withTracer(tracer))
        const error = yield* Effect.flip(model.complete(request))
        expect(JSON.stringify(spans.flat().map(([k, v]) => [k, String(v)]))).not.toContain("URL-SECRET")
        expect(spans.flat().some(([key]) => key === "url.full")).toBe(true)
        expect(error.message).not.toContain("URL-SECRET")
        expect(JSON.stringify(server.requests())).not.toContain("URL-SECRET")
      })
    )

    describe("a key in the base URL's query (Azure's ?api-key=, Gemini's ?key=, a proxy's ?token=)", () => {
      const urlKey = "sk-secret-in-url"
      const withKey = (url: string) =>
        `${url.replace("http://", "http://proxyuser:pw-in-url@")}/v1?key=${urlKey}&token=${urlKey}-2&api-version=2024-10-21-preview`
      const makeAt = (baseUrl: string) =>
        adapter.make({ model: "test-model", baseUrl, apiKey: Redacted.make(apiKey), headers: {}, timeouts: relaxed })
      /** Every text of an error, and every line logged while it was made, hold neither the key nor the password. */
      const expectNoUrlSecret = (error: ProviderError, logged: ReadonlyArray<string>) => {
        for (const text of [...textsOf(error), ...logged]) {
          expect(text).not.toContain(urlKey)
          expect(text).not.toContain("pw-in-url")
        }
      }
      const capturingLogs = () => {
        const lines: Array<string> = []
        const logger = Logger.make(({ message, cause }) => {
          lines.push(Inspectable.toStringUnknown(message), Cause.pretty(cause))
        })
        return { lines, logs: Logger.replace(Logger.defaultLogger, logger) }
      }
      /** What the upstream saw of the URL, echoed back in a message. */
      const urlOf = (seen: MockServer.RecordedRequest) => `${seen.path}?${new URLSearchParams(seen.query).toString()}`

      it.scoped("the query still goes upstream, with the adapter's own params, and no password", () =>
        Effect.gen(function* () {
          const server = yield* MockServer.make()
          const model = yield* makeAt(withKey(server.url))
          yield* model.complete(request)
          yield* Stream.runDrain(model.stream(request))
          const sent = server.requests()
          expect(sent.length).toBe(2)
          for (const seen of sent) {
            expect(seen.path.startsWith("/v1/")).toBe(true)
            expect(seen.path).not.toContain("key")
            expect(seen.query.key).toBe(urlKey)
            expect(seen.query.token).toBe(`${urlKey}-2`)
            expect(seen.query["api-version"]).toBe("2024-10-21-preview")
          }
          expect(JSON.stringify(server.requests())).not.toContain("pw-in-url")
          if (adapter.name === "gemini") expect(sent[1]!.query.alt).toBe("sse")
        })
      )

      it.scoped("a transport error (nothing listening) shows neither", () =>
        Effect.gen(function* () {
          const server = yield* MockServer.make()
          const closed = yield* Effect.scoped(Effect.map(MockServer.make(), (other) => other.url))
          const { lines, logs } = capturingLogs()
          const model = yield* makeAt(withKey(closed))
          for (const call of [model.complete(request), Stream.runDrain(model.stream(request))]) {
            const error = yield* Effect.flip(call).pipe(Effect.tap((e) => Effect.logError("failed", e)), Effect.provide(logs))
            expect(error._tag).toBe("TransportError")
            expectNoUrlSecret(error, lines)
          }
          expect(server.requests().length).toBe(0)
        })
      )

      const faults: ReadonlyArray<readonly [string, ProviderError["_tag"], (seen: MockServer.RecordedRequest) => MockServer.Fault]> = [
        ["a 500", "ServerError", (seen) => MockServer.status(500, { message: `failed at ${urlOf(seen)}` })],
        ["a 401", "Unauthorized", (seen) => MockServer.status(401, { message: `bad key in ${urlOf(seen)}` })],
        ["a 404", "ModelNotFound", (seen) => MockServer.status(404, { message: `no route ${urlOf(seen)}` })],
        ["a 200 that is not JSON", "MalformedResponse", (seen) => MockServer.status(200, { body: `<html>${urlOf(seen)}</html>` })]
      ]

      it.scoped.each(faults)("%s that quotes the URL back shows neither", ([, tag, fault]) =>
        Effect.gen(function* () {
          const server = yield* MockServer.make({ faultFor: (_, seen) => fault(seen) })
          const { lines, logs } = capturingLogs()
          const model = yield* makeAt(withKey(server.url))
          const error = yield* Effect.flip(model.complete(request)).pipe(
            Effect.tap((e) => Effect.logError("failed", e)),
            Effect.provide(logs)
          )
          expect(error._tag).toBe(tag)
          expectNoUrlSecret(error, lines)
          // the keys scrubbed, a version (no key) kept
          expect(error.message).toContain("key=[redacted]&token=[redacted]&api-version=2024-10-21-preview")
        })
      )

      it.scoped("a traced call's span shows the query's names, not its values", () =>
        Effect.gen(function* () {
          const server = yield* MockServer.make()
          const model = yield* makeAt(withKey(server.url))
          const { spans, tracer } = captureSpans()
          yield* model.complete(request).pipe(Effect.withTracer(tracer))
          yield* Stream.runDrain(model.stream(request)).pipe(Effect.withTracer(tracer))
          const calls = httpSpans(spans)
          expect(calls.length).toBe(2)
          for (const span of calls) {
            const everything = JSON.stringify([...span.attributes].map(([key, value]) => [key, String(value)]))
            expect(everything).not.toContain(urlKey)
            expect(everything).not.toContain("pw-in-url")
            expect(String(span.attributes.get("url.full"))).toContain("key=%3Credacted%3E")
          }
          expect(server.requests().every((seen) => seen.query.key === urlKey)).toBe(true)
        })
      )
    })

    it.scoped("a short header value that carries no credential is no key: upstream messages keep their words", () =>
      Effect.gen(function* () {
        const server = yield* MockServer.make({
          faults: [MockServer.status(400, { message: "Invalid value for 'temperature': expected a number. SECRET-LONG-VALUE" })]
        })
        // a config's headers are all Redacted: a one-letter routing tier, and a long value under a plain name
        const model = yield* adapter.make({
          model: "test-model",
          baseUrl: server.url,
          apiKey: Redacted.make(apiKey),
          headers: { "x-tier": Redacted.make("e"), "x-route": Redacted.make("SECRET-LONG-VALUE") },
          timeouts: relaxed,
          transformClient: undefined
        })
        const error = yield* Effect.flip(model.complete(request))
        expect(error.message).toContain("Invalid value for 'temperature': expected a number. [redacted]")
      })
    )
  })
})

describe("a base URL's query values that may be keys", () => {
  const scrubbed = (value: string) => Url.parseBaseUrl(`https://llm.example.com/v1?p=${encodeURIComponent(value)}`).secrets

  it.each(["2024-10-21", "2024-10-21-preview", "2025-04-01-preview", "v1.2.3", "1.0.0", "v2.1.0-beta"])("a version or date %s is no key", (value) => {
    expect(scrubbed(value)).toEqual([])
  })

  it.each([
    "8472619305718264930", // a numeric token
    "4111-1111-1111-1111", // digits in groups
    "1-AbCdEfGhIjKlMnOpQrStUvWxYz", // a key after a digit
    "2024-10-21-AbCdEfGhIjKlMnOpQrStUvWx" // a long key after a date
  ])("a long value %s that only looks numeric is scrubbed", (value) => {
    expect(scrubbed(value)).toEqual([value])
  })
})
