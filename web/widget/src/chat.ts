/**
 * The visitor's side of a conversation (docs/protocol.md): events applied in `seq` order without
 * duplicates, resume after reconnects (buffering live events until `resumed`), REST reload on
 * `resync`, sends with client_msg_id (10 s timeout, retry with the same id, queued while offline),
 * uploads, typing previews and prior history. The DOM is the view's business (ui.ts).
 */

import type { Api } from './api'
import { t } from './i18n'
import type { Outgoing } from './render'
import { VisitorSocket, type SocketState } from './socket'
import type { AgentRef, Conversation, EventFrame, Frame, Message } from './types'
import { clientMsgId } from './visitor'

export interface ChatView {
  /**
   * Adds or replaces a message (by id; a pending bubble with its client_msg_id turns into it).
   * `new`: it just arrived (counts as unread while the panel is closed); `prior`: history.
   */
  showMessage(m: Message, place: 'current' | 'prior' | 'new'): void
  removeMessage(id: number): void
  showOutgoing(o: Outgoing): void
  /** Drops the shown messages of a conversation before a REST reload. */
  clearConversation(conversationId: number): void
  showConversation(c: Conversation | null, agent: AgentRef | null): void
  showSocket(state: SocketState): void
  oldestId(): number | null
}

const SEND_TIMEOUT = 10_000
const TYPING_EVERY = 500
const QUEUE_POLL = 15_000
const MAX_FILE = 10 * 1024 * 1024
const PAGE = 50

export class Chat {
  conversation: Conversation | null = null
  private agent: AgentRef | null = null
  private readonly socket: VisitorSocket
  private readonly lastSeq = new Map<number, number>()
  /** Conversations being resumed or reloaded: their live events wait here. */
  private readonly syncing = new Map<number, EventFrame[]>()
  private readonly outbox = new Map<string, Outgoing>()
  /** The loaded conversation has messages older than those shown (before this seq). */
  private older: { cid: number; beforeSeq: number } | null = null
  private typingSent = ''
  private typingAt = 0
  private typingTimer: number | undefined
  private queueTimer: number | undefined

  constructor(
    private readonly api: Api,
    private readonly view: ChatView,
    private readonly showNicknames: boolean,
    wsUrl: string,
    reauthenticate: () => Promise<void>,
  ) {
    this.socket = new VisitorSocket(wsUrl, {
      token: () => api.token,
      onHello: (f) => this.onHello(f),
      onFrame: (f) => this.onFrame(f),
      onState: (s) => view.showSocket(s),
      reauthenticate,
    })
  }

  start(): void {
    this.socket.connect()
  }

  // ---- socket frames ----

  private onHello(hello: Frame): void {
    const c = (hello.conversation as Conversation | null) || null
    const previous = this.conversation
    if (c) {
      this.setConversation(c)
      if (this.lastSeq.has(c.id)) this.resume(c.id)
      else void this.load(c.id)
    }
    // The conversation we were in may have ended while we were away: fetch its ending.
    if (previous && previous.id !== c?.id && this.lastSeq.has(previous.id)) this.resume(previous.id)
    for (const o of this.outbox.values()) if (o.state !== 'uploading' && !o.nacked) this.transmit(o)
  }

  private onFrame(f: Frame): void {
    const cid = Number(f.conversation_id)
    switch (f.type) {
      case 'event':
        return this.onEvent(f as unknown as EventFrame)
      case 'resumed': {
        const buffered = this.syncing.get(cid) || []
        this.syncing.delete(cid)
        if (!this.lastSeq.has(cid)) this.lastSeq.set(cid, 0)
        buffered.sort((a, b) => a.seq - b.seq).forEach((ev) => this.apply(ev))
        this.lastSeq.set(cid, Math.max(this.lastSeq.get(cid) || 0, Number(f.seq) || 0))
        return
      }
      case 'resync':
        if (f.reason !== 'not_found') return void this.load(cid)
        this.syncing.delete(cid) // not this visitor's (any more): nothing to catch up on
        return
      case 'ack':
        return this.onAck(f)
      case 'nack': {
        const o = this.outbox.get(String(f.client_msg_id))
        if (!o) return
        window.clearTimeout(o.timer)
        o.state = 'failed'
        o.nacked = true
        o.error = typeof f.message === 'string' ? f.message : ''
        this.view.showOutgoing(o)
      }
    }
  }

  private onEvent(ev: EventFrame): void {
    const cid = ev.conversation_id
    const buffer = this.syncing.get(cid)
    if (buffer) {
      buffer.push(ev)
    } else if (!this.lastSeq.has(cid)) {
      // A conversation we have not seen: start from its creation, or catch up from the start.
      if (ev.name === 'conversation.created') {
        this.lastSeq.set(cid, 0)
        this.apply(ev)
      } else {
        this.resume(cid, [ev])
      }
    } else {
      this.apply(ev)
    }
  }

  private apply(ev: EventFrame): void {
    const cid = ev.conversation_id
    if (ev.seq <= (this.lastSeq.get(cid) ?? 0)) return
    this.lastSeq.set(cid, ev.seq)
    const d = ev.data || {}
    if (ev.name.startsWith('conversation.') && d.conversation) {
      this.setConversation(d.conversation, ev.name === 'conversation.assigned' ? d.agent ?? null : undefined)
    } else if (ev.name === 'message.created' && d.message) {
      this.received(d.message, true)
    } else if (ev.name === 'message.recalled') {
      const id = d.message_id ?? d.message?.id
      if (id != null) this.view.removeMessage(id)
    }
  }

  private resume(cid: number, buffer: EventFrame[] = []): void {
    this.syncing.set(cid, buffer)
    const frame = { type: 'resume', conversation_id: cid, after_seq: this.lastSeq.get(cid) ?? 0 }
    if (!this.socket.send(frame)) this.syncing.delete(cid) // offline: the next hello resumes
  }

  /** (Re)loads a conversation's latest messages over REST, then resumes after them. */
  private async load(cid: number): Promise<void> {
    const buffer = this.syncing.get(cid) || []
    this.syncing.set(cid, buffer)
    try {
      const messages = await this.api.messages(cid, PAGE)
      this.view.clearConversation(cid)
      this.older = messages.length >= PAGE ? { cid, beforeSeq: Math.min(...messages.map((m) => m.seq)) } : null
      let seq = 0
      for (const m of messages) {
        seq = Math.max(seq, m.seq)
        if (!m.recalled) this.received(m)
      }
      this.lastSeq.set(cid, Math.max(seq, this.lastSeq.get(cid) ?? 0))
      this.resume(cid, buffer)
    } catch {
      this.syncing.delete(cid)
      window.setTimeout(() => this.socket.isReady && !this.lastSeq.has(cid) && this.load(cid), 5000)
    }
  }

  private received(m: Message, fresh = false): void {
    const o = m.client_msg_id ? this.outbox.get(m.client_msg_id) : undefined
    if (o && m.sender?.type === 'visitor') {
      window.clearTimeout(o.timer)
      this.outbox.delete(o.id)
    }
    this.view.showMessage(m, fresh ? 'new' : 'current')
  }

  private onAck(f: Frame): void {
    const message = f.message as Message | undefined
    const cid = Number(f.conversation_id)
    if (message) this.received(message)
    else {
      const o = this.outbox.get(String(f.client_msg_id))
      if (o) window.clearTimeout(o.timer)
      this.outbox.delete(String(f.client_msg_id))
    }
    // The send opened a conversation whose events have not reached us yet.
    if (cid && !this.lastSeq.has(cid) && !this.syncing.has(cid)) this.resume(cid)
  }

  private setConversation(c: Conversation, agent?: AgentRef | null): void {
    if (this.conversation && c.id < this.conversation.id) return // an older one, replayed
    const same = this.conversation?.id === c.id
    if (!same) this.agent = null
    if (agent !== undefined) this.agent = agent
    else if (c.agent) this.agent = c.agent
    // Event snapshots may not carry the queue position; keep the last one known.
    if (same && c.queue_position == null) c = { ...c, queue_position: this.conversation?.queue_position }
    const wasWaiting = same && this.conversation?.state === 'waiting'
    this.conversation = c
    const shown = c.state === 'ongoing' && this.showNicknames ? this.agent : null
    this.view.showConversation(c, shown)
    if (c.state !== 'waiting') window.clearInterval(this.queueTimer)
    else if (!wasWaiting) {
      window.clearInterval(this.queueTimer)
      this.queueTimer = window.setInterval(() => void this.pollQueue(), QUEUE_POLL)
      if (c.queue_position == null) void this.pollQueue()
    }
  }

  /** The queue position changes as others are served; no event says so, so ask now and then. */
  private async pollQueue(): Promise<void> {
    try {
      const c = await this.api.conversation()
      if (c && c.id === this.conversation?.id) this.setConversation({ ...this.conversation, ...c })
    } catch {
      /* next time */
    }
  }

  // ---- sending ----

  sendText(text: string): void {
    this.typing('')
    this.post({ id: clientMsgId(), kind: 'text', body: { text }, state: 'sending', progress: 0, error: '' })
  }

  /** A card, location or link the page sends for the visitor (JS API); the server checks it. */
  sendStructured(kind: 'card' | 'location' | 'link', body: Record<string, unknown>): void {
    this.post({ id: clientMsgId(), kind, body, state: 'sending', progress: 0, error: '' })
  }

  /** A welcome-menu choice; the message and conversation arrive over the socket. */
  async chooseMenu(itemId: number): Promise<boolean> {
    try {
      await this.api.menuChoice(itemId, clientMsgId())
      return true
    } catch {
      return false
    }
  }

  /** Checks the size, then uploads and sends a picture or a file. Returns an error text or ''. */
  sendFile(file: File, kind: 'image' | 'file'): string {
    if (file.size > MAX_FILE) return t('tooLarge')
    this.post({ id: clientMsgId(), kind, body: {}, state: 'uploading', progress: 0, error: '', file })
    return ''
  }

  retry(id: string): void {
    const o = this.outbox.get(id)
    if (!o) return
    if (o.kind !== 'text' && o.body.attachment_id == null) void this.upload(o)
    else this.transmit(o)
  }

  private post(o: Outgoing): void {
    this.outbox.set(o.id, o)
    this.view.showOutgoing(o)
    if (o.state === 'uploading') void this.upload(o)
    else this.transmit(o)
  }

  private async upload(o: Outgoing): Promise<void> {
    o.state = 'uploading'
    o.progress = 0
    o.error = ''
    this.view.showOutgoing(o)
    try {
      const attachment = await this.api.upload(o.file as File, o.kind as 'image' | 'file', (p) => {
        o.progress = p
        this.view.showOutgoing(o)
      })
      o.body = { attachment_id: attachment.id }
      this.transmit(o)
    } catch (e) {
      o.state = 'failed'
      o.error = (e as Error).message || t('failed')
      this.view.showOutgoing(o)
    }
  }

  /** Sends (or re-sends, with the same client_msg_id) one message; offline it waits for hello. */
  private transmit(o: Outgoing): void {
    o.state = 'sending'
    o.nacked = false
    o.error = ''
    this.view.showOutgoing(o)
    window.clearTimeout(o.timer)
    o.timer = window.setTimeout(() => {
      if (!this.outbox.has(o.id)) return
      o.state = 'failed'
      this.view.showOutgoing(o)
    }, SEND_TIMEOUT)
    this.socket.send({ type: 'send', client_msg_id: o.id, kind: o.kind, body: o.body })
  }

  /** Typing preview for the agent: at most every 500 ms, "" when cleared or sent. */
  typing(text: string): void {
    window.clearTimeout(this.typingTimer)
    text = text.slice(0, 500)
    if (text === this.typingSent || !this.conversation || this.conversation.state === 'ended') return
    const wait = this.typingAt + TYPING_EVERY - Date.now()
    if (text && wait > 0) {
      this.typingTimer = window.setTimeout(() => this.typing(text), wait)
      return
    }
    if (this.socket.send({ type: 'typing', text })) {
      this.typingSent = text
      this.typingAt = Date.now()
    }
  }

  /** Loads up to 10 earlier messages above the oldest shown; false when there are no more. */
  async loadPrior(): Promise<boolean> {
    const limit = 10
    if (this.older) {
      // First the start of the conversation on screen, then the earlier conversations.
      const { cid, beforeSeq } = this.older
      const page = await this.api.messages(cid, limit, beforeSeq)
      for (const m of page) if (!m.recalled) this.view.showMessage(m, 'current')
      this.older = page.length >= limit ? { cid, beforeSeq: Math.min(...page.map((m) => m.seq)) } : null
      return true
    }
    const messages = await this.api.prior(this.view.oldestId(), limit)
    for (const m of messages) if (!m.recalled) this.view.showMessage(m, 'prior')
    return messages.length >= limit
  }
}
