/**
 * The plain checks that let a stream event or a whole answer skip its schema
 * (`accepts` in `Http.eventDecoder` and `Http.jsonDecoder`) against those
 * schemas: over values shaped like the
 * events, right and wrong at every field, a value the check accepts is one
 * the schema decodes, to fields it already has (the schema only strips
 * excess properties); and the events the providers send are accepted, so
 * the fast path is the one taken.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import { isBlockDelta, isEventType, isMessage, schemas as anthropicSchemas } from "../src/providers/internal/anthropicWire.js"
import { GenerateContentResponseSchema, isGenerateContentResponse } from "../src/providers/internal/geminiWire.js"
import { CompletionSchema, isCompletion, isStreamChunk, StreamChunkSchema } from "../src/providers/internal/openAiWire.js"

const numRuns = 3000

const wrong = FastCheck.oneof(
  FastCheck.integer(),
  FastCheck.boolean(),
  FastCheck.string(),
  FastCheck.constant(null),
  FastCheck.constant([]),
  FastCheck.constant({})
)

/** A value for a field: usually of the right kind, now and then of a wrong one. */
const either = <A>(right: FastCheck.Arbitrary<A>) =>
  FastCheck.oneof(
    { weight: 6, arbitrary: right },
    { weight: 1, arbitrary: wrong }
  )

const optionalString = either(FastCheck.oneof(FastCheck.string(), FastCheck.constant(null)))

/** A `content`: a string, or (Mistral) a list of text and other parts. */
const content = either(
  FastCheck.oneof(
    FastCheck.string(),
    FastCheck.constant(null),
    FastCheck.array(
      either(
        FastCheck.record(
          { type: either(FastCheck.constantFrom("text", "thinking", "reference")), text: either(FastCheck.string()), thinking: FastCheck.jsonValue() },
          { requiredKeys: [] }
        )
      ),
      { maxLength: 3 }
    )
  )
)

/** A record of `fields`, each present or not, with now and then a field nobody reads. */
const record = (fields: Record<string, FastCheck.Arbitrary<unknown>>) =>
  FastCheck.tuple(
    FastCheck.record(fields, { requiredKeys: [] }),
    FastCheck.option(FastCheck.tuple(FastCheck.constantFrom("id", "object", "logprobs", "type"), FastCheck.jsonValue()), { nil: undefined })
  ).map(([value, extra]) => (extra === undefined ? value : { ...value, [extra[0]]: extra[1] }))

const toolCall = record({
  index: either(FastCheck.integer({ min: 0, max: 3 })),
  id: optionalString,
  function: either(FastCheck.oneof(FastCheck.constant(null), record({ name: optionalString, arguments: optionalString })))
})

const delta = record({
  content,
  refusal: optionalString,
  tool_calls: either(FastCheck.oneof(FastCheck.constant(null), FastCheck.array(either(toolCall), { maxLength: 3 })))
})

const choice = record({
  index: either(FastCheck.integer({ min: 0, max: 2 })),
  delta: either(FastCheck.oneof(FastCheck.constant(null), delta)),
  finish_reason: optionalString
})

/** OpenAI's usage object, in chunks and whole completions alike. */
const openAiUsage = either(
  FastCheck.oneof(
    FastCheck.constant(null),
    record({ prompt_tokens: either(FastCheck.nat()), completion_tokens: either(FastCheck.nat()) })
  )
)

const openAiChunk = either(
  record({
    choices: either(FastCheck.oneof(FastCheck.constant(null), FastCheck.array(either(choice), { maxLength: 3 }))),
    usage: openAiUsage,
    error: FastCheck.option(FastCheck.jsonValue(), { nil: undefined })
  })
)

const anthropicDelta = either(
  record({
    index: either(FastCheck.integer({ min: 0, max: 3 })),
    delta: either(
      record({
        type: either(FastCheck.constantFrom("text_delta", "input_json_delta", "thinking_delta", "signature_delta")),
        text: either(FastCheck.string()),
        partial_json: either(FastCheck.string())
      })
    ),
    type: either(FastCheck.constant("content_block_delta"))
  })
)

const optional = <A>(arbitrary: FastCheck.Arbitrary<A>) => either(arbitrary)

const geminiPart = record({
  text: optional(FastCheck.string()),
  thought: optional(FastCheck.boolean()),
  functionCall: optional(record({ id: optional(FastCheck.string()), name: optional(FastCheck.string()), args: FastCheck.jsonValue() }))
})

const geminiEvent = either(
  record({
    candidates: optional(
      FastCheck.array(
        either(
          record({
            content: optional(record({ parts: optional(FastCheck.array(either(geminiPart), { maxLength: 3 })) })),
            finishReason: optional(FastCheck.string())
          })
        ),
        { maxLength: 2 }
      )
    ),
    promptFeedback: optional(record({ blockReason: optional(FastCheck.string()) })),
    usageMetadata: optional(
      record({
        promptTokenCount: optional(FastCheck.nat()),
        candidatesTokenCount: optional(FastCheck.nat()),
        thoughtsTokenCount: optional(FastCheck.nat())
      })
    ),
    responseId: optional(FastCheck.string()),
    modelVersion: optional(FastCheck.string()),
    error: FastCheck.option(FastCheck.jsonValue(), { nil: undefined })
  })
)

/** A value the check accepts is one the schema decodes, to fields the value already has. */
const holdsTo = <A, I>(check: (value: unknown) => boolean, schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (value: unknown) => {
    if (!check(value)) return
    const decoded = decode(value)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded)) expect(value).toMatchObject(decoded.right as object)
  }
}

const decodeOpenAi = Schema.decodeUnknownEither(StreamChunkSchema)

describe("stream events: the plain checks against their schemas", () => {
  it.prop("OpenAI: a chunk the check accepts, the schema decodes to fields the chunk already has", [openAiChunk], ([value]) => {
    if (!isStreamChunk(value)) return
    const decoded = decodeOpenAi(value)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded)) expect(value).toMatchObject(decoded.right)
  }, { fastCheck: { numRuns } })

  it("OpenAI: the chunks OpenAI sends take the fast path; malformed ones do not", () => {
    const sent = [
      {
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: "m",
        choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null }]
      },
      { id: "c", choices: [{ index: 0, delta: { content: "Hel" }, finish_reason: null }], usage: null },
      {
        id: "c",
        choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }] } }]
      },
      { id: "c", choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{\"a\":" } }] } }] },
      { id: "c", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      // Google's OpenAI-compatible endpoint: a whole call, without `index`
      { choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ function: { arguments: "{}", name: "f" }, id: "call_2", type: "function" }] } }] },
      // Mistral's list-shaped content
      { choices: [{ index: 0, delta: { content: [{ type: "thinking", thinking: [{ type: "text", text: "Hm" }], closed: true }] } }] },
      { choices: [{ index: 0, delta: { content: [{ type: "text", text: "Sunny." }] } }] },
      { id: "c", choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }
    ]
    for (const chunk of sent) expect(isStreamChunk(chunk)).toBe(true)
    const malformed = [
      null,
      [],
      "text",
      { choices: {} },
      { choices: [{ delta: { content: 3 } }] },
      { choices: [{ delta: { content: [{ text: "no type" }] } }] },
      { choices: [{ delta: { content: [{ type: "text" }] } }] },
      { choices: [{ index: "0", delta: {} }] },
      { choices: [{ delta: { tool_calls: [{ index: "0", id: "x" }] } }] },
      { choices: [{ delta: { tool_calls: [{ id: 7 }] } }] },
      { usage: { prompt_tokens: 1 } }
    ]
    for (const chunk of malformed) expect(isStreamChunk(chunk)).toBe(false)
  })

  it.prop("Anthropic: an event the type check accepts, the schema decodes", [anthropicDelta], ([value]) =>
    holdsTo(isEventType, anthropicSchemas.EventType)(value), { fastCheck: { numRuns } })

  it.prop("Anthropic: a content_block_delta the check accepts, the schema decodes to fields it already has", [anthropicDelta], ([value]) =>
    holdsTo(isBlockDelta, anthropicSchemas.BlockDelta)(value), { fastCheck: { numRuns } })

  it.prop("Gemini: an event the check accepts, the schema decodes to fields it already has", [geminiEvent], ([value]) =>
    holdsTo(isGenerateContentResponse, GenerateContentResponseSchema)(value), { fastCheck: { numRuns } })

  it("Anthropic and Gemini: the events they send take the fast path; malformed ones do not", () => {
    expect(isEventType({ type: "ping" })).toBe(true)
    expect(isEventType({ type: 1 })).toBe(false)
    expect(isBlockDelta({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } })).toBe(true)
    expect(isBlockDelta({ type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"a\"" } })).toBe(true)
    // other delta types are rare: the schema handles them
    expect(isBlockDelta({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "x" } })).toBe(false)
    expect(isBlockDelta({ type: "content_block_delta", index: 0, delta: { type: "text_delta" } })).toBe(false)
    const gemini = {
      candidates: [{ content: { parts: [{ text: "Hel" }], role: "model" }, index: 0 }],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
      modelVersion: "gemini-2.5-flash",
      responseId: "r"
    }
    expect(isGenerateContentResponse(gemini)).toBe(true)
    const call = { candidates: [{ content: { parts: [{ functionCall: { name: "f", args: { a: 1 } } }] }, finishReason: "STOP" }] }
    expect(isGenerateContentResponse(call)).toBe(true)
    expect(isGenerateContentResponse({ candidates: null })).toBe(false)
    expect(isGenerateContentResponse({ candidates: [{ content: { parts: [{ text: 1 }] } }] })).toBe(false)
    expect(isGenerateContentResponse({ usageMetadata: { promptTokenCount: "3" } })).toBe(false)
  })
})

const openAiCompletion = either(
  record({
    id: optional(FastCheck.string()),
    model: optional(FastCheck.string()),
    choices: either(
      FastCheck.array(
        either(
          record({
            message: either(
              record({
                content,
                refusal: optionalString,
                tool_calls: either(
                  FastCheck.oneof(
                    FastCheck.constant(null),
                    FastCheck.array(
                      either(
                        record({
                          id: either(FastCheck.string()),
                          function: either(record({ name: either(FastCheck.string()), arguments: either(FastCheck.string()) }))
                        })
                      ),
                      { maxLength: 2 }
                    )
                  )
                )
              })
            ),
            finish_reason: optionalString
          })
        ),
        { maxLength: 2 }
      )
    ),
    usage: openAiUsage
  })
)

const count = either(FastCheck.oneof(FastCheck.nat(), FastCheck.constant(null)))

const anthropicMessage = either(
  record({
    id: optional(FastCheck.string()),
    model: optional(FastCheck.string()),
    content: either(
      FastCheck.array(
        either(
          record({
            type: either(FastCheck.constantFrom("text", "tool_use", "thinking")),
            text: optional(FastCheck.string()),
            id: optional(FastCheck.string()),
            name: optional(FastCheck.string()),
            input: FastCheck.option(FastCheck.jsonValue(), { nil: undefined })
          })
        ),
        { maxLength: 3 }
      )
    ),
    stop_reason: optionalString,
    usage: optional(
      record({
        input_tokens: count,
        output_tokens: count,
        cache_creation_input_tokens: count,
        cache_read_input_tokens: count
      })
    )
  })
)

describe("whole answers: the plain checks against their schemas", () => {
  it.prop("OpenAI: a completion the check accepts, the schema decodes to fields it already has", [openAiCompletion], ([value]) =>
    holdsTo(isCompletion, CompletionSchema)(value), { fastCheck: { numRuns } })

  it.prop("Anthropic: a message the check accepts, the schema decodes to fields it already has", [anthropicMessage], ([value]) =>
    holdsTo(isMessage, anthropicSchemas.MessageWire)(value), { fastCheck: { numRuns } })

  it("the answers the providers send take the fast path; malformed ones do not", () => {
    const completion = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1,
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello", refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 } },
      service_tier: "default",
      system_fingerprint: "fp"
    }
    expect(isCompletion(completion)).toBe(true)
    const toolCall = {
      id: "chatcmpl-2",
      choices: [{ message: { content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }] }, finish_reason: "tool_calls" }]
    }
    expect(isCompletion(toolCall)).toBe(true)
    for (const malformed of [null, [], { choices: {} }, { choices: [{}] }, { choices: [{ message: { content: 1 } }] }, { id: 1, choices: [] }, { choices: [], usage: { prompt_tokens: 1 } }]) {
      expect(isCompletion(malformed)).toBe(false)
    }
    const message = {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Hello" }, { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } }],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: "standard" }
    }
    expect(isMessage(message)).toBe(true)
    for (const malformed of [null, { content: {} }, { content: [{ text: "no type" }] }, { content: [], stop_reason: 1 }, { content: [], usage: { output_tokens: "9" } }]) {
      expect(isMessage(malformed)).toBe(false)
    }
  })
})
