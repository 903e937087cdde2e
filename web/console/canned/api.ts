/**
 * Canned replies (SPEC §8.1): types and calls shared by the admin page, the agent page, the
 * workbench panel and the composer suggestions.
 */
import { ref } from 'vue'
import { API_BASE, ApiError, api, unwrap, uploadFile } from '@shared/api'
import type { components } from '@shared/api/schema'
import { currentLanguage } from '@shared/i18n'

type S = components['schemas']
export type CannedCategory = S['CannedCategoryOut']
export type CannedReply = S['CannedReplyOut']
export type CannedSet = S['CannedSetOut']
export type CannedSubmission = S['CannedSubmissionOut']
export type CannedSuggestion = S['CannedSuggestionOut']
export type CannedImport = S['CannedImportOut']
export type SortMode = CannedSet['sort']
export type Scope = 'public' | 'personal'

export const MAX_NAME = 20
export const MAX_TEXT = 1000

export async function loadSet(scope: Scope, q = ''): Promise<CannedSet> {
  const query = q ? { q } : {}
  return scope === 'public'
    ? unwrap(api.GET('/api/v1/canned/public', { params: { query } }))
    : unwrap(api.GET('/api/v1/canned/personal', { params: { query } }))
}

export async function createCategory(scope: Scope, name: string, parentId: number | null = null): Promise<CannedCategory> {
  return scope === 'public'
    ? unwrap(api.POST('/api/v1/canned/public/categories', { body: { name, parent_id: parentId } }))
    : unwrap(api.POST('/api/v1/canned/personal/categories', { body: { name } }))
}

export async function renameCategory(scope: Scope, id: number, name: string): Promise<CannedCategory> {
  const params = { path: { canned_category_id: id } }
  return scope === 'public'
    ? unwrap(api.PATCH('/api/v1/canned/public/categories/{canned_category_id}', { params, body: { name } }))
    : unwrap(api.PATCH('/api/v1/canned/personal/categories/{canned_category_id}', { params, body: { name } }))
}

export async function deleteCategory(scope: Scope, id: number): Promise<void> {
  const params = { path: { canned_category_id: id } }
  await (scope === 'public'
    ? unwrap(api.DELETE('/api/v1/canned/public/categories/{canned_category_id}', { params }))
    : unwrap(api.DELETE('/api/v1/canned/personal/categories/{canned_category_id}', { params })))
}

export async function createReply(scope: Scope, text: string, categoryId: number | null): Promise<CannedReply> {
  const body = { text, category_id: categoryId }
  return scope === 'public'
    ? unwrap(api.POST('/api/v1/canned/public/replies', { body }))
    : unwrap(api.POST('/api/v1/canned/personal/replies', { body }))
}

export async function updateReply(scope: Scope, id: number, text: string, categoryId: number | null): Promise<CannedReply> {
  const params = { path: { canned_reply_id: id } }
  const body = { text, category_id: categoryId }
  return scope === 'public'
    ? unwrap(api.PATCH('/api/v1/canned/public/replies/{canned_reply_id}', { params, body }))
    : unwrap(api.PATCH('/api/v1/canned/personal/replies/{canned_reply_id}', { params, body }))
}

export async function deleteReply(scope: Scope, id: number): Promise<void> {
  const params = { path: { canned_reply_id: id } }
  await (scope === 'public'
    ? unwrap(api.DELETE('/api/v1/canned/public/replies/{canned_reply_id}', { params }))
    : unwrap(api.DELETE('/api/v1/canned/personal/replies/{canned_reply_id}', { params })))
}

export async function setPinned(id: number, pinned: boolean): Promise<CannedReply> {
  const params = { path: { canned_reply_id: id } }
  return pinned
    ? unwrap(api.PUT('/api/v1/canned/replies/{canned_reply_id}/pin', { params }))
    : unwrap(api.DELETE('/api/v1/canned/replies/{canned_reply_id}/pin', { params }))
}

/** Count one use (smart sort); failures are not the agent's concern. */
export function markUsed(id: number): void {
  void api.POST('/api/v1/canned/replies/{canned_reply_id}/used', { params: { path: { canned_reply_id: id } } }).catch(() => undefined)
}

export async function saveSort(sort: SortMode): Promise<SortMode> {
  return (await unwrap(api.PUT('/api/v1/canned/prefs', { body: { sort } }))).sort
}

export async function suggest(q: string, limit = 5): Promise<CannedSuggestion[]> {
  return unwrap(api.GET('/api/v1/canned/suggest', { params: { query: { q, limit } } }))
}

export async function importFile(scope: Scope, file: File): Promise<CannedImport> {
  return uploadFile<CannedImport>(`/canned/${scope}/import`, file)
}

/** Download an .xlsx from the API (export or template) through the session cookie. */
export async function download(path: string, fallbackName: string): Promise<void> {
  const response = await fetch(API_BASE + path, {
    credentials: 'same-origin',
    headers: { 'Accept-Language': currentLanguage() },
  })
  if (!response.ok) {
    let code = 'http_error'
    let message = `HTTP ${response.status}`
    try {
      const body = (await response.json()) as { error?: { code?: string; message?: string } }
      code = body.error?.code ?? code
      message = body.error?.message ?? message
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, code, message)
  }
  const blob = await response.blob()
  const match = /filename\*=UTF-8''([^;]+)/.exec(response.headers.get('content-disposition') ?? '')
  const name = match ? decodeURIComponent(match[1]) : fallbackName
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  window.setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** "Parent / Child" for a category id, or '' for none (a personal reply's first level). */
export function pathOf(categories: CannedCategory[], id: number | null): string {
  if (id === null) return ''
  const cat = categories.find((c) => c.id === id)
  if (!cat) return ''
  const parent = cat.parent_id === null ? undefined : categories.find((c) => c.id === cat.parent_id)
  return parent ? `${parent.name} / ${cat.name}` : cat.name
}

/** The ids of a category and its sub-categories (a first-level one shows its children's replies). */
export function withChildren(categories: CannedCategory[], id: number): Set<number> {
  return new Set([id, ...categories.filter((c) => c.parent_id === id).map((c) => c.id)])
}

export function matches(reply: CannedReply, q: string): boolean {
  const needle = q.trim().toLocaleLowerCase()
  return !needle || reply.text.toLocaleLowerCase().includes(needle)
}

// ---- the workbench: a reply chosen in the panel goes into the open conversation's composer ----

export interface InsertRequest {
  convId: number
  text: string
  seq: number
}

export const insertRequest = ref<InsertRequest | null>(null)
let seq = 0

export function requestInsert(convId: number, text: string): void {
  insertRequest.value = { convId, text, seq: ++seq }
}
