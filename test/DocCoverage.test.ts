/**
 * Every public export of `src/` has a doc comment with an `@example` (the
 * project's standard; `DocExamples.test.ts` type-checks the examples).
 *
 * Public means declared with `export` in a module outside the `internal/`
 * folders: a `const`, `let`, `function`, `class`, `interface`, `type`,
 * `enum` or `namespace`, and the same inside an exported namespace.
 * Re-exports (`export * as X from`) document nothing of their own. The doc
 * comment is the last comment before the declaration, and starts with
 * `/**`; overloads of a function share the first one's.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")

/** The `.ts` modules under `dir`, `internal/` folders left out. */
const sources = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "internal" ? [] : sources(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })

interface Declaration {
  /** `Namespace.name` inside a namespace. */
  readonly name: string
  /** 1-based. */
  readonly line: number
  readonly hasExample: boolean
}

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)

/** The names a statement declares (a variable statement may declare several, or destructure). */
const namesOf = (statement: ts.Statement): ReadonlyArray<string> => {
  if (ts.isVariableStatement(statement)) {
    const bound = (name: ts.BindingName): ReadonlyArray<string> =>
      ts.isIdentifier(name)
        ? [name.text]
        : name.elements.flatMap((element) => (ts.isOmittedExpression(element) ? [] : bound(element.name)))
    return statement.declarationList.declarations.flatMap((declaration) => bound(declaration.name))
  }
  if (
    ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) ||
    ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)
  ) {
    return statement.name === undefined ? [] : [statement.name.text]
  }
  return []
}

/** The doc comment right before `node`: its last leading comment, if that one is a `/** ... *\/`. */
const docOf = (text: string, node: ts.Node): string | undefined => {
  const last = ts.getLeadingCommentRanges(text, node.getFullStart())?.at(-1)
  if (last === undefined || last.kind !== ts.SyntaxKind.MultiLineCommentTrivia) return undefined
  const comment = text.slice(last.pos, last.end)
  return comment.startsWith("/**") ? comment : undefined
}

const hasExampleTag = (doc: string | undefined): boolean => doc !== undefined && /(?:^|[\s*])@example\b/m.test(doc)

/** The exported declarations of a module's text, namespaces' members included. */
const declarationsOf = (fileName: string, text: string): ReadonlyArray<Declaration> => {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const found: Array<Declaration> = []
  const visit = (statements: ts.NodeArray<ts.Statement>, prefix: string) => {
    const seen = new Set<string>()
    for (const statement of statements) {
      if (!isExported(statement)) continue
      // overloads: the first signature carries the doc
      const overload = ts.isFunctionDeclaration(statement) && statement.name !== undefined && seen.has(statement.name.text)
      const hasExample = hasExampleTag(docOf(text, statement))
      for (const name of namesOf(statement)) {
        seen.add(name)
        if (overload) continue
        const line = source.getLineAndCharacterOfPosition(statement.getStart(source)).line + 1
        found.push({ name: `${prefix}${name}`, line, hasExample })
      }
      if (ts.isModuleDeclaration(statement) && statement.body !== undefined && ts.isModuleBlock(statement.body)) {
        visit(statement.body.statements, `${prefix}${statement.name.text}.`)
      }
    }
  }
  visit(source.statements, "")
  return found
}

const declarations = sources(join(root, "src"))
  .slice()
  .sort()
  .flatMap((file) =>
    declarationsOf(file, readFileSync(file, "utf8")).map((d) => ({ ...d, where: `${relative(root, file)}:${d.line} ${d.name}` }))
  )

describe("doc coverage", () => {
  it("finds the exports of every public module", () => {
    expect(declarations.length).toBeGreaterThan(400)
    for (const folder of ["llm", "resilience", "providers", "router", "testing", "gateway", "config", "simulator", "observability", "state"]) {
      expect(declarations.some((d) => d.where.startsWith(`src/${folder}/`))).toBe(true)
    }
  })

  it("tells an export with an example from one without", () => {
    const text = [
      "/**",
      " * Documented.",
      " *",
      " * @example",
      " * const x = shown",
      " *",
      " * @since 0.1.0",
      " */",
      "export const shown = 1",
      "",
      "/** Documented, no example. */",
      "export interface Bare {}",
      "",
      "/**",
      " * @example",
      " * Ns.inner",
      " */",
      "export namespace Ns {",
      "  export const inner = 1",
      "}",
      "/** @example f(1) */",
      "export function f(a: number): number",
      "export function f(a: string): string",
      "export function f(a: unknown) { return a }",
      "const hidden = 2",
      "export * as Other from \"./Other.js\""
    ].join("\n")
    expect(declarationsOf("Sample.ts", text).map((d) => `${d.name} ${d.hasExample}`)).toEqual([
      "shown true",
      "Bare false",
      "Ns true",
      "Ns.inner false",
      "f true"
    ])
  })

  it("every public export has a doc comment with an @example", () => {
    const missing = declarations.filter((d) => !d.hasExample).map((d) => d.where)
    expect(missing).toEqual([])
  })
})
