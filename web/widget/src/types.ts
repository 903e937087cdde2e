/** Shapes of the visitor API and socket frames (docs/protocol.md). */

export interface WidgetConfig {
  key?: string
  title?: string
  theme_color?: string
  logo_url?: string | null
  company_name?: string
  show_logo?: boolean
  show_name?: boolean
  show_agent_nickname?: boolean
  welcome_text?: string
  /** Items under the welcome, each routing the chat to a skill group (§5.10). */
  welcome_menu?: { id: number; label: string }[]
  language?: string
}

export interface Attachment {
  id: number
  kind: 'image' | 'file' | 'voice'
  name: string
  size: number
  content_type: string
  url: string | null
  expired: boolean
}

export interface Sender {
  type: 'visitor' | 'agent' | 'system'
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
  // Bodies differ by kind; render.ts reads them defensively.
  body: Record<string, unknown>
  recalled?: boolean
  created_at: string
}

export interface AgentRef {
  id: number
  nickname: string
}

export interface Conversation {
  id: number
  state: 'waiting' | 'ongoing' | 'ended'
  seq: number
  agent: AgentRef | null
  queue_position?: number | null
}

export interface EventFrame {
  type: 'event'
  conversation_id: number
  seq: number
  name: string
  data: {
    conversation?: Conversation
    agent?: AgentRef | null
    message?: Message
    message_id?: number
    by?: string
  }
}

/** Any frame from the server; fields beyond `type` depend on it. */
export interface Frame {
  type: string
  [key: string]: unknown
}

/** Entry parameters: script attributes, then the JS API. */
export interface Entry {
  key: string
  mode: 'float' | 'page'
  lang?: string
  skillGroup?: string
  association?: string
  profile: { name?: string; phone?: string; email?: string; custom?: Record<string, unknown> }
  identity?: { user_id: string; timestamp: number; signature: string }
}
