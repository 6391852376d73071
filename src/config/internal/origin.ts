/**
 * A web page's origin as `gateway.cors` lists it, checked where the config
 * is read and where `Gateway` is built (this layer is the lower of the two).
 *
 * @internal
 */

// any scheme: an extension's page (`chrome-extension://<id>`, `moz-extension://<uuid>`) or an app's
// (`tauri://localhost`, `capacitor://localhost`) sends its own, and only "*" would take it otherwise
const originPattern = /^[a-z][a-z0-9+.-]*:\/\/(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/

/**
 * What is wrong with `origin`, or `undefined` when it is one a browser would
 * send (a scheme, any; a host; a port if not the default; no path, no
 * trailing slash) or `"*"`.
 *
 * @example
 * originProblem("https://app.example.com") // undefined
 * originProblem("https://app.example.com/") // "\"https://app.example.com/\" is not an origin: ..."
 *
 * @internal
 */
export const originProblem = (origin: string): string | undefined => {
  if (origin === "*" || originPattern.test(origin.toLowerCase())) return undefined
  const shown = origin.length > 100 ? `${origin.slice(0, 100)}…` : origin
  return `${JSON.stringify(shown)} is not an origin: write it as a browser sends it, a scheme, a host and a port if not the default ("https://app.example.com", "http://localhost:3000"), or "*" for any`
}
