import { makeI18n } from '@shared/i18n'
import zhCN from './zh-CN'
import en from './en'

export const i18n = makeI18n({ 'zh-CN': zhCN, en })
