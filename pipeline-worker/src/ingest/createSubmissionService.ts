import {
  encodeAbiParameters,
  getAddress,
  hashTypedData,
  keccak256,
  toHex,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { contributorRewardsAbi } from "../abis.ts";
import { recoverTypedDataSigner } from "../chain/signatures.ts";
import { submissionDomain, submissionTypes } from "../chain/typedData.ts";
import { createOffThreadSha256Tap } from "../crypto/createOffThreadSha256Tap.ts";
import { createSha256Tap } from "../crypto/createSha256Tap.ts";
import { encryptStream } from "../crypto/encryptStream.ts";
import { generateDataKey } from "../crypto/generateDataKey.ts";
import { splitDataKey } from "../crypto/splitDataKey.ts";
import { assertValidCommittee } from "../crypto/validateCommittee.ts";
import { wrapKeyShare } from "../crypto/wrapKeyShare.ts";
import { DEFAULT_MAX_CONCURRENT_UPLOADS } from "../internal/configSchema.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { ErrorCode } from "../internal/errorCodes.ts";
import { isSubmitter, type Policy } from "../policy/Policy.ts";
import type { PolicySync } from "../policy/createPolicySync.ts";
import type { ContentStore, PutResult } from "../storage/ContentStore.ts";
import type { Journal, SubmissionRecord } from "../storage/createJournal.ts";
import { checkAttestations } from "./checkAttestations.ts";
import { createTrainingDataValidator } from "./createTrainingDataValidator.ts";
import type { RecordPool } from "./createRecordPool.ts";
import type { SubmissionEnvelope, SubmissionStatus, SubmissionValidation } from "../api/submissionWire.ts";
import { submissionStatus } from "./submissionStatus.ts";
import { isUploadToken, issueUploadToken } from "./uploadToken.ts";

/**
 * Payloads at least this large have their hash computed on another thread, beside the encryption
 * and storing on this one. Handing the bytes over (a copy into a shared ring) costs the event loop
 * about a quarter of hashing them in place (a one-off measurement: 0.6 ms against 2.2 ms for 4 MiB; `npm run bench -- ingest` times the
 * whole path); below
 * this size the hash takes at most about 2 ms and the saving is not worth holding a thread.
 */
const OFF_THREAD_HASH_BYTES = 4n * 1024n * 1024n;

/** What UPLOADS_BUSY tells a client to wait before it tries again (the Retry-After header). */
export const UPLOAD_RETRY_AFTER_SECONDS = 5;

/**
 * The refusals of an upload that end its submission for good: they are about the submission (its
 * contributor was removed from the allowlist, its signature expired) or about the very bytes it
 * was signed for (they are not valid training data, or bring nothing new to the pool), so no
 * upload can ever succeed. Every other refusal, wrong bytes included, leaves it awaiting its data:
 * a stranger cannot upload at all, and a contributor's client that sent the wrong file may send
 * the right one.
 */
const ENDS_SUBMISSION: ReadonlySet<ErrorCode> = new Set([
  "SUBMITTER_NOT_ALLOWED",
  "SIGNATURE_EXPIRED",
  "DATA_NOT_UTF8",
  "DATA_LINE_MALFORMED",
  "DATA_LABEL_UNKNOWN",
  "DATA_FIELD_LENGTH",
  "DATA_TOO_MANY_RECORDS",
  "DATA_HIDDEN_CHARACTERS",
  "DATA_EMPTY",
  "DATA_NO_UNIQUE_RECORDS",
]);

export type CreateSubmissionServiceParameters = {
  client: PublicClient;
  chainId: number;
  contracts: { eas: Address; contributorRewards: Address };
  /** The kill switch aborts uploads in flight the moment the policy sync sees it. */
  policy: Pick<PolicySync, "requireFreshPolicy" | "onKillSwitch">;
  journal: Journal;
  store: ContentStore;
  /** The records accepted so far, against which each submission's duplicates are counted. */
  recordPool: RecordPool;
  maxPayloadBytes: number;
  /** Uploads read at once; one more is refused UPLOADS_BUSY before its body is read. */
  maxConcurrentUploads?: number;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  logger: Logger;
  metrics: Metrics;
};

export type SubmissionService = ReturnType<typeof createSubmissionService>;

/** The answer to an accepted POST: the submission, and the capability to upload its data (shown once). */
export type BegunSubmission = SubmissionStatus & { uploadToken: string };

/** The bytes every ciphertext and wrapped share of a submission is bound to (AEAD associated data). */
export function submissionAssociatedData(record: {
  id: string;
  contributor: string;
  dataHash: string;
  size: string;
  committeeId: string;
}): Uint8Array {
  return new TextEncoder().encode(
    [
      "dao-ai/submission/v1",
      record.id,
      record.contributor.toLowerCase(),
      record.dataHash.toLowerCase(),
      record.size,
      record.committeeId,
    ].join("|"),
  );
}

/** A submission's id: one per contributor and nonce, so a nonce can be spent once. */
export function submissionId(contributor: Address, nonce: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [getAddress(contributor), nonce]));
}

/**
 * Takes training data in as the policy allows. `begin` checks everything that can be checked
 * before a byte of data arrives (kill switch, chain, size, signature, deadline, allowlist, nonce,
 * duplicates, attestations) and journals the submission; `upload` streams the data through a
 * SHA-256 and the encryption straight into the content store, then checks the hash and size
 * against what was signed and attested, splits the data key k-of-n and wraps each share to one
 * keyholder, and stores the manifest. The plaintext and the whole key are never written anywhere.
 *
 * Only the client that began a submission can upload its data: `begin` returns a random upload
 * token and journals only its hash, and `upload` takes the token back. A submission takes one
 * upload at a time, only while it awaits its data, so no upload can undo another's or move a
 * stored submission back.
 */
export function createSubmissionService(parameters: CreateSubmissionServiceParameters) {
  const { client, journal, store, logger, metrics } = parameters;
  const now = parameters.now ?? Date.now;
  const maxConcurrentUploads = parameters.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  /** Data hashes with a submission in flight in this worker (rebuilt at start by `resume`). */
  const inFlight = new Map<string, string>();
  /**
   * Data hashes that a `begin` is checking now. A hash is claimed here in the same synchronous
   * step that finds it free, before the duplicate and nonce checks await anything, so two
   * concurrent POSTs of the same data cannot both pass them; the claim ends when that `begin` does.
   */
  const claimed = new Set<string>();
  /**
   * Uploads being read, by submission id. It is an invariant that a submission has at most one
   * entry, taken in the same synchronous step that finds none and held until its upload has
   * ended; only the holder moves the submission from `verified`, and nothing expires it meanwhile.
   */
  const uploads = new Map<string, AbortController>();

  const unsubscribe = parameters.policy.onKillSwitch((change) => {
    if (!change.engaged) return;
    if (uploads.size > 0) logger.warn({ inFlight: uploads.size }, "Kill switch: aborting uploads in flight.");
    for (const controller of uploads.values()) controller.abort(killSwitchError(change.killSwitch.reason));
  });

  function freshPolicy(): Policy {
    const policy = parameters.policy.requireFreshPolicy().policy;
    if (policy.killSwitch.engaged) throw killSwitchError(policy.killSwitch.reason, policy.killSwitch.engagedBy);
    // A registry may hold a committee with a key listed twice (its holder could open data alone)
    // or a key that is no point (every upload would fail after storing): take nothing under it.
    // Checked here, before a byte is stored, for `begin` and `upload` alike (id 0: none set yet).
    if (policy.committee.id !== 0n) assertValidCommittee(policy.committee);
    return policy;
  }

  function refuse(error: WorkerError): never {
    metrics.submissions.inc({ outcome: "refused" });
    throw error;
  }

  async function begin(envelope: SubmissionEnvelope): Promise<BegunSubmission> {
    try {
      return await beginChecked(envelope);
    } catch (error) {
      if (error instanceof WorkerError) refuse(error);
      throw error;
    }
  }

  async function beginChecked(envelope: SubmissionEnvelope): Promise<BegunSubmission> {
    const policy = freshPolicy();
    if (envelope.chainId !== parameters.chainId) {
      throw new WorkerError(
        "WRONG_CHAIN",
        `The submission was signed for chain ${envelope.chainId}; this worker serves chain ${parameters.chainId}.`,
        {
          hints: ["Sign for the chain in GET /v1/eip712, or send it to a worker of that chain."],
          extra: { expectedChainId: parameters.chainId },
        },
      );
    }
    const size = BigInt(envelope.size);
    if (size === 0n) throw new WorkerError("VALIDATION_FAILED", "The data is empty.", { extra: { field: "size" } });
    if (size > BigInt(parameters.maxPayloadBytes)) {
      throw new WorkerError(
        "PAYLOAD_TOO_LARGE",
        `The data is ${size} bytes; this worker takes at most ${parameters.maxPayloadBytes}.`,
        {
          extra: { limit: parameters.maxPayloadBytes },
        },
      );
    }
    const nowSeconds = BigInt(Math.floor(now() / 1000));
    if (BigInt(envelope.deadline) < nowSeconds) {
      throw new WorkerError(
        "SIGNATURE_EXPIRED",
        `The signature expired at ${new Date(envelope.deadline * 1000).toISOString()}.`,
        {
          hints: ["Sign again with a later deadline."],
        },
      );
    }
    const contributor = getAddress(envelope.contributor);
    const nonce = BigInt(envelope.nonce);
    const message = { contributor, dataHash: envelope.dataHash, size, nonce, deadline: BigInt(envelope.deadline) };
    const domain = submissionDomain(parameters.chainId, parameters.contracts.contributorRewards);
    const signer = await recoverTypedDataSigner(
      { domain, types: submissionTypes, primaryType: "Submission", message },
      envelope.signature,
    );
    if (signer !== contributor) {
      throw new WorkerError("SIGNATURE_INVALID", "The signature is not the contributor's over this submission.", {
        hints: [
          "Sign the Submission exactly as GET /v1/eip712 describes, with the contributor's key, for this chain and contract.",
        ],
      });
    }
    if (!isSubmitter(policy, contributor)) {
      throw new WorkerError("SUBMITTER_NOT_ALLOWED", `${contributor} is not on the submitter allowlist.`, {
        hints: ["Ask the DAO to allow this address through a proposal."],
      });
    }
    // Claimed only once the signature and the allowlist hold, so that a stranger's bogus POSTs
    // naming someone's data hash cannot hold that data back.
    const dataKey = envelope.dataHash.toLowerCase();
    if (claimed.has(dataKey)) throw duplicateSubmission(inFlight.get(dataKey));
    claimed.add(dataKey);
    try {
      return await beginClaimed(envelope, policy, { contributor, nonce, size, nowSeconds, domain, message });
    } finally {
      claimed.delete(dataKey);
    }
  }

  async function beginClaimed(
    envelope: SubmissionEnvelope,
    policy: Policy,
    signed: {
      contributor: Address;
      nonce: bigint;
      size: bigint;
      nowSeconds: bigint;
      domain: ReturnType<typeof submissionDomain>;
      message: { contributor: Address; dataHash: Hex; size: bigint; nonce: bigint; deadline: bigint };
    },
  ): Promise<BegunSubmission> {
    const { contributor, nonce, size, nowSeconds, domain, message } = signed;
    const id = submissionId(contributor, nonce);
    if (await journal.get(id)) {
      throw new WorkerError("NONCE_REPLAYED", `Nonce ${nonce} of ${contributor} was already used.`, {
        hints: ["Sign the submission again with a nonce you have not used."],
        extra: { submissionId: id },
      });
    }
    await refuseDuplicate(envelope.dataHash);
    if (policy.committee.threshold === 0) {
      throw new WorkerError(
        "POLICY_STALE",
        "The policy has no keyholder committee yet, so data could not be encrypted to it.",
        {
          hints: ["The DAO must set the keyholder committee through a proposal before data can be submitted."],
        },
      );
    }
    const checked = await checkAttestations({
      client,
      eas: parameters.contracts.eas,
      chainId: parameters.chainId,
      contributor,
      dataHash: envelope.dataHash,
      size,
      attestations: envelope.attestations,
      requirement: policy.attestation,
      now: nowSeconds,
    });

    const { token, tokenHash } = issueUploadToken();
    const { record, created } = await journal.begin(id, {
      contributor: contributor.toLowerCase(),
      data: {
        envelope,
        digest: hashTypedData({ domain, types: submissionTypes, primaryType: "Submission", message }),
        uploadTokenHash: tokenHash,
      },
    });
    if (!created)
      throw new WorkerError("NONCE_REPLAYED", `Nonce ${nonce} of ${contributor} was already used.`, {
        extra: { submissionId: id },
      });
    inFlight.set(envelope.dataHash.toLowerCase(), id);
    const verified = await journal.advance(record.id, "verified", {
      policyVersion: policy.policyVersion.toString(),
      committeeId: policy.committee.id.toString(),
      attestations: checked,
    });
    metrics.submissions.inc({ outcome: "accepted" });
    logger.info({ submission: id, contributor, size: envelope.size }, "submission accepted, awaiting data");
    return { ...submissionStatus(verified), uploadToken: token };
  }

  /**
   * Rejects a submission that can never get its data: interrupted before it was verified, or still
   * awaiting data after its signature expired. Its data hash is free again; its nonce stays spent.
   */
  async function expireIfAbandoned(record: SubmissionRecord): Promise<boolean> {
    // An upload in flight began before the deadline and may finish: it decides the submission's fate.
    if (uploads.has(record.id)) return false;
    const envelope = record.data.received?.envelope as SubmissionEnvelope | undefined;
    const expired = envelope !== undefined && BigInt(envelope.deadline) < BigInt(Math.floor(now() / 1000));
    if (record.step === "received" || (record.step === "verified" && expired)) {
      await journal.advance(record.id, "rejected", {
        code: "SIGNATURE_EXPIRED",
        detail: "The data did not arrive before the signature's deadline; sign a new submission.",
      });
      if (envelope) inFlight.delete(envelope.dataHash.toLowerCase());
      metrics.submissions.inc({ outcome: "rejected" });
      return true;
    }
    return false;
  }

  async function refuseDuplicate(dataHash: Hex): Promise<void> {
    let pending = inFlight.get(dataHash.toLowerCase());
    const pendingRecord = pending === undefined ? undefined : await journal.get(pending);
    if (pendingRecord && (await expireIfAbandoned(pendingRecord))) pending = undefined;
    const onChain = await client.readContract({
      address: parameters.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
    });
    if (pending !== undefined || onChain.contributor !== "0x0000000000000000000000000000000000000000") {
      throw duplicateSubmission(pending);
    }
  }

  function duplicateSubmission(pending: string | undefined): WorkerError {
    return new WorkerError("DUPLICATE_SUBMISSION", "This data was already submitted.", {
      hints: ["Each piece of data is accepted once; check GET /v1/submissions?contributor=... for its state."],
      extra: pending ? { submissionId: pending } : {},
    });
  }

  /**
   * Streams the data in, for the client that holds the submission's upload token. Everything that
   * can refuse an upload without reading it (the token, another upload in flight, the cap on
   * concurrent uploads, the kill switch, the allowlist, the deadline) is checked first. Only a
   * refusal about the submission itself ends it (ENDS_SUBMISSION); any other failure, data that is
   * not what was signed included, keeps nothing of the upload and leaves the submission awaiting
   * its data, to be PUT again whole, since a half-read upload cannot be resumed over HTTP.
   */
  async function upload(
    id: string,
    source: AsyncIterable<Uint8Array>,
    options: {
      uploadToken: string | undefined;
      /** Aborts the upload, e.g. when its client's connection closes: its place is free at once. */
      signal?: AbortSignal | undefined;
    },
  ): Promise<SubmissionStatus> {
    const found = await journal.get(id);
    if (!found)
      throw new WorkerError("NOT_FOUND", `There is no submission ${id}.`, {
        hints: ["POST the envelope to /v1/submissions first."],
      });
    if (!isUploadToken(options.uploadToken, found.data.received?.uploadTokenHash)) {
      throw new WorkerError(
        "UPLOAD_UNAUTHORISED",
        options.uploadToken === undefined
          ? `Uploading to submission ${id} needs its upload token.`
          : `That is not the upload token of submission ${id}.`,
        {
          hints: [
            "Send Authorization: Bearer <uploadToken>, with the uploadToken of the POST /v1/submissions answer that began it.",
          ],
        },
      );
    }
    // From here to taking the slot nothing is awaited: two uploads cannot both find it free.
    if (uploads.has(id)) {
      throw new WorkerError("UPLOAD_IN_PROGRESS", `Another upload of submission ${id} is in progress.`, {
        hints: ["Wait for its answer; PUT again only if the submission still awaits its data after it."],
      });
    }
    if (uploads.size >= maxConcurrentUploads) {
      throw new WorkerError("UPLOADS_BUSY", `The worker is already taking ${uploads.size} uploads.`, {
        hints: [`Send the upload again in ${UPLOAD_RETRY_AFTER_SECONDS} seconds.`],
        extra: { retryAfterSeconds: UPLOAD_RETRY_AFTER_SECONDS, limit: maxConcurrentUploads },
      });
    }
    const controller = new AbortController();
    uploads.set(id, controller);
    const external = options.signal;
    const onExternalAbort = () => controller.abort(external!.reason);
    if (external?.aborted) onExternalAbort();
    external?.addEventListener("abort", onExternalAbort, { once: true });
    try {
      return await uploadHeld(id, source, controller.signal);
    } finally {
      external?.removeEventListener("abort", onExternalAbort);
      uploads.delete(id);
    }
  }

  async function uploadHeld(id: string, source: AsyncIterable<Uint8Array>, signal: AbortSignal) {
    // Read again now that this upload holds the submission: one that ended just before may have stored it.
    const record = (await journal.get(id))!;
    if (record.step !== "verified") {
      throw new WorkerError(
        "DUPLICATE_SUBMISSION",
        `Submission ${id} already has its data (state: ${submissionStatus(record).state}).`,
      );
    }
    const envelope = record.data.received!.envelope as SubmissionEnvelope;
    try {
      signal.throwIfAborted();
      const policy = freshPolicy();
      if (!isSubmitter(policy, envelope.contributor)) {
        throw new WorkerError("SUBMITTER_NOT_ALLOWED", `${envelope.contributor} was removed from the allowlist.`);
      }
      if (BigInt(envelope.deadline) < BigInt(Math.floor(now() / 1000))) {
        throw new WorkerError("SIGNATURE_EXPIRED", "The signature expired before the data arrived.", {
          hints: ["Sign again and upload before the deadline."],
        });
      }
      // The data is encrypted to the committee in force now, which may be newer than at `begin`;
      // the manifest names the committee it used.
      return await storeData(record, envelope, policy, source, signal);
    } catch (error) {
      // An abort shows up wherever the stream was (the store, the hash, the encryption) in that
      // part's own words; the caller is told why it was aborted.
      const reason: unknown = signal.aborted ? signal.reason : error;
      const workerError = isWorkerError(reason)
        ? reason
        : new WorkerError("STORAGE_UNAVAILABLE", "Storing the data failed.", { cause: error });
      if (ENDS_SUBMISSION.has(workerError.code)) {
        await journal.advance(id, "rejected", { code: workerError.code, detail: workerError.shortMessage });
        inFlight.delete(envelope.dataHash.toLowerCase());
        metrics.submissions.inc({ outcome: "rejected" });
      }
      throw workerError;
    }
  }

  async function storeData(
    record: SubmissionRecord,
    envelope: SubmissionEnvelope,
    policy: Policy,
    source: AsyncIterable<Uint8Array>,
    signal: AbortSignal,
  ): Promise<SubmissionStatus> {
    const committee = policy.committee;
    const associatedData = submissionAssociatedData({
      ...envelope,
      id: record.id,
      committeeId: committee.id.toString(),
    });
    const key = generateDataKey();
    try {
      const hash = BigInt(envelope.size) >= OFF_THREAD_HASH_BYTES ? createOffThreadSha256Tap() : createSha256Tap();
      const validator = createTrainingDataValidator();
      const limited = limitBytes(abortable(source, signal), BigInt(envelope.size));
      const ciphertext = await store.put(encryptStream(hash.tap(validator.tap(limited)), { key, associatedData }), {
        signal,
      });
      const dataHash = toHex(hash.digest());
      if (BigInt(hash.bytes) !== BigInt(envelope.size) || dataHash !== envelope.dataHash.toLowerCase()) {
        // Nothing of a refused upload is kept, not even its ciphertext; the submission still
        // awaits the bytes it was signed for.
        await store.remove(ciphertext.cid);
        throw new WorkerError("VALIDATION_FAILED", "The data does not match the signed and attested hash and size.", {
          hints: ["Upload exactly the bytes whose SHA-256 and size you signed; the submission still awaits them."],
          extra: { receivedSize: hash.bytes, receivedHash: dataHash },
        });
      }
      // These are the signed bytes: if they are not training data, or bring nothing new, no
      // upload of this submission can ever succeed, and nothing of it is kept.
      let validation: SubmissionValidation;
      try {
        validation = await parameters.recordPool.admit(record.id, validator.result());
        if (validation.weight === 0) throw noUniqueRecords(validation);
      } catch (error) {
        await store.remove(ciphertext.cid);
        throw error;
      }
      const shares = await splitDataKey(key, { threshold: committee.threshold, shares: committee.members.length });
      const wrapped = shares.map((share, i) => {
        const wrappedShare = toHex(
          wrapKeyShare(share, { recipientPublicKey: hexBytes(committee.publicKeys[i]!), context: associatedData }),
        );
        share.fill(0);
        return { member: committee.members[i]!, publicKey: committee.publicKeys[i]!, wrappedShare };
      });
      const manifest = {
        version: 2,
        submissionId: record.id,
        contributor: getAddress(envelope.contributor),
        dataHash: envelope.dataHash.toLowerCase(),
        size: envelope.size,
        ciphertext: ciphertext.cid.toString(),
        associatedData: toHex(associatedData),
        committee: { id: committee.id.toString(), threshold: committee.threshold, shares: wrapped },
      };
      let stored: PutResult;
      try {
        stored = await store.put([new TextEncoder().encode(JSON.stringify(manifest))]);
        // The last point at which the upload can still be withheld: a kill switch seen before the
        // journal says `stored` leaves nothing behind.
        if (signal.aborted) {
          await store.remove(stored.cid).catch(() => undefined);
          signal.throwIfAborted();
        }
      } catch (error) {
        // A ciphertext without its manifest can never be read: keep nothing of a failed upload.
        await store.remove(ciphertext.cid).catch(() => undefined);
        throw error;
      }
      const next = await journal.advance(record.id, "stored", {
        manifest: stored.cid.toString(),
        ciphertext: ciphertext.cid.toString(),
        validation,
      });
      metrics.submissions.inc({ outcome: "stored" });
      logger.info(
        { submission: record.id, manifest: stored.cid.toString(), ...validation },
        "submission validated and stored encrypted",
      );
      return submissionStatus(next);
    } finally {
      key.fill(0);
    }
  }

  /**
   * Passes at most `expected` bytes; one more is PAYLOAD_TOO_LARGE at once, so a client that lies
   * about the size cannot make the worker read (and store) more than it signed for.
   */
  async function* limitBytes(source: AsyncIterable<Uint8Array>, expected: bigint): AsyncGenerator<Uint8Array> {
    let seen = 0n;
    for await (const chunk of source) {
      seen += BigInt(chunk.byteLength);
      if (seen > expected) {
        throw new WorkerError("PAYLOAD_TOO_LARGE", `The upload is longer than the ${expected} bytes signed for.`);
      }
      yield chunk;
    }
  }

  /**
   * Passes the source on until `signal` aborts, then throws its reason at once, even while waiting
   * for a client that sends nothing; the source is closed either way.
   */
  async function* abortable(source: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const iterator = source[Symbol.asyncIterator]();
    // One listener per read, removed when the read settles: racing every read against one
    // long-lived promise would leave a reaction, and with it each chunk, on that promise.
    const read = () =>
      new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        signal.addEventListener("abort", onAbort, { once: true });
        iterator.next().then(
          (result) => {
            signal.removeEventListener("abort", onAbort);
            resolve(result);
          },
          (error: unknown) => {
            signal.removeEventListener("abort", onAbort);
            reject(error as Error);
          },
        );
      });
    try {
      for (;;) {
        signal.throwIfAborted();
        const result = await read();
        if (result.done) return;
        yield result.value;
      }
    } finally {
      if (signal.aborted) {
        // A read is still pending, and an async iterator's `return` waits behind it, i.e. for a
        // client that may send nothing more: destroy the body instead, which ends that read.
        (source as { destroy?: () => void }).destroy?.();
        void iterator.return?.()?.catch(() => undefined);
      } else {
        await iterator.return?.()?.catch(() => undefined);
      }
    }
  }

  /** Rebuilds the in-flight index after a restart. */
  async function resume(): Promise<SubmissionRecord[]> {
    const unfinished = await journal.listUnfinished();
    for (const record of unfinished) {
      const envelope = record.data.received?.envelope as SubmissionEnvelope | undefined;
      if (envelope) inFlight.set(envelope.dataHash.toLowerCase(), record.id);
      await expireIfAbandoned(record);
    }
    return journal.listUnfinished();
  }

  /** Forgets a finished submission's data hash (the recorder calls this). */
  function finished(dataHash: string): void {
    inFlight.delete(dataHash.toLowerCase());
  }

  return {
    begin,
    upload,
    resume,
    finished,
    /**
     * Stops taking data: aborts every upload in flight (a client-paced upload would otherwise hold
     * the worker's shutdown until its idle timeout) with a retryable WORKER_STOPPING; each keeps
     * nothing and its submission awaits its data, to be uploaded again with the same capability.
     */
    close() {
      unsubscribe();
      if (uploads.size > 0) logger.warn({ inFlight: uploads.size }, "Stopping: aborting uploads in flight.");
      for (const controller of uploads.values()) {
        controller.abort(
          new WorkerError("WORKER_STOPPING", "The worker is stopping; nothing of this upload was kept.", {
            hints: ["Upload the data again, with the same upload token, once the worker is back."],
          }),
        );
      }
    },
    async get(id: string): Promise<SubmissionStatus> {
      const record = await journal.get(id);
      if (!record) throw new WorkerError("NOT_FOUND", `There is no submission ${id}.`);
      return submissionStatus(record);
    },
    async listByContributor(contributor: Address): Promise<SubmissionStatus[]> {
      return (await journal.listByContributor(contributor.toLowerCase())).map(submissionStatus);
    },
  };
}

function noUniqueRecords(validation: SubmissionValidation): WorkerError {
  return new WorkerError(
    "DATA_NO_UNIQUE_RECORDS",
    `None of the ${validation.records} records is new: ${validation.duplicates} duplicates and ${validation.nearDuplicates} near duplicates of records already in the pool or earlier in the file.`,
    {
      hints: ["Submit records that are new to the pool (docs/model.md says how records are compared)."],
      extra: { validation },
    },
  );
}

function killSwitchError(reason: string, engagedBy?: string): WorkerError {
  return new WorkerError("KILL_SWITCH_ENGAGED", `The kill switch is engaged: ${reason}`, {
    hints: ["Nothing of the upload was kept. Only a governance proposal can lift the switch."],
    extra: { reason, ...(engagedBy === undefined ? {} : { engagedBy }) },
  });
}

function hexBytes(value: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}
