/** The permission catalogue arranged for the role editor: mode -> group -> (module) -> pages. */
import { NAV } from '../shell/modules'
import type { Catalogue } from '@shared/api'

export interface PermSection {
  /** i18n key of the section title */
  titleKey: string
  rows: PermRow[]
}

export interface PermRow {
  /** i18n key of the row label (a module), or '' for loose pages */
  moduleKey: string
  keys: string[]
  /** page key -> its tab keys (admin History tabs) */
  tabs: Record<string, string[]>
}

/** Sections in navigation order; pages of the catalogue unknown to the navigation go last. */
export function permissionSections(catalogue: Catalogue | null): { agent: PermSection[]; admin: PermSection[] } {
  const known = new Set<string>()
  const tabsOf = (key: string): string[] =>
    (catalogue?.pages ?? []).filter((p) => p.parent === key).map((p) => p.key)
  const fallbackTabs: Record<string, string[]> = {
    'admin.history': ['admin.history.transfers', 'admin.history.csat'],
  }
  const sections = { agent: [] as PermSection[], admin: [] as PermSection[] }
  for (const g of NAV) {
    const rows: PermRow[] = []
    let loose: PermRow | null = null
    for (const n of g.nodes) {
      if (n.kind === 'leaf') {
        if (!loose) {
          loose = { moduleKey: '', keys: [], tabs: {} }
          rows.push(loose)
        }
        loose.keys.push(n.key)
        known.add(n.key)
        const tabs = catalogue ? tabsOf(n.key) : (fallbackTabs[n.key] ?? [])
        if (tabs.length) {
          loose.tabs[n.key] = tabs
          tabs.forEach((k) => known.add(k))
        }
      } else {
        rows.push({ moduleKey: `shell.module.${n.id}`, keys: n.children.map((c) => c.key), tabs: {} })
        n.children.forEach((c) => known.add(c.key))
        loose = null
      }
    }
    sections[g.mode].push({ titleKey: g.mode === 'agent' ? 'roles.agentPages' : `shell.group.${g.id}`, rows })
  }
  const extra = (catalogue?.pages ?? []).filter((p) => !known.has(p.key) && !p.parent)
  for (const mode of ['agent', 'admin'] as const) {
    const keys = extra.filter((p) => p.mode === mode).map((p) => p.key)
    if (keys.length) sections[mode].push({ titleKey: 'shell.group.other', rows: [{ moduleKey: '', keys, tabs: {} }] })
  }
  return sections
}

export function allKeys(sections: PermSection[]): string[] {
  return sections.flatMap((s) => s.rows.flatMap((r) => r.keys.flatMap((k) => [k, ...(r.tabs[k] ?? [])])))
}

export const SCOPED_PAGES = ['customers', 'history', 'current_sessions']
export const SCOPES = ['tenant', 'skill_group', 'team']
