import { makeI18n } from '@shared/i18n'
import zhCN from './zh-CN'
import en from './en'
import approvals from '../approvals/i18n'
import channels from '../channels/i18n'
import messages from '../messages/i18n'
import monitor from '../monitor/i18n'
import workbench from '../workbench/i18n'
import timeplans from '../timeplans/i18n'
import skillgroups from '../skillgroups/i18n'
import assignment from '../assignment/i18n'
import visitortags from '../visitortags/i18n'
import waiting from '../waiting/i18n'

export const i18n = makeI18n({
  'zh-CN': { ...zhCN, ...channels['zh-CN'], ...monitor['zh-CN'], ...workbench['zh-CN'], ...messages['zh-CN'], ...approvals['zh-CN'], ...timeplans['zh-CN'], ...skillgroups['zh-CN'], ...assignment['zh-CN'], ...visitortags['zh-CN'], ...waiting['zh-CN'] },
  en: { ...en, ...channels.en, ...monitor.en, ...workbench.en, ...messages.en, ...approvals.en, ...timeplans.en, ...skillgroups.en, ...assignment.en, ...visitortags.en, ...waiting.en },
})
