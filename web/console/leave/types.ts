/** API shapes and calls of leave messages (留言, SPEC §11.1). */
import { ref } from 'vue'
import { api, unwrap } from '@shared/api'
import type { components, paths } from '@shared/api/schema'
import { realtime } from '@shared/realtime'

type S = components['schemas']

export type LeaveMessage = S['LeaveMessageOut']
export type LeaveDetail = S['LeaveMessageDetail']
export type LeaveComment = S['CommentOut']
export type LeaveStatus = LeaveMessage['status']
export type LeaveQuery = NonNullable<paths['/api/v1/leave-messages']['get']['parameters']['query']>
export type AgentView = NonNullable<LeaveQuery['view']>
export type Assignee = S['UserRef']

export const STATUSES: LeaveStatus[] = ['unhandled', 'in_progress', 'resolved']
export const MAX_COMMENT = 2000

export const listLeave = (query: LeaveQuery) => unwrap(api.GET('/api/v1/leave-messages', { params: { query } }))

export const getLeave = (id: number) =>
  unwrap(api.GET('/api/v1/leave-messages/{message_id}', { params: { path: { message_id: id } } }))

export const lookupLeave = (number: number) =>
  unwrap(api.GET('/api/v1/leave-messages/lookup', { params: { query: { number } } }))

export const leaveAssignees = () => unwrap(api.GET('/api/v1/leave-messages/assignees'))

export const assignLeave = (id: number, assignee_id: number | null) =>
  unwrap(api.POST('/api/v1/leave-messages/{message_id}/assign', { params: { path: { message_id: id } }, body: { assignee_id } }))

export const setLeaveStatus = (id: number, status: LeaveStatus) =>
  unwrap(api.POST('/api/v1/leave-messages/{message_id}/status', { params: { path: { message_id: id } }, body: { status } }))

export const commentLeave = (id: number, text: string) =>
  unwrap(api.POST('/api/v1/leave-messages/{message_id}/comments', { params: { path: { message_id: id } }, body: { text } }))

export const batchAssign = (ids: number[], assignee_id: number | null) =>
  unwrap(api.POST('/api/v1/leave-messages/batch/assign', { body: { ids, assignee_id } }))

export const batchStatus = (ids: number[], status: LeaveStatus) =>
  unwrap(api.POST('/api/v1/leave-messages/batch/status', { body: { ids, status } }))

/** The menu badge: my unhandled (agent mode), all unhandled (admin mode). Shared by the shell
 * badge and the page, which refreshes it after every change. */
export const badge = ref<{ mine: number; all: number }>({ mine: 0, all: 0 })

export async function refreshBadge(): Promise<void> {
  try {
    const b = await unwrap(api.GET('/api/v1/leave-messages/badge'))
    badge.value = { mine: b.mine_unhandled ?? 0, all: b.all_unhandled ?? 0 }
  } catch {
    /* keep the last counts */
  }
}

/** Calls `fn` when the server says the tenant's leave messages changed (a new one, an
 * assignment, a status change: `leave_messages.changed`), at most once per burst. The delay
 * has some jitter so a whole team's consoles do not ask at the same instant. */
export function onLeaveChanged(fn: () => void): () => void {
  let pending: number | undefined
  const stop = realtime.subscribe((frame) => {
    if (frame.type !== 'leave_messages.changed' || pending !== undefined) return
    pending = window.setTimeout(() => {
      pending = undefined
      fn()
    }, 200 + Math.random() * 800)
  })
  return () => {
    window.clearTimeout(pending)
    stop()
  }
}

export const numberLabel = (n: number) => `#${n}`
