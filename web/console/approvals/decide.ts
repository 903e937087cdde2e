/** Approving or rejecting a request, shared by the Approvals page and the admin's popup. */
import { ElMessage, ElMessageBox } from 'element-plus'
import { api, errorMessage, unwrap } from '@shared/api'
import type { Approval } from '@shared/api'

type T = (key: string, params?: Record<string, unknown>) => string

/** Decide request `id`; a reject asks for an optional note first. Null when cancelled or failed. */
export async function decide(id: number, name: string, approve: boolean, t: T): Promise<Approval | null> {
  let comment = ''
  if (!approve) {
    try {
      const { value } = await ElMessageBox.prompt(t('approvals.comment'), t('approvals.rejectTitle'), {
        confirmButtonText: t('approvals.reject'),
        cancelButtonText: t('common.cancel'),
        inputType: 'textarea',
        inputValidator: (v: string) => (v ?? '').length <= 200,
      })
      comment = (value ?? '').trim()
    } catch {
      return null
    }
  }
  const path = approve ? '/api/v1/approvals/{approval_id}/approve' : '/api/v1/approvals/{approval_id}/reject'
  try {
    const saved = await unwrap(api.POST(path, { params: { path: { approval_id: id } }, body: { comment } }))
    ElMessage.success(t(approve ? 'approvals.approved' : 'approvals.rejected', { name }))
    return saved
  } catch (e) {
    ElMessage.error(errorMessage(e))
    return null
  }
}
