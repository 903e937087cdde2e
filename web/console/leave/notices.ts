/** How leave-message notices read in the message center (SPEC §11.1, §15.1). */
import type { Notice } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

export const LEAVE_KINDS = new Set<string>(['leave_message_assigned', 'leave_message_status_changed', 'leave_message_commented'])

const short = (k: string) => k.replace('leave_message_', '')

export function leaveNoticeTitle(n: Notice, t: T): string {
  return t(`leave.notice.${short(n.kind)}.title`)
}

export function leaveNoticeText(n: Notice, t: T): string {
  const d = (n.data ?? {}) as Record<string, unknown>
  const s = (k: string) => String(d[k] ?? '')
  const status = (v: unknown) => (typeof v === 'string' && v ? t(`leave.status.${v}`) : '')
  return t(`leave.notice.${short(n.kind)}.text`, {
    actor: s('actor_name'),
    number: `#${s('number')}`,
    subject: s('subject') || t('leave.noSubject'),
    old: status(d.old),
    new: status(d.new),
    text: s('text'),
  })
}

/** The "View details" link of a leave-message notice: the page with the message open. */
export function leaveNoticeLink(n: Notice, can: (page: string) => boolean): string | null {
  if (!LEAVE_KINDS.has(n.kind)) return null
  const id = n.data?.leave_message_id
  if (typeof id !== 'number') return null
  const mode = can('agent.leave_messages') ? 'agent' : can('admin.leave_messages') ? 'admin' : null
  return mode ? `/${mode}/leave-messages?message=${id}` : null
}
