/** The types of `undici-core.mjs`: undici's own. */
import { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici"

export { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher }

declare const core: {
  readonly Agent: typeof Agent
  readonly Dispatcher: typeof Dispatcher
  readonly getGlobalDispatcher: typeof getGlobalDispatcher
  readonly setGlobalDispatcher: typeof setGlobalDispatcher
}
export default core
