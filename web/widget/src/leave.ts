/**
 * The waiting reminder's "Leave a message" button (SPEC §7, docs/automations.md): a reminder
 * with code `waiting_reminder_leave` shows its text with a button that opens a small form
 * (name, phone, message). Sending it stores the message and ends the waiting conversation.
 * Built with createElement/textContent only (inert).
 */

import type { Api } from './api'
import { ApiError } from './api'
import { h } from './dom'
import { lang } from './i18n'
import type { Message } from './types'

const TEXTS = {
  'zh-CN': {
    button: '留言',
    title: '给我们留言',
    name: '称呼（选填）',
    phone: '电话（选填）',
    content: '留言内容',
    send: '提交留言',
    cancel: '取消',
    sending: '提交中…',
    done: '留言已提交，我们会尽快联系您。本次排队已结束。',
    empty: '请填写留言内容',
    failed: '提交失败，请重试',
  },
  en: {
    button: 'Leave a message',
    title: 'Leave us a message',
    name: 'Name (optional)',
    phone: 'Phone (optional)',
    content: 'Your message',
    send: 'Send message',
    cancel: 'Cancel',
    sending: 'Sending…',
    done: 'Thank you, we will get back to you soon. You have left the queue.',
    empty: 'Please write a message',
    failed: 'Could not send; please try again',
  },
}

const tr = (key: keyof (typeof TEXTS)['en']): string => TEXTS[lang === 'en' ? 'en' : 'zh-CN'][key]

let api: Api | null = null

export function initLeave(a: Api): void {
  api = a
}

function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  return h('label', { class: 'lm-field' }, h('span', { text: label }), input)
}

function form(box: HTMLElement, button: HTMLButtonElement): HTMLElement {
  const name = h('input', { type: 'text', maxlength: 50, autocomplete: 'name' })
  const phone = h('input', { type: 'tel', maxlength: 30, autocomplete: 'tel' })
  const content = h('textarea', { rows: 3, maxlength: 500, required: true })
  const error = h('div', { class: 'lm-error', role: 'alert' })
  const send = h('button', { type: 'submit', class: 'lm-send', text: tr('send') })
  const cancel = h('button', { type: 'button', class: 'lm-cancel', text: tr('cancel') })
  const el = h(
    'form',
    { class: 'lm-form', 'aria-label': tr('title') },
    h('div', { class: 'lm-title', text: tr('title') }),
    field(tr('name'), name),
    field(tr('phone'), phone),
    field(tr('content'), content),
    error,
    h('div', { class: 'lm-actions' }, cancel, send),
  )
  cancel.addEventListener('click', () => {
    el.remove()
    button.hidden = false
    button.focus()
  })
  el.addEventListener('submit', (ev) => {
    ev.preventDefault()
    if (!content.value.trim()) {
      error.textContent = tr('empty')
      content.focus()
      return
    }
    if (!api) return
    send.disabled = true
    send.textContent = tr('sending')
    error.textContent = ''
    api
      .request('POST', '/visitor/leave-message', {
        name: name.value.trim(),
        phone: phone.value.trim(),
        content: content.value.trim(),
      })
      .then(() => {
        el.replaceWith(h('div', { class: 'lm-done', role: 'status', text: tr('done') }))
        box.querySelectorAll('.lm-open').forEach((b) => b.remove())
      })
      .catch((e: unknown) => {
        send.disabled = false
        send.textContent = tr('send')
        error.textContent = e instanceof ApiError && e.message ? e.message : tr('failed')
      })
  })
  return el
}

/** A waiting reminder with the leave-message button (render.ts). */
export function leaveCard(m: Message): HTMLElement {
  const text = typeof m.body?.text === 'string' ? m.body.text : ''
  const box = h('div', { class: 'lm' }, h('div', { class: 'note', text }))
  const button = h('button', { type: 'button', class: 'lm-open', text: tr('button') })
  button.addEventListener('click', () => {
    button.hidden = true
    const f = form(box, button)
    box.append(f)
    ;(f.querySelector('textarea') as HTMLTextAreaElement).focus()
  })
  box.append(button)
  return h('div', { class: 'row system lm-row' }, box)
}

export const LEAVE_CSS = `
.lm{display:flex;flex-direction:column;align-items:center;gap:6px;width:100%}
.lm-open{border:1px solid var(--c);color:var(--c);background:#fff;border-radius:14px;padding:3px 14px;font:inherit;font-size:12.5px;cursor:pointer}
.lm-open:focus-visible,.lm-form button:focus-visible{outline:2px solid var(--c);outline-offset:2px}
.lm-form{width:100%;max-width:300px;background:#fff;border:1px solid #e5e6eb;border-radius:10px;padding:10px 12px;display:flex;flex-direction:column;gap:6px;font-size:13px;color:#1d2129}
.lm-title{font-weight:600}
.lm-field{display:flex;flex-direction:column;gap:2px;color:#4e5969;font-size:12px}
.lm-field input,.lm-field textarea{font:inherit;font-size:13px;border:1px solid #c9cdd4;border-radius:6px;padding:5px 8px;resize:vertical;color:#1d2129}
.lm-error{color:#cb2634;font-size:12px;min-height:0}
.lm-error:empty{display:none}
.lm-actions{display:flex;justify-content:flex-end;gap:8px}
.lm-send{background:var(--c);color:#fff;border:none;border-radius:6px;padding:5px 12px;font:inherit;font-size:12.5px;cursor:pointer}
.lm-send:disabled{opacity:.6}
.lm-cancel{background:none;border:none;color:#4e5969;font:inherit;font-size:12.5px;cursor:pointer}
.lm-done{font-size:12.5px;color:#00a870;text-align:center;max-width:300px}
`
