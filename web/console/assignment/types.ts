/** API shapes and lookups shared by the tabs of Session assignment rules. */
import type { components } from '@shared/api/schema'

type S = components['schemas']

export type RoutingRule = S['RoutingRuleOut']
export type RoutingRuleInput = S['RoutingRuleIn']
export type RuleTarget = S['RuleTarget']
export type TargetType = RuleTarget['type']
export type DispatchSettings = S['DispatchSettingsOut']
export type DispatchInput = S['DispatchSettingsIn']
export type RuleSource = DispatchInput['rule_order'][number]
export type OverflowRule = S['OverflowRuleOut']
export type OverflowInput = S['OverflowRuleIn']
export type WelcomeMenu = S['WelcomeMenuOut']
export type SkillGroup = S['SkillGroupOut']
export type VisitorTag = S['VisitorTagOut']
export type TimePlan = S['TimePlanOut']
export type Association = S['AssociationOut']
export type User = S['UserOut']
export type Channel = 'web' | 'app' | 'wechat' | 'weibo'

export const CHANNELS: Channel[] = ['web', 'app', 'wechat', 'weibo']

/** Everything the rules point at, loaded once by the page. */
export interface Lookups {
  groups: SkillGroup[]
  tags: VisitorTag[]
  agents: User[]
  plans: TimePlan[]
  associations: Association[]
}

export function emptyLookups(): Lookups {
  return { groups: [], tags: [], agents: [], plans: [], associations: [] }
}

/** The settings body for PUT, from what GET answered. */
export function dispatchBody(s: DispatchSettings): DispatchInput {
  return {
    rule_order: [...s.rule_order],
    priority_levels: s.priority_levels.map((l) => [...l]),
    capacity_allocation: s.capacity_allocation,
    group_priority: [...s.group_priority],
    returning_customer: s.returning_customer,
    transfer_confirm_seconds: s.transfer_confirm_seconds,
  }
}
