/**
 * The routing calls of the Waiting page, the transfer dialog and the transfer prompt
 * (SPEC §3.3, §3.5, §3.6), with the shapes they answer.
 */
import { api, unwrap } from '@shared/api'
import type { Conversation, TransferRequest } from '@shared/chat'
import type { components, paths } from '@shared/api/schema'
import type { Message } from '../monitor/types'

export type { TransferRequest }

type S = components['schemas']

export type WaitingItem = S['WaitingItemOut']
export type WaitingPage = S['WaitingPageOut']
export type TargetAgent = S['TargetAgentOut']
export type TargetGroup = S['TargetGroupOut']
export type TransferTargets = S['TransferTargetsOut']

export type WaitingQuery = NonNullable<paths['/api/v1/waiting']['get']['parameters']['query']>
export type TransferTarget = S['TransferIn']

export type TransferOutcome = 'transferred' | 'pending' | 'queued'

export interface TransferResult {
  outcome: TransferOutcome
  request: TransferRequest | null
  conversation: Conversation
}

/** A waiting conversation's message: the same shape as a monitored conversation's. */
export type PreviewMessage = Message

const path = (id: number) => ({ params: { path: { conversation_id: id } } })

export function listWaiting(query: WaitingQuery): Promise<WaitingPage> {
  return unwrap(api.GET('/api/v1/waiting', { params: { query } }))
}

export function pickup(id: number): Promise<unknown> {
  return unwrap(api.POST('/api/v1/waiting/{conversation_id}/pickup', path(id)))
}

export function waitingMessages(id: number): Promise<PreviewMessage[]> {
  return unwrap(api.GET('/api/v1/waiting/{conversation_id}/messages', path(id)))
}

export function closeWaiting(id: number): Promise<unknown> {
  return unwrap(api.POST('/api/v1/waiting/{conversation_id}/end', path(id)))
}

export function transferTargets(): Promise<TransferTargets> {
  return unwrap(api.GET('/api/v1/transfer-targets'))
}

/** Transfer an ongoing conversation of mine, or (admins) a waiting one. */
export async function transfer(id: number, waiting: boolean, target: TransferTarget): Promise<TransferResult> {
  if (waiting) {
    // Admins move a waiting conversation at once (no confirmation); it may queue in a group.
    const conv = await unwrap(api.POST('/api/v1/waiting/{conversation_id}/transfer', { ...path(id), body: target }))
    return { outcome: conv.state === 'waiting' ? 'queued' : 'transferred', request: null, conversation: conv }
  }
  return unwrap(api.POST('/api/v1/conversations/{conversation_id}/transfer', { ...path(id), body: target }))
}

export function incomingTransfers(): Promise<TransferRequest[]> {
  return unwrap(api.GET('/api/v1/transfer-requests'))
}

export function decideTransfer(id: number, accept: boolean): Promise<TransferRequest> {
  const p = { params: { path: { request_id: id } } }
  const call = accept
    ? api.POST('/api/v1/transfer-requests/{request_id}/accept', p)
    : api.POST('/api/v1/transfer-requests/{request_id}/reject', p)
  return unwrap(call)
}
