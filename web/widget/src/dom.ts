/**
 * Small DOM helpers. Everything the widget shows is built with createElement and textContent,
 * so text from visitors, agents or the server can never become markup.
 */

type Child = Node | string | null | undefined | false
type Props = Record<string, string | number | boolean | null | undefined>

/** An element; `class` and `text` are shortcuts, other props become attributes (false/null skip). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(props || {})) {
    if (value === false || value == null) continue
    if (name === 'class') el.className = String(value)
    else if (name === 'text') el.textContent = String(value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) if (child) el.append(child)
  return el
}

const SVG = 'http://www.w3.org/2000/svg'

/** Outline icons (24 × 24 viewBox), drawn as stroked paths. */
const ICONS = {
  chat: 'M4 5h16v11H9l-5 4z',
  close: 'M6 6l12 12M18 6L6 18',
  send: 'M4 12l16-8-6 16-2.5-6.5z',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14.5s1.2 2 3.5 2 3.5-2 3.5-2M9 9.5h.01M15 9.5h.01',
  image: 'M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15 9h.01',
  clip: 'M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.6 17.2a1.7 1.7 0 0 1-2.4-2.4L15 7',
  file: 'M6 3h8l4 4v14H6zM14 3v4h4',
  pin: 'M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21zM12 12a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z',
  down: 'M6 9l6 6 6-6',
} as const

export type IconName = keyof typeof ICONS

export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('focusable', 'false')
  const path = document.createElementNS(SVG, 'path')
  path.setAttribute('d', ICONS[name])
  svg.append(path)
  return svg
}

/** An absolute http(s) URL, resolving relative ones against `base`; null for anything else. */
export function safeUrl(value: unknown, base: string): string | null {
  if (typeof value !== 'string' || !value) return null
  try {
    const url = new URL(value, base)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null
  } catch {
    return null
  }
}

/** An external link: new tab, no opener, no referrer, not endorsed. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, ...children)
}

export function formatSize(bytes: number): string {
  if (!(bytes >= 0)) return ''
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** HH:mm for today, otherwise MM-DD HH:mm (local time of the visitor). */
export function formatTime(iso: string): string {
  const d = new Date(iso)
  if (isNaN(d.getTime())) return ''
  const two = (n: number) => String(n).padStart(2, '0')
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`
  return d.toDateString() === new Date().toDateString() ? hm : `${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}`
}

/** base64url of `bytes` random bytes from the platform CSPRNG. */
export function randomId(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes))
  return btoa(String.fromCharCode(...buf)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
