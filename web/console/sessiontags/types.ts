/** API shapes of session tags (named here so the shared types file stays untouched). */
import type { components } from '@shared/api/schema'

export type SessionTag = components['schemas']['SessionTagOut']
export type AppliedTag = components['schemas']['AppliedTagOut']
export type ConversationTags = components['schemas']['ConversationTagsOut']
export type SessionTagImport = components['schemas']['SessionTagImportOut']

/** Limits the API enforces (SPEC §9.1); the UI mirrors them to explain refusals early. */
export const MAX_LEVELS = 10
export const MAX_FIRST_LEVEL = 30
export const MAX_TOTAL = 1000
export const MAX_REMARK = 200
export const MAX_PER_CONVERSATION = 20
export const MAX_NAME = 30

export interface TagNode extends SessionTag {
  children: TagNode[]
}

/** The flat depth-first list from GET /session-tags as a tree. */
export function buildTree(flat: SessionTag[]): TagNode[] {
  const byId = new Map<number, TagNode>()
  const roots: TagNode[] = []
  for (const t of flat) byId.set(t.id, { ...t, children: [] })
  for (const t of flat) {
    const node = byId.get(t.id)!
    const parent = t.parent_id != null ? byId.get(t.parent_id) : undefined
    if (parent) parent.children.push(node)
    else roots.push(node)
  }
  return roots
}

/** Levels in the subtree rooted at `node` (1 for a leaf). */
export function heightOf(node: TagNode): number {
  return 1 + Math.max(0, ...node.children.map(heightOf))
}

export const pathText = (path: string[]) => path.join(' / ')
