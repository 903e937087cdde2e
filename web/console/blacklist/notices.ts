/** How the blacklist notices read in the message center (kinds `blacklist_requested` / `_decided`). */
import type { Notice } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

export const BLACKLIST_KINDS = new Set<string>(['blacklist_requested', 'blacklist_decided'])

export function blacklistNoticeTitle(n: Notice, t: T): string {
  return n.kind === 'blacklist_requested' ? t('blacklist.notice.requested.title') : t('blacklist.notice.decided.title')
}

export function blacklistNoticeText(n: Notice, t: T): string {
  const d = (n.data ?? {}) as Record<string, unknown>
  const s = (k: string) => String(d[k] ?? '')
  const visitor = `${s('visitor_name')}（${s('visitor_id')}）`
  if (n.kind === 'blacklist_requested') {
    return t('blacklist.notice.requested.text', { requester: s('requester_name'), visitor, reason: s('reason') })
  }
  const key = d.decision === 'approved' ? 'approved' : 'rejected'
  const comment = s('comment') ? t('blacklist.notice.decided.comment', { comment: s('comment') }) : ''
  return t(`blacklist.notice.decided.${key}`, { actor: s('actor_name'), visitor }) + comment
}
