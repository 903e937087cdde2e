/** Small display helpers of the workbench (times in the tenant's zone, sizes, links). */
import { formatDateTime } from '@shared/ui/format'

/** `14:05` today, `03-08 14:05` on another day (tenant time zone). */
export function shortTime(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return ''
  const full = formatDateTime(iso, false)
  const today = formatDateTime(now.toISOString(), false).slice(0, 10)
  return full.startsWith(today) ? full.slice(11) : full.slice(5)
}

export function fullTime(iso: string | null | undefined): string {
  return formatDateTime(iso)
}

export function fileSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return ''
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

export interface TextPart {
  text: string
  href?: string
}

const LINK = /https?:\/\/[^\s<>"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+/gi
const TRAILING = /[.,;:!?)\]}>'"]+$/

/** Split text into plain parts and http(s) links (nothing else becomes a link). */
export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = []
  let last = 0
  for (const match of text.matchAll(LINK)) {
    let url = match[0]
    const trail = url.match(TRAILING)?.[0] ?? ''
    if (trail) url = url.slice(0, url.length - trail.length)
    const start = match.index ?? 0
    if (url.length <= 'https://'.length) continue
    if (start > last) parts.push({ text: text.slice(last, start) })
    parts.push({ text: url, href: url })
    last = start + url.length
  }
  if (last < text.length) parts.push({ text: text.slice(last) })
  return parts
}

/** Only http(s) URLs are ever put in an href or src. */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null
  return /^https?:\/\//i.test(value) || value.startsWith('/api/v1/') || value.startsWith('blob:') ? value : null
}
