import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { ALL_LEAVES, firstPageOf, modeOf, pathOf } from './shell/modules'
import { ensureMe, preferredMode, rememberMode, session } from './session'
import type { Mode } from '@shared/api'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    /** Permission key of the page; also its title. */
    pageKey?: string
    mode?: Mode
    /** The page is the user's own (personal info): open to every signed-in user. */
    self?: boolean
  }
}

const placeholder = () => import('./shell/PlaceholderPage.vue')
const personal = () => import('./personal/PersonalPage.vue')

const pageRoutes: RouteRecordRaw[] = ALL_LEAVES.map((l) => ({
  path: pathOf(l.key),
  name: l.key,
  component: l.component ?? placeholder,
  meta: { pageKey: l.key, mode: modeOf(l.key), self: l.key === 'agent.personal' },
}))

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./auth/LoginPage.vue'), meta: { public: true } },
  {
    path: '/forgot-password',
    name: 'forgot-password',
    component: () => import('./auth/ForgotPasswordPage.vue'),
    meta: { public: true },
  },
  {
    path: '/reset-password',
    name: 'reset-password',
    component: () => import('./auth/ResetPasswordPage.vue'),
    meta: { public: true },
  },
  {
    path: '/',
    component: () => import('./shell/ConsoleShell.vue'),
    children: [
      { path: '', name: 'home', component: placeholder },
      ...pageRoutes,
      // Personal info opened from the user menu while in admin mode keeps the admin navigation.
      { path: '/admin/personal', name: 'admin.personal', component: personal, meta: { pageKey: 'agent.personal', mode: 'admin', self: true } },
      { path: '/agent', redirect: () => landing('agent') },
      { path: '/admin', redirect: () => landing('admin') },
      { path: '/:rest(.*)*', name: 'not-found', component: placeholder },
    ],
  },
]

/** The page a user opens by default in a mode (their first permitted page). */
export function landing(mode?: Mode): string {
  const me = session.me
  if (!me) return '/login'
  const wanted = mode ?? preferredMode()
  return (
    firstPageOf(wanted, me.pages) ??
    firstPageOf(wanted === 'admin' ? 'agent' : 'admin', me.pages) ??
    `/${wanted}/personal`
  )
}

export const router = createRouter({
  history: createWebHistory('/'),
  routes,
  scrollBehavior: () => ({ top: 0 }),
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const me = await ensureMe().catch(() => null)
  if (!me) return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  if (to.name === 'home') return landing()
  if (to.meta.mode === 'admin' && !me.modes.includes('admin')) return landing('agent')
  if (to.meta.mode) rememberMode(to.meta.mode)
  return true
})
