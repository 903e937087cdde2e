/** API shapes and calls of the blacklist (SPEC §3.9). */
import { api, unwrap } from '@shared/api'
import type { components, paths } from '@shared/api/schema'

type S = components['schemas']

export type BlacklistEntry = S['BlacklistEntryOut']
export type BlacklistAdded = S['BlacklistAddOut']
export type BlacklistQuery = NonNullable<paths['/api/v1/blacklist']['get']['parameters']['query']>
export const MAX_REASON = 200

/** Where an addition comes from: the open conversation, a history conversation, or a visitor id. */
export type BlacklistSource =
  | { from: 'conversation'; conversationId: number }
  | { from: 'history'; conversationId: number }
  | { from: 'visitor'; visitorId: number }

export function addToBlacklist(source: BlacklistSource, reason: string): Promise<BlacklistAdded> {
  if (source.from === 'conversation') {
    return unwrap(
      api.POST('/api/v1/conversations/{conversation_id}/blacklist', {
        params: { path: { conversation_id: source.conversationId } },
        body: { reason },
      }),
    )
  }
  if (source.from === 'history') {
    return unwrap(
      api.POST('/api/v1/history/{conversation_id}/blacklist', {
        params: { path: { conversation_id: source.conversationId } },
        body: { reason },
      }),
    )
  }
  return unwrap(api.POST('/api/v1/blacklist', { body: { visitor_id: source.visitorId, reason } }))
}

export function listBlacklist(query: BlacklistQuery) {
  return unwrap(api.GET('/api/v1/blacklist', { params: { query } }))
}

export function removeEntry(id: number): Promise<BlacklistEntry> {
  return unwrap(api.DELETE('/api/v1/blacklist/{entry_id}', { params: { path: { entry_id: id } } }))
}

export function decideEntry(id: number, approve: boolean, comment = ''): Promise<BlacklistEntry> {
  const init = { params: { path: { entry_id: id } }, body: { comment } }
  return approve
    ? unwrap(api.POST('/api/v1/blacklist/{entry_id}/approve', init))
    : unwrap(api.POST('/api/v1/blacklist/{entry_id}/reject', init))
}
