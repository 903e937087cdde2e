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

export function historyMessages(id: number): Promise<HistoryMessage[]> {
  return unwrap(api.GET('/api/v1/history/{conversation_id}/messages', { params: { path: { conversation_id: id }, query: { limit: 100 } } }))
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
