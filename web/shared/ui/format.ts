/** Date formatting in the tenant's time zone: `2025-03-08 14:05:09`, the same in both languages. */

let tenantTimeZone: string | undefined

export function setTimeZone(tz: string | undefined | null): void {
  tenantTimeZone = tz || undefined
}

function parts(iso: string | null | undefined): Record<string, string> | null {
  if (!iso) return null
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return null
  let list: Intl.DateTimeFormatPart[]
  const options: Intl.DateTimeFormatOptions = {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }
  try {
    list = new Intl.DateTimeFormat('en-US', { ...options, timeZone: tenantTimeZone }).formatToParts(d)
  } catch {
    list = new Intl.DateTimeFormat('en-US', options).formatToParts(d)
  }
  return Object.fromEntries(list.map((p) => [p.type, p.value]))
}

export function formatDateTime(iso: string | null | undefined, seconds = true): string {
  const p = parts(iso)
  if (!p) return iso ? String(iso) : '—'
  const time = `${p.hour}:${p.minute}` + (seconds ? `:${p.second}` : '')
  return `${p.year}-${p.month}-${p.day} ${time}`
}

export function formatDate(iso: string | null | undefined): string {
  const p = parts(iso)
  if (!p) return iso ? String(iso) : '—'
  return `${p.year}-${p.month}-${p.day}`
}
