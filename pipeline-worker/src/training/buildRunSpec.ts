import { getAddress, parseAbiItem, type Address, type Hex, type PublicClient } from "viem";
import { contributorRewardsAbi } from "../abis.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { DEFAULT_FEATURES } from "../model/createEmbeddedModel.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import type { Journal } from "../storage/createJournal.ts";
import { encodeRunSpec, runSpecHash, RUN_SPEC_FORMAT, type RunSpec, type RunSpecEntry } from "./runSpec.ts";
import { parseSubmissionManifest } from "./submissionManifest.ts";

export type BuildRunSpecParameters = {
  publicClient: PublicClient;
  chainId: number;
  contributorRewards: Address;
  store: ContentStore;
  /** Candidate submissions by manifest CID (e.g. from listRecordedManifests). */
  manifests: readonly string[];
  model?: Partial<Pick<RunSpec["model"], "dimensions" | "ngrams">>;
};

export type BuiltRunSpec = {
  spec: RunSpec;
  /** The exact bytes to publish; their SHA-256 is `specHash`. */
  document: Uint8Array;
  /** What to put in `approveTrainingRun(runId, specHash, operator, expiresAt)`. */
  specHash: Hex;
  /** Candidates left out, with why (unreadable manifest, contribution not recorded, voided or withdrawn). */
  skipped: { manifest: string; reason: string }[];
};

/**
 * Builds a training-run spec from recorded submissions, for governance to approve its hash.
 * Each candidate's manifest is read (verified against its CID) and kept only if its contribution
 * is recorded on chain for the same contributor, neither voided nor withdrawn, so a spec never
 * lists data whose attestations the chain did not accept or that its contributor took back.
 */
export async function buildRunSpec(parameters: BuildRunSpecParameters): Promise<BuiltRunSpec> {
  const entries: RunSpecEntry[] = [];
  const skipped: BuiltRunSpec["skipped"] = [];
  const seen = new Set<string>();
  for (const cid of parameters.manifests) {
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of parameters.store.get(cid)) chunks.push(chunk);
      const manifest = parseSubmissionManifest(Buffer.concat(chunks));
      const dataHash = manifest.dataHash.toLowerCase() as Hex;
      if (seen.has(dataHash)) {
        skipped.push({ manifest: cid, reason: "another manifest of the same data is already listed" });
        continue;
      }
      const contribution = await parameters.publicClient.readContract({
        address: parameters.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "contributionOf",
        args: [dataHash],
      });
      if (getAddress(contribution.contributor) !== getAddress(manifest.contributor)) {
        skipped.push({ manifest: cid, reason: "its contribution is not recorded on chain" });
        continue;
      }
      // Voided by a vote (poisoned data, say): never paid, so never trained on either.
      if (contribution.voided) {
        skipped.push({ manifest: cid, reason: "a vote voided its contribution" });
        continue;
      }
      // Withdrawn by its contributor: no run after the withdrawal may use it (keyholders would
      // refuse its shares anyway, SUBMISSION_WITHDRAWN).
      if (contribution.withdrawnAt !== 0n) {
        skipped.push({ manifest: cid, reason: "its contributor withdrew it" });
        continue;
      }
      seen.add(dataHash);
      entries.push({ manifest: cid, dataHash });
    } catch (error) {
      if (!isWorkerError(error) || error.retryable) throw error;
      skipped.push({ manifest: cid, reason: error.shortMessage });
    }
  }
  if (entries.length === 0) {
    throw new WorkerError("VALIDATION_FAILED", "No recorded submission to put in a run spec.", { extra: { skipped } });
  }
  const spec: RunSpec = {
    format: RUN_SPEC_FORMAT,
    chainId: parameters.chainId,
    contributorRewards: getAddress(parameters.contributorRewards),
    model: {
      kind: "embedded",
      dimensions: parameters.model?.dimensions ?? DEFAULT_FEATURES.dimensions,
      ngrams: parameters.model?.ngrams ?? DEFAULT_FEATURES.ngrams,
    },
    submissions: entries,
  };
  const document = encodeRunSpec(spec);
  return {
    spec: { ...spec, submissions: [...entries].sort((a, b) => (a.dataHash < b.dataHash ? -1 : 1)) },
    document,
    specHash: runSpecHash(document),
    skipped,
  };
}

const contributionRecorded = parseAbiItem(
  "event ContributionRecorded(bytes32 indexed dataHash, address indexed contributor, uint64 indexed epoch, uint64 size, uint64 weight, address worker)",
);

/**
 * The manifests of the submissions this worker stored and saw recorded: contributors from the
 * ContributionRecorded events since `fromBlock`, their submissions from the journal.
 */
export async function listRecordedManifests(parameters: {
  publicClient: PublicClient;
  contributorRewards: Address;
  journal: Journal;
  fromBlock: bigint;
}): Promise<string[]> {
  const logs = await parameters.publicClient.getLogs({
    address: parameters.contributorRewards,
    event: contributionRecorded,
    fromBlock: parameters.fromBlock,
  });
  const recorded = new Set(logs.map((log) => log.args.dataHash!.toLowerCase()));
  const contributors = [...new Set(logs.map((log) => log.args.contributor!.toLowerCase()))];
  const manifests: string[] = [];
  for (const contributor of contributors) {
    for (const record of await parameters.journal.listByContributor(contributor)) {
      const envelope = record.data.received?.envelope as { dataHash?: string } | undefined;
      const stored = record.data.stored as { manifest?: string } | undefined;
      if (record.step === "recorded" && stored?.manifest && recorded.has(envelope?.dataHash?.toLowerCase() ?? "")) {
        manifests.push(stored.manifest);
      }
    }
  }
  return manifests;
}
