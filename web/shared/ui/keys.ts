/**
 * Enter submits a form from any text field, but not while an IME is composing (Chinese input
 * confirms with Enter), not from a textarea and not from a select's combobox.
 */
export function enterSubmits(submit: () => unknown) {
  return (e: KeyboardEvent) => {
    if (e.key !== 'Enter' || e.isComposing || e.keyCode === 229) return
    const el = e.target as HTMLElement | null
    if (!el || el.tagName !== 'INPUT') return
    if (el.getAttribute('role') === 'combobox') return
    e.preventDefault()
    void submit()
  }
}
