/**
 * The conversation objects and socket frames of docs/protocol.md, as the chat client sees them.
 * Written from the protocol (the contract) so the client does not depend on one app's API types.
 */

export type MessageKind = 'text' | 'image' | 'file' | 'voice' | 'location' | 'link' | 'card' | 'system'
export type SendKind = Exclude<MessageKind, 'system'>
export type SenderType = 'visitor' | 'agent' | 'system'

export interface Attachment {
  id: number
  kind: 'image' | 'file' | 'voice'
  name: string
  size: number
  content_type: string
  /** Signed link valid for 24 h; null once a file expired. */
  url: string | null
  expired: boolean
}

export interface Sender {
  type: SenderType
  id: number | null
  name: string
}

export interface Message {
  id: number
  conversation_id: number
  seq: number
  client_msg_id: string | null
  kind: string
  sender: Sender
  body: Record<string, unknown>
  whisper: boolean
  recalled: boolean
  created_at: string
  replayed?: boolean
}

export interface LastMessage {
  kind?: string
  preview: string
  at: string
  sender_type: string
}

export interface Conversation {
  id: number
  state: 'waiting' | 'ongoing' | 'ended'
  channel: string
  seq: number
  visitor: { id: number; name: string }
  agent: { id: number; nickname: string } | null
  widget_id: number | null
  association_id: number | null
  created_at: string
  accepted_at: string | null
  ended_at: string | null
  last_message: LastMessage | null
  unread?: number | null
  queue_position?: number | null
}

/** A transfer awaiting (or after) the target agent's decision (SPEC §3.5 confirmation). */
export interface TransferRequest {
  id: number
  conversation_id: number
  from_agent: { id: number; nickname: string } | null
  to_agent: { id: number; nickname: string }
  visitor_name: string
  state: 'pending' | 'accepted' | 'rejected' | 'expired' | 'cancelled'
  created_at: string
  expires_at: string
}

export interface EventFrame {
  type: 'event'
  conversation_id: number
  seq: number
  name: string
  data: Record<string, unknown>
  at: string
}

export interface AckFrame {
  type: 'ack'
  client_msg_id: string
  conversation_id: number
  seq: number
  message: Message
  replayed: boolean
}

export interface NackFrame {
  type: 'nack'
  client_msg_id: string
  code: string
  message: string
}

/** A frame as it arrives: anything with a `type`. */
export interface Frame {
  type: string
  [key: string]: unknown
}

/** A message of mine not yet acknowledged: being uploaded, waiting for its ack, or failed. */
export interface OutgoingMessage {
  client_msg_id: string
  conversation_id: number
  kind: SendKind
  /** What is (or will be) sent: for attachments it has `attachment_id` once uploaded. */
  body: Record<string, unknown>
  /** What the bubble shows meanwhile (for attachments: a local preview). */
  view: Record<string, unknown>
  status: 'uploading' | 'pending' | 'failed'
  /** 0..1 while uploading. */
  progress: number
  error: string
  created_at: string
  /** The file to (re)upload when the upload itself failed. */
  file?: File
  uploadKind?: 'image' | 'file' | 'voice'
}

/** One conversation as the client keeps it. */
export interface ConvState {
  id: number
  conv: Conversation
  /** Acknowledged messages, in seq order. */
  messages: Message[]
  /** My messages not yet acknowledged, in send order (shown after `messages`). */
  outbox: OutgoingMessage[]
  /** Highest conversation seq applied; events at or below it are duplicates. */
  lastSeq: number
  /** Highest seq reported read. */
  readSeq: number
  loaded: 'no' | 'loading' | 'yes'
  /** More of this conversation's own messages exist before the first loaded one. */
  hasOlder: boolean
  /** Messages of the visitor's earlier conversations, oldest first. */
  prior: Message[]
  priorState: 'idle' | 'loading' | 'done'
  /** The visitor's live typing preview ('' when silent). */
  typing: string
  /** New or transferred and not opened yet: highlighted on top of the list. */
  fresh: boolean
  transferred: boolean
  /** The conversation ended (kept only while it is the open one). */
  ended: boolean
  endedBy: string
  /** Where it went when it left me: the colleague's nickname or the skill group's name. */
  movedTo: string
}

export interface ChatState {
  conversations: Record<number, ConvState>
  /** Conversation ids in list order (new ones on top). */
  order: number[]
  /** The conversation the user has open, and whether the page is visible to them. */
  activeId: number | null
  visible: boolean
  /** My transfers waiting for the target's confirmation, by conversation id. */
  transfers: Record<number, TransferRequest>
  /** The tenant's waiting count from `queue.changed`. */
  waiting: number | null
  /** The ongoing list was loaded at least once. */
  ready: boolean
  connected: boolean
}
