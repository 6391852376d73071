/**
 * Loads this project's modules as they ship: emitted by the TypeScript
 * compiler, not transformed on the fly by tsx.
 *
 * Why: tsx runs esbuild with `keepNames`, which wraps every function
 * expression in `__name(fn, "name")`, an `Object.defineProperty` call each
 * time the expression is evaluated. Code that builds closures per call (as
 * combinators do) would pay for that under `tsx` and never in production,
 * while the libraries we compare against load untransformed from
 * node_modules. So a suite imports `src/` through `importCompiled`, which
 * emits every `src/**\/*.ts` file with the compiler's own per-file emitter
 * (`transpileModule`, the JavaScript `npm run build` would write, without
 * type-checking) into `.bench-tmp/dist-<pid>/` (gitignored; one directory
 * per process, so concurrent runs cannot delete each other's modules,
 * removed when the process exits) and imports from there.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { pathToFileURL } from "node:url"
import ts from "typescript"
import { bundle } from "../../scripts/bundle.js"
import { root } from "./machine.js"

const outDir = join(root, ".bench-tmp", `dist-${process.pid}`)

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : []
  })

const compilerOptions = (): ts.CompilerOptions => {
  const configPath = join(root, "tsconfig.json")
  const config = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path))
  if (config.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"))
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  return {
    ...parsed.options,
    // every file is ESM ("type": "module"); say so, as a lone file cannot tell
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false
  }
}

let emitted = false
let removing = false

/** Removes `outDir` when this process exits (registered once). */
const removeAtExit = (): void => {
  if (removing) return
  process.once("exit", () => rmSync(outDir, { recursive: true, force: true }))
  removing = true
}

let options: ts.CompilerOptions | undefined

/** Emits one file, by its absolute path, to the same place under `outDir`; returns where. */
const emitFile = (file: string): string => {
  options ??= compilerOptions()
  const output = ts.transpileModule(readFileSync(file, "utf8"), { compilerOptions: options, fileName: file })
  const target = join(outDir, relative(root, file)).replace(/\.ts$/, ".js")
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, output.outputText)
  return target
}

/** Emits every file under `src/` to `<outDir>/src/` (once per process). */
const emit = (): void => {
  if (emitted) return
  removeAtExit()
  for (const file of sources(join(root, "src"))) emitFile(file)
  emitted = true
}

/**
 * Imports a module of this project, compiled, by its path from the
 * repository root (`"src/resilience/index.ts"`). Type it with the source:
 * `await importCompiled<typeof import("../src/resilience/index.js")>(...)`.
 */
export const importCompiled = async <Module>(sourcePath: string): Promise<Module> => {
  emit()
  const target = join(outDir, sourcePath.replace(/\.ts$/, ".js"))
  const loaded: unknown = await import(pathToFileURL(target).href)
  return loaded as Module
}

/**
 * The path of a module of this project, compiled, to run in a child process
 * (`node <path>`): every `src/` file is emitted first, and `sourcePath`
 * (from the repository root) too when it lies elsewhere, e.g. a server
 * entry under `bench/lib/servers/`, whose relative imports of `src/` then
 * resolve inside the same compiled tree. The tree is removed when this
 * process exits, so stop the children first.
 */
export const compiledPath = (sourcePath: string): string => {
  emit()
  return sourcePath.startsWith("src/") ? join(outDir, sourcePath.replace(/\.ts$/, ".js")) : emitFile(join(root, sourcePath))
}

/**
 * An entry (by its path from the repository root) bundled as the
 * executable ships (`scripts/bundle.ts`, what `npm run build` and
 * `npm start` run): `src/cli/bin.ts` is `llm-failover` itself. Bundled
 * into the same per-process directory, removed when this process exits.
 */
export const bundledPath = async (sourcePath: string): Promise<string> => {
  removeAtExit()
  return bundle(join(outDir, "bundled", sourcePath.replace(/\.ts$/, ".mjs")), sourcePath)
}
