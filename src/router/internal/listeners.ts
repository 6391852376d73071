/**
 * The router's listener lists.
 *
 * @internal
 */

/**
 * `listeners` without one registration of `listener` (the latest): a
 * listener added twice, in two scopes, stays for the other. A new array,
 * as an emit in progress keeps the one it started with.
 *
 * @internal
 */
export const withoutOne = <L>(listeners: ReadonlyArray<L>, listener: L): ReadonlyArray<L> => {
  const at = listeners.lastIndexOf(listener)
  return at < 0 ? listeners : [...listeners.slice(0, at), ...listeners.slice(at + 1)]
}
