/**
 * Agent no-reply (§7): my conversations whose visitor waits too long for a reply. The list
 * pins them on top with a colour mark until I answer. Loaded once, kept live from the staff-only
 * `conversation.agent_overdue` event, and re-read after every reconnect.
 */
import { onMounted, onUnmounted, reactive } from 'vue'
import { api, unwrap } from '@shared/api'
import { realtime } from '@shared/realtime'

export interface Overdue {
  has(id: number): boolean
  /** Overdue ones first (longest waiting first), the others in their order. */
  pin<T extends { id: number }>(list: T[]): T[]
}

export function useOverdue(): Overdue {
  const since = reactive(new Map<number, string>())

  async function load(): Promise<void> {
    try {
      const rows = await unwrap(api.GET('/api/v1/automations/overdue'))
      since.clear()
      for (const r of rows) since.set(r.conversation_id, r.agent_overdue_at)
    } catch {
      /* keep what we have; the next event or reconnect fixes it */
    }
  }

  let off: (() => void)[] = []
  onMounted(() => {
    void load()
    off = [
      realtime.subscribe((frame) => {
        if (frame.type !== 'event') return
        const id = frame.conversation_id
        if (typeof id !== 'number') return
        const data = (frame.data ?? {}) as Record<string, unknown>
        if (frame.name === 'conversation.agent_overdue') {
          if (typeof data.agent_overdue_at === 'string') since.set(id, data.agent_overdue_at)
          else since.delete(id)
        } else if (frame.name === 'conversation.ended') {
          since.delete(id)
        }
      }),
      realtime.onConnection((state) => {
        if (state === 'open') void load()
      }),
    ]
  })
  onUnmounted(() => off.forEach((fn) => fn()))

  return {
    has: (id) => since.has(id),
    pin(list) {
      if (!since.size) return list
      const late = list.filter((c) => since.has(c.id))
      late.sort((a, b) => (since.get(a.id) ?? '').localeCompare(since.get(b.id) ?? ''))
      return [...late, ...list.filter((c) => !since.has(c.id))]
    },
  }
}
