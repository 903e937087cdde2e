/**
 * The module map of SPEC §0: every page of agent mode and admin mode, how the left navigation
 * groups it, its route and (for the pages built so far) its component.
 */
import type { Component } from 'vue'
import {
  Bell, ChatDotRound, ChatLineSquare, Checked, Clock, Connection, Cpu, DataAnalysis, DataLine,
  Download, HomeFilled, Memo, Message, Microphone, Monitor, Picture, PieChart, Reading, Search,
  Setting, Stamp, Tickets, User, UserFilled, VideoCamera, Warning,
} from '@element-plus/icons-vue'
import type { Mode } from '@shared/api'

type Loader = () => Promise<unknown>

export interface NavLeaf {
  kind: 'leaf'
  key: string
  icon?: Component
  component?: Loader
}

export interface NavModule {
  kind: 'module'
  id: 'members' | 'settings' | 'monitor'
  icon: Component
  children: NavLeaf[]
}

export type NavNode = NavLeaf | NavModule

export interface NavGroup {
  id: 'agent' | 'setup' | 'monitoring' | 'data' | 'other'
  mode: Mode
  nodes: NavNode[]
}

const leaf = (key: string, icon?: Component, component?: Loader): NavLeaf => ({ kind: 'leaf', key, icon, component })

const personal = () => import('../personal/PersonalPage.vue')

export const NAV: NavGroup[] = [
  {
    id: 'agent',
    mode: 'agent',
    nodes: [
      leaf('agent.sessions', ChatDotRound, () => import('../workbench/SessionsPage.vue')),
      leaf('agent.waiting', Clock, () => import('../waiting/WaitingPage.vue')),
      leaf('agent.leave_messages', Message, () => import('../leave/LeavePage.vue')),
      leaf('agent.history', Tickets, () => import('../history/HistoryPage.vue')),
      leaf('agent.qa', Checked),
      leaf('agent.search', Search, () => import('../search/SearchPage.vue')),
      leaf('agent.customers', User, () => import('../customers/CustomersPage.vue')),
      leaf('agent.exports', Download, () => import('../exports/ExportsPage.vue')),
      leaf('agent.message_center', Bell, () => import('../messages/MessageCenterPage.vue')),
      leaf('agent.stats', DataAnalysis),
      leaf('agent.video', VideoCamera),
      leaf('agent.personal', UserFilled, personal),
      leaf('agent.canned', ChatLineSquare, () => import('../canned/CannedAgentPage.vue')),
      leaf('agent.knowledge', Reading, () => import('../knowledge/KnowledgeAgentPage.vue')),
    ],
  },
  {
    id: 'setup',
    mode: 'admin',
    nodes: [
      {
        kind: 'module',
        id: 'members',
        icon: UserFilled,
        children: [
          leaf('admin.members.agents', undefined, () => import('../members/AgentsPage.vue')),
          leaf('admin.members.skill_groups', undefined, () => import('../skillgroups/SkillGroupsPage.vue')),
          leaf('admin.members.teams', undefined, () => import('../members/TeamsPage.vue')),
        ],
      },
      leaf('admin.channels', Connection, () => import('../channels/ChannelsPage.vue')),
      leaf('admin.materials', Picture),
      leaf('admin.knowledge', Reading, () => import('../knowledge/KnowledgeAdminPage.vue')),
      {
        kind: 'module',
        id: 'settings',
        icon: Setting,
        children: [
          leaf('admin.settings.enterprise', undefined, () => import('../settings/EnterprisePage.vue')),
          leaf('admin.settings.switches', undefined, () => import('../settings/SwitchesPage.vue')),
          leaf('admin.settings.permissions', undefined, () => import('../settings/PermissionsPage.vue')),
          leaf('admin.settings.canned', undefined, () => import('../canned/CannedAdminPage.vue')),
          leaf('admin.settings.session_tags', undefined, () => import('../sessiontags/SessionTagsPage.vue')),
          leaf('admin.settings.visitor_tags', undefined, () => import('../visitortags/VisitorTagsPage.vue')),
          leaf('admin.settings.csat', undefined, () => import('../csat/CsatSettingsPage.vue')),
          leaf('admin.settings.qa_score'),
          leaf('admin.settings.info_interface'),
          leaf('admin.settings.event_push'),
          leaf('admin.settings.pre_inquiry'),
          leaf('admin.settings.time_plans', undefined, () => import('../timeplans/TimePlansPage.vue')),
          leaf('admin.settings.emoji'),
          leaf('admin.settings.assignment_rules', undefined, () => import('../assignment/AssignmentRulesPage.vue')),
          leaf('admin.settings.keywords'),
          leaf('admin.settings.customer_settings', undefined, () => import('../customers/CustomerSettingsPage.vue')),
          leaf('admin.settings.monitor_settings'),
          leaf('admin.settings.audit', undefined, () => import('../settings/AuditLogPage.vue')),
        ],
      },
    ],
  },
  {
    id: 'monitoring',
    mode: 'admin',
    nodes: [
      leaf('admin.home', HomeFilled),
      leaf('admin.current_sessions', ChatDotRound, () => import('../monitor/CurrentSessionsPage.vue')),
      {
        kind: 'module',
        id: 'monitor',
        icon: Monitor,
        children: [leaf('admin.monitor.realtime'), leaf('admin.monitor.field'), leaf('admin.monitor.big_screen')],
      },
      leaf('admin.approvals', Stamp, () => import('../approvals/ApprovalsPage.vue')),
      leaf('admin.qa', Checked),
      leaf('admin.alerts', Warning),
      leaf('admin.message_center', Bell, () => import('../messages/MessageCenterPage.vue')),
    ],
  },
  {
    id: 'data',
    mode: 'admin',
    nodes: [
      leaf('admin.history', Tickets, () => import('../history/HistoryPage.vue')),
      leaf('admin.search', Search, () => import('../search/SearchPage.vue')),
      leaf('admin.customers', User, () => import('../blacklist/BlacklistPage.vue')),
      leaf('admin.leave_messages', Message, () => import('../leave/LeavePage.vue')),
      leaf('admin.exports', Download, () => import('../exports/ExportsPage.vue')),
      leaf('admin.stats', DataLine),
      leaf('admin.custom_reports', PieChart),
      leaf('admin.customer_voice', Microphone),
    ],
  },
  {
    id: 'other',
    mode: 'admin',
    nodes: [leaf('admin.robot', Cpu), leaf('admin.tickets', Memo)],
  },
]

/** `admin.settings.time_plans` -> `/admin/settings/time-plans` */
export function pathOf(key: string): string {
  return '/' + key.split('.').join('/').replace(/_/g, '-')
}

export function modeOf(key: string): Mode {
  return key.startsWith('admin.') ? 'admin' : 'agent'
}

export const ALL_LEAVES: NavLeaf[] = NAV.flatMap((g) =>
  g.nodes.flatMap((n) => (n.kind === 'leaf' ? [n] : n.children)),
)

/** Where a user lands in a mode: the first page of that mode they may open. */
export function firstPageOf(mode: Mode, pages: readonly string[]): string | null {
  const preferred = mode === 'admin' ? 'admin.home' : 'agent.sessions'
  if (pages.includes(preferred)) return pathOf(preferred)
  const first = ALL_LEAVES.find((l) => modeOf(l.key) === mode && pages.includes(l.key))
  return first ? pathOf(first.key) : null
}
