/** API shapes used by Current sessions (named here so the shared types file stays untouched). */
import type { components } from '@shared/api/schema'

type S = components['schemas']

export type Conversation = S['ConversationOut']
export type Message = S['MessageOut']

export interface Attachment {
  id: number
  kind: string
  name: string
  size: number
  content_type: string
  url: string | null
  expired?: boolean
}

/** A client_msg_id (docs/protocol.md): random, also where crypto.randomUUID is missing (plain http). */
export function newClientMsgId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Only web links are ever put in an href or src (the server checks too). */
export function safeHref(url: unknown): string | null {
  if (typeof url !== 'string') return null
  if (url.startsWith('/') && !url.startsWith('//')) return url
  return /^https?:\/\//i.test(url) ? url : null
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return ''
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/** `1 h 05 min` / `12 min` / `40 s` from milliseconds; language-neutral units. */
export function formatDuration(ms: number, lang: string): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const zh = lang !== 'en'
  if (h) return zh ? `${h} 小时 ${m} 分` : `${h} h ${m} min`
  if (m) return zh ? `${m} 分钟` : `${m} min`
  return zh ? `${s} 秒` : `${s} s`
}
