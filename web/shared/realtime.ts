/**
 * The console's one WebSocket (docs/protocol.md): heartbeats, reconnect with backoff, and
 * account events handed to a callback. The conversation protocol will extend this client.
 */

export interface AccountEvent {
  type: string
  [key: string]: unknown
}

export interface RealtimeOptions {
  onEvent: (event: AccountEvent) => void
  /** The session ended elsewhere (close code 4401): the user must sign in again. */
  onSignedOut: () => void
}

const SIGNED_OUT = 4401

export class RealtimeClient {
  private ws: WebSocket | null = null
  private heartbeat: number | undefined
  private retry = 0
  private stopped = false

  constructor(private readonly options: RealtimeOptions) {}

  start(): void {
    this.stopped = false
    this.connect()
  }

  stop(): void {
    this.stopped = true
    window.clearInterval(this.heartbeat)
    this.ws?.close(1000)
    this.ws = null
  }

  private connect(): void {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`)
    this.ws = ws
    ws.onmessage = (msg) => {
      let event: AccountEvent
      try {
        event = JSON.parse(String(msg.data)) as AccountEvent
      } catch {
        return
      }
      if (event.type === 'hello') {
        this.retry = 0
        const seconds = typeof event.heartbeat === 'number' ? event.heartbeat : 25
        window.clearInterval(this.heartbeat)
        this.heartbeat = window.setInterval(() => this.send({ type: 'ping', t: Date.now() }), seconds * 1000)
        this.options.onEvent(event)
      } else if (event.type !== 'pong') {
        this.options.onEvent(event)
      }
    }
    ws.onclose = (ev) => {
      window.clearInterval(this.heartbeat)
      if (this.stopped) return
      if (ev.code === SIGNED_OUT) {
        this.options.onSignedOut()
        return
      }
      // Back off up to 30 s so a restarting server is not hammered.
      const delay = Math.min(30_000, 1000 * 2 ** this.retry++)
      window.setTimeout(() => !this.stopped && this.connect(), delay)
    }
  }

  private send(message: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message))
  }
}
