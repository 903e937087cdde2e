/**
 * Satisfaction rating (SPEC §10.1, docs/satisfaction.md): the rating card shown for an
 * invitation (a system message with code `csat_invite`) and for the header's "Rate" button.
 * Stars with per-star text, the chosen star's tags, a comment, submit, thank-you and re-rate.
 * Everything is built with createElement/textContent (inert); the stars are a keyboard radio group.
 */

import type { Api } from './api'
import { ApiError } from './api'
import { h } from './dom'
import { lang } from './i18n'
import type { Conversation, Message } from './types'

export interface CsatStar {
  score: number
  text: string
  tags: string[]
}

export interface CsatCard {
  conversation_id: number
  invited: boolean
  can_rate: boolean
  reason: 'not_served' | 'expired' | 'already_rated' | null
  rating: { score: number; tags: string[]; comment: string; rated_at: string } | null
  invite_text: string
  stars: CsatStar[]
}

const COMMENT_MAX = 200

const TEXTS = {
  'zh-CN': {
    card: '满意度评价',
    rate: '评价本次服务',
    stars: '评分',
    star: '{n} 星：{text}',
    tags: '评价标签',
    comment: '补充说明（选填）',
    commentPlaceholder: '说说您的感受，最多 200 字',
    submit: '提交评价',
    submitting: '提交中…',
    thanks: '感谢您的评价！',
    yours: '您的评价：{n} 星 · {text}',
    again: '重新评价',
    cancel: '取消',
    pick: '请先选择星级',
    notServed: '客服接入后才能评价本次服务',
    expired: '该会话已结束超过 7 天，不能再评价',
    onlyFirst: '已评价，以第一次评价为准',
    failed: '提交失败，请重试',
    loading: '正在加载评价选项…',
    loadFailed: '评价选项加载失败',
    retry: '重试',
  },
  en: {
    card: 'Rate our service',
    rate: 'Rate this conversation',
    stars: 'Rating',
    star: '{n} stars: {text}',
    tags: 'Rating tags',
    comment: 'Comment (optional)',
    commentPlaceholder: 'Tell us more, up to 200 characters',
    submit: 'Submit rating',
    submitting: 'Submitting…',
    thanks: 'Thank you for your feedback!',
    yours: 'Your rating: {n} stars · {text}',
    again: 'Rate again',
    cancel: 'Cancel',
    pick: 'Choose a number of stars first',
    notServed: 'You can rate once an agent has joined the conversation',
    expired: 'This conversation ended more than 7 days ago and can no longer be rated',
    onlyFirst: 'Rated; your first rating is the one that counts',
    failed: 'Could not submit, please try again',
    loading: 'Loading the rating options…',
    loadFailed: 'Could not load the rating options',
    retry: 'Retry',
  },
}

type Key = keyof (typeof TEXTS)['en']

function tr(key: Key, slots: Record<string, string | number> = {}): string {
  const table = lang === 'en' ? TEXTS.en : TEXTS['zh-CN']
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => String(slots[name] ?? ''))
}

let api: Api | null = null
/** Cards on screen per conversation, so a rating given in one refreshes the others. */
const shown = new Map<number, Set<(card: CsatCard) => void>>()

export function initRating(a: Api): void {
  api = a
}

function starIcon(): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('focusable', 'false')
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path')
  path.setAttribute('d', 'M12 3.2l2.7 5.6 6.1.8-4.5 4.2 1.1 6.1L12 17l-5.4 2.9 1.1-6.1-4.5-4.2 6.1-.8z')
  svg.append(path)
  return svg
}

/** The rating card of one conversation; `text` is the invitation (falls back to the tenant's). */
export function ratingPanel(conversationId: number, text?: string): HTMLElement {
  const box = h('div', { class: 'csat', role: 'group', 'aria-label': tr('card'), 'data-conv': conversationId })
  const title = h('div', { class: 'csat-title', text: text || tr('card') })
  const body = h('div', { class: 'csat-body', text: tr('loading') })
  box.append(title, body)

  let card: CsatCard | null = null
  let editing = false
  let score = 0
  let tags: string[] = []
  let comment = ''
  let busy = false
  let error = ''

  const listeners = shown.get(conversationId) || new Set()
  shown.set(conversationId, listeners)
  const refresh = (c: CsatCard) => {
    card = c
    editing = false
    render()
  }
  listeners.add(refresh)

  const load = async () => {
    if (!api) return
    try {
      card = await api.request<CsatCard>('GET', `/visitor/csat?conversation_id=${conversationId}`)
      if (!text) title.textContent = card.invite_text
      render()
    } catch {
      body.replaceChildren(h('span', { class: 'csat-note', text: tr('loadFailed') }), retryButton())
    }
  }
  const retryButton = () => {
    const b = h('button', { type: 'button', class: 'csat-link', text: tr('retry') })
    b.addEventListener('click', () => void load())
    return b
  }

  function starOf(n: number): CsatStar | undefined {
    return card?.stars.find((s) => s.score === n)
  }

  function render(): void {
    if (!card) return
    const c = card
    const rated = c.rating
    if (rated && !editing) {
      const star = starOf(rated.score)
      const summary = h(
        'div',
        { class: 'csat-done' },
        h('strong', { text: tr('thanks') }),
        h('span', { class: 'csat-note', text: tr('yours', { n: rated.score, text: star?.text || '' }) }),
        rated.tags.length > 0 && h('span', { class: 'csat-chosen', text: rated.tags.join(' · ') }),
      )
      const parts: Node[] = [summary]
      if (c.can_rate) {
        const again = h('button', { type: 'button', class: 'csat-link', text: tr('again') })
        again.addEventListener('click', () => {
          editing = true
          score = rated.score
          tags = [...rated.tags]
          comment = rated.comment
          render()
          focusStars()
        })
        parts.push(again)
      } else if (c.reason === 'already_rated') {
        parts.push(h('span', { class: 'csat-note', text: tr('onlyFirst') }))
      }
      body.replaceChildren(...parts)
      return
    }
    if (!c.can_rate && c.reason !== 'already_rated') {
      body.replaceChildren(h('span', { class: 'csat-note', text: c.reason === 'expired' ? tr('expired') : tr('notServed') }))
      return
    }
    body.replaceChildren(...form(c))
  }

  function focusStars(): void {
    requestAnimationFrame(() => (box.querySelector('[role=radio][tabindex="0"]') as HTMLElement | null)?.focus())
  }

  function form(c: CsatCard): Node[] {
    const group = h('div', { class: 'csat-stars', role: 'radiogroup', 'aria-label': tr('stars') })
    const buttons: HTMLButtonElement[] = []
    for (const s of c.stars) {
      const b = h('button', {
        type: 'button',
        role: 'radio',
        class: 'csat-star' + (s.score <= score ? ' on' : ''),
        'aria-checked': String(s.score === score),
        'aria-label': tr('star', { n: s.score, text: s.text }),
        title: s.text,
        tabindex: s.score === (score || 1) ? 0 : -1,
        'data-score': s.score,
      })
      b.append(starIcon())
      b.addEventListener('click', () => choose(s.score))
      b.addEventListener('mouseenter', () => hover(s.score))
      b.addEventListener('mouseleave', () => hover(0))
      buttons.push(b)
      group.append(b)
    }
    group.addEventListener('keydown', (e) => {
      const k = (e as KeyboardEvent).key
      const delta = k === 'ArrowRight' || k === 'ArrowUp' ? 1 : k === 'ArrowLeft' || k === 'ArrowDown' ? -1 : 0
      if (!delta) return
      e.preventDefault()
      // From the focused star (a radio group moves from where the focus is).
      const from = Number((e.target as HTMLElement).dataset?.score) || score || 0
      choose(Math.min(5, Math.max(1, from + delta)))
      focusStars()
    })
    const label = h('span', { class: 'csat-label', text: starOf(score)?.text || '' })
    function hover(n: number): void {
      buttons.forEach((b, i) => b.classList.toggle('hover', n > 0 && i < n))
      label.textContent = starOf(n || score)?.text || ''
    }
    const nodes: Node[] = [h('div', { class: 'csat-row' }, group, label)]
    const star = starOf(score)
    if (star && star.tags.length > 0) {
      const list = h('div', { class: 'csat-tags', role: 'group', 'aria-label': tr('tags') })
      for (const tag of star.tags) {
        const on = tags.includes(tag)
        const b = h('button', { type: 'button', class: 'csat-tag' + (on ? ' on' : ''), 'aria-pressed': String(on), text: tag })
        b.addEventListener('click', () => {
          tags = tags.includes(tag) ? tags.filter((x) => x !== tag) : [...tags, tag]
          const now = tags.includes(tag)
          b.classList.toggle('on', now)
          b.setAttribute('aria-pressed', String(now))
        })
        list.append(b)
      }
      nodes.push(list)
    }
    if (score) {
      const area = h('textarea', {
        class: 'csat-comment',
        rows: 2,
        maxlength: COMMENT_MAX,
        'aria-label': tr('comment'),
        placeholder: tr('commentPlaceholder'),
      })
      area.value = comment
      area.addEventListener('input', () => (comment = area.value))
      nodes.push(area)
    }
    const submit = h('button', { type: 'button', class: 'csat-submit', disabled: busy || !score, text: busy ? tr('submitting') : tr('submit') })
    submit.addEventListener('click', () => void send())
    const actions = h('div', { class: 'csat-actions' }, error && h('span', { class: 'csat-error', role: 'alert', text: error }), submit)
    if (editing) {
      const cancel = h('button', { type: 'button', class: 'csat-link', text: tr('cancel') })
      cancel.addEventListener('click', () => {
        editing = false
        error = ''
        render()
      })
      actions.prepend(cancel)
    }
    nodes.push(actions)
    return nodes
  }

  function choose(n: number): void {
    if (n !== score) tags = []
    score = n
    error = ''
    render()
  }

  async function send(): Promise<void> {
    if (!api || !score || busy) return
    busy = true
    error = ''
    render()
    try {
      const out = await api.request<CsatCard>('POST', '/visitor/csat', {
        conversation_id: conversationId,
        score,
        tags,
        comment: comment.trim().slice(0, COMMENT_MAX),
      })
      busy = false
      for (const fn of shown.get(conversationId) || []) fn(out)
    } catch (e) {
      busy = false
      error = (e instanceof ApiError && e.message) || tr('failed')
      if (e instanceof ApiError && e.code === 'csat_already_rated') void load()
      else render()
    }
  }

  void load()
  return box
}

/** An invitation message as a rating card (render.ts). */
export function ratingCard(m: Message): HTMLElement {
  const text = typeof m.body?.text === 'string' ? m.body.text : ''
  return h('div', { class: 'row system csat-row-wrap' }, ratingPanel(m.conversation_id, text))
}

/** The header's "Rate" button: shown once a conversation exists; opens (or focuses) a card. */
export function rateButton(place: (el: HTMLElement) => void): {
  el: HTMLButtonElement
  update(c: Conversation | null): void
} {
  let conv: Conversation | null = null
  let own: HTMLElement | null = null
  const el = h('button', { type: 'button', class: 'icon-btn csat-open', 'aria-label': tr('rate'), title: tr('rate'), hidden: true })
  el.append(starIcon())
  el.addEventListener('click', () => {
    if (!conv) return
    if (own && own.isConnected && own.dataset.conv === String(conv.id)) {
      own.scrollIntoView({ block: 'nearest' })
    } else {
      own = h('div', { class: 'row system csat-row-wrap', 'data-conv': conv.id }, ratingPanel(conv.id))
      place(own)
    }
    requestAnimationFrame(() => (own?.querySelector('button') as HTMLElement | null)?.focus())
  })
  return {
    el,
    update(c) {
      conv = c
      el.hidden = !c || c.state === 'waiting'
    },
  }
}

export const RATING_CSS = `
.csat-row-wrap{align-items:stretch!important}
.csat{align-self:center;width:100%;max-width:300px;background:#fff;border:1px solid #e5e6eb;border-radius:10px;padding:10px 12px;margin:6px 0;
box-shadow:0 1px 2px rgba(0,0,0,.04);font-size:13px;color:#1d2129}
.csat-title{font-weight:600;margin-bottom:8px;white-space:pre-wrap;word-break:break-word}
.csat-body{display:flex;flex-direction:column;gap:8px;color:#4e5969}
.csat-row{display:flex;align-items:center;gap:8px}
.csat-stars{display:flex;gap:2px}
.csat-star{width:28px;height:28px;display:grid;place-items:center;border-radius:6px;color:#c9cdd4}
.csat-star svg{width:22px;height:22px;fill:currentColor;stroke:none}
.csat-star.on,.csat-star.hover{color:#ff9a2e}
.csat-star:hover{background:#f7f8fa}
.csat-label{font-size:12.5px;color:#ad5f00;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.csat-tags{display:flex;flex-wrap:wrap;gap:6px}
.csat-tag{font-size:12px;line-height:22px;padding:0 10px;border-radius:12px;border:1px solid #e5e6eb;background:#f7f8fa;color:#4e5969}
.csat-tag.on{border-color:var(--c);color:var(--c);background:#fff}
.csat-comment{font:inherit;font-size:12.5px;width:100%;resize:none;border:1px solid #e5e6eb;border-radius:6px;padding:6px 8px;color:#1d2129}
.csat-comment:focus{outline:none;border-color:var(--c)}
.csat-actions{display:flex;align-items:center;justify-content:flex-end;gap:10px}
.csat-submit{background:var(--c);color:var(--on);border-radius:6px;padding:5px 14px;font-size:12.5px}
.csat-submit:disabled{opacity:.45;cursor:default}
.csat-link{color:var(--c);font-size:12.5px;align-self:flex-start}
.csat-actions .csat-link{align-self:center;color:#4e5969}
.csat-error{color:#cb2634;font-size:12px;margin-right:auto}
.csat-note{font-size:12.5px;color:#4e5969}
.csat-done{display:flex;flex-direction:column;gap:2px}
.csat-done strong{color:#00a870;font-weight:600}
.csat-chosen{font-size:12px;color:#86909c}
`
