// Gas of every transaction users send, from real receipts on one Anvil chain, next to a plain
// OpenZeppelin Governor with its own timelock and registry, and plain transfers, on the same chain.
import { readFileSync } from "node:fs";
import path from "node:path";
import { encodeFunctionData, keccak256, parseEther, toHex, zeroAddress, type Abi, type Address, type Hex } from "viem";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  timelockControllerAbi,
} from "../../deployments/abis.ts";
import { readArtifact, repoRoot, type ContractArtifact } from "../lib/deploy/contractArtifacts.ts";
import { createBenchSystem, type BenchSystem } from "../lib/bench/createBenchSystem.ts";
import { BALLOT_TYPES, type Wallet } from "../lib/actors/createGovernanceDriver.ts";
import { DEFAULT_GOVERNOR_SETTINGS } from "../lib/deploy/deploySystem.ts";
import { DEV_ROLES } from "../lib/stack/devAccounts.ts";
import { attestData } from "../lib/actors/attestData.ts";
import { ratio, type BenchContext, type BenchSection } from "./measure.ts";
import { perQuery, settlementGas, SETTLEMENT_SIZES } from "./settlementGas.ts";
import { CLAIM_MANY_LEAVES, RUN_TREE_LEAVES, runRewardsGas } from "./runRewardsGas.ts";

/** Items per batch for recording contributions: the worker's old batch, and the one the target (70,000 per item) is set for. */
const BATCHES = [10, 100] as const;

type GovernorUnderTest = { label: string; governor: Address; registry: Address; abi: Abi };
type GovernanceGas = Record<
  "propose" | "castVote (reaches quorum)" | "castVote" | "castVoteBySig" | "queue" | "execute",
  bigint
>;

export async function benchGas({ progress }: BenchContext): Promise<BenchSection> {
  progress("starting Anvil and deploying the system");
  const system = await createBenchSystem();
  try {
    const baseline = await deployBaselineGovernor(system, progress);
    const ours: GovernorUnderTest = {
      label: "PolicyGovernor",
      governor: system.deployment.contracts.governor,
      registry: system.deployment.contracts.policyRegistry,
      abi: policyGovernorAbi as Abi,
    };
    progress("a setQuota proposal through PolicyGovernor");
    const policyGas = await governanceCycle(system, ours);
    progress("the same proposal through the plain OpenZeppelin Governor");
    const baselineGas = await governanceCycle(system, baseline);

    progress("recording contributions, claiming");
    const rewards = await rewardsGas(system);
    progress("claiming a model's fees from RunRewards");
    const runClaims = await runRewardsGas(system);
    const settlement = await settlementGas(system, progress);

    const row = (what: string, gas: bigint, baselineWhat: string, baselineGas: bigint) => [
      what,
      gas.toLocaleString("en-US"),
      `${baselineWhat}: ${baselineGas.toLocaleString("en-US")}`,
      ratio(Number(gas) / Number(baselineGas)),
    ];
    const governanceRows = (Object.keys(policyGas) as (keyof GovernanceGas)[]).map((step) =>
      row(`${step}${step === "execute" ? " (setQuota)" : ""}`, policyGas[step], "plain OZ Governor", baselineGas[step]),
    );
    return {
      title: "Gas",
      columns: ["what", "gas (receipt)", "baseline, same chain", "ratio to baseline"],
      rows: [
        ...governanceRows,
        ...BATCHES.map((size) =>
          row(
            `recordContributions, per item (batch of ${size})`,
            rewards.recordPerItem.get(size)!,
            "ERC20 transfer",
            rewards.erc20Transfer,
          ),
        ),
        ...settlementRows(settlement),
        row("claim (one epoch's reward)", rewards.claim, "ETH transfer", rewards.ethTransfer),
        row(
          "RunRewards claim (a model's fees, first claim of a leaf)",
          runClaims.first,
          "ETH transfer",
          rewards.ethTransfer,
        ),
        row("RunRewards claim (the same leaf, after more fees)", runClaims.again, "ETH transfer", rewards.ethTransfer),
        row(
          `RunRewards claimMany, per leaf (${CLAIM_MANY_LEAVES} leaves)`,
          runClaims.manyPerLeaf,
          "ETH transfer",
          rewards.ethTransfer,
        ),
      ],
      notes: [
        "Gas is each transaction's receipt gasUsed on one Anvil chain: what the sender pays for, 21,000 base and calldata included (the Solidity snapshots in snapshots/ are execution gas only, e.g. propose 282,284 vs 51,944).",
        "The baseline Governor is contracts/mocks/BaselineGovernorMock.sol (settings, simple counting, votes, quorum fraction, timelock control) with its own TimelockController and PolicyRegistry, voting with the same token and holders; both run the same setQuota proposal.",
        "propose costs most over the baseline because GovernorStorage writes the proposal's targets, values and calldatas to storage (so anyone can queue and execute by id), and the description is hashed into the id; PolicyGovernor also adds late-quorum protection (the vote that reaches quorum writes the extended deadline) and a proposal guardian.",
        "castVote (reaches quorum) is the first vote, by the largest holder; castVote is a later one; castVoteBySig is relayed by another account.",
        `Per-item figures divide a batch's receipt gas by its size (${BATCHES.join(", ")}). recordContributions verifies one on-chain EAS attestation per item (schema, attester, recipient, data hash and size, revocation, expiry); EAS's getAttestation alone costs about 34,000 gas for the deployment's schema (each 32 bytes of its data, licence and provenance included, is a cold slot), and the contribution's one new storage slot 22,100.`,
        "Settlement rows: gas per settled query when a consumer used N queries at one worker in one epoch. UsageSettlement settles the lane's latest voucher (the consumer's signature over the running total) or its bearer key's count in one transaction whatever N is; the baseline is the per-query settlement it replaced (contracts/mocks/PerQueryUsageSettlement.sol, same chain and policy), one signed query per item in batches of up to 200, summed over the batches.",
        "Steady state: the consumer settled the same lanes in an earlier epoch (two epochs before: the slots are rewritten, not created) and another settlement opened the epoch's fee pot. First: a consumer's first-ever voucher (its usage and lane slots created), and its key's first settlement (the grant's signature verified once, the key's slots created). The figures in brackets are the whole transaction's receipt gas.",
        `RunRewards rows: the contributor claims what its contribution earned from a model's fees with a proof of ${runClaims.proofLength} hashes (a tree of ${RUN_TREE_LEAVES} contributions), paid to it in the same transaction. A first claim stores the leaf's claimed amount in a new slot (22,100) and sends ether to an account (9,000 with the value transfer), on top of the 21,000 base: what is left for the proof (about 2,000 in calldata and hashing), the run's pool (two slots), the contribution's voided flag in ContributorRewards (a call to a cold contract reading its record) and the kill switch in PolicyRegistry (another cold call) is what makes it more than 60,000. A later claim of the same leaf rewrites its slot (5,000 instead of 22,100); claimMany shares the base, the kill switch read and one transfer among consecutive leaves of one contributor, and reads ContributorRewards warm after the first leaf.`,
        "The ERC20 transfer is the governance token's (OpenZeppelin ERC20Votes) between two holders that have not delegated, both balances non-zero before and after; the ETH transfer is to an account with no code.",
      ],
    };
  } finally {
    await system.stop();
  }
}

/** BaselineGovernorMock with its own timelock and its own PolicyRegistry, voting with the system's token. */
async function deployBaselineGovernor(system: BenchSystem, progress: (message: string) => void) {
  const { publicClient, wallet, deployment, wait } = system;
  const deployer = wallet(DEV_ROLES.deployer);
  async function deploy(artifact: ContractArtifact, args: readonly unknown[]): Promise<Address> {
    progress(`deploying ${artifact.contractName} (baseline)`);
    const receipt = await wait(
      await deployer.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args }),
      `Deploying ${artifact.contractName}`,
    );
    return receipt.contractAddress!;
  }
  const baselineArtifact = JSON.parse(
    readFileSync(
      path.join(repoRoot, "artifacts", "contracts", "mocks", "BaselineGovernorMock.sol", "BaselineGovernorMock.json"),
      "utf8",
    ),
  ) as ContractArtifact;
  const settings = deployment.settings;
  const timelock = await deploy(readArtifact("TimelockController"), [
    BigInt(settings.timelockMinDelay),
    [],
    [zeroAddress],
    deployer.account.address,
  ]);
  const governor = await deploy(baselineArtifact, [
    deployment.contracts.token,
    timelock,
    settings.votingDelay,
    settings.votingPeriod,
    BigInt(settings.proposalThreshold),
    BigInt(settings.quorumNumerator),
  ]);
  const registry = await deploy(readArtifact("PolicyRegistry"), [
    timelock,
    deployment.guardian,
    BigInt(settings.epochLength),
    BigInt(settings.revealDelay),
  ]);
  for (const role of ["PROPOSER_ROLE", "CANCELLER_ROLE"] as const) {
    const id = await publicClient.readContract({ address: timelock, abi: timelockControllerAbi, functionName: role });
    await wait(
      await deployer.writeContract({
        address: timelock,
        abi: timelockControllerAbi,
        functionName: "grantRole",
        args: [id, governor],
      }),
      "Granting a timelock role",
    );
  }
  return { label: "BaselineGovernorMock", governor, registry, abi: baselineArtifact.abi } satisfies GovernorUnderTest;
}

/** Propose, three votes, queue, execute of one setQuota proposal; each step's receipt gas. */
async function governanceCycle(system: BenchSystem, under: GovernorUnderTest): Promise<GovernanceGas> {
  const { publicClient, testClient, wallet, holders, wait } = system;
  const relayer = wallet(DEV_ROLES.outsider);
  const call = (from: Wallet, functionName: string, args: readonly unknown[]) =>
    from.writeContract({ address: under.governor, abi: under.abi, functionName, args } as never);
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({ address: under.governor, abi: under.abi, functionName, args } as never) as Promise<T>;
  const gas = async (hash: Hex, what: string) => (await wait(hash, `${under.label}: ${what}`)).gasUsed;

  const targets = [under.registry];
  const values = [0n];
  const calldatas = [
    encodeFunctionData({
      abi: policyRegistryAbi,
      functionName: "setQuota",
      args: [wallet(DEV_ROLES.consumer).account.address, 1_000n],
    }),
  ];
  const description = "Give the consumer 1,000 queries per epoch";
  const descriptionHash = keccak256(toHex(description));

  const propose = await gas(await call(holders[0]!, "propose", [targets, values, calldatas, description]), "propose");
  const proposalId = await read<bigint>("hashProposal", [targets, values, calldatas, descriptionHash]);
  await testClient.mine({ blocks: DEFAULT_GOVERNOR_SETTINGS.votingDelay + 1 });

  const firstVote = await gas(await call(holders[0]!, "castVote", [proposalId, 1]), "castVote");
  const laterVote = await gas(await call(holders[1]!, "castVote", [proposalId, 1]), "castVote");
  const voter = holders[2]!;
  const [, name, version, chainId] = await read<readonly [Hex, string, string, bigint]>("eip712Domain");
  const nonce = await read<bigint>("nonces", [voter.account.address]);
  const signature = await voter.signTypedData({
    domain: { name, version, chainId: Number(chainId), verifyingContract: under.governor },
    types: BALLOT_TYPES,
    primaryType: "Ballot",
    message: { proposalId, support: 1, voter: voter.account.address, nonce },
  });
  const bySig = await gas(
    await call(relayer, "castVoteBySig", [proposalId, 1, voter.account.address, signature]),
    "castVoteBySig",
  );

  const deadline = await read<bigint>("proposalDeadline", [proposalId]);
  const now = await publicClient.getBlockNumber({ cacheTime: 0 });
  await testClient.mine({ blocks: Number(deadline - now) + 1 });
  const queue = await gas(await call(holders[0]!, "queue", [targets, values, calldatas, descriptionHash]), "queue");
  await testClient.increaseTime({ seconds: Number(system.deployment.settings.timelockMinDelay) + 1 });
  await testClient.mine({ blocks: 1 });
  const execute = await gas(await call(relayer, "execute", [targets, values, calldatas, descriptionHash]), "execute");
  return {
    propose,
    "castVote (reaches quorum)": firstVote,
    castVote: laterVote,
    castVoteBySig: bySig,
    queue,
    execute,
  };
}

/** Gas per settled query, each UsageSettlement row next to the per-query baseline for as many queries. */
function settlementRows(gas: Awaited<ReturnType<typeof settlementGas>>) {
  const rows: string[][] = [];
  const kinds = [
    ["voucher, steady state", gas.voucherSteady],
    ["voucher, first lane of a consumer", gas.voucherFirst],
    ["bearer key, steady state", gas.keySteady],
    ["bearer key, first settlement", gas.keyFirst],
  ] as const;
  for (const size of SETTLEMENT_SIZES) {
    const n = size.toLocaleString("en-US");
    const baseline = perQuery(gas.perQuery.get(size)!, size);
    for (const [label, measured] of kinds) {
      const tx = measured.get(size)!;
      const each = perQuery(tx, size);
      rows.push([
        `settle ${n} ${size === 1n ? "query" : "queries"}/consumer/epoch, per query: ${label} [${tx.toLocaleString("en-US")}]`,
        each.toLocaleString("en-US"),
        `per-query settlement: ${baseline.toLocaleString("en-US")}`,
        ratio(Number(each) / Number(baseline)),
      ]);
    }
  }
  return rows;
}

/**
 * A worker records a batch of attested contributions (usage fees fund the epoch's reward pool
 * through the settlement rows); once the epoch is over, the contributor claims.
 */
async function rewardsGas(system: BenchSystem) {
  const { publicClient, testClient, wallet, deployment, wait, pass } = system;
  const { policyRegistry, contributorRewards, eas, token } = deployment.contracts;
  const worker = wallet(DEV_ROLES.worker);
  const attester = wallet(DEV_ROLES.attester);
  const contributor = wallet(DEV_ROLES.contributor);
  const consumer = wallet(DEV_ROLES.consumer);
  const outsider = wallet(DEV_ROLES.outsider);
  const registry = (functionName: string, args: readonly unknown[]) => ({
    target: policyRegistry,
    abi: policyRegistryAbi as Abi,
    functionName,
    args,
  });
  await pass([
    registry("setWorker", [worker.account.address, true]),
    registry("setSubmitters", [[contributor.account.address], true]),
    registry("setAttestationRequirement", [deployment.dataSchema.uid, [attester.account.address], 1, 0n]),
  ]);

  const size = 1n << 20n;
  // Unique records in each contribution, as the worker counts them at ingest (about 100 bytes each).
  const recordsPerContribution = 10_000n;
  const recordPerItem = new Map<number, bigint>();
  for (const batchSize of BATCHES) {
    const receipt = await recordBatch(batchSize);
    recordPerItem.set(batchSize, receipt.gasUsed / BigInt(batchSize));
  }
  async function recordBatch(batchSize: number) {
    const contributions = [];
    for (let i = 0; i < batchSize; i++) {
      const dataHash = keccak256(toHex(`bench contribution ${batchSize}/${i}`));
      const uid = await attestData({
        publicClient,
        attester,
        eas,
        schemaUID: deployment.dataSchema.uid,
        recipient: contributor.account.address,
        dataHash,
        size,
      });
      contributions.push({
        contributor: contributor.account.address,
        dataHash,
        size,
        weight: recordsPerContribution,
        attestationUIDs: [uid],
        offchainAttestations: [],
      });
    }
    return wait(
      await worker.writeContract({
        address: contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContributions",
        args: [contributions],
      }),
      `Recording a batch of ${batchSize} contributions`,
    );
  }

  const epoch = await publicClient.readContract({
    address: policyRegistry,
    abi: policyRegistryAbi,
    functionName: "currentEpoch",
  });
  // The pool to claim from: the fees of this epoch's usage, funded as UsageSettlement's sweep does.
  await wait(
    await outsider.writeContract({
      address: contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "fund",
      args: [epoch],
      value: parseEther("0.01"),
    }),
    "Funding the pool",
  );

  const epochEnd = await publicClient.readContract({
    address: policyRegistry,
    abi: policyRegistryAbi,
    functionName: "epochEnd",
    args: [epoch],
  });
  await testClient.setNextBlockTimestamp({ timestamp: epochEnd + 1n });
  await testClient.mine({ blocks: 1 });
  const claim = await wait(
    await contributor.writeContract({
      address: contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "claim",
      args: [epoch],
    }),
    "Claiming",
  );

  // Baselines: a token transfer between two accounts that hold tokens and have not delegated, and
  // a plain ether transfer.
  const transfer = async (from: Wallet, to: Wallet, amount: bigint) =>
    wait(
      await from.writeContract({
        address: token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [to.account.address, amount],
      }),
      "A token transfer",
    );
  const holder = system.holders[2]!;
  for (const to of [outsider, consumer]) await transfer(holder, to, parseEther("10"));
  const erc20 = await transfer(outsider, consumer, parseEther("1"));
  const eth = await wait(
    await outsider.sendTransaction({ to: consumer.account.address, value: parseEther("0.01") }),
    "An ETH transfer",
  );
  return {
    recordPerItem,
    claim: claim.gasUsed,
    erc20Transfer: erc20.gasUsed,
    ethTransfer: eth.gasUsed,
  };
}
