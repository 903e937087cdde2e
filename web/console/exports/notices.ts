/** How export notices read in the message center (kinds `export_finished` / `export_failed`, §14). */
import type { Notice } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

export const EXPORT_KINDS = new Set<string>(['export_finished', 'export_failed'])

export function exportNoticeTitle(n: Notice, t: T): string {
  return n.kind === 'export_finished' ? t('exports.notice.finished.title') : t('exports.notice.failed.title')
}

export function exportNoticeText(n: Notice, t: T): string {
  const d = (n.data ?? {}) as Record<string, unknown>
  const file = String(d.file_name ?? '')
  if (n.kind === 'export_finished') return t('exports.notice.finished.text', { file })
  const code = String(d.error_code ?? '')
  const known = ['export_too_many_conversations', 'export_too_many_rows', 'export_too_large', 'forbidden']
  return t('exports.notice.failed.text', { file, reason: t(`exports.reasons.${known.includes(code) ? code : 'other'}`) })
}
