/**
 * Builds the `llm-failover` executable: `src/cli/bin.ts` and everything it
 * imports, bundled by esbuild into `dist/llm-failover.mjs` and the modules
 * it loads from `dist/llm-failover/`.
 *
 *   npx tsx scripts/bundle.ts [outfile] [entry]
 *
 * Why a bundle, when the library itself ships as the compiler's per-file
 * output: a long-running `serve` pays for every module it loads, for as long
 * as it runs. Loaded file by file, `effect`'s barrel evaluates every module
 * of the package, and the live heap of an idle gateway is 40 MB; bundled and
 * tree-shaken, 22 MB, and V8 grows the heap in proportion to what is live
 * (BENCHMARKS.md, "gateway").
 *
 * Why several modules, not one file: V8 compiles a module in one go, and the
 * memory a compile takes (its zone, from `malloc`) is as large as the
 * module. One 3.4 MB module left glibc's heap holding 26 MB after the
 * compile, fragmented, for the life of the process; the same code split at
 * a few of our own modules (`splitPoints`, each already imported by the
 * command line, so the split adds no code) compiles in pieces of about
 * 1 MB at most, and the heap holds 3 MB idle, 8 MB under load
 * (BENCHMARKS.md). A
 * module split off is one more file beside the entry, nothing else changes.
 *
 * What undici it takes: `scripts/undici-core.mjs` (the `Agent`, the request
 * API, the global dispatcher) in place of undici's CommonJS index, which a
 * bundler must take whole (fetch, WebSocket, cache, mocks). With ioredis
 * loaded only when a Redis server is configured (`src/state/Redis.ts`),
 * `serve` idles at 86 MB of RSS, not 95 (BENCHMARKS.md, the gateway's latest run).
 *
 * The bundle leaves out comments and whitespace, not names, so a stack trace
 * still reads; `--enable-source-maps` maps it back to `src/` through the
 * linked source maps.
 */
import { build, type Plugin } from "esbuild"
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs"
import { basename, dirname, extname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** Where `npm run build` and `npm start` put the executable. */
export const defaultOutfile = join(root, "dist", "llm-failover.mjs")

/**
 * Modules the bundle is split at, so no one module V8 compiles is large
 * (see above). Each is one of our own, imported by the command line anyway;
 * `bundle` leaves out those an entry does not import (a split point adds
 * the code of every export it has).
 */
export const splitPoints: ReadonlyArray<string> = [
  "src/llm/Chat.ts",
  "src/resilience/Retry.ts",
  "src/providers/UndiciHttpClient.ts",
  "src/config/Config.ts",
  "src/router/Router.ts",
  "src/gateway/Gateway.ts",
  "src/observability/Observability.ts"
]

/** undici's parts the executable uses, in place of its index (see the module's docs). */
export const undiciCore = join(root, "scripts", "undici-core.mjs")

/** Resolves every import of undici's index (ours, the platform's) to `undiciCore`; its own imports of undici's files stay. */
const narrowUndici: Plugin = {
  name: "narrow-undici",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({ path: undiciCore }))
  }
}

/**
 * Bundles the command line (or another entry, by its path from the
 * repository root: the benchmarks bundle their servers the same way) into
 * `outfile`, which imports the rest from a directory beside it named after
 * it (`llm-failover.mjs`: `llm-failover/`); source maps beside each file.
 * The build is made in a directory of its own and moved in once whole.
 * Returns `outfile`.
 *
 * @example
 * import { bundle } from "./bundle.js"
 *
 * const entry = await bundle("/tmp/llm-failover.mjs")
 * // node /tmp/llm-failover.mjs serve
 */
export const bundle = async (outfile: string = defaultOutfile, entry = "src/cli/bin.ts"): Promise<string> => {
  const extension = extname(outfile)
  if (extension === "") throw new Error(`bundle: the output file needs an extension (.mjs or .js): ${outfile}`)
  const name = basename(outfile, extension)
  const dir = dirname(outfile)
  const imported = await build({
    absWorkingDir: root,
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    metafile: true,
    plugins: [narrowUndici],
    logLevel: "silent"
  }).then((result) => new Set(Object.keys(result.metafile.inputs)))
  // built beside the output, then moved in: a failed build leaves the last one whole
  mkdirSync(dir, { recursive: true })
  const staging = mkdtempSync(join(dir, `.${name}-`))
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: [
        { in: join(root, entry), out: name },
        ...splitPoints
          .filter((point) => point !== entry && imported.has(point))
          .map((point) => ({ in: join(root, point), out: `${name}/${point.replace(/\.ts$/, "").replace(/[/.]/g, "-")}` }))
      ],
      outdir: staging,
      outExtension: { ".js": extension },
      chunkNames: `${name}/[name]-[hash]`,
      bundle: true,
      splitting: true,
      platform: "node",
      format: "esm",
      target: "node20",
      minifyWhitespace: true,
      minifySyntax: true,
      // the licence comments of what is bundled, in a file beside each module
      legalComments: "external",
      sourcemap: "linked",
      sourcesContent: false,
      // some bundled CommonJS packages `require` Node's modules, which an ES module cannot do by itself
      banner: { js: `import { createRequire as __createRequire } from "node:module";const require = __createRequire(import.meta.url);` },
      plugins: [narrowUndici],
      logLevel: "warning"
    })
    // a warning (an import that will always be undefined, say) fails the build: such a bundle is not shipped
    if (result.warnings.length > 0) throw new Error(`bundle: esbuild warned ${result.warnings.length} time(s) (above)`)
    // the modules of the last build go (their names hold a hash of their content), the new ones come in
    rmSync(join(dir, name), { recursive: true, force: true })
    for (const file of readdirSync(staging)) renameSync(join(staging, file), join(dir, file))
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return outfile
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const entry = process.argv[3]
  const outfile = await bundle(process.argv[2], entry)
  console.log(`bundled ${entry ?? "the command line"} into ${outfile}`)
}
