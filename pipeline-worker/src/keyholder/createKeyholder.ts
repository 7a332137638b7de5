import { getAddress, getContract, toHex, zeroAddress, type Address, type Hex, type PublicClient } from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi, policyRegistryAbi } from "../abis.ts";
import { recoverTypedDataSigner } from "../chain/signatures.ts";
import { assertKeyholderPublicKey, keyholderPublicKey } from "../crypto/keyholderKeys.ts";
import { assertValidCommittee } from "../crypto/validateCommittee.ts";
import { unwrapKeyShare, wrapKeyShare } from "../crypto/wrapKeyShare.ts";
import type { Logger } from "../internal/createLogger.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { computeCid } from "../storage/computeCid.ts";
import type { ModelManifest } from "../training/encryptModelWeights.ts";
import { parseModelManifest } from "../training/parseModelManifest.ts";
import { decodeRunSpec, runSpecHash, type RunSpec } from "../training/runSpec.ts";
import { hexToBytes, parseSubmissionManifest } from "../training/submissionManifest.ts";
import {
  keyholderDomain,
  shareReleaseContext,
  shareRequestTypes,
  SPEC_UPLOAD_SCHEME,
  specUploadTypes,
  type ShareRelease,
  type ShareRequest,
  type SpecUploadAuthorization,
} from "./shareRequest.ts";
import {
  modelKeyReleaseContext,
  modelKeyRequestTypes,
  type ModelKeyRelease,
  type ModelKeyRequest,
} from "./modelKeyRequest.ts";
import type { SignedKeyholderRequest } from "./signedKeyholderRequest.ts";

export type CreateKeyholderParameters = {
  /** This keyholder's 32-byte secp256k1 private key: the one whose public key the committee lists. */
  privateKey: Uint8Array;
  client: PublicClient;
  chainId: number;
  policyRegistry: Address;
  /**
   * The ModelCommitments contract, whose commitments say which model manifest a run committed.
   * Without it, weights keys are refused (MODEL_NOT_COMMITTED): this keyholder releases data keys only.
   */
  modelCommitments?: Address | undefined;
  /**
   * The ContributorRewards contract, where contributors withdraw their data: a withdrawn
   * submission's share is refused (SUBMISSION_WITHDRAWN). The keyholder's main always sets it
   * from the deployment manifest; without it (an embedding that checks withdrawals itself),
   * withdrawals are not checked.
   */
  contributorRewards?: Address | undefined;
  /**
   * Blocks an approval must have before it counts (a kill switch counts at once). Default 2. An
   * approval must hold both at the head and this many blocks back, so a reorg cannot release a
   * share for a run that the canonical chain never approved.
   */
  confirmations?: number;
  /**
   * How old the RPC node's latest block may be, by its timestamp, before the keyholder refuses
   * (CHAIN_UNAVAILABLE): a node stuck behind the network would not show a kill switch engaged or
   * an approval revoked since. 0, the default, turns the check off (a local chain mines on demand).
   */
  maxHeadAgeSeconds?: number;
  /** How old a request may be, in seconds. Default 300. */
  maxRequestAgeSeconds?: number;
  /** Where to fetch manifests that a request does not carry. Optional: a request may carry its manifest. */
  store?: ContentStore | undefined;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  logger?: Logger | undefined;
};

export type Keyholder = {
  /** This keyholder's public key, 0x-hex, compressed: as the committee lists it. */
  readonly publicKey: Hex;
  /**
   * Takes a run's spec document. It is kept only if its SHA-256 is the specHash the DAO approved
   * for the run, so anyone may send it: a wrong one is refused, a right one can only be right.
   */
  putSpec(runId: Hex, document: Uint8Array): Promise<{ runId: Hex; specHash: Hex; submissions: number }>;
  /**
   * Checks that a spec upload is the run's operator's (`SpecUpload`, EIP-712) before a byte of its
   * body is read; costs no chain read once the run is known. Throws SIGNATURE_INVALID,
   * SIGNATURE_EXPIRED, TRAINING_RUN_NOT_APPROVED or NOT_RUN_OPERATOR.
   */
  authoriseSpecUpload(runId: Hex, authorization: SpecUploadAuthorization | undefined): Promise<void>;
  /** Checks a share request against the chain and the spec, and answers with the re-wrapped share. */
  releaseShare(request: ShareRequest): Promise<ShareRelease>;
  /**
   * Releases this keyholder's share of a committed model's weights key to an authorised serving
   * worker; see `releaseModelKey` below for what is checked, in which order.
   */
  releaseModelKey(request: ModelKeyRequest): Promise<ModelKeyRelease>;
};

/** Spec documents kept, by hash; a training run needs its own for as long as it runs. */
const MAX_CACHED_SPECS = 32;
/**
 * Runs' (specHash, operator) kept, by run id. Only runs that exist are kept, and only governance
 * creates runs, so a stranger cannot fill this; runs are few.
 */
const MAX_CACHED_RUNS = 1024;
/** Chain states kept, by run and head block; a few heads are enough for requests in flight. */
const MAX_CACHED_STATES = 64;
/** How far in the future a request's `issuedAt` may be, for clocks that disagree a little. */
const CLOCK_SKEW_SECONDS = 60;

/**
 * Keyholder mode: holds one private key of the DAO's keyholder committee and releases its share of
 * a submission's data key only when all of these hold, checked in this order:
 *
 * 1. the request is fresh and addressed to this keyholder, and its EIP-712 signature recovers;
 * 2. the signer is the run's operator (the run's operator and specHash never change once it is
 *    approved, so they are read once per run and kept);
 * 3. the keyholder holds the run's spec, whose SHA-256 is the run's on-chain specHash, and the
 *    spec lists this manifest;
 * 4. the kill switch is not engaged at the chain head (a kill switch acts at once);
 * 5. the PolicyRegistry approves the run, at the head and `confirmations` blocks back
 *    (`isTrainingRunApproved`: approved, not revoked, not expired, operator still a worker), and
 *    the run at the head still has this operator and specHash;
 * 6. its contributor has not withdrawn the data the spec lists (ContributorRewards' `withdrawnAt`,
 *    read at the head: a withdrawal, like a kill switch, counts at once; once seen it is kept, as
 *    it is final);
 * 7. the manifest (verified against its CID) has the data hash the spec lists and a valid
 *    committee with a share wrapped to this keyholder, which opens.
 *
 * The order puts what costs nothing first: a request from anyone but the run's operator is
 * refused on a signature check and a kept record, with no RPC call once the run is known (at most
 * one per request for a run id never seen, which the server's per-peer limit bounds). The head
 * is read for every request that gets that far, never cached, so a kill switch counts at once;
 * the four reads of a run's state are made once per head block and shared by the requests at it.
 *
 * The share is then re-wrapped to the request's ephemeral key and sent; it is never written
 * anywhere, and neither the private key nor any share is ever logged. The chain is read directly,
 * not through a policy sync: a keyholder keeps no state but its key and a cache of specs, and
 * fails closed (CHAIN_UNAVAILABLE) when it cannot read the chain.
 */
export function createKeyholder(parameters: CreateKeyholderParameters): Keyholder {
  const { client, logger } = parameters;
  const privateKey = Uint8Array.from(parameters.privateKey);
  const ownPublicKey = keyholderPublicKey(privateKey);
  const publicKey = toHex(ownPublicKey);
  const confirmations = BigInt(parameters.confirmations ?? 2);
  const maxAge = parameters.maxRequestAgeSeconds ?? 300;
  const maxHeadAge = parameters.maxHeadAgeSeconds ?? 0;
  const now = parameters.now ?? Date.now;
  const domain = keyholderDomain(parameters.chainId, parameters.policyRegistry);
  const specs = new Map<Hex, { spec: RunSpec; entries: Map<string, Hex> }>();

  /** The head block, read fresh; requests that ask at the same moment share one read. */
  let headInFlight: Promise<{ number: bigint; hash: Hex; timestamp: bigint }> | undefined;
  function readHead() {
    // The latest block itself, never viem's cached head number (kept for its polling interval,
    // 4 s over HTTP): a kill switch engaged since would be read at a block from before it.
    headInFlight ??= client.getBlock({ blockTag: "latest" }).finally(() => {
      headInFlight = undefined;
    });
    return headInFlight;
  }

  /** A run's (specHash, operator), kept once it exists; undefined for a run never approved. */
  const runs = new Map<Hex, Promise<{ specHash: Hex; operator: Address } | undefined>>();
  function readRunRecord(runId: Hex): Promise<{ specHash: Hex; operator: Address } | undefined> {
    const kept = runs.get(runId);
    if (kept) return kept;
    const reading = client
      .readContract({
        address: parameters.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "trainingRun",
        args: [runId],
      })
      .then(
        (run) =>
          run.operator === zeroAddress
            ? undefined
            : { specHash: run.specHash.toLowerCase() as Hex, operator: getAddress(run.operator) },
        (cause: unknown) => {
          throw chainUnavailable(cause);
        },
      );
    return keepOnceFound(runs, runId, reading);
  }

  /** Refuses anyone but the run's operator; costs no RPC call once the run is known. */
  async function requireOperator(runId: Hex, signer: Address) {
    const run = await readRunRecord(runId);
    if (run === undefined) throw notApproved(runId);
    if (signer !== run.operator) {
      throw new WorkerError("NOT_RUN_OPERATOR", `${signer} is not the operator of run ${runId}.`, {
        hints: [`Sign with the operator's key (${run.operator}).`],
        extra: { operator: run.operator },
      });
    }
    return run;
  }

  /** Data hashes seen withdrawn: a withdrawal is final, so each is read until it is one. */
  const withdrawn = new Set<Hex>();
  async function requireNotWithdrawn(dataHash: Hex, runId: Hex, manifestCid: string) {
    if (parameters.contributorRewards === undefined) return;
    if (!withdrawn.has(dataHash)) {
      let withdrawnAt: bigint;
      try {
        const head = await readHead();
        ({ withdrawnAt } = await client.readContract({
          address: parameters.contributorRewards,
          abi: contributorRewardsAbi,
          functionName: "contributionOf",
          args: [dataHash],
          blockNumber: head.number,
        }));
      } catch (cause) {
        throw chainUnavailable(cause);
      }
      if (withdrawnAt === 0n) return;
      withdrawn.add(dataHash);
    }
    throw new WorkerError(
      "SUBMISSION_WITHDRAWN",
      `The contributor withdrew submission ${manifestCid}: no share of its key is released.`,
      {
        hints: ["Build a new run spec without it (buildRunSpec leaves withdrawn submissions out)."],
        extra: { runId, manifest: manifestCid, dataHash },
      },
    );
  }

  /** The kill switch and the run's approval, read once per run and head block. */
  const states = new Map<string, ReturnType<typeof readState>>();
  async function readRun(runId: Hex) {
    let head: { number: bigint; hash: Hex; timestamp: bigint };
    try {
      head = await readHead();
    } catch (cause) {
      throw chainUnavailable(cause);
    }
    const headAge = now() / 1000 - Number(head.timestamp);
    if (maxHeadAge > 0 && headAge > maxHeadAge) {
      throw new WorkerError(
        "CHAIN_UNAVAILABLE",
        `The keyholder's RPC node's latest block is ${Math.round(headAge)} s old, more than the ${maxHeadAge} s allowed: the node has fallen behind the network.`,
        {
          hints: [
            "Operators: check that the node at KEYHOLDER_RPC_URL is in sync with the network, or point it at one that is. Nothing is released meanwhile.",
          ],
        },
      );
    }
    const key = `${runId}:${head.number}:${head.hash}`;
    let state = states.get(key);
    if (state === undefined) {
      state = readState(runId, head.number);
      states.set(key, state);
      if (states.size > MAX_CACHED_STATES) states.delete(states.keys().next().value!);
      // A failed read is not kept: the next request reads again.
      state.catch(() => states.delete(key));
    }
    return state;
  }

  async function readState(runId: Hex, head: bigint) {
    try {
      const confirmed = head > confirmations ? head - confirmations : 0n;
      const { read } = getContract({ address: parameters.policyRegistry, abi: policyRegistryAbi, client });
      const [killSwitch, approvedAtHead, approvedConfirmed, run] = await Promise.all([
        read.killSwitchEngaged({ blockNumber: head }),
        read.isTrainingRunApproved([runId], { blockNumber: head }),
        read.isTrainingRunApproved([runId], { blockNumber: confirmed }),
        read.trainingRun([runId], { blockNumber: head }),
      ]);
      return { killSwitch, approved: approvedAtHead && approvedConfirmed, run };
    } catch (cause) {
      throw chainUnavailable(cause);
    }
  }

  function requireApproved(runId: Hex, state: Awaited<ReturnType<typeof readRun>>): void {
    if (state.killSwitch) {
      throw new WorkerError("KILL_SWITCH_ENGAGED", "The kill switch is engaged: no key share is released.", {
        hints: ["Only a governance proposal can lift the kill switch."],
      });
    }
    if (!state.approved) throw notApproved(runId);
  }

  /**
   * The run at the head must be the one kept: only a reorg that replaced the run's approval could
   * make them differ. Then nothing is released, and the run is read afresh next time.
   */
  function requireSameRun(
    runId: Hex,
    kept: { specHash: Hex; operator: Address },
    state: { run: { specHash: Hex; operator: Address } },
  ) {
    if (getAddress(state.run.operator) !== kept.operator || state.run.specHash.toLowerCase() !== kept.specHash) {
      runs.delete(runId);
      throw new WorkerError(
        "NOT_RUN_OPERATOR",
        `Run ${runId} changed on chain (a reorg); sign again for the run as it is now.`,
        {
          retryable: true,
        },
      );
    }
  }

  function requireFresh(issuedAt: number, what: string): void {
    const nowSeconds = Math.floor(now() / 1000);
    if (issuedAt < nowSeconds - maxAge) {
      throw new WorkerError("SIGNATURE_EXPIRED", `The ${what} is older than ${maxAge} seconds.`, {
        hints: ["Sign a fresh request; check the operator's clock."],
      });
    }
    if (issuedAt > nowSeconds + CLOCK_SKEW_SECONDS) {
      throw new WorkerError("VALIDATION_FAILED", `The ${what} is dated in the future.`, {
        hints: ["Check the operator's clock."],
        extra: { field: "issuedAt" },
      });
    }
  }

  /**
   * A run's committed model (weights hash and manifest CID), kept once committed: a commitment
   * never changes. Undefined for a run with none yet, which is read again next time.
   */
  const commitments = new Map<Hex, Promise<{ weightsHash: Hex; manifest: string } | undefined>>();
  function readCommitment(runId: Hex) {
    const kept = commitments.get(runId);
    if (kept) return kept;
    const modelCommitments = parameters.modelCommitments;
    if (modelCommitments === undefined) return Promise.resolve(undefined);
    const reading = client
      .readContract({
        address: modelCommitments,
        abi: modelCommitmentsAbi,
        functionName: "commitmentOf",
        args: [runId],
      })
      .then(
        (commitment) =>
          commitment.committedAt === 0n
            ? undefined
            : {
                weightsHash: commitment.weightsHash.toLowerCase() as Hex,
                manifest: commitment.encryptedWeightsURI.replace(/^ipfs:\/\//, ""),
              },
        (cause: unknown) => {
          throw chainUnavailable(cause);
        },
      );
    return keepOnceFound(commitments, runId, reading);
  }

  /**
   * At the head, read fresh: whether the signer is an authorised worker (at the head and
   * `confirmations` blocks back), then the kill switch and the run's revocation. A stranger costs
   * one read per head block and signing key, shared by its requests at that head; a worker's reads
   * are shared by its requests at the same head (it asks each keyholder once per model load).
   */
  const servingStates = new Map<string, Promise<{ worker: boolean; killSwitch: boolean; revoked: boolean }>>();
  async function readServingState(runId: Hex, signer: Address) {
    let head: { number: bigint; hash: Hex; timestamp: bigint };
    try {
      head = await readHead();
    } catch (cause) {
      throw chainUnavailable(cause);
    }
    const key = `${runId}:${signer}:${head.number}:${head.hash}`;
    let state = servingStates.get(key);
    if (state === undefined) {
      state = readServingStateAt(runId, signer, head.number);
      servingStates.set(key, state);
      if (servingStates.size > MAX_CACHED_STATES) servingStates.delete(servingStates.keys().next().value!);
      // A failed read is not kept: the next request reads again.
      state.catch(() => servingStates.delete(key));
    }
    return state;
  }

  async function readServingStateAt(runId: Hex, signer: Address, head: bigint) {
    try {
      const confirmed = head > confirmations ? head - confirmations : 0n;
      const isWorker = (blockNumber: bigint) =>
        client.readContract({
          address: parameters.policyRegistry,
          abi: policyRegistryAbi,
          functionName: "isWorker",
          args: [signer],
          blockNumber,
        });
      if (!(await isWorker(head))) return { worker: false, killSwitch: false, revoked: false };
      const [killSwitch, workerConfirmed, run] = await Promise.all([
        client.readContract({
          address: parameters.policyRegistry,
          abi: policyRegistryAbi,
          functionName: "killSwitchEngaged",
          blockNumber: head,
        }),
        isWorker(confirmed),
        client.readContract({
          address: parameters.policyRegistry,
          abi: policyRegistryAbi,
          functionName: "trainingRun",
          args: [runId],
          blockNumber: head,
        }),
      ]);
      return { killSwitch, worker: workerConfirmed, revoked: run.revoked };
    } catch (cause) {
      throw chainUnavailable(cause);
    }
  }

  return {
    publicKey,

    async authoriseSpecUpload(runId, authorization) {
      if (authorization === undefined) {
        throw new WorkerError("SIGNATURE_INVALID", "A run spec is taken only from the run's operator.", {
          hints: [
            `Send \`Authorization: ${SPEC_UPLOAD_SCHEME} issuedAt=<unix seconds> signature=<0x...>\`, the operator's EIP-712 SpecUpload signature over the run id, this keyholder's public key and the time (createKeyholderClient's \`operator\` does this).`,
          ],
        });
      }
      requireFresh(authorization.issuedAt, "spec upload");
      const signer = await recoverTypedDataSigner(
        {
          domain,
          types: specUploadTypes,
          primaryType: "SpecUpload",
          message: { runId, keyholder: publicKey, issuedAt: BigInt(authorization.issuedAt) },
        },
        authorization.signature,
      );
      await requireOperator(runId, signer);
    },

    async putSpec(runId, document) {
      const state = await readRun(runId);
      requireApproved(runId, state);
      const specHash = runSpecHash(document);
      if (specHash !== state.run.specHash.toLowerCase()) {
        throw new WorkerError("RUN_SPEC_MISMATCH", `This spec's SHA-256 is not the one approved for run ${runId}.`, {
          extra: { runId, specHash, approvedSpecHash: state.run.specHash },
        });
      }
      const spec = decodeRunSpec(document);
      if (spec.chainId !== parameters.chainId) {
        throw new WorkerError(
          "WRONG_CHAIN",
          `The spec is for chain ${spec.chainId}; this keyholder serves ${parameters.chainId}.`,
        );
      }
      if (!specs.has(specHash)) {
        if (specs.size >= MAX_CACHED_SPECS) specs.delete(specs.keys().next().value!);
        specs.set(specHash, { spec, entries: new Map(spec.submissions.map((e) => [e.manifest, e.dataHash])) });
      }
      logger?.info({ runId, specHash, submissions: spec.submissions.length }, "run spec accepted");
      return { runId, specHash, submissions: spec.submissions.length };
    },

    async releaseShare(request) {
      const { signer, ephemeral } = await verifySignedRequest(request, "share request", "ShareRequest");

      // Cheap checks first: no chain read for anyone but the run's operator, none for a manifest
      // the run's spec does not list.
      const run = await requireOperator(request.runId, signer);
      const operator = run.operator;
      const cached = specs.get(run.specHash);
      if (!cached) {
        throw new WorkerError("RUN_SPEC_UNKNOWN", `This keyholder does not have the spec of run ${request.runId}.`, {
          hints: [`PUT the spec document to /v1/runs/${request.runId}/spec first.`],
        });
      }
      const listedHash = cached.entries.get(request.manifest);
      if (listedHash === undefined) {
        throw new WorkerError(
          "NOT_IN_RUN_SPEC",
          `Manifest ${request.manifest} is not in run ${request.runId}'s spec.`,
          {
            extra: { runId: request.runId, manifest: request.manifest },
          },
        );
      }

      const state = await readRun(request.runId);
      requireApproved(request.runId, state);
      requireSameRun(request.runId, run, state);
      await requireNotWithdrawn(listedHash, request.runId, request.manifest);

      const manifest = parseSubmissionManifest(await readManifest(request));
      if (manifest.dataHash.toLowerCase() !== listedHash) {
        throw new WorkerError("NOT_IN_RUN_SPEC", "The manifest's data hash is not the one the run's spec lists.", {
          extra: { runId: request.runId, manifest: request.manifest },
        });
      }
      const wrappedShare = rewrapOwnShare(manifest, "submission", ephemeral, shareReleaseContext(request));
      logger?.info(
        { runId: request.runId, manifest: request.manifest, operator, committeeId: manifest.committee.id },
        "key share released",
      );
      return { runId: request.runId, manifest: request.manifest, keyholder: publicKey, wrappedShare };
    },

    /**
     * A committed model's weights key, to a serving worker. Checked in this order, what costs
     * nothing first:
     *
     * 1. the request is fresh and addressed to this keyholder, and its EIP-712 ModelKeyRequest
     *    signature recovers (no chain read);
     * 2. the run has a commitment in ModelCommitments and its encryptedWeightsURI is
     *    `ipfs://<manifest>` (kept once read: a commitment never changes, so a known run costs no
     *    RPC call; an unknown run id costs one, bounded by the per-peer limit);
     * 3. at the chain head, read fresh: the signer is an authorised worker (`isWorker`, at the head
     *    and `confirmations` blocks back; a stranger costs one read per head block and key), the kill
     *    switch is off and the run is not revoked;
     * 4. the manifest (verified against its CID) is this run's, for the committed weights hash,
     *    with a valid committee holding a share wrapped to this keyholder, which opens.
     *
     * "Authorised" is the registry's worker set: the same addresses the DAO lets serve queries and
     * settle them, so governance adds or removes a serving worker with the `setWorker` it already
     * uses, and the kill switch or a revoked run stops every release at once. A run's expiry does
     * not: it bounds when a run may train, not how long its committed model may be served.
     */
    async releaseModelKey(request) {
      const { signer, ephemeral } = await verifySignedRequest(request, "model key request", "ModelKeyRequest");

      const commitment = await readCommitment(request.runId);
      if (commitment === undefined || commitment.manifest !== request.manifest) {
        throw new WorkerError(
          "MODEL_NOT_COMMITTED",
          commitment === undefined
            ? `Run ${request.runId} has no committed model.`
            : `Manifest ${request.manifest} is not the model committed for run ${request.runId}.`,
          {
            hints: ["Ask for the manifest whose `ipfs://` URI is the run's encryptedWeightsURI in ModelCommitments."],
            extra: { runId: request.runId, manifest: request.manifest },
          },
        );
      }

      const state = await readServingState(request.runId, signer);
      if (!state.worker) {
        throw new WorkerError("MODEL_KEY_NOT_AUTHORISED", `${signer} is not an authorised worker.`, {
          hints: ["Sign with the key of a worker the DAO authorised (setWorker), as the serving worker does."],
          extra: { signer },
        });
      }
      if (state.killSwitch) {
        throw new WorkerError("KILL_SWITCH_ENGAGED", "The kill switch is engaged: no key share is released.", {
          hints: ["Only a governance proposal can lift the kill switch."],
        });
      }
      if (state.revoked) {
        throw new WorkerError(
          "TRAINING_RUN_REVOKED",
          `Training run ${request.runId} was revoked: its model is not served.`,
          {
            extra: { runId: request.runId },
          },
        );
      }

      const manifest = parseModelManifest(await readManifest(request));
      if (
        manifest.runId.toLowerCase() !== request.runId ||
        manifest.weightsHash.toLowerCase() !== commitment.weightsHash
      ) {
        throw new WorkerError("MODEL_NOT_COMMITTED", "The manifest is not for this run's committed weights.", {
          extra: { runId: request.runId, manifest: request.manifest },
        });
      }
      const wrappedShare = rewrapOwnShare(manifest, "model", ephemeral, modelKeyReleaseContext(request));
      logger?.info({ runId: request.runId, manifest: request.manifest, worker: signer }, "model key share released");
      return { runId: request.runId, manifest: request.manifest, keyholder: publicKey, wrappedShare };
    },
  };

  /**
   * The checks every signed request gets before any chain read, cheapest first: fresh, addressed
   * to this keyholder, an ephemeral key that is a point, and a signature that recovers.
   */
  async function verifySignedRequest(
    request: SignedKeyholderRequest,
    what: string,
    primaryType: "ShareRequest" | "ModelKeyRequest",
  ): Promise<{ signer: Address; ephemeral: Uint8Array }> {
    requireFresh(request.issuedAt, what);
    if (request.keyholder.toLowerCase() !== publicKey.toLowerCase()) {
      throw new WorkerError("VALIDATION_FAILED", `The ${what} is addressed to another keyholder.`, {
        hints: [`This keyholder's public key is ${publicKey}.`],
        extra: { field: "keyholder" },
      });
    }
    const ephemeral = hexToBytes(request.ephemeralPublicKey);
    assertKeyholderPublicKey(ephemeral);
    const signer = await recoverTypedDataSigner(
      {
        domain,
        types: primaryType === "ShareRequest" ? shareRequestTypes : modelKeyRequestTypes,
        primaryType,
        message: {
          runId: request.runId,
          manifest: request.manifest,
          keyholder: request.keyholder,
          ephemeralPublicKey: request.ephemeralPublicKey,
          issuedAt: BigInt(request.issuedAt),
        },
      },
      request.signature,
    );
    return { signer, ephemeral };
  }

  /**
   * This keyholder's share of a manifest's key, opened and wrapped again to the requester's
   * ephemeral key under `context`; the opened share is wiped before returning.
   */
  function rewrapOwnShare(
    manifest: Pick<ModelManifest, "committee" | "associatedData">,
    whose: "submission" | "model",
    ephemeral: Uint8Array,
    context: Uint8Array,
  ): Hex {
    // A committee with a key listed twice gave its holder two shares (enough to open the key
    // alone when the threshold is 2), and one with a key that is no point was never the DAO's
    // k-of-n: release nothing of it. Final for this manifest, which cannot change.
    assertValidCommittee(
      {
        id: manifest.committee.id,
        members: manifest.committee.shares.map((share) => share.member as Address),
        publicKeys: manifest.committee.shares.map((share) => share.publicKey),
        threshold: manifest.committee.threshold,
      },
      { retryable: false },
    );
    const mine = manifest.committee.shares.find((share) => share.publicKey.toLowerCase() === publicKey.toLowerCase());
    if (!mine) {
      throw new WorkerError("KEYHOLDER_NOT_IN_COMMITTEE", `The ${whose}'s key was not shared with this keyholder.`, {
        hints: [`Ask the keyholders of committee ${manifest.committee.id}, which the manifest lists.`],
        extra: { committeeId: manifest.committee.id },
      });
    }
    const share = unwrapKeyShare(hexToBytes(mine.wrappedShare), {
      privateKey,
      context: hexToBytes(manifest.associatedData),
    });
    try {
      return toHex(wrapKeyShare(share, { recipientPublicKey: ephemeral, context }));
    } finally {
      share.fill(0);
    }
  }

  async function readManifest(request: Pick<ShareRequest, "manifest" | "manifestDocument">): Promise<Uint8Array> {
    if (request.manifestDocument !== undefined) {
      const bytes = new TextEncoder().encode(request.manifestDocument);
      const cid = (await computeCid([bytes])).toString();
      if (cid !== request.manifest) {
        // The bytes came from the requester, not from a store: a mismatch is the request's fault (a
        // 4xx), never the keyholder's, so a forged manifest cannot make it answer with a 5xx.
        throw new WorkerError("VALIDATION_FAILED", "The manifestDocument sent does not have the CID named.", {
          hints: ["Send the manifest's exact bytes as stored on IPFS under the CID named in `manifest`."],
          extra: { field: "manifestDocument", manifest: request.manifest, computed: cid },
        });
      }
      return bytes;
    }
    if (!parameters.store) {
      throw new WorkerError(
        "VALIDATION_FAILED",
        "This keyholder has no IPFS node: send the manifest with the request.",
        {
          extra: { field: "manifestDocument" },
        },
      );
    }
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of parameters.store.get(request.manifest)) chunks.push(chunk);
    } catch (cause) {
      throw isWorkerError(cause)
        ? cause
        : new WorkerError("STORAGE_UNAVAILABLE", "The keyholder cannot read the manifest.", { cause });
    }
    return Buffer.concat(chunks);
  }
}

/**
 * Keeps a run's read in `cache` so that concurrent requests share it, and afterwards only when it
 * found something: a run id with nothing yet may have something later, and a stranger's made-up
 * ids must not fill the map. At most MAX_CACHED_RUNS are kept, the oldest dropped first.
 */
function keepOnceFound<T>(cache: Map<Hex, Promise<T | undefined>>, runId: Hex, reading: Promise<T | undefined>) {
  cache.set(runId, reading);
  reading.then(
    (found) => {
      if (found === undefined) cache.delete(runId);
      else if (cache.size > MAX_CACHED_RUNS) cache.delete(cache.keys().next().value!);
    },
    () => cache.delete(runId),
  );
  return reading;
}

function notApproved(runId: Hex): WorkerError {
  return new WorkerError("TRAINING_RUN_NOT_APPROVED", `Training run ${runId} is not approved on chain.`, {
    hints: [
      "The run must be approved by a proposal, not revoked, not expired, with an operator that is still an authorised worker.",
      "A fresh approval counts once it has the keyholder's configured confirmations.",
    ],
    extra: { runId },
  });
}

function chainUnavailable(cause: unknown): WorkerError {
  return new WorkerError("CHAIN_UNAVAILABLE", "The keyholder cannot read the PolicyRegistry.", {
    cause,
    hints: ["Operators: check the keyholder's RPC URL and the node's health. Nothing is released meanwhile."],
  });
}
