/**
 * A TypeScript program over snippets written to files (doc examples, the
 * README's code), type-checked as a user's code would be against this
 * package: the project's options, the package's names mapped to `src`.
 */
import { join } from "node:path"
import ts from "typescript"

/** The program over `files`, with the project's `tsconfig.json` but for where files are (rootDir, outDir) and unused names. */
export const snippetProgram = (root: string, files: ReadonlyArray<string>): ts.Program => {
  const project = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile)
  const { options: { rootDir: _rootDir, outDir: _outDir, ...options } } = ts.parseJsonConfigFileContent(project.config, ts.sys, root)
  return ts.createProgram([...files], {
    ...options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: {
      "effect-llm-failover": [join(root, "src/index.ts")],
      "effect-llm-failover/*": [join(root, "src/*/index.ts")]
    }
  })
}
