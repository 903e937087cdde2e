import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'

// The visitor widget: one dependency-free IIFE (widget.js) plus the hosted pages copied from
// widget/public (h5.html, demo.html). Output goes to the server's static folder, emptied first.
export default defineConfig({
  root: fileURLToPath(new URL('./widget', import.meta.url)),
  publicDir: fileURLToPath(new URL('./widget/public', import.meta.url)),
  // Class fields as constructor assignments: no esbuild helper vars outside the IIFE (they would
  // land in the host page's global scope).
  esbuild: { tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } } },
  build: {
    outDir: fileURLToPath(new URL('../src/kefu/static/widget', import.meta.url)),
    emptyOutDir: true,
    target: 'es2019',
    minify: 'esbuild',
    sourcemap: false,
    reportCompressedSize: true,
    lib: {
      entry: fileURLToPath(new URL('./widget/src/main.ts', import.meta.url)),
      name: 'KefuWidgetBundle',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
})
