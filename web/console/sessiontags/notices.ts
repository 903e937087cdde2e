/** How the tag notices read in the message center (SPEC §9.1, §9.2, §15.1). */
import type { Notice } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

export const TAG_NOTICE_KINDS = ['session_tags_changed', 'visitor_tags_changed']

export function tagNoticeTitle(n: Notice, t: T): string {
  return t(n.kind === 'session_tags_changed' ? 'sessionTags.notice.sessionTitle' : 'sessionTags.notice.visitorTitle')
}

export function tagNoticeText(n: Notice, t: T): string {
  const d = (n.data ?? {}) as Record<string, unknown>
  const tags = Array.isArray(d.tags) ? (d.tags as unknown[]).map(String) : []
  const params = {
    actor: String(d.actor_name ?? ''),
    visitor: String(d.visitor_name ?? '') || `#${String(d.visitor_id ?? '')}`,
    conversation: String(d.conversation_id ?? ''),
    tags: tags.length ? tags.join('、') : t('sessionTags.notice.noTags'),
    remark: String(d.remark ?? ''),
  }
  if (n.kind === 'session_tags_changed') {
    return t(params.remark ? 'sessionTags.notice.sessionTextRemark' : 'sessionTags.notice.sessionText', params)
  }
  return t('sessionTags.notice.visitorText', params)
}
