// `npm start`: the whole system on one machine. Starts a local chain (Anvil), deploys everything on
// a new chain (the guardian Safe, EAS, the token, Governor, timelock, registry, rewards), verifies
// the deployment, seeds a first policy through governance, starts the pipeline worker, trains a
// first model from attested demo contributions (a run approved by vote, committed on chain) for
// the worker to serve, and prints what is where. All state lives in one data directory (.data/ by default): a restart picks up
// where the last run stopped. Ctrl-C stops every process it started.
//
//   npm start [-- --data-dir DIR --host 127.0.0.1 --chain-port 8545 --worker-port 8787]
import { createServer } from "node:net";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createReporter } from "./lib/cli/createReporter.ts";
import { createSupervisor, tail, type RunningService } from "./lib/stack/createSupervisor.ts";
import { ensureCompiled } from "./lib/deploy/ensureCompiled.ts";
import { ensureUiBuilt } from "./lib/stack/ensureUiBuilt.ts";
import { deployLocalStack, findLocalDeployment, HOLDER_ALLOCATIONS } from "./lib/deploy/deployLocalStack.ts";
import type { SafeDeployment } from "./lib/deploy/deploySafe.ts";
import type { Deployment } from "./lib/deploy/deploySystem.ts";
import { DEV_MNEMONIC, DEV_ROLE_DESCRIPTIONS, DEV_ROLES, devAddress, devPrivateKey } from "./lib/stack/devAccounts.ts";
import { ensureKeyholderKeys } from "./lib/stack/ensureKeyholderKeys.ts";
import { keepChainTimeMonotonic, localChainClients } from "./lib/stack/localChain.ts";
import { seedFirstModel } from "./lib/actors/seedFirstModel.ts";
import { seedSystem } from "./lib/actors/seedSystem.ts";
import {
  DEFAULT_DATA_DIR,
  readJson,
  readRunningStack,
  stackPaths,
  writeJson,
  type KeyholderInfo,
  type ModelRecord,
  type StackInfo,
} from "./lib/stack/stackFiles.ts";
import { createControlServer } from "./lib/stack/stackControl.ts";
import { DEFAULT_PORTS, notifierConfigFile, stackServices, type StackPorts } from "./lib/stack/stackServices.ts";
import { assertVerified, verifyDeployment } from "./lib/deploy/verifyDeployment.ts";

/** The consumer's queries per epoch in the first policy. */
const SEED_QUOTA = 5n;

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    host: { type: "string", default: "127.0.0.1" },
    "chain-port": { type: "string", default: String(DEFAULT_PORTS.chain) },
    "worker-port": { type: "string", default: String(DEFAULT_PORTS.worker) },
    "keyholder-ports": { type: "string", default: DEFAULT_PORTS.keyholders.join(",") },
    "ui-port": { type: "string", default: String(DEFAULT_PORTS.ui) },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`npm start [-- options]

Runs the whole system on this machine: a local chain, the contracts, the guardian Safe, the
pipeline worker. State lives in the data directory; a restart picks up where the last run stopped.

  --data-dir DIR      where everything is kept (default .data)
  --host HOST         the address services listen on (default 127.0.0.1)
  --chain-port PORT   the local chain's JSON-RPC port (default ${DEFAULT_PORTS.chain})
  --worker-port PORT  the worker API's port (default ${DEFAULT_PORTS.worker})
  --keyholder-ports P1,P2,P3
                      the three keyholders' ports (default ${DEFAULT_PORTS.keyholders.join(",")})
  --ui-port PORT      the governance UI's port (default ${DEFAULT_PORTS.ui})`);
  process.exit(0);
}

const report = createReporter();
const { style } = report;
const paths = stackPaths(values["data-dir"]!);
const host = values.host!;
const ports = parsePorts();
const rpcUrl = `http://${host}:${ports.chain}`;
const shown = (path: string) => relative(process.cwd(), path) || ".";

let shuttingDown = false;
const supervisor = createSupervisor({
  logsDir: paths.logs,
  onUnexpectedExit: (service: RunningService, code, signal) => {
    if (shuttingDown) return;
    report.line();
    report.line(style.red(`${service.spec.description} stopped unexpectedly (${signal ?? `exit code ${code}`}).`));
    report.line(`Its log (${shown(service.logFile)}) ends with:\n${tail(service.logFile)}`);
    void shutdown(1);
  },
});
// Whatever happens to this process, no child outlives it.
process.on("exit", () => supervisor.killAllNow());
process.on("SIGINT", () => void onSignal());
process.on("SIGTERM", () => void onSignal());

async function onSignal() {
  if (shuttingDown) {
    report.line(style.yellow("Stopping at once."));
    supervisor.killAllNow();
    process.exit(130);
  }
  await shutdown(0);
}

async function shutdown(code: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  report.line();
  report.line("Stopping (Ctrl-C again to stop at once)…");
  await supervisor.stopAll((service) => report.line(style.dim(`    stopping ${service.spec.description}`)));
  markStopped();
  rmSync(paths.control, { force: true });
  report.line(
    code === 0
      ? "Stopped. Everything is kept in " + shown(paths.root) + "; `npm start` continues from it."
      : "Stopped.",
  );
  process.exit(code);
}

let stackInfo: StackInfo | undefined;
let serviceOrder: string[] = [];
function markStopped() {
  if (stackInfo) writeJson(paths.stack, { ...stackInfo, status: "stopped" });
}

/** The ports from the command line; a mistake ends the command with one line saying which. */
function parsePorts(): StackPorts {
  try {
    const parsed: StackPorts = {
      chain: port("chain-port", values["chain-port"]!),
      worker: port("worker-port", values["worker-port"]!),
      keyholders: values["keyholder-ports"]!.split(",").map((p) => port("keyholder-ports", p.trim())),
      ui: port("ui-port", values["ui-port"]!),
    };
    if (parsed.keyholders.length !== DEV_ROLES.keyholders.length) {
      throw new BaseError(`--keyholder-ports takes ${DEV_ROLES.keyholders.length} ports, one per keyholder.`, {
        hints: [`For example --keyholder-ports ${DEFAULT_PORTS.keyholders.join(",")}.`],
      });
    }
    const all = [parsed.chain, parsed.worker, ...parsed.keyholders, parsed.ui];
    if (new Set(all).size !== all.length) throw new BaseError("Each service needs its own port.");
    return parsed;
  } catch (error) {
    report.failure(error);
    process.exit(1);
  }
}

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new BaseError(`--${flag} must be a port number from 1 to 65535; got ${value}.`);
  }
  return n;
}

async function assertPortFree(portNumber: number, flag: string) {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new BaseError(`Port ${portNumber} on ${host} is already in use.`, {
          hints: [
            `Stop what is using it, or pass another port: npm start -- --${flag} ${portNumber + 1}.`,
            `Is another stack running? It says so in its terminal; a stack from another data directory needs other ports.`,
          ],
          cause: error,
        }),
      ),
    );
    server.listen(portNumber, host, () => server.close(() => resolve()));
  });
}

async function main() {
  report.line(style.bold("DAO-governed private AI: starting the whole system"));
  report.line(style.dim(`data directory ${shown(paths.root)}`));
  report.line();

  const running = readRunningStack(paths.root);
  if (running) {
    throw new BaseError(`A stack is already running from ${shown(paths.root)} (process ${running.pid}).`, {
      hints: [
        `Stop it with Ctrl-C in its terminal (or kill -INT ${running.pid}), or use another --data-dir and other ports.`,
      ],
    });
  }
  mkdirSync(paths.root, { recursive: true });
  writeJson(paths.stack, { status: "starting", pid: process.pid });
  await report.step("Checking the contracts are compiled", (detail) =>
    ensureCompiled({ logFile: join(paths.logs, "build.log"), onProgress: detail }),
  );
  // Built while the chain starts and the contracts deploy; awaited before the UI starts.
  const uiBuild = ensureUiBuilt({ outDir: paths.ui, logFile: join(paths.logs, "ui-build.log") });
  uiBuild.catch(() => {});

  // The committee's keys exist before anything else: the seed puts their public halves on chain,
  // and each keyholder service reads its private half.
  const keyholders: KeyholderInfo[] = ensureKeyholderKeys(
    paths.keyholders,
    DEV_ROLES.keyholders.map((accountIndex) => ({ member: devAddress(accountIndex), accountIndex })),
  );
  // Built again where a service restarts, so that it starts with what changed meanwhile (a model).
  const table = () =>
    stackServices({
      paths,
      host,
      ports,
      workerPrivateKey: devPrivateKey(DEV_ROLES.worker),
      keyholderKeyFiles: keyholders.map((k) => k.keyFile),
    });
  const services = table();
  const [chainService, ...otherServices] = services;
  serviceOrder = services.map((s) => s.name);
  const clients = localChainClients(rpcUrl);
  const chainExisted = existsSync(paths.chainState);

  await report.step("Checking the ports are free", async (detail) => {
    await assertPortFree(ports.chain, "chain-port");
    await assertPortFree(ports.worker, "worker-port");
    for (const p of ports.keyholders) await assertPortFree(p, "keyholder-ports");
    await assertPortFree(ports.ui, "ui-port");
    detail(`${host}: ${[ports.chain, ports.worker, ...ports.keyholders, ports.ui].join(", ")}`);
  });
  await report.step(`Starting ${chainService!.description}`, async (detail) => {
    mkdirSync(join(paths.chainState, ".."), { recursive: true });
    detail(chainExisted ? `loading its state from ${shown(paths.chainState)}` : "a new chain");
    await supervisor.start(chainService!);
    await keepChainTimeMonotonic(clients);
    detail(`block ${await clients.publicClient.getBlockNumber()} at ${rpcUrl}`);
  });

  let deployment: Deployment;
  let safe: SafeDeployment;
  const found = await findLocalDeployment(paths, clients);
  if (found.status === "found") {
    ({ deployment, safe } = found);
    report.line(`${style.green("✓")} Picking up the deployment in ${shown(paths.manifest(deployment.chainId))}`);
  } else {
    if (found.status === "reset") {
      report.line();
      report.line(style.yellow(`The chain was reset: ${found.reason}.`));
      const aside = `${paths.root}/previous-chain-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      mkdirSync(aside, { recursive: true });
      for (const dir of [paths.worker, paths.guardian, paths.training, join(paths.model, "..")]) {
        if (existsSync(dir)) renameSync(dir, join(aside, relative(paths.root, dir)));
      }
      report.line(
        style.yellow(
          `Everything is deployed again on the new chain. The worker's state from the old chain was moved to ${shown(aside)}.`,
        ),
      );
      report.line();
    }
    ({ deployment, safe } = await report.step("Deploying the guardian Safe and the contracts", (detail) =>
      deployLocalStack(paths, clients, rpcUrl, detail),
    ));
  }

  await report.step("Verifying the deployment", async (detail) => {
    const checks = await verifyDeployment(clients.publicClient, deployment);
    for (const check of checks.filter((c) => !c.ok)) detail(`FAIL ${check.name}: ${check.detail}`);
    assertVerified(checks);
    detail(`${checks.length} checks passed: only proposals change policy, the deployer kept no power`);
  });

  await report.step("Seeding a first policy through governance", async (detail) => {
    const { proposed } = await seedSystem({
      publicClient: clients.publicClient,
      testClient: clients.testClient,
      deployment,
      holders: DEV_ROLES.holders.map((i) => clients.wallet(i)),
      deployer: clients.wallet(DEV_ROLES.deployer),
      contributor: devAddress(DEV_ROLES.contributor),
      attester: devAddress(DEV_ROLES.attester),
      consumer: devAddress(DEV_ROLES.consumer),
      worker: devAddress(DEV_ROLES.worker),
      committee: {
        members: keyholders.map((k) => k.member),
        publicKeys: keyholders.map((k) => k.publicKey),
        threshold: 2,
      },
      quota: SEED_QUOTA,
      onProgress: detail,
    });
    detail(proposed ? "the first policy passed" : "already seeded");
  });

  await report.step("Building the governance UI", async (detail) => {
    detail((await uiBuild) === "current" ? "the build is current" : `built into ${shown(paths.ui)}`);
  });

  // They need only the chain and the deployment, not each other: started together.
  await report.step(`Starting the services: ${otherServices.map((s) => s.name).join(", ")}`, (detail) =>
    Promise.all(
      otherServices.map(async (service) => {
        const s = await supervisor.start(service);
        detail(`${service.description} at ${service.url} (log: ${shown(s.logFile)})`);
      }),
    ),
  );

  const worker = otherServices.find((s) => s.name === "worker")!;
  const hadModel = existsSync(paths.model);
  await report.step(
    hadModel ? "Picking up the trained model" : "Training a first model: attested demo data, a run approved by vote",
    async (detail) => {
      let model;
      try {
        model = await seedFirstModel({
          paths,
          publicClient: clients.publicClient,
          testClient: clients.testClient,
          deployment,
          workerUrl: worker.url,
          keyholderUrls: otherServices.filter((s) => s.name.startsWith("keyholder-")).map((s) => s.url),
          workerEnv: worker.env!,
          operator: devAddress(DEV_ROLES.worker),
          holders: DEV_ROLES.holders.map((i) => clients.wallet(i)),
          executor: clients.wallet(DEV_ROLES.deployer),
          attester: clients.wallet(DEV_ROLES.attester),
          contributor: clients.wallet(DEV_ROLES.contributor),
          pauseWorker: () => supervisor.stop(worker.name),
          resumeWorker: async () => {
            // Built again, so that the worker starts with the model just written.
            await supervisor.start(table().find((s) => s.name === worker.name)!);
          },
          onProgress: detail,
        });
      } catch (error) {
        // A stack without a model still serves everything else (the UI, to lift a kill switch by
        // a vote, say): say why there is none, and let the next start try again.
        if (!supervisor.running.some((s) => s.spec.name === worker.name)) throw error;
        detail(
          style.yellow(`no model was trained: ${error instanceof BaseError ? error.shortMessage : String(error)}`),
        );
        detail(style.yellow("queries are refused (MODEL_UNAVAILABLE) until one is; `npm start` again tries again"));
        return;
      }
      const accuracy = `held-out accuracy ${(model.heldOutAccuracy * 100).toFixed(1)}% on ${model.heldOutSize} messages it never saw`;
      detail(
        model.reused
          ? `the worker serves training run ${model.runId} (${model.examples} messages), trained before: nothing retrained; ${accuracy}`
          : `trained model run ${model.runId} on ${model.examples} messages of attested contributions, ${accuracy}; the worker serves it`,
      );
    },
  );

  await createControlServer({
    socketPath: paths.control,
    handle: async ({ command, service }) => {
      const spec = table().find((s) => s.name === service && s.name !== chainService!.name);
      if (!spec) throw new BaseError(`There is no service ${service} to ${command}.`);
      if (command === "pause") {
        report.line(style.dim(`Pausing ${spec.description} (asked through ${shown(paths.control)})`));
        await supervisor.stop(service);
      } else {
        report.line(style.dim(`Resuming ${spec.description}`));
        await supervisor.start(spec);
      }
      writeJson(paths.stack, { ...stackInfo, services: runningServices() });
    },
  });
  stackInfo = {
    status: "running",
    pid: process.pid,
    host,
    ports,
    rpcUrl,
    chainId: deployment.chainId,
    manifest: paths.manifest(deployment.chainId),
    safe,
    keyholders,
    services: runningServices(),
    startedAt: new Date().toISOString(),
  };
  writeJson(paths.stack, stackInfo);
  printSummary(deployment, safe, keyholders);
}

/** The running services in the table's order. */
function runningServices() {
  return [...supervisor.running]
    .sort((a, b) => serviceOrder.indexOf(a.spec.name) - serviceOrder.indexOf(b.spec.name))
    .map((s) => ({ name: s.spec.name, url: s.spec.url, pid: s.pid }));
}

function printSummary(deployment: Deployment, safe: SafeDeployment, keyholders: KeyholderInfo[]) {
  const { line } = report;
  const pad = (s: string, n: number) => s.padEnd(n);
  line();
  line(style.bold(style.green("The system is running.")));
  line();
  line(style.bold("Services"));
  for (const name of serviceOrder) {
    const s = supervisor.running.find((r) => r.spec.name === name);
    if (!s) continue;
    line(`  ${pad(s.spec.name, 22)} ${s.spec.url}   ${style.dim(s.spec.description)}`);
    if (name === "worker") line(style.dim(`  ${pad("", 22)} try ${s.spec.url}/v1/policy and ${s.spec.url}/readyz`));
    if (name === "notifier") {
      line(
        style.dim(
          `  ${pad("", 22)} ${existsSync(notifierConfigFile(paths)) ? "subscriptions from" : "logs alerts only; add webhooks or email in"} ${shown(notifierConfigFile(paths))} (pipeline-worker/README.md, Alerts)`,
        ),
      );
    }
  }
  line();
  line(
    style.bold(`Contracts on chain ${deployment.chainId}`) +
      style.dim(`  (manifest: ${shown(paths.manifest(deployment.chainId))})`),
  );
  for (const [name, address] of Object.entries(deployment.contracts)) line(`  ${pad(name, 22)} ${address}`);
  line(
    `  ${pad("guardian Safe", 22)} ${safe.address}   ${style.dim(`${safe.threshold} of ${safe.owners.length} owners`)}`,
  );
  line();
  line(style.bold("Development accounts") + style.dim(`  (mnemonic "${DEV_MNEMONIC}": never for real funds)`));
  for (const { index, role } of DEV_ROLE_DESCRIPTIONS) {
    const holder = (DEV_ROLES.holders as readonly number[]).indexOf(index);
    const tokens = holder >= 0 ? style.dim(` ${HOLDER_ALLOCATIONS[holder]! / 10n ** 18n} votes`) : "";
    line(`  #${pad(String(index), 3)} ${devAddress(index)}  ${role}${tokens}`);
  }
  line(style.dim(`  keyholder share-unwrapping keys (private): ${keyholders.map((k) => shown(k.keyFile)).join(", ")}`));
  line(style.dim(`  private keys: the chain's log lists them (${shown(join(paths.logs, "chain.log"))})`));
  line();
  line(style.bold("Next"));
  const ui = supervisor.running.find((s) => s.spec.name === "ui");
  if (ui) line(`  open ${ui.spec.url.padEnd(43)}the governance UI: act as any development account`);
  const model = readJson<ModelRecord>(paths.model);
  if (model) {
    if (ui)
      line(
        `  open ${`${ui.spec.url}/consume`.padEnd(43)}ask the model, as the query consumer (#${DEV_ROLES.consumer})`,
      );
    line(style.dim(`  the worker serves the model of training run ${model.runId}`));
  } else {
    line("  (no model: queries are refused until a training run; `npm start` again or `npm run demo` trains one)");
  }
  line("  npm run demo                                   the whole story, narrated, against this stack");
  line('  npm run guardian -- propose --reason "..."     the guardian Safe engages the kill switch');
  line("  npm run guardian -- status                     the kill switch and pending guardian transactions");
  line();
  line(`Logs in ${shown(paths.logs)}. Press Ctrl-C to stop.`);
}

main().catch(async (error: unknown) => {
  if (shuttingDown) return;
  report.line();
  report.failure(error);
  await shutdown(1);
});
