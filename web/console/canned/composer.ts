/** The composer's side of canned replies: a reply chosen in the workbench panel lands in the
 * open conversation's input box. */
import { watch } from 'vue'
import { insertRequest } from './api'

export function useCannedInsert(convId: () => number, insert: (text: string) => void): void {
  watch(insertRequest, (req) => {
    if (req && req.convId === convId()) insert(req.text)
  })
}
