/** API shapes and calls of the Customer center (SPEC §12). */
import { api, unwrap, uploadFile } from '@shared/api'
import type { components, paths } from '@shared/api/schema'

type S = components['schemas']

export type CustomerItem = S['CustomerItemOut']
export type Customer = S['CustomerOut']
export type ProfileField = S['ProfileFieldOut']
export type CustomerField = S['CustomerFieldOut']
export type CustomerGroup = S['CustomerGroupOut']
export type CustomerRecord = S['RecordOut']
export type CustomerImport = S['CustomerImportOut']
export type CustomerQuery = NonNullable<paths['/api/v1/customers']['get']['parameters']['query']>
export type Mode = 'agent' | 'admin'
export type FieldType = 'text' | 'multiline' | 'number' | 'date' | 'select'
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one shape per `kind`
export type GroupItem = Record<string, any> & { kind: string }

export const FIELD_TYPES: FieldType[] = ['text', 'multiline', 'number', 'date', 'select']
export const MAX_GROUPS = 10
export const CHANNELS = ['web', 'app', 'wechat', 'weibo', 'phone', 'api'] as const
export const ITEM_KINDS = [
  'created_within_days',
  'last_conversation_within_days',
  'tag',
  'vip',
  'channel',
  'field_equals',
  'imported',
] as const
/** Max lengths of system fields (§12.5). */
export const SYSTEM_MAX: Record<string, number> = {
  nickname: 256,
  name: 45,
  external_id: 64,
  phone: 45,
  qq: 45,
  wechat: 45,
  email: 254,
  company: 45,
  description: 200,
}

const vid = (id: number) => ({ visitor_id: id })

export function listCustomers(query: CustomerQuery) {
  return unwrap(api.GET('/api/v1/customers', { params: { query } }))
}

export function getCustomer(id: number, mode?: Mode): Promise<Customer> {
  return unwrap(api.GET('/api/v1/customers/{visitor_id}', { params: { path: vid(id), query: { mode } } }))
}

export function patchCustomer(
  id: number,
  body: { fields?: Record<string, string | null>; tag_ids?: number[] },
  mode?: Mode,
): Promise<Customer> {
  return unwrap(
    api.PATCH('/api/v1/customers/{visitor_id}', { params: { path: vid(id), query: { mode } }, body: { fields: {}, ...body } }),
  )
}

export function customerRecords(id: number, mode: Mode): Promise<CustomerRecord[]> {
  return unwrap(api.GET('/api/v1/customers/{visitor_id}/conversations', { params: { path: vid(id), query: { mode } } }))
}

export function recordMessages(id: number, conversationId: number, mode: Mode) {
  return unwrap(
    api.GET('/api/v1/customers/{visitor_id}/conversations/{conversation_id}/messages', {
      params: { path: { visitor_id: id, conversation_id: conversationId }, query: { mode, limit: 100 } },
    }),
  )
}

export function callCustomer(id: number) {
  return unwrap(api.POST('/api/v1/customers/{visitor_id}/callback', { params: { path: vid(id) } }))
}

export function listGroups(mode: Mode): Promise<CustomerGroup[]> {
  return unwrap(api.GET('/api/v1/customer-groups', { params: { query: { mode } } }))
}

export function listFields(): Promise<CustomerField[]> {
  return unwrap(api.GET('/api/v1/customer-fields'))
}

export function importCustomers(file: File): Promise<CustomerImport> {
  return uploadFile<CustomerImport>('/customers/import', file)
}
