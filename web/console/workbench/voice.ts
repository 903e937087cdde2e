/** Voice clips with MediaRecorder (webm/opus): at most 60 s, sent automatically at 60 s. */
import { onBeforeUnmount, ref } from 'vue'

export const MAX_VOICE_SECONDS = 60

export type RecorderProblem = 'unsupported' | 'denied' | 'failed'

function pickMime(): string {
  const choices = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4']
  return choices.find((m) => typeof MediaRecorder !== 'undefined' && MediaRecorder.isTypeSupported?.(m)) ?? ''
}

export function useRecorder(onDone: (file: File, seconds: number) => void) {
  const recording = ref(false)
  const elapsed = ref(0)
  let recorder: MediaRecorder | null = null
  let stream: MediaStream | null = null
  let chunks: Blob[] = []
  let startedAt = 0
  let ticker: number | undefined
  let sendOnStop = false

  function release() {
    window.clearInterval(ticker)
    stream?.getTracks().forEach((tr) => tr.stop())
    stream = null
    recorder = null
    recording.value = false
  }

  async function start(): Promise<RecorderProblem | null> {
    if (recording.value) return null
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') return 'unsupported'
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true })
    } catch (e) {
      return e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'SecurityError') ? 'denied' : 'failed'
    }
    const mime = pickMime()
    try {
      recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined)
    } catch {
      release()
      return 'failed'
    }
    chunks = []
    sendOnStop = false
    recorder.ondataavailable = (ev) => {
      if (ev.data.size) chunks.push(ev.data)
    }
    recorder.onstop = () => {
      const seconds = Math.min(MAX_VOICE_SECONDS, (Date.now() - startedAt) / 1000)
      const type = (recorder?.mimeType || mime || 'audio/webm').split(';')[0]
      const send = sendOnStop
      const parts = chunks
      release()
      if (!send || seconds < 1 || !parts.length) return
      const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm'
      const file = new File(parts, `voice-${Date.now()}.${ext}`, { type })
      onDone(file, Math.max(1, Math.min(MAX_VOICE_SECONDS, Math.round(seconds))))
    }
    startedAt = Date.now()
    elapsed.value = 0
    recorder.start(250)
    recording.value = true
    ticker = window.setInterval(() => {
      elapsed.value = (Date.now() - startedAt) / 1000
      if (elapsed.value >= MAX_VOICE_SECONDS) stop(true)
    }, 200)
    return null
  }

  /** Stop; `send` false throws the clip away. */
  function stop(send: boolean) {
    if (!recorder) return
    sendOnStop = send
    window.clearInterval(ticker)
    if (recorder.state !== 'inactive') recorder.stop()
    else release()
  }

  onBeforeUnmount(() => stop(false))

  return { recording, elapsed, start, stop }
}
