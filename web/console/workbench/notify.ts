/**
 * Reminders of the workbench (SPEC §3.4): a short beep made with WebAudio (no audio files) and
 * browser notifications while the page is not looked at, several within 3 s merged into one
 * popup that shows the last. Both switches are remembered per browser.
 */
import { ref, watch } from 'vue'

const SOUND_KEY = 'kefu.workbench.sound'
const NOTIFY_KEY = 'kefu.workbench.notify'
const MERGE_MS = 3000

function stored(key: string, fallback: boolean): boolean {
  try {
    const v = localStorage.getItem(key)
    return v === null ? fallback : v === '1'
  } catch {
    return fallback
  }
}

function remember(key: string, on: boolean): void {
  try {
    localStorage.setItem(key, on ? '1' : '0')
  } catch {
    /* private mode */
  }
}

export const soundOn = ref(stored(SOUND_KEY, true))
export const notifyOn = ref(stored(NOTIFY_KEY, true))
watch(soundOn, (v) => remember(SOUND_KEY, v))
watch(notifyOn, (v) => remember(NOTIFY_KEY, v))

let audio: AudioContext | null = null

function context(): AudioContext | null {
  if (audio) return audio
  const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext
  if (!Ctor) return null
  try {
    audio = new Ctor()
  } catch {
    audio = null
  }
  return audio
}

/** Two short tones for a new conversation, one for a new message. */
export function beep(kind: 'message' | 'conversation' = 'message'): void {
  if (!soundOn.value) return
  const ctx = context()
  if (!ctx || ctx.state === 'closed') return
  if (ctx.state === 'suspended') void ctx.resume().catch(() => undefined)
  const tones = kind === 'conversation' ? [660, 880] : [880]
  tones.forEach((freq, i) => {
    const start = ctx.currentTime + i * 0.16
    const osc = ctx.createOscillator()
    const gain = ctx.createGain()
    osc.type = 'sine'
    osc.frequency.value = freq
    gain.gain.setValueAtTime(0.0001, start)
    gain.gain.exponentialRampToValueAtTime(0.18, start + 0.015)
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.14)
    osc.connect(gain).connect(ctx.destination)
    osc.start(start)
    osc.stop(start + 0.15)
  })
}

/**
 * Called on the user's first gesture on the page: unlock audio (browsers start it suspended)
 * and ask once for notification permission.
 */
export function onFirstGesture(): void {
  const ctx = context()
  if (ctx?.state === 'suspended') void ctx.resume().catch(() => undefined)
  if (notifyOn.value && 'Notification' in window && Notification.permission === 'default') {
    void Notification.requestPermission().catch(() => undefined)
  }
}

export function pageHidden(): boolean {
  return document.visibilityState === 'hidden' || !document.hasFocus()
}

let lastShown = 0
let tagSeq = 0
let current: Notification | null = null

/**
 * Show a browser notification while the page is hidden. Notifications within 3 s of the
 * previous one replace it (same tag), so a burst ends as one popup showing the last message.
 */
export function notify(title: string, body: string, onClick?: () => void): void {
  if (!notifyOn.value || !pageHidden()) return
  if (!('Notification' in window) || Notification.permission !== 'granted') return
  const now = Date.now()
  if (now - lastShown > MERGE_MS) tagSeq += 1
  lastShown = now
  try {
    current?.close()
    current = new Notification(title, { body: body.slice(0, 200), tag: `kefu-wb-${tagSeq}`, silent: true })
    current.onclick = () => {
      window.focus()
      onClick?.()
      current?.close()
    }
  } catch {
    /* some browsers only allow notifications from a service worker */
  }
}
