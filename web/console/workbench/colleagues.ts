/**
 * Chat with colleagues (SPEC §4.9): one thread per colleague loaded on demand, unread counts per
 * sender, sends over REST with a client message id (pending → sent, or failed and resent with
 * the same id), and `colleague.message` frames from the shared staff socket.
 */
import { reactive } from 'vue'
import { api, ApiError, unwrap } from '@shared/api'
import type { components } from '@shared/api/schema'
import { newClientMsgId } from '@shared/chat'

export type ColleagueMessage = components['schemas']['ColleagueMessageOut']

export interface ColleagueOutgoing {
  client_msg_id: string
  text: string
  created_at: string
  status: 'pending' | 'failed'
  /** `timeout`, `network` or the server's message. */
  error: string
}

export interface ColleagueThread {
  userId: number
  messages: ColleagueMessage[]
  outbox: ColleagueOutgoing[]
  loaded: 'no' | 'loading' | 'yes' | 'error'
  hasOlder: boolean
  loadingOlder: boolean
}

interface ColleagueChatState {
  /** The colleague whose chat is open in the centre pane. */
  activeId: number | null
  /** Unread messages per colleague (sender id). */
  unread: Record<number, number>
  threads: Record<number, ColleagueThread>
}

export interface ColleagueChatOptions {
  me: () => number | undefined
  /** The page is looked at (visible): an open chat's new messages count as read. */
  looking: () => boolean
  /** A colleague's message arrived (not an echo of mine). */
  incoming?: (m: ColleagueMessage, shown: boolean) => void
  /** Someone wrote to me (the colleague list loads people it does not know yet). */
  sender?: (userId: number) => void
  error?: (e: unknown) => void
  sendTimeoutMs?: number
}

const PAGE = 50

function errorOf(e: unknown): string {
  if (e instanceof ApiError && e.code === 'network_error') return 'network'
  return e instanceof Error ? e.message : String(e)
}

function merge(list: ColleagueMessage[], incoming: ColleagueMessage[]): void {
  const known = new Set(list.map((m) => m.id))
  const fresh = incoming.filter((m) => !known.has(m.id))
  if (!fresh.length) return
  list.push(...fresh)
  list.sort((a, b) => a.id - b.id)
}

export class ColleagueChat {
  readonly state: ColleagueChatState = reactive({ activeId: null, unread: {}, threads: {} }) as ColleagueChatState
  /** Unsent composer text per colleague. */
  readonly drafts = new Map<number, string>()
  private readonly timers = new Map<string, number>()
  /** Read reports in flight per colleague; true when another is wanted after it. */
  private readonly reading = new Map<number, boolean>()
  private unreadLoad = 0

  constructor(private readonly options: ColleagueChatOptions) {}

  dispose(): void {
    this.timers.forEach((id) => window.clearTimeout(id))
    this.timers.clear()
  }

  thread(userId: number | null | undefined): ColleagueThread | undefined {
    return userId == null ? undefined : this.state.threads[userId]
  }

  private ensure(userId: number): ColleagueThread {
    if (!this.state.threads[userId]) {
      this.state.threads[userId] = { userId, messages: [], outbox: [], loaded: 'no', hasOlder: false, loadingOlder: false }
    }
    return this.state.threads[userId]
  }

  // ---- unread ------------------------------------------------------------------------------

  async loadUnread(): Promise<void> {
    const run = ++this.unreadLoad
    try {
      const rows = await unwrap(api.GET('/api/v1/colleagues/unread'))
      if (run !== this.unreadLoad) return
      const next: Record<number, number> = {}
      for (const r of rows) if (r.unread > 0) next[r.user_id] = r.unread
      // What is open and looked at is being read right now.
      const open = this.state.activeId
      if (open !== null && next[open] && this.options.looking()) {
        delete next[open]
        void this.postRead(open)
      }
      this.state.unread = next
    } catch {
      /* the counts keep their last values */
    }
  }

  unreadOf(userId: number): number {
    return this.state.unread[userId] ?? 0
  }

  /** Mark the open chat read (the page is looked at again, or a message came in while open). */
  markRead(userId: number): void {
    if (!this.state.unread[userId]) return
    delete this.state.unread[userId]
    void this.postRead(userId)
  }

  /** Tell the server at once (a burst makes one more request after the one in flight). */
  private async postRead(userId: number): Promise<void> {
    if (this.reading.has(userId)) {
      this.reading.set(userId, true)
      return
    }
    this.reading.set(userId, false)
    try {
      await unwrap(api.POST('/api/v1/colleagues/{user_id}/read', { params: { path: { user_id: userId } } }))
    } catch {
      /* the next open tries again */
    } finally {
      const again = this.reading.get(userId)
      this.reading.delete(userId)
      if (again) void this.postRead(userId)
    }
  }

  // ---- opening and history -----------------------------------------------------------------

  open(userId: number): void {
    this.state.activeId = userId
    const th = this.ensure(userId)
    if (th.loaded === 'no' || th.loaded === 'error') void this.loadLatest(userId)
    if (this.options.looking()) {
      // Always tell the server: it may know of messages this page has not counted yet.
      delete this.state.unread[userId]
      void this.postRead(userId)
    }
  }

  close(): void {
    this.state.activeId = null
  }

  /** The latest page, merged with what frames already brought (also after a reconnect). */
  async loadLatest(userId: number): Promise<void> {
    const th = this.ensure(userId)
    const first = th.loaded !== 'yes'
    if (first) th.loaded = 'loading'
    try {
      const page = await unwrap(
        api.GET('/api/v1/colleagues/{user_id}/messages', { params: { path: { user_id: userId }, query: { limit: PAGE } } }),
      )
      const newest = th.messages.at(-1)?.id ?? 0
      if (page.length >= PAGE && page[0].id > newest) {
        // Nothing in common with what is shown (a first load, or more missed than a page):
        // start from the latest page, so the list never has a gap.
        th.messages = page
        th.hasOlder = true
      } else {
        merge(th.messages, page)
        if (first) th.hasOlder = page.length >= PAGE
      }
      for (const m of page) this.dropOutbox(th, m)
      th.loaded = 'yes'
    } catch (e) {
      if (first) th.loaded = 'error'
      this.options.error?.(e)
    }
  }

  async loadOlder(userId: number): Promise<void> {
    const th = this.thread(userId)
    if (!th || th.loadingOlder || !th.hasOlder) return
    const oldest = th.messages[0]?.id
    if (oldest === undefined) return
    th.loadingOlder = true
    try {
      const page = await unwrap(
        api.GET('/api/v1/colleagues/{user_id}/messages', {
          params: { path: { user_id: userId }, query: { before_id: oldest, limit: PAGE } },
        }),
      )
      merge(th.messages, page)
      th.hasOlder = page.length >= PAGE
    } catch (e) {
      this.options.error?.(e)
    } finally {
      th.loadingOlder = false
    }
  }

  // ---- sending -----------------------------------------------------------------------------

  send(userId: number, text: string): void {
    const th = this.ensure(userId)
    th.outbox.push({ client_msg_id: newClientMsgId(), text, created_at: new Date().toISOString(), status: 'pending', error: '' })
    this.dispatch(userId, th.outbox[th.outbox.length - 1])
  }

  /** Send a failed message again with the same client message id (the server never duplicates it). */
  resend(userId: number, clientMsgId: string): void {
    const item = this.thread(userId)?.outbox.find((o) => o.client_msg_id === clientMsgId)
    if (item && item.status === 'failed') this.dispatch(userId, item)
  }

  discard(userId: number, clientMsgId: string): void {
    const th = this.thread(userId)
    if (!th) return
    this.clearTimer(clientMsgId)
    th.outbox = th.outbox.filter((o) => o.client_msg_id !== clientMsgId)
  }

  private dispatch(userId: number, item: ColleagueOutgoing): void {
    item.status = 'pending'
    item.error = ''
    const cmid = item.client_msg_id
    this.clearTimer(cmid)
    this.timers.set(cmid, window.setTimeout(() => this.fail(userId, cmid, 'timeout'), this.options.sendTimeoutMs ?? 10_000))
    unwrap(
      api.POST('/api/v1/colleagues/{user_id}/messages', {
        params: { path: { user_id: userId } },
        body: { client_msg_id: cmid, text: item.text },
      }),
    ).then(
      (m) => this.accept(m),
      (e) => this.fail(userId, cmid, errorOf(e)),
    )
  }

  private fail(userId: number, cmid: string, error: string): void {
    this.clearTimer(cmid)
    const item = this.thread(userId)?.outbox.find((o) => o.client_msg_id === cmid)
    if (item && item.status === 'pending') {
      item.status = 'failed'
      item.error = error
    }
  }

  private clearTimer(cmid: string): void {
    window.clearTimeout(this.timers.get(cmid))
    this.timers.delete(cmid)
  }

  private dropOutbox(th: ColleagueThread, m: ColleagueMessage): void {
    if (m.sender_id !== this.options.me()) return
    const i = th.outbox.findIndex((o) => o.client_msg_id === m.client_msg_id)
    if (i < 0) return
    this.clearTimer(m.client_msg_id)
    th.outbox.splice(i, 1)
  }

  /** A stored message (the send's answer or a frame): into its thread, out of the outbox. */
  private accept(m: ColleagueMessage): ColleagueThread | null {
    const me = this.options.me()
    if (me === undefined || (m.sender_id !== me && m.recipient_id !== me)) return null
    const other = m.sender_id === me ? m.recipient_id : m.sender_id
    const th = this.thread(other)
    if (!th) return null
    merge(th.messages, [m])
    this.dropOutbox(th, m)
    return th
  }

  // ---- socket ------------------------------------------------------------------------------

  handleFrame(frame: { type: string; [key: string]: unknown }): void {
    if (frame.type !== 'colleague.message' || !frame.message || typeof frame.message !== 'object') return
    const m = frame.message as ColleagueMessage
    const me = this.options.me()
    if (me === undefined || typeof m.id !== 'number') return
    this.accept(m)
    if (m.sender_id === me) return
    const other = m.sender_id
    const shown = this.state.activeId === other && this.options.looking()
    if (shown) void this.postRead(other)
    else if (!m.read) this.state.unread[other] = (this.state.unread[other] ?? 0) + 1
    this.options.sender?.(other)
    this.options.incoming?.(m, shown)
  }

  /** After every (re)connection: counts from the server, and what the open chat missed. */
  connected(): void {
    void this.loadUnread()
    const open = this.state.activeId
    for (const th of Object.values(this.state.threads)) {
      // Chats not on screen load again when next opened.
      if (th.userId !== open && th.loaded === 'yes') th.loaded = 'no'
    }
    if (open !== null) void this.loadLatest(open)
  }
}
