/**
 * The Sessions page's state: the chat client on the console's shared socket, today's figures,
 * colleagues' presence and chat, visitor profiles, and the reminders. One per mounted page.
 */
import { inject, reactive, ref, watch, type InjectionKey } from 'vue'
import { ElMessage } from 'element-plus'
import { api, errorMessage, unwrap } from '@shared/api'
import type { components } from '@shared/api/schema'
import {
  ChatClient,
  createChatState,
  type ChatState,
  type ConvState,
  type Message,
  type TransferRequest,
} from '@shared/chat'
import { realtime } from '@shared/realtime'
import { can, session } from '../session'
import { ColleagueChat, type ColleagueMessage } from './colleagues'
import { consoleRest } from './rest'
import { beep, notify, onFirstGesture, pageHidden } from './notify'

type S = components['schemas']
export type Today = S['TodayOut']
export type Colleague = S['PresenceOut']
export type VisitorProfile = S['VisitorOut']

type Translate = (key: string, named?: Record<string, unknown>) => string

/** The list preview of a message kind: its text, or a bracketed label such as [图片]. */
export function previewOf(t: Translate, kind: string | undefined, text: string): string {
  if (!kind || kind === 'text' || kind === 'system') return text
  const known = ['image', 'file', 'voice', 'location', 'link', 'card']
  return `[${t(`workbench.kinds.${known.includes(kind) ? kind : 'other'}`)}]`
}

export function messagePreview(t: Translate, m: Message): string {
  return previewOf(t, m.kind, typeof m.body.text === 'string' ? m.body.text : '')
}

export class Workbench {
  readonly state: ChatState = reactive(createChatState()) as ChatState
  readonly client: ChatClient
  readonly today = ref<Today | null>(null)
  readonly colleagues = ref<Colleague[]>([])
  /** Colleagues' real names, only for those allowed to list users (shown on hover). */
  readonly realNames = ref<Record<number, string>>({})
  readonly colleagueChat: ColleagueChat
  readonly visitors = reactive<Record<number, VisitorProfile>>({})
  readonly loadError = ref('')
  /** Unsent composer text per conversation. */
  readonly drafts = new Map<number, string>()
  private unsubscribe: (() => void)[] = []
  private timers: number[] = []
  private wasConnected = false
  private todayTimer: number | undefined
  private openTimer: number | undefined

  constructor(private readonly t: Translate) {
    this.client = new ChatClient(
      this.state,
      { send: (f) => realtime.send(f), isOpen: () => realtime.isOpen() },
      consoleRest,
      {
        me: () => session.me?.id,
        hooks: {
          assigned: (c) => this.onAssigned(c),
          message: (c, m) => this.onMessage(c, m),
          ended: () => this.refreshTodaySoon(),
          transferDecided: (r) => this.onTransferDecided(r),
          error: (e) => ElMessage.error(errorMessage(e)),
        },
      },
    )
    this.colleagueChat = new ColleagueChat({
      me: () => session.me?.id,
      looking: () => this.state.visible,
      incoming: (m, shown) => this.onColleagueMessage(m, shown),
      sender: (id) => {
        if (!this.colleagues.value.some((c) => c.user_id === id)) void this.loadColleagues()
      },
      error: (e) => ElMessage.error(errorMessage(e)),
    })
    // One chat in the centre pane: opening a visitor conversation closes the colleague's.
    watch(
      () => this.state.activeId,
      (id) => {
        if (id !== null) this.colleagueChat.close()
      },
    )
  }

  /** Open a colleague's chat in the centre pane (instead of a visitor conversation). */
  openColleague(userId: number): void {
    this.client.open(null)
    this.colleagueChat.open(userId)
  }

  colleague(userId: number | null): Colleague | undefined {
    return userId === null ? undefined : this.colleagues.value.find((c) => c.user_id === userId)
  }

  start(): void {
    this.unsubscribe.push(
      realtime.subscribe((frame) => {
        this.client.handleFrame(frame)
        this.colleagueChat.handleFrame(frame)
        if (frame.type === 'presence.changed' && typeof frame.user_id === 'number') {
          const c = this.colleagues.value.find((x) => x.user_id === frame.user_id)
          if (c) c.status = frame.status as Colleague['status']
          else if (frame.user_id !== session.me?.id) void this.loadColleagues()
        }
      }),
      realtime.onConnection((state) => {
        if (state === 'open') {
          this.client.connected()
          if (this.wasConnected) {
            // Presence and colleague messages missed while the socket was down.
            void this.loadColleagues()
            this.colleagueChat.connected()
          }
          this.wasConnected = true
        } else {
          this.client.disconnected()
        }
      }),
    )
    this.state.connected = realtime.isOpen()
    this.wasConnected = this.state.connected
    const visibility = () => {
      const visible = document.visibilityState === 'visible'
      this.client.setVisible(visible)
      const open = this.colleagueChat.state.activeId
      if (visible && open !== null) this.colleagueChat.markRead(open)
    }
    document.addEventListener('visibilitychange', visibility)
    const gesture = () => {
      onFirstGesture()
      window.removeEventListener('pointerdown', gesture)
      window.removeEventListener('keydown', gesture)
    }
    window.addEventListener('pointerdown', gesture)
    window.addEventListener('keydown', gesture)
    this.unsubscribe.push(
      () => document.removeEventListener('visibilitychange', visibility),
      () => window.removeEventListener('pointerdown', gesture),
      () => window.removeEventListener('keydown', gesture),
    )
    visibility()
    void this.loadList()
    void this.refreshToday()
    void this.loadColleagues()
    void this.colleagueChat.loadUnread()
    void this.loadRealNames()
    void this.loadWaiting()
    this.timers.push(window.setInterval(() => void this.refreshToday(), 60_000))
  }

  stop(): void {
    this.unsubscribe.forEach((fn) => fn())
    this.unsubscribe = []
    this.timers.forEach((id) => window.clearInterval(id))
    window.clearTimeout(this.todayTimer)
    window.clearTimeout(this.openTimer)
    this.client.dispose()
    this.colleagueChat.dispose()
  }

  async loadList(): Promise<void> {
    this.loadError.value = ''
    try {
      await this.client.load()
    } catch (e) {
      this.loadError.value = errorMessage(e)
    }
  }

  async refreshToday(): Promise<void> {
    try {
      this.today.value = await unwrap(api.GET('/api/v1/me/today'))
    } catch {
      /* the counters keep their last values */
    }
  }

  refreshTodaySoon(): void {
    window.clearTimeout(this.todayTimer)
    this.todayTimer = window.setTimeout(() => void this.refreshToday(), 500)
  }

  async loadColleagues(): Promise<void> {
    try {
      this.colleagues.value = await unwrap(api.GET('/api/v1/presence'))
    } catch {
      this.colleagues.value = []
    }
  }

  /** Real names come with the user list, which only user managers may read (no other source). */
  private async loadRealNames(): Promise<void> {
    if (!can('admin.members.agents')) return
    try {
      const page = await unwrap(api.GET('/api/v1/users', { params: { query: { page_size: 100 } } }))
      const names: Record<number, string> = {}
      for (const u of page.items) if (u.real_name) names[u.id] = u.real_name
      this.realNames.value = names
    } catch {
      /* hover shows the nickname only */
    }
  }

  private async loadWaiting(): Promise<void> {
    try {
      const list = await unwrap(api.GET('/api/v1/conversations', { params: { query: { state: 'waiting' } } }))
      if (this.state.waiting === null) this.state.waiting = list.length
    } catch {
      /* queue.changed fills it in */
    }
  }

  async loadVisitor(convId: number, force = false): Promise<VisitorProfile | null> {
    if (this.visitors[convId] && !force) return this.visitors[convId]
    const v = await unwrap(
      api.GET('/api/v1/conversations/{conversation_id}/visitor', { params: { path: { conversation_id: convId } } }),
    )
    this.visitors[convId] = v
    return v
  }

  async saveVisitor(convId: number, patch: S['VisitorPatch']): Promise<VisitorProfile> {
    const current = this.visitors[convId] ?? (await this.loadVisitor(convId))
    if (!current) throw new Error('visitor')
    const saved = await unwrap(
      api.PATCH('/api/v1/visitors/{visitor_id}', { params: { path: { visitor_id: current.id } }, body: patch }),
    )
    // Every open conversation of this visitor shows the new name.
    for (const id of this.state.order) {
      const c = this.state.conversations[id]
      if (c && c.conv.visitor.id === saved.id) {
        c.conv.visitor = { ...c.conv.visitor, name: saved.name || c.conv.visitor.name }
        this.visitors[id] = saved
      }
    }
    return saved
  }

  private onAssigned(c: ConvState): void {
    this.refreshTodaySoon()
    beep('conversation')
    const last = c.conv.last_message
    const text = last && last.sender_type === 'visitor' ? previewOf(this.t, last.kind, last.preview) : ''
    notify(
      this.t(c.transferred ? 'workbench.notify.transferred' : 'workbench.notify.newConversation'),
      text ? this.t('workbench.notify.body', { name: c.conv.visitor.name, text }) : c.conv.visitor.name,
      () => this.client.open(c.id),
    )
  }

  /** The colleague answered my transfer request (or it expired). */
  private onTransferDecided(r: TransferRequest): void {
    const name = r.to_agent?.nickname ?? ''
    if (r.state === 'accepted') {
      ElMessage.success(this.t('transfer.decided.accepted', { name }))
      this.refreshTodaySoon()
    } else if (r.state === 'rejected' || r.state === 'expired') {
      ElMessage.warning({ message: this.t(`transfer.decided.${r.state}`, { name }), duration: 6000 })
    } else if (r.state === 'cancelled') {
      ElMessage.info(this.t('transfer.decided.cancelled'))
    }
  }

  /**
   * Open a conversation as soon as it is in my list (after a pickup from the Waiting page or an
   * accepted transfer, it may arrive with the list load or a moment later by event).
   */
  openWhenListed(id: number): void {
    window.clearTimeout(this.openTimer)
    const started = Date.now()
    const attempt = () => {
      if (this.state.conversations[id]) {
        this.client.open(id)
        return
      }
      if (Date.now() - started < 10_000) this.openTimer = window.setTimeout(attempt, 200)
    }
    attempt()
  }

  private onMessage(c: ConvState, m: Message): void {
    if (m.sender.type !== 'visitor' || m.whisper) return
    const looking = this.state.activeId === c.id && this.state.visible && !pageHidden()
    if (!looking) beep('message')
    notify(c.conv.visitor.name, messagePreview(this.t, m), () => this.client.open(c.id))
  }

  private onColleagueMessage(m: ColleagueMessage, shown: boolean): void {
    if (!shown || pageHidden()) beep('message')
    const name = this.colleague(m.sender_id)?.nickname ?? ''
    notify(this.t('workbench.colleague.notifyTitle', { name }), m.text, () => this.openColleague(m.sender_id))
  }
}

export const WORKBENCH: InjectionKey<Workbench> = Symbol('workbench')

export function useWorkbench(): Workbench {
  const wb = inject(WORKBENCH)
  if (!wb) throw new Error('useWorkbench() outside the Sessions page')
  return wb
}
