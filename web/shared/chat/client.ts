/**
 * The staff conversation client (docs/protocol.md): keeps the agent's ongoing conversations,
 * applies socket events once and in order, sends with ack/nack and a timeout, resumes after a
 * reconnect and reloads a conversation on `resync`. It mutates a state object the caller owns
 * (pass a Vue `reactive()` object and the UI follows) and talks through two small adapters: the
 * shared socket and REST, so it carries no framework or API-client dependency.
 */
import { applyEvent, lastMessageOf, markRecalled, mergeMessages, newConvState } from './reducer'
import type {
  AckFrame,
  Attachment,
  ChatState,
  ConvState,
  Conversation,
  EventFrame,
  Frame,
  Message,
  NackFrame,
  OutgoingMessage,
  SendKind,
  TransferRequest,
} from './types'

export interface ChatTransport {
  /** Send a frame on the socket; false when it is not open. */
  send(frame: object): boolean
  isOpen(): boolean
}

export type UploadKind = 'image' | 'file' | 'voice'

export interface ChatRest {
  ongoing(): Promise<Conversation[]>
  conversation(id: number): Promise<Conversation>
  messages(id: number, beforeSeq: number | undefined, limit: number): Promise<Message[]>
  /** The visitor's earlier conversations' messages, newest first. */
  prior(id: number, beforeId: number | undefined, limit: number): Promise<Message[]>
  send(id: number, body: { client_msg_id: string; kind: SendKind; body: Record<string, unknown> }): Promise<Message>
  recall(id: number, messageId: number): Promise<Message>
  read(id: number, seq: number): Promise<void>
  end(id: number): Promise<Conversation>
  upload(id: number, file: File, kind: UploadKind, onProgress: (fraction: number) => void): Promise<Attachment>
}

export interface ChatHooks {
  /** A conversation was assigned or transferred to me. */
  assigned?(conv: ConvState): void
  /** A new message was applied (not a duplicate, not from a history load). */
  message?(conv: ConvState, message: Message): void
  ended?(conv: ConvState, by: string): void
  /** A conversation left the list (ended and closed, or transferred away). */
  removed?(id: number): void
  /** A transfer I asked for was decided (accepted, rejected, expired or cancelled). */
  transferDecided?(request: TransferRequest): void
  /** A background load failed. */
  error?(e: unknown): void
}

export interface ChatOptions {
  /** My user id (to tell my assignments and my messages). */
  me(): number | undefined
  hooks?: ChatHooks
  /** An unacknowledged send fails after this long (default 10 s). */
  sendTimeoutMs?: number
  pageSize?: number
  priorPageSize?: number
  /** Silence after which the typing preview is cleared (default 5 s). */
  typingTimeoutMs?: number
}

export const SEND_TIMEOUT = 'timeout'

export function createChatState(): ChatState {
  return {
    conversations: {},
    order: [],
    activeId: null,
    visible: true,
    transfers: {},
    waiting: null,
    ready: false,
    connected: false,
  }
}

/** A fresh client_msg_id: a UUID (crypto.randomUUID needs a secure context; fall back). */
export function newClientMsgId(): string {
  const c = globalThis.crypto
  if (typeof c?.randomUUID === 'function') return c.randomUUID()
  const bytes = c.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** A failure's text for the bubble; `network` when the request never got an answer. */
function messageOf(e: unknown): string {
  if ((e as { code?: unknown } | null)?.code === 'network_error') return 'network'
  return e instanceof Error ? e.message : String(e)
}

export class ChatClient {
  private readonly sendTimers = new Map<string, number>()
  private readonly typingTimers = new Map<number, number>()
  private readonly readTimers = new Map<number, number>()
  private readonly addedAt = new Map<number, number>()
  /** Frames held while the list loads, applied once it is in. */
  private buffer: Frame[] | null = null
  private disposed = false

  constructor(
    readonly state: ChatState,
    private readonly transport: ChatTransport,
    private readonly rest: ChatRest,
    private readonly options: ChatOptions,
  ) {}

  private get hooks(): ChatHooks {
    return this.options.hooks ?? {}
  }

  conv(id: number | null | undefined): ConvState | undefined {
    return id == null ? undefined : this.state.conversations[id]
  }

  // ---- list -------------------------------------------------------------------------------

  /** Load my ongoing conversations (first time), then resume so nothing falls in between. */
  async load(): Promise<void> {
    this.buffer = this.buffer ?? []
    try {
      await this.refreshList()
    } finally {
      const held = this.buffer ?? []
      this.buffer = null
      this.state.ready = true
      for (const f of held) this.handleFrame(f)
    }
    if (this.transport.isOpen()) this.resume()
  }

  /** Fetch the ongoing list: adopt new conversations, drop those no longer mine. */
  async refreshList(): Promise<void> {
    const started = Date.now()
    const list = await this.rest.ongoing()
    const seen = new Set<number>()
    const initial = !this.state.ready && this.state.order.length === 0
    const sorted = [...list].sort((a, b) => (b.accepted_at ?? b.created_at).localeCompare(a.accepted_at ?? a.created_at))
    const added: number[] = []
    for (const conv of sorted) {
      seen.add(conv.id)
      const s = this.conv(conv.id)
      if (s) {
        if (conv.seq === s.lastSeq) {
          s.conv = { ...conv }
        } else {
          // The snapshot is behind what was applied, or ahead of it (those events arrive
          // through resume with their own unread counts and previews): keep ours.
          s.conv = { ...conv, seq: s.conv.seq, unread: s.conv.unread, last_message: s.conv.last_message }
        }
      } else {
        const fresh = this.add(conv, conv.seq, false)
        fresh.fresh = !initial
        added.push(conv.id)
      }
    }
    if (added.length) {
      const rest = this.state.order.filter((id) => !added.includes(id))
      this.state.order = [...added, ...rest]
    }
    const activeId = this.state.activeId
    if (activeId !== null && this.state.visible && this.conv(activeId)?.conv.unread) this.markRead(activeId)
    for (const id of [...this.state.order]) {
      if (seen.has(id) || (this.addedAt.get(id) ?? 0) >= started) continue
      const s = this.conv(id)
      if (s && id === this.state.activeId) {
        s.ended = true
      } else {
        this.remove(id)
      }
    }
  }

  private add(conv: Conversation, lastSeq: number, top: boolean): ConvState {
    this.state.conversations[conv.id] = newConvState({ ...conv, unread: conv.unread ?? 0 }, lastSeq)
    this.addedAt.set(conv.id, Date.now())
    if (!this.state.order.includes(conv.id)) {
      if (top) this.state.order.unshift(conv.id)
      else this.state.order.push(conv.id)
    }
    return this.state.conversations[conv.id]
  }

  remove(id: number): void {
    const s = this.conv(id)
    if (!s) return
    for (const o of s.outbox) this.clearSendTimer(o.client_msg_id)
    window.clearTimeout(this.typingTimers.get(id))
    window.clearTimeout(this.readTimers.get(id))
    this.typingTimers.delete(id)
    this.readTimers.delete(id)
    this.addedAt.delete(id)
    delete this.state.transfers[id]
    delete this.state.conversations[id]
    this.state.order = this.state.order.filter((x) => x !== id)
    if (this.state.activeId === id) this.state.activeId = null
    this.hooks.removed?.(id)
  }

  // ---- socket -----------------------------------------------------------------------------

  /** The socket said hello (first connection or a reconnection). */
  connected(): void {
    this.state.connected = true
    if (!this.state.ready) return
    this.resume()
    this.refreshList().catch((e) => this.hooks.error?.(e))
    // Sends that were in flight when the socket dropped go again (same client_msg_id).
    for (const id of this.state.order) {
      for (const o of this.conv(id)?.outbox ?? []) if (o.status === 'pending') this.dispatch(o)
    }
  }

  disconnected(): void {
    this.state.connected = false
  }

  /** Ask for what each conversation missed since its last applied seq. */
  resume(): void {
    const conversations: Record<string, number> = {}
    for (const id of this.state.order) {
      const s = this.conv(id)
      if (s && !s.ended) conversations[String(id)] = s.lastSeq
    }
    if (Object.keys(conversations).length) this.transport.send({ type: 'resume', conversations })
  }

  handleFrame(frame: Frame): void {
    if (this.disposed) return
    const held = ['event', 'resumed', 'resync', 'typing']
    if (this.buffer && held.includes(frame.type)) {
      this.buffer.push(frame)
      return
    }
    switch (frame.type) {
      case 'event':
        this.onEvent(frame as unknown as EventFrame)
        break
      case 'ack': {
        const ack = frame as unknown as AckFrame
        if (ack.message) this.settle(ack.client_msg_id, ack.message)
        break
      }
      case 'nack': {
        const nack = frame as unknown as NackFrame
        this.fail(nack.client_msg_id, nack.message || nack.code)
        break
      }
      case 'resumed': {
        const s = this.conv(frame.conversation_id as number)
        if (s && typeof frame.seq === 'number') s.lastSeq = Math.max(s.lastSeq, frame.seq)
        break
      }
      case 'resync':
        void this.reload(frame.conversation_id as number)
        break
      case 'typing':
        this.onTyping(frame.conversation_id as number, String(frame.text ?? ''))
        break
      case 'queue.changed':
        if (typeof frame.waiting === 'number') this.state.waiting = frame.waiting
        break
      case 'transfer.decided':
        this.onTransferDecided(frame.request as TransferRequest | undefined)
        break
    }
  }

  private onEvent(frame: EventFrame): void {
    let s = this.conv(frame.conversation_id)
    let arrived = false
    if (!s) {
      if (frame.name !== 'conversation.assigned') return
      const conv = frame.data.conversation as Conversation | undefined
      const agent = frame.data.agent as { id: number } | null | undefined
      if (!conv || (agent?.id ?? conv.agent?.id) !== this.options.me()) return
      s = this.add(conv, frame.seq - 1, true)
      s.fresh = true
      const accepted = conv.accepted_at ? Date.parse(conv.accepted_at) : NaN
      // Accepted long before this assignment: it came from a colleague (a transfer).
      s.transferred = Number.isFinite(accepted) && Date.parse(frame.at) - accepted > 3000
      arrived = true
    }
    const out = applyEvent(s, frame)
    if (out.kind === 'duplicate') return
    // The server says why it arrived; the timing guess above is for servers that do not.
    if (arrived && out.kind === 'assigned' && out.reason) s.transferred = out.reason === 'transferred_in'
    switch (out.kind) {
      case 'message': {
        const m = out.message
        if (m.sender.type === 'visitor') {
          s.typing = ''
          window.clearTimeout(this.typingTimers.get(s.id))
        }
        const looking = this.state.activeId === s.id && this.state.visible
        if (m.sender.type === 'visitor' && !m.whisper) {
          if (looking) this.scheduleRead(s.id)
          else s.conv.unread = (s.conv.unread ?? 0) + 1
        }
        this.hooks.message?.(s, m)
        break
      }
      case 'assigned':
        if (out.agentId !== null && out.agentId !== this.options.me()) {
          // Transferred to a colleague: it leaves my list.
          this.leave(s, 'transfer', out.agentName)
        } else if (arrived) {
          this.hooks.assigned?.(s)
        } else if (s.ended && (s.endedBy === 'transfer' || s.endedBy === 'queued')) {
          // It left me and came back (transferred back, or picked again from the queue) while I
          // still had it open: it is live again.
          s.ended = false
          s.endedBy = ''
          s.movedTo = ''
          s.fresh = this.state.activeId !== s.id
          s.transferred = out.reason !== 'picked'
          void this.loadMessages(s.id, true)
          this.hooks.assigned?.(s)
        }
        break
      case 'queued':
        // Transferred to a skill group and waiting there: no longer mine either.
        this.leave(s, 'queued', out.group)
        break
      case 'ended':
        delete this.state.transfers[s.id]
        this.hooks.ended?.(s, out.by)
        if (this.state.activeId !== s.id) this.remove(s.id)
        break
    }
    if (out.gap) void this.loadMessages(s.id, true)
  }

  /** A conversation moved away from me: the open one stays, shown as ended with a note. */
  private leave(s: ConvState, why: 'transfer' | 'queued', to: string): void {
    delete this.state.transfers[s.id]
    if (this.state.activeId === s.id) {
      s.ended = true
      s.endedBy = why
      s.movedTo = to
      s.typing = ''
    } else this.remove(s.id)
  }

  private onTransferDecided(request: TransferRequest | undefined): void {
    if (!request || typeof request.conversation_id !== 'number') return
    const mine = this.state.transfers[request.conversation_id]
    if (mine && mine.id === request.id) delete this.state.transfers[request.conversation_id]
    if (request.from_agent?.id === this.options.me()) this.hooks.transferDecided?.(request)
  }

  private onTyping(id: number, text: string): void {
    const s = this.conv(id)
    if (!s || s.ended) return
    s.typing = text.slice(0, 500)
    window.clearTimeout(this.typingTimers.get(id))
    if (text) {
      this.typingTimers.set(
        id,
        window.setTimeout(() => {
          const cur = this.conv(id)
          if (cur) cur.typing = ''
        }, this.options.typingTimeoutMs ?? 5000),
      )
    }
  }

  /** After `resync` (or when a conversation was too far behind): reload it over REST. */
  async reload(id: number): Promise<void> {
    let conv: Conversation | null = null
    try {
      conv = await this.rest.conversation(id)
    } catch {
      conv = null
    }
    const s = this.conv(id)
    if (!s) return
    if (!conv || conv.state !== 'ongoing' || conv.agent?.id !== this.options.me()) {
      if (this.state.activeId === id) s.ended = true
      else this.remove(id)
      return
    }
    s.conv = { ...conv, unread: conv.unread ?? s.conv.unread }
    s.lastSeq = Math.max(s.lastSeq, conv.seq)
    await this.loadMessages(id, true)
  }

  // ---- opening and history ----------------------------------------------------------------

  /** The user opened a conversation (or none). */
  open(id: number | null): void {
    this.state.activeId = id
    for (const other of [...this.state.order]) {
      if (other !== id && this.conv(other)?.ended) this.remove(other)
    }
    const s = this.conv(id)
    if (!s) return
    s.fresh = false
    if (s.loaded === 'no') void this.loadMessages(s.id)
    if (s.priorState === 'idle' && s.prior.length === 0) void this.loadPrior(s.id)
    this.markRead(s.id)
  }

  setVisible(visible: boolean): void {
    this.state.visible = visible
    if (visible && this.state.activeId !== null) this.markRead(this.state.activeId)
  }

  /** Load the latest page of messages (merged with what events already brought). */
  async loadMessages(id: number, force = false): Promise<void> {
    const s = this.conv(id)
    if (!s || (s.loaded === 'loading' && !force)) return
    const wasLoaded = s.loaded === 'yes'
    s.loaded = 'loading'
    const size = this.options.pageSize ?? 50
    try {
      const page = await this.rest.messages(id, undefined, size)
      const cur = this.conv(id)
      if (!cur) return
      if (force) {
        // A reload (resync, or a gap): the page replaces what we had, so no hole is left in
        // the middle; messages that arrived after the page was read are kept.
        const top = page.at(-1)?.seq ?? 0
        cur.messages = mergeMessages(page.slice(), cur.messages.filter((m) => m.seq > top))
        cur.hasOlder = page.length >= size
      } else {
        mergeMessages(cur.messages, page)
        if (!wasLoaded) cur.hasOlder = page.length >= size
      }
      cur.loaded = 'yes'
      for (const m of page) this.dropOutbox(cur, m)
      const last = cur.messages.filter((m) => !m.whisper).at(-1)
      if (last && (!cur.conv.last_message || cur.conv.last_message.at <= last.created_at)) {
        cur.conv.last_message = lastMessageOf(last)
      }
      if (this.state.activeId === id) this.markRead(id)
    } catch (e) {
      const cur = this.conv(id)
      if (cur) cur.loaded = wasLoaded ? 'yes' : 'no'
      this.hooks.error?.(e)
    }
  }

  /** Older messages of this conversation, else 10 more of the visitor's earlier ones. */
  async loadMore(id: number): Promise<void> {
    const s = this.conv(id)
    if (!s) return
    if (s.hasOlder && s.messages.length) {
      const size = this.options.pageSize ?? 50
      try {
        const page = await this.rest.messages(id, s.messages[0].seq, size)
        const cur = this.conv(id)
        if (!cur) return
        mergeMessages(cur.messages, page)
        cur.hasOlder = page.length >= size
      } catch (e) {
        this.hooks.error?.(e)
      }
      return
    }
    await this.loadPrior(id)
  }

  async loadPrior(id: number): Promise<void> {
    const s = this.conv(id)
    if (!s || s.priorState !== 'idle') return
    s.priorState = 'loading'
    const size = this.options.priorPageSize ?? 10
    try {
      const page = await this.rest.prior(id, s.prior[0]?.id, size)
      const cur = this.conv(id)
      if (!cur) return
      const known = new Set(cur.prior.map((m) => m.id))
      const older = page.filter((m) => !known.has(m.id)).sort((a, b) => a.id - b.id)
      cur.prior = [...older, ...cur.prior]
      cur.priorState = page.length < size ? 'done' : 'idle'
    } catch (e) {
      const cur = this.conv(id)
      if (cur) cur.priorState = 'idle'
      this.hooks.error?.(e)
    }
  }

  // ---- sending ----------------------------------------------------------------------------

  sendText(id: number, text: string): void {
    this.queue(id, 'text', { text }, { text })
  }

  /** Send any kind whose body needs no upload (location, link, card). */
  sendBody(id: number, kind: SendKind, body: Record<string, unknown>): void {
    this.queue(id, kind, body, body)
  }

  /** Upload then send an image, file or voice clip (`extra` e.g. `{duration}` for voice). */
  sendFile(id: number, file: File, kind: UploadKind, extra: Record<string, unknown> = {}): void {
    const s = this.conv(id)
    if (!s) return
    const local = kind === 'file' ? null : URL.createObjectURL(file)
    const view = {
      ...extra,
      attachment: { id: 0, kind, name: file.name, size: file.size, content_type: file.type, url: local, expired: false },
    }
    const item = this.push(s, kind, { ...extra }, view)
    item.status = 'uploading'
    item.file = file
    item.uploadKind = kind
    void this.upload(item)
  }

  private queue(id: number, kind: SendKind, body: Record<string, unknown>, view: Record<string, unknown>): void {
    const s = this.conv(id)
    if (!s) return
    this.dispatch(this.push(s, kind, body, view))
  }

  private push(s: ConvState, kind: SendKind, body: Record<string, unknown>, view: Record<string, unknown>): OutgoingMessage {
    s.outbox.push({
      client_msg_id: newClientMsgId(),
      conversation_id: s.id,
      kind,
      body,
      view,
      status: 'pending',
      progress: 0,
      error: '',
      created_at: new Date().toISOString(),
    })
    return s.outbox[s.outbox.length - 1]
  }

  private async upload(item: OutgoingMessage): Promise<void> {
    if (!item.file || !item.uploadKind) return
    item.status = 'uploading'
    item.error = ''
    item.progress = 0
    try {
      const att = await this.rest.upload(item.conversation_id, item.file, item.uploadKind, (p) => (item.progress = p))
      item.body = { ...item.body, attachment_id: att.id }
      const shown = item.view.attachment as Record<string, unknown> | undefined
      item.view = { ...item.view, attachment: { ...att, url: shown?.url ?? att.url } }
      this.dispatch(item)
    } catch (e) {
      item.status = 'failed'
      item.error = messageOf(e)
    }
  }

  private dispatch(item: OutgoingMessage): void {
    item.status = 'pending'
    item.error = ''
    const cmid = item.client_msg_id
    this.clearSendTimer(cmid)
    this.sendTimers.set(
      cmid,
      window.setTimeout(() => this.fail(cmid, SEND_TIMEOUT), this.options.sendTimeoutMs ?? 10_000),
    )
    const payload = { client_msg_id: cmid, kind: item.kind, body: item.body }
    if (this.transport.send({ type: 'send', conversation_id: item.conversation_id, ...payload })) return
    this.rest.send(item.conversation_id, payload).then(
      (m) => this.settle(cmid, m),
      (e) => this.fail(cmid, messageOf(e)),
    )
  }

  /** Resend a failed message with the same client_msg_id (the server never duplicates it). */
  resend(id: number, clientMsgId: string): void {
    const item = this.conv(id)?.outbox.find((o) => o.client_msg_id === clientMsgId)
    if (!item || item.status !== 'failed') return
    if (item.uploadKind && item.body.attachment_id === undefined) void this.upload(item)
    else this.dispatch(item)
  }

  /** Give up a failed message (remove it from the outbox). */
  discard(id: number, clientMsgId: string): void {
    const s = this.conv(id)
    if (!s) return
    const i = s.outbox.findIndex((o) => o.client_msg_id === clientMsgId)
    if (i < 0) return
    this.clearSendTimer(clientMsgId)
    this.revokePreview(s.outbox[i])
    s.outbox.splice(i, 1)
  }

  private settle(clientMsgId: string, message: Message): void {
    this.clearSendTimer(clientMsgId)
    const s = this.conv(message.conversation_id)
    if (!s) return
    mergeMessages(s.messages, [message])
    this.dropOutbox(s, message)
    if (!message.whisper) {
      const last = s.conv.last_message
      if (!last || last.at <= message.created_at) s.conv.last_message = lastMessageOf(message)
    }
  }

  private dropOutbox(s: ConvState, message: Message): void {
    if (!message.client_msg_id || message.sender.type !== 'agent') return
    const i = s.outbox.findIndex((o) => o.client_msg_id === message.client_msg_id)
    if (i < 0) return
    this.clearSendTimer(message.client_msg_id)
    this.revokePreview(s.outbox[i])
    s.outbox.splice(i, 1)
  }

  private revokePreview(item: OutgoingMessage): void {
    const url = (item.view.attachment as { url?: string | null } | undefined)?.url
    if (url && url.startsWith('blob:')) window.setTimeout(() => URL.revokeObjectURL(url), 60_000)
  }

  private fail(clientMsgId: string, error: string): void {
    this.clearSendTimer(clientMsgId)
    for (const id of this.state.order) {
      const item = this.conv(id)?.outbox.find((o) => o.client_msg_id === clientMsgId)
      if (item && item.status === 'pending') {
        item.status = 'failed'
        item.error = error
      }
    }
  }

  private clearSendTimer(clientMsgId: string): void {
    window.clearTimeout(this.sendTimers.get(clientMsgId))
    this.sendTimers.delete(clientMsgId)
  }

  // ---- other actions ----------------------------------------------------------------------

  async recall(id: number, messageId: number): Promise<void> {
    const m = await this.rest.recall(id, messageId)
    const s = this.conv(id)
    if (s) markRecalled(s, m.id, m)
  }

  /** Report everything up to the latest seq read (socket, else REST). */
  markRead(id: number): void {
    const s = this.conv(id)
    if (!s || s.ended) return
    window.clearTimeout(this.readTimers.get(id))
    this.readTimers.delete(id)
    const seq = Math.max(s.lastSeq, s.messages.at(-1)?.seq ?? 0)
    if (seq <= s.readSeq && !s.conv.unread) return
    s.readSeq = seq
    s.conv.unread = 0
    if (!this.transport.send({ type: 'read', conversation_id: id, seq })) {
      this.rest.read(id, seq).catch(() => undefined)
    }
  }

  private scheduleRead(id: number): void {
    if (this.readTimers.has(id)) return
    this.readTimers.set(
      id,
      window.setTimeout(() => {
        this.readTimers.delete(id)
        this.markRead(id)
      }, 300),
    )
  }

  /**
   * I transferred a conversation (SPEC §3.5, §3.6): it leaves my list at once, unless the
   * colleague must confirm first (`pending`), when it stays with me until they decide.
   */
  transferred(
    id: number,
    outcome: 'transferred' | 'pending' | 'queued',
    request: TransferRequest | null,
    conversation?: Conversation,
  ): void {
    if (outcome === 'pending') {
      if (request && request.state === 'pending') this.state.transfers[id] = request
      return
    }
    const s = this.conv(id)
    // Events newer than the answer were applied already (it may even have come back to me,
    // e.g. dispatched again from the group's queue): they know better than the answer.
    if (s && conversation && s.lastSeq > conversation.seq) return
    this.remove(id)
  }

  /** End the conversation; it leaves the list at once. */
  async end(id: number): Promise<void> {
    await this.rest.end(id)
    this.remove(id)
  }

  dispose(): void {
    this.disposed = true
    for (const t of this.sendTimers.values()) window.clearTimeout(t)
    for (const t of this.typingTimers.values()) window.clearTimeout(t)
    for (const t of this.readTimers.values()) window.clearTimeout(t)
    this.sendTimers.clear()
    this.typingTimers.clear()
    this.readTimers.clear()
  }
}
