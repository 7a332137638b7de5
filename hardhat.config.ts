import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";

const require = createRequire(import.meta.url);

// Hardhat would download solc; the solc-js build shipped by the `solc` npm package works offline.
// EAS pins `pragma solidity 0.8.29`, so the whole project uses that version (package.json pins solc).
const SOLC_VERSION = "0.8.29";

export default defineConfig({
  plugins: [hardhatViem],
  solidity: {
    profiles: {
      default: {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: {
          evmVersion: "cancun",
          // Low runs keep the Governor (seven extensions) under the 24 KiB code-size limit.
          optimizer: { enabled: true, runs: 200 },
        },
      },
    },
    // The real EAS, compiled from its npm package, so tests and deployments use its exact code.
    npmFilesToBuild: [
      "@ethereum-attestation-service/eas-contracts/contracts/EAS.sol",
      "@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol",
      "@openzeppelin/contracts/governance/TimelockController.sol",
    ],
  },
  paths: {
    sources: "contracts",
    tests: { solidity: "test" },
  },
  test: {
    solidity: {
      profiles: {
        // Few fuzz runs with Hardhat's fixed seed, so `npm test` is fast and its gas snapshots stable.
        default: {},
        // Many more in CI (`npm run test:fuzz`); the invariant settings matter, Hardhat's own are very slow.
        ci: { fuzz: { runs: 5000 }, invariant: { runs: 256, depth: 100 } },
      },
    },
  },
  networks: {
    localhost: { type: "http", url: process.env.RPC_URL ?? "http://127.0.0.1:8545" },
  },
});
