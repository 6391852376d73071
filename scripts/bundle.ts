/**
 * Builds the `llm-failover` executable: `src/cli/bin.ts` and everything it
 * imports, bundled by esbuild into one file, `dist/llm-failover.mjs`.
 *
 *   npx tsx scripts/bundle.ts [outfile]
 *
 * Why a bundle, when the library itself ships as the compiler's per-file
 * output: a long-running `serve` pays for every module it loads, for as long
 * as it runs. Loaded file by file, `effect`'s barrel evaluates every module
 * of the package, and the live heap of an idle gateway is 40 MB; bundled and
 * tree-shaken, 22 MB, and V8 grows the heap in proportion to what is live
 * (BENCHMARKS.md, "gateway"). The bundle leaves out comments and whitespace,
 * not names, so a stack trace still reads; `--enable-source-maps` maps it
 * back to `src/` through the linked source map.
 */
import { build } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** Where `npm run build` and `npm start` put the executable. */
export const defaultOutfile = join(root, "dist", "llm-failover.mjs")

/**
 * Bundles the command line (or another entry, by its path from the
 * repository root: the benchmarks bundle their servers the same way) into
 * `outfile`, its source map beside it.
 *
 * @example
 * import { bundle } from "./bundle.js"
 *
 * await bundle("/tmp/llm-failover.mjs")
 */
export const bundle = async (outfile: string = defaultOutfile, entry = "src/cli/bin.ts"): Promise<string> => {
  await build({
    absWorkingDir: root,
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minifyWhitespace: true,
    minifySyntax: true,
    // the licence comments of what is bundled, in a file beside it
    legalComments: "external",
    sourcemap: "linked",
    sourcesContent: false,
    // some bundled CommonJS packages `require` Node's modules, which an ES module cannot do by itself
    banner: { js: `import { createRequire as __createRequire } from "node:module";const require = __createRequire(import.meta.url);` },
    logLevel: "warning"
  })
  return outfile
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outfile = await bundle(process.argv[2])
  console.log(`bundled the command line into ${outfile}`)
}
