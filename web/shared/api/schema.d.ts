/**
 * Hand-written stand-in for the generated OpenAPI types (docs/api.md), in the shape that
 * `openapi-typescript` emits. `npm run gen:api` replaces this file once the backend's
 * OpenAPI document is dumped to shared/api/openapi.json.
 */

type Json<T> = { content: { 'application/json': T } }
type Ok<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } }
type NoContent = { headers: { [name: string]: unknown }; content?: never }
type Err = { headers: { [name: string]: unknown }; content: { 'application/json': components['schemas']['ErrorBody'] } }
type NoParams = { query?: never; header?: never; path?: never; cookie?: never }
type IdPath = { query?: never; header?: never; path: { id: number }; cookie?: never }
type ListQuery = { page?: number; page_size?: number; sort?: string }
type Multipart = { content: { 'multipart/form-data': { file: string } } }
type S = components['schemas']

type Op<P, B, R> = { parameters: P; responses: R } & ([B] extends [never]
  ? { requestBody?: never }
  : { requestBody: B })

export interface paths {
  '/health': { get: Op<NoParams, never, { 200: Ok<S['Health']> }> }
  '/auth/login': { post: Op<NoParams, Json<S['LoginIn']>, { 200: Ok<S['LoginOut']>; default: Err }> }
  '/auth/login/mfa': { post: Op<NoParams, Json<S['LoginMfaIn']>, { 200: Ok<S['LoginOut']>; default: Err }> }
  '/auth/logout': { post: Op<NoParams, never, { 204: NoContent; default: Err }> }
  '/auth/password/forgot': { post: Op<NoParams, Json<S['ForgotIn']>, { 202: NoContent; default: Err }> }
  '/auth/password/reset': { post: Op<NoParams, Json<S['ResetIn']>, { 204: NoContent; default: Err }> }
  '/me': {
    get: Op<NoParams, never, { 200: Ok<S['Me']>; default: Err }>
    patch: Op<NoParams, Json<S['MeUpdate']>, { 200: Ok<S['Me']>; default: Err }>
  }
  '/me/password': { post: Op<NoParams, Json<S['PasswordChangeIn']>, { 204: NoContent; default: Err }> }
  '/me/avatar': { post: Op<NoParams, Multipart, { 200: Ok<S['Me']>; default: Err }> }
  '/me/mfa/setup': { post: Op<NoParams, never, { 200: Ok<S['MfaSetupOut']>; default: Err }> }
  '/me/mfa/enable': { post: Op<NoParams, Json<S['MfaCodeIn']>, { 204: NoContent; default: Err }> }
  '/me/mfa/disable': { post: Op<NoParams, Json<S['MfaCodeIn']>, { 204: NoContent; default: Err }> }
  '/users': {
    get: Op<
      { query?: ListQuery & { q?: string; team_id?: number }; header?: never; path?: never; cookie?: never },
      never,
      { 200: Ok<S['UserPage']>; default: Err }
    >
    post: Op<NoParams, Json<S['UserCreate']>, { 201: Ok<S['User']>; default: Err }>
  }
  '/users/{id}': {
    get: Op<IdPath, never, { 200: Ok<S['User']>; default: Err }>
    patch: Op<IdPath, Json<S['UserUpdate']>, { 200: Ok<S['User']>; default: Err }>
    delete: Op<IdPath, never, { 204: NoContent; default: Err }>
  }
  '/users/{id}/password-reset': { post: Op<IdPath, never, { 202: NoContent; default: Err }> }
  '/roles': {
    get: Op<NoParams, never, { 200: Ok<S['Role'][]>; default: Err }>
    post: Op<NoParams, Json<S['RoleIn']>, { 201: Ok<S['Role']>; default: Err }>
  }
  '/roles/{id}': {
    get: Op<IdPath, never, { 200: Ok<S['Role']>; default: Err }>
    patch: Op<IdPath, Json<Partial<S['RoleIn']>>, { 200: Ok<S['Role']>; default: Err }>
    delete: Op<IdPath, never, { 204: NoContent; default: Err }>
  }
  '/permissions/catalogue': { get: Op<NoParams, never, { 200: Ok<S['Catalogue']>; default: Err }> }
  '/teams': {
    get: Op<NoParams, never, { 200: Ok<S['Team'][]>; default: Err }>
    post: Op<NoParams, Json<S['TeamCreate']>, { 201: Ok<S['Team']>; default: Err }>
  }
  '/teams/{id}': {
    patch: Op<IdPath, Json<S['TeamUpdate']>, { 200: Ok<S['Team']>; default: Err }>
    delete: Op<IdPath, never, { 204: NoContent; default: Err }>
  }
  '/teams/{id}/members': { put: Op<IdPath, Json<S['TeamMembersIn']>, { 200: Ok<S['Team']>; default: Err }> }
  '/tenant': {
    get: Op<NoParams, never, { 200: Ok<S['Tenant']>; default: Err }>
    patch: Op<NoParams, Json<S['TenantUpdate']>, { 200: Ok<S['Tenant']>; default: Err }>
  }
  '/tenant/logo': { post: Op<NoParams, Multipart, { 200: Ok<S['Tenant']>; default: Err }> }
  '/tenant/switches': {
    get: Op<NoParams, never, { 200: Ok<S['Switches']>; default: Err }>
    patch: Op<NoParams, Json<Partial<S['Switches']>>, { 200: Ok<S['Switches']>; default: Err }>
  }
  '/audit-logs': {
    get: Op<
      { query?: ListQuery; header?: never; path?: never; cookie?: never },
      never,
      { 200: Ok<S['AuditLogPage']>; default: Err }
    >
  }
}

export interface components {
  schemas: {
    ErrorField: { field: string; rule: string; message: string }
    ErrorBody: { error: { code: string; message: string; fields?: S['ErrorField'][] } }
    Health: { status: string; version: string; database: string }
    LoginIn: {
      email: string
      password: string
      remember?: boolean
      client?: 'cookie' | 'token'
      invisible?: boolean
    }
    LoginMfaIn: { mfa_token: string; code: string }
    LoginOut: {
      status: 'ok' | 'mfa_required' | 'mfa_setup_required'
      user?: S['Me'] | null
      token?: string | null
      mfa_token?: string | null
      secret?: string | null
      otpauth_uri?: string | null
    }
    ForgotIn: { email: string }
    ResetIn: { token: string; new_password: string }
    RoleBrief: { id: number; name: string; builtin: string | null }
    TenantBrief: { id: number; name: string }
    Me: {
      id: number
      email: string
      nickname: string
      real_name: string
      employee_number: string | null
      mobile: string
      agent_type: string
      language: 'zh-CN' | 'en'
      greeting_text: string
      greeting_enabled: boolean
      max_concurrent: number
      avatar_url: string
      role: S['RoleBrief']
      pages: string[]
      modes: ('agent' | 'admin')[]
      tenant: S['TenantBrief']
      mfa_enabled: boolean
    }
    MeUpdate: {
      nickname?: string
      real_name?: string
      employee_number?: string | null
      mobile?: string
      language?: 'zh-CN' | 'en'
      greeting_text?: string
      greeting_enabled?: boolean
      max_concurrent?: number
    }
    PasswordChangeIn: { old_password: string; new_password: string }
    MfaSetupOut: { secret: string; otpauth_uri: string }
    MfaCodeIn: { code: string }
    User: {
      id: number
      email: string
      nickname: string
      real_name: string
      employee_number: string | null
      mobile: string
      agent_type: 'online' | 'ticket' | 'call_center' | 'omni'
      role: S['RoleBrief']
      team_id: number | null
      enabled: boolean
      max_concurrent: number
      mfa_enabled: boolean
      created_at: string
    }
    UserPage: { items: S['User'][]; total: number; page: number; page_size: number }
    UserCreate: {
      email: string
      password: string
      nickname: string
      real_name?: string
      employee_number?: string | null
      mobile?: string
      agent_type: S['User']['agent_type']
      role_id: number
      enabled?: boolean
      max_concurrent?: number
      team_id?: number | null
    }
    UserUpdate: Partial<S['UserCreate']>
    Role: {
      id: number
      name: string
      builtin: string | null
      pages: string[]
      data_scopes: { [page: string]: string }
      require_mfa: boolean
      user_count?: number
    }
    RoleIn: { name: string; pages: string[]; data_scopes: { [page: string]: string }; require_mfa: boolean }
    CataloguePage: { key: string; mode: 'agent' | 'admin'; group: string; zh: string; en: string; parent: string | null }
    CatalogueGroup: { key: string; zh: string; en: string }
    Catalogue: {
      pages: S['CataloguePage'][]
      groups: S['CatalogueGroup'][]
      data_scope_pages: string[]
      scopes: string[]
    }
    Team: { id: number; name: string; parent_id: number | null; is_root: boolean; member_ids: number[] }
    TeamCreate: { name: string; parent_id: number }
    TeamUpdate: { name?: string; parent_id?: number }
    TeamMembersIn: { user_ids: number[] }
    Tenant: {
      id: number
      name: string
      logo_url: string
      phone: string
      address: string
      remark: string
      seats: number
      seats_used: number
      max_concurrent_ceiling: number
      expires_at: string | null
      time_zone: string
    }
    TenantUpdate: { name?: string; phone?: string; address?: string; remark?: string; time_zone?: string }
    Switches: { agent_custom_max_concurrent: boolean }
    AuditLog: {
      id: number
      created_at: string
      actor_user_id: number | null
      actor_name: string
      action: string
      target_type: string
      target_id: string
      detail: { [key: string]: unknown }
      ip: string
    }
    AuditLogPage: { items: S['AuditLog'][]; total: number; page: number; page_size: number }
  }
}
