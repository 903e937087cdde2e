/** Who is signed in, their tenant and the permission catalogue: the console's shared state. */
import { reactive } from 'vue'
import { api, ApiError, unwrap } from '@shared/api'
import type { Catalogue, Language, Me, Mode, Switches, Tenant } from '@shared/api'
import { currentLanguage, normalizeLanguage, setLanguage } from '@shared/i18n'
import { setTimeZone } from '@shared/ui/format'
import { PAGE_TITLES } from './i18n/pages'

interface SessionState {
  me: Me | null
  tenant: Tenant | null
  catalogue: Catalogue | null
  switches: Switches | null
  /** Bumped when the logo changes so <img> reloads it. */
  logoVersion: number
  /** Live statuses from `presence.changed` events, by user id; newer than any fetched list. */
  presence: Record<number, string>
}

export const session = reactive<SessionState>({
  me: null,
  tenant: null,
  catalogue: null,
  switches: null,
  logoVersion: Date.now(),
  presence: {},
})

let loading: Promise<Me | null> | null = null

/** Load the signed-in user once (null when not signed in). */
export function ensureMe(): Promise<Me | null> {
  if (session.me) return Promise.resolve(session.me)
  if (!loading) {
    loading = unwrap(api.GET('/api/v1/me'))
      .then((me) => {
        setMe(me)
        return me
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) return null
        throw e
      })
      .finally(() => {
        loading = null
      })
  }
  return loading
}

// A language the user switched to whose save (PATCH /me) has not answered yet. A reload in
// that moment would otherwise bring the server's old language back at boot.
const PENDING_LANGUAGE = 'kefu.language.pending'

// Stored as "<user id>:<language>": another user signing in on this browser is not affected.
function pendingLanguage(userId: number): Language | null {
  try {
    const [user, lang] = (localStorage.getItem(PENDING_LANGUAGE) ?? '').split(':')
    return user === String(userId) && lang ? normalizeLanguage(lang) : null
  } catch {
    return null // private mode
  }
}

function markPending(pending: { userId: number; lang: Language } | null): void {
  try {
    if (pending) localStorage.setItem(PENDING_LANGUAGE, `${pending.userId}:${pending.lang}`)
    else localStorage.removeItem(PENDING_LANGUAGE)
  } catch {
    /* private mode: nothing survives a reload anyway */
  }
}

/** Switch the UI language at once and save it as the user's; resolves to the saved user.
 * Until the save answers the choice is kept locally, so a reload meanwhile keeps it. */
export async function saveLanguage(lang: Language): Promise<Me> {
  setLanguage(lang)
  if (session.me) markPending({ userId: session.me.id, lang })
  const me = await unwrap(api.PATCH('/api/v1/me', { body: { language: lang } }))
  markPending(null)
  session.me = me
  return me
}

/** Adopt a freshly signed-in or updated user, applying their language. */
export function setMe(me: Me): void {
  session.me = me
  const pending = pendingLanguage(me.id)
  const lang = normalizeLanguage(me.language)
  if (pending && pending !== lang) {
    // The last switch was not saved (the page went away first): keep it, and save it now.
    saveLanguage(pending).catch(() => undefined)
  } else {
    markPending(null)
    if (lang !== currentLanguage()) setLanguage(lang)
  }
  void loadContext()
}

export async function loadContext(): Promise<void> {
  const [tenant, catalogue, switches] = await Promise.allSettled([
    unwrap(api.GET('/api/v1/tenant')),
    unwrap(api.GET('/api/v1/permissions/catalogue')),
    unwrap(api.GET('/api/v1/tenant/switches')),
  ])
  if (tenant.status === 'fulfilled') setTenant(tenant.value)
  if (catalogue.status === 'fulfilled') session.catalogue = catalogue.value
  if (switches.status === 'fulfilled') session.switches = switches.value
}

export function setTenant(tenant: Tenant): void {
  session.tenant = tenant
  setTimeZone(tenant.time_zone)
}

export async function refreshTenant(): Promise<void> {
  setTenant(await unwrap(api.GET('/api/v1/tenant')))
}

export function clearSession(): void {
  session.me = null
  session.tenant = null
  session.catalogue = null
  session.switches = null
  session.presence = {}
}

export function can(key: string): boolean {
  return !!session.me?.pages.includes(key)
}

export function hasMode(mode: Mode): boolean {
  return !!session.me?.modes.includes(mode)
}

/** A page's title in the UI language: from the server's catalogue, else the built-in list. */
export function pageTitle(key: string): string {
  const lang = currentLanguage()
  const entry = session.catalogue?.pages.find((p) => p.key === key)
  const fromServer = entry?.title[lang] ?? entry?.title['zh-CN']
  if (fromServer) return fromServer
  const local = PAGE_TITLES[key]
  if (local) return lang === 'en' ? local[1] : local[0]
  return key
}

const MODE_KEY = 'kefu.mode'

export function rememberMode(mode: Mode): void {
  try {
    localStorage.setItem(MODE_KEY, mode)
  } catch {
    /* ignore */
  }
}

export function preferredMode(): Mode {
  let stored: string | null = null
  try {
    stored = localStorage.getItem(MODE_KEY)
  } catch {
    /* ignore */
  }
  if (stored === 'agent' && hasMode('agent')) return 'agent'
  if (hasMode('admin')) return 'admin'
  return 'agent'
}

export function tenantLogoUrl(): string {
  return `/api/v1/tenant/logo?v=${session.logoVersion}`
}
