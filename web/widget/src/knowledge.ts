/**
 * A knowledge item sent as a rich card (SPEC §4.2, §8.2): a "Knowledge" badge, the title, a
 * summary and "Read more", which opens the item's visitor page (/kb/<token>) on the Kefu
 * server in a new tab. Built with textContent only; the link must be that page.
 */

import { h, link, safeUrl } from './dom'
import { lang } from './i18n'

const TEXTS = {
  'zh-CN': { badge: '知识库', open: '查看全文', label: '打开知识：{t}' },
  en: { badge: 'Knowledge', open: 'Read more', label: 'Open article: {t}' },
} as const

export const KNOWLEDGE_CSS = `
.kb-card{width:240px;white-space:normal;color:#1d2129;padding:10px 12px}
.kb-badge{display:inline-block;font-size:11px;line-height:16px;padding:0 5px;border-radius:3px;background:#e8f3ff;color:var(--c);margin-bottom:4px}
.kb-title{font-weight:600}
.kb-desc{color:#4e5969;font-size:13px;margin-top:2px;display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.kb-open{display:block;margin-top:8px;padding-top:6px;border-top:1px solid #f0f2f5;font-size:13px;color:var(--c);text-decoration:none}
`

function str(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** Whether a card body is a knowledge item's. */
export function isKnowledgeCard(b: Record<string, unknown>): boolean {
  const data = b.data
  return !!data && typeof data === 'object' && (data as Record<string, unknown>).type === 'knowledge'
}

/** The card; `base` is the Kefu server the relative page link resolves against. */
export function knowledgeCard(b: Record<string, unknown>, base: string): HTMLElement {
  const tx = TEXTS[lang] ?? TEXTS['zh-CN']
  const path = str(b.url)
  const href = /^\/kb\/[A-Za-z0-9_-]{1,64}$/.test(path) ? safeUrl(path, base || location.href) : null
  const title = str(b.title)
  const card = h(
    'div',
    { class: 'kb-card' },
    h('span', { class: 'kb-badge', text: tx.badge }),
    h('div', { class: 'kb-title', text: title }),
    str(b.description) && h('div', { class: 'kb-desc', text: str(b.description) }),
  )
  if (href) {
    const a = link(href, tx.open + ' ›')
    a.className = 'kb-open'
    a.setAttribute('aria-label', tx.label.replace('{t}', title))
    card.append(a)
  }
  return card
}
