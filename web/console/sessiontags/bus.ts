/**
 * A tiny signal between the workbench's end button and the session-tag editor: when ending is
 * refused because a tag is required (SPEC §3.7), the editor of that conversation opens.
 */
import { reactive } from 'vue'

export const tagRequest = reactive({ conversationId: 0, nonce: 0 })

export function askForTags(conversationId: number): void {
  tagRequest.conversationId = conversationId
  tagRequest.nonce += 1
}
