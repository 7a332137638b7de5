// Receipt gas per settled query: UsageSettlement's cumulative vouchers and bearer-key settlements
// (one entry per lane, whatever it covers) next to the per-query settlement they replaced
// (contracts/mocks/PerQueryUsageSettlement.sol), deployed on the same chain against the same policy.
import { readFileSync } from "node:fs";
import path from "node:path";
import { keccak256, parseEther, toHex, zeroAddress, type Abi, type LocalAccount, type TransactionReceipt } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { keyGrantTypes, usageDomain, usageTypes } from "@dao-ai/pipeline-worker/eip712";
import { policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { repoRoot, type ContractArtifact } from "../lib/deploy/contractArtifacts.ts";
import type { BenchSystem } from "../lib/bench/createBenchSystem.ts";
import { devAccount, DEV_ROLES } from "../lib/stack/devAccounts.ts";

/** Queries per consumer and epoch the rows are measured at. */
export const SETTLEMENT_SIZES = [1n, 100n, 10_000n] as const;
/** The per-query baseline settles in batches of at most this many (its worker's batch size). */
const BASELINE_BATCH = 200;
const FEE = parseEther("0.000001");

/** The per-query baseline's signed message (its own EIP-712 type, version 1). */
const QUERY_TYPES = {
  Query: [
    { name: "consumer", type: "address" },
    { name: "inputHash", type: "bytes32" },
    { name: "nonce", type: "uint64" },
    { name: "epoch", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

export type SettlementGas = {
  /** Receipt gas of one settlement transaction, per row and number of queries it covers. */
  voucherSteady: Map<bigint, bigint>;
  voucherFirst: Map<bigint, bigint>;
  keySteady: Map<bigint, bigint>;
  keyFirst: Map<bigint, bigint>;
  /** Receipt gas of settling that many queries one by one, summed over the batches. */
  perQuery: Map<bigint, bigint>;
};

export async function settlementGas(system: BenchSystem, progress: (message: string) => void): Promise<SettlementGas> {
  const { publicClient, testClient, wallet, deployment, wait, pass } = system;
  const { policyRegistry, usageSettlement, contributorRewards } = deployment.contracts;
  const worker = wallet(DEV_ROLES.worker);
  const payer = wallet(DEV_ROLES.outsider);
  const steady = devAccount(DEV_ROLES.consumer);
  // Consumers never settled before, one per size; and one that opens the measured epoch's fee pot.
  const fresh = SETTLEMENT_SIZES.map(() => privateKeyToAccount(generatePrivateKey()));
  const opener = privateKeyToAccount(generatePrivateKey());
  const quota = 3n * SETTLEMENT_SIZES.reduce((a, b) => a + b, 0n);
  const registry = (functionName: string, args: readonly unknown[]) => ({
    target: policyRegistry,
    abi: policyRegistryAbi as Abi,
    functionName,
    args,
  });
  await pass([
    registry("setWorker", [worker.account.address, true]),
    registry("setQueryFee", [FEE]),
    ...[steady, opener, ...fresh].map((c) => registry("setQuota", [c.address, quota])),
  ]);

  progress("deploying the per-query settlement (baseline)");
  const artifact = JSON.parse(
    readFileSync(
      path.join(
        repoRoot,
        "artifacts",
        "contracts",
        "mocks",
        "PerQueryUsageSettlement.sol",
        "PerQueryUsageSettlement.json",
      ),
      "utf8",
    ),
  ) as ContractArtifact;
  const baseline = (
    await wait(
      await payer.deployContract({
        abi: artifact.abi,
        bytecode: artifact.bytecode,
        args: [policyRegistry, contributorRewards],
      }),
      "Deploying PerQueryUsageSettlement",
    )
  ).contractAddress!;
  for (const consumer of [steady, opener, ...fresh]) {
    await wait(
      await payer.writeContract({
        address: usageSettlement,
        abi: usageSettlementAbi,
        functionName: "deposit",
        args: [consumer.address],
        value: parseEther("1"),
      }),
      "Depositing",
    );
  }
  await wait(
    await payer.writeContract({
      address: baseline,
      abi: artifact.abi,
      functionName: "deposit",
      args: [steady.address],
      value: parseEther("1"),
    }),
    "Depositing (baseline)",
  );

  const readEpoch = () =>
    publicClient.readContract({ address: policyRegistry, abi: policyRegistryAbi, functionName: "currentEpoch" });
  const now = async () => (await publicClient.getBlock()).timestamp;
  const domain = usageDomain(deployment.chainId, usageSettlement);

  async function voucher(consumer: LocalAccount, epoch: bigint, total: bigint) {
    const message = {
      consumer: consumer.address,
      key: zeroAddress,
      worker: worker.account.address,
      epoch,
      total,
      maxFeePerQuery: FEE,
      inputHash: keccak256(toHex(`bench voucher ${total}`)),
      deadline: (await now()) + 3_600n,
    };
    const signature = await consumer.signTypedData({ domain, types: usageTypes, primaryType: "Usage", message });
    const { consumer: c, epoch: e, total: t, maxFeePerQuery, inputHash, deadline } = message;
    return { consumer: c, epoch: e, total: t, maxFeePerQuery, inputHash, deadline, signature };
  }

  async function grant(consumer: LocalAccount) {
    const message = {
      consumer: consumer.address,
      key: privateKeyToAccount(generatePrivateKey()).address,
      worker: zeroAddress,
      maxQueries: quota,
      maxFeePerQuery: FEE,
      expiresAt: (await now()) + 30n * 86_400n,
    };
    const signature = await consumer.signTypedData({ domain, types: keyGrantTypes, primaryType: "KeyGrant", message });
    return { grant: message, grantSignature: signature };
  }

  const settle = async (vouchers: Awaited<ReturnType<typeof voucher>>[]) =>
    wait(
      await worker.writeContract({
        address: usageSettlement,
        abi: usageSettlementAbi,
        functionName: "settle",
        args: [vouchers],
      }),
      "Settling vouchers",
    );
  const settleKey = async (g: Awaited<ReturnType<typeof grant>>, epoch: bigint, total: bigint) =>
    wait(
      await worker.writeContract({
        address: usageSettlement,
        abi: usageSettlementAbi,
        functionName: "settleKeys",
        args: [[{ ...g, epoch, total, inputHash: `0x${"00".repeat(32)}`, deadline: 0n, keySignature: "0x" }]],
      }),
      "Settling a key",
    );

  // An earlier epoch: the steady consumer's voucher lane and key lane settle once.
  const steadyGrant = await grant(steady);
  const first = await readEpoch();
  await settle([await voucher(steady, first, 1n)]);
  await settleKey(steadyGrant, first, 1n);

  // Two epochs on, the same slots are rewritten; another consumer's settlement opened the epoch's fee pot.
  const epochEnd = await publicClient.readContract({
    address: policyRegistry,
    abi: policyRegistryAbi,
    functionName: "epochEnd",
    args: [first + 1n],
  });
  await testClient.setNextBlockTimestamp({ timestamp: epochEnd + 1n });
  await testClient.mine({ blocks: 1 });
  const epoch = await readEpoch();
  await wait(
    await payer.writeContract({
      address: usageSettlement,
      abi: usageSettlementAbi,
      functionName: "sweepFees",
      args: [first],
    }),
    "Sweeping fees",
  );
  await settle([await voucher(opener, epoch, 1n)]);

  const result: SettlementGas = {
    voucherSteady: new Map(),
    voucherFirst: new Map(),
    keySteady: new Map(),
    keyFirst: new Map(),
    perQuery: new Map(),
  };
  let voucherTotal = 0n;
  let keyTotal = 0n;
  for (const [i, size] of SETTLEMENT_SIZES.entries()) {
    progress(`settling ${size.toLocaleString("en-US")} queries with one voucher and one key settlement`);
    voucherTotal += size;
    result.voucherSteady.set(size, (await settle([await voucher(steady, epoch, voucherTotal)])).gasUsed);
    keyTotal += size;
    result.keySteady.set(size, (await settleKey(steadyGrant, epoch, keyTotal)).gasUsed);
    // A consumer never settled before: its first voucher creates its usage and lane slots; its
    // first key settlement then verifies the grant's signature and creates the key's slots.
    const newcomer = fresh[i]!;
    result.voucherFirst.set(size, (await settle([await voucher(newcomer, epoch, size)])).gasUsed);
    result.keyFirst.set(size, (await settleKey(await grant(newcomer), epoch, size)).gasUsed);
  }

  // The baseline: the same numbers of queries, each signed and settled on its own.
  const signedAt = await now();
  let nonce = 0n;
  for (const size of SETTLEMENT_SIZES) {
    progress(`settling ${size.toLocaleString("en-US")} queries one by one (baseline)`);
    let gas = 0n;
    for (let done = 0n; done < size;) {
      const count = size - done < BigInt(BASELINE_BATCH) ? size - done : BigInt(BASELINE_BATCH);
      const batch = [];
      for (let k = 0n; k < count; k++) {
        const message = {
          consumer: steady.address,
          inputHash: keccak256(toHex(`bench query ${nonce}`)),
          nonce: nonce++,
          epoch,
          deadline: signedAt + 3_600n,
        };
        const signature = await steady.signTypedData({
          domain: { name: "DAO AI Query", version: "1", chainId: deployment.chainId, verifyingContract: baseline },
          types: QUERY_TYPES,
          primaryType: "Query",
          message,
        });
        batch.push({ ...message, signature });
      }
      const receipt: TransactionReceipt = await wait(
        await worker.writeContract({ address: baseline, abi: artifact.abi, functionName: "settle", args: [batch] }),
        "Settling queries one by one",
      );
      gas += receipt.gasUsed;
      done += count;
    }
    result.perQuery.set(size, gas);
  }
  return result;
}

/** The gas per query of a settlement covering `size` queries, as a whole number of gas. */
export function perQuery(gas: bigint, size: bigint): bigint {
  return (gas + size / 2n) / size;
}
