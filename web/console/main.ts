import { createApp } from 'vue'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import './styles.css'
import App from './App.vue'
import { i18n } from './i18n'
import { installI18n } from '@shared/i18n'
import { setUnauthenticatedHandler } from '@shared/api'
import { router } from './router'
import { clearSession, session } from './session'

installI18n(i18n)

// A revoked or expired session sends the user back to the sign-in page.
setUnauthenticatedHandler(() => {
  if (!session.me) return
  clearSession()
  const current = router.currentRoute.value
  if (!current.meta.public) {
    void router.push({ name: 'login', query: { redirect: current.fullPath, expired: '1' } })
  }
})

createApp(App).use(i18n).use(router).use(ElementPlus).mount('#app')
