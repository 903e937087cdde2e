/**
 * One message as DOM, for every kind in docs/protocol.md. All content is inert: text goes through
 * textContent, links and images only ever get http(s) URLs (relative attachment URLs are resolved
 * against Kefu's base URL).
 */

import { formatSize, formatTime, h, icon, link, safeUrl } from './dom'
import { t } from './i18n'
import { ratingCard } from './rating'
import { leaveCard } from './leave'
import { isKnowledgeCard, knowledgeCard } from './knowledge'
import type { Attachment, Message } from './types'

/** A message on its way out (uploading, sending, or failed). */
export interface Outgoing {
  id: string
  kind: 'text' | 'image' | 'file' | 'card' | 'location' | 'link'
  body: Record<string, unknown>
  state: 'uploading' | 'sending' | 'failed'
  progress: number
  error: string
  file?: File
  nacked?: boolean
  timer?: number
}

const URL_IN_TEXT = /https?:\/\/[^\s<>"'，。！？、；：“”‘’（）【】]+/g

/** Text with newlines kept (CSS pre-wrap) and only http(s) URLs turned into links. */
function linkified(text: string): DocumentFragment {
  const out = document.createDocumentFragment()
  let at = 0
  for (const match of text.matchAll(URL_IN_TEXT)) {
    // Trailing punctuation usually ends the sentence, not the URL.
    const url = match[0].replace(/[.,;:!?)\]]+$/, '')
    const start = match.index ?? 0
    const href = safeUrl(url, 'http://invalid/')
    if (!href) continue
    out.append(text.slice(at, start), link(href, url))
    at = start + url.length
  }
  out.append(text.slice(at))
  return out
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : ''
}

function attachmentOf(body: Record<string, unknown>): Attachment | null {
  const a = body.attachment
  return a && typeof a === 'object' ? (a as Attachment) : null
}

function fileBox(a: Attachment | null, base: string): HTMLElement {
  const href = a && !a.expired ? safeUrl(a.url, base) : null
  const info = h(
    'span',
    { class: 'file-info' },
    h('span', { class: 'file-name', text: a?.name || t('file') }),
    h('span', { class: 'file-size', text: a?.expired ? t('expired') : formatSize(a?.size ?? -1) }),
  )
  const box = h('div', { class: 'file' + (href ? '' : ' expired') }, h('span', { class: 'file-icon' }, icon('file')), info)
  if (href) {
    const a2 = link(href, t('download'))
    a2.className = 'file-get'
    a2.setAttribute('download', a?.name || '')
    a2.setAttribute('aria-label', `${t('download')} ${a?.name || ''}`)
    box.append(a2)
  }
  return box
}

function content(m: Message, base: string): Node {
  const b = m.body || {}
  switch (m.kind) {
    case 'text':
      return linkified(str(b.text))
    case 'image': {
      const a = attachmentOf(b)
      const src = a && !a.expired ? safeUrl(a.url, base) : null
      if (!src) return fileBox(a, base)
      const img = h('img', { src, alt: a?.name || t('image'), loading: 'lazy' })
      const open = link(src, img)
      open.className = 'image'
      open.setAttribute('aria-label', t('openImage'))
      return open
    }
    case 'file':
      return fileBox(attachmentOf(b), base)
    case 'voice': {
      const a = attachmentOf(b)
      const src = a && !a.expired ? safeUrl(a.url, base) : null
      if (!src) return fileBox(a, base)
      return h('audio', { controls: true, preload: 'none', src, 'aria-label': t('voice') })
    }
    case 'location': {
      const lat = Number(b.latitude)
      const lng = Number(b.longitude)
      return h(
        'div',
        { class: 'location' },
        h('span', { class: 'file-icon' }, icon('pin')),
        h(
          'span',
          { class: 'file-info' },
          h('span', { class: 'file-name', text: str(b.address) || t('location') }),
          h('span', { class: 'file-size', text: `${lat.toFixed(5)}, ${lng.toFixed(5)}` }),
        ),
      )
    }
    case 'link': {
      const href = safeUrl(b.url, base)
      const label = str(b.title) || str(b.url)
      return href ? link(href, label) : document.createTextNode(label)
    }
    case 'card':
      return isKnowledgeCard(b) ? knowledgeCard(b, base) : card(b, base)
    default:
      // system messages and kinds this widget does not know yet: their text, if any.
      return document.createTextNode(str(b.text) || str(b.title))
  }
}

function card(b: Record<string, unknown>, base: string): HTMLElement {
  const image = safeUrl(b.image_url, base)
  const href = safeUrl(b.url, base)
  const fields = Array.isArray(b.fields) ? (b.fields as { label?: unknown; value?: unknown }[]) : []
  const title = h('div', { class: 'card-title', text: str(b.title) || t('card') })
  const body = h(
    'div',
    { class: 'card-body' },
    href ? link(href, title) : title,
    str(b.description) && h('div', { class: 'card-desc', text: str(b.description) }),
    fields.length > 0 &&
      h(
        'dl',
        { class: 'card-fields' },
        ...fields.slice(0, 10).flatMap((f) => [h('dt', { text: str(f.label) }), h('dd', { text: str(f.value) })]),
      ),
  )
  return h('div', { class: 'card' }, image && h('img', { src: image, alt: '', loading: 'lazy' }), body)
}

function row(side: string, kind: string, bubble: Node, meta: Node | null): HTMLElement {
  return h(
    'div',
    { class: `row ${side}` },
    h('div', { class: `bubble k-${kind}` }, bubble),
    meta && h('div', { class: 'meta' }, meta),
  )
}

/** `agentName` replaces agents' own names when the widget hides agent nicknames. */
export function renderMessage(m: Message, base: string, agentName?: string): HTMLElement {
  let el: HTMLElement
  if (m.kind === 'system' && m.body?.code === 'csat_invite') {
    // A satisfaction invitation: the rating card (rating.ts).
    el = ratingCard(m)
  } else if (m.kind === 'system' && m.body?.code === 'waiting_reminder_leave') {
    // A waiting reminder with the leave-message button (leave.ts).
    el = leaveCard(m)
  } else if (m.kind === 'system' && m.body?.code === 'welcome') {
    // The enterprise welcome, stored at the start of a conversation: shown like the preview one.
    el = row('theirs welcome', 'text', linkified(str(m.body.text)), document.createTextNode(formatTime(m.created_at)))
  } else if (m.kind === 'system' || m.sender?.type === 'system') {
    el = h('div', { class: 'row system' }, h('div', { class: 'note', text: str(m.body?.text) }))
  } else {
    const mine = m.sender?.type === 'visitor'
    const name = mine ? '' : (m.sender?.type === 'agent' && agentName) || m.sender?.name || ''
    const meta = [name, formatTime(m.created_at)].filter(Boolean).join(' · ')
    el = row(mine ? 'mine' : 'theirs', m.kind, content(m, base), document.createTextNode(meta))
    // Rows with the same key (sender and minute) are grouped: only the last shows its meta line.
    el.dataset.group = `${m.sender?.type}:${m.sender?.id}:${meta}`
  }
  el.dataset.id = String(m.id)
  if (m.client_msg_id) el.dataset.cid = m.client_msg_id
  return el
}

/** A visitor's message that the server has not acknowledged yet. */
export function renderOutgoing(o: Outgoing, retry: (id: string) => void): HTMLElement {
  let bubble: Node
  if (o.kind === 'text') bubble = linkified(str(o.body.text))
  else if (o.kind === 'card' || o.kind === 'location' || o.kind === 'link') {
    // Sent by the page through the JS API: shown as it will look once acknowledged.
    bubble = content({ kind: o.kind, body: o.body } as Message, '')
  } else {
    const name = o.file?.name || ''
    bubble = h(
      'div',
      { class: 'file' },
      h('span', { class: 'file-icon' }, icon(o.kind === 'image' ? 'image' : 'file')),
      h(
        'span',
        { class: 'file-info' },
        h('span', { class: 'file-name', text: name }),
        h('span', {
          class: 'file-size',
          text: o.state === 'uploading' ? t('uploading', { p: o.progress }) : formatSize(o.file?.size ?? -1),
        }),
        o.state === 'uploading' && h('progress', { max: 100, value: o.progress, 'aria-label': t('uploading', { p: o.progress }) }),
      ),
    )
  }
  let meta: Node
  if (o.state === 'failed') {
    const again = h('button', { type: 'button', class: 'retry', 'aria-label': t('retry'), title: t('retry'), text: '!' })
    again.addEventListener('click', () => retry(o.id))
    meta = h('span', { class: 'failed' }, again, h('span', { text: o.error || t('retry') }))
  } else {
    meta = h('span', { class: 'sending', text: o.state === 'sending' ? t('sending') : '' })
  }
  // Pictures show as a file card until the server has them.
  const shape = o.kind === 'image' || o.kind === 'file' ? 'file' : o.kind
  const el = row(`mine pending ${o.state}`, shape, bubble, meta)
  el.dataset.cid = o.id
  return el
}
