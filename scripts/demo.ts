// `npm run demo`: the story of the system, end to end, narrated, against the stack `npm start`
// runs (or one it starts for the occasion and stops afterwards). Every step checks that the
// system behaved as the story says; the first that does not stops the demo with a non-zero exit.
//
//   npm run demo [-- --data-dir DIR --chain-port 8545 --worker-port 8787 --keyholder-ports 8801,8802,8803]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  formatEther,
  isAddressEqual,
  keccak256,
  parseEther,
  parseEventLogs,
  sha256,
  toHex,
  type Address,
  type Hex,
  type LocalAccount,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  contributorRewardsAbi,
  modelCommitmentsAbi,
  policyRegistryAbi,
  runRewardsAbi,
  usageSettlementAbi,
} from "../deployments/abis.ts";
import { listCommittedModels, readContributionEarnings } from "@dao-ai/pipeline-worker/contributionEarnings";
import {
  BEARER_TOKEN_PATTERN,
  privateKeyOfBearerToken,
  type QueryResponse,
  type QuotaStatus,
} from "@dao-ai/pipeline-worker/consumer-api";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { formatTrainingRecords } from "@dao-ai/pipeline-worker/trainingRecords";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import { repoRoot } from "./lib/deploy/contractArtifacts.ts";
import {
  createGovernanceDriver,
  type Proposal,
  type ProposalAction,
  type Wallet,
} from "./lib/actors/createGovernanceDriver.ts";
import { createReporter } from "./lib/cli/createReporter.ts";
import { createWorkerClient, type WorkerClient, type WorkerResponse } from "./lib/actors/createWorkerClient.ts";
import type { Deployment } from "./lib/deploy/deploySystem.ts";
import { DEV_ROLES, devAddress, devPrivateKey } from "./lib/stack/devAccounts.ts";
import { ensureStack } from "./lib/stack/ensureStack.ts";
import { localChainClients, type LocalChainClients } from "./lib/stack/localChain.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { DEFAULT_DATA_DIR, stackPaths, writeJson, type ModelRecord, type StackInfo } from "./lib/stack/stackFiles.ts";
import { sendStackCommand } from "./lib/stack/stackControl.ts";
import { signQueryRequest } from "./lib/actors/signQueryRequest.ts";
import { stackServices } from "./lib/stack/stackServices.ts";
import {
  attestData,
  submitContribution,
  waitForRecorded,
  type SubmissionStatus,
} from "./lib/actors/submitContribution.ts";

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "chain-port": { type: "string" },
    "worker-port": { type: "string" },
    "keyholder-ports": { type: "string" },
    "ui-port": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`npm run demo [-- options]

Tells the story of the system end to end against the running stack (npm start), or starts one
for the occasion and stops it afterwards. Exits non-zero if any step does not behave as told.

  --data-dir DIR      the stack's data directory (default .data)
  --chain-port PORT   when it starts a stack: the chain's port
  --worker-port PORT  when it starts a stack: the worker's port
  --keyholder-ports P1,P2,P3
                      when it starts a stack: the keyholders' ports
  --ui-port PORT      when it starts a stack: the UI's port`);
  process.exit(0);
}

const report = createReporter();
const { line, style, expect } = report;

/** Everything the chapters share. */
type Demo = {
  info: StackInfo;
  deployment: Deployment;
  clients: LocalChainClients;
  worker: WorkerClient;
  governance: ReturnType<typeof createGovernanceDriver>;
  /** The epoch the story happens in (the chain's). */
  epoch: bigint;
  /** Tells this run's proposals and data apart from earlier runs'. */
  run: string;
  contributed: { dataHash: Hex; size: bigint; weight: bigint }[];
  submissionDomain: { name: string; version: string; chainId: number; verifyingContract: Address };
};

const roles = {
  holders: DEV_ROLES.holders.map((i) => ({ index: i, name: `Holder ${"ABC"[DEV_ROLES.holders.indexOf(i)]}` })),
  attester: DEV_ROLES.attester,
  contributor: DEV_ROLES.contributor,
  consumer: DEV_ROLES.consumer,
  worker: DEV_ROLES.worker,
  outsider: DEV_ROLES.outsider,
  untrustedAttester: DEV_ROLES.untrustedAttester,
};

let chapterNumber = 0;
function chapter(title: string, story: string) {
  line();
  line(style.bold(`${++chapterNumber}. ${title}`));
  line(`   ${story}`);
}

/** What a worker refusal looks like, in a line. */
function problem(response: WorkerResponse): string {
  return `${response.status} ${response.body.code ?? ""}: ${response.body.detail ?? ""}`.trim();
}

async function wait(clients: LocalChainClients, hash: Hex) {
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new BaseError(`Transaction ${hash} reverted.`);
  return receipt;
}

function registry(d: Demo, functionName: string, args: readonly unknown[], value?: bigint): ProposalAction {
  return { target: d.deployment.contracts.policyRegistry, abi: policyRegistryAbi, functionName, args, value };
}

async function readRegistry<T>(d: Demo, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return (await d.clients.publicClient.readContract({
    address: d.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName,
    args,
  } as never)) as T;
}

/** The name of the custom error a call reverts with, from `account`. */
async function revertOf(
  d: Demo,
  call: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  account: Address,
): Promise<string | undefined> {
  try {
    await d.clients.publicClient.simulateContract({ ...call, account } as never);
    return undefined;
  } catch (error) {
    const reverted =
      error instanceof ViemError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
    return (reverted as ContractFunctionRevertedError | undefined)?.data?.errorName ?? "an unknown error";
  }
}

/** Waits until the worker holds (at least) the chain's current policy version and is ready to serve. */
async function waitForWorkerPolicy(d: Demo) {
  const version = await readRegistry<bigint>(d, "policyVersion");
  const deadline = Date.now() + 30_000;
  for (;;) {
    const policy = await d.worker.get<{ policyVersion?: string }>("/v1/policy");
    if (policy.status === 200 && BigInt(policy.body.policyVersion ?? "0") >= version) return version;
    if (Date.now() > deadline) {
      throw new BaseError(`The worker did not reach policy version ${version} within 30 s (${problem(policy)}).`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Takes a proposal through every stage, saying what happens and checking the Governor's state at each. */
async function vote(
  d: Demo,
  actions: ProposalAction[],
  title: string,
  ballots: { holder: number; support: 0 | 1 | 2; reason: string }[],
) {
  const g = d.governance;
  const description = `# ${title}\n\nDemo run ${d.run}.`;
  const proposal: Proposal = await g.propose(actions, description);
  expect((await g.state(proposal)) === "Pending", `Holder A proposes "${title}"; the proposal is pending`);
  await g.openVoting(proposal);
  expect((await g.state(proposal)) === "Active", "the voting delay passes; the vote is open");
  for (const b of ballots) {
    const holder = roles.holders[b.holder]!;
    await g.vote(proposal, { voter: d.clients.wallet(holder.index), support: b.support, reason: b.reason });
    line(style.dim(`    ${holder.name} votes ${["against", "for", "abstain"][b.support]}: "${b.reason}"`));
  }
  await g.closeVoting(proposal);
  expect(
    (await g.state(proposal)) === "Succeeded",
    "the vote closes; the proposal passed (quorum, more for than against)",
  );
  await g.queue(proposal);
  expect((await g.state(proposal)) === "Queued", "it is queued in the timelock, where anyone can see it coming");
  await g.waitForTimelock(proposal);
  const receipt = await g.execute(proposal);
  expect((await g.state(proposal)) === "Executed", "the timelock delay passes; anyone executes it");
  return receipt;
}

// -------------------------------------------------------------------------------------------------
// The story
// -------------------------------------------------------------------------------------------------

/** The story's votes move the chain's clock by a few minutes; an epoch with less left than this is skipped. */
const STORY_SECONDS = 15n * 60n;

async function oneEpoch(d: Demo) {
  chapter(
    "An epoch to tell the story in",
    "Quotas and rewards count per epoch (an hour on this stack). The story takes place within one, so that its rewards are its own to check.",
  );
  const current = await readRegistry<bigint>(d, "currentEpoch");
  const end = await readRegistry<bigint>(d, "epochEnd", [current]);
  const { timestamp } = await d.clients.publicClient.getBlock();
  if (end - timestamp < STORY_SECONDS) {
    // Too little of this epoch is left for the story's votes and timelocks: the chain's clock moves
    // to the next one.
    await d.clients.testClient.increaseTime({ seconds: Number(end - timestamp) });
    await d.clients.testClient.mine({ blocks: 1 });
    d.epoch = await readRegistry<bigint>(d, "currentEpoch");
    expect(d.epoch === current + 1n, `epoch ${current} was nearly over: the chain's clock moves to epoch ${d.epoch}`);
  } else {
    d.epoch = current;
    expect(true, `the chain is in epoch ${d.epoch}, with ${(end - timestamp) / 60n} minutes left`);
  }
  await waitForWorkerPolicy(d);
}

async function holdersVoteAPolicy(d: Demo): Promise<{ lab: Hex }> {
  chapter(
    "Token holders vote a policy in",
    "Holder A proposes to give a research lab 3 queries per epoch, to charge 0.001 ETH a query, and to grant 1 ETH from the treasury to this epoch's contributors. The holders vote with reasons; the timelock executes.",
  );
  const lab = generatePrivateKey();
  const labAddress = privateKeyToAccount(lab).address;
  const grant = parseEther("1");
  const fee = parseEther("0.001");
  const [poolBefore] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "epochTotals",
    args: [d.epoch],
  });
  const receipt = await vote(
    d,
    [
      registry(d, "setQuota", [labAddress, 3n]),
      registry(d, "setQueryFee", [fee]),
      {
        target: d.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "fund",
        args: [d.epoch],
        value: grant,
      },
    ],
    "Research lab access, a query fee, and a grant to contributors",
    [
      { holder: 0, support: 1, reason: "The lab's use is worth paying contributors for." },
      { holder: 1, support: 1, reason: "A fee keeps queries few, as they should be." },
      { holder: 2, support: 0, reason: "The grant is too generous this early." },
    ],
  );
  const events = parseEventLogs({ abi: policyRegistryAbi, logs: receipt.logs }).map((e) => e.eventName);
  expect(
    events.includes("QuotaSet") && events.includes("QueryFeeSet"),
    `the registry emitted ${events.join(", ")} (each bumps the policy version)`,
  );
  expect(
    (await readRegistry<bigint>(d, "quotaOf", [labAddress])) === 3n,
    `the lab ${labAddress} may make 3 queries per epoch`,
  );
  const [poolAfter] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "epochTotals",
    args: [d.epoch],
  });
  expect(poolAfter - poolBefore === grant, `epoch ${d.epoch}'s reward pool received 1 ETH from the treasury`);
  const version = await waitForWorkerPolicy(d);
  line(style.dim(`    the worker follows the chain: it enforces policy version ${version}`));
  return { lab };
}

/** Labelled messages, the kind of data this AI learns from, as JSON Lines. */
function trainingData(seed: number, count: number): Uint8Array {
  return new TextEncoder().encode(formatTrainingRecords(generateScamMessages({ seed, count })));
}

async function contribute(d: Demo, seed: number, story: string): Promise<SubmissionStatus> {
  const contributor = d.clients.wallet(roles.contributor);
  const data = trainingData(seed, 200);
  const dataHash = sha256(data);
  const uid = await attestData({
    publicClient: d.clients.publicClient,
    attester: d.clients.wallet(roles.attester),
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: contributor.account.address,
    dataHash,
    size: BigInt(data.byteLength),
    provenance: story,
  });
  expect(
    true,
    `the attester attests on EAS that ${data.byteLength} bytes with SHA-256 ${dataHash.slice(0, 18)}… are the contributor's, licensed CC-BY-4.0 (attestation ${uid.slice(0, 18)}…)`,
  );
  const { begin, upload } = await submitContribution({
    worker: d.worker,
    contributor,
    domain: d.submissionDomain,
    data,
    attestations: { onchain: [uid] },
  });
  expect(
    begin.status === 201,
    `the contributor signs the submission (EIP-712) and sends it: the worker checks the allowlist, signature and attestation and says ${begin.status}`,
    problem(begin),
  );
  expect(
    upload?.status === 202,
    `the contributor uploads the data with the upload token the worker answered with (no one else can); the worker hashes, encrypts and stores it (${upload?.status})`,
    upload && problem(upload),
  );
  const status = await waitForRecorded(d.worker, begin.body.id);
  expect(
    status.state === "recorded",
    `the worker records the contribution on chain (transaction ${status.transactionHash?.slice(0, 18)}…)`,
  );
  const recorded = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash],
  });
  expect(
    isAddressEqual(recorded.contributor, contributor.account.address) && recorded.epoch === d.epoch,
    `ContributorRewards checked the attestation itself and credits the contributor in epoch ${recorded.epoch}`,
  );
  line(
    style.dim(
      `    encrypted with a fresh AES-256-GCM key split 2-of-3 among the keyholders; manifest on IPFS: ${status.manifestCid}`,
    ),
  );
  d.contributed.push({ dataHash, size: BigInt(data.byteLength), weight: BigInt(recorded.weight) });
  return status;
}

async function attestAndSubmit(d: Demo) {
  chapter(
    "An attester vouches for data and a contributor submits it",
    "The contributor has 200 labelled messages (scam or legit). A trusted attester attests their hash, size, licence and provenance on EAS; the contributor signs and submits them to the worker.",
  );
  await contribute(d, Number(BigInt(`0x${d.run}`) % 1_000_000n), "demo: first batch of labelled messages");
}

async function refusals(d: Demo) {
  chapter(
    "What the policy does not allow is refused",
    "Someone not on the allowlist tries to submit, and the contributor tries a forged attestation and one from an attester the policy does not trust. The worker refuses each before a byte of data is uploaded.",
  );
  const attester = d.clients.wallet(roles.attester);
  const outsider = d.clients.wallet(roles.outsider);
  const contributor = d.clients.wallet(roles.contributor);

  const outsiderData = trainingData(7, 10);
  const outsiderUid = await attestData({
    publicClient: d.clients.publicClient,
    attester,
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: outsider.account.address,
    dataHash: sha256(outsiderData),
    size: BigInt(outsiderData.byteLength),
  });
  const notAllowed = await submitContribution({
    worker: d.worker,
    contributor: outsider,
    domain: d.submissionDomain,
    data: outsiderData,
    attestations: { onchain: [outsiderUid] },
  });
  expect(
    notAllowed.begin.status === 403 && notAllowed.begin.body.code === "SUBMITTER_NOT_ALLOWED",
    `an outsider with a genuine attestation: ${problem(notAllowed.begin)}`,
  );

  const forgedData = trainingData(8, 10);
  const forgedUid = keccak256(toHex(`an attestation nobody made ${d.run}`));
  const forged = await submitContribution({
    worker: d.worker,
    contributor,
    domain: d.submissionDomain,
    data: forgedData,
    attestations: { onchain: [forgedUid] },
  });
  expect(
    forged.begin.status === 422 && forged.begin.body.code === "ATTESTATION_INVALID",
    `a forged attestation (a UID that is not on EAS): ${problem(forged.begin)}`,
  );

  const untrustedUid = await attestData({
    publicClient: d.clients.publicClient,
    attester: d.clients.wallet(roles.untrustedAttester),
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: contributor.account.address,
    dataHash: sha256(forgedData),
    size: BigInt(forgedData.byteLength),
  });
  const untrusted = await submitContribution({
    worker: d.worker,
    contributor,
    domain: d.submissionDomain,
    data: forgedData,
    attestations: { onchain: [untrustedUid] },
  });
  expect(
    untrusted.begin.status === 422 && untrusted.begin.body.code === "ATTESTATION_INVALID",
    `a real attestation from an attester the policy does not trust: ${problem(untrusted.begin)}`,
  );

  const listed = await d.worker.get<{ submissions: unknown[] }>(
    `/v1/submissions?contributor=${outsider.account.address}`,
  );
  expect(listed.status === 200 && listed.body.submissions.length === 0, "nothing of the outsider's was stored");
}

/**
 * Runs one of the project's commands as its user would, showing the command and its output.
 * `shown` is how the user types it; `script` and `args` what runs.
 */
async function command(shown: string, script: string, args: string[], env: Record<string, string> = {}) {
  const quoted = args.map((a) => (/^[\w./:,-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, "\\$1")}"`));
  line(style.dim(`    $ ${shown} ${quoted.join(" ")}`));
  const child = spawn(process.execPath, [join(repoRoot, script), ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (l) => {
      output.push(l);
      line(style.dim(`      ${logLine(l) ?? l}`));
    });
  }
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new BaseError(`\`${shown} ${args.join(" ")}\` failed (exit code ${code}).`);
  return output.join("\n");
}

/** A structured log record (pino's JSON) as one short line: its level, message and what it is about. */
function logLine(text: string): string | undefined {
  if (!text.startsWith('{"level"')) return undefined;
  try {
    const record = JSON.parse(text) as { level: string; msg: string; keyholder?: string };
    return `[${record.level}] ${record.msg}${record.keyholder ? ` (${record.keyholder})` : ""}`;
  } catch {
    return undefined;
  }
}

/** A guardian command, run as an owner would. */
function guardianCommand(args: string[]) {
  return command("npm run guardian --", "scripts/guardian.ts", [...args, "--data-dir", values["data-dir"]!]);
}

/**
 * A query signed by a consumer with its wallet, as the API takes it: a Usage voucher for the next
 * total of its lane at this worker (which `GET /v1/quota` names, with the epoch and the fee).
 */
async function signedQuery(d: Demo, consumer: Wallet, input: string) {
  const address = consumer.account.address;
  const quota = await d.worker.get<QuotaStatus>(`/v1/quota?consumer=${address}`);
  if (quota.status !== 200) throw new BaseError(`The worker did not give ${address}'s quota: ${problem(quota)}`);
  return signQueryRequest({
    account: consumer.account as LocalAccount,
    worker: quota.body.worker,
    chainId: d.deployment.chainId,
    usageSettlement: d.deployment.contracts.usageSettlement,
    input,
    epoch: BigInt(quota.body.epoch),
    total: BigInt(quota.body.nextTotal),
    maxFeePerQuery: BigInt(quota.body.feePerQuery),
    deadline: BigInt(Math.floor(Date.now() / 1000) + 600),
  });
}

/** A query with an API key, as `curl -H "Authorization: Bearer ..."` sends it: no signature, no wallet. */
function bearerQuery(d: Demo, token: string, input: string) {
  return d.worker.post<QueryResponse>("/v1/queries", { input }, { authorization: `Bearer ${token}` });
}

/** A consume command, run as the consumer would (its key in CONSUMER_PRIVATE_KEY). */
function consumeCommand(args: string[], consumerKey: Hex) {
  return command("npm run consume --", "scripts/consume.ts", [...args, "--data-dir", values["data-dir"]!], {
    CONSUMER_PRIVATE_KEY: consumerKey,
  });
}

/** The JSON a command printed last (the training command prints its report as JSON). */
function lastJson<T>(output: string): T {
  const start = output.lastIndexOf("\n{");
  return JSON.parse(output.slice(start < 0 ? output.indexOf("{") : start + 1)) as T;
}

async function train(d: Demo) {
  chapter(
    "A training run is approved, the keyholders release their shares, and the model is trained",
    "The operator lists the recorded submissions in a run spec; the holders approve a run of exactly that spec. The keyholders check the approval on chain and each releases its share of every data key; two of three suffice. The worker decrypts, checks every plaintext against its attested hash, trains, and commits the weights' hash on chain.",
  );
  const paths = stackPaths(values["data-dir"]!);
  const training = join(paths.root, "training");
  mkdirSync(training, { recursive: true });
  const env = stackServices({
    paths,
    host: d.info.host,
    ports: d.info.ports,
    workerPrivateKey: devPrivateKey(roles.worker),
    keyholderKeyFiles: d.info.keyholders.map((k) => k.keyFile),
  }).find((s) => s.name === "worker")!.env!;
  const runId = keccak256(toHex(`demo training run ${d.run}`));
  const specFile = join(training, `spec-${d.run}.json`);
  const weightsFile = join(training, `weights-${d.run}.json`);
  const trainingCommand = "node pipeline-worker/src/training/main.ts";
  const script = "pipeline-worker/src/training/main.ts";

  // The embedded IPFS repository is the worker's and one process opens it at a time: the
  // operator pauses the worker while training, as the training command asks.
  await sendStackCommand(paths.control, { command: "pause", service: "worker" });
  line(style.dim("    the operator pauses the worker: the training command opens its IPFS repository"));
  try {
    const built = lastJson<{ specHash: Hex; submissions: number }>(
      await command(trainingCommand, script, ["spec", "--out", specFile], env),
    );
    expect(
      built.submissions >= d.contributed.length,
      `the spec lists the ${built.submissions} submission${built.submissions === 1 ? "" : "s"} recorded on chain so far`,
    );

    const { timestamp } = await d.clients.publicClient.getBlock();
    await vote(
      d,
      [registry(d, "approveTrainingRun", [runId, built.specHash, devAddress(roles.worker), timestamp + 7n * 86_400n])],
      "Approve a training run of the scam classifier on the recorded data",
      [
        { holder: 0, support: 1, reason: "The data is attested and the spec is public." },
        { holder: 1, support: 1, reason: "Train it." },
        { holder: 2, support: 1, reason: "Agreed." },
      ],
    );
    expect(await readRegistry<boolean>(d, "isTrainingRunApproved", [runId]), `run ${runId.slice(0, 18)}… is approved`);

    await sendStackCommand(paths.control, { command: "pause", service: "keyholder-3" });
    line(style.dim("    keyholder 3 goes offline: two of the three shares are enough"));
    const keyholderUrls = d.info.services.filter((s) => s.name.startsWith("keyholder-")).map((s) => s.url);
    const report = lastJson<{
      included: unknown[];
      excluded: unknown[];
      examples: number;
      labels: string[];
      weightsHash: Hex;
      trainingSetHash: Hex;
      transactionHash: Hex;
    }>(
      await command(
        trainingCommand,
        script,
        [
          "run",
          "--run-id",
          runId,
          "--spec",
          specFile,
          "--keyholders",
          keyholderUrls.join(","),
          "--weights-out",
          weightsFile,
        ],
        env,
      ),
    );
    expect(
      report.included.length === built.submissions && report.excluded.length === 0,
      `every submission decrypted and matched its attested hash (${report.examples} examples, labels ${report.labels.join(", ")})`,
    );
    const commitment = await d.clients.publicClient.readContract({
      address: d.deployment.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitmentOf",
      args: [runId],
    });
    expect(
      commitment.weightsHash === report.weightsHash,
      `ModelCommitments holds the weights' hash ${report.weightsHash.slice(0, 18)}… (revealed after the delay)`,
    );
    const weights = new Uint8Array(readFileSync(weightsFile));
    expect(
      await d.clients.publicClient.readContract({
        address: d.deployment.contracts.modelCommitments,
        abi: modelCommitmentsAbi,
        functionName: "verifyWeightsHash",
        args: [runId, sha256(weights)],
      }),
      "the operator's weights file matches the commitment; it stays private until the reveal",
    );
    // The operator serves the new model: the worker checks the weights against the commitment as it starts.
    writeJson(paths.model, { runId, weights: weightsFile } satisfies ModelRecord);
  } finally {
    await sendStackCommand(paths.control, { command: "resume", service: "keyholder-3" }).catch(() => {});
    await sendStackCommand(paths.control, { command: "resume", service: "worker" });
    line(style.dim("    the worker and keyholder 3 are back; the worker serves the new model"));
  }
  await waitForWorkerPolicy(d);
}

async function queries(d: Demo, lab: Hex) {
  chapter(
    "A consumer queries the model, with its wallet and then with an API key, until its quota is spent",
    "The research lab deposits 0.01 ETH for its fees and asks whether messages are scams. Its first question is signed with its wallet: a Usage voucher letting this worker charge it for up to 1 query of the epoch, at most 0.001 ETH each. Then, with one more signature, it makes an API key capped at 10 queries and asks with `Authorization: Bearer`, no wallet involved. The worker answers each with a label and a coarse score, counts it against the lab's 3 queries per epoch, and refuses the fourth. The lab then revokes the key. The worker settles one entry per lane (the wallet's, the key's), whatever the number of queries, and the fees accrue to the contributions the model was trained on.",
  );
  const consumer = d.clients.walletOf(privateKeyToAccount(lab));
  const address = consumer.account.address;
  await wait(
    d.clients,
    await d.clients.wallet(DEV_ROLES.deployer).sendTransaction({ to: address, value: parseEther("0.1") }),
  );
  await consumeCommand(["deposit", "0.01"], lab);
  const [balance] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName: "accountOf",
    args: [address],
  });
  expect(balance === parseEther("0.01"), `the lab ${address} deposited 0.01 ETH in UsageSettlement`);
  const quota = await d.worker.get<QuotaStatus>(`/v1/quota?consumer=${address}`);
  expect(
    quota.status === 200 && quota.body.remaining === "3" && quota.body.nextTotal === "1",
    `the worker will serve it 3 queries in epoch ${quota.body.epoch}; its wallet signs total 1 first`,
    problem(quota),
  );
  const epoch = BigInt(quota.body.epoch);

  const [first, second, third] = generateScamMessages({ seed: 99, count: 3 }).map((r) => r.text);
  const said = (text: string) => `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
  const signed = await signedQuery(d, consumer, first!);
  const answer = await d.worker.post<QueryResponse>("/v1/queries", signed);
  expect(
    answer.status === 200 && answer.body.usage.remaining === "2",
    `signed with its wallet: ${said(first!)} is ${answer.body.answer?.label} (${answer.body.answer?.score}); ${answer.body.usage?.remaining} left`,
    problem(answer),
  );
  const replay = await d.worker.post("/v1/queries", signed);
  expect(
    replay.status === 409 && replay.body.code === "TOTAL_REPLAYED",
    `the same signed query again: ${problem(replay)}`,
  );

  const created = await consumeCommand(["keys", "create", "--max-queries", "10"], lab);
  const token = created
    .split("\n")
    .find((l) => BEARER_TOKEN_PATTERN.test(l.trim()))
    ?.trim();
  if (!token) throw new BaseError("`npm run consume -- keys create` printed no token.");
  const key = privateKeyToAccount(privateKeyOfBearerToken(token)).address;
  expect(true, `the lab signed one grant for key ${key}: 10 queries at most, 0.001 ETH each at most`);
  for (const [i, text] of [second!, third!].entries()) {
    const asked = await bearerQuery(d, token, text);
    expect(
      asked.status === 200 && asked.body.usage.remaining === String(1 - i),
      `with the key (Authorization: Bearer): ${said(text)} is ${asked.body.answer?.label} (${asked.body.answer?.score}); ${asked.body.usage?.remaining} left`,
      problem(asked),
    );
  }
  const fourth = await bearerQuery(d, token, "One more, please?");
  expect(fourth.status === 429 && fourth.body.code === "QUOTA_EXHAUSTED", `a fourth query: ${problem(fourth)}`);

  // Revoking the key stops it at once, and makes the worker settle the lab's lanes now rather than
  // when the epoch ends.
  await consumeCommand(["keys", "revoke", key], lab);
  const refusedDeadline = Date.now() + 30_000;
  let revoked = await bearerQuery(d, token, "Still there?");
  while (revoked.body.code !== "KEY_REVOKED" && Date.now() < refusedDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    revoked = await bearerQuery(d, token, "Still there?");
  }
  expect(
    revoked.status === 401 && revoked.body.code === "KEY_REVOKED",
    `the lab revokes the key on chain; the worker refuses it at once: ${problem(revoked)}`,
  );

  const deadline = Date.now() + 90_000;
  let settled = 0n;
  while (settled < 3n && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    settled = await d.clients.publicClient.readContract({
      address: d.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "usedInEpoch",
      args: [address, epoch],
    });
  }
  expect(
    settled === 3n,
    `the worker settled the 3 queries on chain in two entries (the wallet's lane up to 1, the key's up to 2): lanes settle once their epoch ends, or at once when their consumer revokes a key, cancels vouchers or asks to withdraw; the 0.003 ETH of fees accrue to epoch ${epoch}`,
  );
  const usage = await consumeCommand(["usage"], lab);
  expect(
    (usage.match(/ settled\s*$/gm) ?? []).length === 2,
    "the lab's usage history shows both lanes served, charged, settled and paid (also as CSV: usage --csv)",
  );
}

async function killSwitch(d: Demo) {
  chapter(
    "The guardian Safe pulls the kill switch, and everything stops",
    "Poisoned data is suspected. One owner of the guardian Safe (2 of 3) proposes engaging the kill switch, a second signs, and anyone executes. The worker stops at once; the chain refuses new contributions too.",
  );
  const reason = `Suspected poisoned data in demo run ${d.run}; stop until it is checked.`;
  const proposed = await guardianCommand(["propose", "--reason", reason, "--owner", "1"]);
  // The file the proposal was saved to, as the command says: named explicitly from here on, so
  // that a transaction left pending by an earlier, interrupted run is not picked up instead.
  const file = /Saved to (\S+)/.exec(proposed)?.[1];
  if (!file) throw new BaseError("The guardian's propose command did not say where it saved the transaction.");
  await guardianCommand(["sign", file, "--owner", "2"]);
  await guardianCommand(["execute", file]);
  const state = await readRegistry<{ engaged: boolean; engagedBy: Address; reason: string }>(d, "killSwitch");
  expect(
    state.engaged && isAddressEqual(state.engagedBy, d.info.safe.address),
    `the registry says the kill switch is engaged by the Safe ${d.info.safe.address}`,
  );

  // The worker acts on an engaged kill switch as soon as it sees it, without waiting for confirmations.
  const deadline = Date.now() + 30_000;
  let refused: Awaited<ReturnType<typeof submitContribution>>;
  for (;;) {
    refused = await submitContribution({
      worker: d.worker,
      contributor: d.clients.wallet(roles.contributor),
      domain: d.submissionDomain,
      data: trainingData(9, 10),
      attestations: { onchain: [keccak256(toHex("any"))] },
    });
    if (refused.begin.body.code === "KILL_SWITCH_ENGAGED" || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(
    refused.begin.status === 503 && refused.begin.body.code === "KILL_SWITCH_ENGAGED",
    `the worker refuses submissions: ${problem(refused.begin)}`,
  );
  const query = await d.worker.post(
    "/v1/queries",
    await signedQuery(d, d.clients.wallet(roles.consumer), "Is this a scam?"),
  );
  expect(
    query.status === 503 && query.body.code === "KILL_SWITCH_ENGAGED",
    `the worker refuses queries: ${problem(query)}`,
  );
  const onChain = await revertOf(
    d,
    {
      address: d.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "recordContribution",
      args: [devAddress(roles.contributor), keccak256(toHex(`late ${d.run}`)), 10n, 1n, []],
    },
    devAddress(roles.worker),
  );
  expect(onChain === "RewardsKillSwitchEngaged", `even the worker's account cannot record on chain: ${onChain}`);
  const lift = await revertOf(
    d,
    {
      address: d.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "liftKillSwitch",
      args: [(await readRegistry<{ engagementId: bigint }>(d, "killSwitch")).engagementId],
    },
    d.info.safe.address,
  );
  expect(lift === "PolicyUnauthorized", `the guardian cannot lift it (${lift}): only a vote can`);
}

async function liftKillSwitch(d: Demo) {
  chapter(
    "The DAO votes to lift the kill switch",
    "The data was checked and found clean. The holders vote to let the system run again; once the timelock executes, the worker takes data again.",
  );
  // The vote names the engagement it lifts, so it cannot lift a later one if it executes late.
  const { engagementId } = await readRegistry<{ engagementId: bigint }>(d, "killSwitch");
  await vote(d, [registry(d, "liftKillSwitch", [engagementId])], "Lift the kill switch: the suspected data was clean", [
    { holder: 0, support: 1, reason: "The audit found nothing wrong." },
    { holder: 1, support: 1, reason: "Agreed; the guardian did right to stop it." },
    { holder: 2, support: 2, reason: "I have not read the audit." },
  ]);
  expect(!(await readRegistry<boolean>(d, "killSwitchEngaged")), "the registry says the kill switch is off");
  await waitForWorkerPolicy(d);
  await contribute(d, Number(BigInt(`0x${d.run}`) % 1_000_000n) + 1, "demo: second batch, after the audit");
}

async function claimRewards(d: Demo) {
  chapter(
    "The epoch ends and the contributor claims its reward",
    "Each epoch's pool is shared among that epoch's contributors by their unique accepted records: the treasury's grant, and the epoch's query fees, which accrue in UsageSettlement until the epoch's settlement window (one epoch after it) has closed and anyone sweeps them to the pool. Then the contributor claims.",
  );
  const usage = { address: d.deployment.contracts.usageSettlement, abi: usageSettlementAbi } as const;
  const window = await d.clients.publicClient.readContract({ ...usage, functionName: "settlementWindow" });
  const closes = (await readRegistry<bigint>(d, "epochEnd", [d.epoch])) + window;
  const { timestamp } = await d.clients.publicClient.getBlock();
  if (timestamp < closes) await d.clients.testClient.increaseTime({ seconds: Number(closes - timestamp) });
  await d.clients.testClient.mine({ blocks: 1 });
  expect(
    (await readRegistry<bigint>(d, "currentEpoch")) > d.epoch + 1n,
    `epoch ${d.epoch} is over, and so is its settlement window (${window / 60n} minutes)`,
  );
  // The worker sweeps the epochs it settled in once their window closes; anyone may.
  const [accrued, swept] = await d.clients.publicClient.readContract({
    ...usage,
    functionName: "feesOf",
    args: [d.epoch],
  });
  if (!swept) {
    const why = await revertOf(d, { ...usage, functionName: "sweepFees", args: [d.epoch] }, devAddress(roles.outsider));
    if (why === undefined) {
      await wait(
        d.clients,
        await d.clients.wallet(roles.outsider).writeContract({ ...usage, functionName: "sweepFees", args: [d.epoch] }),
      );
    } else if (why !== "UsageFeesAlreadySwept") {
      throw new BaseError(`Sweeping epoch ${d.epoch}'s fees failed: ${why}.`);
    }
  }
  expect(
    (await d.clients.publicClient.readContract({ ...usage, functionName: "feesOf", args: [d.epoch] }))[1],
    `epoch ${d.epoch}'s ${formatEther(accrued)} ETH of query fees went to its reward pool (sweepFees)`,
  );

  const rewards = d.deployment.contracts.contributorRewards;
  const contributor = d.clients.wallet(roles.contributor);
  const address = contributor.account.address;
  const read = <T>(functionName: string, args: readonly unknown[]) =>
    d.clients.publicClient.readContract({
      address: rewards,
      abi: contributorRewardsAbi,
      functionName,
      args,
    } as never) as Promise<T>;
  const [pool, totalWeight] = await read<readonly [bigint, bigint, bigint]>("epochTotals", [d.epoch]);
  const [weight] = await read<readonly [bigint, bigint]>("shareOf", [d.epoch, address]);
  const mine = d.contributed.reduce((sum, c) => sum + c.weight, 0n);
  // At least this story's records: the contributor may also have contributed outside the story.
  expect(
    weight >= mine && mine > 0n,
    `the contributor's weight is the ${weight} unique accepted records it contributed, of ${totalWeight} in the epoch`,
  );
  const claimable = await read<bigint>("claimable", [d.epoch, address]);
  expect(
    claimable === (pool * weight) / totalWeight && claimable > 0n,
    `it may claim ${formatEther(claimable)} ETH of the ${formatEther(pool)} ETH pool, pro rata`,
  );
  const before = await d.clients.publicClient.getBalance({ address });
  const receipt = await wait(
    d.clients,
    await contributor.writeContract({
      address: rewards,
      abi: contributorRewardsAbi,
      functionName: "claim",
      args: [d.epoch],
    }),
  );
  const after = await d.clients.publicClient.getBalance({ address });
  const [claimed] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "RewardClaimed", logs: receipt.logs });
  expect(
    claimed?.args.amount === claimable && after - before + receipt.gasUsed * receipt.effectiveGasPrice === claimable,
    `the contributor claims and receives ${formatEther(claimable)} ETH`,
  );
  const again = await revertOf(
    d,
    { address: rewards, abi: contributorRewardsAbi, functionName: "claim", args: [d.epoch] },
    address,
  );
  expect(again === "RewardsNothingToClaim", `claiming twice is refused (${again})`);
  await claimModelFees(d);
}

/** The fees of the queries the served model answered go to the contributions it was trained on, and to no other. */
async function claimModelFees(d: Demo) {
  chapter(
    "The model's fees go to the contributions it was trained on",
    "The worker declared on chain that it serves the model of this story's run, so the fees of the queries it answered accrued to that run. Once the epoch's window closed they were swept to RunRewards, where the contributions in the model's tree share them by weight. The contributor sees what each contribution earned and claims with the proofs from the tree, with its CLI; a contribution outside the model gets nothing of them.",
  );
  const runId = keccak256(toHex(`demo training run ${d.run}`));
  const usage = { address: d.deployment.contracts.usageSettlement, abi: usageSettlementAbi } as const;
  expect(
    (await d.clients.publicClient.readContract({
      ...usage,
      functionName: "servedRun",
      args: [devAddress(roles.worker)],
    })) === runId,
    `the worker serves the model of run ${runId.slice(0, 18)}… (UsageSettlement.servedRun)`,
  );
  const [runFees, swept] = await d.clients.publicClient.readContract({
    ...usage,
    functionName: "runFeesOf",
    args: [d.epoch, runId],
  });
  if (!swept) {
    const why = await revertOf(
      d,
      { ...usage, functionName: "sweepRunFees", args: [d.epoch, runId] },
      devAddress(roles.outsider),
    );
    if (why === undefined) {
      await wait(
        d.clients,
        await d.clients
          .wallet(roles.outsider)
          .writeContract({ ...usage, functionName: "sweepRunFees", args: [d.epoch, runId] }),
      );
    } else if (why !== "UsageRunFeesAlreadySwept") {
      throw new BaseError(`Sweeping the run's fees of epoch ${d.epoch} failed: ${why}.`);
    }
  }
  const { contributorRewards, modelCommitments, runRewards } = d.deployment.contracts;
  const pool = await d.clients.publicClient.readContract({
    address: runRewards,
    abi: runRewardsAbi,
    functionName: "runPool",
    args: [runId],
  });
  expect(
    runFees > 0n && pool.received === runFees,
    `the ${formatEther(runFees)} ETH its queries paid went to the model's contributions (sweepRunFees ▶ RunRewards)`,
  );
  const model = (
    await listCommittedModels(d.clients.publicClient, modelCommitments, BigInt(d.deployment.deploymentBlock))
  ).find((m) => m.runId === runId)!;
  const recorded = await d.clients.publicClient.getContractEvents({
    address: contributorRewards,
    abi: contributorRewardsAbi,
    eventName: "ContributionRecorded",
    fromBlock: BigInt(d.deployment.deploymentBlock),
    strict: true,
  });
  const rows = await readContributionEarnings({
    publicClient: d.clients.publicClient,
    contracts: { contributorRewards, modelCommitments, runRewards },
    models: [model],
    dataHashes: recorded.map((r) => r.args.dataHash),
    readTree: async () => JSON.stringify((await d.worker.get(`/v1/runs/${runId}/contributions`)).body),
  });
  const inModel = new Set<string>(rows.map((r) => r.dataHash));
  const used = d.contributed.filter((c) => inModel.has(c.dataHash.toLowerCase()));
  const unused = d.contributed.filter((c) => !inModel.has(c.dataHash.toLowerCase()));
  expect(
    used.length > 0 && rows.every((r) => r.claimable > 0n),
    `${used.length} of the story's contributions are in the model's tree, and each contribution in it earned its share by weight`,
  );
  // The contribution submitted after the run was trained is in no model: none of these fees are its.
  for (const c of unused) {
    const claimable = await d.clients.publicClient.readContract({
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "claimable",
      args: [runId, c.dataHash, c.weight, rows[0]!.proof],
    });
    expect(
      claimable === 0n,
      `the contribution ${c.dataHash.slice(0, 18)}…, recorded after the model was trained, is not in it: it earns nothing from its queries`,
    );
  }
  const outside = recorded.filter((r) => !inModel.has(r.args.dataHash.toLowerCase())).length;
  line(style.dim(`    ${outside} of the ${recorded.length} contributions recorded so far are outside this model`));
  const contributorKey = devPrivateKey(roles.contributor);
  const contribute = (args: string[]) =>
    command("npm run contribute --", "scripts/contribute.ts", [...args, "--data-dir", values["data-dir"]!], {
      CONTRIBUTOR_PRIVATE_KEY: contributorKey,
    });
  await contribute(["earnings"]);
  const claimed = await contribute(["claim", "--run", runId]);
  const mine = rows
    .filter((r) => isAddressEqual(r.contributor, devAddress(roles.contributor)))
    .reduce((sum, r) => sum + r.claimable, 0n);
  expect(
    claimed.includes(`Claimed ${formatEther(mine)} ETH`),
    `the contributor claims the ${formatEther(mine)} ETH its contributions earned from the model, with their proofs`,
  );
}

// -------------------------------------------------------------------------------------------------

async function main() {
  line(style.bold("The story of a DAO that governs a private AI"));
  const startArgs = [
    ...(values["chain-port"] ? ["--chain-port", values["chain-port"]] : []),
    ...(values["worker-port"] ? ["--worker-port", values["worker-port"]] : []),
    ...(values["keyholder-ports"] ? ["--keyholder-ports", values["keyholder-ports"]] : []),
    ...(values["ui-port"] ? ["--ui-port", values["ui-port"]] : []),
  ];
  const stack = await report.step("Finding the running stack", async (detail) => {
    const ensured = await ensureStack({
      dataDir: values["data-dir"]!,
      startArgs,
      onOutput: (l) => detail(`│ ${l}`),
    });
    detail(
      ensured.started
        ? "no stack was running: started one (npm start) for the demo; it stops at the end"
        : `the stack npm start runs (process ${ensured.info.pid})`,
    );
    return ensured;
  });
  let failed = false;
  try {
    const { info } = stack;
    const clients = localChainClients(info.rpcUrl);
    const deployment = readManifest(info.manifest);
    const workerUrl = info.services.find((s) => s.name === "worker")?.url;
    if (!workerUrl) throw new BaseError("The stack runs no worker.");
    const worker = createWorkerClient(workerUrl);
    const eip712 = await worker.get<{ submission: { domain: Demo["submissionDomain"] } }>("/v1/eip712");
    const d: Demo = {
      info,
      deployment,
      clients,
      worker,
      governance: createGovernanceDriver({
        publicClient: clients.publicClient,
        testClient: clients.testClient,
        deployment,
        proposer: clients.wallet(roles.holders[0]!.index),
        executor: clients.wallet(roles.outsider),
      }),
      epoch: 0n,
      run: Date.now().toString(16),
      contributed: [],
      submissionDomain: eip712.body.submission.domain,
    };
    const state = await readRegistry<{ engaged: boolean; reason: string }>(d, "killSwitch");
    if (state.engaged) {
      throw new BaseError(`The kill switch is engaged on this stack: "${state.reason}".`, {
        hints: [
          "Lift it by a vote (the governance UI, or a proposal calling liftKillSwitch) and run the demo again.",
          "Or run the demo on a fresh stack: npm run demo -- --data-dir /tmp/dao-ai-demo (with other ports if one is running).",
        ],
      });
    }
    await oneEpoch(d);
    const { lab } = await holdersVoteAPolicy(d);
    await attestAndSubmit(d);
    await refusals(d);
    await train(d);
    await queries(d, lab);
    await killSwitch(d);
    await liftKillSwitch(d);
    await claimRewards(d);
    line();
    line(style.bold(style.green("The story went as told.")));
  } catch (error) {
    failed = true;
    line();
    line(
      style.red(
        chapterNumber === 0
          ? "The story cannot be told on this stack."
          : `The story did not go as told in chapter ${chapterNumber}.`,
      ),
    );
    report.failure(error);
  } finally {
    if (stack.started) {
      line(style.dim("Stopping the stack the demo started…"));
      await stack.stop();
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  report.failure(error);
  process.exit(1);
});
