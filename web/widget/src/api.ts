/** The visitor REST API (docs/protocol.md, "Visitor"): JSON over fetch, uploads over XHR. */

import type { Attachment, Conversation, Message, WidgetConfig } from './types'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

function toError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
    if (body.error) return new ApiError(status, body.error.code || 'error', body.error.message || '')
  } catch {
    /* not JSON */
  }
  return new ApiError(status, 'http_' + status, '')
}

/** Lists come as arrays or as {items: [...]}; both are accepted. */
function items<T>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[]
  const obj = data as { items?: T[]; messages?: T[] } | null
  return obj?.items || obj?.messages || []
}

export class Api {
  token = ''

  constructor(
    /** Kefu's origin (and path prefix, if any), without a trailing slash. */
    readonly base: string,
    readonly widgetKey: string,
    public lang: string,
  ) {}

  url(path: string): string {
    return `${this.base}/api/v1${path}`
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { 'Accept-Language': this.lang }
    if (json) headers['Content-Type'] = 'application/json'
    if (this.token) headers.Authorization = `Visitor ${this.token}`
    return headers
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url(path), {
      method,
      headers: this.headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      mode: 'cors',
    })
    const text = await res.text()
    if (!res.ok) throw toError(res.status, text)
    return (text ? JSON.parse(text) : null) as T
  }

  config(): Promise<WidgetConfig> {
    return this.request('GET', `/public/widgets/${encodeURIComponent(this.widgetKey)}`)
  }

  session(body: Record<string, unknown>): Promise<unknown> {
    return this.request('POST', '/visitor/session', body)
  }

  /** The visitor picked a welcome-menu item: it becomes their message, routed to its group. */
  menuChoice(itemId: number, clientMsgId: string): Promise<unknown> {
    return this.request('POST', '/visitor/menu-choice', { item_id: itemId, client_msg_id: clientMsgId })
  }

  async conversation(): Promise<Conversation | null> {
    const data = await this.request<Conversation | { conversation: Conversation | null } | null>(
      'GET',
      '/visitor/conversation',
    )
    return data && 'conversation' in data ? data.conversation : (data as Conversation | null)
  }

  async messages(conversationId: number, limit = 50, beforeSeq?: number): Promise<Message[]> {
    const before = beforeSeq ? `&before_seq=${beforeSeq}` : ''
    return items(await this.request('GET', `/visitor/messages?conversation_id=${conversationId}&limit=${limit}${before}`))
  }

  async prior(beforeId: number | null, limit = 10): Promise<Message[]> {
    const before = beforeId ? `before_id=${beforeId}&` : ''
    return items(await this.request('GET', `/visitor/prior-messages?${before}limit=${limit}`))
  }

  /** Uploads one file; `progress` gets 0–100. Resolves with the stored Attachment. */
  upload(file: File, kind: 'image' | 'file', progress: (percent: number) => void): Promise<Attachment> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open('POST', this.url('/visitor/attachments'))
      for (const [name, value] of Object.entries(this.headers(false))) xhr.setRequestHeader(name, value)
      xhr.upload.onprogress = (e) => e.lengthComputable && progress(Math.floor((e.loaded / e.total) * 100))
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText) as Attachment)
            return
          } catch {
            /* fall through */
          }
        }
        reject(toError(xhr.status, xhr.responseText))
      }
      xhr.onerror = () => reject(new ApiError(0, 'network', ''))
      const form = new FormData()
      form.append('file', file)
      form.append('kind', kind)
      xhr.send(form)
    })
  }
}
