/**
 * Raw upstreams: a server on 127.0.0.1 (port 0) that answers every
 * request with the exact status, headers and bytes a test gives it, and
 * records the requests it got.
 */
import { Effect } from "effect"
import type * as Http from "node:http"
import * as NodeHttp from "node:http"
import * as Net from "node:net"
import { listen } from "./servers.js"

export interface RawAnswer {
  readonly status?: number
  readonly headers?: Record<string, string>
  /** The body, written as is (one write). */
  readonly body: string
}

export interface Recorded {
  readonly url: string
  readonly body: unknown
}

/** A server answering each request with `answer(url, parsedBody)`; its base URL and the requests. */
export const rawUpstream = (answer: (url: string, body: any) => RawAnswer) =>
  Effect.gen(function* () {
    const requests: Array<Recorded> = []
    const port = yield* listen((req: Http.IncomingMessage, res: Http.ServerResponse) => {
      let text = ""
      req.setEncoding("utf8")
      req.on("data", (piece: string) => (text += piece))
      req.on("end", () => {
        const body = text === "" ? undefined : JSON.parse(text)
        const url = req.url ?? ""
        requests.push({ url, body })
        const reply = answer(url, body)
        res.writeHead(reply.status ?? 200, reply.headers ?? { "content-type": "text/event-stream" })
        res.end(reply.body)
      })
    })
    return { baseUrl: `http://127.0.0.1:${port}/v1`, requests }
  })

/** `data: <json>\n\n` for each value (a string is sent raw). */
export const sse = (...events: ReadonlyArray<unknown>): string =>
  events.map((event) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`).join("")

/** Anthropic-style: `event: <type>\ndata: <json>\n\n`. */
export const namedSse = (...events: ReadonlyArray<{ readonly type: string }>): string =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("")

export const json = (status: number, value: unknown, headers: Record<string, string> = {}): RawAnswer => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(value)
})

/** An answer as a raw client reads it: status, headers and the whole body as text. */
export interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
}

/** One request over a fresh connection, with exactly the headers given (a `Host` or `Origin` of the test's choosing). */
export const send = (url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
  Effect.promise(
    () =>
      new Promise<RawResponse>((resolve, reject) => {
        const request = NodeHttp.request(`${url}${path}`, { method, headers, agent: false })
        request.on("response", (response) => {
          const chunks: Array<Buffer> = []
          response.on("data", (chunk: Buffer) => chunks.push(chunk))
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") })
          )
        })
        request.on("error", reject)
        request.end(body)
      })
  )

/**
 * A raw client on 127.0.0.1 that writes `POST path` with the header lines
 * `headers` (each ending in CRLF; `content-type: application/json` and the
 * host are added) and `body` as given: a body shorter than its announced
 * length is held back. With `paused`, it reads nothing of the answer until
 * the test resumes it. Closed with the scope.
 */
export const rawPost = (port: number, path: string, headers: string, body: string, options?: { readonly paused?: boolean }) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket>((resume) => {
      const socket = Net.connect(port, "127.0.0.1", () => {
        if (options?.paused === true) socket.pause()
        socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${headers}\r\n${body}`)
        resume(Effect.succeed(socket))
      })
      socket.on("error", () => {})
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )
