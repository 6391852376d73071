/**
 * The mock upstream of the gateway benchmark, in a process of its own
 * (started with `child_process.fork`, so it talks to the benchmark over
 * IPC): the project's `MockServer` on 127.0.0.1, a random port, speaking
 * OpenAI Chat Completions (JSON and SSE). A request under `/down/` (base URL
 * `<url>/down/v1`) is answered 503 (OpenAI's error body, no Retry-After);
 * every other one gets the reply, whose text is the `BENCH_REPLY_TEXT`
 * environment variable; a stream's events are `BENCH_TOKEN_DELAY_MS` apart
 * (0, all at once, by default).
 *
 * Messages: it sends `{ type: "ready", url }` once it listens; it answers
 * `{ type: "counts" }` with `{ type: "counts", healthy, down }`, the
 * requests answered so far on each side. The server's own record of requests
 * (kept for tests) is cleared every half second so that it does not grow
 * under load. It exits when the benchmark disconnects.
 */
import * as MockServer from "../../../src/testing/MockServer.js"

const text = process.env["BENCH_REPLY_TEXT"]
if (text === undefined || text === "") throw new Error("BENCH_REPLY_TEXT is not set")
const tokenDelay = Number(process.env["BENCH_TOKEN_DELAY_MS"] ?? 0)

let healthy = 0
let down = 0
const unavailable = MockServer.status(503)

const server = await MockServer.start({
  reply: { text },
  tokenDelay: `${tokenDelay} millis`,
  faultFor: (_index, request) => {
    if (request.path.startsWith("/down/")) {
      down++
      return unavailable
    }
    healthy++
    return undefined
  }
})

const sweep = setInterval(() => server.clear(), 500)

process.on("message", (message: unknown) => {
  if (typeof message === "object" && message !== null && (message as { type?: unknown }).type === "counts") {
    process.send?.({ type: "counts", healthy, down })
  }
})

process.on("disconnect", () => {
  clearInterval(sweep)
  void server.close().then(() => process.exit(0))
})

process.send?.({ type: "ready", url: server.url })
