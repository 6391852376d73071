/**
 * DESIGN.md's layers, checked on every import in `src`: a layer imports only
 * the layers below it (resilience knows nothing of LLMs; providers know
 * nothing of the router; the router knows nothing of observability, config
 * or the gateway). An import across the line fails here, with its file.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative, sep } from "node:path"

const src = join(import.meta.dirname, "..", "src")

/** What each layer (a folder of `src`) may import besides itself. */
const allowed: Record<string, ReadonlyArray<string>> = {
  llm: [],
  resilience: [],
  providers: ["llm", "resilience"],
  router: ["llm", "resilience", "providers"],
  state: ["resilience"],
  observability: ["llm", "resilience", "router"],
  config: ["llm", "resilience", "providers", "router", "state"],
  simulator: ["llm", "resilience", "providers", "router", "config", "state", "observability"],
  gateway: ["llm", "resilience", "router", "observability", "config"],
  testing: ["llm", "providers"],
  cli: ["llm", "resilience", "providers", "router", "observability", "config", "gateway", "simulator", "state"]
}

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** The relative modules a file imports: static, type-only, re-exports and dynamic. */
const importsOf = (text: string): Array<string> =>
  [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"(\.[^"]+)"/g)].map((match) => match[1]!)

const layerOf = (file: string): string => relative(src, file).split(sep)[0]!

describe("layers", () => {
  it("every import in src stays within its layer or goes to a layer below", () => {
    const crossings: Array<string> = []
    let checked = 0
    for (const file of files(src)) {
      const from = layerOf(file)
      if (from.endsWith(".ts")) continue // src/index.ts re-exports every layer
      for (const specifier of importsOf(readFileSync(file, "utf8"))) {
        checked++
        const to = layerOf(join(file, "..", specifier))
        if (to !== from && !allowed[from]?.includes(to)) crossings.push(`${relative(src, file)} imports ${specifier} (${from} -> ${to})`)
      }
    }
    expect(checked).toBeGreaterThan(400)
    expect(crossings).toEqual([])
  })

  it("the check sees a crossing", () => {
    expect(importsOf('import { x } from "../../observability/internal/tracing.js"\nexport * from "./a.js"')).toEqual([
      "../../observability/internal/tracing.js",
      "./a.js"
    ])
    expect(layerOf(join(src, "providers", "internal", "..", "..", "observability", "x.ts"))).toBe("observability")
  })
})
