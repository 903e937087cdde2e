/**
 * Leave messages in the widget (SPEC §11.1, docs/leave-messages.md). Three ways in:
 * - a "Leave a message" button in the waiting banner (origin `waiting`);
 * - the waiting reminder's button, a system message with code `waiting_reminder_leave`
 *   (origin `reminder`, SPEC §7);
 * - off hours with no conversation, the form is shown at once (origin `off_hours`); the
 *   visitor may still write instead, which opens a conversation as usual.
 * Fields: subject, message (required), name, phone, email. Leaving one from the queue ends the
 * wait. Built with createElement/textContent only (inert).
 */

import type { Api } from './api'
import { ApiError } from './api'
import { h } from './dom'
import { lang } from './i18n'
import type { Conversation, Message } from './types'

type Origin = 'waiting' | 'reminder' | 'off_hours'

const TEXTS = {
  'zh-CN': {
    button: '留言',
    waitButton: '不想等待？留言',
    title: '给我们留言',
    offTitle: '现在是非工作时间',
    offIntro: '请留下您的问题和联系方式，我们上班后会尽快联系您。您也可以直接发送消息。',
    subject: '主题（选填）',
    name: '称呼（选填）',
    phone: '电话（选填）',
    email: '邮箱（选填）',
    content: '留言内容',
    send: '提交留言',
    cancel: '取消',
    sending: '提交中…',
    done: '留言已提交（编号 #{n}），我们会尽快联系您。',
    doneQueue: '留言已提交（编号 #{n}），我们会尽快联系您。本次排队已结束。',
    empty: '请填写留言内容',
    badEmail: '邮箱格式不正确',
    failed: '提交失败，请重试',
  },
  en: {
    button: 'Leave a message',
    waitButton: 'Rather not wait? Leave a message',
    title: 'Leave us a message',
    offTitle: 'We are away right now',
    offIntro: 'Leave your question and how to reach you; we will get back to you when we are back. You can also just send a message.',
    subject: 'Subject (optional)',
    name: 'Name (optional)',
    phone: 'Phone (optional)',
    email: 'Email (optional)',
    content: 'Your message',
    send: 'Send message',
    cancel: 'Cancel',
    sending: 'Sending…',
    done: 'Thank you (message #{n}). We will get back to you soon.',
    doneQueue: 'Thank you (message #{n}). We will get back to you soon. You have left the queue.',
    empty: 'Please write a message',
    badEmail: 'Please check the email address',
    failed: 'Could not send; please try again',
  },
}

type Key = keyof (typeof TEXTS)['en']
const tr = (key: Key, n?: number): string =>
  TEXTS[lang === 'en' ? 'en' : 'zh-CN'][key].replace('{n}', n === undefined ? '' : String(n))

let api: Api | null = null
let log: HTMLElement | null = null
let scroll: () => void = () => undefined
/** The open form of the waiting button, and the off-hours card (one of each at most). */
let waitingCard: HTMLElement | null = null
let offCard: HTMLElement | null = null
let conv: Conversation | null = null

export function initLeave(a: Api): void {
  api = a
}

/** Where cards go (ui.ts): the message log, and how to keep the newest in view. */
export function leaveHost(el: HTMLElement, scrollDown: () => void): void {
  log = el
  scroll = scrollDown
}

function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  return h('label', { class: 'lm-field' }, h('span', { text: label }), input)
}

interface FormOptions {
  origin: Origin
  title: string
  onDone: (number: number) => void
  onCancel?: () => void
}

function form(o: FormOptions): HTMLFormElement {
  const subject = h('input', { type: 'text', maxlength: 100 })
  const content = h('textarea', { rows: 3, maxlength: 2000, 'aria-required': 'true' })
  const name = h('input', { type: 'text', maxlength: 50, autocomplete: 'name' })
  const phone = h('input', { type: 'tel', maxlength: 30, autocomplete: 'tel' })
  const email = h('input', { type: 'email', maxlength: 254, autocomplete: 'email' })
  const error = h('div', { class: 'lm-error', role: 'alert' })
  const send = h('button', { type: 'submit', class: 'lm-send', text: tr('send') })
  const actions = h('div', { class: 'lm-actions' })
  if (o.onCancel) {
    const cancel = h('button', { type: 'button', class: 'lm-cancel', text: tr('cancel') })
    cancel.addEventListener('click', () => o.onCancel?.())
    actions.append(cancel)
  }
  actions.append(send)
  const el = h(
    'form',
    { class: 'lm-form', 'aria-label': o.title },
    field(tr('subject'), subject),
    field(tr('content'), content),
    h('div', { class: 'lm-two' }, field(tr('name'), name), field(tr('phone'), phone)),
    field(tr('email'), email),
    error,
    actions,
  )
  el.addEventListener('submit', (ev) => {
    ev.preventDefault()
    if (!content.value.trim()) {
      error.textContent = tr('empty')
      content.focus()
      return
    }
    if (email.value.trim() && !/^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(email.value.trim())) {
      error.textContent = tr('badEmail')
      email.focus()
      return
    }
    if (!api) return
    send.disabled = true
    send.textContent = tr('sending')
    error.textContent = ''
    api
      .request<{ number: number }>('POST', '/visitor/leave-message', {
        origin: o.origin,
        subject: subject.value.trim(),
        content: content.value.trim(),
        name: name.value.trim(),
        phone: phone.value.trim(),
        email: email.value.trim(),
      })
      .then((r) => o.onDone(r.number))
      .catch((e: unknown) => {
        send.disabled = false
        send.textContent = tr('send')
        error.textContent = e instanceof ApiError && e.message ? e.message : tr('failed')
      })
  })
  return el
}

const done = (text: string) => h('div', { class: 'lm-done', role: 'status', text })

/** A waiting reminder with the leave-message button (render.ts). */
export function leaveCard(m: Message): HTMLElement {
  const text = typeof m.body?.text === 'string' ? m.body.text : ''
  const box = h('div', { class: 'lm' }, h('div', { class: 'note', text }))
  const button = h('button', { type: 'button', class: 'lm-open', text: tr('button') })
  button.addEventListener('click', () => {
    button.hidden = true
    const f = form({
      origin: 'reminder',
      title: tr('title'),
      onDone: (n) => {
        f.replaceWith(done(tr('doneQueue', n)))
        box.querySelectorAll('.lm-open').forEach((b) => b.remove())
      },
      onCancel: () => {
        f.remove()
        button.hidden = false
        button.focus()
      },
    })
    box.append(f)
    ;(f.querySelector('textarea') as HTMLTextAreaElement).focus()
  })
  box.append(button)
  return h('div', { class: 'row system lm-row' }, box)
}

/** The waiting banner gets a "leave a message" button (ui.ts refreshStatus). */
export function leaveStatus(status: HTMLElement, c: Conversation | null): void {
  if (c?.state !== 'waiting' || waitingCard) return
  const b = h('button', { type: 'button', class: 'lm-wait', text: tr('waitButton') })
  b.addEventListener('click', () => openWaitingForm(status))
  status.append(b)
}

function openWaitingForm(status: HTMLElement): void {
  if (!log || waitingCard) return
  status.querySelectorAll('.lm-wait').forEach((b) => b.remove())
  const box = h('div', { class: 'lm' })
  const close = () => {
    waitingCard?.remove()
    waitingCard = null
  }
  const f = form({
    origin: 'waiting',
    title: tr('title'),
    onDone: (n) => {
      f.replaceWith(done(tr('doneQueue', n)))
      waitingCard = null // the card stays as a record; the wait is over
    },
    onCancel: () => {
      close()
      leaveStatus(status, conv)
    },
  })
  box.append(h('div', { class: 'lm-title', text: tr('title') }), f)
  waitingCard = h('div', { class: 'row system lm-row' }, box)
  log.append(waitingCard)
  scroll()
  ;(f.querySelector('input') as HTMLInputElement).focus()
}

/** A conversation shows up or changes (ui.ts showConversation). */
export function leaveConversation(c: Conversation | null): void {
  conv = c
  const live = c !== null && c.state !== 'ended'
  // Writing instead of leaving a message opens a conversation: the off-hours form goes.
  if (live && offCard && !offCard.querySelector('.lm-done')) {
    offCard.remove()
    offCard = null
  }
  if (c?.state !== 'waiting' && waitingCard && !waitingCard.querySelector('.lm-done')) {
    waitingCard.remove()
    waitingCard = null
  }
}

/** Off hours with no conversation: show the form at once (main.ts, after registering). */
export async function offerOffHours(): Promise<void> {
  if (!api || !log || offCard) return
  let offer: { off_hours: boolean }
  try {
    offer = await api.request('GET', '/visitor/leave-message/offer')
  } catch {
    return
  }
  if (!offer.off_hours || offCard || (conv && conv.state !== 'ended')) return
  const box = h('div', { class: 'lm lm-off' })
  const f = form({
    origin: 'off_hours',
    title: tr('title'),
    onDone: (n) => f.replaceWith(done(tr('done', n))),
  })
  box.append(h('div', { class: 'lm-title', text: tr('offTitle') }), h('div', { class: 'lm-intro', text: tr('offIntro') }), f)
  offCard = h('div', { class: 'row system lm-row', 'data-leave': 'off-hours' }, box)
  log.append(offCard)
  scroll()
}

export const LEAVE_CSS = `
.lm{display:flex;flex-direction:column;align-items:center;gap:6px;width:100%}
.lm-open{border:1px solid var(--c);color:var(--c);background:#fff;border-radius:14px;padding:3px 14px;font:inherit;font-size:12.5px;cursor:pointer}
.lm-wait{margin-left:8px;border:none;background:none;color:var(--c);font:inherit;font-size:12px;text-decoration:underline;cursor:pointer;padding:0}
.lm-open:focus-visible,.lm-form button:focus-visible,.lm-wait:focus-visible{outline:2px solid var(--c);outline-offset:2px}
.lm-form{width:100%;max-width:320px;background:#fff;border:1px solid #e5e6eb;border-radius:10px;padding:10px 12px;display:flex;flex-direction:column;gap:6px;font-size:13px;color:#1d2129;box-sizing:border-box}
.lm-title{font-weight:600;font-size:13px;color:#1d2129}
.lm-intro{font-size:12px;color:#4e5969;max-width:320px;text-align:center;line-height:1.5}
.lm-field{display:flex;flex-direction:column;gap:2px;color:#4e5969;font-size:12px;min-width:0}
.lm-two{display:flex;gap:8px}
.lm-two .lm-field{flex:1}
.lm-field input,.lm-field textarea{font:inherit;font-size:13px;border:1px solid #c9cdd4;border-radius:6px;padding:5px 8px;resize:vertical;color:#1d2129;min-width:0;box-sizing:border-box;width:100%}
.lm-error{color:#cb2634;font-size:12px;min-height:0}
.lm-error:empty{display:none}
.lm-actions{display:flex;justify-content:flex-end;gap:8px}
.lm-send{background:var(--c);color:var(--on,#fff);border:none;border-radius:6px;padding:5px 12px;font:inherit;font-size:12.5px;cursor:pointer}
.lm-send:disabled{opacity:.6}
.lm-cancel{background:none;border:none;color:#4e5969;font:inherit;font-size:12.5px;cursor:pointer}
.lm-done{font-size:12.5px;color:#00a870;text-align:center;max-width:300px}
`
