import { toHex, type Hex } from "viem";
import { encryptStream } from "../crypto/encryptStream.ts";
import { generateDataKey } from "../crypto/generateDataKey.ts";
import { splitDataKey } from "../crypto/splitDataKey.ts";
import { assertValidCommittee } from "../crypto/validateCommittee.ts";
import { wrapKeyShare } from "../crypto/wrapKeyShare.ts";
import type { Committee } from "../policy/Policy.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { hexToBytes } from "./submissionManifest.ts";

// v2 dropped v1's ciphertextSha256, which the ciphertext's CID already binds.
export const MODEL_MANIFEST_FORMAT = "dao-ai/encrypted-model/v2";

/**
 * The manifest of a model's encrypted weights, on IPFS; `ipfs://<its CID>` is the
 * `encryptedWeightsURI` committed on chain. It has the shape of a submission manifest so the
 * same committee and the same tools can open it when the DAO decides to.
 */
export type ModelManifest = {
  format: typeof MODEL_MANIFEST_FORMAT;
  runId: Hex;
  weightsHash: Hex;
  trainingSetHash: Hex;
  size: string;
  ciphertext: string;
  associatedData: Hex;
  committee: { id: string; threshold: number; shares: { member: string; publicKey: Hex; wrappedShare: Hex }[] };
};

/** What a model's ciphertext and wrapped shares are bound to. */
export function modelAssociatedData(p: { runId: Hex; weightsHash: Hex; trainingSetHash: Hex; committeeId: bigint }) {
  return new TextEncoder().encode(
    [
      "dao-ai/model/v1",
      p.runId.toLowerCase(),
      p.weightsHash.toLowerCase(),
      p.trainingSetHash.toLowerCase(),
      p.committeeId,
    ].join("|"),
  );
}

export type EncryptModelWeightsParameters = {
  runId: Hex;
  weights: Uint8Array;
  weightsHash: Hex;
  trainingSetHash: Hex;
  committee: Committee;
  store: ContentStore;
};

/**
 * Encrypts trained weights as submissions are encrypted: a fresh data key, the streaming AEAD,
 * the key split k-of-n to the committee in force and each share wrapped to one keyholder. The
 * whole key exists only here, in memory, and is wiped before returning.
 */
export async function encryptModelWeights(
  parameters: EncryptModelWeightsParameters,
): Promise<{ manifestCid: string; uri: string; manifest: ModelManifest }> {
  const { committee, store } = parameters;
  // As for submissions: no model is encrypted to a committee whose key is listed twice or is no
  // point, and nothing is stored first.
  assertValidCommittee(committee);
  const associatedData = modelAssociatedData({ ...parameters, committeeId: committee.id });
  const key = generateDataKey();
  try {
    const ciphertext = await store.put(encryptStream([parameters.weights], { key, associatedData }));
    const shares = await splitDataKey(key, { threshold: committee.threshold, shares: committee.members.length });
    const wrapped = shares.map((share, i) => {
      const wrappedShare = toHex(
        wrapKeyShare(share, { recipientPublicKey: hexToBytes(committee.publicKeys[i]!), context: associatedData }),
      );
      share.fill(0);
      return { member: committee.members[i]!, publicKey: committee.publicKeys[i]!, wrappedShare };
    });
    const manifest: ModelManifest = {
      format: MODEL_MANIFEST_FORMAT,
      runId: parameters.runId,
      weightsHash: parameters.weightsHash,
      trainingSetHash: parameters.trainingSetHash,
      size: String(parameters.weights.byteLength),
      ciphertext: ciphertext.cid.toString(),
      associatedData: toHex(associatedData),
      committee: { id: committee.id.toString(), threshold: committee.threshold, shares: wrapped },
    };
    const stored = await store.put([new TextEncoder().encode(JSON.stringify(manifest))]);
    return { manifestCid: stored.cid.toString(), uri: `ipfs://${stored.cid.toString()}`, manifest };
  } finally {
    key.fill(0);
  }
}
