/** Friendly names for the API's schemas; the only file that knows the generated names. */
import type { components } from './schema'

type S = components['schemas']

export type ApiErrorBody = S['ErrorBody']
export type ApiErrorField = S['ErrorField']
export type Me = S['Me']
export type MeUpdate = S['MeUpdate']
export type LoginResult = S['LoginOut']
export type User = S['User']
export type UserCreate = S['UserCreate']
export type UserUpdate = S['UserUpdate']
export type AgentType = User['agent_type']
export type Role = S['Role']
export type RoleInput = S['RoleIn']
export type Catalogue = S['Catalogue']
export type CataloguePage = S['CataloguePage']
export type Team = S['Team']
export type Tenant = S['Tenant']
export type TenantUpdate = S['TenantUpdate']
export type Switches = S['Switches']
export type AuditLog = S['AuditLog']
export type Language = 'zh-CN' | 'en'
export type Mode = 'agent' | 'admin'
export type MfaSetup = S['MfaSetupOut']

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
}
