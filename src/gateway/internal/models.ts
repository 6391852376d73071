/**
 * The model listings, each in its caller's API's format, over the chains
 * and model aliases the caller's key may call (a client key's `models`):
 *
 * - `GET /v1/models`, `GET /v1/models/{id}`: OpenAI's (`{ object: "list",
 *   data: [{ id, object: "model", created, owned_by }] }`), or Anthropic's
 *   when the request carries `anthropic-version`, as Anthropic's SDKs always
 *   send it (`{ data: [{ type: "model", id, display_name, created_at, ... }],
 *   has_more, first_id, last_id }`, paged by `limit`, `after_id`,
 *   `before_id`; its errors in Anthropic's JSON: see `Wire.errorsOf`).
 * - `GET /v1beta/models`, `GET /v1beta/models/{model}`: the Gemini API's
 *   (`{ models: [{ name: "models/{id}", ... }], nextPageToken }`, paged by
 *   `pageSize` and `pageToken`), the key as the Gemini routes take it.
 *
 * Models are listed in the router's order (its chains, then its model
 * aliases); `created` is the gateway's start. The token limits are those of
 * the router's model info (`Router.languageModel(id).info`: a chain's is
 * its first target's).
 *
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { ModelInfo } from "../../llm/ModelInfo.js"
import type * as Router from "../../router/Router.js"
import type * as Clients from "./clients.js"
import * as Errors from "./errors.js"
import * as Wire from "./wire.js"

/** What the listings read of the gateway. @internal */
export interface Catalog {
  readonly router: Router.Service
  /** When the gateway started, in Unix seconds: every model's `created`. */
  readonly startedAt: number
  /** The chains and model aliases served now (they follow a config reload). */
  readonly names: () => ReadonlySet<string>
  /**
   * The caller a request's key belongs to (`undefined` without keys), or
   * its 401: from `Authorization: Bearer`, or bare from `apiKey`, the
   * header `bare` names in the 401's message.
   */
  readonly client: (
    authorization: string | undefined,
    bare?: string,
    apiKey?: string
  ) => Effect.Effect<Clients.Client | undefined, Errors.Failure>
  /** Whether a caller may call a chain or model alias. */
  readonly allows: (caller: Clients.Client | undefined, id: string) => boolean
  /** The 403 for a model a client's key may not call (counted in its metric). */
  readonly notAllowed: (caller: Clients.Client, id: string) => Effect.Effect<never, Errors.Failure>
}

/** A listing route's handler. @internal */
export type Route = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Errors.Failure,
  HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
>

/** The listing routes. @internal */
export interface Routes {
  /** `GET /v1/models`: OpenAI's list, or Anthropic's page. */
  readonly list: Route
  /** `GET /v1/models/{id}`: OpenAI's model, or Anthropic's. */
  readonly get: Route
  /** `GET /v1beta/models`: the Gemini API's page. */
  readonly geminiList: Route
  /** `GET /v1beta/models/{model}`: the Gemini API's model. */
  readonly geminiGet: Route
}

/** The header Anthropic's SDKs send with every request, by which its format is chosen. @internal */
export const anthropicVersionHeader = "anthropic-version"

/** The Gemini API methods a model serves here: the gateway's Gemini routes. @internal */
export const geminiMethods: ReadonlyArray<string> = ["generateContent", "streamGenerateContent", "countTokens"]

/** A path that names a Gemini method (`{model}:generateContent`): asked with GET, a 405. */
const geminiCall = /:(generateContent|streamGenerateContent|countTokens)$/

const queryOf = (url: string): URLSearchParams => new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "")

const pathOf = (url: string): string => Errors.printable(url.split("?", 1)[0] ?? "/", 200)

/** An RFC 3339 time, to the second, as Anthropic writes `created_at`. @internal */
export const rfc3339 = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/** One page of ids, and whether there are more in the direction asked. @internal */
export interface Page {
  readonly ids: ReadonlyArray<string>
  readonly hasMore: boolean
}

const wholeNumber = /^\d{1,9}$/

/**
 * Anthropic's page of `ids`: at most `limit` (1 to 1,000; 20 when absent),
 * those right after `after_id`, or right before `before_id`, or the first;
 * `has_more` says whether more lie that way. A wrong `limit`, a cursor that
 * names no listed id, or both cursors: a 400 naming the parameter.
 *
 * @internal
 */
export const anthropicPage = (ids: ReadonlyArray<string>, query: URLSearchParams): Either.Either<Page, Errors.Failure> => {
  const limitText = query.get("limit")
  const limit = limitText === null ? 20 : wholeNumber.test(limitText) ? Number(limitText) : Number.NaN
  if (!(limit >= 1 && limit <= 1000)) {
    return Either.left(Errors.badRequest("limit: must be a whole number from 1 to 1000.", "limit"))
  }
  const after = query.get("after_id")
  const before = query.get("before_id")
  if (after !== null && before !== null) {
    return Either.left(Errors.badRequest("after_id and before_id: send one of them, not both.", "before_id"))
  }
  const cursor = after ?? before
  const at = cursor === null ? -1 : ids.indexOf(cursor)
  if (cursor !== null && at < 0) {
    const name = after !== null ? "after_id" : "before_id"
    return Either.left(Errors.badRequest(`${name}: '${Errors.printable(cursor, 100)}' is no model this key lists.`, name))
  }
  if (before !== null) {
    const start = Math.max(0, at - limit)
    return Either.right({ ids: ids.slice(start, at), hasMore: start > 0 })
  }
  const start = at + 1
  return Either.right({ ids: ids.slice(start, start + limit), hasMore: start + limit < ids.length })
}

/** A Gemini page token: the id its page starts at, in base64url (opaque to a client, as Google's are). */
const pageToken = (id: string): string => Buffer.from(id, "utf8").toString("base64url")

/**
 * The Gemini API's page of `ids`: at most `pageSize` (50 when absent or 0,
 * 1,000 at most, as Google's caps it), from where `pageToken` says (a token
 * an earlier page gave as `nextPageToken`), with the token of the next page
 * when there is one. A negative or non-numeric `pageSize`, or a token that
 * names no listed model: a 400 naming the parameter.
 *
 * @internal
 */
export const geminiPage = (
  ids: ReadonlyArray<string>,
  query: URLSearchParams
): Either.Either<{ readonly ids: ReadonlyArray<string>; readonly nextPageToken: string | undefined }, Errors.Failure> => {
  const sizeText = query.get("pageSize")
  if (sizeText !== null && sizeText !== "" && !wholeNumber.test(sizeText)) {
    return Either.left(Errors.badRequest("pageSize: must be a whole number, at most 1000 (50 when absent or 0).", "pageSize"))
  }
  const asked = sizeText === null || sizeText === "" ? 0 : Number(sizeText)
  const size = asked === 0 ? 50 : Math.min(asked, 1000)
  const token = query.get("pageToken")
  let start = 0
  if (token !== null && token !== "") {
    start = /^[\w-]+$/.test(token) ? ids.indexOf(Buffer.from(token, "base64url").toString("utf8")) : -1
    if (start < 0) return Either.left(Errors.badRequest("pageToken: not a page token of this list (it may have changed since).", "pageToken"))
  }
  const page = ids.slice(start, start + size)
  const next = ids[start + size]
  return Either.right({ ids: page, nextPageToken: next === undefined ? undefined : pageToken(next) })
}

// ---------------------------------------------------------------------------
// The routes
// ---------------------------------------------------------------------------

/**
 * The listing routes over a gateway's catalog.
 *
 * @internal
 */
export const make = (catalog: Catalog): Routes => {
  const { router, startedAt, names, client, allows, notAllowed } = catalog
  const created = rfc3339(startedAt)

  const isChain = (id: string): boolean => router.chains.includes(id)
  /** The router's model info of a chain or alias (a chain's: its first target's), if it still serves it. */
  const infoOf = (id: string): ModelInfo | undefined => {
    try {
      return router.languageModel(id).info
    } catch {
      // taken away by a reload since `names` was read
      return undefined
    }
  }
  /** The ids a caller may call, in the router's order. */
  const listed = (caller: Clients.Client | undefined): ReadonlyArray<string> => [...names()].filter((id) => allows(caller, id))

  const openAiModel = (id: string) => ({
    id,
    object: "model",
    created: startedAt,
    owned_by: isChain(id) ? "effect-llm-failover" : infoOf(id)?.provider ?? "effect-llm-failover"
  })

  const anthropicModel = (id: string) => {
    const info = infoOf(id)
    return {
      type: "model",
      id,
      display_name: id,
      created_at: created,
      max_input_tokens: info?.contextWindow ?? null,
      max_tokens: info?.maxOutputTokens ?? null
    }
  }

  const geminiModel = (id: string) => {
    const info = infoOf(id)
    const served = info === undefined ? undefined : `${info.provider}/${info.model}`
    return {
      name: `models/${id}`,
      baseModelId: id,
      // the model that serves it, as a Gemini answer's `modelVersion` names it
      version: info?.model ?? id,
      displayName: id,
      ...(served === undefined
        ? {}
        : { description: isChain(id) ? `A failover chain of the gateway, served first by ${served}.` : `A model alias of the gateway for ${served}.` }),
      ...(info === undefined ? {} : { inputTokenLimit: info.contextWindow }),
      ...(info?.maxOutputTokens === undefined ? {} : { outputTokenLimit: info.maxOutputTokens }),
      supportedGenerationMethods: geminiMethods
    }
  }

  /** The caller of a request on `/v1/models` (any of the APIs' key headers; `x-api-key` named in Anthropic's 401). */
  const openAiCaller = (request: HttpServerRequest.HttpServerRequest, anthropic: boolean) =>
    client(
      request.headers["authorization"],
      anthropic ? "x-api-key" : undefined,
      request.headers["x-api-key"] ?? request.headers[Wire.geminiKeyHeader]
    )

  /**
   * The caller of a Gemini listing: `x-goog-api-key` or Bearer; a key only
   * in the query is not taken, and the 401 says so (as on the Gemini routes).
   */
  const geminiCaller = (request: HttpServerRequest.HttpServerRequest) => {
    const caller = client(request.headers["authorization"], Wire.geminiKeyHeader, request.headers[Wire.geminiKeyHeader])
    const keyless = request.headers["authorization"] === undefined && request.headers[Wire.geminiKeyHeader] === undefined
    return keyless && queryOf(request.url).has("key") ? Effect.mapError(caller, Wire.geminiQueryKey) : caller
  }

  /** An answer on `/v1/models`, whose format follows `anthropic-version`: a cache keeps one a format. */
  const byVersion = (body: unknown) => HttpServerResponse.unsafeJson(body, { headers: { vary: anthropicVersionHeader } })

  /** A model a caller asked for by id: known, and one it may call. */
  const allowed = (caller: Clients.Client | undefined, id: string) =>
    !names().has(id)
      ? Effect.fail(Errors.modelNotFound(id))
      : caller !== undefined && !allows(caller, id)
      ? notAllowed(caller, id)
      : Effect.void

  const list: Route = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const anthropic = request.headers[anthropicVersionHeader] !== undefined
    const ids = listed(yield* openAiCaller(request, anthropic))
    if (!anthropic) return byVersion({ object: "list", data: ids.map(openAiModel) })
    const page = yield* anthropicPage(ids, queryOf(request.url))
    return byVersion({
      data: page.ids.map(anthropicModel),
      has_more: page.hasMore,
      first_id: page.ids[0] ?? null,
      last_id: page.ids.at(-1) ?? null
    })
  })

  // The id is the rest of the path, percent-decoded by the router, so an alias with a slash ("openai/gpt-4o")
  // works sent raw or as "openai%2Fgpt-4o"; a Gemini method's path (`{model}:generateContent`) is POST's
  const get: Route = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = (yield* HttpRouter.params)["*"] ?? ""
    if (geminiCall.test(id)) return yield* Effect.fail(Errors.methodNotAllowed(request.method, pathOf(request.url), ["POST"]))
    const anthropic = request.headers[anthropicVersionHeader] !== undefined
    const caller = yield* openAiCaller(request, anthropic)
    yield* allowed(caller, id)
    return byVersion(anthropic ? anthropicModel(id) : openAiModel(id))
  })

  const geminiList: Route = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const ids = listed(yield* geminiCaller(request))
    const page = yield* geminiPage(ids, queryOf(request.url))
    return HttpServerResponse.unsafeJson({
      models: page.ids.map(geminiModel),
      ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken })
    })
  })

  // `{model}` as the Gemini routes read it: `models/` before it dropped; a Gemini method's path is POST's
  const geminiGet: Route = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const rest = (yield* HttpRouter.params)["*"] ?? ""
    if (geminiCall.test(rest)) return yield* Effect.fail(Errors.methodNotAllowed(request.method, pathOf(request.url), ["POST"]))
    const caller = yield* geminiCaller(request)
    const id = rest.startsWith("models/") ? rest.slice("models/".length) : rest
    yield* allowed(caller, id)
    return HttpServerResponse.unsafeJson(geminiModel(id))
  })

  return { list, get, geminiList, geminiGet }
}
