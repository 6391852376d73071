/**
 * The gateway's model listings in each API's own format, as its clients
 * see them: a gateway on 127.0.0.1 (port 0) over a router of simulated
 * models, driven by Anthropic's SDK (`client.models.list()`, `.retrieve()`:
 * `GET /v1/models` with `anthropic-version`) and Google's Gen AI SDK
 * (`ai.models.list()`, `.get()`: `GET /v1beta/models`), and by raw HTTP for
 * the pages, the 404s, bad parameters, the keys each route takes, and a
 * client key that may call some models only (it lists those alone, in
 * every format). The pagers themselves are checked as properties.
 */
import Anthropic from "@anthropic-ai/sdk"
import { ApiError, GoogleGenAI } from "@google/genai"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Redacted } from "effect"
import OpenAI from "openai"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Errors from "../src/gateway/internal/errors.js"
import * as Models from "../src/gateway/internal/models.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { rejection } from "./support/client.js"
import { quiet } from "./support/upstreams.js"

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const admin = "gw-admin-key-0001"
const team = "gw-team-key-0002"

/** The chains, then the aliases, in the router's order. */
const allIds = ["default", "fast", "openai/gpt-4o", "sonnet", "flash", "a1", "a2", "a3"]

/**
 * A router of simulated models: the chains `default` and `fast`, and six
 * aliases, one with a slash; `flash` has no output limit. With `keys`, an
 * admin key and a team key that may call `fast`, `sonnet` and `a2` only.
 */
const setup = (keys = false) =>
  Effect.gen(function* () {
    const gpt = yield* Simulated.make({ provider: "openai", model: "gpt-4o", info: { contextWindow: 128_000, maxOutputTokens: 16_384 } })
    const claude = yield* Simulated.make({ provider: "anthropic", model: "claude-sonnet-4-5", info: { contextWindow: 200_000, maxOutputTokens: 64_000 } })
    const gemini = yield* Simulated.make({ provider: "gemini", model: "gemini-2.5-flash", info: { contextWindow: 1_048_576 } })
    const router = yield* Router.make({
      targets: { "openai/gpt-4o": { model: gpt }, sonnet: { model: claude }, flash: { model: gemini }, a1: { model: gpt }, a2: { model: gpt }, a3: { model: gpt } },
      chains: { default: ["sonnet", "openai/gpt-4o"], fast: ["flash", "sonnet"] }
    })
    const gateway = yield* quiet(
      Gateway.make({
        router,
        port: 0,
        ...(keys ? { keys: [Redacted.make(admin), { key: Redacted.make(team), name: "team", models: ["fast", "sonnet", "a2"] }] } : {})
      })
    )
    return gateway
  })

const anthropic = (gateway: Gateway.Server, apiKey = "unused") => new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0, timeout: 10_000 })
const genai = (gateway: Gateway.Server, apiKey = "unused") => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: gateway.url } })

/** A raw request: status, headers and parsed body. */
const get = (gateway: Gateway.Server, path: string, headers: Record<string, string> = {}, method = "GET") =>
  promise(async () => {
    const response = await fetch(`${gateway.url}${path}`, { method, headers })
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: (text === "" ? undefined : JSON.parse(text)) as any }
  })

const v = { "anthropic-version": "2023-06-01" }

describe("Anthropic's format (GET /v1/models with anthropic-version)", () => {
  it.scoped("the SDK lists every model across pages, in order, and retrieves one", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const client = anthropic(gateway)
      const ids = yield* promise(async () => {
        const seen: Array<string> = []
        for await (const model of client.models.list({ limit: 3 })) seen.push(model.id)
        return seen
      })
      expect(ids).toEqual(allIds)

      const first = yield* promise(() => client.models.list({ limit: 3 }))
      expect(first.data.map((model) => model.id)).toEqual(["default", "fast", "openai/gpt-4o"])
      expect([first.has_more, first.first_id, first.last_id]).toEqual([true, "default", "openai/gpt-4o"])
      // the default page holds them all (20)
      const whole = yield* promise(() => client.models.list())
      expect([whole.data.length, whole.has_more]).toEqual([allIds.length, false])

      const sonnet = yield* promise(() => client.models.retrieve("sonnet"))
      expect(sonnet).toEqual({
        type: "model",
        id: "sonnet",
        display_name: "sonnet",
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        max_input_tokens: 200_000,
        max_tokens: 64_000
      })
      // the gateway's start, as OpenAI's list gives it in `created`
      const created = (yield* get(gateway, "/v1/models/sonnet")).body.created as number
      expect(Date.parse(sonnet.created_at)).toBe(created * 1000)
      // a chain's limits are its first target's; a model without an output limit says null
      expect(yield* promise(() => client.models.retrieve("default"))).toMatchObject({ max_input_tokens: 200_000, max_tokens: 64_000 })
      expect(yield* promise(() => client.models.retrieve("flash"))).toMatchObject({ max_input_tokens: 1_048_576, max_tokens: null })
      // a slash in the id: the SDK sends it encoded; raw works as well
      expect(yield* promise(() => client.models.retrieve("openai/gpt-4o"))).toMatchObject({ type: "model", id: "openai/gpt-4o" })
      for (const path of ["/v1/models/openai/gpt-4o", "/v1/models/openai%2Fgpt-4o"]) {
        expect((yield* get(gateway, path, v)).body).toMatchObject({ type: "model", id: "openai/gpt-4o" })
      }
    })
  )

  it.scoped("pages backwards with before_id, as the SDK does", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const client = anthropic(gateway)
      const back = yield* promise(async () => {
        const pages: Array<Array<string>> = []
        let page = await client.models.list({ before_id: "a3", limit: 3 })
        pages.push(page.data.map((model) => model.id))
        while (page.hasNextPage()) {
          page = await page.getNextPage()
          pages.push(page.data.map((model) => model.id))
        }
        return pages
      })
      expect(back).toEqual([["flash", "a1", "a2"], ["fast", "openai/gpt-4o", "sonnet"], ["default"]])
      const raw = yield* get(gateway, "/v1/models?before_id=fast&limit=5", v)
      expect(raw.body).toEqual({ data: [expect.objectContaining({ id: "default" })], has_more: false, first_id: "default", last_id: "default" })
      const after = yield* get(gateway, "/v1/models?after_id=a2", v)
      expect(after.body).toEqual({ data: [expect.objectContaining({ id: "a3" })], has_more: false, first_id: "a3", last_id: "a3" })
      const none = yield* get(gateway, "/v1/models?after_id=a3", v)
      expect(none.body).toEqual({ data: [], has_more: false, first_id: null, last_id: null })
      expect(none.headers.get("request-id")).toBe(none.headers.get("x-request-id"))
      // one URL, two formats: a cache must tell them apart
      expect(none.headers.get("vary")).toBe("anthropic-version")
      expect((yield* get(gateway, "/v1/models/sonnet")).headers.get("vary")).toBe("anthropic-version")
    })
  )

  it.scoped("errors are Anthropic's: an unknown model a 404 not_found_error, bad paging a 400 naming the parameter", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const client = anthropic(gateway)
      const missing = yield* rejection(() => client.models.retrieve("claude-opus-9"))
      expect(missing).toBeInstanceOf(Anthropic.NotFoundError)
      const notFound = missing as InstanceType<typeof Anthropic.NotFoundError>
      expect(notFound.error).toMatchObject({ type: "error", error: { type: "not_found_error", message: expect.stringContaining("'claude-opus-9'") } })
      expect(notFound.requestID).toMatch(/^req_/)
      const slash = yield* get(gateway, "/v1/models/openai/gpt-5", v)
      expect([slash.status, slash.body.error.type]).toEqual([404, "not_found_error"])

      for (const query of ["limit=0", "limit=1001", "limit=abc", "limit=2.5", "limit=", "after_id=nope", "before_id=nope", "after_id=a1&before_id=a3"]) {
        const bad = yield* get(gateway, `/v1/models?${query}`, v)
        expect([query, bad.status]).toEqual([query, 400])
        expect(bad.body).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.any(String) } })
        expect(bad.headers.get("content-type")).toContain("application/json")
      }
      expect((yield* get(gateway, "/v1/models?limit=abc", v)).body.error.message).toMatch(/^limit: /)
      expect((yield* get(gateway, "/v1/models?limit=1000", v)).status).toBe(200)
      expect(yield* rejection(() => client.models.list({ limit: 0 }))).toBeInstanceOf(Anthropic.BadRequestError)

      // a Gemini method's path asked with GET: a 405, in Google's JSON (the Gemini routes' path)
      const method = yield* get(gateway, "/v1/models/default:generateContent", v)
      expect([method.status, method.headers.get("allow"), method.body.error.status]).toEqual([405, "POST", "INVALID_ARGUMENT"])
    })
  )

  it.scoped("without anthropic-version the list stays OpenAI's, whole, its paging parameters ignored", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      const list = yield* promise(() => openai.models.list())
      expect(list.data.map((model) => model.id)).toEqual(allIds)
      expect(list.data[3]).toEqual({ id: "sonnet", object: "model", created: expect.any(Number), owned_by: "anthropic" })
      expect(list.data[0]?.owned_by).toBe("effect-llm-failover")
      const raw = yield* get(gateway, "/v1/models?limit=0")
      expect([raw.status, raw.body.object, raw.body.data.length]).toEqual([200, "list", allIds.length])
      const missing = yield* get(gateway, "/v1/models/nope")
      expect([missing.status, missing.body.error.code, missing.headers.get("request-id")]).toEqual([404, "model_not_found", null])
    })
  )
})

describe("caches", () => {
  it.scoped("every answer under /v1/models says Vary: anthropic-version, its 404 too: one URL, two formats", () =>
    Effect.gen(function* () {
      const model = yield* Simulated.make({ provider: "openai", model: "gpt-4o" })
      const router = yield* Router.make({ targets: { gpt: { model } }, chains: { default: ["gpt"] } })
      const gateway = yield* quiet(Gateway.make({ router, port: 0 }))
      const get = (path: string, headers: Record<string, string>) =>
        Effect.promise(() =>
          fetch(`${gateway.url}${path}`, { headers }).then(async (r) => ({ status: r.status, vary: r.headers.get("vary"), body: await r.text() }))
        )
      for (const path of ["/v1/models", "/v1/models/gpt", "/v1/models/nope"]) {
        const openAi = yield* get(path, {})
        const anthropic = yield* get(path, { "anthropic-version": "2023-06-01" })
        expect(openAi.body).not.toEqual(anthropic.body)
        expect([openAi.vary, anthropic.vary]).toEqual(["anthropic-version", "anthropic-version"])
      }
    })
  )
})

describe("Gemini's format (GET /v1beta/models)", () => {
  it.scoped("the SDK lists every model across pages and gets one, with its token limits", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const ai = genai(gateway)
      const names = yield* promise(async () => {
        const seen: Array<string> = []
        for await (const model of await ai.models.list({ config: { pageSize: 3 } })) seen.push(model.name ?? "")
        return seen
      })
      expect(names).toEqual(allIds.map((id) => `models/${id}`))
      const whole = yield* promise(() => ai.models.list())
      expect([whole.page.length, whole.hasNextPage()]).toEqual([allIds.length, false])

      const sonnet = yield* promise(() => ai.models.get({ model: "sonnet" }))
      expect(sonnet).toMatchObject({
        name: "models/sonnet",
        displayName: "sonnet",
        version: "claude-sonnet-4-5",
        description: "A model alias of the gateway for anthropic/claude-sonnet-4-5.",
        inputTokenLimit: 200_000,
        outputTokenLimit: 64_000,
        supportedActions: ["generateContent", "streamGenerateContent", "countTokens"]
      })
      const raw = yield* get(gateway, "/v1beta/models/sonnet")
      expect(raw.body).toEqual({
        name: "models/sonnet",
        baseModelId: "sonnet",
        version: "claude-sonnet-4-5",
        displayName: "sonnet",
        description: "A model alias of the gateway for anthropic/claude-sonnet-4-5.",
        inputTokenLimit: 200_000,
        outputTokenLimit: 64_000,
        supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"]
      })
      // no output limit known: none said
      const flash = yield* get(gateway, "/v1beta/models/flash")
      expect(flash.body.inputTokenLimit).toBe(1_048_576)
      expect("outputTokenLimit" in flash.body).toBe(false)
      const chain = yield* promise(() => ai.models.get({ model: "models/fast" }))
      expect(chain.description).toBe("A failover chain of the gateway, served first by gemini/gemini-2.5-flash.")
      // a slash in the id, raw (as the SDK sends it) or encoded; `models/` before it as the SDK may send it
      expect((yield* promise(() => ai.models.get({ model: "openai/gpt-4o" }))).name).toBe("models/openai/gpt-4o")
      for (const path of ["/v1beta/models/openai%2Fgpt-4o", "/v1beta/models/models/openai/gpt-4o"]) {
        expect([path, (yield* get(gateway, path)).body.name]).toEqual([path, "models/openai/gpt-4o"])
      }
    })
  )

  it.scoped("pageToken and pageSize: pages that cover the list once; bad ones a 400 INVALID_ARGUMENT; an unknown model a 404 NOT_FOUND", () =>
    Effect.gen(function* () {
      const gateway = yield* setup()
      const first = yield* get(gateway, "/v1beta/models?pageSize=5")
      expect(first.body.models.map((model: { name: string }) => model.name)).toEqual(allIds.slice(0, 5).map((id) => `models/${id}`))
      const next = yield* get(gateway, `/v1beta/models?pageSize=5&pageToken=${first.body.nextPageToken}`)
      expect(next.body.models.map((model: { name: string }) => model.name)).toEqual(allIds.slice(5).map((id) => `models/${id}`))
      expect("nextPageToken" in next.body).toBe(false)
      // 0 is the default, and above 1000 is 1000, as Google's does
      for (const size of ["0", "5000", ""]) expect((yield* get(gateway, `/v1beta/models?pageSize=${size}`)).body.models.length).toBe(allIds.length)

      for (const query of ["pageSize=-1", "pageSize=abc", "pageSize=1.5", "pageToken=bm9wZQ", "pageToken=%2B%2B"]) {
        const bad = yield* get(gateway, `/v1beta/models?${query}`)
        expect([query, bad.status, bad.body.error.status]).toEqual([query, 400, "INVALID_ARGUMENT"])
        expect(bad.body.error.code).toBe(400)
      }

      const ai = genai(gateway)
      const missing = yield* rejection(() => ai.models.get({ model: "gemini-9-ultra" }))
      expect(missing).toBeInstanceOf(ApiError)
      expect((missing as ApiError).status).toBe(404)
      const raw = yield* get(gateway, "/v1beta/models/gemini-9-ultra")
      expect(raw.body.error).toMatchObject({ code: 404, status: "NOT_FOUND", message: expect.stringContaining("'gemini-9-ultra'") })

      // a method's path is POST's; another method on the list a 405
      const method = yield* get(gateway, "/v1beta/models/default:generateContent")
      expect([method.status, method.headers.get("allow")]).toEqual([405, "POST"])
      const del = yield* get(gateway, "/v1beta/models", {}, "DELETE")
      expect([del.status, del.headers.get("allow"), del.body.error.status]).toEqual([405, "GET", "INVALID_ARGUMENT"])
    })
  )
})

describe("keys", () => {
  it.scoped("the Gemini listings take x-goog-api-key or Bearer, never ?key=; the Anthropic list's 401 is Anthropic's", () =>
    Effect.gen(function* () {
      const gateway = yield* setup(true)
      expect((yield* get(gateway, "/v1beta/models", { "x-goog-api-key": admin })).status).toBe(200)
      expect((yield* get(gateway, "/v1beta/models/sonnet", { authorization: `Bearer ${admin}` })).status).toBe(200)
      expect((yield* promise(() => genai(gateway, admin).models.get({ model: "sonnet" }))).name).toBe("models/sonnet")
      for (const path of ["/v1beta/models", "/v1beta/models/sonnet"]) {
        const query = yield* get(gateway, `${path}?key=${admin}`)
        expect([path, query.status, query.body.error.status]).toEqual([path, 401, "UNAUTHENTICATED"])
        expect(query.body.error.message).toContain("a key in the URL ('?key=') is not taken")
        expect(JSON.stringify(query.body)).not.toContain(admin)
        const none = yield* get(gateway, path)
        expect(none.body.error.message).toContain("x-goog-api-key")
      }
      const wrong = yield* rejection(() => anthropic(gateway, "gw-wrong").models.list())
      expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError)
      expect((wrong as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: "error", error: { type: "authentication_error" } })
      const none = yield* get(gateway, "/v1/models", v)
      expect(none.body.error.message).toContain("x-api-key")
      expect((yield* promise(() => anthropic(gateway, admin).models.list())).data.map((model) => model.id)).toEqual(allIds)
    })
  )

  it.scoped("a client key that may call some models lists those alone, in every format, and is refused the others", () =>
    Effect.gen(function* () {
      const gateway = yield* setup(true)
      const mine = ["fast", "sonnet", "a2"]
      const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: team, maxRetries: 0 })
      expect((yield* promise(() => openai.models.list())).data.map((model) => model.id)).toEqual(mine)
      const claude = anthropic(gateway, team)
      const listed = yield* promise(async () => {
        const seen: Array<string> = []
        for await (const model of claude.models.list({ limit: 2 })) seen.push(model.id)
        return seen
      })
      expect(listed).toEqual(mine)
      const ai = genai(gateway, team)
      const names = yield* promise(async () => {
        const seen: Array<string> = []
        for await (const model of await ai.models.list({ config: { pageSize: 2 } })) seen.push(model.name ?? "")
        return seen
      })
      expect(names).toEqual(mine.map((id) => `models/${id}`))

      // another's model: a 403 in each format; a cursor naming it a 400, as one naming no model
      const denied = yield* rejection(() => claude.models.retrieve("default"))
      expect(denied).toBeInstanceOf(Anthropic.PermissionDeniedError)
      const gemini = yield* get(gateway, "/v1beta/models/default", { "x-goog-api-key": team })
      expect([gemini.status, gemini.body.error.status]).toEqual([403, "PERMISSION_DENIED"])
      const open = yield* get(gateway, "/v1/models/default", { authorization: `Bearer ${team}` })
      expect([open.status, open.body.error.code]).toEqual([403, "model_not_allowed"])
      const cursor = yield* get(gateway, "/v1/models?after_id=default", { ...v, "x-api-key": team })
      expect([cursor.status, cursor.body.error.type]).toEqual([400, "invalid_request_error"])
      const token = Buffer.from("default").toString("base64url")
      expect((yield* get(gateway, `/v1beta/models?pageToken=${token}`, { "x-goog-api-key": team })).status).toBe(400)
      expect((yield* get(gateway, `/v1beta/models?pageToken=${token}`, { "x-goog-api-key": admin })).status).toBe(200)
    })
  )
})

describe("the pagers", () => {
  const idsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 40 })
  const query = (fields: Record<string, string | undefined>) => {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(fields)) if (value !== undefined) params.set(name, value)
    return params
  }
  const unwrap = <A>(either: Either.Either<A, Errors.Failure>): A => {
    if (Either.isLeft(either)) throw new Error(either.left.message)
    return either.right
  }

  it.prop(
    "Anthropic's: after_id pages forward and before_id backward each cover the ids once, in order",
    { ids: idsArb, limit: fc.integer({ min: 1, max: 12 }) },
    ({ ids, limit }) => {
      const forward: Array<string> = []
      let page = unwrap(Models.anthropicPage(ids, query({ limit: String(limit) })))
      forward.push(...page.ids)
      while (page.hasMore) {
        page = unwrap(Models.anthropicPage(ids, query({ limit: String(limit), after_id: page.ids.at(-1) })))
        expect(page.ids.length).toBeGreaterThan(0)
        forward.push(...page.ids)
      }
      expect(forward).toEqual(ids)
      if (ids.length === 0) return
      // backwards from the last: everything before it
      const backward: Array<Array<string>> = []
      let back = unwrap(Models.anthropicPage(ids, query({ limit: String(limit), before_id: ids.at(-1) })))
      backward.unshift([...back.ids])
      while (back.hasMore) {
        back = unwrap(Models.anthropicPage(ids, query({ limit: String(limit), before_id: back.ids[0] })))
        backward.unshift([...back.ids])
      }
      expect(backward.flat()).toEqual(ids.slice(0, -1))
      for (const ids of backward) expect(ids.length).toBeLessThanOrEqual(limit)
    },
    { fastCheck: { numRuns: 2_000 } }
  )

  it.prop(
    "Gemini's: nextPageToken pages cover the ids once, in order, each page at most pageSize",
    { ids: idsArb, size: fc.integer({ min: 1, max: 12 }) },
    ({ ids, size }) => {
      const seen: Array<string> = []
      let page = unwrap(Models.geminiPage(ids, query({ pageSize: String(size) })))
      for (;;) {
        expect(page.ids.length).toBeLessThanOrEqual(size)
        seen.push(...page.ids)
        if (page.nextPageToken === undefined) break
        expect(page.nextPageToken).toMatch(/^[\w-]+$/)
        page = unwrap(Models.geminiPage(ids, query({ pageSize: String(size), pageToken: page.nextPageToken })))
      }
      expect(seen).toEqual(ids)
    },
    { fastCheck: { numRuns: 2_000 } }
  )

  it("created_at is RFC 3339 to the second", () => {
    expect(Models.rfc3339(1_700_000_000)).toBe("2023-11-14T22:13:20Z")
  })
})
