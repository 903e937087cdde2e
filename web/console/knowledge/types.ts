import type { components } from '@shared/api/schema'

export type Category = components['schemas']['KnowledgeCategoryOut']
export type ItemSummary = components['schemas']['KnowledgeItemSummaryOut']
export type Item = components['schemas']['KnowledgeItemOut']
export type KbFile = components['schemas']['KnowledgeFileOut']

export const MAX_DEPTH = 10
export const CHANNELS = ['web', 'app', 'wechat', 'weibo'] as const

export interface CategoryNode extends Category {
  children: CategoryNode[]
}

/** The flat category list as a tree, siblings in their saved order. */
export function categoryTree(cats: Category[]): CategoryNode[] {
  const nodes = new Map<number, CategoryNode>(cats.map((c) => [c.id, { ...c, children: [] }]))
  const roots: CategoryNode[] = []
  for (const n of nodes.values()) {
    const parent = n.parent_id === null ? undefined : nodes.get(n.parent_id)
    if (parent) parent.children.push(n)
    else roots.push(n)
  }
  const sort = (list: CategoryNode[]) => {
    list.sort((a, b) => a.position - b.position || a.id - b.id)
    list.forEach((n) => sort(n.children))
  }
  sort(roots)
  return roots
}

/** Is this a knowledge card message (kind "card" with data.type "knowledge")? */
export function isKnowledgeCard(kind: string, body: Record<string, unknown>): boolean {
  const data = body.data as Record<string, unknown> | undefined
  return kind === 'card' && !!data && data.type === 'knowledge'
}
