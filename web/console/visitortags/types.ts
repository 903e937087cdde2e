/** API shapes of visitor tags (named here so the shared types file stays untouched). */
import type { components } from '@shared/api/schema'

export type VisitorTag = components['schemas']['VisitorTagOut']

/** A visitor may carry at most this many tags (the API refuses more). */
export const MAX_TAGS_PER_VISITOR = 50
export const MAX_TAGS_PER_TENANT = 1000
