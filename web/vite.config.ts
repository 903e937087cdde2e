import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The Python server serves index.html for every non-API path and the bundle under /assets/.
const backend = process.env.KEFU_DEV_BACKEND ?? 'http://127.0.0.1:8000'

export default defineConfig({
  root: fileURLToPath(new URL('./console', import.meta.url)),
  base: '/',
  plugins: [vue()],
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
        // The API checks Origin on cookie-authenticated writes: present the backend's own origin.
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => req.setHeader('origin', backend))
          proxy.on('proxyReqWs', (req) => req.setHeader('origin', backend))
        },
      },
    },
  },
})
