/** Loading the category tree and a searchable, paged item list (admin and agent pages). */
import { reactive, ref } from 'vue'
import { api, errorMessage, unwrap } from '@shared/api'
import type { Category, Item, ItemSummary } from './types'

export function useKnowledge(pageSize = 20) {
  const categories = ref<Category[]>([])
  const items = ref<ItemSummary[]>([])
  const state = reactive({
    category: null as number | null,
    q: '',
    page: 1,
    pageSize,
    total: 0,
    used: 0,
    capacity: 1000,
    loading: false,
    error: '',
  })

  async function loadCategories() {
    categories.value = await unwrap(api.GET('/api/v1/knowledge/categories'))
  }

  async function loadItems() {
    state.loading = true
    state.error = ''
    try {
      const out = await unwrap(
        api.GET('/api/v1/knowledge/items', {
          params: {
            query: {
              q: state.q.trim() || undefined,
              category_id: state.category ?? undefined,
              page: state.page,
              page_size: state.pageSize,
            },
          },
        }),
      )
      items.value = out.items
      state.total = out.total
      state.used = out.used
      state.capacity = out.capacity
    } catch (e) {
      state.error = errorMessage(e)
    } finally {
      state.loading = false
    }
  }

  async function reload() {
    try {
      await loadCategories()
    } catch (e) {
      state.error = errorMessage(e)
    }
    await loadItems()
  }

  async function fetchItem(id: number): Promise<Item> {
    return unwrap(api.GET('/api/v1/knowledge/items/{knowledge_item_id}', { params: { path: { knowledge_item_id: id } } }))
  }

  function pick(category: number | null) {
    state.category = category
    state.page = 1
    void loadItems()
  }

  let timer: number | undefined
  function searchSoon() {
    window.clearTimeout(timer)
    timer = window.setTimeout(() => {
      state.page = 1
      void loadItems()
    }, 250)
  }

  return { categories, items, state, loadCategories, loadItems, reload, fetchItem, pick, searchSoon }
}
