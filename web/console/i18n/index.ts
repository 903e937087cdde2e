import { makeI18n } from '@shared/i18n'
import zhCN from './zh-CN'
import en from './en'
import approvals from '../approvals/i18n'
import canned from '../canned/i18n'
import automations from '../automations/i18n'
import channels from '../channels/i18n'
import messages from '../messages/i18n'
import monitor from '../monitor/i18n'
import workbench from '../workbench/i18n'
import timeplans from '../timeplans/i18n'
import skillgroups from '../skillgroups/i18n'
import assignment from '../assignment/i18n'
import visitortags from '../visitortags/i18n'
import sessiontags from '../sessiontags/i18n'
import waiting from '../waiting/i18n'
import announcements from '../announcements/i18n'
import knowledge from '../knowledge/i18n'
import csat from '../csat/i18n'
import history from '../history/i18n'
import blacklist from '../blacklist/i18n'
import customers from '../customers/i18n'
import exportsI18n from '../exports/i18n'
import searchI18n from '../search/i18n'
import leaveI18n from '../leave/i18n'

// Each feature keeps its texts beside its pages; add one line here per feature.
const features = [
  approvals,
  canned,
  automations,
  channels,
  messages,
  monitor,
  workbench,
  timeplans,
  skillgroups,
  assignment,
  visitortags,
  sessiontags,
  waiting,
  announcements,
  knowledge,
  csat,
  history,
  blacklist,
  customers,
  exportsI18n,
  searchI18n,
  leaveI18n,
]

export const i18n = makeI18n({
  'zh-CN': Object.assign({}, zhCN, ...features.map((f) => f['zh-CN'])),
  en: Object.assign({}, en, ...features.map((f) => f.en)),
})
