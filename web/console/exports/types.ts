/** API shapes and calls of export management (SPEC §14). */
import { api, unwrap } from '@shared/api'
import type { components, paths } from '@shared/api/schema'
import type { Mode } from '@shared/api'
import { can } from '../session'

type S = components['schemas']

export type ExportJob = S['ExportJobOut']
export type ExportDownload = S['ExportDownloadOut']
export type ExportFormat = 'xlsx' | 'csv'
export type ExportsQuery = NonNullable<paths['/api/v1/exports']['get']['parameters']['query']>

export function startExport(kind: string, params: Record<string, unknown>, format: ExportFormat): Promise<ExportJob> {
  return unwrap(api.POST('/api/v1/exports', { body: { kind, params, format } }))
}

export function listExports(query: ExportsQuery) {
  return unwrap(api.GET('/api/v1/exports', { params: { query } }))
}

export function listDownloads(jobId: number): Promise<ExportDownload[]> {
  return unwrap(api.GET('/api/v1/exports/{export_id}/downloads', { params: { path: { export_id: jobId } } }))
}

export function deleteExport(jobId: number): Promise<unknown> {
  return unwrap(api.DELETE('/api/v1/exports/{export_id}', { params: { path: { export_id: jobId } } }))
}

export function downloadUrl(jobId: number): string {
  return `/api/v1/exports/${jobId}/download`
}

/** The Export management page to open from `mode` (the other mode's when this one is not granted). */
export function exportsPath(mode: Mode | undefined): string | null {
  const order: Mode[] = mode === 'admin' ? ['admin', 'agent'] : ['agent', 'admin']
  const found = order.find((m) => can(`${m}.exports`))
  return found ? `/${found}/exports` : null
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${bytes} B`
}

export const ACTIVE_STATES = new Set<ExportJob['state']>(['queued', 'running'])
