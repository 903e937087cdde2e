/**
 * The message center's shared state: the unread count the top-bar bell shows (kept live from
 * `notification.created` frames and re-read after every reconnect) and how a notice reads.
 */
import { ref } from 'vue'
import { api, unwrap } from '@shared/api'
import type { Notice } from '@shared/api'
import { realtime } from '@shared/realtime'
import type { AccountEvent } from '@shared/realtime'
import { cannedNoticeText, cannedNoticeTitle } from '../canned/notices'
import { BLACKLIST_KINDS, blacklistNoticeText, blacklistNoticeTitle } from '../blacklist/notices'
import { EXPORT_KINDS, exportNoticeText, exportNoticeTitle } from '../exports/notices'
import { LEAVE_KINDS, leaveNoticeText, leaveNoticeTitle } from '../leave/notices'
import { TAG_NOTICE_KINDS, tagNoticeText, tagNoticeTitle } from '../sessiontags/notices'

export const unreadCount = ref(0)

export async function refreshUnread(): Promise<void> {
  try {
    unreadCount.value = (await unwrap(api.GET('/api/v1/notifications/unread-count'))).unread
  } catch {
    /* keep the last count; the next reconnect or page visit re-reads it */
  }
}

export function noticeOf(frame: AccountEvent): Notice | null {
  if (frame.type !== 'notification.created') return null
  const n = frame.notification as Notice | undefined
  return n && typeof n.id === 'number' ? n : null
}

/** Listen to new notices on the console's socket; returns the unsubscribe function. */
export function onNotice(fn: (n: Notice) => void): () => void {
  return realtime.subscribe((frame) => {
    const n = noticeOf(frame)
    if (n) fn(n)
  })
}

type T = (key: string, params?: Record<string, unknown>) => string

const KNOWN = new Set<string>([
  'max_concurrent_changed',
  'status_change_requested',
  'status_change_decided',
  'queue_overflow',
  'queue_cap',
  'announcement_received',
  'announcement_published',
  'permissions_changed',
] satisfies Notice['kind'][])

function kindKey(n: Notice): string {
  return KNOWN.has(n.kind) ? n.kind : 'unknown'
}

/** The notice's title in the reader's language. */
export function noticeTitle(n: Notice, t: T): string {
  if (n.kind === 'conversation_auto_ended') return t('automations.notice.title')
  if (TAG_NOTICE_KINDS.includes(n.kind)) return tagNoticeTitle(n, t)
  if (n.kind === 'canned_submission_requested' || n.kind === 'canned_submission_decided') return cannedNoticeTitle(n, t)
  if (BLACKLIST_KINDS.has(n.kind)) return blacklistNoticeTitle(n, t)
  if (EXPORT_KINDS.has(n.kind)) return exportNoticeTitle(n, t)
  if (LEAVE_KINDS.has(n.kind)) return leaveNoticeTitle(n, t)
  return t(`messages.kinds.${kindKey(n)}.title`)
}

/** The notice's sentence in the reader's language, from its kind and parameters. */
export function noticeText(n: Notice, t: T): string {
  const d = n.data ?? {}
  if (TAG_NOTICE_KINDS.includes(n.kind)) return tagNoticeText(n, t)
  if (n.kind === 'canned_submission_requested' || n.kind === 'canned_submission_decided') return cannedNoticeText(n, t)
  if (BLACKLIST_KINDS.has(n.kind)) return blacklistNoticeText(n, t)
  if (EXPORT_KINDS.has(n.kind)) return exportNoticeText(n, t)
  if (LEAVE_KINDS.has(n.kind)) return leaveNoticeText(n, t)
  if (n.kind === 'conversation_auto_ended') {
    const reason = String(d.reason ?? '')
    const known = ['visitor_timeout', 'inactive', 'waiting_timeout', 'blacklist', 'leave_message'].includes(reason)
    return t('automations.notice.text', {
      visitor_name: String(d.visitor_name ?? ''),
      conversation_id: String(d.conversation_id ?? ''),
      reason: known ? t(`automations.reasons.${reason}`) : reason,
    })
  }
  const params: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(d)) params[k] = typeof v === 'string' || typeof v === 'number' ? v : ''
  if (n.kind === 'max_concurrent_changed' || n.kind === 'status_change_decided') params.actor = d.actor_name ?? ''
  if (n.kind === 'status_change_requested' || n.kind === 'status_change_decided') {
    params.from = t(`presence.${String(d.from_status)}`)
    params.to = t(`presence.${String(d.to_status)}`)
  }
  if (n.kind === 'status_change_requested') params.requester = d.requester_name ?? ''
  if (n.kind === 'status_change_decided') params.decision = t(`messages.decisions.${String(d.decision)}`)
  if (n.kind === 'queue_overflow') {
    const moved = d.to_group ? 'moved' : 'kept'
    params.condition = t(`messages.overflow.${String(d.condition)}`)
    return t(`messages.kinds.queue_overflow.${moved}`, params)
  }
  if (n.kind === 'permissions_changed') {
    params.actor = d.actor_name ?? ''
    return t(`messages.kinds.permissions_changed.${d.change === 'role_edited' ? 'role_edited' : 'role_assigned'}`, params)
  }
  if (n.kind === 'queue_cap') return t(`messages.kinds.queue_cap.${d.level === 'full' ? 'full' : 'near'}`, params)
  return t(`messages.kinds.${kindKey(n)}.text`, params)
}
