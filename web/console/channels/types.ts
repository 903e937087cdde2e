/** API shapes used by Channels (named here so the shared types file stays untouched). */
import type { components } from '@shared/api/schema'

type S = components['schemas']

export type Widget = S['WidgetOut']
export type WidgetCreated = S['WidgetCreatedOut']
export type WidgetInput = S['WidgetIn']
export type WidgetPatch = S['WidgetPatch']
export type Association = S['AssociationOut']
export type WidgetLanguage = NonNullable<WidgetInput['language']>

export const WIDGET_LANGUAGES: WidgetLanguage[] = ['auto', 'zh-CN', 'en']

/** Copy text to the clipboard; false when the browser refuses (e.g. plain http). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    // Fallback for insecure contexts: a temporary textarea and execCommand.
    const area = document.createElement('textarea')
    area.value = text
    area.setAttribute('readonly', '')
    area.style.position = 'fixed'
    area.style.opacity = '0'
    document.body.appendChild(area)
    area.select()
    let ok = false
    try {
      ok = document.execCommand('copy')
    } catch {
      ok = false
    }
    area.remove()
    return ok
  }
}

/** Text colour readable on the theme colour (the widget uses the same rule). */
export function onColour(hex: string): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex)
  if (!m) return '#fff'
  const n = parseInt(m[1], 16)
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255]
  return 0.299 * r + 0.587 * g + 0.114 * b > 170 ? '#1d2129' : '#fff'
}

/** The API prefixes a field's message with the field's name; next to the field it is noise. */
export function withoutFieldName(field: string, message: string): string {
  return message.replace(new RegExp(`^${field}\\s*[:：]\\s*`), '')
}
