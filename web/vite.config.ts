import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The Python server serves index.html for every non-API path and the bundle under /assets/.
const backend = process.env.KEFU_DEV_BACKEND ?? 'http://127.0.0.1:8000'

export default defineConfig({
  root: fileURLToPath(new URL('./console', import.meta.url)),
  base: '/',
  plugins: [vue()],
  define: {
    // vue-i18n feature flags: Composition API only, no devtools in production.
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
  },
  resolve: {
    alias: {
      '@shared': fileURLToPath(new URL('./shared', import.meta.url)),
      '@console': fileURLToPath(new URL('./console', import.meta.url)),
    },
  },
  build: {
    outDir: fileURLToPath(new URL('../src/kefu/static/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks: {
          vendor: ['vue', 'vue-router', 'vue-i18n', 'openapi-fetch'],
          'element-plus': ['element-plus', '@element-plus/icons-vue'],
        },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/api': {
        target: backend,
        ws: true,
        // Host is kept (no changeOrigin): the API's Origin check compares Origin with Host.
      },
    },
  },
})
