/**
 * The OpenAI Chat Completions wire format (also spoken by Groq, DeepSeek,
 * OpenRouter, Together, vLLM, Ollama): request encoding, response and
 * stream-chunk schemas, and their mapping to the neutral chat model.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type {
  ChatChunk,
  ChatRequest,
  ChatResponse,
  ContentPart,
  FinishReason,
  Message,
  ResponseFormat,
  ToolCall,
  Usage
} from "../../llm/Chat.js"
import { messageText } from "../../llm/Chat.js"
import type { SignatureUse } from "../../llm/internal/extraContent.js"
import { extraContent, signatureOf, signatureUse, turnSignatures } from "../../llm/internal/extraContent.js"
import type { InvalidRequest, ProviderError } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import * as Http from "./http.js"
import { openAiEffort, refusesSampling } from "./models.js"
import { toolChoiceOf } from "./toolChoice.js"
import { cacheCounts, count, reasoningCount } from "./usage.js"

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/** @internal */
export type MaxTokensField = "max_tokens" | "max_completion_tokens"

const userContent = (content: string | ReadonlyArray<ContentPart>): unknown =>
  typeof content === "string"
    ? content
    : content.map((part) =>
        part.type === "text"
          ? { type: "text", text: part.text }
          : { type: "image_url", image_url: part.detail === undefined ? { url: part.url } : { url: part.url, detail: part.detail } }
      )

const named = (message: { readonly name?: string | undefined }) => (message.name !== undefined ? { name: message.name } : {})

/** An assistant turn's calls, each with its signature as the model takes them (see `turnSignatures`). */
const toolCalls = (calls: ReadonlyArray<ToolCall>, use: SignatureUse) => {
  const signed = turnSignatures(calls, use)
  return calls.map((call, i) => {
    const signature = signed[i]
    return {
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: call.arguments },
      ...(signature !== undefined ? { extra_content: extraContent(signature) } : {})
    }
  })
}

const encodeMessage = (message: Message, use: SignatureUse): Record<string, unknown> => {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content, ...named(message) }
    case "user":
      return { role: "user", content: userContent(message.content), ...named(message) }
    case "assistant": {
      const calls = message.toolCalls !== undefined && message.toolCalls.length > 0 ? message.toolCalls : undefined
      return {
        role: "assistant",
        // null only beside tool calls: without them OpenAI refuses it (a 400, "Invalid value for 'content': expected a
        // string, got null") where Claude and Gemini leave the empty turn out (Claude's thinking alone, not sent on)
        content: message.content ?? (calls === undefined ? "" : null),
        ...named(message),
        ...(calls !== undefined ? { tool_calls: toolCalls(calls, use) } : {})
      }
    }
    case "tool":
      // OpenAI has no field for a failed tool: its error goes as the content, said to be one
      return { role: "tool", tool_call_id: message.toolCallId, content: message.isError === true ? `Error: ${message.content}` : message.content }
  }
}

const encodeToolChoice = (choice: NonNullable<ChatRequest["toolChoice"]>): unknown =>
  typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } }

/** The system line a JSON-mode request gets when none of its messages says JSON (see `encodeRequest`). @internal */
export const jsonModeInstruction = "Respond with a JSON object."

const encodeResponseFormat = (format: ResponseFormat): unknown =>
  format.type === "json_object"
    ? { type: "json_object" }
    : {
        type: "json_schema",
        json_schema: {
          name: format.name,
          ...(format.description !== undefined ? { description: format.description } : {}),
          schema: format.schema,
          ...(format.strict !== undefined ? { strict: format.strict } : {})
        }
      }

/**
 * The JSON body of a chat completion request; without `temperature`,
 * `top_p` and the penalties for a model that refuses them (see
 * `refusesSampling`), or that reasons as the request asks; without `top_k`
 * and another provider's `providerOptions`, which OpenAI does not take; with `reasoning_effort` at the nearest level
 * a reasoning model has (see `openAiEffort`). A stream asks for
 * `stream_options.include_usage`, unless `streamOptions` is `false` (the
 * server refused it: see `refusedStreamOptions`).
 *
 * @internal
 */
export const encodeRequest = (
  request: ChatRequest,
  model: string,
  maxTokensField: MaxTokensField,
  stream: boolean,
  /** Whether tool calls go with their signatures, to a model that takes them (Google's OpenAI-compatible endpoint: see `signatureUse`). */
  signatures = false,
  /** Whether a stream sends `stream_options` (not to a server that refused it). */
  streamOptions = true
): Record<string, unknown> => {
  const use = signatures ? signatureUse(model) : "none"
  const messages = request.messages.map((message) => encodeMessage(message, use))
  // OpenAI refuses JSON mode (a 400) unless a message asks for JSON in words; a client that asked
  // Gemini or Claude for it, and fell back here, need not know that. The line joins the first system
  // message, if there is one: some compatible servers' chat templates take one system message only
  if (request.responseFormat?.type === "json_object" && !request.messages.some((message) => /json/i.test(messageText(message)))) {
    const system = messages.find((message) => message["role"] === "system")
    if (system === undefined) messages.unshift({ role: "system", content: jsonModeInstruction })
    else system["content"] = `${String(system["content"])}\n\n${jsonModeInstruction}`
  }
  const body: Record<string, unknown> = { model, messages }
  const effort = request.reasoningEffort === undefined ? undefined : openAiEffort(model, request.reasoningEffort)
  if (effort !== undefined) body.reasoning_effort = effort
  // a reasoning model refuses sampling with a 400 that would end the whole chain: without it, it still answers
  // (GPT-5.1 and later take it only while they do not reason)
  if (!refusesSampling(model) && (effort === undefined || effort === "none")) {
    if (request.temperature !== undefined) body.temperature = request.temperature
    if (request.topP !== undefined) body.top_p = request.topP
    // refused by the same models, in the same words ("Unsupported parameter: 'presence_penalty'")
    if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty
    if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty
  }
  if (request.seed !== undefined) body.seed = request.seed
  if (request.maxTokens !== undefined) body[maxTokensField] = request.maxTokens
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description !== undefined ? { description: tool.description } : {}),
        parameters: tool.parameters,
        ...(tool.strict !== undefined ? { strict: tool.strict } : {})
      }
    }))
  }
  const choice = toolChoiceOf(request)
  if (choice !== undefined) body.tool_choice = encodeToolChoice(choice)
  // OpenAI takes it only beside tools
  if (request.parallelToolCalls !== undefined && body.tools !== undefined) body.parallel_tool_calls = request.parallelToolCalls
  if (request.responseFormat !== undefined) body.response_format = encodeResponseFormat(request.responseFormat)
  if (stream) {
    body.stream = true
    if (streamOptions) body.stream_options = { include_usage: true }
  }
  return body
}

/**
 * Whether a 400 (or 422) refuses `stream_options`: a server that does not
 * know the field, in Azure's words before its 2024-09 API ("Unrecognized
 * request argument supplied: stream_options") or pydantic's (Fireworks, old
 * vLLM: "Extra inputs are not permitted", its `loc` naming
 * `stream_options`). Only an `InvalidRequest` that names the field.
 *
 * @internal
 */
export const refusedStreamOptions = (error: unknown): boolean =>
  Predicate.isTagged(error, "InvalidRequest") && /\bstream_options\b/.test((error as InvalidRequest).message)

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

const OptionalString = Schema.optional(Schema.NullOr(Schema.String))

/**
 * A part of a list-shaped `content` (Mistral's chunks): a text part with its
 * text, or a part of another type (`thinking`, `reference`, ...), which holds
 * none of the answer's text.
 */
const ContentPartWire = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.String.pipe(Schema.filter((type) => type !== "text")) })
)

/** A message's or a delta's `content`: a string, or (Mistral) a list of parts. */
const ContentWire = Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPartWire))))

type Content = string | ReadonlyArray<typeof ContentPartWire.Type> | null | undefined

const isContentPart = (part: unknown): boolean =>
  Http.isPlainObject(part) &&
  typeof part["type"] === "string" &&
  (part["type"] !== "text" || typeof part["text"] === "string")

/** For `accepts` checks: what `ContentWire` takes. */
const isContent = (content: unknown): boolean =>
  Http.isOptionalString(content) || (Array.isArray(content) && content.every(isContentPart))

/**
 * The text of a `content`: the string, or the text of its text parts, in
 * order; a `thinking` part (Magistral's reasoning) and any other part are
 * not the answer's text and are skipped, as reasoning is elsewhere.
 */
const contentText = (content: Content): string => {
  if (content == null) return ""
  if (typeof content === "string") return content
  let text = ""
  for (const part of content) if (part.type === "text" && "text" in part) text += part.text
  return text
}

const UsageWire = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  // `{ cached_tokens }`, and OpenRouter's `cache_write_tokens`: read leniently (see `usage`)
  prompt_tokens_details: Schema.optional(Schema.Unknown),
  // DeepSeek's count of cached prompt tokens
  prompt_cache_hit_tokens: Schema.optional(Schema.Unknown),
  // `{ reasoning_tokens }`: read leniently (see `usage`)
  completion_tokens_details: Schema.optional(Schema.Unknown)
})

const ToolCallWire = Schema.Struct({
  id: Schema.String,
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String }),
  // Google's OpenAI-compatible endpoint: Gemini's thought signature (see `extraContent`)
  extra_content: Schema.optional(Schema.Unknown)
})

const Completion = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  choices: Schema.Array(
    Schema.Struct({
      message: Schema.Struct({
        content: ContentWire,
        refusal: OptionalString,
        tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCallWire)))
      }),
      finish_reason: OptionalString
    })
  ),
  usage: Schema.optional(Schema.NullOr(UsageWire))
})

/**
 * vLLM's finish when its engine aborted the answer (a scale-down, a
 * shutdown, a sleep): not an OpenAI value, and not an answer, though the
 * HTTP status was 200 and a `[DONE]` follows (see `Errors.aborted`).
 */
const abortFinish = "abort"

const abortedError = (context: Errors.Context): ProviderError =>
  Errors.aborted(context, `${context.provider} aborted the answer (finish_reason "abort")`)

const finishReasons: Readonly<Record<string, FinishReason>> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool_calls",
  function_call: "tool_calls",
  content_filter: "content_filter"
}

/**
 * The neutral finish of a completion or stream. A `stop` after tool calls is
 * `tool_calls`: Google's OpenAI-compatible endpoint finishes a turn that
 * called tools with `stop` (as the Gemini adapter reads Gemini's `STOP`),
 * and a client's tool loop waits for `tool_calls`.
 */
const finishReason = (reason: string | null | undefined, calledTools: boolean): FinishReason => {
  const finish = (reason != null ? finishReasons[reason] : undefined) ?? "unknown"
  return finish === "stop" && calledTools ? "tool_calls" : finish
}

/**
 * The usage of a completion. `prompt_tokens` is the whole prompt, the cached
 * part of it included: OpenAI's `prompt_tokens_details.cached_tokens` (billed
 * at a discount), or DeepSeek's `prompt_cache_hit_tokens`; OpenRouter adds
 * `cache_write_tokens` for a provider that bills writes (Claude). The
 * answer's reasoning part is `completion_tokens_details.reasoning_tokens`.
 * Only pricing and reports read them, so one not understood counts as none
 * rather than failing the answer.
 */
const usage = (wire: typeof UsageWire.Type | null | undefined): Usage => {
  if (wire == null) return { inputTokens: 0, outputTokens: 0 }
  const details = Http.isPlainObject(wire.prompt_tokens_details) ? wire.prompt_tokens_details : undefined
  const read = count(details?.["cached_tokens"]) || count(wire.prompt_cache_hit_tokens)
  const completion = Http.isPlainObject(wire.completion_tokens_details) ? wire.completion_tokens_details : undefined
  return {
    inputTokens: wire.prompt_tokens,
    outputTokens: wire.completion_tokens,
    ...cacheCounts(wire.prompt_tokens, read, count(details?.["cache_write_tokens"]), 0),
    ...reasoningCount(wire.completion_tokens, count(completion?.["reasoning_tokens"]))
  }
}

/** The answer stopped on policy: a content_filter finish, or a refusal (`answer.refusal`). */
const filtered = (context: Errors.Context, answer: Errors.StoppedAnswer) =>
  answer.refusal !== undefined
    ? Errors.contentFiltered(context, "refusal", `${context.provider} refused: ${answer.refusal}`, answer)
    : Errors.contentFiltered(context, "content_filter", `${context.provider} stopped on its content filter`, answer)

const isToolCall = (call: unknown): boolean => {
  if (!Http.isPlainObject(call) || typeof call["id"] !== "string") return false
  const fn = call["function"]
  return Http.isPlainObject(fn) && typeof fn["name"] === "string" && typeof fn["arguments"] === "string"
}

const isCompletionChoice = (choice: unknown): boolean => {
  if (!Http.isPlainObject(choice) || !Http.isOptionalString(choice["finish_reason"])) return false
  const message = choice["message"]
  if (!Http.isPlainObject(message) || !isContent(message["content"]) || !Http.isOptionalString(message["refusal"])) {
    return false
  }
  const calls = message["tool_calls"]
  return calls === undefined || calls === null || (Array.isArray(calls) && calls.every(isToolCall))
}

const isUsage = (wire: unknown): boolean =>
  wire === undefined ||
  wire === null ||
  (Http.isPlainObject(wire) && typeof wire["prompt_tokens"] === "number" && typeof wire["completion_tokens"] === "number")

/**
 * The usual shape of a chat completion, checked without the schema (see
 * `Http.valueDecoder`): a value this accepts, `Completion` decodes to the
 * same fields.
 *
 * @internal
 */
export const isCompletion = (value: unknown): value is typeof Completion.Type =>
  Http.isPlainObject(value) &&
  Http.isOptional(value["id"], "string") &&
  Http.isOptional(value["model"], "string") &&
  Array.isArray(value["choices"]) &&
  value["choices"].every(isCompletionChoice) &&
  isUsage(value["usage"])

/** @internal */
export const CompletionSchema = Completion

const decodeCompletion = Http.valueDecoder(Completion, isCompletion)

/** An error object where the completion should be, as a whole answer with HTTP 200 (see `Errors.fromAnswerError`). */
const isErrorAnswer = (value: unknown): boolean =>
  Http.isPlainObject(value) && value["error"] != null && !("choices" in value)

/**
 * Reads a JSON chat completion; a content-filter finish or a refusal is a
 * `ContentFiltered` error, with the answer's text, refusal and usage; vLLM's
 * `finish_reason: "abort"` a `ServerError` (see `Errors.aborted`); an error
 * object sent as the answer with HTTP 200 (OpenRouter's) the error its code
 * says, as an error event in a stream is.
 *
 * @internal
 */
export const decodeResponse = (context: Errors.Context, text: string): Either.Either<ChatResponse, ProviderError> =>
  Either.flatMap(Http.parseJson(context, text, "chat completion"), (value) =>
    isErrorAnswer(value)
      ? Either.left(Errors.fromAnswerError(context, value))
      : Either.flatMap(decodeCompletion(context, value, "chat completion"), (completion) => toResponse(context, completion)))

const toResponse = (
  context: Errors.Context,
  completion: typeof Completion.Type
): Either.Either<ChatResponse, ProviderError> => {
  const choice = completion.choices[0]
  if (choice === undefined) return Either.left(Errors.malformed(context, `${context.provider} sent a completion without choices`))
  if (choice.finish_reason === abortFinish) return Either.left(abortedError(context))
  if (choice.finish_reason === "content_filter" || choice.message.refusal) {
    const refusal = choice.message.refusal ? { refusal: choice.message.refusal } : {}
    return Either.left(filtered(context, { partialText: contentText(choice.message.content), ...refusal, usage: usage(completion.usage) }))
  }
  const text = contentText(choice.message.content)
  const calls = choice.message.tool_calls ?? []
  const finish = finishReason(choice.finish_reason, calls.length > 0)
  if (text === "" && calls.length === 0 && finish === "unknown") return Either.left(Errors.emptyAnswer(context, choice.finish_reason))
  return Either.right({
    id: completion.id ?? Http.freshId(context.provider),
    provider: context.provider,
    model: completion.model ?? context.model,
    text,
    toolCalls: calls.map((call) => {
      const signature = signatureOf(call.extra_content)
      return {
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
        ...(signature !== undefined ? { signature } : {})
      }
    }),
    finishReason: finish,
    usage: usage(completion.usage)
  })
}

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

const StreamChunk = Schema.Struct({
  choices: Schema.optional(
    Schema.NullOr(
      Schema.Array(
        Schema.Struct({
          index: Schema.optional(Schema.Number),
          delta: Schema.optional(
            Schema.NullOr(
              Schema.Struct({
                content: ContentWire,
                refusal: OptionalString,
                tool_calls: Schema.optional(
                  Schema.NullOr(
                    Schema.Array(
                      Schema.Struct({
                        // Google's OpenAI-compatible endpoint sends none (see `callIndex`)
                        index: Schema.optional(Schema.Number),
                        id: OptionalString,
                        function: Schema.optional(
                          Schema.NullOr(Schema.Struct({ name: OptionalString, arguments: OptionalString }))
                        ),
                        extra_content: Schema.optional(Schema.Unknown)
                      })
                    )
                  )
                )
              })
            )
          ),
          finish_reason: OptionalString
        })
      )
    )
  ),
  usage: Schema.optional(Schema.NullOr(UsageWire)),
  error: Schema.optional(Schema.Unknown)
})

type StreamChoice = NonNullable<(typeof StreamChunk.Type)["choices"]>[number]

const isToolCallDelta = (call: unknown): boolean => {
  if (!Http.isPlainObject(call) || !Http.isOptional(call["index"], "number") || !Http.isOptionalString(call["id"])) return false
  const fn = call["function"]
  return (
    fn === undefined ||
    fn === null ||
    (Http.isPlainObject(fn) && Http.isOptionalString(fn["name"]) && Http.isOptionalString(fn["arguments"]))
  )
}

const isStreamChoice = (choice: unknown): boolean => {
  if (!Http.isPlainObject(choice) || !Http.isOptional(choice["index"], "number") || !Http.isOptionalString(choice["finish_reason"])) {
    return false
  }
  const delta = choice["delta"]
  if (delta === undefined || delta === null) return true
  if (!Http.isPlainObject(delta) || !isContent(delta["content"]) || !Http.isOptionalString(delta["refusal"])) return false
  const calls = delta["tool_calls"]
  return calls === undefined || calls === null || (Array.isArray(calls) && calls.every(isToolCallDelta))
}

/**
 * The usual shape of a stream chunk, checked without the schema (see
 * `Http.eventDecoder`): a value this accepts, `StreamChunk` decodes to the
 * same fields.
 *
 * @internal
 */
export const isStreamChunk = (value: unknown): value is typeof StreamChunk.Type => {
  if (!Http.isPlainObject(value)) return false
  const choices = value["choices"]
  if (choices !== undefined && choices !== null && !(Array.isArray(choices) && choices.every(isStreamChoice))) return false
  return isUsage(value["usage"])
}

/** @internal */
export const StreamChunkSchema = StreamChunk

const decodeStreamChunk = Http.eventDecoder(StreamChunk, isStreamChunk)

/**
 * What a stream answered so far, for a stop on policy: its text, a refusal
 * (OpenAI streams one in pieces, as `delta.refusal`, then its finish), the
 * stop (a content_filter finish, or the finish after a refusal) and the
 * usage, which OpenAI sends after it.
 */
interface Answered {
  text: string
  refusal: string | undefined
  stopped: boolean
  /** Whether a finish reason came (the stream's `Finish`). */
  finished: boolean
  usage: ReturnType<typeof usage> | undefined
  /** The ids of the tool calls streamed so far, by index (a call whose id has not come has none). */
  readonly calls: Map<number, string>
  /** One past the highest index a tool-call delta went to: the number of calls, when the server numbers them from 0. */
  nextCall: number
  /** The index of the last tool call a delta went to, or -1. */
  lastCall: number
  /** Whether the server aborted the answer (vLLM's `finish_reason: "abort"`). */
  aborted: boolean
}

type ToolCallDeltaWire = NonNullable<NonNullable<StreamChoice["delta"]>["tool_calls"]>[number]

/**
 * The index of the call a tool-call delta belongs to. OpenAI numbers them
 * (`index`); Google's OpenAI-compatible endpoint sends none, each call whole
 * in one delta. A delta without `index` continues the call with its `id`, if
 * one came, else starts the next call when its `id` is new, and continues
 * the last call when it has no `id` (as OpenAI's later deltas of a call
 * have none). Its position in the delta's array is not used: Google sends
 * each call of a parallel set in a chunk of its own, each at position 0.
 */
const callIndex = (call: ToolCallDeltaWire, answered: Answered): number => {
  const id = call.id ? call.id : undefined
  let index = call.index
  if (index === undefined) {
    let known = -1
    if (id !== undefined) for (const [at, seen] of answered.calls) if (seen === id) known = at
    index = known >= 0 ? known : id === undefined && answered.lastCall >= 0 ? answered.lastCall : answered.nextCall
  }
  // a map, not an array filled up to the index: a server's index of a billion costs nothing
  if (index >= answered.nextCall) answered.nextCall = index + 1
  if (id !== undefined && !answered.calls.has(index)) answered.calls.set(index, id)
  answered.lastCall = index
  return index
}

const pushChoice = (choice: StreamChoice, out: Array<ChatChunk>, answered: Answered): void => {
  const delta = choice.delta
  if (delta?.refusal) answered.refusal = (answered.refusal ?? "") + delta.refusal
  // after a refusal, nothing else is the answer
  else if (answered.refusal === undefined) {
    const text = contentText(delta?.content)
    if (text) {
      out.push({ _tag: "TextDelta", text })
      answered.text += text
    }
    if (delta?.tool_calls) {
      for (const call of delta.tool_calls) {
        const name = call.function?.name
        const signature = signatureOf(call.extra_content)
        out.push({
          _tag: "ToolCallDelta",
          index: callIndex(call, answered),
          ...(call.id ? { id: call.id } : {}),
          ...(name ? { name } : {}),
          arguments: call.function?.arguments ?? "",
          ...(signature !== undefined ? { signature } : {})
        })
      }
    }
  }
  if (!choice.finish_reason) return
  if (choice.finish_reason === abortFinish) answered.aborted = true
  else if (choice.finish_reason === "content_filter" || answered.refusal !== undefined) answered.stopped = true
  else if (!answered.finished) {
    answered.finished = true
    out.push({ _tag: "Finish", reason: finishReason(choice.finish_reason, answered.nextCall > 0) })
  }
}

/**
 * Decodes the `data:` chunks of a streamed completion, up to `[DONE]` (or the
 * body's end, once a finish reason came); with
 * `include_usage` the last chunk before it has no choices and the usage. A
 * content_filter finish, or a refusal, fails it as `ContentFiltered` once
 * the usage is out (or at `[DONE]`, or at the body's end), with the text
 * streamed, the whole refusal and the usage.
 * A tool-call delta without `index` is placed by its `id` (see
 * `callIndex`), and a `stop` after tool calls finishes as `tool_calls`.
 * vLLM's `finish_reason: "abort"` (its engine gave the answer up) fails it
 * as a `ServerError` the same way, after the usage: no `Finish`.
 *
 * @internal
 */
export const streamDecoder = (context: Errors.Context): Http.EventDecoder => {
  const answered: Answered = {
    text: "",
    refusal: undefined,
    stopped: false,
    finished: false,
    usage: undefined,
    calls: new Map(),
    nextCall: 0,
    lastCall: -1,
    aborted: false
  }
  // a refusal, or an abort, waits for the usage chunk the server sends after its finish, so the provider's count goes
  // out before the failure
  const refused = (): ProviderError | undefined =>
    answered.aborted
      ? abortedError(context)
      : answered.stopped || answered.refusal !== undefined
      ? filtered(context, {
          partialText: answered.text,
          refusal: answered.refusal,
          ...(answered.usage !== undefined ? { usage: answered.usage } : {})
        })
      : undefined
  return {
    terminal: "data: [DONE]",
    pending: refused,
    // DESIGN.md has a stream that ends before its terminal event fail as malformed. An OpenAI-compatible stream is
    // whole once its finish reason came (the openai SDK ends a stream at the body's end, [DONE] or not, and some
    // servers leave it out): its end is the answer's, unless a refusal or an abort is held back. Without a finish
    // reason, its end before [DONE] is still a cut.
    end: () => (answered.finished ? refused() ?? true : undefined),
    onEvent: (event, out) => {
      if (event.data === "[DONE]") {
        const failure = refused()
        if (failure !== undefined) return failure
        // `[DONE]` ends the answer, whether or not a finish reason came before it (some compatible servers send none)
        if (!answered.finished) out.push({ _tag: "Finish", reason: "unknown" })
        return true
      }
      const decoded = decodeStreamChunk(context, event)
      if (Either.isLeft(decoded)) return decoded.left
      const chunk = decoded.right
      if (chunk.error != null) return Errors.fromStreamError(context, chunk)
      if (chunk.choices && !answered.stopped && !answered.aborted) {
        for (const choice of chunk.choices) {
          if ((choice.index ?? 0) !== 0) continue
          pushChoice(choice, out, answered)
          if (answered.stopped || answered.aborted) break
        }
      }
      if (chunk.usage) {
        answered.usage = usage(chunk.usage)
        out.push({ _tag: "Usage", usage: answered.usage })
        const failure = refused()
        if (failure !== undefined) return failure
      }
      return false
    }
  }
}
