/** API shapes used by Skill groups (named here so the shared types file stays untouched). */
import type { components } from '@shared/api/schema'

type S = components['schemas']

export type SkillGroup = S['SkillGroupOut']
export type SkillGroupInput = S['SkillGroupIn']
export type SkillGroupPatch = S['SkillGroupPatch']
export type GroupMember = S['GroupMemberOut']
export type GroupCandidate = S['GroupCandidateOut']
export type CodeResult = S['MembersCodeOut']
export type Favourites = S['FavouriteGroupsOut']
export type TimePlan = S['TimePlanOut']
export type AssignmentMode = NonNullable<SkillGroupInput['assignment_mode']>

export const ASSIGNMENT_MODES: AssignmentMode[] = ['balanced', 'least_loaded', 'broadcast']
export const STATUSES = ['idle', 'busy', 'away', 'invisible', 'offline'] as const
export type PresenceStatus = (typeof STATUSES)[number]

/** Same rule as the server: Chinese characters, letters and digits. */
export const GROUP_NAME = /^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9]+$/

export function isUngrouped(g: { builtin?: string | null } | null | undefined): boolean {
  return g?.builtin === 'ungrouped'
}

/** The built-in group's name in the UI language (the row itself is named 未分组). */
export function groupLabel(g: { name: string; builtin?: string | null }, ungroupedLabel: string): string {
  return isUngrouped(g) ? ungroupedLabel : g.name
}
