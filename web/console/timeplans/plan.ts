/** Time plan shapes and the checks the editor runs before saving (the API checks again). */
import type { components } from '@shared/api/schema'

type S = components['schemas']

export type TimePlan = S['TimePlanOut']
export type TimePlanStatus = S['TimePlanStatusOut']
export type Range = [string, string]
export interface WorkdayDraft {
  /** A stable key for v-for while dates change. */
  key: number
  date: string
  ranges: Range[]
}
export interface Draft {
  name: string
  weekly: Record<string, Range[]>
  workdays: WorkdayDraft[]
  holidays: string[]
}

export const WEEKDAYS = ['1', '2', '3', '4', '5', '6', '7'] as const
export const MAX_RANGES = 10
export const MAX_DATES = 366

const HM = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/

/** Every half hour of the day, 00:00 to 24:00. */
export const TIMES: string[] = Array.from({ length: 49 }, (_, i) => `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`)

export function minutes(hm: string): number {
  const [h, m] = hm.split(':').map(Number)
  return h * 60 + m
}

function hm(total: number): string {
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`
}

/** "9:5" / "0905" / "9" -> "09:05" / "09:05" / "09:00"; null when it is not a time of day. */
export function normalTime(value: string): string | null {
  const m = /^\s*(\d{1,2})(?::?(\d{2}))?\s*$/.exec(value)
  if (!m) return null
  const out = `${m[1].padStart(2, '0')}:${m[2] ?? '00'}`
  return HM.test(out) ? out : null
}

let seq = 0
export function nextKey(): number {
  seq += 1
  return seq
}

export function emptyDraft(name = ''): Draft {
  return {
    name,
    weekly: Object.fromEntries(WEEKDAYS.map((d) => [d, d <= '5' ? [['09:00', '18:00'] as Range] : []])),
    workdays: [],
    holidays: [],
  }
}

export function draftOf(plan: TimePlan): Draft {
  return {
    name: plan.name,
    weekly: Object.fromEntries(WEEKDAYS.map((d) => [d, (plan.weekly[d] ?? []).map((r) => [r[0], r[1]] as Range)])),
    workdays: plan.workdays.map((w) => ({ key: nextKey(), date: w.date, ranges: w.ranges.map((r) => [r[0], r[1]] as Range) })),
    holidays: [...plan.holidays],
  }
}

/** What the API stores, for comparing a draft with the saved plan. */
export function snapshot(d: Draft): string {
  return JSON.stringify({
    name: d.name.trim(),
    weekly: d.weekly,
    workdays: d.workdays.map((w) => ({ date: w.date, ranges: w.ranges })),
    holidays: [...d.holidays].sort(),
  })
}

export function bodyOf(d: Draft) {
  return {
    weekly: d.weekly,
    workdays: d.workdays.map((w) => ({ date: w.date, ranges: w.ranges })),
    holidays: [...d.holidays].sort(),
  }
}

/** A new range after the day's last one (or 09:00–18:00 on an empty day); null when full. */
export function nextRange(ranges: Range[]): Range | null {
  if (ranges.length >= MAX_RANGES) return null
  if (!ranges.length) return ['09:00', '18:00']
  const lastEnd = Math.max(...ranges.map((r) => minutes(r[1])))
  if (lastEnd >= 24 * 60) return null
  return [hm(lastEnd), hm(Math.min(lastEnd + 60, 24 * 60))]
}

export type Problem = { key: string; params?: Record<string, string> }

/** The day's first problem: a range out of order, or two that overlap. */
export function dayProblem(ranges: Range[], needOne = false): Problem | null {
  if (needOne && !ranges.length) return { key: 'noRanges' }
  for (const [s, e] of ranges) {
    if (!HM.test(s) || !HM.test(e)) return { key: 'time' }
    if (minutes(s) >= minutes(e)) return { key: 'order' }
  }
  const sorted = [...ranges].sort((a, b) => minutes(a[0]) - minutes(b[0]))
  for (let i = 1; i < sorted.length; i++) {
    if (minutes(sorted[i][0]) < minutes(sorted[i - 1][1])) return { key: 'overlap' }
  }
  return null
}

/** Problems of the whole draft, keyed like the editor's rows: weekly.1, workdays.0, holidays. */
export function problems(d: Draft): Record<string, Problem> {
  const out: Record<string, Problem> = {}
  for (const day of WEEKDAYS) {
    const p = dayProblem(d.weekly[day] ?? [])
    if (p) out[`weekly.${day}`] = p
  }
  const seen = new Set<string>()
  d.workdays.forEach((w, i) => {
    const p = !w.date
      ? { key: 'noDate' }
      : seen.has(w.date)
        ? { key: 'duplicateDate', params: { date: w.date } }
        : d.holidays.includes(w.date)
          ? { key: 'bothKinds', params: { date: w.date } }
          : dayProblem(w.ranges, true)
    if (p) out[`workdays.${i}`] = p
    if (w.date) seen.add(w.date)
  })
  return out
}

/** Where an API field error belongs in the editor: "weekly.1.0.1" -> "weekly.1". */
export function rowOfField(field: string): string {
  const parts = field.split('.')
  if ((parts[0] === 'weekly' || parts[0] === 'workdays') && parts.length > 1) return `${parts[0]}.${parts[1]}`
  return parts[0]
}

/** The API prefixes a field message with the field's path; next to the row it is noise. */
export function withoutPath(field: string, message: string): string {
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return message.replace(new RegExp(`^${escaped}\\s*[:：]\\s*`), '')
}
