import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, keccak256, parseEther, parseEventLogs, toHex, zeroAddress, type Address, type Hex } from "viem";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { createAttestations, randomDataHash, type DataAttestation } from "../helpers/attestations.ts";
import { createGovernance, registryAction, type Governance } from "../helpers/governance.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// ContributorRewards checks each contribution's attestations against the real EAS and the policy
// itself, so a worker cannot invent contributors. Each way of faking one is refused with its own
// error, and a refused contribution leaves no trace.

const MAX_AGE = 86_400n;

let system: System;
let gov: Governance;
let eas: ReturnType<typeof createAttestations>;
let snapshots: ReturnType<typeof createSnapshots>;

beforeAll(async () => {
  system = await createSystem();
  gov = createGovernance(system);
  eas = createAttestations(system);
  await system.delegateAll();
  const { worker, contributor, attester, attester2 } = system.accounts;
  await gov.pass([
    registryAction(system, "setWorker", [worker.account.address, true]),
    registryAction(system, "setSubmitter", [contributor.account.address, true]),
    registryAction(system, "setAttestationRequirement", [
      system.deployment.dataSchema.uid,
      [attester.account.address, attester2.account.address],
      1,
      MAX_AGE,
    ]),
  ]);
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

const address = (w: Wallet): Address => getAddress(w.account.address);

function readRewards<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const currentEpoch = () =>
  system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "currentEpoch",
  });

/** Records a contribution weighted as its size, so that the shares below read as the sizes do. */
function record(contributor: Address, dataHash: Hex, size: bigint, uids: Hex[], from = system.accounts.worker) {
  return from.writeContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "recordContribution",
    args: [contributor, dataHash, size, size, uids],
  });
}

/** A fresh piece of data and a valid attestation of it to the contributor. */
async function attested(overrides: { attester?: Wallet; size?: bigint } = {}) {
  const data: DataAttestation = { dataHash: randomDataHash(), size: overrides.size ?? 4_096n };
  const uid = await eas.attest({
    attester: overrides.attester ?? system.accounts.attester,
    recipient: system.accounts.contributor.account.address,
    data,
  });
  return { ...data, uid };
}

async function blockTime(hash: Hex) {
  const receipt = await system.publicClient.getTransactionReceipt({ hash });
  return (await system.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
}

/** The refused contribution left no trace: not recorded, no weight in the epoch, no share. */
async function expectNothingRecorded(dataHash: Hex) {
  expect(await readRewards("contributionOf", [dataHash])).toMatchObject({ contributor: zeroAddress, size: 0n });
  const epoch = await currentEpoch();
  expect(await readRewards("epochTotals", [epoch])).toEqual([0n, 0n, 0n]);
  expect(await readRewards("shareOf", [epoch, address(system.accounts.contributor)])).toEqual([0n, 0n]);
}

describe("ContributorRewards attestation checks", () => {
  it("records a contribution whose attestation satisfies the policy", async () => {
    const { contributor, worker } = system.accounts;
    const { dataHash, size, uid } = await attested();
    const hash = await record(address(contributor), dataHash, size, [uid]);
    const receipt = await system.wait(hash);
    const epoch = await currentEpoch();
    const [event] = parseEventLogs({
      abi: contributorRewardsAbi,
      eventName: "ContributionRecorded",
      logs: receipt.logs,
    });
    expect(event?.args).toEqual({
      dataHash,
      contributor: address(contributor),
      epoch,
      size,
      weight: size,
      worker: address(worker),
    });
    expect(await readRewards("contributionOf", [dataHash])).toEqual({
      contributor: address(contributor),
      epoch,
      size,
      weight: size,
      recordedAt: await blockTime(hash),
      worker: address(worker),
      voided: false,
      withdrawnAt: 0n,
    });
    expect(await readRewards("epochTotals", [epoch])).toEqual([0n, size, 0n]);
    expect(await readRewards("shareOf", [epoch, address(contributor)])).toEqual([size, 0n]);
  });

  it("refuses a forged attestation UID that EAS never issued", async () => {
    const dataHash = randomDataHash();
    const forged = keccak256(toHex("not an attestation"));
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, 10n, [forged]),
      "RewardsAttestationNotFound",
      [forged],
    );
    await expectNothingRecorded(dataHash);
  });

  it("refuses a revoked attestation", async () => {
    const { dataHash, size, uid } = await attested();
    const revocation = await eas.revoke(system.accounts.attester, uid);
    const revokedAt = (await system.publicClient.getBlock({ blockNumber: revocation.blockNumber })).timestamp;
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, size, [uid]),
      "RewardsAttestationRevoked",
      [uid, revokedAt],
    );
    await expectNothingRecorded(dataHash);
  });

  it("refuses an expired attestation", async () => {
    const now = (await system.publicClient.getBlock()).timestamp;
    const expiresAt = now + 100n;
    const data = { dataHash: randomDataHash(), size: 64n };
    const uid = await eas.attest({
      attester: system.accounts.attester,
      recipient: system.accounts.contributor.account.address,
      data,
      expirationTime: expiresAt,
    });
    await system.testClient.increaseTime({ seconds: 200 });
    await expectRevert(
      record(address(system.accounts.contributor), data.dataHash, data.size, [uid]),
      "RewardsAttestationExpired",
      [uid, expiresAt],
    );
    await expectNothingRecorded(data.dataHash);
  });

  it("refuses an attestation older than the policy's maximum age", async () => {
    const { dataHash, size, uid } = await attested();
    const attestedAt = (await system.publicClient.getBlock()).timestamp;
    await system.testClient.increaseTime({ seconds: Number(MAX_AGE) + 60 });
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, size, [uid]),
      "RewardsAttestationTooOld",
      [uid, attestedAt, MAX_AGE],
    );
    await expectNothingRecorded(dataHash);
  });

  it("refuses an attestation in another schema, even with the same fields", async () => {
    const otherSchema = await eas.registerSchema("bytes32 dataHash,uint64 size");
    const data = { dataHash: randomDataHash(), size: 64n };
    const uid = await eas.attest({
      attester: system.accounts.attester,
      recipient: system.accounts.contributor.account.address,
      data: data.dataHash.concat(toHex(data.size, { size: 32 }).slice(2)) as Hex,
      schema: otherSchema,
    });
    await expectRevert(
      record(address(system.accounts.contributor), data.dataHash, data.size, [uid]),
      "RewardsAttestationWrongSchema",
      [uid, otherSchema, system.deployment.dataSchema.uid],
    );
    await expectNothingRecorded(data.dataHash);
  });

  it("refuses an attestation by an attester the policy does not trust", async () => {
    const { outsider, contributor } = system.accounts;
    const { dataHash, size, uid } = await attested({ attester: outsider });
    await expectRevert(record(address(contributor), dataHash, size, [uid]), "RewardsAttestationUntrustedAttester", [
      uid,
      address(outsider),
    ]);
    await expectNothingRecorded(dataHash);
  });

  it("refuses an attestation about someone else", async () => {
    const { outsider, contributor, attester } = system.accounts;
    const data = { dataHash: randomDataHash(), size: 64n };
    const uid = await eas.attest({ attester, recipient: outsider.account.address, data });
    await expectRevert(
      record(address(contributor), data.dataHash, data.size, [uid]),
      "RewardsAttestationWrongRecipient",
      [uid, address(outsider), address(contributor)],
    );
    await expectNothingRecorded(data.dataHash);
  });

  it("refuses an attestation of other data: another hash, another size, or a malformed payload", async () => {
    const contributor = address(system.accounts.contributor);
    const { dataHash, size, uid } = await attested({ size: 1_000n });
    const otherHash = randomDataHash();
    await expectRevert(record(contributor, otherHash, size, [uid]), "RewardsAttestationWrongData", [uid]);
    await expectNothingRecorded(otherHash);
    // Claiming more bytes than were attested would inflate the contributor's share.
    await expectRevert(record(contributor, dataHash, 1_001n, [uid]), "RewardsAttestationWrongData", [uid]);
    await expectNothingRecorded(dataHash);

    // EAS does not check a payload against its schema; the rewards contract must.
    const short = await eas.attest({
      attester: system.accounts.attester,
      recipient: contributor,
      data: dataHash,
    });
    await expectRevert(record(contributor, dataHash, size, [short]), "RewardsAttestationWrongData", [short]);
    await expectNothingRecorded(dataHash);
  });

  it("refuses a contribution with no attestation at all", async () => {
    const dataHash = randomDataHash();
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, 10n, []),
      "RewardsInsufficientAttestations",
      [0n, 1n],
    );
    await expectNothingRecorded(dataHash);
  });

  it("counts distinct attesters: the same attester twice counts once", async () => {
    const { attester, attester2, contributor } = system.accounts;
    await gov.pass([
      registryAction(system, "setAttestationRequirement", [
        system.deployment.dataSchema.uid,
        [attester.account.address, attester2.account.address],
        2,
        MAX_AGE,
      ]),
    ]);
    const first = await attested();
    const again = await eas.attest({ attester, recipient: contributor.account.address, data: first });
    await expectRevert(
      record(address(contributor), first.dataHash, first.size, [first.uid]),
      "RewardsInsufficientAttestations",
      [1n, 2n],
    );
    await expectRevert(
      record(address(contributor), first.dataHash, first.size, [first.uid, again, first.uid]),
      "RewardsInsufficientAttestations",
      [1n, 2n],
    );
    await expectNothingRecorded(first.dataHash);

    const second = await eas.attest({ attester: attester2, recipient: contributor.account.address, data: first });
    await system.wait(await record(address(contributor), first.dataHash, first.size, [first.uid, second]));
    expect(await readRewards("contributionOf", [first.dataHash])).toMatchObject({ contributor: address(contributor) });
  });

  it("refuses a contribution if any attestation given is bad, even when enough good ones are there", async () => {
    const { dataHash, size, uid } = await attested();
    const forged = keccak256(toHex("forged"));
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, size, [uid, forged]),
      "RewardsAttestationNotFound",
      [forged],
    );
    await expectNothingRecorded(dataHash);
  });

  it("stops trusting an attester the DAO removed from the requirement", async () => {
    const { dataHash, size, uid } = await attested({ attester: system.accounts.attester2 });
    await gov.pass([
      registryAction(system, "setAttestationRequirement", [
        system.deployment.dataSchema.uid,
        [system.accounts.attester.account.address],
        1,
        MAX_AGE,
      ]),
    ]);
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, size, [uid]),
      "RewardsAttestationUntrustedAttester",
      [uid, address(system.accounts.attester2)],
    );
    await expectNothingRecorded(dataHash);
  });
});

describe("ContributorRewards recording rules", () => {
  it("refuses recording by anyone but an authorised worker", async () => {
    const { dataHash, size, uid } = await attested();
    for (const caller of [system.accounts.outsider, system.accounts.contributor, system.accounts.attester]) {
      await expectRevert(
        record(address(system.accounts.contributor), dataHash, size, [uid], caller),
        "RewardsNotWorker",
        [address(caller)],
      );
    }
    await expectNothingRecorded(dataHash);
  });

  it("refuses a contributor that is not on the submitter allowlist", async () => {
    const { outsider, attester } = system.accounts;
    const data = { dataHash: randomDataHash(), size: 64n };
    const uid = await eas.attest({ attester, recipient: outsider.account.address, data });
    await expectRevert(record(address(outsider), data.dataHash, data.size, [uid]), "RewardsSubmitterNotAllowed", [
      address(outsider),
    ]);
    expect(await readRewards("contributionOf", [data.dataHash])).toMatchObject({ contributor: zeroAddress });
  });

  it("refuses empty data", async () => {
    const contributor = address(system.accounts.contributor);
    const { dataHash, uid } = await attested();
    await expectRevert(record(contributor, dataHash, 0n, [uid]), "RewardsInvalidContribution", [dataHash, 0n, 0n]);
    await expectRevert(record(contributor, `0x${"00".repeat(32)}`, 10n, [uid]), "RewardsInvalidContribution", [
      `0x${"00".repeat(32)}`,
      10n,
      10n,
    ]);
    await expectNothingRecorded(dataHash);
  });

  it("refuses the same data twice, across transactions and within a batch", async () => {
    const contributor = address(system.accounts.contributor);
    const first = await attested({ size: 100n });
    await system.wait(await record(contributor, first.dataHash, first.size, [first.uid]));
    // A second, perfectly valid attestation of the same data does not make it new data.
    const again = await eas.attest({ attester: system.accounts.attester2, recipient: contributor, data: first });
    await expectRevert(record(contributor, first.dataHash, first.size, [again]), "RewardsDuplicateContribution", [
      first.dataHash,
    ]);

    const fresh = await attested({ size: 50n });
    const input = {
      contributor,
      dataHash: fresh.dataHash,
      size: fresh.size,
      weight: fresh.size,
      attestationUIDs: [fresh.uid],
      offchainAttestations: [],
    };
    await expectRevert(
      system.accounts.worker.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContributions",
        args: [[input, input]],
      }),
      "RewardsDuplicateContribution",
      [fresh.dataHash],
    );
    // Only the first contribution counts; the batch left nothing behind.
    const epoch = await currentEpoch();
    expect(await readRewards("epochTotals", [epoch])).toEqual([0n, 100n, 0n]);
    expect(await readRewards("contributionOf", [fresh.dataHash])).toMatchObject({ contributor: zeroAddress });
  });

  it("takes no contribution while the kill switch is engaged, but the treasury can still fund", async () => {
    const { dataHash, size, uid } = await attested();
    await system.wait(
      await system.accounts.guardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["poisoned data suspected"],
      }),
    );
    await expectRevert(
      record(address(system.accounts.contributor), dataHash, size, [uid]),
      "RewardsKillSwitchEngaged",
      [],
    );
    await expectNothingRecorded(dataHash);

    const epoch = await currentEpoch();
    await system.wait(
      await system.accounts.deployer.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "fund",
        args: [epoch],
        value: parseEther("1"),
      }),
    );
    expect(await readRewards("epochTotals", [epoch])).toEqual([parseEther("1"), 0n, 0n]);
  });
});

describe("ContributorRewards before the DAO has set an attestation requirement", () => {
  // Until governance sets a requirement it is all zeros; recording must fail closed, not accept
  // any size of "data" with no attestation at all.
  it("refuses a contribution without attestations", async () => {
    const fresh = await createSystem();
    await fresh.delegateAll();
    const { worker, contributor } = fresh.accounts;
    await createGovernance(fresh).pass([
      registryAction(fresh, "setWorker", [worker.account.address, true]),
      registryAction(fresh, "setSubmitter", [contributor.account.address, true]),
    ]);
    const dataHash = randomDataHash();
    await expectRevert(
      worker.writeContract({
        address: fresh.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContribution",
        args: [contributor.account.address, dataHash, 2n ** 63n, 1n, []],
      }),
      "RewardsNoAttestationRequirement",
    );
  });
});
