/**
 * The OpenAI-compatible HTTP gateway: the router's failover behind
 * `POST /v1/chat/completions`, so an app in any language, with any OpenAI
 * client, gets fallback chains by changing its base URL.
 *
 * Routes:
 * - `POST /v1/chat/completions`: `model` names a chain or a model alias;
 *   JSON or, with `stream: true`, server-sent events ending in
 *   `data: [DONE]`. A stream that fails after content was sent ends with an
 *   `data: {"error": ...}` event and no `[DONE]`; one its provider stopped on
 *   content policy ends as OpenAI ends it, with `finish_reason:
 *   "content_filter"` and `[DONE]`. `cache_control` on a message, a
 *   content part or a tool (OpenRouter's and LiteLLM's dialect) is a
 *   prompt-cache breakpoint, sent on to Claude (`Chat.CacheBreakpoint`).
 * - `POST /v1/responses`: OpenAI's Responses API, stateless: `input`
 *   (a string, or messages, `function_call` and `function_call_output`
 *   items), `instructions`, function `tools`, `tool_choice`, `text.format`,
 *   `reasoning.effort`, ... become a chat request down the same chain; the
 *   answer is a `response` object, or, with `stream: true`, OpenAI's typed
 *   events (`event: response.created` ... `response.completed`, or
 *   `response.incomplete` for a length or content-policy stop). Nothing is
 *   stored (`store` is ignored); what needs stored state or OpenAI's
 *   built-in tools is a 400 naming its `param` (`previous_response_id`,
 *   `conversation`, `prompt`, `background: true`, `item_reference` and
 *   `reasoning` items, files, `web_search` and the other built-in tools).
 *   A stream that fails after its first event ends with an `error` event
 *   and `response.failed`.
 * - `POST /v1/responses/input_tokens`: `{ "object": "response.input_tokens",
 *   "input_tokens" }` for a Responses request (`model` and `input`
 *   required), the same estimate as `count_tokens` below; no provider is
 *   called. Errors as on `/v1/responses`.
 * - `POST /v1/messages`: Anthropic's Messages API, so Anthropic's SDK (or
 *   Claude Code, with `ANTHROPIC_BASE_URL`) gets the same chains over any
 *   provider: `max_tokens` (required), `system` (text blocks joined by a
 *   blank line), `messages` (text, images by
 *   `base64` or `url`, `tool_use` and `tool_result` blocks), `stop_sequences`,
 *   `temperature`, `top_p`, custom `tools`, `tool_choice`, `thinking` (its
 *   budget the reasoning effort), `output_config` (its `format` also as
 *   `output_format`, the deprecated beta name), `metadata.user_id`,
 *   `cache_control` (a prompt-cache breakpoint, sent on to Claude) and
 *   `system` messages among the turns become a chat request down the chain
 *   named by `model`; the answer is a
 *   `message` (`stop_reason` `end_turn`, `max_tokens`, `tool_use`,
 *   `stop_sequence` where the provider said which (Claude), or
 *   `refusal` for a provider's stop on its content policy;
 *   `stop_details` for a refusal), or, with
 *   `stream: true`, Anthropic's events (`event: message_start` ...
 *   `message_stop`, with one `ping` after the first `content_block_start`,
 *   where Anthropic sends it; `message_start`'s `input_tokens` is the router's
 *   estimate, `message_delta`'s usage the provider's count). The key may come as `x-api-key` too. `top_k`
 *   goes to Claude and Gemini, and the client's `anthropic-beta` header
 *   (plain names only, else a 400 naming it) to Claude alone, after its
 *   adapter's configured betas; no other client header goes upstream.
 *   `thinking` blocks sent back are left out, and what needs
 *   Anthropic's own servers is a 400 naming the field (server tools,
 *   `mcp_servers`, `container`, `document` blocks, files). Every error on
 *   this route (and under it) is Anthropic's
 *   `{ "type": "error", "error": { "type", "message" } }`
 *   with the status below, the `type` by status (400 and 405, 415:
 *   `invalid_request_error`; 401 `authentication_error`; 403
 *   `permission_error`; 404 `not_found_error`; 408 and 504 `timeout_error`;
 *   413 `request_too_large`; 429 `rate_limit_error`; 503 `overloaded_error`;
 *   other 5xx `api_error`), so the SDK raises its class for the status,
 *   but for an exhausted chain (`chain_exhausted`), which is Anthropic's
 *   overload here: a 529 `overloaded_error` (the SDK's `OverloadedError`;
 *   Claude Code counts 529s apart, for its fallback model), where a
 *   draining gateway stays a 503; a
 *   prompt no target's context window holds is a 400 whose message begins
 *   `prompt is too long:`, as Anthropic's (Claude Code compacts its history
 *   on those words); the request id goes out as `request-id` too, which
 *   the SDK reads; a stream that fails after its first event ends with
 *   `event: error`.
 * - `POST /v1/messages/count_tokens`: `{ "input_tokens" }` for a Messages
 *   request (no `max_tokens` needed), an estimate, not a tokenizer's count:
 *   the router's own (`Tokens.estimate`: about four characters a token,
 *   erring high; images not counted), the figure it checks context windows
 *   with. No provider is called. Errors as on `/v1/messages`.
 * - `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
 *   `:countTokens` (and the same under `/v1/`): the Gemini API, so Google's
 *   Gen AI SDK (`httpOptions.baseUrl`) or Gemini CLI
 *   (`GOOGLE_GEMINI_BASE_URL`) gets the same chains over any provider;
 *   `{model}` (or `models/{model}`) names a chain or model alias.
 *   `contents` (roles `user` and `model`; `text`, `inlineData` images,
 *   `functionCall`, `functionResponse` parts), `systemInstruction`,
 *   `functionDeclarations` (`parameters` or `parametersJsonSchema`),
 *   `toolConfig.functionCallingConfig`, and `generationConfig`'s
 *   `temperature`, `topP`, `maxOutputTokens`, `stopSequences`,
 *   `responseMimeType: application/json` with `responseSchema` or
 *   `responseJsonSchema`, `thinkingConfig` (the reasoning effort) become a
 *   chat request; the answer is a `GenerateContentResponse`
 *   (`candidates[0]` with text and `functionCall` parts, `finishReason`
 *   `STOP`, `MAX_TOKENS` or `SAFETY` for a provider's stop on its content
 *   policy, `usageMetadata`, `modelVersion`, `responseId`), or a stream of
 *   `data:` events of it (`alt=sse`), the last with the calls, the finish
 *   and the usage, or without `alt=sse` the same answers as one JSON
 *   array written as they come (Gemini's default). `countTokens` answers `{ totalTokens }`, the router's estimate
 *   (as `count_tokens` above). `safetySettings` go to Gemini alone; `topK`,
 *   `seed` and the penalties to the providers that take them;
 *   `candidateCount` above 1, `cachedContent`, `fileData` parts, built-in
 *   tools (`googleSearch`, `codeExecution`, ...) and an `alt` other than
 *   `json` and `sse` are a 400 naming the field. The
 *   key may come as `x-goog-api-key` too (not as `?key=`: a span would
 *   record the URL). Every error there is Google's `{ "error": { "code",
 *   "message", "status", "details" } }`, `status` by the HTTP status
 *   (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
 *   `NOT_FOUND`, `RESOURCE_EXHAUSTED` with a `RetryInfo`, `UNAVAILABLE`,
 *   `DEADLINE_EXCEEDED`, `INTERNAL`); a stream that fails after its first
 *   event ends with that JSON bare, outside any `data:` event, as Gemini's
 *   own streams end (Google's SDK raises it as its `ApiError`).
 * - `GET /v1/models`, `GET /v1/models/{id}`: every chain and model alias
 *   (a client key's: those it may call; see {@link ClientKey}), in OpenAI's
 *   format (`{ object: "list", data: [{ id, object: "model", created,
 *   owned_by }] }`). The id is the rest of the path, percent-decoded, so an
 *   alias with a slash works raw or encoded (`/v1/models/openai/gpt-4o`,
 *   `/v1/models/openai%2Fgpt-4o`). Asked with an `anthropic-version` header
 *   (Anthropic's SDKs send it: `client.models.list()`, `.retrieve(id)`),
 *   they answer in Anthropic's format: `{ data: [{ type: "model", id,
 *   display_name, created_at, max_input_tokens, max_tokens }], has_more,
 *   first_id, last_id }`, paged by `limit` (1 to 1,000, default 20),
 *   `after_id` or `before_id`, with Anthropic's error JSON (a wrong `limit`
 *   or a cursor naming no listed model a 400 `invalid_request_error`, an
 *   unknown id a 404 `not_found_error`).
 * - `GET /v1beta/models`, `GET /v1beta/models/{model}`: the same models in
 *   the Gemini API's format (`ai.models.list()`, `ai.models.get()`):
 *   `{ models: [{ name: "models/{id}", baseModelId, version, displayName,
 *   description, inputTokenLimit, outputTokenLimit,
 *   supportedGenerationMethods }], nextPageToken }`, paged by `pageSize`
 *   (default 50, at most 1,000) and `pageToken`; `version` is the model
 *   that serves it (a chain's first target's), the token limits the
 *   router's model info (an output limit it lacks is left out); the key as
 *   on the Gemini routes, errors in Google's JSON (an unknown model a 404
 *   `NOT_FOUND`).
 * - `GET /v1/key`: the caller's key as the gateway sees it, never the key:
 *   `{ object: "key", name, models, rpm, tpm, spend }`, `spend` being
 *   `{ usd, window_seconds, spent_usd, remaining_usd }` under a cap (else
 *   `null`); a bare key is named `key-N`, its place from 1.
 * - `GET /healthz` (the process is alive), `GET /readyz` (serving; 503
 *   while draining). Neither needs a key.
 *
 * Served answers carry `x-llm-chain`, `x-llm-target`, `x-llm-provider`,
 * `x-llm-model`, `x-llm-attempts`, `x-llm-fallbacks` (and `x-llm-degraded`
 * for a degraded answer); every answer carries `x-request-id` (the
 * request's own, when it sent a valid one, else one the gateway made), which
 * the gateway also hands the router as the request's `correlationId`: the
 * router's events, lines and spans about the request carry it. Errors are
 * OpenAI's `{ "error": { "message", "type", "param", "code" } }` (but on
 * `/v1/messages`: see above):
 *
 * | status | when | `code` |
 * |---|---|---|
 * | 400 | bad JSON, a wrong field (`param` names it), a URL with broken percent-encoding | `null` |
 * | 400 | what would change the answer and is not honoured (`param` names it): `n` > 1, `logprobs`, `top_logprobs` (and on `/v1/responses` `include`'s `message.output_text.logprobs`), the legacy `functions` and `function_call`; sampling hints a provider may lack (`seed`, penalties, `logit_bias`, ...) are ignored | `null` |
 * | 400 | on `/v1/responses`, what a stateless gateway cannot honour (`param` names it): see the route above | `null` |
 * | 400 | no model of the chain can hold the prompt | `context_length_exceeded` |
 * | 400 | no model of the chain can give the `response_format` asked for (JSON mode, structured outputs) | `unsupported_response_format` |
 * | 400 | a provider refused the request as invalid | `invalid_request` |
 * | 400 | a provider refused on content policy | `content_filter` |
 * | 400 | not valid HTTP/1.1 (a malformed header, `Content-Length` or chunk, as Node's parser reads it) | `invalid_http` |
 * | 400 | an HTTP/1.1 request without a `Host` header | `missing_host` |
 * | 401 | missing or wrong `Authorization: Bearer` key (or `x-api-key`, on `/v1/messages`) | `invalid_api_key` |
 * | 403 | no `keys`, on a loopback address, and a `Host` that is no loopback name (DNS rebinding) | `host_not_allowed` |
 * | 403 | a client key's request for a model it may not call (`ClientKey.models`) | `model_not_allowed` |
 * | 403 | a client key's request for an extra route that asks a key (`/v1/usage`: bare keys only) | `key_not_allowed` |
 * | 404 | unknown `model` / unknown URL | `model_not_found` / `unknown_url` |
 * | 405 | a known URL with the wrong method | `method_not_allowed` |
 * | 408 | the body did not arrive within `bodyTimeout` | `request_timeout` |
 * | 413 | body over `maxBodyBytes` | `request_too_large` |
 * | 415 | not `Content-Type: application/json` | `unsupported_media_type` |
 * | 417 | an `Expect` header other than `100-continue` | `expectation_failed` |
 * | 431 | a request line and headers past Node's limit (16 KiB) | `request_header_fields_too_large` |
 * | 429 | every provider asked to wait: rate limited, or overloaded with a Retry-After (with `Retry-After`) | `rate_limit_exceeded` |
 * | 429 | the gateway's own queue is full (with `Retry-After`) | `gateway_busy` |
 * | 429 | a client key past its `rpm` or `tpm` (`type` `requests` or `tokens`, with `Retry-After`) | `rate_limit_exceeded` |
 * | 429 | a client key whose spending cap is spent (`type` `insufficient_quota`) | `insufficient_quota` |
 * | 503 | every target failed or was passed over (open circuit, full bulkhead; `error.attempts` lists them), with `Retry-After` when every one gave a finite wait (e.g. circuits that reopen) | `chain_exhausted` |
 * | 503 | shutting down | `shutting_down` |
 * | 504 | the chain's `total` deadline passed before any target answered (`error.attempts` lists them) | `deadline_exceeded` |
 * | 504 | `requestTimeout` passed | `request_timeout` |
 *
 * A `Retry-After` of an exhausted chain (429 or 503) past a minute comes
 * with `x-should-retry: false`: the OpenAI and Anthropic SDKs sleep any
 * `Retry-After` before their own retries, which that header stops, so their
 * caller gets the answer at once rather than after minutes of silence.
 *
 * Once a stream has started (status 200 sent), a failure arrives as a last
 * `data: {"error": {...}}` event instead, without `[DONE]`: `code`
 * `stream_interrupted` when the provider failed after content was sent,
 * `request_timeout` when `requestTimeout` passed. (On `/v1/responses`, an
 * `error` event with that `code`, then `response.failed`; on `/v1/messages`,
 * an `event: error` with Anthropic's error JSON, typed as Anthropic's
 * streams type theirs: `overloaded_error` for a provider's overload,
 * `rate_limit_error` for its rate limit, `timeout_error` for a timeout
 * (its or `requestTimeout`), else `api_error`.)
 *
 * Each request is logged in one line through Effect's `Logger` (method,
 * path, status, the key's name, chain, target, fallbacks, attempts, ms,
 * request id, and the error code for a failure); never a key, never prompt text. (The
 * `llm-failover serve` command writes that line to stdout itself, with the
 * same fields, in that order: Effect's logger cost a busy gateway about a
 * tenth of a completion's CPU.)
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpApp from "@effect/platform/HttpApp"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { isNegative } from "../resilience/internal/duration.js"
import * as Router from "../router/Router.js"
import * as App from "./internal/app.js"
import * as Wire from "./internal/wire.js"
import * as Clients from "./internal/clients.js"
import * as Cors from "./internal/cors.js"
import * as InternalServer from "./internal/server.js"

/**
 * How to run the gateway.
 *
 * - `router`: the router that serves requests (see `Router.make`). A
 *   stream's headers and first event go out with its first chunks, which
 *   `Router.make`'s router holds when its `stream` succeeds; a router of
 *   your own whose first read waits holds them until it returns.
 * - `keys`: the gateway's own keys, sent by clients as
 *   `Authorization: Bearer <key>` (or, on `/v1/messages`, as Anthropic's
 *   clients send it, `x-api-key: <key>`); none means no auth (fine on 127.0.0.1,
 *   where it then answers only requests whose `Host` is a loopback name,
 *   so a page whose name a DNS rebinding pointed at 127.0.0.1 is refused
 *   with a 403). A key is bare (it may call everything), or a
 *   {@link ClientKey}: a client's, with a name for logs and metrics, the
 *   models it may call, and limits (requests and tokens a minute, a
 *   spending cap). Each key has its own part of degraded mode's cache.
 * - `keyRing`: keys that can be replaced while serving (see
 *   {@link keyRing}); its keys then stand for `keys`.
 * - `maxBodyBytes`: the largest request body (default 1 MiB).
 * - `maxBufferedBytes`: the bytes the request bodies being read at once
 *   may hold between them (default 64 MiB, or `maxBodyBytes` if larger; at
 *   least `maxBodyBytes`): a body counts its announced length from its
 *   head, or its bytes as they arrive, until it is read whole. Past it,
 *   429 `gateway_busy` and the connection closes, the body unread; so
 *   clients uploading slowly on many connections hold this much memory at
 *   most, not their number times `maxBodyBytes`. The bodies of one
 *   client's key (a {@link ClientKey}; not a bare key) hold a quarter of it
 *   at most (one whole body at least): one client's slow uploads cannot
 *   hold it all and refuse every other's requests.
 * - `bodyTimeout`: how long a request body may take to arrive once the
 *   headers did (default 30 seconds); past it, 408 and the connection
 *   closes, so a client that stalls mid-body holds nothing for long. The
 *   headers themselves have 10 seconds (Node's default is 60), checked
 *   every second, on the gateway's own server ({@link make}, {@link serve}).
 * - `maxConnections`: the connections the gateway's own server holds at
 *   once (default: no limit but the process's file descriptors); one past
 *   it is closed as it comes, unread. Keep-alive connections count while
 *   open (5 seconds idle), streams for as long as they stream.
 * - `maxConcurrent`, `maxQueued`: a bulkhead over chat requests: at most
 *   `maxConcurrent` at once, `maxQueued` waiting (default: as many as
 *   `maxConcurrent`); past that, 429. Without `maxConcurrent`, no limit.
 *   A request counts once its body has arrived and names a known model,
 *   so a slow upload or a bad request takes no one's place.
 * - `sendTimeout`: how long a client may leave a stream unread (its
 *   socket's buffer full) before its response is closed and the upstream
 *   call it reads is cancelled (default 60 seconds, nginx's
 *   `send_timeout`; `Duration.infinity` for no limit). Without it, a client
 *   that stops reading would hold its stream and upstream call for as long
 *   as it stays connected. It applies on the gateway's own server
 *   ({@link make}, {@link serve}); {@link app} on a server of yours leaves
 *   writes to that server.
 * - `allowPrivateImageUrls`: send upstream an image URL whose host is a
 *   literal loopback, private (RFC 1918, 100.64/10, fc00::/7), link-local
 *   (169.254/16, fe80::/10) or unspecified address, or `localhost` (default
 *   `false`: 400 `invalid_request`, as the provider, or a server behind
 *   the gateway, would fetch it from its own network: a cloud's metadata,
 *   say). Say `true` for a local vLLM reading images off a local file
 *   server. Whatever it says, image URLs are `http:`, `https:` or `data:`
 *   only, in every API the gateway takes; a name that resolves to a
 *   private address is not caught (the gateway resolves no names).
 * - `requestTimeout`: the total time a chat request may take, streams
 *   included (default: none; the router's own deadlines still apply).
 * - `host`: default `"127.0.0.1"`; say `"0.0.0.0"` to listen on every
 *   interface, and set `keys` then.
 * - `port`: default 8787; 0 picks a free port (see {@link Server.port}).
 * - `drainTimeout`: on shutdown, how long requests in flight may take to
 *   finish before their connections are closed (default 30 seconds).
 * - `shutdownDelay`: on shutdown, how long the gateway goes on serving
 *   before it drains, `/readyz` answering 503 meanwhile: time for a load
 *   balancer's readiness checks (Kubernetes') to take it out of rotation,
 *   so no client meets a refused connection (default 0: it drains at once,
 *   and stops accepting connections then).
 * - `cors`: the web pages that may call the API (`/v1/...`) from a browser:
 *   `origins` as a browser sends them (`"https://app.example.com"`), or
 *   `"*"` for any; `maxAge`, how long a browser keeps a preflight's answer
 *   (default 10 minutes). A preflight is answered before any key is
 *   asked (a browser sends none with it): 204, or 403 `origin_not_allowed`
 *   for another origin. Answers to an allowed origin carry
 *   `Access-Control-Allow-Origin` and expose `x-request-id` and the
 *   `x-llm-*` headers; a preflight that asks for the private network
 *   (Chrome's Private Network Access) is allowed it. Default: none, and
 *   browsers keep answers from pages of other origins.
 * - `admin`: `{ host, port }` (host default `"127.0.0.1"`): a second
 *   listener for the extra `routes` that ask no key (observability's
 *   `/metrics`, `/status`, `/status.json`), with `/healthz`; they then
 *   leave the main listener (404 there), so a gateway open to the network
 *   keeps them on a private address. Routes with `requireKey` stay on the
 *   main listener. Default: none, every route on the main listener.
 *
 * A size or count that is not a positive whole number is a defect.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const options: Gateway.Options = {
 *   router,
 *   keys: [Redacted.make(process.env["GATEWAY_KEY"] ?? "")],
 *   host: "0.0.0.0", // every interface, so keys are set
 *   maxConcurrent: 64,
 *   requestTimeout: "2 minutes"
 * }
 * const live = Gateway.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly router: Router.Service
  readonly keys?: ReadonlyArray<Redacted.Redacted | ClientKey>
  readonly keyRing?: KeyRing
  readonly maxBodyBytes?: number
  readonly maxBufferedBytes?: number
  readonly bodyTimeout?: Duration.DurationInput
  readonly maxConnections?: number
  readonly allowPrivateImageUrls?: boolean
  readonly maxConcurrent?: number
  readonly maxQueued?: number
  readonly requestTimeout?: Duration.DurationInput
  readonly sendTimeout?: Duration.DurationInput
  readonly host?: string
  readonly port?: number
  readonly drainTimeout?: Duration.DurationInput
  readonly shutdownDelay?: Duration.DurationInput
  readonly cors?: CorsOptions
  readonly admin?: AdminOptions
  /**
   * Extra `GET` routes served beside the API, e.g. observability's
   * `/metrics`, `/status` and `/v1/usage`. Only those with `requireKey` ask
   * for a gateway key, a bare one (a Prometheus scraper or the status page's
   * refresh sends none).
   */
  readonly routes?: ReadonlyArray<Route>
}

/**
 * A client's key (see {@link Options}): the secret it sends, a name that
 * stands for it in logs, metrics and errors (never the key), and what it
 * may do.
 *
 * - `models`: the chains and model aliases it may call (default: all).
 *   Another is a 403 `model_not_allowed`; `GET /v1/models` lists only
 *   these.
 * - `rpm`, `tpm`: requests and tokens (the prompt's estimate when admitted,
 *   corrected to the provider's count of prompt and answer once done) a
 *   minute, over a sliding window. Past either, 429 `rate_limit_exceeded`
 *   (`type` `requests` or `tokens`, as OpenAI's) with `Retry-After`.
 * - `spend`: a cap on what its answers cost, `usd` over `window` (default
 *   `"1 day"`, sliding, leaving it a 24th at a time). Once spent, 429
 *   `insufficient_quota`, as OpenAI's (with `x-should-retry: false`, which
 *   the OpenAI and Anthropic SDKs obey; checked before `rpm` and `tpm`, so
 *   it takes none of their counts), until enough leaves the window; its
 *   `Retry-After` says when the first of what was spent leaves it. A
 *   request admitted under the cap is served whole, so the cap can be
 *   passed by what the requests in flight cost. A stream cut short (its
 *   provider failed, `requestTimeout` passed, the client left) is charged
 *   what the router counted of it. A request counts against `rpm` once
 *   admitted, answered or not (as OpenAI counts unsuccessful requests).
 *
 * Counts live in the limiters of `RateLimit`: with shared state
 * (`RateLimit.CurrentStore`) provided to the gateway, every instance counts
 * against the same figures. `llm_gateway_key_requests_total{key,outcome}`
 * and `llm_gateway_key_cost_usd_total{key}` count each key's requests and
 * spending (a bare key is named `key-N`, its place from 1, a name no
 * client's key may take). Names are unique, and a key is given once;
 * anything else is a defect.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const teamA: Gateway.ClientKey = {
 *   key: Redacted.make(process.env["TEAM_A_KEY"] ?? ""),
 *   name: "team-a",
 *   models: ["default", "fast"],
 *   rpm: 600,
 *   spend: { usd: 50, window: "1 day" }
 * }
 * const gateway = Gateway.serve({ router, keys: [Redacted.make(process.env["ADMIN_KEY"] ?? ""), teamA] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientKey {
  readonly key: Redacted.Redacted
  readonly name: string
  readonly models?: ReadonlyArray<string>
  readonly rpm?: number
  readonly tpm?: number
  readonly spend?: { readonly usd: number; readonly window?: Duration.DurationInput }
}

/**
 * Which web pages may call the gateway from a browser (see
 * {@link Options}): their origins, or `"*"` for any, and how long a
 * browser keeps a preflight's answer.
 *
 * @example
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const cors: Gateway.CorsOptions = { origins: ["https://app.example.com", "http://localhost:3000"], maxAge: "1 hour" }
 * const gateway = Gateway.serve({ router, cors })
 *
 * @since 0.1.0
 * @category models
 */
export interface CorsOptions {
  readonly origins: ReadonlyArray<string>
  readonly maxAge?: Duration.DurationInput
}

/**
 * Where the admin listener listens (see {@link Options}).
 *
 * @example
 * import { Effect, type Redacted } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import { Observability } from "effect-llm-failover/observability"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * declare const keys: ReadonlyArray<Redacted.Redacted>
 * // the API on every interface, with keys; Prometheus and the status page on the loopback only
 * const admin: Gateway.AdminOptions = { host: "127.0.0.1", port: 9464 }
 * const program = Effect.gen(function* () {
 *   const { handlers } = yield* Observability.attach(router)
 *   const gateway = yield* Gateway.make({
 *     router,
 *     host: "0.0.0.0",
 *     keys,
 *     admin,
 *     routes: [{ path: "/metrics", handler: handlers.metrics }, { path: "/status", handler: handlers.status }]
 *   })
 *   yield* Effect.log(`scrape ${gateway.admin?.url}/metrics`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface AdminOptions {
  readonly host?: string
  readonly port: number
}

/**
 * An extra `GET` route of the gateway.
 *
 * @example
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import type { Gateway } from "effect-llm-failover/gateway"
 *
 * const version: Gateway.Route = { path: "/version", handler: Effect.succeed(HttpServerResponse.text("0.1.0")) }
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly path: string
  readonly handler: HttpApp.Default
  /** Ask for one of the gateway's own (bare) keys; a client's key gets a 403 `key_not_allowed` (see {@link ClientKey}). */
  readonly requireKey?: boolean
}

/**
 * The defaults of {@link Options}.
 *
 * @example
 * import { Duration } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 *
 * Duration.toSeconds(Gateway.defaults.bodyTimeout) // 30
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults = {
  maxBodyBytes: 1_048_576,
  maxBufferedBytes: 64 * 1_048_576,
  bodyTimeout: Duration.seconds(30),
  host: "127.0.0.1",
  port: 8787,
  drainTimeout: Duration.seconds(30),
  shutdownDelay: Duration.zero,
  sendTimeout: Duration.seconds(60)
} as const

/**
 * The gateway's keys, replaceable while it serves (a key rotated in a
 * config reload): each request is checked against the keys set last.
 * A ring keeps the gateway's choice between keys and none: `set` refuses
 * (returns `false`) to empty a ring that has keys, or to fill one that has
 * none, as a gateway without keys answers loopback names only (see
 * {@link Options}).
 *
 * @example
 * import { Redacted } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const ring: Gateway.KeyRing = Gateway.keyRing([Redacted.make("old-key-0123456789")])
 * const gateway = Gateway.make({ router, keyRing: ring, port: 0 })
 * // later: the old key stops working at once, the new one works
 * ring.set([Redacted.make("new-key-0123456789")])
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyRing {
  /** The keys now. */
  readonly keys: ReadonlyArray<Redacted.Redacted | ClientKey>
  /**
   * Replaces the keys; `false` (nothing changed) for a change between keys
   * and none. Throws a `RangeError` (nothing changed) for keys that
   * `Gateway.make` would refuse: a name or a key given twice, a limit or a
   * cap out of range (see {@link ClientKey}).
   */
  readonly set: (keys: ReadonlyArray<Redacted.Redacted | ClientKey>) => boolean
}

/**
 * A {@link KeyRing} holding `keys`.
 *
 * @example
 * import { Redacted } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 *
 * const ring = Gateway.keyRing([Redacted.make(process.env["GATEWAY_KEY"] ?? "")])
 * ring.keys.length // 1
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyRing = (keys: ReadonlyArray<Redacted.Redacted | ClientKey>): KeyRing => {
  let current = keys
  return {
    get keys() {
      return current
    },
    set: (next) => {
      if ((next.length === 0) !== (current.length === 0)) return false
      Clients.validate(next)
      current = next
      return true
    }
  }
}

/**
 * A running gateway.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const program = Effect.gen(function* () {
 *   const server: Gateway.Server = yield* Gateway.make({ router, port: 0 })
 *   yield* Effect.log(`OPENAI_BASE_URL=${server.url}/v1 (picked port ${server.port})`)
 *   yield* Effect.log(`${yield* server.inFlight} requests in flight`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** The host it listens on. */
  readonly host: string
  /** The port it is bound to (the one picked, when asked for port 0). */
  readonly port: number
  /** `http://host:port`; an OpenAI client's `baseURL` is this plus `/v1`. */
  readonly url: string
  /** Requests being served now. */
  readonly inFlight: Effect.Effect<number>
  /** Whether it is draining: refusing new connections, finishing the requests in flight. */
  readonly draining: Effect.Effect<boolean>
  /** Whether it is shutting down but serving still, for its `shutdownDelay`, `/readyz` at 503. */
  readonly leaving: Effect.Effect<boolean>
  /** The admin listener, when {@link Options} asked for one: its host, port and URL. */
  readonly admin?: { readonly host: string; readonly port: number; readonly url: string }
}

/**
 * The running gateway, as a service: what {@link layer} and
 * {@link layerRouter} provide.
 *
 * @example
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const program = Effect.gen(function* () {
 *   const gateway = yield* Gateway.Gateway
 *   yield* Effect.log(`an OpenAI client's baseURL: ${gateway.url}/v1`)
 *   yield* Effect.log(`${yield* gateway.inFlight} requests in flight`)
 * }).pipe(Effect.provide(Gateway.layer({ router, port: 0 })))
 *
 * @since 0.1.0
 * @category tags
 */
export class Gateway extends Context.Tag("effect-llm-failover/Gateway")<Gateway, Server>() {}

const positiveDuration = (name: string, input: Duration.DurationInput): Duration.Duration => {
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || isNegative(input) || !Duration.greaterThan(decoded.value, Duration.zero)) {
    throw new RangeError(`Gateway: ${name} must be a duration longer than zero (e.g. "60 seconds"), got ${String(input)}`)
  }
  return decoded.value
}

const resolveAdmin = (admin: AdminOptions): { readonly host: string; readonly port: number } => {
  if (admin.host !== undefined && admin.host.trim() === "") {
    throw new RangeError(`Gateway: admin.host must name an interface ("127.0.0.1", ...), got an empty one`)
  }
  if (!(Number.isInteger(admin.port) && admin.port >= 0 && admin.port <= 65_535)) {
    throw new RangeError(`Gateway: admin.port must be a whole number from 0 to 65535, got ${admin.port}`)
  }
  return { host: admin.host ?? defaults.host, port: admin.port }
}

const resolve = (options: Options): InternalServer.ServerSettings => {
  const positive = (name: string, n: number | undefined) => {
    if (n !== undefined && !(Number.isInteger(n) && n > 0)) throw new RangeError(`Gateway: ${name} must be a positive integer, got ${n}`)
  }
  // Node listens on every interface for "" (as for no host), the opposite of the default
  if (options.host !== undefined && options.host.trim() === "") {
    throw new RangeError(`Gateway: host must name an interface ("127.0.0.1", "0.0.0.0", ...), got an empty one`)
  }
  positive("maxBodyBytes", options.maxBodyBytes)
  positive("maxConcurrent", options.maxConcurrent)
  positive("maxBufferedBytes", options.maxBufferedBytes)
  positive("maxConnections", options.maxConnections)
  const maxBodyBytes = options.maxBodyBytes ?? defaults.maxBodyBytes
  if (options.maxBufferedBytes !== undefined && options.maxBufferedBytes < maxBodyBytes) {
    throw new RangeError(`Gateway: maxBufferedBytes (${options.maxBufferedBytes}) must be at least maxBodyBytes (${maxBodyBytes}): no body that large could be read`)
  }
  if (options.maxQueued !== undefined && !(Number.isInteger(options.maxQueued) && options.maxQueued >= 0)) {
    throw new RangeError(`Gateway: maxQueued must be a whole number, got ${options.maxQueued}`)
  }
  Clients.validate(options.keyRing === undefined ? options.keys ?? [] : options.keyRing.keys)
  return {
    router: options.router,
    keys: options.keyRing === undefined ? options.keys : options.keyRing.keys,
    ...(options.keyRing === undefined ? {} : { keyRing: options.keyRing }),
    maxBodyBytes,
    maxBufferedBytes: options.maxBufferedBytes ?? Math.max(defaults.maxBufferedBytes, maxBodyBytes),
    bodyTimeout: options.bodyTimeout === undefined ? defaults.bodyTimeout : Duration.decode(options.bodyTimeout),
    maxConcurrent: options.maxConcurrent,
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.allowPrivateImageUrls === undefined ? {} : { allowPrivateImageUrls: options.allowPrivateImageUrls }),
    maxQueued: options.maxQueued ?? options.maxConcurrent ?? 0,
    requestTimeout: options.requestTimeout === undefined ? undefined : Duration.decode(options.requestTimeout),
    sendTimeout: options.sendTimeout === undefined ? defaults.sendTimeout : positiveDuration("sendTimeout", options.sendTimeout),
    host: options.host ?? defaults.host,
    port: options.port ?? defaults.port,
    drainTimeout: options.drainTimeout === undefined ? defaults.drainTimeout : Duration.decode(options.drainTimeout),
    shutdownDelay: options.shutdownDelay === undefined ? defaults.shutdownDelay : Duration.decode(options.shutdownDelay),
    routes: options.routes ?? [],
    ...(options.cors === undefined ? {} : { cors: Cors.make(options.cors) }),
    ...(options.admin === undefined ? {} : { admin: resolveAdmin(options.admin) })
  }
}

/**
 * The gateway as an `HttpApp`, to serve on a server of your own or to test
 * without one. `host`, `port`, `drainTimeout`, `shutdownDelay`, `maxConnections` and `admin` do not apply to it.
 * Your server's spans redact the headers of `Headers.currentRedactedNames`:
 * add `x-goog-api-key` there (the Gemini route's key header; {@link make}
 * does) if it traces requests.
 *
 * @example
 * import { HttpServer } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const served = Effect.flatMap(Gateway.app({ router }), (app) => HttpServer.serveEffect(app))
 *
 * @since 0.1.0
 * @category constructors
 */
export const app = (options: Options): Effect.Effect<HttpApp.Default> =>
  Effect.suspend(() => App.make(resolve(options), { leaving: false, draining: false }))

/**
 * Starts the gateway on Node in the scope. Closing the scope shuts it down
 * gracefully: `/readyz` answers 503 while it goes on serving for
 * `shutdownDelay` (if any), then it stops accepting connections, the
 * requests in flight finish (up to `drainTimeout`), and it closes.
 * When it cannot listen (the port taken, an address the machine lacks) it
 * fails with the platform's `ServeError`, whose message is empty (a log
 * shows "An error has occurred"): the reason (`EADDRINUSE`,
 * `EADDRNOTAVAIL`) is its `cause`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const program = Effect.gen(function* () {
 *   const gateway = yield* Gateway.make({ router, port: 0 })
 *   const res = yield* Effect.promise(() => fetch(`${gateway.url}/v1/models`))
 *   return yield* Effect.promise(() => res.json())
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Server, ServeError, Scope.Scope> =>
  Effect.suspend(() => InternalServer.start(resolve(options))).pipe(
    // the headers clients send keys in, redacted in the server's spans: Google's SDK sends `x-goog-api-key`,
    // which the platform does not redact (it does `authorization` and `x-api-key`)
    Effect.locallyWith(Headers.currentRedactedNames, (names) => {
      const missing = Wire.keyHeaderNames.filter((name) => !names.includes(name))
      return missing.length === 0 ? names : [...names, ...missing]
    }),
    // nor a key sent in the URL (`?key=`, as Gemini's API takes it): the gateway refuses it, and a request that
    // carries one gets no server span, whose `url.full` and `url.query` would record it
    Effect.locallyWith(HttpMiddleware.currentTracerDisabledWhen, (disabled) => (request) =>
      disabled(request) || Wire.carriesQueryKey(request.url))
  )

/**
 * The gateway as a layer: it serves while the layer is alive and drains
 * when it is released.
 *
 * @example
 * import { Effect, Layer } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const main = Effect.flatMap(Gateway.Gateway, (gateway) => Effect.log(`serving on ${gateway.url}`)).pipe(
 *   Effect.zipRight(Effect.never),
 *   Effect.provide(Gateway.layer({ router, port: 8080 }))
 * )
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Gateway, ServeError> => Layer.scoped(Gateway, make(options))

/**
 * The gateway as a layer over the `Router` in context.
 *
 * @example
 * import { Layer } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const live = Gateway.layerRouter({ port: 8080 }).pipe(Layer.provide(Router.layer(config)))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRouter = (options: Omit<Options, "router">): Layer.Layer<Gateway, ServeError, Router.Router> =>
  Layer.scoped(Gateway, Effect.flatMap(Router.Router, (router) => make({ ...options, router })))

/**
 * Options of {@link serve}: the gateway's, and the signals that shut it down
 * (default `SIGTERM` and `SIGINT`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const router: Router.Service
 * const options: Gateway.ServeOptions = {
 *   router,
 *   port: 8080,
 *   signals: ["SIGTERM"], // drain on the orchestrator's stop only
 *   onListening: (server) => Effect.log(`try: curl ${server.url}/v1/models`)
 * }
 * const main = Gateway.serve(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions extends Options {
  readonly signals?: ReadonlyArray<NodeJS.Signals>
  /** Runs once the server listens, e.g. to print how to reach it. */
  readonly onListening?: (server: Server) => Effect.Effect<void>
}

/**
 * Waits for the first of `signals`, and logs it as it arrives: from the
 * handler itself, not once this fiber resumes, because a runtime that
 * handles the same signal (`NodeRuntime.runMain` interrupts its program on
 * SIGINT and SIGTERM) may interrupt the fiber before it resumes. The first
 * signal removes every handler, so none outlives the wait; a logger that
 * throws costs the line, not the drain.
 */
const firstSignal = (signals: ReadonlyArray<NodeJS.Signals>): Effect.Effect<NodeJS.Signals> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<NodeJS.Signals>((resume) => {
      const handlers: Array<readonly [NodeJS.Signals, () => void]> = []
      const off = () => {
        for (const [signal, handler] of handlers) process.off(signal, handler)
      }
      for (const signal of signals) {
        const handler = () => {
          off()
          Runtime.runSync(runtime)(Effect.catchAllCause(Effect.logInfo(`gateway received ${signal}`), () => Effect.void))
          resume(Effect.succeed(signal))
        }
        process.on(signal, handler)
        handlers.push([signal, handler])
      }
      return Effect.sync(off)
    }))

/**
 * Runs the gateway until a shutdown signal (or until interrupted), then
 * drains it and returns. Logs the URL it listens on. It fails as
 * {@link make} does when it cannot listen (the reason in the
 * `ServeError`'s `cause`).
 *
 * @example
 * import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Gateway } from "effect-llm-failover/gateway"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const main = Effect.gen(function* () {
 *   const router = yield* Router.make(config)
 *   yield* Gateway.serve({ router, port: 8080 })
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
 *
 * NodeRuntime.runMain(main)
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (options: ServeOptions): Effect.Effect<void, ServeError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* make(options)
      yield* Effect.logInfo(`gateway listening on ${server.url}`)
      if (options.onListening !== undefined) yield* options.onListening(server)
      yield* firstSignal(options.signals ?? ["SIGTERM", "SIGINT"])
    })
  )
