/** Audit-log action and target names (zh-CN, en); unknown codes are shown as they are. */
export const AUDIT_ACTIONS: Record<string, [zh: string, en: string]> = {
  'tenant.provision': ['开通企业账户', 'Tenant provisioned'],
  'tenant.update': ['修改企业信息', 'Enterprise info changed'],
  'tenant.logo': ['更换企业 Logo', 'Logo changed'],
  'platform.update': ['平台调整账户（坐席/到期日）', 'Account changed by the platform'],
  'switches.update': ['修改系统开关', 'System switch changed'],
  'user.create': ['添加客服', 'Agent added'],
  'user.update': ['修改客服', 'Agent changed'],
  'user.delete': ['删除客服', 'Agent deleted'],
  'user.password_reset_link': ['发送重置密码链接', 'Password reset link sent'],
  'role.create': ['新建角色', 'Role created'],
  'role.update': ['修改角色', 'Role changed'],
  'role.delete': ['删除角色', 'Role deleted'],
  'team.create': ['新建团队', 'Team created'],
  'team.update': ['修改团队', 'Team changed'],
  'team.delete': ['删除团队', 'Team deleted'],
  'team.members': ['调整团队成员', 'Team members changed'],
}

export const AUDIT_TARGETS: Record<string, [zh: string, en: string]> = {
  tenant: ['企业', 'Enterprise'],
  user: ['客服', 'Agent'],
  role: ['角色', 'Role'],
  team: ['团队', 'Team'],
  switches: ['系统开关', 'Switches'],
}
