import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWorkerError } from "../../src/internal/WorkerError.ts";
import { ALERT_KINDS } from "../../src/notifier/alertPayload.ts";
import { loadNotifierConfig } from "../../src/notifier/loadNotifierConfig.ts";

const secret = `whsec_${randomBytes(32).toString("base64")}`;
const oldSecret = `whsec_${randomBytes(24).toString("base64")}`;
const base = { NOTIFIER_RPC_URL: "http://127.0.0.1:8545", NOTIFIER_CHAIN_ID: "31337" };

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (isWorkerError(error, "CONFIG_INVALID")) return error.extra.problems as string[];
    throw error;
  }
  throw new Error("no error");
}

describe("loadNotifierConfig", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "notifier-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs on the chain alone, with no subscription, and safe defaults", () => {
    const config = loadNotifierConfig(base, "/srv");
    expect(config).toMatchObject({
      deploymentManifest: "/srv/deployments/31337.json",
      dataDir: "/srv/.data/notifier",
      http: { host: "127.0.0.1", port: 8790 },
      confirmations: 2,
      endingWindowBlocks: 300,
      webhooks: [],
      email: undefined,
      retry: { maxAttempts: 20, initialDelayMs: 1_000, maxDelayMs: 3_600_000 },
    });
  });

  it("takes subscriptions from the file and the environment, all kinds unless some are named, both secrets while rotating", async () => {
    const file = path.join(dir, "notifier.json");
    await writeFile(
      file,
      JSON.stringify({
        webhooks: [
          {
            name: "ops",
            url: "https://hooks.example/a",
            secret,
            previousSecret: oldSecret,
            kinds: ["kill_switch.engaged"],
          },
        ],
        email: {
          smtpUrl: "smtp://u:p@mail.example:587",
          from: "a@dao.example",
          subscriptions: [{ to: ["o@x.example"] }],
        },
      }),
      { mode: 0o600 },
    );
    const secretFile = path.join(dir, "hook.secret");
    await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
    const config = loadNotifierConfig(
      {
        ...base,
        NOTIFIER_CONFIG: file,
        NOTIFIER_WEBHOOK_URL: "https://hooks.example/b",
        NOTIFIER_WEBHOOK_SECRET_FILE: secretFile,
      },
      dir,
    );
    expect(config.webhooks).toEqual([
      {
        target: "webhook:ops",
        url: "https://hooks.example/a",
        secrets: [secret, oldSecret],
        kinds: ["kill_switch.engaged"],
      },
      { target: "webhook:env", url: "https://hooks.example/b", secrets: [secret], kinds: ALERT_KINDS },
    ]);
    expect(config.email?.subscriptions).toEqual([{ target: "email:email-1", to: ["o@x.example"], kinds: ALERT_KINDS }]);
  });

  it("refuses a file with secrets that others may read", async () => {
    const file = path.join(dir, "open.json");
    await writeFile(file, JSON.stringify({ webhooks: [{ url: "https://h.example", secret }] }), { mode: 0o644 });
    expect(problems(() => loadNotifierConfig({ ...base, NOTIFIER_CONFIG: file }, dir))).toEqual([
      `NOTIFIER_CONFIG (${file}) holds secrets but its permissions 0644 let others read it. Run: chmod 600 ${file}`,
    ]);
  });

  it("lists every mistake at once, naming the field and where it came from, never a secret's value", () => {
    const found = problems(() =>
      loadNotifierConfig({
        ...base,
        NOTIFIER_HTTP_PORT: "eighty",
        NOTIFIER_WEBHOOK_URL: "ftp://h.example",
        NOTIFIER_WEBHOOK_SECRET: "s3cret-value",
        NOTIFIER_WEBHOOK_KINDS: "kill_switch.engaged,proposal.voted",
        NOTIFIER_EMAIL_TO: "not-an-address",
      }),
    );
    expect(found).toEqual([
      "http.port (from NOTIFIER_HTTP_PORT): must be a port number from 0 to 65535.",
      "webhooks.0.url: must be an http(s) URL.",
      expect.stringMatching(/^webhooks\.0\.secret: must be whsec_ followed by the base64 of 24 to 64 random bytes/),
      `webhooks.0.kinds.1: must be one of ${ALERT_KINDS.join(", ")}.`,
      "email.smtpUrl: must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.org:587.",
      "email.from: must be a sender address.",
      "email.subscriptions.0.to.0: must be an email address.",
    ]);
    expect(found.join("\n")).not.toContain("s3cret-value");
  });

  it("refuses two subscriptions with one name, and a webhook without a secret", async () => {
    const file = path.join(dir, "twice.json");
    const hook = { name: "ops", url: "https://h.example", secret };
    await writeFile(file, JSON.stringify({ webhooks: [hook, hook] }), { mode: 0o600 });
    expect(problems(() => loadNotifierConfig({ ...base, NOTIFIER_CONFIG: file }, dir))).toEqual([
      "Two subscriptions are named webhook:ops; give each its own name.",
    ]);
    expect(problems(() => loadNotifierConfig({ ...base, NOTIFIER_WEBHOOK_URL: "https://h.example" }))).toEqual([
      "webhooks.0: needs exactly one of secret and secretFile: receivers verify every alert with it.",
    ]);
  });
});
