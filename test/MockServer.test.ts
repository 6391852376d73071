/**
 * The mock server on its own, driven with plain `fetch` through its
 * Promise API (as users' own tests would) and through its scoped Effect API:
 * routing, recording, fault scripting, Retry-After headers, stream pacing,
 * abort detection, key checks, and each wire format's frames.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type SseEvent, SseParser } from "../src/providers/internal/sse.js"
import * as MockServer from "../src/testing/MockServer.js"

const openAiBody = { model: "gpt-test", messages: [{ role: "user", content: "hi" }] }

const post = (url: string, body: unknown, init: RequestInit = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init })

/** A response body as loosely-typed JSON, to poke at wire shapes. */
const json = (response: Response): Promise<any> => response.json()

const events = async (response: Response): Promise<Array<SseEvent>> => {
  const parser = new SseParser()
  const out: Array<SseEvent> = []
  parser.feed(await response.text(), out)
  return out
}

/** Runs a test body against a server started with the Promise API, closing it after. */
const withServer = async (
  options: MockServer.Options,
  body: (server: MockServer.RunningMockServer) => Promise<void>
): Promise<void> => {
  const server = await MockServer.start(options)
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

describe("MockServer", () => {
  it("routes by path suffix for each provider and answers 404 elsewhere", () =>
    withServer({ reply: { text: "pong" } }, async (server) => {
      const openai = await json(await post(`${server.baseUrls.openai}/chat/completions`, openAiBody))
      expect(openai.choices[0].message.content).toBe("pong")
      const anthropic = await json(await post(`${server.url}/messages`, { model: "claude-test", max_tokens: 5, messages: [] }))
      expect(anthropic.content).toEqual([{ type: "text", text: "pong" }])
      const gemini = await json(await post(`${server.baseUrls.gemini}/models/gemini-test:generateContent`, {}))
      expect(gemini.candidates[0].content.parts).toEqual([{ text: "pong" }])
      const missing = await post(`${server.url}/v1/embeddings`, {})
      expect(missing.status).toBe(404)
      expect(server.count()).toBe(3)
    }))

  it("records method, path, query, lower-cased headers, the parsed body, stream and model", () =>
    withServer({}, async (server) => {
      await post(`${server.url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse`, { contents: [] }, {
        headers: { "X-Goog-Api-Key": "k1", "content-type": "application/json" }
      }).then((r) => r.text())
      await post(`${server.url}/v1/chat/completions`, { ...openAiBody, stream: true }).then((r) => r.text())
      const [gemini, openai] = server.requests()
      expect(gemini).toMatchObject({
        index: 0,
        provider: "gemini",
        method: "POST",
        path: "/v1beta/models/gemini-x:streamGenerateContent",
        query: { alt: "sse" },
        body: { contents: [] },
        stream: true,
        model: "gemini-x"
      })
      expect(gemini?.headers["x-goog-api-key"]).toBe("k1")
      expect(openai).toMatchObject({ index: 1, provider: "openai", stream: true, model: "gpt-test" })
      server.clear()
      expect([server.count(), server.requests()]).toEqual([0, []])
    }))

  it("applies queued faults first in first out, then faultFor by request index, then answers", () =>
    withServer(
      {
        faults: [MockServer.status(500)],
        faultFor: (index) => (index % 2 === 1 ? MockServer.status(503) : undefined)
      },
      async (server) => {
        server.enqueue(MockServer.status(429))
        const statuses: Array<number> = []
        for (let i = 0; i < 5; i++) statuses.push((await post(`${server.url}/chat/completions`, openAiBody)).status)
        // queue: 500, 429; then faultFor: index 2 normal, 3 -> 503, 4 normal
        expect(statuses).toEqual([500, 429, 200, 503, 200])
      }
    ))

  it("sends Retry-After in seconds and as a date, retry-after-ms, and Gemini's RetryInfo", () =>
    withServer({}, async (server) => {
      const date = new Date("2030-01-01T00:00:30Z")
      server.enqueue(
        MockServer.status(429, { retryAfter: { seconds: 3 } }),
        MockServer.status(529, { retryAfter: { date } }),
        MockServer.status(503, { retryAfter: { ms: 250 } }),
        MockServer.status(429, { retryAfter: { seconds: 9 } })
      )
      const seconds = await post(`${server.url}/chat/completions`, openAiBody)
      expect(seconds.headers.get("retry-after")).toBe("3")
      expect(await seconds.json()).toEqual({
        error: { message: "Rate limit reached, please slow down.", type: "rate_limit_exceeded", param: null, code: null }
      })
      const dated = await post(`${server.url}/messages`, { model: "c" })
      expect(dated.headers.get("retry-after")).toBe("Tue, 01 Jan 2030 00:00:30 GMT")
      expect(await dated.json()).toEqual({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
      const ms = await post(`${server.url}/messages`, { model: "c" })
      expect(ms.headers.get("retry-after-ms")).toBe("250")
      await ms.text()
      const gemini = await post(`${server.url}/models/g:generateContent`, {})
      expect(gemini.headers.get("retry-after")).toBeNull()
      expect(await gemini.json()).toEqual({
        error: {
          code: 429,
          message: "Rate limit reached, please slow down.",
          status: "RESOURCE_EXHAUSTED",
          details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "9s" }]
        }
      })
    }))

  it("streams each provider's frames up to its terminal event, and truncates before it", () =>
    withServer({ reply: { text: "a b" } }, async (server) => {
      const openai = await events(await post(`${server.url}/chat/completions`, { ...openAiBody, stream: true, stream_options: { include_usage: true } }))
      expect(openai.at(-1)?.data).toBe("[DONE]")
      expect(JSON.parse(openai.at(-2)!.data)).toMatchObject({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 2 } })
      const anthropic = await events(await post(`${server.url}/messages`, { model: "c", stream: true }))
      expect(anthropic.map((e) => e.event)).toEqual([
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      const gemini = await events(await post(`${server.url}/models/g:streamGenerateContent?alt=sse`, {}))
      expect(gemini.map((e) => JSON.parse(e.data).candidates[0].finishReason)).toEqual([undefined, "STOP"])

      server.enqueue(MockServer.truncate(), MockServer.truncate(), MockServer.truncate(2))
      const cutOpenAi = await events(await post(`${server.url}/chat/completions`, { ...openAiBody, stream: true }))
      expect(cutOpenAi.some((e) => e.data === "[DONE]")).toBe(false)
      const cutAnthropic = await events(await post(`${server.url}/messages`, { model: "c", stream: true }))
      expect(cutAnthropic.at(-1)?.event).toBe("message_delta")
      const cutTwo = await events(await post(`${server.url}/messages`, { model: "c", stream: true }))
      expect(cutTwo.map((e) => e.event)).toEqual(["message_start", "ping"])
    }))

  it("paces stream events by tokenDelay", () =>
    withServer({ tokenDelay: "30 millis", reply: { text: "one two three four" } }, async (server) => {
      const started = Date.now()
      await (await post(`${server.url}/models/g:streamGenerateContent?alt=sse`, {})).text()
      // four events, three pauses between them
      expect(Date.now() - started).toBeGreaterThanOrEqual(85)
    }))

  it("records a request as aborted only when its client gives up before the end", () =>
    withServer({}, async (server) => {
      server.enqueue(MockServer.stall)
      const controller = new AbortController()
      const pending = post(`${server.url}/chat/completions`, openAiBody, { signal: controller.signal }).catch(
        (error: unknown) => error
      )
      await server.whenReceived(1)
      controller.abort()
      await pending
      const [aborted] = await server.whenAborted(1)
      expect(aborted?.index).toBe(0)
      await (await post(`${server.url}/chat/completions`, openAiBody)).text()
      server.enqueue(MockServer.reset)
      await post(`${server.url}/chat/completions`, openAiBody).catch(() => undefined)
      expect(server.aborted().map((r) => r.index)).toEqual([0])
    }))

  it("checks the key when asked to, quoting the wrong one back as some providers do", () =>
    withServer({ apiKey: "right" }, async (server) => {
      const wrong = await post(`${server.url}/chat/completions`, openAiBody, {
        headers: { authorization: "Bearer wrong-key" }
      })
      expect(wrong.status).toBe(401)
      expect((await json(wrong)).error.message).toBe("Incorrect API key provided: wrong-key.")
      const right = await post(`${server.url}/messages`, { model: "c" }, { headers: { "x-api-key": "right" } })
      expect(right.status).toBe(200)
      await right.text()
    }))

  it("answers a bad JSON body with the provider's 400", () =>
    withServer({}, async (server) => {
      const response = await fetch(`${server.url}/messages`, { method: "POST", body: "{nope" })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({
        type: "error",
        error: { type: "invalid_request_error", message: "The request body is not valid JSON." }
      })
      expect(server.requests()[0]?.body).toBe("{nope")
    }))

  it.live("make runs in a Scope and drops every connection when it closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* MockServer.make({ faults: [MockServer.stall] }).pipe(Scope.extend(scope))
      const stalled = post(`${server.url}/chat/completions`, openAiBody).catch((error: unknown) => error)
      yield* MockServer.awaitRequests(server, 1)
      yield* Scope.close(scope, Exit.void)
      const dropped = yield* Effect.promise(() => stalled)
      expect(dropped).toBeInstanceOf(Error)
      const refused = yield* Effect.promise(() =>
        post(`${server.url}/chat/completions`, openAiBody).then(
          () => "answered",
          () => "refused"
        )
      )
      expect(refused).toBe("refused")
      // closing is not the client giving up
      expect(server.aborted()).toEqual([])
    })
  )
})
