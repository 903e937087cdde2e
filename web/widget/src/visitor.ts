/** The visitor's browser identity: the secret token per widget, and the page being visited. */

import { randomId } from './dom'

function store(kind: 'localStorage' | 'sessionStorage'): Storage | null {
  try {
    return window[kind]
  } catch {
    return null // storage disabled (privacy mode, sandboxed frames): fall back to this page only
  }
}

const memory: Record<string, string> = {}

function remember(kind: 'localStorage' | 'sessionStorage', key: string, make: () => string): string {
  const s = store(kind)
  let value: string | null = null
  try {
    value = s ? s.getItem(key) : memory[key] ?? null
  } catch {
    value = memory[key] ?? null
  }
  if (!value) {
    value = make()
    memory[key] = value
    try {
      s?.setItem(key, value)
    } catch {
      /* quota or privacy mode: the token lasts for this page */
    }
  }
  return value
}

/** 24 random bytes = 192 bits, 32 base64url characters (the protocol wants 22–64). */
export function visitorToken(widgetKey: string): string {
  return remember('localStorage', `kefu.visitor.${widgetKey}`, () => randomId(24))
}

export function pageInfo(): { url: string; title: string; referrer: string; landing_url: string } {
  return {
    url: location.href.slice(0, 2000),
    title: document.title.slice(0, 200),
    referrer: document.referrer.slice(0, 2000),
    // The first page of this browsing session on the site.
    landing_url: remember('sessionStorage', 'kefu.landing', () => location.href).slice(0, 2000),
  }
}

/** A client_msg_id: 16 random bytes, base64url (fits [A-Za-z0-9_-]{1,64}). */
export function clientMsgId(): string {
  return randomId(16)
}
