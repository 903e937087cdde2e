/** Saving the tenant's dispatch settings (shared by the tabs that change a part of them). */
import { api, unwrap } from '@shared/api'
import { dispatchBody, type DispatchInput, type DispatchSettings } from './types'

export async function saveDispatch(current: DispatchSettings, change: Partial<DispatchInput>): Promise<DispatchSettings> {
  return unwrap(api.PUT('/api/v1/dispatch-settings', { body: { ...dispatchBody(current), ...change } }))
}
