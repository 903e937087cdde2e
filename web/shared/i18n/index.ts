/** vue-i18n set-up shared by the web apps: zh-CN default, en, remembered per browser. */
import { computed, shallowRef } from 'vue'
import { createI18n } from 'vue-i18n'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import enLocale from 'element-plus/es/locale/lang/en'
import { setLanguageSource } from '../api/client'
import type { Language } from '../api/types'

export const LANGUAGES: { value: Language; label: string }[] = [
  { value: 'zh-CN', label: '简体中文' },
  { value: 'en', label: 'English' },
]

const STORAGE_KEY = 'kefu.language'

export function normalizeLanguage(value: string | null | undefined): Language {
  return value === 'en' ? 'en' : 'zh-CN'
}

function storedLanguage(): Language {
  try {
    return normalizeLanguage(localStorage.getItem(STORAGE_KEY))
  } catch {
    return 'zh-CN'
  }
}

// The message schema is the zh-CN dictionary; en must have the same keys (checked in the app).
export function makeI18n<M extends object>(messages: { 'zh-CN': M; en: M }) {
  const i18n = createI18n({
    legacy: false,
    locale: storedLanguage() as string,
    fallbackLocale: 'zh-CN',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    messages: messages as any,
    missingWarn: false,
    fallbackWarn: false,
  })
  setLanguageSource(() => i18n.global.locale.value)
  document.documentElement.lang = i18n.global.locale.value
  return i18n
}

type AnyI18n = ReturnType<typeof makeI18n>

const currentRef = shallowRef<AnyI18n | null>(null)

export function installI18n(i18n: AnyI18n): void {
  currentRef.value = i18n
}

/** Switch the UI language now and remember it for the next visit. */
export function setLanguage(lang: Language): void {
  const current = currentRef.value
  if (!current) return
  current.global.locale.value = lang
  document.documentElement.lang = lang
  try {
    localStorage.setItem(STORAGE_KEY, lang)
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

export function currentLanguage(): Language {
  return normalizeLanguage(currentRef.value?.global.locale.value)
}

/** Element Plus' own texts (pagination, dialogs, date pickers) in the current language. */
export const elementLocale = computed(() => (currentLanguage() === 'en' ? enLocale : zhCn))

/** Pick the zh or en variant of a bilingual record. */
export function pickLang(zh: string, en: string, lang: Language = currentLanguage()): string {
  return lang === 'en' ? en : zh
}
