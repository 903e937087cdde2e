/** Date and number formatting in the tenant's time zone and the UI language. */
import { currentLanguage } from '../i18n'

let tenantTimeZone: string | undefined

export function setTimeZone(tz: string | undefined | null): void {
  tenantTimeZone = tz || undefined
}

function fmt(iso: string | null | undefined, options: Intl.DateTimeFormatOptions): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  try {
    return new Intl.DateTimeFormat(currentLanguage() === 'en' ? 'en-GB' : 'zh-CN', {
      timeZone: tenantTimeZone,
      hour12: false,
      ...options,
    }).format(d)
  } catch {
    return d.toLocaleString()
  }
}

export function formatDateTime(iso: string | null | undefined): string {
  return fmt(iso, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

export function formatDate(iso: string | null | undefined): string {
  return fmt(iso, { year: 'numeric', month: '2-digit', day: '2-digit' })
}
