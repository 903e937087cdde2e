/**
 * Friendly names for the API's schemas. schema.d.ts is generated (`npm run gen:api`) from the
 * backend's OpenAPI; this is the only file that knows the generated names.
 */
import type { components } from './schema'

type S = components['schemas']

export type Me = S['MeOut']
export type MeUpdate = S['MePatch']
export type LoginResult = S['LoginOut']
export type User = S['UserOut']
export type TeamPerson = S['TeamPersonOut']
export type UserCreate = S['UserCreate']
export type UserUpdate = S['UserPatch']
export type AgentType = User['agent_type']
export type Role = S['RoleOut']
export type RoleInput = S['RoleCreate']
export type DataScopes = S['DataScopes']
export type Catalogue = S['CatalogueOut']
export type CataloguePage = S['CataloguePage']
export type Team = S['TeamOut']
export type Tenant = S['TenantOut']
export type TenantUpdate = S['TenantPatch']
export type Switches = S['SwitchesOut']
export type AuditLog = S['AuditOut']
export type MfaSetup = S['MfaSetupOut']
export type Notice = S['NotificationOut']
export type NoticeKind = Notice['kind']
export type Approval = S['ApprovalOut']
export type MyStatus = S['MyStatusOut']
export type Language = 'zh-CN' | 'en'
export type Mode = 'agent' | 'admin'

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
}

/** Every API error (docs/api.md); the OpenAPI document does not describe it. */
export interface ApiErrorField {
  field: string
  rule: string
  message: string
}

export interface ApiErrorBody {
  error: { code: string; message: string; fields?: ApiErrorField[] }
}
