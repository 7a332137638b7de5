import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The root node_modules holds React 18 (a peer of react-native, pulled in by Helia's WebRTC
// transport), while the UI runs React 19 from governance-ui/node_modules. The UI's build dedupes
// React; tests do the same, so react-markdown renders with the one React that react-dom uses.
const uiReact = fileURLToPath(new URL("governance-ui/node_modules/react", import.meta.url));

export default defineConfig({
  resolve: { alias: [{ find: /^react(\/.*)?$/, replacement: `${uiReact}$1` }] },
  test: {
    server: { deps: { inline: ["react-markdown"] } },
    include: ["test/**/*.test.ts", "pipeline-worker/test/**/*.test.ts", "governance-ui/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
