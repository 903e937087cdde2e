/** Team tree helpers: the API's team list as a tree for el-tree / el-tree-select. */
import type { Team } from '@shared/api'

export interface TeamNode {
  id: number
  label: string
  isRoot: boolean
  team: Team
  children: TeamNode[]
}

type MaybeNested = Team & { children?: MaybeNested[] }

function flatten(list: MaybeNested[], out: Team[] = []): Team[] {
  for (const t of list) {
    out.push(t)
    if (t.children?.length) flatten(t.children, out)
  }
  return out
}

/** Accepts a flat list with parent_id, or an already nested list; returns the roots. */
export function buildTeamTree(list: Team[]): TeamNode[] {
  const flat = flatten(list as MaybeNested[])
  const nodes = new Map<number, TeamNode>()
  for (const t of flat) nodes.set(t.id, { id: t.id, label: t.name, isRoot: t.is_root, team: t, children: [] })
  const roots: TeamNode[] = []
  for (const t of flat) {
    const node = nodes.get(t.id)!
    const parent = t.parent_id != null ? nodes.get(t.parent_id) : undefined
    if (parent) parent.children.push(node)
    else roots.push(node)
  }
  return roots
}

export function flattenTeams(list: Team[]): Team[] {
  return flatten(list as MaybeNested[])
}
