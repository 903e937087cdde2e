/** How the canned-reply notices read in the message center (kinds `canned_submission_*`). */
import type { Notice } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

export function cannedNoticeTitle(n: Notice, t: T): string {
  return n.kind === 'canned_submission_requested' ? t('canned.notice.requested.title') : t('canned.notice.decided.title')
}

export function cannedNoticeText(n: Notice, t: T): string {
  const d = (n.data ?? {}) as Record<string, unknown>
  const s = (k: string) => String(d[k] ?? '')
  const excerpt = s('text').length > 60 ? s('text').slice(0, 60) + '…' : s('text')
  if (n.kind === 'canned_submission_requested') {
    return t('canned.notice.requested.text', { requester: s('requester_name'), path: s('category_path'), text: excerpt, reason: s('reason') })
  }
  const key = d.decision === 'accepted' ? 'accepted' : 'rejected'
  const comment = s('comment') ? t('canned.notice.decided.comment', { comment: s('comment') }) : ''
  return t(`canned.notice.decided.${key}`, { actor: s('actor_name'), path: s('category_path'), text: excerpt }) + comment
}
