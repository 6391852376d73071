/**
 * Access to V8's garbage collector without a command-line flag, so
 * `npm run bench` needs no `--expose-gc`: used to start every measured task
 * on a clean heap and to measure retained heap per object.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

const load = (): (() => void) => {
  setFlagsFromString("--expose-gc")
  const gc: unknown = runInNewContext("gc")
  if (typeof gc !== "function") throw new Error("could not expose the garbage collector")
  return () => {
    gc()
  }
}

/** A full, synchronous garbage collection. */
export const collect: () => void = load()

/**
 * Heap bytes retained per object: makes `count` objects with `make`, keeps
 * them all, collects, and divides the heap growth by `count`. Includes
 * everything each object keeps reachable.
 */
export const retainedBytes = async <A>(count: number, make: () => A | Promise<A>): Promise<number> => {
  const kept: Array<A> = new Array(count)
  collect()
  collect()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) kept[i] = await make()
  collect()
  collect()
  const after = process.memoryUsage().heapUsed
  // read `kept` after the measurement so it cannot be collected early
  if (kept.length !== count) throw new Error("unreachable")
  return (after - before) / count
}
