/**
 * The mock server itself: a `node:http` server on 127.0.0.1 that routes by
 * path suffix to one of the three wire formats, applies the fault scripted
 * for each request, and records what it saw.
 *
 * @internal
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type { Fault, Provider, RecordedRequest, Reply, RetryAfter, RunningMockServer } from "../MockServer.js"
import { anthropicWire } from "./anthropicWire.js"
import { geminiWire } from "./geminiWire.js"
import { openAiWire } from "./openAiWire.js"
import { defaultMessage, type Frames, resolveReply, type ResolvedReply, type Wire } from "./wire.js"

const wires: Readonly<Record<Provider, Wire>> = { openai: openAiWire, anthropic: anthropicWire, gemini: geminiWire }

const idPrefix: Readonly<Record<Provider, string>> = {
  openai: "chatcmpl-mock-",
  anthropic: "msg_mock_",
  gemini: "resp-mock-"
}

interface Route {
  readonly provider: Provider
  /** `undefined`: the body's `stream` field says. */
  readonly stream?: boolean
  readonly model?: string
}

const geminiPath = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/

const route = (method: string | undefined, pathname: string): Route | undefined => {
  if (method !== "POST") return undefined
  if (pathname.endsWith("/chat/completions")) return { provider: "openai" }
  if (pathname.endsWith("/messages")) return { provider: "anthropic" }
  const gemini = geminiPath.exec(pathname)
  if (gemini !== null) {
    return { provider: "gemini", stream: gemini[2] === "streamGenerateContent", model: decodeURIComponent(gemini[1]!) }
  }
  return undefined
}

const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const field = (body: unknown, name: string): unknown =>
  typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined

const headersOf = (req: http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return headers
}

const keyOf = (provider: Provider, headers: Readonly<Record<string, string>>): string | undefined => {
  switch (provider) {
    case "openai":
      return headers.authorization?.replace(/^Bearer\s+/i, "")
    case "anthropic":
      return headers["x-api-key"]
    case "gemini":
      return headers["x-goog-api-key"]
  }
}

const retryAfterHeaders = (provider: Provider, retryAfter: RetryAfter | undefined): Record<string, string> => {
  if (retryAfter === undefined) return {}
  if ("ms" in retryAfter) return { "retry-after-ms": String(retryAfter.ms) }
  if ("date" in retryAfter) return { "retry-after": retryAfter.date.toUTCString() }
  // Gemini says how long to wait in its error body (RetryInfo), not in a header
  return provider === "gemini" ? {} : { "retry-after": String(retryAfter.seconds) }
}

const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis))

const write = (res: http.ServerResponse, chunk: string): Promise<void> =>
  new Promise((resolve) => {
    if (res.destroyed) return resolve()
    res.write(chunk, () => resolve())
  })

/** Someone waiting for a count to reach a number. */
interface Waiter {
  readonly count: number
  readonly resolve: () => void
}

const waitFor = (waiters: Array<Waiter>, count: number, current: () => number): Promise<void> =>
  new Promise((resolve) => {
    if (current() >= count) resolve()
    else waiters.push({ count, resolve })
  })

const notify = (waiters: Array<Waiter>, current: number): void => {
  for (let i = waiters.length - 1; i >= 0; i--) {
    const waiter = waiters[i]!
    if (current >= waiter.count) {
      waiters.splice(i, 1)
      waiter.resolve()
    }
  }
}

/** How a response ends once its frames are written. */
type Ending = "end" | "stall" | "reset"

/**
 * The server's settings, durations in milliseconds.
 *
 * @internal
 */
export interface ServerOptions {
  readonly reply?: Reply | undefined
  readonly faults?: ReadonlyArray<Fault> | undefined
  readonly faultFor?: ((index: number, request: RecordedRequest) => Fault | undefined) | undefined
  readonly apiKey?: string | undefined
  readonly tokenDelayMillis?: number | undefined
}

/** One request being answered. */
interface Exchange {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly record: RecordedRequest
  readonly wire: Wire
  readonly id: string
  readonly model: string
}

/** @internal */
export class MockServerImpl implements RunningMockServer {
  url = ""
  baseUrls = { openai: "", anthropic: "", gemini: "" }

  private readonly server: http.Server
  private readonly records: Array<RecordedRequest> = []
  private readonly abortedRecords: Array<RecordedRequest> = []
  private readonly abortWaiters: Array<Waiter> = []
  private readonly requestWaiters: Array<Waiter> = []
  private readonly destroyedByUs = new WeakSet<http.ServerResponse>()
  private readonly queue: Array<Fault>
  private reply: Reply | undefined
  private closing = false

  constructor(private readonly options: ServerOptions) {
    this.queue = [...(options.faults ?? [])]
    this.reply = options.reply
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => res.destroy())
    })
    this.server.on("connection", (socket) => socket.setNoDelay(true))
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject)
      this.server.listen(0, "127.0.0.1", () => {
        const { port } = this.server.address() as AddressInfo
        this.url = `http://127.0.0.1:${port}`
        this.baseUrls = { openai: `${this.url}/v1`, anthropic: `${this.url}/v1`, gemini: `${this.url}/v1beta` }
        resolve()
      })
    })
  }

  close(): Promise<void> {
    this.closing = true
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  requests = (): ReadonlyArray<RecordedRequest> => [...this.records]
  count = (): number => this.records.length
  aborted = (): ReadonlyArray<RecordedRequest> => [...this.abortedRecords]
  enqueue = (...faults: ReadonlyArray<Fault>): void => {
    this.queue.push(...faults)
  }
  setReply = (reply: Reply | undefined): void => {
    this.reply = reply
  }
  clear = (): void => {
    this.records.length = 0
    this.abortedRecords.length = 0
    this.queue.length = 0
  }
  whenAborted = (count: number): Promise<ReadonlyArray<RecordedRequest>> =>
    waitFor(this.abortWaiters, count, () => this.abortedRecords.length).then(this.aborted)
  whenReceived = (count: number): Promise<ReadonlyArray<RecordedRequest>> =>
    waitFor(this.requestWaiters, count, () => this.records.length).then(this.requests)

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const text = await readBody(req)
    const found = route(req.method, url.pathname)
    if (found === undefined) {
      return this.sendJson(res, 404, { error: { message: `no mock route for ${req.method} ${url.pathname}` } })
    }
    let body: unknown = text
    let parsed = true
    try {
      body = JSON.parse(text)
    } catch {
      parsed = false
    }
    const headers = headersOf(req)
    const record: RecordedRequest = {
      index: this.records.length,
      provider: found.provider,
      method: req.method ?? "POST",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      stream: found.stream ?? field(body, "stream") === true,
      model: found.model ?? (typeof field(body, "model") === "string" ? (field(body, "model") as string) : undefined)
    }
    res.on("close", () => {
      if (res.writableEnded || this.closing || this.destroyedByUs.has(res)) return
      this.abortedRecords.push(record)
      notify(this.abortWaiters, this.abortedRecords.length)
    })
    this.records.push(record)
    notify(this.requestWaiters, this.records.length)
    const wire = wires[found.provider]
    const exchange: Exchange = {
      req,
      res,
      record,
      wire,
      id: `${idPrefix[found.provider]}${record.index}`,
      model: record.model ?? "mock-model"
    }
    if (!parsed) return this.sendJson(res, 400, wire.errorBody(400, "The request body is not valid JSON.", undefined))
    const given = keyOf(found.provider, headers)
    if (this.options.apiKey !== undefined && given !== this.options.apiKey) {
      const message = `Incorrect API key provided: ${given ?? "(none)"}.`
      return this.sendJson(res, 401, wire.errorBody(401, message, "invalid_api_key"))
    }
    const fault = this.queue.shift() ?? this.options.faultFor?.(record.index, record)
    return this.apply(exchange, fault)
  }

  private apply(exchange: Exchange, fault: Fault | undefined): Promise<void> {
    const { res, record, wire } = exchange
    switch (fault?._tag) {
      case undefined:
        return this.answer(exchange, resolveReply(this.reply, record.index))
      case "Reply":
        return this.answer(exchange, resolveReply(fault.reply, record.index))
      case "Status":
        return this.sendStatus(exchange, fault)
      case "ContextLengthExceeded":
        return this.sendJson(res, wire.contextLengthExceeded.status, wire.contextLengthExceeded.body)
      case "Refuse": {
        const refusal = wire.refusal(record.stream, resolveReply(this.reply, record.index), exchange.model, exchange.id)
        return "frames" in refusal
          ? this.stream(exchange, refusal.frames, "end")
          : this.sendJson(res, refusal.status, refusal.body)
      }
      case "Reset":
        this.destroy(res)
        return Promise.resolve()
      case "StallHeaders":
        return Promise.resolve()
      case "Malformed":
        return record.stream
          ? this.stream(exchange, [...this.frames(exchange).frames.slice(0, fault.afterEvents ?? 0), wire.badFrame], "end")
          : this.sendRaw(res, 200, "application/json", `{"id": "${exchange.id}", "choices": [`)
      case "Truncate":
        return this.cut(exchange, fault.afterEvents, "end")
      case "StallStream":
        return this.cut(exchange, fault.afterEvents, "stall")
      case "ResetMidStream":
        return this.cut(exchange, fault.afterEvents, "reset")
      case "StreamError": {
        if (!record.stream) {
          const status = wire.streamErrorStatus
          return this.sendJson(res, status, wire.errorBody(status, defaultMessage(status), undefined))
        }
        const frames = this.frames(exchange).frames.slice(0, fault.afterEvents ?? 1)
        return this.stream(exchange, [...frames, wire.streamError], "end")
      }
    }
  }

  private frames(exchange: Exchange, reply?: ResolvedReply): Frames {
    const resolved = reply ?? resolveReply(this.reply, exchange.record.index)
    return exchange.wire.frames(resolved, exchange.model, exchange.id, exchange.record.body)
  }

  private answer(exchange: Exchange, reply: ResolvedReply): Promise<void> {
    if (exchange.record.stream) return this.stream(exchange, this.frames(exchange, reply).frames, "end")
    return this.sendJson(exchange.res, 200, exchange.wire.json(reply, exchange.model, exchange.id))
  }

  /** Sends part of an answer: the first `afterEvents` frames of a stream (default: all but the terminal one), or half a JSON body. */
  private cut(exchange: Exchange, afterEvents: number | undefined, ending: Ending): Promise<void> {
    if (exchange.record.stream) {
      const { frames, terminal } = this.frames(exchange)
      return this.stream(exchange, frames.slice(0, afterEvents ?? frames.length - terminal), ending)
    }
    const json = JSON.stringify(exchange.wire.json(resolveReply(this.reply, exchange.record.index), exchange.model, exchange.id))
    return this.sendPartial(exchange.res, json.slice(0, Math.floor(json.length / 2)), ending)
  }

  private sendStatus(exchange: Exchange, fault: Extract<Fault, { readonly _tag: "Status" }>): Promise<void> {
    const { res, wire, record } = exchange
    const seconds = fault.retryAfter !== undefined && "seconds" in fault.retryAfter ? fault.retryAfter.seconds : undefined
    const body =
      fault.body !== undefined
        ? fault.body
        : wire.errorBody(fault.status, fault.message ?? defaultMessage(fault.status), fault.code, seconds)
    const headers = retryAfterHeaders(record.provider, fault.retryAfter)
    return typeof body === "string"
      ? this.sendRaw(res, fault.status, "text/plain", body, headers)
      : this.sendRaw(res, fault.status, "application/json", JSON.stringify(body), headers)
  }

  private sendJson(res: http.ServerResponse, status: number, body: unknown): Promise<void> {
    return this.sendRaw(res, status, "application/json", JSON.stringify(body))
  }

  private sendRaw(
    res: http.ServerResponse,
    status: number,
    contentType: string,
    body: string,
    headers: Record<string, string> = {}
  ): Promise<void> {
    res.writeHead(status, { "content-type": contentType, ...headers })
    res.end(body)
    return Promise.resolve()
  }

  private async sendPartial(res: http.ServerResponse, body: string, ending: Ending): Promise<void> {
    res.writeHead(200, { "content-type": "application/json" })
    await write(res, body)
    this.finish(res, ending)
  }

  private async stream(exchange: Exchange, frames: ReadonlyArray<string>, ending: Ending): Promise<void> {
    const { res } = exchange
    const delay = this.options.tokenDelayMillis ?? 0
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    res.flushHeaders()
    for (let i = 0; i < frames.length; i++) {
      if (i > 0 && delay > 0) await sleep(delay)
      if (res.destroyed) return
      // the last frame goes out with the end, so a client that stops reading
      // at its terminal event never looks like one that gave up
      if (ending === "end" && i === frames.length - 1) return void res.end(frames[i])
      await write(res, frames[i]!)
    }
    this.finish(res, ending)
  }

  private finish(res: http.ServerResponse, ending: Ending): void {
    if (ending === "end") res.end()
    else if (ending === "reset") this.destroy(res)
  }

  private destroy(res: http.ServerResponse): void {
    this.destroyedByUs.add(res)
    res.socket?.destroy()
  }
}

/** @internal */
export const start = async (options: ServerOptions): Promise<RunningMockServer> => {
  const server = new MockServerImpl(options)
  await server.listen()
  return server
}
