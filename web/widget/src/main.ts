/**
 * Kefu visitor chat widget: one dependency-free script.
 *
 * Embed with one line (the Kefu base URL is taken from the script's own src):
 *   <script src="https://kefu.example.com/widget.js" data-widget="KEY" async></script>
 *
 * Attributes (all optional except the key; without data-widget, `?widget=KEY` of the page is used):
 *   data-widget, data-mode="float"|"page", data-lang="zh-CN"|"en",
 *   data-skill-group, data-association              which queue and channel entry to use,
 *   data-name, data-phone, data-email               the visitor's profile,
 *   data-user-id, data-user-ts, data-user-sig       a signed identity (docs/protocol.md,
 *                                                   "Visitor identity"; sig = HMAC-SHA256 hex).
 *
 * JS API on window.KefuWidget, usable before the script has loaded through a command queue:
 *   window.KefuWidget = window.KefuWidget || []
 *   KefuWidget.push(['setVisitor', { name: 'Alice', custom: { order: 'A1' } }])
 * and after loading as methods (push keeps working):
 *   KefuWidget.open()  KefuWidget.close()
 *   KefuWidget.setVisitor({ name, phone, email, custom })
 *   KefuWidget.setEntry({ skillGroup, association })
 *   KefuWidget.identify({ userId, timestamp, signature })
 *   KefuWidget.sendCard({ title, description?, image_url?, url?, fields?: [{ label, value }] })
 *   KefuWidget.sendLocation({ latitude, longitude, address? })
 *   KefuWidget.sendLink({ url, title? })
 *     (send for the visitor, e.g. the product or order being looked at; opens the chat)
 * Without any script of its own, a page can open the chat from any element with `data-kefu-open`
 * (e.g. <button data-kefu-open>Contact us</button>), which suits pages under a strict CSP.
 */

import { Api, ApiError } from './api'
import { Chat } from './chat'
import { lang, setLanguage } from './i18n'
import type { Entry } from './types'
import { WidgetUi } from './ui'
import { initRating } from './rating'
import { initLeave, offerOffHours } from './leave'
import { pageInfo, visitorToken } from './visitor'

type Command = [string, ...unknown[]]
interface PublicApi {
  open(): void
  close(): void
  setVisitor(profile: Entry['profile']): void
  setEntry(entry: { skillGroup?: string; association?: string }): void
  identify(identity: { userId: string; timestamp: number; signature: string }): void
  sendCard(card: Record<string, unknown>): void
  sendLocation(location: Record<string, unknown>): void
  sendLink(link: Record<string, unknown>): void
  push(command: Command): void
}

declare global {
  interface Window {
    KefuWidget?: Command[] | PublicApi
  }
}

function ownScript(): HTMLScriptElement | null {
  const current = document.currentScript as HTMLScriptElement | null
  if (current?.src) return current
  const all = document.querySelectorAll<HTMLScriptElement>('script[src*="widget.js"]')
  return all[all.length - 1] || null
}

function readEntry(script: HTMLScriptElement | null): Entry {
  const d = script?.dataset || {}
  const trim = (v: string | undefined) => (v || '').trim() || undefined
  return {
    key: trim(d.widget) || new URLSearchParams(location.search).get('widget') || '',
    mode: d.mode === 'page' ? 'page' : 'float',
    lang: trim(d.lang),
    skillGroup: trim(d.skillGroup),
    association: trim(d.association),
    profile: { name: trim(d.name), phone: trim(d.phone), email: trim(d.email) },
    identity:
      d.userId && d.userTs && d.userSig
        ? { user_id: d.userId, timestamp: Number(d.userTs), signature: d.userSig }
        : undefined,
  }
}

/** Drops empty values so the server only sees what the site actually set. */
function compact<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>
}

function start(script: HTMLScriptElement | null): void {
  const src = new URL(script?.src || location.href, location.href)
  const base = src.origin + src.pathname.replace(/\/[^/]*$/, '')
  const entry = readEntry(script)
  const openKey = `kefu.open.${entry.key}`
  let ui: WidgetUi | null = null
  let wantOpen = false
  let registered = false
  // A profile change made while the first registration is on its way is sent right after it
  // (that request already carries the older profile).
  let registering = false
  let changedWhileRegistering = false
  let api: Api | null = null
  let chatRef: Chat | null = null
  // Structured sends made before the chat is ready wait here.
  const early: [kind: 'card' | 'location' | 'link', body: Record<string, unknown>][] = []
  const sendStructured = (kind: 'card' | 'location' | 'link', body: Record<string, unknown>) => {
    if (!body || typeof body !== 'object') return
    if (chatRef) {
      ui?.open()
      chatRef.sendStructured(kind, body)
    } else early.push([kind, body])
  }

  const register = async (): Promise<void> => {
    if (!api) return
    const basic = { widget_key: entry.key, token: api.token, page: pageInfo() }
    registering = true
    try {
      await api.session({
        ...basic,
        identity: entry.identity,
        profile: compact(entry.profile),
        entry: compact({ skill_group: entry.skillGroup, association: entry.association }),
      })
    } catch (e) {
      // A profile the server refuses (a malformed phone, an expired identity signature) must not
      // keep the visitor from chatting: register anonymously and say why in the console.
      if (!(e instanceof ApiError) || e.status < 400 || e.status >= 500 || e.code === 'widget_not_found') throw e
      console.warn('[kefu] visitor details refused:', e.code, e.message)
      await api.session(basic)
    } finally {
      registering = false
    }
    registered = true
    if (changedWhileRegistering) {
      changedWhileRegistering = false
      reregister()
    }
  }
  // Profile changes after registration are sent at once (coalesced within a tick).
  let pending: number | undefined
  const reregister = () => {
    if (!registered) {
      if (registering) changedWhileRegistering = true
      return
    }
    window.clearTimeout(pending)
    pending = window.setTimeout(() => void register().catch(() => undefined), 0)
  }

  const publicApi: PublicApi = {
    open: () => (ui ? ui.open() : (wantOpen = true)),
    close: () => (ui ? ui.close() : (wantOpen = false)),
    setVisitor(profile) {
      entry.profile = { ...entry.profile, ...profile }
      reregister()
    },
    setEntry(e) {
      entry.skillGroup = e.skillGroup ?? entry.skillGroup
      entry.association = e.association ?? entry.association
      reregister()
    },
    identify(i) {
      entry.identity = { user_id: i.userId, timestamp: Number(i.timestamp), signature: i.signature }
      reregister()
    },
    sendCard: (card) => sendStructured('card', card),
    sendLocation: (location) => sendStructured('location', location),
    sendLink: (link) => sendStructured('link', link),
    push(command) {
      const [name, ...args] = command
      const fn = (publicApi as unknown as Record<string, (...a: unknown[]) => void>)[name]
      if (typeof fn === 'function' && name !== 'push') fn(...args)
    },
  }
  document.addEventListener('click', (e) => {
    const target = e.target as Element | null
    if (target?.closest?.('[data-kefu-open]')) {
      e.preventDefault()
      publicApi.open()
    }
  })
  const queued = Array.isArray(window.KefuWidget) ? window.KefuWidget : []
  window.KefuWidget = publicApi
  queued.forEach((c) => publicApi.push(c))

  if (!entry.key) {
    console.warn('[kefu] widget.js needs data-widget="KEY" (or ?widget=KEY in the page URL)')
    return
  }
  setLanguage(entry.lang, document.documentElement.lang, navigator.language)
  api = new Api(base, entry.key, lang)

  void (async () => {
    let config
    try {
      config = await api.config()
    } catch (e) {
      console.warn('[kefu] this widget is not available', e)
      return
    }
    setLanguage(entry.lang, config.language, document.documentElement.lang, navigator.language)
    api.lang = lang
    api.token = visitorToken(entry.key)
    const remember = (open: boolean) => {
      try {
        sessionStorage.setItem(openKey, open ? '1' : '')
      } catch {
        /* not remembered across pages */
      }
    }
    ui = new WidgetUi(config, base, entry.mode, remember)
    const wsUrl = `${base.replace(/^http/, 'ws')}/api/v1/visitor/ws?widget=${encodeURIComponent(entry.key)}&lang=${lang}`
    const chat = new Chat(api, ui, config.show_agent_nickname !== false, wsUrl, register)
    ui.chat = chat
    initRating(api)
    initLeave(api)
    ui.mount()
    let wasOpen = false
    try {
      wasOpen = sessionStorage.getItem(openKey) === '1'
    } catch {
      /* no storage */
    }
    if (wantOpen || wasOpen) ui.open()
    // A failed registration is retried when the socket is refused with 4401.
    await register().catch(() => undefined)
    chat.start()
    void offerOffHours() // off hours: the leave-message form straight away (leave.ts)
    chatRef = chat
    for (const [kind, body] of early.splice(0)) sendStructured(kind, body)
  })()
}

// document.currentScript is only set while this script first runs, so read it now.
const script = ownScript()
const w = window as unknown as { __kefuWidget?: boolean }
if (!w.__kefuWidget) {
  w.__kefuWidget = true // the snippet pasted twice must not make two widgets
  if (document.body) start(script)
  else document.addEventListener('DOMContentLoaded', () => start(script))
}
