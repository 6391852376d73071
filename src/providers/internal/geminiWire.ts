/**
 * The Gemini `generateContent` wire format: request encoding (roles `user`
 * and `model`, system messages lifted into `systemInstruction`, tools as
 * `functionDeclarations`, tool results as `functionResponse` parts), the
 * response schema, and the SSE decoder of `streamGenerateContent?alt=sse`.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { randomUUID } from "node:crypto"
import * as Schema from "effect/Schema"
import type { ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ToolCall, Usage } from "../../llm/Chat.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import type { SignatureUse } from "../../llm/internal/extraContent.js"
import { signatureUse, turnSignatures } from "../../llm/internal/extraContent.js"
import { argumentsObject, hasText, openingTurn } from "./anthropicWire.js"
import * as Errors from "./errors.js"
import * as Http from "./http.js"
import { imageData } from "./images.js"
import { geminiThinking } from "./models.js"
import { toolChoiceOf } from "./toolChoice.js"
import { answeredCalls } from "./toolPairs.js"
import { cacheCounts, count, reasoningCount } from "./usage.js"

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

type Part = Record<string, unknown>
type Content = { role: "user" | "model"; parts: Array<Part> }

const imagePart = (part: Extract<ContentPart, { type: "image" }>): Part => {
  const image = imageData(part.url)
  return image === undefined
    ? { fileData: { fileUri: part.url, ...(part.mediaType !== undefined ? { mimeType: part.mediaType } : {}) } }
    : { inlineData: { mimeType: image.mediaType, data: image.data } }
}

/** A user turn's parts; a text of whitespace alone is not sent (an empty one Gemini refuses, as Claude does: see `hasText`). */
const userParts = (content: string | ReadonlyArray<ContentPart>): Array<Part> => {
  if (typeof content === "string") return hasText(content) ? [{ text: content }] : []
  const parts: Array<Part> = []
  for (const part of content) {
    if (part.type !== "text") parts.push(imagePart(part))
    else if (hasText(part.text)) parts.push({ text: part.text })
  }
  return parts
}


const responseObject = (content: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(content)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { result: value }
  } catch {
    return { result: content }
  }
}

/** A failed tool's error: its object when it is a JSON object, else its text. */
const errorValue = (content: string): unknown => {
  const value = responseObject(content)
  return "result" in value && Object.keys(value).length === 1 ? content : value
}

/** A message as Gemini's content; a tool result as the response of `name`, the function of the call it answers. */
const toWire = (message: Exclude<Message, { role: "system" }>, name: string | undefined, use: SignatureUse): Content => {
  switch (message.role) {
    case "user":
      return { role: "user", parts: userParts(message.content) }
    case "assistant": {
      const parts: Array<Part> = message.content ? [{ text: message.content }] : []
      const calls = message.toolCalls ?? []
      const signatures = turnSignatures(calls, use)
      for (const [i, call] of calls.entries()) {
        const signature = signatures[i]
        parts.push({
          functionCall: { name: call.name, args: argumentsObject(call.arguments) },
          ...(signature !== undefined ? { thoughtSignature: signature } : {})
        })
      }
      return { role: "model", parts }
    }
    case "tool":
      return {
        role: "user",
        parts: [
          {
            functionResponse: {
              name: name ?? message.toolCallId,
              // Gemini reads a response's `error` as the function's failure (and `output`, or the rest, as its result)
              response: message.isError === true ? { error: errorValue(message.content) } : responseObject(message.content)
            }
          }
        ]
      }
  }
}

const mergeTurns = (contents: ReadonlyArray<Content>): Array<Content> => {
  const merged: Array<Content> = []
  for (const content of contents) {
    if (content.parts.length === 0) continue
    const last = merged[merged.length - 1]
    if (last !== undefined && last.role === content.role) last.parts.push(...content.parts)
    else merged.push({ role: content.role, parts: [...content.parts] })
  }
  return merged
}

const encodeToolChoice = (choice: NonNullable<ChatRequest["toolChoice"]>): unknown => {
  if (typeof choice !== "string") return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.name] } }
  return { functionCallingConfig: { mode: choice === "required" ? "ANY" : choice === "none" ? "NONE" : "AUTO" } }
}

/** Keywords whose value is a map of schemas, a list of them, or one. */
const schemaMaps: ReadonlySet<string> = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"])
const schemaLists: ReadonlySet<string> = new Set(["anyOf", "oneOf", "allOf", "prefixItems"])
const schemaValues: ReadonlySet<string> = new Set(["items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames"])

/**
 * A JSON Schema as Gemini's `responseJsonSchema` and `parametersJsonSchema`
 * take it. Gemini's reference (`GenerationConfig.responseJsonSchema`): "If
 * `$ref` is set on a sub-schema, no other properties, except for those
 * starting as a `$`, may be set"; Pydantic writes a described field of a
 * model type as just that, `{ "$ref": "#/$defs/X", "description": "..." }`.
 * Such a node goes as an `anyOf` of the bare `$ref` (Gemini takes `anyOf`,
 * not `allOf`), its siblings beside it: the same schema, its description
 * kept. One that has an `anyOf` or `oneOf` of its own goes as it is (one
 * `anyOf` cannot say both). The rest is sent as written (Gemini ignores
 * keywords it does not take); `$ref`s are not resolved here, Gemini does
 * that, cycles included.
 *
 * @internal
 */
export const geminiSchema = (schema: unknown): unknown => {
  if (!Http.isPlainObject(schema)) return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    const mapped = schemaMaps.has(key) && Http.isPlainObject(value)
      ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, geminiSchema(sub)]))
      : schemaLists.has(key) && Array.isArray(value)
      ? value.map(geminiSchema)
      : schemaValues.has(key)
      ? geminiSchema(value)
      : value
    Object.defineProperty(out, key, { value: mapped, enumerable: true, writable: true, configurable: true })
  }
  const ref = out["$ref"]
  if (ref === undefined || Object.keys(out).every((key) => key.startsWith("$")) || "anyOf" in out || "oneOf" in out) return out
  const { $ref: _, ...siblings } = out
  return { ...siblings, anyOf: [{ $ref: ref }] }
}

/** 2^31: Gemini's `seed` is an int32. */
const int32 = 2 ** 31

const generationConfig = (request: ChatRequest, model: string): Record<string, unknown> | undefined => {
  const config: Record<string, unknown> = {}
  const thinking = request.reasoningEffort === undefined ? undefined : geminiThinking(model, request.reasoningEffort)
  if (thinking !== undefined) config.thinkingConfig = thinking
  if (request.temperature !== undefined) config.temperature = request.temperature
  if (request.topP !== undefined) config.topP = request.topP
  if (request.topK !== undefined) config.topK = request.topK
  // an int32 to Gemini, which refuses a larger one with a 400 where OpenAI takes it: left out past that
  if (request.seed !== undefined && request.seed >= -int32 && request.seed < int32) config.seed = request.seed
  if (request.presencePenalty !== undefined) config.presencePenalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) config.frequencyPenalty = request.frequencyPenalty
  if (request.maxTokens !== undefined) config.maxOutputTokens = request.maxTokens
  if (request.stop !== undefined && request.stop.length > 0) config.stopSequences = request.stop
  if (request.responseFormat !== undefined) {
    config.responseMimeType = "application/json"
    // JSON Schema as OpenAI's clients write it (`responseSchema` takes an OpenAPI subset only)
    // (JSON mode is the mime type alone: a schema of any object might be read as one without properties, `{}`)
    if (request.responseFormat.type === "json_schema") config.responseJsonSchema = geminiSchema(request.responseFormat.schema)
  }
  return Object.keys(config).length > 0 ? config : undefined
}

/**
 * The JSON body of a `generateContent` request (the model goes in the URL).
 * A function call goes with its `thoughtSignature` to a Gemini model; for
 * Gemini 3 and later, a turn whose first call has none gets the placeholder
 * Gemini's docs give on it. Gemma gets none (see `signatureUse`). A
 * conversation that opens on the model's turn, or has no text at all, gets
 * a user turn before it (`openingTurn`). The request's
 * `providerOptions.gemini.safetySettings` are sent as they are.
 *
 * @internal
 */
export const encodeRequest = (request: ChatRequest, model: string): Record<string, unknown> => {
  const use = signatureUse(model)
  // a tool result names its function, not its call: that of the call it answers (two calls of an answer may have
  // one id, or none, from a compatible server: each result answers the next of them)
  const answers = answeredCalls(request.messages)
  const system: Array<string> = []
  const contents: Array<Content> = []
  for (const [i, message] of request.messages.entries()) {
    const at = message.role === "tool" ? answers?.[i] : undefined
    const called = at === undefined ? undefined : request.messages[at.turn]
    const name = called?.role === "assistant" ? called.toolCalls?.[at!.index]?.name : undefined
    if (message.role !== "system") contents.push(toWire(message, name, use))
    else if (hasText(message.content)) system.push(message.content) // an empty text Gemini refuses (see `userParts`)
  }
  // Gemini wants a turn (`contents` is required): system messages alone, which OpenAI answers by following them,
  // go as the one user turn, their text the request itself
  if (system.length > 0 && contents.every((content) => content.parts.length === 0)) {
    contents.push({ role: "user", parts: [{ text: system.splice(0).join("\n\n") }] })
  }
  const turns = mergeTurns(contents)
  // Gemini wants a function call right after a user turn or a function's response (a 400, "Please ensure that
  // function call turn comes immediately after a user turn or after a function response turn"): a conversation
  // whose history opens on the model's turn, which OpenAI takes, gets a user turn before it, as Claude does
  // so does one with no text at all (a blank message, which OpenAI answers): `contents` is required
  if (turns[0]?.role === "model" || turns.every((turn) => turn.parts.length === 0)) {
    turns.unshift({ role: "user", parts: [{ text: openingTurn }] })
  }
  const body: Record<string, unknown> = { contents: turns }
  if (system.length > 0) body.systemInstruction = { parts: [{ text: system.join("\n\n") }] }
  const config = generationConfig(request, model)
  if (config !== undefined) body.generationConfig = config
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: request.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description !== undefined ? { description: tool.description } : {}),
          // JSON Schema as OpenAI's clients write it (`parameters` takes an OpenAPI subset only, refusing `additionalProperties`)
          parametersJsonSchema: geminiSchema(tool.parameters)
        }))
      }
    ]
  }
  const choice = toolChoiceOf(request)
  if (choice !== undefined) body.toolConfig = encodeToolChoice(choice)
  const safety = request.providerOptions?.gemini?.safetySettings
  if (safety !== undefined && safety.length > 0) body.safetySettings = safety
  return body
}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

const Count = Schema.optional(Schema.Number)

const GenerateContentResponse = Schema.Struct({
  candidates: Schema.optional(
    Schema.Array(
      Schema.Struct({
        content: Schema.optional(
          Schema.Struct({
            parts: Schema.optional(
              Schema.Array(
                Schema.Struct({
                  text: Schema.optional(Schema.String),
                  thought: Schema.optional(Schema.Boolean),
                  thoughtSignature: Schema.optional(Schema.String),
                  functionCall: Schema.optional(
                    Schema.Struct({ id: Schema.optional(Schema.String), name: Schema.String, args: Schema.optional(Schema.Unknown) })
                  )
                })
              )
            )
          })
        ),
        finishReason: Schema.optional(Schema.String)
      })
    )
  ),
  promptFeedback: Schema.optional(Schema.Struct({ blockReason: Schema.optional(Schema.String) })),
  usageMetadata: Schema.optional(
    Schema.Struct({
      promptTokenCount: Count,
      candidatesTokenCount: Count,
      thoughtsTokenCount: Count,
      // the part of the prompt a context cache served, implicit or explicit, billed at a discount: read leniently (see `usageOf`)
      cachedContentTokenCount: Schema.optional(Schema.Unknown)
    })
  ),
  responseId: Schema.optional(Schema.String),
  modelVersion: Schema.optional(Schema.String),
  error: Schema.optional(Schema.Unknown)
})

type GenerateContentResponse = typeof GenerateContentResponse.Type

/**
 * Finishes that mean the provider stopped on policy (Gemini's documented
 * finish reasons; `MODEL_ARMOR` is Vertex AI's).
 */
const filteredFinishes: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION",
  "MODEL_ARMOR"
])

/**
 * Finishes that mean the model failed to form its answer: a function call
 * it could not write, a call to a tool it was not given, an answer that did
 * not parse. Any text before them is narration of a call that never came,
 * not the answer; the same request often succeeds when asked again, so they
 * are a `MalformedResponse` (retried, or failed over), not an empty answer.
 */
const malformedFinishes: ReadonlySet<string> = new Set(["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "MALFORMED_RESPONSE"])

const finishReason = (reason: string, sawToolCall: boolean): FinishReason => {
  switch (reason) {
    case "STOP":
      return sawToolCall ? "tool_calls" : "stop"
    case "MAX_TOKENS":
      return "length"
    default:
      return "unknown"
  }
}

/**
 * Output tokens in all: thinking tokens are billed as output (and are its
 * `reasoningTokens`). The prompt's count includes its cached part,
 * `cachedContentTokenCount`; only pricing reads that, so a value not
 * understood counts as none rather than failing the answer.
 */
const usageOf = (metadata: GenerateContentResponse["usageMetadata"]): Usage => {
  const inputTokens = metadata?.promptTokenCount ?? 0
  const thoughts = metadata?.thoughtsTokenCount ?? 0
  const outputTokens = (metadata?.candidatesTokenCount ?? 0) + thoughts
  return {
    inputTokens,
    outputTokens,
    ...cacheCounts(inputTokens, count(metadata?.cachedContentTokenCount), 0, 0),
    ...reasoningCount(outputTokens, count(thoughts))
  }
}

const blocked = (context: Errors.Context, reason: string) =>
  Errors.contentFiltered(context, reason, `${context.provider} blocked the prompt (${reason})`)

const stoppedOnPolicy = (context: Errors.Context, reason: string, answer: Errors.StoppedAnswer) =>
  Errors.contentFiltered(context, reason, `${context.provider} stopped the answer on policy (finishReason ${reason})`, answer)

/** The refusal of a blocked prompt, if the answer is one (it has no candidate then). */
const promptRefusal = (context: Errors.Context, response: GenerateContentResponse) => {
  const blockReason = response.promptFeedback?.blockReason
  return blockReason !== undefined && blockReason !== "BLOCK_REASON_UNSPECIFIED" ? blocked(context, blockReason) : undefined
}

/**
 * The failure a finish is, if it leaves no answer: a policy finish (SAFETY,
 * ...) is `ContentFiltered`, with the answer's `text` and `usage`; a
 * malformed one, or `OTHER` or `STOP` when the answer has nothing in it
 * (`hasContent`: no text, no call), a `MalformedResponse`: Gemini now and
 * then stops with no part at all, which asking again mends.
 */
const finishFailure = (
  context: Errors.Context,
  finish: string | undefined,
  hasContent: boolean,
  text: string,
  usage: Usage
): ProviderError | undefined => {
  if (finish === undefined) return undefined
  if (filteredFinishes.has(finish)) return stoppedOnPolicy(context, finish, { partialText: text, usage })
  return malformedFinishes.has(finish) || ((finish === "OTHER" || finish === "STOP") && !hasContent)
    ? Errors.malformed(context, `${context.provider} stopped without a usable answer (finishReason ${finish})`)
    : undefined
}

/**
 * A call's id: Gemini's, else one made up, unique across the turns of a
 * conversation (a tool result is matched to its call by id).
 */
const callId = (call: { readonly id?: string | undefined }): string => call.id ?? `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`

const toResponse = (
  context: Errors.Context,
  response: GenerateContentResponse
): Either.Either<ChatResponse, ProviderError> => {
  const blockedPrompt = promptRefusal(context, response)
  if (blockedPrompt !== undefined) return Either.left(blockedPrompt)
  const candidate = response.candidates?.[0]
  if (candidate === undefined) return Either.left(Errors.malformed(context, `${context.provider} sent no candidate`))
  let text = ""
  const toolCalls: Array<ToolCall> = []
  for (const part of candidate.content?.parts ?? []) {
    if (part.text !== undefined && part.thought !== true) text += part.text
    if (part.functionCall !== undefined) {
      const call = part.functionCall
      toolCalls.push({
        id: callId(call),
        name: call.name,
        arguments: JSON.stringify(call.args ?? {}),
        ...(part.thoughtSignature !== undefined ? { signature: part.thoughtSignature } : {})
      })
    }
  }
  const usage = usageOf(response.usageMetadata)
  const failed = finishFailure(context, candidate.finishReason, text !== "" || toolCalls.length > 0, text, usage)
  if (failed !== undefined) return Either.left(failed)
  const finish = finishReason(candidate.finishReason ?? "", toolCalls.length > 0)
  if (text === "" && toolCalls.length === 0 && finish === "unknown") return Either.left(Errors.emptyAnswer(context, candidate.finishReason))
  return Either.right({
    id: response.responseId ?? Http.freshId(context.provider),
    provider: context.provider,
    model: response.modelVersion ?? context.model,
    text,
    toolCalls,
    finishReason: finish,
    usage
  })
}

/**
 * Reads a JSON answer; a blocked prompt or a policy finish (SAFETY, ...) is
 * a `ContentFiltered` error, a finish that left no answer (a malformed
 * function call, ...) a `MalformedResponse`.
 *
 * @internal
 */
export const decodeResponse = (context: Errors.Context, text: string): Either.Either<ChatResponse, ProviderError> =>
  Either.flatMap(decodeGenerateContent(context, text, "answer"), (response) => toResponse(context, response))

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

const isPart = (part: unknown): boolean => {
  if (
    !Http.isPlainObject(part) ||
    !Http.isOptional(part["text"], "string") ||
    !Http.isOptional(part["thought"], "boolean") ||
    !Http.isOptional(part["thoughtSignature"], "string")
  ) {
    return false
  }
  const call = part["functionCall"]
  return call === undefined || (Http.isPlainObject(call) && typeof call["name"] === "string" && Http.isOptional(call["id"], "string"))
}

const isCandidate = (candidate: unknown): boolean => {
  if (!Http.isPlainObject(candidate) || !Http.isOptional(candidate["finishReason"], "string")) return false
  const content = candidate["content"]
  if (content === undefined) return true
  if (!Http.isPlainObject(content)) return false
  const parts = content["parts"]
  return parts === undefined || (Array.isArray(parts) && parts.every(isPart))
}

/**
 * The usual shape of a `generateContent` answer or stream event, checked
 * without the schema (see `Http.valueDecoder`): a value this accepts,
 * `GenerateContentResponse` decodes to the same fields.
 *
 * @internal
 */
export const isGenerateContentResponse = (value: unknown): value is GenerateContentResponse => {
  if (!Http.isPlainObject(value) || !Http.isOptional(value["responseId"], "string") || !Http.isOptional(value["modelVersion"], "string")) {
    return false
  }
  const candidates = value["candidates"]
  if (candidates !== undefined && !(Array.isArray(candidates) && candidates.every(isCandidate))) return false
  const feedback = value["promptFeedback"]
  if (feedback !== undefined && !(Http.isPlainObject(feedback) && Http.isOptional(feedback["blockReason"], "string"))) return false
  const usage = value["usageMetadata"]
  return (
    usage === undefined ||
    (Http.isPlainObject(usage) &&
      Http.isOptional(usage["promptTokenCount"], "number") &&
      Http.isOptional(usage["candidatesTokenCount"], "number") &&
      Http.isOptional(usage["thoughtsTokenCount"], "number"))
  )
}

/** @internal */
export const GenerateContentResponseSchema = GenerateContentResponse

const decodeEvent = Http.eventDecoder(GenerateContentResponse, isGenerateContentResponse)
const decodeGenerateContent = Http.jsonDecoder(GenerateContentResponse, isGenerateContentResponse)

/**
 * Decodes the SSE events of `streamGenerateContent?alt=sse`, each a whole
 * `GenerateContentResponse`. The stream ends with the body: Gemini sends no
 * terminal event, and a `finishReason` of `STOP` has come on every event of
 * a stream, not only on the last (seen on Gemini 1.0 and 1.5, and through
 * proxies), so an ordinary finish is held until the body ends, and the last
 * finish and the last usage (each event's counts are running totals) go
 * out then. A body that ends with no finish at all was cut. Function calls
 * come whole, one `ToolCallDelta` each. A finish that is no answer (see
 * `finishFailure`) fails the stream: a policy or malformed one at once,
 * after the text of its own event and the usage; `STOP` or `OTHER` with
 * nothing in the whole answer at its end.
 *
 * @internal
 */
export const streamDecoder = (context: Errors.Context): Http.EventDecoder => {
  let tools = 0
  // whether any text or call went out, for a finish that is a failure only on an empty answer (OTHER)
  let content = false
  // the text that went out, for a stop on policy
  let text = ""
  // the latest ordinary finish, and the latest usage: what the stream ends with when the body does
  let finish: string | undefined
  let usage: Usage | undefined
  return {
    terminal: "a candidate with a finishReason",
    end: (out) => {
      if (finish === undefined) return undefined
      const counted = usage ?? usageOf(undefined)
      const failed = finishFailure(context, finish, content, text, counted)
      if (failed === undefined) out.push({ _tag: "Finish", reason: finishReason(finish, tools > 0) })
      out.push({ _tag: "Usage", usage: counted })
      return failed ?? true
    },
    onEvent: (event, out) => {
      const decoded = decodeEvent(context, event)
      if (Either.isLeft(decoded)) return decoded.left
      const response = decoded.right
      if (response.error != null) return Errors.fromStreamError(context, response)
      const blockedPrompt = promptRefusal(context, response)
      if (blockedPrompt !== undefined) return blockedPrompt
      const candidate = response.candidates?.[0]
      for (const part of candidate?.content?.parts ?? []) {
        if (part.text && part.thought !== true) {
          out.push({ _tag: "TextDelta", text: part.text })
          text += part.text
          content = true
        }
        if (part.functionCall !== undefined) {
          const call = part.functionCall
          const index = tools++
          content = true
          out.push({
            _tag: "ToolCallDelta",
            index,
            id: callId(call),
            name: call.name,
            arguments: JSON.stringify(call.args ?? {}),
            ...(part.thoughtSignature !== undefined ? { signature: part.thoughtSignature } : {})
          })
        }
      }
      if (response.usageMetadata !== undefined) usage = usageOf(response.usageMetadata)
      const reason = candidate?.finishReason
      if (reason === undefined || reason === "FINISH_REASON_UNSPECIFIED") return false
      // a finish on policy or a malformed one ends the stream now; it can ride on an event with text: that text
      // goes out first, then the provider's count of what was sent, then the failure (as OpenAI's and
      // Anthropic's streams end on a refusal)
      if (filteredFinishes.has(reason) || malformedFinishes.has(reason)) {
        const counted = usage ?? usageOf(undefined)
        out.push({ _tag: "Usage", usage: counted })
        return finishFailure(context, reason, content, text, counted)!
      }
      finish = reason
      return false
    }
  }
}
