/**
 * What the executable takes of undici, in place of its index (see
 * `scripts/bundle.ts`): the `Agent` the gateway's HTTP client sends with,
 * the request API on every dispatcher, and the global dispatcher that
 * `@effect/platform-node`'s undici client would use.
 *
 * undici's index is CommonJS, so a bundler cannot leave out what nobody
 * uses: bundled whole, it loads its fetch, WebSocket, cache, mock and proxy
 * code into every `serve` (720 KB of source, about 3 MB of RSS idle). This
 * module does what the index does for the parts it exports (the request API
 * assigned onto `Dispatcher.prototype`, the global dispatcher set up by
 * `lib/global.js`) and nothing else. A bundled module's named import of a
 * name this one lacks fails the build; the names the platform reads through
 * a namespace import (which esbuild does not check) are held to this
 * module's exports by `test/UndiciCore.test.ts`.
 */
import Agent from "undici/lib/dispatcher/agent.js"
import Dispatcher from "undici/lib/dispatcher/dispatcher.js"
import api from "undici/lib/api/index.js"
import global from "undici/lib/global.js"

Object.assign(Dispatcher.prototype, api)

export { Agent, Dispatcher }
export const getGlobalDispatcher = global.getGlobalDispatcher
export const setGlobalDispatcher = global.setGlobalDispatcher

export default { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher }
