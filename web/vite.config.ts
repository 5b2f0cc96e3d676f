// Vite config for heron's dashboard. `npm run dev` serves the UI with hot reload and
// proxies /api to a running `heron serve` (HERON_API, default http://127.0.0.1:8000), so
// the browser talks to one origin, as it does when heron serve ships the built files.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const api = process.env.HERON_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": { target: api, changeOrigin: false } },
  },
});
