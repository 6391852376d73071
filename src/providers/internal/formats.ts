/**
 * What an adapter does with a request for a JSON answer its model cannot
 * give.
 *
 * @internal
 */
import { honours, type ModelInfo } from "../../llm/ModelInfo.js"
import type { ChatRequest } from "../../llm/Chat.js"
import { InvalidRequest } from "../../llm/ProviderError.js"

/**
 * The error for a request asking a JSON answer its model cannot give (see
 * `ModelInfo.honours`): sent, it would come back as prose, or as the
 * provider's 400. The router never sends one; a direct caller gets this.
 *
 * @internal
 */
export const formatRefusal = (info: ModelInfo, request: ChatRequest): InvalidRequest | undefined =>
  honours(info, request)
    ? undefined
    : new InvalidRequest({
        provider: info.provider,
        model: info.model,
        message: `${info.provider}/${info.model} cannot answer in the response format '${request.responseFormat?.type}' (its responseFormats: ${JSON.stringify(info.responseFormats ?? [])})`
      })

