/** API shapes and calls of History (SPEC §3.10) and callback (§3.8). */
import { api, unwrap } from '@shared/api'
import type { components, paths } from '@shared/api/schema'

type S = components['schemas']

export type HistoryItem = S['HistoryItemOut']
export type HistoryDetail = S['HistoryDetailOut']
export type HistoryMessage = S['MessageOut']
export type HistoryQuery = NonNullable<paths['/api/v1/history']['get']['parameters']['query']>
export type HistoryPage = S['PageOut_HistoryItemOut_']

const path = (id: number) => ({ params: { path: { conversation_id: id } } })

export function listHistory(query: HistoryQuery): Promise<HistoryPage> {
  return unwrap(api.GET('/api/v1/history', { params: { query } }))
}

export function historyDetail(id: number): Promise<HistoryDetail> {
  return unwrap(api.GET('/api/v1/history/{conversation_id}', path(id)))
}

export const MESSAGE_PAGE = 100

/** Up to 100 messages, oldest first; `beforeSeq` pages back ("more history messages"). */
export function historyMessages(id: number, beforeSeq?: number): Promise<HistoryMessage[]> {
  const query = beforeSeq ? { limit: MESSAGE_PAGE, before_seq: beforeSeq } : { limit: MESSAGE_PAGE }
  return unwrap(api.GET('/api/v1/history/{conversation_id}/messages', { params: { path: { conversation_id: id }, query } }))
}

export type MessageSearch = S['MessageSearchOut']
export function searchMessages(id: number, q: string): Promise<MessageSearch> {
  return unwrap(api.GET('/api/v1/history/{conversation_id}/messages/search', { params: { path: { conversation_id: id }, query: { q } } }))
}

export type HistoryOptions = S['HistoryOptionsOut']
export function historyOptions(mode: 'agent' | 'admin'): Promise<HistoryOptions> {
  return unwrap(api.GET('/api/v1/history/options', { params: { query: { mode } } }))
}

export type HistorySettings = S['HistorySettingsOut']
export function historySettings(): Promise<HistorySettings> {
  return unwrap(api.GET('/api/v1/history/settings'))
}
export function saveHistorySettings(months: 6 | 12 | 24 | 36): Promise<HistorySettings> {
  return unwrap(api.PUT('/api/v1/history/settings', { body: { retention_months: months } }))
}

export type VisitorTagRef = S['VisitorTagOut']
export function historyVisitorTags(id: number): Promise<VisitorTagRef[]> {
  return unwrap(api.GET('/api/v1/history/{conversation_id}/visitor-tags', path(id)))
}
export function saveHistoryVisitorTags(id: number, tagIds: number[]): Promise<VisitorTagRef[]> {
  return unwrap(api.PUT('/api/v1/history/{conversation_id}/visitor-tags', { ...path(id), body: { tag_ids: tagIds } }))
}

// ---- time in the tenant's time zone ----

/** Minutes east of UTC of `tz` at instant `at`. */
function offsetMinutes(at: number, tz: string | undefined): number {
  try {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, x.value]))
    const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second)
    return Math.round((asUtc - at) / 60000)
  } catch {
    return -new Date(at).getTimezoneOffset()
  }
}

/** The instant of 00:00 on calendar day y-m-d (m: 0-based) in `tz`. */
export function zonedMidnight(y: number, m: number, d: number, tz: string | undefined): Date {
  const guess = Date.UTC(y, m, d)
  let at = guess - offsetMinutes(guess, tz) * 60000
  at = guess - offsetMinutes(at, tz) * 60000
  return new Date(at)
}

/** Today's calendar date in `tz` as [y, m (0-based), d, weekday (0 = Sunday)]. */
export function zonedToday(tz: string | undefined, now = Date.now()): [number, number, number, number] {
  const local = new Date(now + offsetMinutes(now, tz) * 60000)
  return [local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), local.getUTCDay()]
}

/** This week (Monday to Sunday) as calendar dates, for a date-range picker. */
export function thisWeek(tz: string | undefined): [Date, Date] {
  const [y, m, d, wd] = zonedToday(tz)
  const monday = new Date(y, m, d - ((wd + 6) % 7))
  return [monday, new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 6)]
}

/** A picked calendar-date range as [from, to) instants in the tenant's time zone. */
export function rangeBounds(range: [Date, Date], tz: string | undefined): [string, string] {
  const [a, b] = range
  return [
    zonedMidnight(a.getFullYear(), a.getMonth(), a.getDate(), tz).toISOString(),
    zonedMidnight(b.getFullYear(), b.getMonth(), b.getDate() + 1, tz).toISOString(),
  ]
}

// ---- the column chooser, remembered per user and mode ----

export const COLUMNS = [
  'id',
  'visitor',
  'agents',
  'started',
  'ended',
  'tags',
  'transferred',
  'channel',
  'association',
  'type',
  'rating',
  'messages',
  'ending',
] as const
export type Column = (typeof COLUMNS)[number]
export const DEFAULT_HIDDEN: Column[] = ['ending']

function columnsKey(userId: number | undefined, mode: string): string {
  return `kefu.history.columns.${userId ?? 0}.${mode}`
}

export function loadColumns(userId: number | undefined, mode: string): Column[] {
  try {
    const raw = localStorage.getItem(columnsKey(userId, mode))
    if (raw) {
      const list = JSON.parse(raw) as unknown
      if (Array.isArray(list)) return COLUMNS.filter((c) => list.includes(c))
    }
  } catch {
    /* unreadable: defaults */
  }
  return COLUMNS.filter((c) => !DEFAULT_HIDDEN.includes(c))
}

export function saveColumns(userId: number | undefined, mode: string, columns: Column[]): void {
  try {
    localStorage.setItem(columnsKey(userId, mode), JSON.stringify(columns))
  } catch {
    /* private mode: this page only */
  }
}

export function callBack(id: number): Promise<S['CallbackOut']> {
  return unwrap(api.POST('/api/v1/conversations/{conversation_id}/callback', path(id)))
}

export function reassign(id: number, body: S['TransferIn']): Promise<S['ConversationOut']> {
  return unwrap(api.POST('/api/v1/conversations/{conversation_id}/reassign', { ...path(id), body }))
}

/** What the Callback button does afterwards (§3.8): a per-browser preference. */
export type CallbackAfter = 'jump' | 'stay'
const PREF_KEY = 'kefu.history.callbackAfter'

export function callbackAfter(): CallbackAfter {
  try {
    return localStorage.getItem(PREF_KEY) === 'stay' ? 'stay' : 'jump'
  } catch {
    return 'jump'
  }
}

export function setCallbackAfter(value: CallbackAfter): void {
  try {
    localStorage.setItem(PREF_KEY, value)
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}
