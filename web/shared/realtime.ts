/**
 * The console's one WebSocket (docs/protocol.md): heartbeats, reconnect with backoff, and
 * account events handed to a callback.
 *
 * Other code (the Sessions workbench) shares the same socket through the module-level
 * `realtime` hub below: it can send frames, listen to every frame and learn about each
 * (re)connection (`hello`) to resume its conversations. There is never a second socket.
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

export type FrameListener = (frame: AccountEvent) => void
/** `open` after each `hello` (first connection and every reconnection), `closed` when it drops. */
export type ConnectionListener = (state: 'open' | 'closed', hello?: AccountEvent) => void

const SIGNED_OUT = 4401

const frameListeners = new Set<FrameListener>()
const connectionListeners = new Set<ConnectionListener>()
let active: RealtimeClient | null = null

function safely<A extends unknown[]>(fn: (...args: A) => void, ...args: A): void {
  try {
    fn(...args)
  } catch (e) {
    console.error(e)
  }
}

/** The shared socket as seen by pages: whichever RealtimeClient the shell started. */
export const realtime = {
  /** Every frame except pong, in arrival order. Returns an unsubscribe function. */
  subscribe(fn: FrameListener): () => void {
    frameListeners.add(fn)
    return () => frameListeners.delete(fn)
  },
  /** Connection changes; called with `open` after every `hello`. Returns an unsubscribe function. */
  onConnection(fn: ConnectionListener): () => void {
    connectionListeners.add(fn)
    return () => connectionListeners.delete(fn)
  },
  /** Send a frame now; false when the socket is not open (the caller falls back to REST). */
  send(frame: object): boolean {
    return active?.send(frame) ?? false
  },
  /** True once the server said `hello` on the current socket. */
  isOpen(): boolean {
    return active?.isOpen() ?? false
  },
}

export class RealtimeClient {
  private ws: WebSocket | null = null
  private heartbeat: number | undefined
  private retry = 0
  private stopped = false
  private ready = false

  constructor(private readonly options: RealtimeOptions) {}

  start(): void {
    this.stopped = false
    active = this
    this.connect()
  }

  stop(): void {
    this.stopped = true
    window.clearInterval(this.heartbeat)
    this.ws?.close(1000)
    this.ws = null
    this.setReady(false)
    if (active === this) active = null
  }

  /** Send a frame on the open socket; false when it is not open. */
  send(message: object): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(JSON.stringify(message))
    return true
  }

  isOpen(): boolean {
    return this.ready && this.ws?.readyState === WebSocket.OPEN
  }

  private setReady(ready: boolean, hello?: AccountEvent): void {
    const was = this.ready
    this.ready = ready
    if (active !== this) return
    if (ready) connectionListeners.forEach((fn) => safely(fn, 'open', hello))
    else if (was) connectionListeners.forEach((fn) => safely(fn, 'closed'))
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
        if (active === this) frameListeners.forEach((fn) => safely(fn, event))
        this.setReady(true, event)
      } else if (event.type !== 'pong') {
        this.options.onEvent(event)
        if (active === this) frameListeners.forEach((fn) => safely(fn, event))
      }
    }
    ws.onclose = (ev) => {
      window.clearInterval(this.heartbeat)
      if (this.ws === ws) this.setReady(false)
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
}
