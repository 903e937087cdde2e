/** The composer's send key (Enter or Ctrl+Enter), remembered per browser and shared by every composer. */
import { ref } from 'vue'

export type SendKey = 'enter' | 'ctrl-enter'
const SEND_KEY = 'kefu.workbench.sendKey'

function storedSendKey(): SendKey {
  try {
    return localStorage.getItem(SEND_KEY) === 'ctrl-enter' ? 'ctrl-enter' : 'enter'
  } catch {
    return 'enter'
  }
}

export const sendKey = ref<SendKey>(storedSendKey())

export function setSendKey(value: unknown): void {
  sendKey.value = value === 'ctrl-enter' ? 'ctrl-enter' : 'enter'
  try {
    localStorage.setItem(SEND_KEY, sendKey.value)
  } catch {
    /* private mode */
  }
}

/** What an Enter keydown means under the current setting: send, a newline to insert, or nothing. */
export function enterAction(e: KeyboardEvent): 'send' | 'newline' | null {
  if (e.key !== 'Enter' || e.isComposing || e.keyCode === 229) return null
  const modified = e.ctrlKey || e.metaKey || e.shiftKey
  const sends = sendKey.value === 'enter' ? !modified && !e.altKey : (e.ctrlKey || e.metaKey || e.shiftKey) && !e.altKey
  if (sends) return 'send'
  // Ctrl+Enter adds a newline too in Enter mode (the browser does nothing by itself).
  if (sendKey.value === 'enter' && (e.ctrlKey || e.metaKey)) return 'newline'
  return null
}
