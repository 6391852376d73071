/**
 * Every `@example` of a doc comment in `src/` type-checks, as a user would
 * write it: each is a module of its own in a temporary directory, importing
 * from the package's paths (`effect-llm-failover/llm`, mapped to `src/` by
 * `paths`), compiled in one program with the project's strictness (unused
 * locals and parameters aside: an example may declare what it shows).
 * Placeholders are `declare const`. An example in an `internal/` module
 * (hidden from the package's exports) calls that module's exports by name,
 * so it gets them imported.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import ts from "typescript"
import { afterAll, describe, expect, it } from "vitest"
import { snippetProgram } from "./support/typecheck.js"

const root = join(import.meta.dirname, "..")

interface Example {
  /** `src/llm/Chat.ts:42 prompt`: where it is and what it documents. */
  readonly name: string
  readonly file: string
  /** The line of the example's first code line in its source file, from 1. */
  readonly line: number
  readonly code: string
}

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? sources(path) : entry.name.endsWith(".ts") ? [path] : []
  })

/** What a doc comment documents: the name declared after it. */
const declared = /^\s*export\s+(?:declare\s+)?(?:const|let|function\*?|class|interface|type|namespace|abstract\s+class)\s+([A-Za-z_$][\w$]*)/

/**
 * The examples of a file: in each doc comment, the lines after `@example` up
 * to the next tag (or inside a ```ts fence when it has one).
 */
const examplesOf = (file: string): ReadonlyArray<Example> => {
  const lines = readFileSync(file, "utf8").split("\n")
  const found: Array<Example> = []
  let comment: Array<{ readonly text: string; readonly line: number }> | undefined
  lines.forEach((raw, index) => {
    if (comment === undefined) {
      if (/^\s*\/\*\*/.test(raw) && !raw.includes("*/")) comment = []
      return
    }
    if (/^\s*\*\//.test(raw)) {
      const after = lines.slice(index + 1).find((l) => l.trim().length > 0) ?? ""
      const name = declared.exec(after)?.[1] ?? "(module)"
      for (const example of split(comment)) {
        found.push({ name: `${relative(root, file)}:${example.line} ${name}`, file, line: example.line, code: example.code })
      }
      comment = undefined
      return
    }
    comment.push({ text: raw.replace(/^\s*\* ?/, ""), line: index + 1 })
  })
  return found
}

const split = (
  comment: ReadonlyArray<{ readonly text: string; readonly line: number }>
): ReadonlyArray<{ readonly line: number; readonly code: string }> => {
  const out: Array<{ readonly line: number; readonly code: string }> = []
  comment.forEach((entry, i) => {
    if (entry.text.trim() !== "@example") return
    let body = comment.slice(i + 1)
    const end = body.findIndex((l) => /^@\w/.test(l.text))
    if (end >= 0) body = body.slice(0, end)
    const fence = body.findIndex((l) => /^```/.test(l.text.trim()))
    if (fence >= 0 && body.slice(0, fence).every((l) => l.text.trim() === "")) {
      const close = body.findIndex((l, j) => j > fence && /^```\s*$/.test(l.text.trim()))
      body = body.slice(fence + 1, close < 0 ? undefined : close)
    }
    while (body.length > 0 && body[0]!.text.trim() === "") body = body.slice(1)
    while (body.length > 0 && body[body.length - 1]!.text.trim() === "") body = body.slice(0, -1)
    if (body.length > 0) out.push({ line: body[0]!.line, code: body.map((l) => l.text).join("\n") })
  })
  return out
}

/** The names a module exports, for an internal module's examples, which call them bare. */
const exportedNames = (file: string): ReadonlyArray<string> =>
  [...readFileSync(file, "utf8").matchAll(/^export\s+(?:const|function\*?|class)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]!)

const examples: ReadonlyArray<Example> = sources(join(root, "src"))
  .sort()
  .flatMap(examplesOf)

const directory = mkdtempSync(join(tmpdir(), "doc-examples-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

/** Writes the examples as modules and type-checks them in one program: the diagnostics of each. */
const check = (): ReadonlyMap<string, ReadonlyArray<string>> => {
  // ES modules that find the project's dependencies
  writeFileSync(join(directory, "package.json"), JSON.stringify({ type: "module" }))
  symlinkSync(join(root, "node_modules"), join(directory, "node_modules"), "dir")
  mkdirSync(join(directory, "examples"))
  const byFile = new Map<string, Example>()
  const prelude = new Map<string, number>()
  examples.forEach((example, i) => {
    const path = join(directory, "examples", `example${i}.ts`)
    const internal = relative(root, example.file).split("/").includes("internal")
    const hasImport = /^\s*import\s/m.test(example.code)
    const head = internal && !hasImport
      ? `import { ${exportedNames(example.file).join(", ")} } from ${JSON.stringify(example.file.replace(/\.ts$/, ".js"))}\n`
      : ""
    prelude.set(path, head.length === 0 ? 0 : 1)
    writeFileSync(path, `${head}${example.code}\nexport {}\n`)
    byFile.set(path, example)
  })
  const program = snippetProgram(root, [...byFile.keys()])
  const found = new Map<string, Array<string>>()
  // the examples' diagnostics only: the sources they import are checked by `npm run typecheck`, and
  // asking for theirs would check the whole of src again
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[...byFile.keys()].flatMap((path) => {
      const source = program.getSourceFile(path)!
      return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    })
  ]
  for (const diagnostic of diagnostics) {
    const file = diagnostic.file?.fileName
    const example = file === undefined ? undefined : byFile.get(file)
    const key = example?.name ?? file ?? "(program)"
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    let where = ""
    if (diagnostic.file !== undefined && diagnostic.start !== undefined) {
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
      const offset = example === undefined ? line + 1 : example.line + line - (prelude.get(file!) ?? 0)
      where = `line ${offset}, column ${character + 1}: `
    }
    found.set(key, [...(found.get(key) ?? []), `${where}${text}`])
  }
  return found
}

describe("doc examples", () => {
  it("finds the examples of every public module", () => {
    expect(examples.length).toBeGreaterThan(200)
    for (const folder of ["llm", "resilience", "providers", "router", "testing", "gateway", "config", "simulator"]) {
      expect(examples.some((e) => e.name.startsWith(`src/${folder}/`))).toBe(true)
    }
  })

  it("every @example in src type-checks with the project's strictness", () => {
    // one program for all of them: about 11 s on one idle core
    const broken = check()
    const report = [...broken].map(([name, problems]) => `${name}\n  ${problems.join("\n  ")}`)
    expect(report).toEqual([])
  }, 120_000)
})
