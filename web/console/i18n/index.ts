import { makeI18n } from '@shared/i18n'
import zhCN from './zh-CN'
import en from './en'
import approvals from '../approvals/i18n'
import channels from '../channels/i18n'
import messages from '../messages/i18n'
import monitor from '../monitor/i18n'
import workbench from '../workbench/i18n'

export const i18n = makeI18n({
  'zh-CN': { ...zhCN, ...channels['zh-CN'], ...monitor['zh-CN'], ...workbench['zh-CN'], ...messages['zh-CN'], ...approvals['zh-CN'] },
  en: { ...en, ...channels.en, ...monitor.en, ...workbench.en, ...messages.en, ...approvals.en },
})
