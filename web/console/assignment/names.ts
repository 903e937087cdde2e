/** Display names for the ids stored in rules (groups, agents, tags, plans, associations). */
import { useI18n } from 'vue-i18n'
import type { Lookups, SkillGroup } from './types'

export function useNames(lk: () => Lookups) {
  const { t } = useI18n()

  function groupLabel(g: SkillGroup): string {
    return g.builtin === 'ungrouped' ? t('assign.target.ungroupedName') : g.name
  }
  function groupName(id: number | null | undefined): string {
    const g = lk().groups.find((x) => x.id === id)
    return g ? groupLabel(g) : t('assign.target.missing')
  }
  function agentName(id: number | null | undefined): string {
    return lk().agents.find((x) => x.id === id)?.nickname ?? t('assign.target.missing')
  }
  function planName(id: number | null | undefined): string {
    if (id == null) return t('assign.source.defaultPlan')
    return lk().plans.find((x) => x.id === id)?.name ?? t('assign.target.missing')
  }
  function associationName(id: number | null | undefined): string {
    return lk().associations.find((x) => x.id === id)?.name ?? t('assign.source.unknownAssociation', { id })
  }
  function targetLabel(target: { type: string; id?: number | null } | null | undefined): string {
    if (!target) return '—'
    if (target.type === 'robot') return t('assign.target.robotLabel')
    if (target.type === 'agent') return t('assign.target.agentLabel', { name: agentName(target.id) })
    return t('assign.target.groupLabel', { name: groupName(target.id) })
  }
  function channelName(c: string | null | undefined): string {
    return c ? t(`assign.channels.${c}`) : '—'
  }
  return { groupLabel, groupName, agentName, planName, associationName, targetLabel, channelName }
}

