import path from "node:path";
import { readSecretFile } from "../internal/readSecretFile.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import {
  DEFAULT_BODY_IDLE_TIMEOUT_MS,
  LOG_LEVELS,
  MAX_BODY_IDLE_TIMEOUT_MS,
  maxHeadAgeSecondsFor,
} from "../internal/configSchema.ts";

export type KeyholderConfig = {
  rpcUrl: string;
  chainId: number;
  /** Absolute path. */
  deploymentManifest: string;
  http: { host: string; port: number; bodyIdleTimeoutMs: number };
  confirmations: number;
  /** How old the RPC node's latest block may be before the keyholder refuses; 0: no limit. */
  maxHeadAgeSeconds: number;
  /** Requests one IP address may make per minute (RATE_LIMITED beyond). */
  rateLimit: { sharesPerMinute: number; specsPerMinute: number };
  /** A Kubo node to fetch manifests from when requests do not carry them; optional. */
  kuboUrl: string | undefined;
  privateKey: Uint8Array;
  logLevel: (typeof LOG_LEVELS)[number];
};

/**
 * The keyholder's configuration, from the environment only (a keyholder is one key and a few
 * addresses; a file adds nothing but a place to leave the key):
 *
 * | variable | meaning | default |
 * | --- | --- | --- |
 * | KEYHOLDER_PRIVATE_KEY | the committee key, 32 bytes hex | (this or the file) |
 * | KEYHOLDER_PRIVATE_KEY_FILE | a file holding it (preferred: the environment leaks to child processes); refused if group or others may read it (chmod 600) | |
 * | KEYHOLDER_RPC_URL | the chain's JSON-RPC endpoint | required |
 * | KEYHOLDER_CHAIN_ID | the chain's id | required |
 * | KEYHOLDER_DEPLOYMENT_MANIFEST | the deploy script's manifest | deployments/<chainId>.json |
 * | KEYHOLDER_HTTP_HOST, KEYHOLDER_HTTP_PORT | where to listen | 127.0.0.1, 8788 |
 * | KEYHOLDER_HTTP_BODY_IDLE_TIMEOUT_MS | a request body that pauses longer is refused (REQUEST_TIMEOUT) | 30000 |
 * | KEYHOLDER_CONFIRMATIONS | blocks an approval needs | 2 |
 * | KEYHOLDER_MAX_HEAD_AGE_SECONDS | an RPC node whose latest block is older is not trusted (0: no limit) | 0 on chain 31337, else 300 |
 * | KEYHOLDER_SHARES_PER_MINUTE | share requests one IP address may make per minute | 1200 |
 * | KEYHOLDER_SPECS_PER_MINUTE | spec uploads one IP address may make per minute | 30 |
 * | KEYHOLDER_KUBO_URL | a Kubo RPC API to read manifests from | none |
 * | KEYHOLDER_LOG_LEVEL | fatal ... trace, silent | info |
 *
 * Every problem is reported at once, one line each; the key's value never appears in a message.
 */
export function loadKeyholderConfig(
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
): KeyholderConfig {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const integer = (name: string, fallback: number | undefined, min: number, max: number) => {
    const raw = get(name);
    if (raw === undefined) {
      if (fallback === undefined) problems.push(`${name} is missing; set it.`);
      return fallback ?? 0;
    }
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} (${JSON.stringify(raw)}) must be a whole number from ${min} to ${max}.`);
    }
    return value;
  };

  const rpcUrl = get("KEYHOLDER_RPC_URL");
  if (rpcUrl === undefined || !/^(https?|wss?):\/\//.test(rpcUrl)) {
    problems.push("KEYHOLDER_RPC_URL must be the chain's JSON-RPC URL, e.g. http://127.0.0.1:8545.");
  }
  const chainId = integer("KEYHOLDER_CHAIN_ID", undefined, 1, Number.MAX_SAFE_INTEGER);
  const port = integer("KEYHOLDER_HTTP_PORT", 8788, 0, 65535);
  const bodyIdleTimeoutMs = integer(
    "KEYHOLDER_HTTP_BODY_IDLE_TIMEOUT_MS",
    DEFAULT_BODY_IDLE_TIMEOUT_MS,
    1,
    MAX_BODY_IDLE_TIMEOUT_MS,
  );
  const confirmations = integer("KEYHOLDER_CONFIRMATIONS", 2, 0, 10_000);
  const maxHeadAgeSeconds = integer(
    "KEYHOLDER_MAX_HEAD_AGE_SECONDS",
    maxHeadAgeSecondsFor(chainId),
    0,
    Number.MAX_SAFE_INTEGER,
  );
  // Per IP address as the keyholder sees it: behind a reverse proxy every peer is the proxy, so
  // limit there instead and raise these.
  const sharesPerMinute = integer("KEYHOLDER_SHARES_PER_MINUTE", 1_200, 1, 1_000_000);
  const specsPerMinute = integer("KEYHOLDER_SPECS_PER_MINUTE", 30, 1, 1_000_000);
  const logLevel = (get("KEYHOLDER_LOG_LEVEL") ?? "info") as KeyholderConfig["logLevel"];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`KEYHOLDER_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}.`);

  let keyText = get("KEYHOLDER_PRIVATE_KEY");
  const keyFile = get("KEYHOLDER_PRIVATE_KEY_FILE");
  if (keyText !== undefined && keyFile !== undefined) {
    problems.push("Set KEYHOLDER_PRIVATE_KEY or KEYHOLDER_PRIVATE_KEY_FILE, not both.");
  } else if (keyFile !== undefined) {
    const file = path.resolve(cwd, keyFile);
    try {
      keyText = readSecretFile(file).trim();
    } catch (error) {
      // Unreadable, or readable by others (ssh's rule): one line that says which and what to do.
      problems.push(
        isWorkerError(error)
          ? `KEYHOLDER_PRIVATE_KEY_FILE: ${error.shortMessage}`
          : `KEYHOLDER_PRIVATE_KEY_FILE (${keyFile}) cannot be read.`,
      );
    }
  }
  let privateKey = new Uint8Array();
  if (keyText === undefined) {
    if (keyFile === undefined) {
      problems.push("KEYHOLDER_PRIVATE_KEY_FILE (or KEYHOLDER_PRIVATE_KEY) is missing; point it at the committee key.");
    }
  } else if (!/^(0x)?[0-9a-fA-F]{64}$/.test(keyText)) {
    problems.push("The keyholder private key must be 32 bytes of hex (64 hex digits, 0x optional).");
  } else {
    privateKey = Uint8Array.from(Buffer.from(keyText.replace(/^0x/, ""), "hex"));
  }

  if (problems.length > 0) {
    throw new WorkerError(
      "CONFIG_INVALID",
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration: ${problems.length} problems.`,
      { hints: problems },
    );
  }
  const manifest = get("KEYHOLDER_DEPLOYMENT_MANIFEST");
  return {
    rpcUrl: rpcUrl!,
    chainId,
    deploymentManifest: path.resolve(cwd, manifest ?? path.join("deployments", `${chainId}.json`)),
    http: { host: get("KEYHOLDER_HTTP_HOST") ?? "127.0.0.1", port, bodyIdleTimeoutMs },
    confirmations,
    maxHeadAgeSeconds,
    rateLimit: { sharesPerMinute, specsPerMinute },
    kuboUrl: get("KEYHOLDER_KUBO_URL"),
    privateKey,
    logLevel,
  };
}
