/** The one typed API client (openapi-fetch) and the error shape every caller sees. */
import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from './schema'
import type { ApiErrorBody, ApiErrorField } from './types'

export const API_BASE = '/api/v1'

// The generated paths already start with /api/v1.

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly fields: ApiErrorField[]

  constructor(status: number, code: string, message: string, fields: ApiErrorField[] = []) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.fields = fields
  }

  /** The message of the field error for `field`, if the API reported one. */
  fieldMessage(field: string): string | undefined {
    return this.fields.find((f) => f.field === field || f.field.endsWith(`.${field}`))?.message
  }
}

let languageOf: () => string = () => 'zh-CN'
let onUnauthenticated: (() => void) | null = null

/** The UI language to send as Accept-Language (errors come back in it before sign-in). */
export function setLanguageSource(fn: () => string): void {
  languageOf = fn
}

/** Called when an authenticated call answers 401 (session expired or revoked). */
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn
}

const AUTH_FREE = ['/auth/login', '/auth/login/mfa', '/auth/password/forgot', '/auth/password/reset', '/auth/logout'].map(
  (p) => API_BASE + p,
)

async function errorCodeOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.clone().json()) as Partial<ApiErrorBody>
    return body.error?.code
  } catch {
    return undefined
  }
}

const middleware: Middleware = {
  onRequest({ request }) {
    request.headers.set('Accept-Language', languageOf())
    return request
  },
  async onResponse({ response, schemaPath }) {
    if (response.status === 401 && !AUTH_FREE.includes(schemaPath) && onUnauthenticated) {
      // Only a lost session signs the user out; a wrong 2FA code is a 401 too (mfa_invalid).
      if ((await errorCodeOf(response)) === 'unauthenticated') onUnauthenticated()
    }
    return response
  },
}

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' })
api.use(middleware)

function toApiError(status: number, body: unknown, fallback: string): ApiError {
  const err = (body as Partial<ApiErrorBody> | undefined)?.error
  if (err && typeof err.code === 'string') {
    return new ApiError(status, err.code, err.message || fallback, err.fields ?? [])
  }
  return new ApiError(status, status === 0 ? 'network_error' : 'http_error', fallback)
}

/**
 * Await an openapi-fetch call and return its data, or throw an ApiError carrying the API's
 * `error.code` / `error.message` (already in the user's language).
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response }
  try {
    result = await call
  } catch (e) {
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e))
  }
  if (!result.response.ok) {
    throw toApiError(result.response.status, result.error, `HTTP ${result.response.status}`)
  }
  return result.data as T
}

/** Multipart upload of one file as field `file` (avatar, logo). */
export async function uploadFile<T>(path: string, file: File): Promise<T> {
  const form = new FormData()
  form.append('file', file)
  let response: Response
  try {
    response = await fetch(API_BASE + path, {
      method: 'POST',
      body: form,
      credentials: 'same-origin',
      headers: { 'Accept-Language': languageOf() },
    })
  } catch (e) {
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e))
  }
  const text = await response.text()
  const body: unknown = text ? JSON.parse(text) : undefined
  if (!response.ok) {
    if (response.status === 401 && onUnauthenticated && (body as Partial<ApiErrorBody>)?.error?.code === 'unauthenticated') {
      onUnauthenticated()
    }
    throw toApiError(response.status, body, `HTTP ${response.status}`)
  }
  return body as T
}

/** Message to show for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message
  if (e instanceof Error) return e.message
  return String(e)
}
