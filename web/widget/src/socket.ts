/**
 * The visitor WebSocket (docs/protocol.md, "Visitor socket"): auth as the first frame, hello,
 * heartbeats, reconnects with exponential backoff (1 s doubling to 30 s). Frames after hello go
 * to `onFrame`; the chat logic (resume, sends, events) lives in chat.ts.
 */

import type { Frame } from './types'

export type SocketState = 'connecting' | 'open' | 'offline' | 'refused'

export interface SocketHandlers {
  token(): string
  onHello(hello: Frame): void
  onFrame(frame: Frame): void
  onState(state: SocketState): void
  /** Close code 4401: the token is not (or no longer) registered; register it again. */
  reauthenticate(): Promise<void>
}

const UNAUTHENTICATED = 4401
const REFUSED = 4403

export class VisitorSocket {
  private ws: WebSocket | null = null
  private ready = false
  private retry = 0
  private heartbeat: number | undefined
  private timer: number | undefined

  constructor(
    private readonly url: string,
    private readonly handlers: SocketHandlers,
  ) {
    // Come back at once when the network does, instead of waiting out the backoff.
    window.addEventListener('online', () => {
      if (!this.ws && this.timer !== undefined) {
        window.clearTimeout(this.timer)
        this.connect()
      }
    })
  }

  get isReady(): boolean {
    return this.ready
  }

  connect(): void {
    this.timer = undefined
    this.handlers.onState('connecting')
    let ws: WebSocket
    try {
      ws = new WebSocket(this.url)
    } catch {
      this.handlers.onState('refused')
      return
    }
    this.ws = ws
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.handlers.token() }))
    ws.onmessage = (msg) => {
      let frame: Frame
      try {
        frame = JSON.parse(String(msg.data)) as Frame
      } catch {
        return
      }
      if (frame.type === 'hello') {
        this.ready = true
        this.retry = 0
        const seconds = typeof frame.heartbeat === 'number' && frame.heartbeat > 0 ? frame.heartbeat : 25
        window.clearInterval(this.heartbeat)
        this.heartbeat = window.setInterval(() => this.send({ type: 'ping', t: Date.now() }), seconds * 1000)
        this.handlers.onState('open')
        this.handlers.onHello(frame)
      } else if (frame.type !== 'pong') {
        this.handlers.onFrame(frame)
      }
    }
    ws.onclose = (ev) => {
      window.clearInterval(this.heartbeat)
      this.ws = null
      this.ready = false
      if (ev.code === REFUSED) {
        this.handlers.onState('refused')
        return
      }
      this.handlers.onState('offline')
      const delay = Math.min(30_000, 1000 * 2 ** this.retry++) * (0.8 + Math.random() * 0.4)
      const again = () => {
        this.timer = window.setTimeout(() => this.connect(), delay)
      }
      if (ev.code === UNAUTHENTICATED) this.handlers.reauthenticate().then(again, again)
      else again()
    }
  }

  /** Sends a frame if the socket is authenticated; false when it is not (the caller queues). */
  send(frame: object): boolean {
    if (!this.ready || this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(JSON.stringify(frame))
    return true
  }
}
