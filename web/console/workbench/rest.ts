/** The REST side of the chat client for the console: the typed API, plus XHR for uploads. */
import { api, ApiError, unwrap } from '@shared/api'
import type { ApiErrorBody } from '@shared/api'
import type { Attachment, ChatRest, Conversation, Message, UploadKind } from '@shared/chat'
import { currentLanguage } from '@shared/i18n'

function at(id: number) {
  return { params: { path: { conversation_id: id } } }
}

/** Upload with progress events (fetch has none): same origin, the session cookie goes along. */
export function uploadWithProgress(
  url: string,
  form: FormData,
  onProgress: (fraction: number) => void,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', url)
    xhr.setRequestHeader('Accept-Language', currentLanguage())
    xhr.responseType = 'text'
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) onProgress(ev.loaded / ev.total)
    }
    xhr.onload = () => {
      let body: unknown
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined
      } catch {
        body = undefined
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1)
        resolve(body)
        return
      }
      const err = (body as Partial<ApiErrorBody> | undefined)?.error
      reject(new ApiError(xhr.status, err?.code ?? 'http_error', err?.message ?? `HTTP ${xhr.status}`, err?.fields ?? []))
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'network error'))
    xhr.onabort = () => reject(new ApiError(0, 'network_error', 'aborted'))
    xhr.send(form)
  })
}

export const consoleRest: ChatRest = {
  async ongoing() {
    return (await unwrap(api.GET('/api/v1/conversations', { params: { query: { state: 'ongoing' } } }))) as Conversation[]
  },
  async conversation(id) {
    return (await unwrap(api.GET('/api/v1/conversations/{conversation_id}', at(id)))) as Conversation
  },
  async messages(id, beforeSeq, limit) {
    const res = await unwrap(
      api.GET('/api/v1/conversations/{conversation_id}/messages', {
        params: { path: { conversation_id: id }, query: { before_seq: beforeSeq, limit } },
      }),
    )
    return res as Message[]
  },
  async prior(id, beforeId, limit) {
    const res = await unwrap(
      api.GET('/api/v1/conversations/{conversation_id}/prior-messages', {
        params: { path: { conversation_id: id }, query: { before_id: beforeId, limit } },
      }),
    )
    return res as Message[]
  },
  async send(id, body) {
    const res = await unwrap(api.POST('/api/v1/conversations/{conversation_id}/messages', { ...at(id), body }))
    return res as Message
  },
  async recall(id, messageId) {
    const res = await unwrap(
      api.POST('/api/v1/conversations/{conversation_id}/messages/{message_id}/recall', {
        params: { path: { conversation_id: id, message_id: messageId } },
      }),
    )
    return res as Message
  },
  async read(id, seq) {
    await unwrap(api.POST('/api/v1/conversations/{conversation_id}/read', { ...at(id), body: { seq } }))
  },
  async end(id) {
    return (await unwrap(api.POST('/api/v1/conversations/{conversation_id}/end', at(id)))) as Conversation
  },
  async upload(id: number, file: File, kind: UploadKind, onProgress: (f: number) => void) {
    const form = new FormData()
    form.append('kind', kind)
    form.append('file', file, file.name)
    const out = await uploadWithProgress(`/api/v1/conversations/${id}/attachments`, form, onProgress)
    return out as Attachment
  },
}
