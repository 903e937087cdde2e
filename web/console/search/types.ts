/** API shapes and calls of Search (搜索, SPEC §13.1). */
import { api, unwrap } from '@shared/api'
import type { components, paths } from '@shared/api/schema'

type S = components['schemas']

export type SearchResult = paths['/api/v1/search']['get']['responses'][200]['content']['application/json']
export type SearchItem = SearchResult['items'][number]
export type Snippet = SearchItem['snippets'][number]
export type SearchQuery = paths['/api/v1/search']['get']['parameters']['query']
export type SessionTag = S['SessionTagOut']
export type Association = S['AssociationOut']

export function runSearch(query: SearchQuery): Promise<SearchResult> {
  return unwrap(api.GET('/api/v1/search', { params: { query } }))
}

export function sessionTags(): Promise<SessionTag[]> {
  return unwrap(api.GET('/api/v1/session-tags'))
}

/** Associations are listed for channel managers only; others get no association filter. */
export async function associations(): Promise<Association[]> {
  try {
    return await unwrap(api.GET('/api/v1/associations'))
  } catch {
    return []
  }
}

export interface Part {
  text: string
  hit: boolean
}

/**
 * A snippet cut into plain and matched parts. Offsets count Unicode code points (not UTF-16
 * units), so the text is split with Array.from. Rendered as text nodes: never HTML.
 */
export function parts(snippet: Pick<Snippet, 'text' | 'highlights'>): Part[] {
  const chars = Array.from(snippet.text)
  const out: Part[] = []
  let at = 0
  for (const [start = 0, end = 0] of [...snippet.highlights].sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))) {
    if (start < at || end <= start || end > chars.length) continue
    if (start > at) out.push({ text: chars.slice(at, start).join(''), hit: false })
    out.push({ text: chars.slice(start, end).join(''), hit: true })
    at = end
  }
  if (at < chars.length) out.push({ text: chars.slice(at).join(''), hit: false })
  return out
}
