/** Small helpers shared by the console's forms. */
import { ApiError } from '@shared/api'

const IMAGE_TYPES = ['image/png', 'image/gif', 'image/jpeg']
const IMAGE_MAX_BYTES = 2 * 1024 * 1024

export type ImageProblem = 'badType' | 'tooLarge'

/**
 * Take the file chosen in an <input type=file> (and reset the input so the same file can be
 * picked again). Checked here only for a quick answer; the server checks again by content.
 */
export function takeImage(ev: Event): { file: File | null; problem: ImageProblem | null } {
  const input = ev.target as HTMLInputElement
  const file = input.files?.[0] ?? null
  input.value = ''
  if (!file) return { file: null, problem: null }
  if (file.type && !IMAGE_TYPES.includes(file.type)) return { file, problem: 'badType' }
  if (file.size > IMAGE_MAX_BYTES) return { file, problem: 'tooLarge' }
  return { file, problem: null }
}

/** Show the API's per-field messages next to the fields they name. */
export function applyFieldErrors(e: unknown, target: Record<string, string>): void {
  if (!(e instanceof ApiError)) return
  for (const f of e.fields) target[f.field.split('.').pop() ?? f.field] = f.message
}
