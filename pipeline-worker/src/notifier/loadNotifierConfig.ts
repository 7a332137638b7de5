import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { readSecretFile } from "../internal/readSecretFile.ts";
import { ALERT_KINDS, WEBHOOK_SECRET_PATTERN, type AlertKind } from "./alertPayload.ts";
import { notifierConfigSchema } from "./notifierConfigSchema.ts";

export type WebhookSubscription = {
  target: string;
  url: string;
  /** The current secret first, then the one being rotated out, if any. */
  secrets: string[];
  kinds: readonly AlertKind[];
};
export type EmailSubscription = { target: string; to: string[]; kinds: readonly AlertKind[] };

export type NotifierConfig = {
  rpcUrl: string;
  chainId: number;
  /** Absolute path. */
  deploymentManifest: string;
  /** Absolute path. */
  dataDir: string;
  http: { host: string; port: number };
  confirmations: number;
  pollingIntervalMs: number;
  maxBlockRange: number;
  endingWindowBlocks: number;
  startBlock: number | undefined;
  uiUrl: string | undefined;
  webhookTimeoutMs: number;
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };
  webhooks: WebhookSubscription[];
  email: { smtpUrl: string; from: string; subscriptions: EmailSubscription[] } | undefined;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
};

// Each setting the environment may override, with its variable. Integers are converted when they
// look like one, so that a typo reaches the schema and is reported as what it is.
const ENV_FIELDS: { field: string[]; env: string; integer?: true }[] = [
  { field: ["rpcUrl"], env: "NOTIFIER_RPC_URL" },
  { field: ["chainId"], env: "NOTIFIER_CHAIN_ID", integer: true },
  { field: ["deploymentManifest"], env: "NOTIFIER_DEPLOYMENT_MANIFEST" },
  { field: ["dataDir"], env: "NOTIFIER_DATA_DIR" },
  { field: ["http", "host"], env: "NOTIFIER_HTTP_HOST" },
  { field: ["http", "port"], env: "NOTIFIER_HTTP_PORT", integer: true },
  { field: ["confirmations"], env: "NOTIFIER_CONFIRMATIONS", integer: true },
  { field: ["pollingIntervalMs"], env: "NOTIFIER_POLLING_INTERVAL_MS", integer: true },
  { field: ["endingWindowBlocks"], env: "NOTIFIER_ENDING_WINDOW_BLOCKS", integer: true },
  { field: ["startBlock"], env: "NOTIFIER_START_BLOCK", integer: true },
  { field: ["uiUrl"], env: "NOTIFIER_UI_URL" },
  { field: ["logLevel"], env: "NOTIFIER_LOG_LEVEL" },
];

/**
 * The notifier's configuration: a JSON file (`NOTIFIER_CONFIG`, optional) with the environment
 * overriding its settings, validated by `notifierConfigSchema`. One webhook and one email
 * subscription can also come from the environment alone (NOTIFIER_WEBHOOK_URL with
 * NOTIFIER_WEBHOOK_SECRET or NOTIFIER_WEBHOOK_SECRET_FILE and NOTIFIER_WEBHOOK_KINDS;
 * NOTIFIER_SMTP_URL, NOTIFIER_EMAIL_FROM, NOTIFIER_EMAIL_TO and NOTIFIER_EMAIL_KINDS); they are
 * added to the file's. A file that holds a secret (a webhook secret, an SMTP password) is refused
 * when group or others may read it, as the keyholder's key file is. Every problem is reported at
 * once in one CONFIG_INVALID error, one line each; no secret appears in a message.
 */
export function loadNotifierConfig(
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
): NotifierConfig {
  const get = (variable: string) => {
    const value = env[variable]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  let fileDir = cwd;
  const configFile = get("NOTIFIER_CONFIG");
  if (configFile !== undefined) {
    const file = path.resolve(cwd, configFile);
    fileDir = path.dirname(file);
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        problems.push(`NOTIFIER_CONFIG (${file}) must hold a JSON object.`);
      } else {
        raw = parsed as Record<string, unknown>;
        const text = JSON.stringify(raw);
        const mode = statSync(file).mode & 0o777;
        if (
          (/"(secret|previousSecret)"\s*:/.test(text) || /smtps?:\/\/[^"/]*:[^"/]*@/.test(text)) &&
          (mode & 0o077) !== 0
        ) {
          problems.push(
            `NOTIFIER_CONFIG (${file}) holds secrets but its permissions 0${mode.toString(8)} let others read it. Run: chmod 600 ${file}`,
          );
        }
      }
    } catch (cause) {
      problems.push(
        `NOTIFIER_CONFIG (${file}) cannot be read as JSON: ${cause instanceof Error ? cause.message : String(cause)}.`,
      );
    }
  }

  const fromEnv = new Map<string, string>();
  for (const { field, env: variable, integer } of ENV_FIELDS) {
    const value = get(variable);
    if (value === undefined) continue;
    let parent = raw;
    for (const key of field.slice(0, -1)) {
      if (typeof parent[key] !== "object" || parent[key] === null) parent[key] = {};
      parent = parent[key] as Record<string, unknown>;
    }
    parent[field.at(-1)!] = integer && /^\d+$/.test(value) ? Number(value) : value;
    fromEnv.set(field.join("."), variable);
  }
  const kindsFrom = (variable: string) =>
    get(variable)
      ?.split(",")
      .map((k) => k.trim())
      .filter((k) => k !== "");
  const webhookUrl = get("NOTIFIER_WEBHOOK_URL");
  if (webhookUrl !== undefined) {
    const webhooks = Array.isArray(raw.webhooks) ? [...(raw.webhooks as unknown[])] : [];
    const secretFile = get("NOTIFIER_WEBHOOK_SECRET_FILE");
    webhooks.push({
      name: "env",
      url: webhookUrl,
      ...(get("NOTIFIER_WEBHOOK_SECRET") === undefined ? {} : { secret: get("NOTIFIER_WEBHOOK_SECRET") }),
      ...(secretFile === undefined ? {} : { secretFile: path.resolve(cwd, secretFile) }),
      ...(kindsFrom("NOTIFIER_WEBHOOK_KINDS") === undefined ? {} : { kinds: kindsFrom("NOTIFIER_WEBHOOK_KINDS") }),
    });
    raw.webhooks = webhooks;
  }
  const smtpUrl = get("NOTIFIER_SMTP_URL");
  if (smtpUrl !== undefined || get("NOTIFIER_EMAIL_TO") !== undefined) {
    const email = (typeof raw.email === "object" && raw.email !== null ? raw.email : {}) as Record<string, unknown>;
    if (smtpUrl !== undefined) email.smtpUrl = smtpUrl;
    if (get("NOTIFIER_EMAIL_FROM") !== undefined) email.from = get("NOTIFIER_EMAIL_FROM");
    const to = get("NOTIFIER_EMAIL_TO")
      ?.split(",")
      .map((a) => a.trim())
      .filter((a) => a !== "");
    if (to !== undefined) {
      const subscriptions = Array.isArray(email.subscriptions) ? [...(email.subscriptions as unknown[])] : [];
      const emailKinds = kindsFrom("NOTIFIER_EMAIL_KINDS");
      subscriptions.push({ name: "env", to, ...(emailKinds === undefined ? {} : { kinds: emailKinds }) });
      email.subscriptions = subscriptions;
    }
    raw.email = email;
  }

  const result = notifierConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const field = issue.path.join(".");
      const variable = fromEnv.get(field);
      problems.push(
        `${field || "(the configuration)"}${variable === undefined ? "" : ` (from ${variable})`}: ${issue.message}.`,
      );
    }
  }
  if (problems.length > 0 || !result.success) throw invalid(problems);
  const config = result.data;

  const targets = new Set<string>();
  const unique = (target: string) => {
    if (targets.has(target)) problems.push(`Two subscriptions are named ${target}; give each its own name.`);
    targets.add(target);
    return target;
  };
  const webhooks: WebhookSubscription[] = config.webhooks.map((webhook, i) => {
    let secret = webhook.secret ?? "";
    if (webhook.secretFile !== undefined) {
      const file = path.resolve(fileDir, webhook.secretFile);
      try {
        secret = readSecretFile(file).trim();
        if (!WEBHOOK_SECRET_PATTERN.test(secret)) {
          problems.push(
            `webhooks.${i}.secretFile (${file}) must hold whsec_ followed by the base64 of 24 to 64 random bytes.`,
          );
        }
      } catch (error) {
        problems.push(
          `webhooks.${i}.secretFile: ${isWorkerError(error) ? error.shortMessage : `${file} cannot be read.`}`,
        );
      }
    }
    return {
      target: unique(`webhook:${webhook.name ?? `webhook-${i + 1}`}`),
      url: webhook.url,
      secrets: webhook.previousSecret === undefined ? [secret] : [secret, webhook.previousSecret],
      kinds: webhook.kinds ?? ALERT_KINDS,
    };
  });
  const email = config.email && {
    smtpUrl: config.email.smtpUrl,
    from: config.email.from,
    subscriptions: config.email.subscriptions.map((s, i) => ({
      target: unique(`email:${s.name ?? `email-${i + 1}`}`),
      to: s.to,
      kinds: s.kinds ?? ALERT_KINDS,
    })),
  };
  if (problems.length > 0) throw invalid(problems);

  return {
    rpcUrl: config.rpcUrl,
    chainId: config.chainId,
    deploymentManifest: path.resolve(
      cwd,
      config.deploymentManifest ?? path.join("deployments", `${config.chainId}.json`),
    ),
    dataDir: path.resolve(cwd, config.dataDir),
    http: config.http,
    confirmations: config.confirmations,
    pollingIntervalMs: config.pollingIntervalMs,
    maxBlockRange: config.maxBlockRange,
    endingWindowBlocks: config.endingWindowBlocks,
    startBlock: config.startBlock,
    uiUrl: config.uiUrl,
    webhookTimeoutMs: config.webhookTimeoutMs,
    retry: config.retry,
    webhooks,
    email,
    logLevel: config.logLevel,
  };
}

function invalid(problems: string[]) {
  return new WorkerError(
    "CONFIG_INVALID",
    problems.length === 1
      ? `Invalid notifier configuration: ${problems[0]}`
      : `Invalid notifier configuration: ${problems.length} problems.`,
    { hints: [...problems, "See pipeline-worker/README.md, section Alerts, for every setting."], extra: { problems } },
  );
}
