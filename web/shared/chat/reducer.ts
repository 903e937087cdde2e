/**
 * Pure state changes of the chat client: merging messages in seq order and applying
 * conversation events once each (docs/protocol.md "Ordered").
 */
import type { ConvState, Conversation, EventFrame, Message } from './types'

export function newConvState(conv: Conversation, lastSeq = conv.seq): ConvState {
  return {
    id: conv.id,
    conv,
    messages: [],
    outbox: [],
    lastSeq,
    readSeq: 0,
    loaded: 'no',
    hasOlder: false,
    prior: [],
    priorState: 'idle',
    typing: '',
    fresh: false,
    transferred: false,
    ended: false,
    endedBy: '',
    movedTo: '',
  }
}

/** Insert or replace messages by seq, keeping seq order; returns the same array (mutated). */
export function mergeMessages(list: Message[], incoming: readonly Message[]): Message[] {
  for (const m of incoming) {
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid].seq < m.seq) lo = mid + 1
      else hi = mid
    }
    if (lo < list.length && list[lo].seq === m.seq) list.splice(lo, 1, m)
    else list.splice(lo, 0, m)
  }
  return list
}

/** The preview of a message for the list, by kind (text keeps its text; others a label). */
export function lastMessageOf(m: Message): Conversation['last_message'] {
  const text = typeof m.body.text === 'string' ? m.body.text : ''
  return {
    kind: m.kind,
    preview: m.kind === 'text' || m.kind === 'system' ? text.slice(0, 100) : '',
    at: m.created_at,
    sender_type: m.sender.type,
  }
}

export type EventOutcome =
  | { kind: 'duplicate' }
  | { kind: 'message'; message: Message; gap: boolean }
  | { kind: 'recalled'; messageId: number; gap: boolean }
  | {
      kind: 'assigned'
      conversation: Conversation
      agentId: number | null
      agentName: string
      /** `transferred_in`, `assigned` or `picked` (empty from older servers). */
      reason: string
      gap: boolean
    }
  | { kind: 'queued'; group: string; gap: boolean }
  | { kind: 'ended'; conversation: Conversation | null; by: string; gap: boolean }
  | { kind: 'other'; gap: boolean }

/**
 * Apply one `event` frame to a conversation. Events at or below `lastSeq` are ignored; a
 * `gap` says that seqs were skipped (the caller may reload to be safe).
 */
export function applyEvent(state: ConvState, frame: EventFrame): EventOutcome {
  if (frame.seq <= state.lastSeq) return { kind: 'duplicate' }
  const gap = frame.seq > state.lastSeq + 1 && state.loaded === 'yes'
  state.lastSeq = frame.seq
  const data = frame.data ?? {}
  const conv = data.conversation as Conversation | undefined
  if (conv && typeof conv === 'object') {
    // Keep the local unread counter: the server's copy was taken for someone else's view.
    state.conv = { ...conv, unread: state.conv.unread, last_message: conv.last_message ?? state.conv.last_message }
  }
  state.conv.seq = Math.max(state.conv.seq, frame.seq)
  switch (frame.name) {
    case 'message.created': {
      const message = data.message as Message
      if (!message) return { kind: 'other', gap }
      mergeMessages(state.messages, [message])
      if (message.client_msg_id) {
        const i = state.outbox.findIndex((o) => o.client_msg_id === message.client_msg_id)
        if (i >= 0 && message.sender.type === 'agent') state.outbox.splice(i, 1)
      }
      if (!message.whisper) state.conv.last_message = lastMessageOf(message)
      return { kind: 'message', message, gap }
    }
    case 'message.recalled': {
      const full = data.message as Message | undefined
      const id = typeof data.message_id === 'number' ? data.message_id : full?.id
      if (typeof id !== 'number') return { kind: 'other', gap }
      markRecalled(state, id, full)
      return { kind: 'recalled', messageId: id, gap }
    }
    case 'conversation.assigned': {
      const agent = data.agent as { id: number; nickname?: string } | null | undefined
      return {
        kind: 'assigned',
        conversation: state.conv,
        agentId: agent?.id ?? conv?.agent?.id ?? null,
        agentName: agent?.nickname ?? conv?.agent?.nickname ?? '',
        reason: typeof data.reason === 'string' ? data.reason : '',
        gap,
      }
    }
    case 'conversation.queued': {
      // Transferred to a skill group whose agents are all occupied: back in the group's queue.
      const group = data.skill_group as { name?: string } | null | undefined
      return { kind: 'queued', group: group?.name ?? '', gap }
    }
    case 'conversation.ended': {
      state.ended = true
      state.endedBy = typeof data.by === 'string' ? data.by : ''
      state.typing = ''
      return { kind: 'ended', conversation: conv ?? null, by: state.endedBy, gap }
    }
    default:
      return { kind: 'other', gap }
  }
}

export function markRecalled(state: ConvState, id: number, full?: Message): void {
  for (const list of [state.messages, state.prior]) {
    const i = list.findIndex((m) => m.id === id)
    if (i >= 0) list.splice(i, 1, full ? { ...full, recalled: true } : { ...list[i], recalled: true })
  }
}
