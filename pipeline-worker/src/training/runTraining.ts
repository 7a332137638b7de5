import { createHash } from "node:crypto";
import {
  getAddress,
  getContract,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi, policyRegistryAbi } from "../abis.ts";
import { createSha256Tap } from "../crypto/createSha256Tap.ts";
import { decryptStream } from "../crypto/decryptStream.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { ErrorCode } from "../internal/errorCodes.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { KeyholderClient } from "../keyholder/createKeyholderClient.ts";
import {
  createEmbeddedTrainer,
  embeddedWeightsHash,
  encodeEmbeddedWeights,
  type EmbeddedTrainer,
} from "../model/createEmbeddedModel.ts";
import { readTrainingRecords } from "../model/trainingRecords.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { buildContributionsTree } from "./contributionsTree.ts";
import { modelCommitmentsError } from "./contractRevert.ts";
import { encryptModelWeights } from "./encryptModelWeights.ts";
import { recoverDataKey, RUN_ENDING_CODES } from "./gatherDataKey.ts";
import { decodeRunSpec, runSpecHash, type RunSpecEntry } from "./runSpec.ts";
import { hexToBytes, parseSubmissionManifest } from "./submissionManifest.ts";

export type RunTrainingParameters = {
  runId: Hex;
  /** The exact bytes of the run's spec document (its SHA-256 is the approved specHash). */
  spec: Uint8Array;
  publicClient: PublicClient;
  /** The run's operator: signs share requests and the commitment. */
  walletClient: WalletClient<Transport, Chain, Account>;
  chainId: number;
  contracts: { policyRegistry: Address; contributorRewards: Address; modelCommitments: Address };
  store: ContentStore;
  keyholders: readonly KeyholderClient[];
  /** Submissions decrypted at once. Default 4. */
  concurrency?: number;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  logger?: Logger | undefined;
};

export type ExcludedSubmission = RunSpecEntry & { code: ErrorCode; detail: string };

/** A submission the model learned from: its records, and who is paid for it and by what weight. */
export type IncludedSubmission = RunSpecEntry & { records: number; contributor: Address; weight: bigint };

export type TrainingReport = {
  runId: Hex;
  specHash: Hex;
  included: IncludedSubmission[];
  /** Submissions left out, each with why: a poisoned or unreadable submission never stops a run. */
  excluded: ExcludedSubmission[];
  examples: number;
  labels: string[];
  /** SHA-256 of the canonical weights: committed on chain, checked at reveal. */
  weightsHash: Hex;
  /** SHA-256 over the sorted 32-byte data hashes of the included submissions. */
  trainingSetHash: Hex;
  encryptedWeightsUri: string;
  /**
   * The contributions the model learned from, committed with it: the root of their
   * StandardMerkleTree over (dataHash, contributor, weight), its total weight, and where its
   * dump is stored. The fees of the model's queries are paid to them (RunRewards).
   */
  contributions: { root: Hex; totalWeight: bigint; uri: string };
  transactionHash: Hex;
  /** The plaintext weights, for the operator to keep until the reveal. Never stored unencrypted here. */
  weights: Uint8Array;
};

/**
 * One approved training run, end to end, from the operator's worker:
 *
 * 1. checks on chain that the run is approved, that this account is its operator, that the spec
 *    is the approved one, that the kill switch is off and that nothing is committed yet;
 * 2. gives the keyholders the spec, then for each submission in it: reads and checks its manifest,
 *    checks that its contribution is recorded on chain for the same contributor, gathers k key
 *    shares, decrypts, and checks the plaintext's SHA-256 against the attested data hash. A
 *    submission that fails any of these is excluded and reported, never fatal; a refusal that
 *    ends the run (kill switch, approval gone) stops it;
 * 3. trains the embedded model on the records of the included submissions, streaming: each
 *    submission's records are counted as they decrypt, and its counts join the model's only once
 *    its whole plaintext has matched the attested hash, so memory holds a few submissions'
 *    counts and never the data itself, whatever its size;
 * 4. encrypts the weights to the current committee, stores them on IPFS, and commits the hashes
 *    of the weights and of the training set with ModelCommitments.commitModel, together with the
 *    contributions it used: the root and total weight of their StandardMerkleTree of
 *    (dataHash, contributor, weight as recorded), whose dump it stores on IPFS first, so that
 *    the fees of the model's queries go to them and contributors can take their proofs.
 */
export async function runTraining(parameters: RunTrainingParameters): Promise<TrainingReport> {
  const { runId, publicClient, walletClient, store, contracts, logger } = parameters;
  const now = parameters.now ?? Date.now;
  const operator = getAddress(walletClient.account.address);
  const specHash = runSpecHash(parameters.spec);
  const spec = decodeRunSpec(parameters.spec);
  if (
    spec.chainId !== parameters.chainId ||
    getAddress(spec.contributorRewards) !== getAddress(contracts.contributorRewards)
  ) {
    throw new WorkerError("WRONG_CHAIN", "The run spec is for another chain or deployment.", {
      extra: { chainId: spec.chainId, contributorRewards: spec.contributorRewards },
    });
  }
  await checkRunOnChain();

  const keyholders = new Map<string, KeyholderClient>();
  for (const client of parameters.keyholders) {
    try {
      keyholders.set(await client.publicKey(), client);
      await client.putSpec(runId, parameters.spec);
    } catch (error) {
      if (isWorkerError(error) && RUN_ENDING_CODES.has(error.code)) throw error;
      logger?.warn({ keyholder: client.name, err: error }, "keyholder unavailable; continuing without it");
    }
  }

  const included: TrainingReport["included"] = [];
  const excluded: ExcludedSubmission[] = [];
  const features = { dimensions: spec.model.dimensions, ngrams: spec.model.ngrams };
  const trainer = createEmbeddedTrainer(features);
  const queue = [...spec.submissions];
  const concurrency = Math.max(1, parameters.concurrency ?? 4);
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) {
        let submission: { trainer: EmbeddedTrainer; contributor: Address; weight: bigint };
        try {
          submission = await readSubmission(entry);
        } catch (error) {
          // A retryable failure (the content store or enough keyholders unreachable for now) ends
          // the run before anything is committed: excluding the submission would leave its
          // contributor out of a commitment that cannot be made again, for a fault that passes.
          if (!isWorkerError(error) || RUN_ENDING_CODES.has(error.code) || error.retryable) throw error;
          excluded.push({ ...entry, code: error.code, detail: error.shortMessage });
          logger?.warn({ runId, ...entry, code: error.code, detail: error.shortMessage }, "submission excluded");
          continue;
        }
        // Outside the exclusion above: too many labels in the run as a whole is no one
        // submission's fault, and which one tipped it over depends on the order they came in.
        trainer.merge(submission.trainer);
        included.push({
          ...entry,
          records: submission.trainer.examples,
          contributor: submission.contributor,
          weight: submission.weight,
        });
        logger?.info(
          { runId, dataHash: entry.dataHash, records: submission.trainer.examples, examples: trainer.examples },
          "submission counted",
        );
      }
    }),
  );
  included.sort((a, b) => (a.dataHash < b.dataHash ? -1 : 1));
  excluded.sort((a, b) => (a.dataHash < b.dataHash ? -1 : 1));
  if (included.length === 0) {
    throw new WorkerError("TRAINING_DATA_INVALID", "No submission of the run could be used; nothing was trained.", {
      extra: { excluded },
    });
  }

  const weights = encodeEmbeddedWeights(trainer.weights());
  const weightsHash = embeddedWeightsHash(weights);
  const trainingSetHash = hashTrainingSet(included.map((entry) => entry.dataHash));
  const tree = buildContributionsTree(included);
  const storedTree = await store.put([new TextEncoder().encode(tree.dump())]);
  const contributions = { root: tree.root, totalWeight: tree.totalWeight, uri: `ipfs://${storedTree.cid.toString()}` };

  const [committeeId, members, publicKeys, threshold] = await publicClient.readContract({
    address: contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "committee",
  });
  const encrypted = await encryptModelWeights({
    runId,
    weights,
    weightsHash,
    trainingSetHash,
    committee: { id: committeeId, members, publicKeys, threshold },
    store,
  });

  let transactionHash: Hex;
  try {
    const { request } = await publicClient.simulateContract({
      account: walletClient.account,
      address: contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitModel",
      args: [runId, weightsHash, trainingSetHash, encrypted.uri, contributions],
    });
    transactionHash = await walletClient.writeContract(request);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: transactionHash });
    if (receipt.status !== "success")
      throw new WorkerError("CHAIN_UNAVAILABLE", "The commitment transaction reverted.");
  } catch (error) {
    throw isWorkerError(error) ? error : modelCommitmentsError(error, "commit the model");
  }
  logger?.info(
    {
      runId,
      weightsHash,
      trainingSetHash,
      contributionsRoot: contributions.root,
      contributionsUri: contributions.uri,
      included: included.length,
      excluded: excluded.length,
      transactionHash,
    },
    "model committed",
  );
  return {
    runId,
    specHash,
    included,
    excluded,
    examples: trainer.examples,
    labels: trainer.labels(),
    weightsHash,
    trainingSetHash,
    encryptedWeightsUri: encrypted.uri,
    contributions,
    transactionHash,
    weights,
  };

  async function checkRunOnChain(): Promise<void> {
    const registry = getContract({ address: contracts.policyRegistry, abi: policyRegistryAbi, client: publicClient });
    const commitments = getContract({
      address: contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      client: publicClient,
    });
    const [killSwitch, approved, run, commitment] = await Promise.all([
      registry.read.killSwitchEngaged(),
      registry.read.isTrainingRunApproved([runId]),
      registry.read.trainingRun([runId]),
      commitments.read.commitmentOf([runId]),
    ]);
    if (killSwitch) throw new WorkerError("KILL_SWITCH_ENGAGED", "The kill switch is engaged: no training runs.");
    if (!approved)
      throw new WorkerError("TRAINING_RUN_NOT_APPROVED", `Training run ${runId} is not approved on chain.`);
    if (getAddress(run.operator) !== operator) {
      throw new WorkerError(
        "NOT_RUN_OPERATOR",
        `${operator} is not the operator of run ${runId} (${run.operator} is).`,
      );
    }
    if (run.specHash.toLowerCase() !== specHash) {
      throw new WorkerError(
        "RUN_SPEC_MISMATCH",
        `The spec given hashes to ${specHash}, not the approved ${run.specHash}.`,
      );
    }
    if (commitment.committedAt !== 0n) {
      throw new WorkerError("MODEL_ALREADY_COMMITTED", `Run ${runId} already has a model commitment.`);
    }
  }

  /**
   * One submission, checked and counted: its own trainer, to merge once all of it checked out, and
   * its contributor and weight as recorded on chain, for the contributions tree.
   */
  async function readSubmission(
    entry: RunSpecEntry,
  ): Promise<{ trainer: EmbeddedTrainer; contributor: Address; weight: bigint }> {
    const manifestBytes = await readAll(store.get(entry.manifest));
    const manifest = parseSubmissionManifest(manifestBytes);
    if (manifest.dataHash.toLowerCase() !== entry.dataHash) {
      throw new WorkerError("NOT_IN_RUN_SPEC", "The manifest's data hash differs from the one the spec lists.");
    }
    const contribution = await publicClient.readContract({
      address: contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [entry.dataHash],
    });
    if (getAddress(contribution.contributor) !== getAddress(manifest.contributor)) {
      throw new WorkerError(
        "CONTRIBUTION_NOT_RECORDED",
        `No contribution of ${entry.dataHash} by ${manifest.contributor} is recorded.`,
      );
    }
    // A spec approved before a vote voided this data still lists it: leave it out now.
    if (contribution.voided) {
      throw new WorkerError("CONTRIBUTION_NOT_RECORDED", `The contribution of ${entry.dataHash} was voided by a vote.`);
    }
    const { counted, plaintextHash, invalid } = await recoverDataKey(
      {
        runId,
        manifestCid: entry.manifest,
        manifest,
        manifestDocument: new TextDecoder().decode(manifestBytes),
        keyholders,
        operator: walletClient,
        chainId: parameters.chainId,
        policyRegistry: contracts.policyRegistry,
        nowSeconds: Math.floor(now() / 1000),
        spec: parameters.spec,
      },
      async (key) => {
        const tap = createSha256Tap();
        const decrypted = tap.tap(
          decryptStream(
            store.get(manifest.ciphertext, {
              sha256: manifest.ciphertextSha256 === undefined ? undefined : hexToBytes(manifest.ciphertextSha256),
            }),
            {
              key,
              associatedData: hexToBytes(manifest.associatedData),
            },
          ),
        );
        const plaintext = decrypted[Symbol.asyncIterator]();
        // The reader gets the chunks through a view it cannot close, so that after a bad line
        // the rest is still read through the hash: data that is not what was attested is
        // reported as such (PLAINTEXT_HASH_MISMATCH) before it is judged malformed.
        const chunks: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => plaintext.next() }) };
        const counts = createEmbeddedTrainer(features);
        let malformed: WorkerError | undefined;
        try {
          for await (const record of readTrainingRecords(chunks)) counts.add(record);
        } catch (error) {
          if (!isWorkerError(error, "TRAINING_DATA_INVALID")) throw error;
          malformed = error;
          while (!(await plaintext.next()).done);
        }
        return {
          counted: counts,
          plaintextHash: `0x${Buffer.from(tap.digest()).toString("hex")}`,
          invalid: malformed,
        };
      },
    );
    if (plaintextHash !== entry.dataHash) {
      throw new WorkerError(
        "PLAINTEXT_HASH_MISMATCH",
        `The decrypted data hashes to ${plaintextHash}, not to its attested ${entry.dataHash}.`,
      );
    }
    if (invalid !== undefined) throw invalid;
    return { trainer: counted, contributor: getAddress(contribution.contributor), weight: contribution.weight };
  }
}

/** SHA-256 over the sorted 32-byte data hashes: the training set's identity, as IModelCommitments defines it. */
export function hashTrainingSet(dataHashes: readonly Hex[]): Hex {
  const hash = createHash("sha256");
  for (const dataHash of [...dataHashes].map((h) => h.toLowerCase()).sort()) hash.update(hexToBytes(dataHash));
  return `0x${hash.digest("hex")}`;
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}
