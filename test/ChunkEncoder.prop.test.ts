/**
 * The gateway's stream events (`ChunkEncoder`), written from strings made
 * once a stream, against `JSON.stringify` of each whole chunk object (the
 * encoder as it was before): byte for byte the same, over streams of every
 * kind of chunk, with text, ids and models of any characters (quotes,
 * backslashes, control characters, lone high and low surrogates), creation
 * times of any number (NaN, infinities, -0 and fractions too), with and
 * without the usage the client asked for.
 */
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, FastCheck } from "effect"
import { ChatChunk, Usage } from "../src/llm/Chat.js"
import { ChunkEncoder, finishReason, sseDone, sseEvent, usageJson } from "../src/gateway/internal/response.js"

/** The events as whole objects, stringified: the reference the encoder must match. */
const reference = (id: string, created: number, model: string, includeUsage: boolean) => {
  let finished = false
  let toolCalls = false
  const event = (choices: ReadonlyArray<unknown>, usage: Usage | null = null) =>
    sseEvent({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage: usage === null ? null : usageJson(usage) } : {})
    })
  const delta = (value: unknown, finish: string | null = null) =>
    event([{ index: 0, delta: value, logprobs: null, finish_reason: finish }])
  return {
    start: () => delta({ role: "assistant", content: "", refusal: null }),
    chunk: (chunk: ChatChunk): string | undefined => {
      switch (chunk._tag) {
        case "TextDelta":
          return chunk.text.length === 0 ? undefined : delta({ content: chunk.text })
        case "ToolCallDelta": {
          toolCalls = true
          const first = chunk.id !== undefined || chunk.name !== undefined
          return delta({
            tool_calls: [
              {
                index: chunk.index,
                ...(chunk.id !== undefined ? { id: chunk.id } : {}),
                ...(first ? { type: "function" } : {}),
                function: { ...(chunk.name !== undefined ? { name: chunk.name } : {}), arguments: chunk.arguments },
                ...(chunk.signature !== undefined ? { extra_content: { google: { thought_signature: chunk.signature } } } : {})
              }
            ]
          })
        }
        case "Finish":
          if (finished) return undefined
          finished = true
          return delta({}, finishReason(chunk.reason, toolCalls))
        case "Usage":
          return undefined
      }
    },
    end: (usage: Usage) => {
      let out = ""
      if (!finished) {
        finished = true
        out += delta({}, toolCalls ? "tool_calls" : "stop")
      }
      if (includeUsage) out += event([], usage)
      return out + sseDone
    }
  }
}

/** Any string of code points, or one of the characters JSON escapes and lone surrogates (which no code point string holds). */
const text = FastCheck.oneof(
  FastCheck.string({ unit: "binary" }),
  FastCheck.string({
    unit: FastCheck.constantFrom('"', "\\", "\n", "\u0000", "\u001f", "\u2028", "é", "😀", "\ud800", "\udc00", "a", " ")
  })
)

const chunk = FastCheck.oneof(
  Arbitrary.make(ChatChunk),
  text.map((t): ChatChunk => ({ _tag: "TextDelta", text: t }))
)

describe("ChunkEncoder", () => {
  it("writes each event as JSON.stringify writes the whole chunk", () => {
    FastCheck.assert(
      FastCheck.property(
        text,
        FastCheck.oneof(FastCheck.nat(), FastCheck.integer(), FastCheck.double(), FastCheck.constant(1_764_979_200)),
        text,
        FastCheck.boolean(),
        FastCheck.array(chunk, { maxLength: 12 }),
        Arbitrary.make(Usage),
        (id, created, model, includeUsage, chunks, usage) => {
          const encoder = new ChunkEncoder(id, created, model, includeUsage)
          const expected = reference(id, created, model, includeUsage)
          expect(encoder.start()).toBe(expected.start())
          for (const c of chunks) expect(encoder.chunk(c)).toBe(expected.chunk(c))
          expect(encoder.end(usage)).toBe(expected.end(usage))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("writes events whose data is JSON, one event each", () => {
    const encoder = new ChunkEncoder('chatcmpl-"1"', 7, "gpt\n4o", true)
    const events = [encoder.start(), encoder.chunk({ _tag: "TextDelta", text: 'say "hi"\n' })!, encoder.end({ inputTokens: 3, outputTokens: 2 })]
      .join("")
      .split("\n\n")
      .filter((event) => event !== "")
    expect(events.map((event) => event.startsWith("data: "))).toEqual([true, true, true, true, true])
    const data = events.slice(0, -1).map((event) => JSON.parse(event.slice(6)))
    expect(data[1]).toEqual({
      id: 'chatcmpl-"1"',
      object: "chat.completion.chunk",
      created: 7,
      model: "gpt\n4o",
      system_fingerprint: null,
      choices: [{ index: 0, delta: { content: 'say "hi"\n' }, logprobs: null, finish_reason: null }],
      usage: null
    })
    expect(data[3].usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
    expect(events.at(-1)).toBe("data: [DONE]")
  })
})
