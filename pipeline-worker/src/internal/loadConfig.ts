import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { configSchema, LOG_LEVELS, maxHeadAgeSecondsFor, STORAGE_KINDS } from "./configSchema.ts";
import { WorkerError } from "./WorkerError.ts";

export type WorkerConfig = {
  rpcUrl: string;
  chainId: number;
  /** Absolute path. */
  deploymentManifest: string;
  /** Absolute path. */
  dataDir: string;
  /** `bodyIdleTimeoutMs` is optional so that hand-built configurations (tests) need not spell it out. */
  http: { host: string; port: number; bodyIdleTimeoutMs?: number };
  confirmations: number;
  stalenessSeconds: number;
  /** Optional so that hand-built configurations (tests) need not spell it out; loadConfig always sets it. */
  maxHeadAgeSeconds?: number;
  maxPayloadBytes: number;
  /** Optional so that hand-built configurations (tests) need not spell it out; loadConfig always sets it. */
  maxConcurrentUploads?: number;
  storage: { kind: (typeof STORAGE_KINDS)[number]; kuboUrl: string | undefined };
  /** Optional so that hand-built configurations (tests) need not spell it out; loadConfig always sets it. */
  inference?: InferenceConfig;
  privateKey: `0x${string}`;
  logLevel: (typeof LOG_LEVELS)[number];
};

export type LoadConfigParameters = {
  /** A JSON file; defaults to the WORKER_CONFIG environment variable. Without either, env and defaults only. */
  configPath?: string | undefined;
  env?: Record<string, string | undefined>;
  /** Relative paths that come from the environment resolve against this; defaults to process.cwd(). */
  cwd?: string;
};

export type InferenceConfig = {
  /** This worker's index among the workers that serve the same consumers, from 0. */
  workerIndex: number;
  /** How many workers serve the same consumers; each serves its share of every quota. */
  workerCount: number;
  /** The longest query input accepted, in characters. */
  maxInputLength: number;
  /** Most queries settled per transaction. */
  settlementBatchSize: number;
  /** Longest time a served query waits before it is settled on chain. */
  settlementIntervalSeconds: number;
};

type FieldSpec = { env: string; type: "string" | "integer"; fix: string; secret?: true };

// Every field, with the variable that overrides it and what to do when it is wrong. The order is
// the order problems are reported in.
const FIELDS: Record<string, FieldSpec> = {
  rpcUrl: {
    env: "WORKER_RPC_URL",
    type: "string",
    fix: "Set it to the chain's JSON-RPC endpoint, e.g. http://127.0.0.1:8545.",
  },
  chainId: {
    env: "WORKER_CHAIN_ID",
    type: "integer",
    fix: "Set it to the id of the chain the contracts are deployed on, e.g. 31337 for a local Hardhat or Anvil chain.",
  },
  deploymentManifest: {
    env: "WORKER_DEPLOYMENT_MANIFEST",
    type: "string",
    fix: "Point it at the manifest the deploy script wrote, e.g. deployments/31337.json.",
  },
  dataDir: {
    env: "WORKER_DATA_DIR",
    type: "string",
    fix: "Set it to a writable directory for the worker's journal and IPFS repository, e.g. .data/worker.",
  },
  "http.host": {
    env: "WORKER_HTTP_HOST",
    type: "string",
    fix: "Set it to the address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for all interfaces.",
  },
  "http.port": {
    env: "WORKER_HTTP_PORT",
    type: "integer",
    fix: "Set it to a free port, e.g. 8787 (0 picks any free port).",
  },
  "http.bodyIdleTimeoutMs": {
    env: "WORKER_HTTP_BODY_IDLE_TIMEOUT_MS",
    type: "integer",
    fix: "Set it to the longest pause in a request body before it is refused, in milliseconds, e.g. 30000.",
  },
  confirmations: {
    env: "WORKER_CONFIRMATIONS",
    type: "integer",
    fix: "Set it to how many blocks must follow a policy change before it grants access, e.g. 2 (0 on a local chain).",
  },
  stalenessSeconds: {
    env: "WORKER_STALENESS_SECONDS",
    type: "integer",
    fix: "Set it to how many seconds the policy may lag the chain head before the worker fails closed, e.g. 60.",
  },
  maxHeadAgeSeconds: {
    env: "WORKER_MAX_HEAD_AGE_SECONDS",
    type: "integer",
    fix: "Set it to how old, in seconds, the RPC node's latest block may be before the worker fails closed, e.g. 300 (0 turns the check off, as on a local chain).",
  },
  maxPayloadBytes: {
    env: "WORKER_MAX_PAYLOAD_BYTES",
    type: "integer",
    fix: "Set it to the largest submission the API accepts, in bytes, e.g. 268435456 for 256 MiB.",
  },
  maxConcurrentUploads: {
    env: "WORKER_MAX_CONCURRENT_UPLOADS",
    type: "integer",
    fix: "Set it to how many uploads the worker reads at once before it answers UPLOADS_BUSY, e.g. 32.",
  },
  "storage.kind": {
    env: "WORKER_STORAGE_KIND",
    type: "string",
    fix: "Use helia for the embedded IPFS node (the default) or kubo for an external Kubo node.",
  },
  "storage.kuboUrl": {
    env: "WORKER_KUBO_URL",
    type: "string",
    fix: "Set it to the Kubo node's RPC API address, e.g. http://127.0.0.1:5001.",
  },
  "inference.workerIndex": {
    env: "WORKER_INDEX",
    type: "integer",
    fix: "Set it to this worker's position among the workers serving the same consumers: 0, 1, ... up to inference.workerCount - 1.",
  },
  "inference.workerCount": {
    env: "WORKER_COUNT",
    type: "integer",
    fix: "Set it to how many workers serve the same consumers (1 for a single worker); every worker must have the same value.",
  },
  "inference.maxInputLength": {
    env: "WORKER_MAX_INPUT_LENGTH",
    type: "integer",
    fix: "Set it to the longest query input accepted, in characters, e.g. 4096.",
  },
  "inference.settlementBatchSize": {
    env: "WORKER_SETTLEMENT_BATCH_SIZE",
    type: "integer",
    fix: "Set it to how many queries one settlement transaction carries, from 1 to 500, e.g. 50.",
  },
  "inference.settlementIntervalSeconds": {
    env: "WORKER_SETTLEMENT_INTERVAL_SECONDS",
    type: "integer",
    fix: "Set it to the longest a served query waits before it is settled on chain, in seconds, e.g. 60.",
  },
  privateKey: {
    env: "WORKER_PRIVATE_KEY",
    type: "string",
    secret: true,
    fix: "Set the environment variable WORKER_PRIVATE_KEY to the worker account's private key; it is never read from the config file.",
  },
  logLevel: { env: "WORKER_LOG_LEVEL", type: "string", fix: `Use one of ${LOG_LEVELS.join(", ")}.` },
};

type Source = { kind: "file"; file: string } | { kind: "env"; name: string };

/**
 * Loads the configuration from a JSON file and the environment (the environment wins), and
 * validates it. On any mistake it throws one CONFIG_INVALID error that lists every problem, one
 * line each, naming the field, where the value came from, what is wrong and what to do, so that an
 * operator fixes everything in one go instead of one restart per mistake.
 */
export function loadConfig(parameters: LoadConfigParameters = {}): WorkerConfig {
  const env = parameters.env ?? process.env;
  const cwd = parameters.cwd ?? process.cwd();
  const configPath = parameters.configPath ?? nonEmpty(env.WORKER_CONFIG);
  const problems: string[] = [];
  const sources = new Map<string, Source>();

  let raw: Record<string, unknown> = {};
  let fileDir = cwd;
  if (configPath !== undefined) {
    const file = path.resolve(cwd, configPath);
    fileDir = path.dirname(file);
    raw = readConfigFile(file);
    for (const key of leafPaths(raw)) sources.set(key, { kind: "file", file });
    // The key must not sit in a file that gets copied, committed and backed up.
    if ("privateKey" in raw) {
      problems.push(
        `privateKey (in ${file}): must not be in the config file. Remove it and ${lowerFirst(FIELDS.privateKey!.fix)}`,
      );
      delete raw.privateKey;
      sources.delete("privateKey");
    }
  }

  for (const [field, spec] of Object.entries(FIELDS)) {
    const value = nonEmpty(env[spec.env]);
    if (value === undefined) continue;
    setPath(raw, field, spec.type === "integer" && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value);
    sources.set(field, { kind: "env", name: spec.env });
  }

  const result = configSchema.safeParse(raw);
  if (!result.success)
    problems.push(...result.error.issues.flatMap((issue) => describeIssue(issue, raw, sources, configPath)));
  if (problems.length > 0 || !result.success) {
    throw new WorkerError(
      "CONFIG_INVALID",
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration: ${problems.length} problems.`,
      { hints: problems, extra: { problems } },
    );
  }

  const config = result.data;
  // Relative paths follow where they were written: a path in the file is relative to the file,
  // so that the file works from any working directory; a path from the environment is relative
  // to the working directory, as a shell user expects.
  const resolve = (field: string, value: string) =>
    path.resolve(sources.get(field)?.kind === "file" ? fileDir : cwd, value);
  return {
    ...config,
    deploymentManifest:
      config.deploymentManifest === undefined
        ? path.resolve(cwd, "deployments", `${config.chainId}.json`)
        : resolve("deploymentManifest", config.deploymentManifest),
    dataDir: resolve("dataDir", config.dataDir),
    maxHeadAgeSeconds: config.maxHeadAgeSeconds ?? maxHeadAgeSecondsFor(config.chainId),
    storage: { kind: config.storage.kind, kuboUrl: config.storage.kuboUrl },
    inference: config.inference,
    privateKey: config.privateKey as `0x${string}`,
  };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `Invalid configuration: cannot read the config file ${file}.`, {
      cause,
      hints: [
        "Check the path given in WORKER_CONFIG (or --config), or unset it to configure through the environment only.",
      ],
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `Invalid configuration: ${file} is not valid JSON.`, {
      cause,
      hints: [
        "Fix the JSON syntax at the position given in the details (comments and trailing commas are not allowed).",
      ],
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new WorkerError("CONFIG_INVALID", `Invalid configuration: ${file} must hold a JSON object.`, {
      hints: ['Write the settings as one object, e.g. { "rpcUrl": "http://127.0.0.1:8545", "chainId": 31337 }.'],
    });
  }
  return parsed as Record<string, unknown>;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  raw: Record<string, unknown>,
  sources: Map<string, Source>,
  configPath: string | undefined,
): string[] {
  const parent = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const field = [...parent, key].join(".");
      const known = knownFieldsUnder(parent.join("."));
      return `${field} (${describeSource(sources.get(field))}): unknown field. Remove it or correct its spelling; known fields here: ${known.join(", ")}.`;
    });
  }
  const field = parent.join(".");
  const spec = FIELDS[field];
  const value = getPath(raw, field);
  const fix = spec?.fix ?? "";
  if (value === undefined) {
    const where = [configPath === undefined ? undefined : `"${field}" in the config file`, spec?.env]
      .filter(Boolean)
      .join(" or ");
    return [`${field}: ${issue.code === "custom" ? issue.message : "is missing"}; set ${where}. ${fix}`.trim()];
  }
  const shown = spec?.secret ? "" : `, got ${JSON.stringify(value)}`;
  return [`${field} (${describeSource(sources.get(field))}): ${issue.message}${shown}. ${fix}`.trim()];
}

function describeSource(source: Source | undefined): string {
  if (source === undefined) return "default";
  return source.kind === "env" ? `from ${source.name}` : `in ${source.file}`;
}

function knownFieldsUnder(prefix: string): string[] {
  const depth = prefix === "" ? 0 : prefix.split(".").length;
  const names = Object.keys(FIELDS)
    .filter((field) => prefix === "" || field.startsWith(`${prefix}.`))
    .map((field) => field.split(".")[depth]!)
    .filter((name) => name !== "privateKey");
  return [...new Set(names)];
}

function leafPaths(value: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === "object" && child !== null && !Array.isArray(child)
      ? leafPaths(child as Record<string, unknown>, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

function getPath(object: Record<string, unknown>, field: string): unknown {
  let current: unknown = object;
  for (const key of field.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function setPath(object: Record<string, unknown>, field: string, value: unknown): void {
  const keys = field.split(".");
  let current = object;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys.at(-1)!] = value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
