/**
 * The widget's screen inside a shadow root: launcher, panel (header, status line, message log,
 * composer with emoji picker and upload buttons). Implements ChatView for chat.ts.
 */

import type { Chat, ChatView } from './chat'
import { h, icon, safeUrl } from './dom'
import { lang, t } from './i18n'
import { renderMessage, renderOutgoing, type Outgoing } from './render'
import { RATING_CSS, rateButton } from './rating'
import { LEAVE_CSS, leaveConversation, leaveHost, leaveStatus } from './leave'
import type { SocketState } from './socket'
import { CSS } from './styles'
import { KNOWLEDGE_CSS } from './knowledge'
import type { AgentRef, Conversation, Message, WidgetConfig } from './types'

const EMOJI = '😀 😄 😂 🤣 😊 😍 😘 😎 🤔 😅 😉 🙂 😳 😢 😭 😡 👍 👎 👌 🙏 👏 🙌 💪 🤝 🎉 ❤️ 🔥 ✨ ✅ ❌ ❓ 🌹'.split(' ')

function themeColours(value: string | undefined): [string, string] {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value || '') ? (value as string) : '#1f6feb'
  const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c) : hex
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(full.slice(i, i + 2), 16))
  // Dark text on light themes, white text otherwise.
  return [hex, 0.299 * r + 0.587 * g + 0.114 * b > 170 ? '#1d2129' : '#fff']
}

function iconButton(name: Parameters<typeof icon>[0], label: string, cls = 'icon-btn'): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, 'aria-label': label, title: label }, icon(name))
}

export class WidgetUi implements ChatView {
  chat!: Chat
  private menu: HTMLElement | null = null
  readonly host = document.createElement('kefu-widget')
  private readonly shadow = this.host.attachShadow({ mode: 'open' })
  private readonly page: boolean
  private readonly company: string
  private readonly byId = new Map<number, HTMLElement>()
  private readonly pendingEls = new Map<string, HTMLElement>()
  private unread = 0
  private socketState: SocketState = 'connecting'
  private conv: Conversation | null = null

  private readonly launcher = iconButton('chat', t('launcher'), 'launcher')
  private readonly badge = h('span', { class: 'badge', hidden: true })
  private readonly panel = h('section', { class: 'panel', role: 'dialog', 'aria-label': t('panel'), lang })
  private readonly avatar: HTMLElement
  private readonly name = h('strong')
  private readonly sub = h('span')
  private readonly status = h('div', { class: 'status', role: 'status', hidden: true })
  private readonly log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('log'), tabindex: 0 })
  private readonly more = h('button', { type: 'button', class: 'more', text: t('more') })
  private readonly prior = h('div', { class: 'prior' })
  private readonly divider = h('div', { class: 'divider', text: t('earlier'), hidden: true })
  private readonly current = h('div', { class: 'current' })
  /** The welcome shown before the first message; the conversation's own welcome replaces it. */
  private readonly welcome = h('div', { class: 'row theirs welcome' })
  private readonly input = h('textarea', { rows: 1, 'aria-label': t('composer'), placeholder: t('placeholder'), maxlength: 5000 })
  private readonly send = h('button', { type: 'button', class: 'send', 'aria-label': t('send'), disabled: true }, icon('send'), t('send'))
  private readonly emojiButton = iconButton('smile', t('emoji'))
  private readonly emoji = h('div', { class: 'emoji', role: 'group', 'aria-label': t('emoji'), hidden: true })
  private readonly notice = h('div', { class: 'notice', role: 'alert', hidden: true })
  /** Header button to rate the conversation at any time (rating.ts). */
  private readonly rate = rateButton((el) => {
    this.current.append(el)
    this.scrollDown()
  })

  constructor(
    private readonly config: WidgetConfig,
    private readonly base: string,
    mode: 'float' | 'page',
    private readonly remember: (open: boolean) => void,
  ) {
    this.page = mode === 'page'
    this.company = (config.show_name !== false && config.company_name) || config.title || t('launcher')
    const logo = config.show_logo !== false ? safeUrl(config.logo_url, base) : null
    const initial = h('span', { class: 'avatar', 'aria-hidden': 'true', text: this.company.slice(0, 1) })
    this.avatar = logo ? h('img', { class: 'avatar', src: logo, alt: '' }) : initial
    this.avatar.addEventListener('error', () => this.avatar.replaceWith(initial))
    this.build()
  }

  private build(): void {
    const [colour, on] = themeColours(this.config.theme_color)
    this.host.style.setProperty('--c', colour)
    this.host.style.setProperty('--on', on)
    if (this.page) {
      this.host.setAttribute('data-mode', 'page')
      document.title = this.company
      document.documentElement.lang = lang
    }

    const close = iconButton('close', t('close'))
    close.hidden = this.page
    close.addEventListener('click', () => this.close())
    const head = h('header', { class: 'head' }, this.avatar, h('div', { class: 'who' }, this.name, this.sub), this.rate.el, close)

    const welcomeText = (this.config.welcome_text || '').trim()
    const bubble = h('div', { class: 'bubble', text: welcomeText })
    const menu = this.config.welcome_menu || []
    if (menu.length > 0) {
      const list = h('div', { class: 'menu', role: 'group', 'aria-label': t('menu') })
      this.menu = list
      for (const item of menu) {
        const b = h('button', { type: 'button', class: 'menu-item', text: item.label })
        b.addEventListener('click', () => {
          list.querySelectorAll('button').forEach((x) => ((x as HTMLButtonElement).disabled = true))
          void this.chat.chooseMenu(item.id).then((ok) => {
            if (!ok) {
              list.querySelectorAll('button').forEach((x) => ((x as HTMLButtonElement).disabled = false))
              this.flash(t('failed'))
            }
          })
        })
        list.append(b)
      }
      bubble.append(list)
    }
    this.welcome.append(bubble, h('div', { class: 'meta', text: this.company }))
    this.welcome.hidden = !welcomeText && menu.length === 0
    this.log.append(this.more, this.prior, this.divider, this.welcome, this.current)
    leaveHost(this.log, () => this.scrollDown()) // leave-message cards (leave.ts)
    this.more.addEventListener('click', () => void this.loadPrior())

    for (const e of EMOJI) {
      const b = h('button', { type: 'button', 'aria-label': e, text: e })
      b.addEventListener('click', () => this.insert(e))
      this.emoji.append(b)
    }
    this.emojiButton.setAttribute('aria-expanded', 'false')
    this.emojiButton.addEventListener('click', () => this.toggleEmoji())

    const tools = h(
      'div',
      { class: 'tools' },
      this.emojiButton,
      // The server takes JPG, PNG and GIF pictures.
      this.picker('image', 'image/png,image/jpeg,image/gif', t('image')),
      this.picker('clip', '', t('file')),
      this.send,
    )
    this.input.addEventListener('keydown', (e) => {
      // Enter sends; Shift+Enter is a new line; never while an IME is composing.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault()
        this.submit()
      }
    })
    this.input.addEventListener('input', () => this.edited())
    this.send.addEventListener('click', () => this.submit())
    this.panel.append(head, this.status, this.log, this.emoji, h('footer', { class: 'composer' }, this.notice, this.input, tools))

    this.launcher.append(icon('down'), this.badge)
    this.launcher.setAttribute('aria-expanded', 'false')
    this.launcher.addEventListener('click', () => (this.panel.hidden ? this.open() : this.close()))
    this.shadow.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key !== 'Escape') return
      if (!this.emoji.hidden) this.toggleEmoji(false)
      else if (!this.page) this.close()
    })
    this.panel.hidden = !this.page
    this.shadow.append(h('style', { text: CSS + RATING_CSS + KNOWLEDGE_CSS + LEAVE_CSS }), this.panel, this.page ? '' : this.launcher)
    this.showConversation(null, null)
  }

  /** An upload button with its hidden file input. */
  private picker(iconName: 'image' | 'clip', accept: string, label: string): HTMLElement {
    const input = h('input', { type: 'file', accept: accept || null, hidden: true, tabindex: -1, 'aria-hidden': 'true' })
    const button = iconButton(iconName, label)
    button.addEventListener('click', () => input.click())
    input.addEventListener('change', () => {
      for (const file of Array.from(input.files || [])) {
        const error = this.chat.sendFile(file, accept ? 'image' : 'file')
        if (error) this.flash(error)
      }
      input.value = ''
    })
    return h('span', null, button, input)
  }

  mount(): void {
    document.body.append(this.host)
  }

  open(): void {
    if (this.page) return
    this.panel.hidden = false
    this.host.setAttribute('data-open', '')
    this.launcher.setAttribute('aria-expanded', 'true')
    this.setUnread(0)
    this.remember(true)
    this.scrollDown()
    requestAnimationFrame(() => this.input.focus())
  }

  close(): void {
    if (this.page || this.panel.hidden) return
    this.panel.hidden = true
    this.host.removeAttribute('data-open')
    this.launcher.setAttribute('aria-expanded', 'false')
    this.toggleEmoji(false)
    this.remember(false)
    // Give focus back to the launcher only when it was in the panel (not for KefuWidget.close()).
    if (this.shadow.activeElement) this.launcher.focus()
  }

  private setUnread(n: number): void {
    this.unread = n
    this.badge.hidden = n === 0
    this.badge.textContent = n > 99 ? '99+' : String(n)
    this.launcher.setAttribute('aria-label', n ? `${t('launcher')} (${t('unread', { n })})` : t('launcher'))
  }

  private toggleEmoji(show = this.emoji.hidden): void {
    this.emoji.hidden = !show
    this.emojiButton.setAttribute('aria-expanded', String(show))
  }

  private insert(text: string): void {
    const { selectionStart: start, selectionEnd: end } = this.input
    this.input.setRangeText(text, start, end, 'end')
    this.input.focus()
    this.edited()
  }

  private edited(): void {
    this.input.style.height = 'auto'
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`
    this.send.disabled = !this.input.value.trim()
    this.chat.typing(this.input.value.trim() ? this.input.value : '')
  }

  private submit(): void {
    const text = this.input.value
    if (!text.trim()) return
    this.chat.sendText(text.slice(0, 5000))
    this.input.value = ''
    this.toggleEmoji(false)
    this.edited()
    this.input.focus()
  }

  private flash(text: string): void {
    this.notice.textContent = text
    this.notice.hidden = false
    window.setTimeout(() => (this.notice.hidden = true), 4000)
  }

  private async loadPrior(): Promise<void> {
    this.more.disabled = true
    const before = this.log.scrollHeight
    let more = true
    try {
      more = await this.chat.loadPrior()
    } catch {
      this.flash(t('failed'))
    }
    // Keep the messages the visitor was reading where they were.
    this.log.scrollTop += this.log.scrollHeight - before
    this.divider.hidden = !this.prior.firstChild
    this.more.disabled = !more
    this.more.textContent = more ? t('more') : t('noMore')
    // A button that becomes disabled drops focus to the page; keep it in the panel.
    if (!more) this.log.focus()
  }

  // ---- ChatView ----

  showMessage(m: Message, place: 'current' | 'prior' | 'new'): void {
    const follow = this.nearBottom() || m.sender?.type === 'visitor'
    const el = renderMessage(m, this.base, this.config.show_agent_nickname === false ? this.company : undefined)
    el.dataset.conv = String(m.conversation_id)
    for (const img of Array.from(el.querySelectorAll('img'))) img.addEventListener('load', () => follow && this.scrollDown())
    const old = this.byId.get(m.id) || (m.client_msg_id ? this.pendingEls.get(m.client_msg_id) : undefined)
    this.byId.set(m.id, el)
    if (old) {
      if (m.client_msg_id) this.pendingEls.delete(m.client_msg_id)
      old.replaceWith(el)
      this.regroup(el.parentElement)
      return
    }
    const box = place === 'prior' ? this.prior : this.current
    const next = Array.from(box.children).find((c) => !(c as HTMLElement).dataset.id || Number((c as HTMLElement).dataset.id) > m.id)
    box.insertBefore(el, next || null)
    this.regroup(box)
    this.welcomeShown()
    if (place !== 'prior' && follow) this.scrollDown()
    if (place === 'new' && m.sender?.type !== 'visitor' && this.panel.hidden) this.setUnread(this.unread + 1)
  }

  removeMessage(id: number): void {
    const el = this.byId.get(id)
    const box = el?.parentElement
    el?.remove()
    this.byId.delete(id)
    this.regroup(box)
  }

  /** Marks rows followed by a row of the same sender and minute, whose meta line is hidden. */
  private regroup(box: Element | null | undefined): void {
    const rows = Array.from(box?.children || []) as HTMLElement[]
    rows.forEach((row, i) => {
      const key = row.dataset.group
      row.classList.toggle('grouped', !!key && rows[i + 1]?.dataset.group === key)
    })
  }

  showOutgoing(o: Outgoing): void {
    const el = renderOutgoing(o, (id) => this.chat.retry(id))
    const old = this.pendingEls.get(o.id)
    this.pendingEls.set(o.id, el)
    if (old) old.replaceWith(el)
    else {
      this.current.append(el)
      this.scrollDown()
    }
  }

  clearConversation(conversationId: number): void {
    for (const [id, el] of this.byId) {
      if (el.dataset.conv === String(conversationId) && el.parentNode === this.current) {
        el.remove()
        this.byId.delete(id)
      }
    }
    this.welcomeShown()
  }

  showConversation(c: Conversation | null, agent: AgentRef | null): void {
    this.conv = c
    this.rate.update(c)
    leaveConversation(c)
    this.name.textContent = agent?.nickname || this.company
    this.sub.textContent = agent
      ? this.company
      : this.config.title && this.config.title !== this.company
        ? this.config.title
        : t('tagline')
    this.refreshStatus()
  }

  showSocket(state: SocketState): void {
    this.socketState = state
    this.refreshStatus()
  }

  oldestId(): number | null {
    let oldest: number | null = null
    for (const id of this.byId.keys()) if (oldest === null || id < oldest) oldest = id
    return oldest
  }

  private welcomeShown(): void {
    const hasMenu = !!this.config.welcome_menu?.length
    const chatting = this.current.childElementCount > 0
    this.welcome.hidden = (!(this.config.welcome_text || '').trim() && !(hasMenu && !chatting)) || !!this.current.querySelector('.welcome')
    // The menu is for starting a chat: it goes once messages are on screen.
    if (this.menu) this.menu.hidden = chatting
  }

  private refreshStatus(): void {
    const s = this.socketState
    const c = this.conv
    let text = ''
    let kind = ''
    if (s === 'refused') [text, kind] = [t('refused'), 'bad']
    else if (s === 'offline') [text, kind] = [t('offline'), 'bad']
    else if (c?.state === 'waiting') {
      const n = c.queue_position
      text = n ? t('queue', { n }) : t('queueWait')
    } else if (c?.state === 'ended') [text, kind] = [t('ended'), 'ended']
    const follow = this.nearBottom()
    this.status.textContent = text
    this.status.className = `status ${kind}`
    this.status.hidden = !text
    if (kind === '') leaveStatus(this.status, c) // "leave a message" while waiting (leave.ts)
    // The banner takes room from the log: keep the newest message in view.
    if (follow) this.scrollDown()
  }

  private nearBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80
  }

  private scrollDown(): void {
    requestAnimationFrame(() => (this.log.scrollTop = this.log.scrollHeight))
  }
}
