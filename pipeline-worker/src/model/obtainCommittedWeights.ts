import {
  toHex,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { modelCommitmentsAbi } from "../abis.ts";
import { combineKeyShares } from "../crypto/combineKeyShares.ts";
import { decryptStream } from "../crypto/decryptStream.ts";
import { generateKeyholderKeyPair } from "../crypto/keyholderKeys.ts";
import { unwrapKeyShare } from "../crypto/wrapKeyShare.ts";
import type { ErrorCode } from "../internal/errorCodes.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { KeyholderClient } from "../keyholder/createKeyholderClient.ts";
import { modelKeyReleaseContext, modelKeyRequestTypes } from "../keyholder/modelKeyRequest.ts";
import { keyholderDomain } from "../keyholder/shareRequest.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { parseModelManifest } from "../training/parseModelManifest.ts";
import { hexToBytes } from "../training/submissionManifest.ts";
import { embeddedWeightsHash } from "./createEmbeddedModel.ts";

/** Refusals every keyholder would give alike: asking the others is pointless, so they end the load. */
const LOAD_ENDING_CODES: ReadonlySet<ErrorCode> = new Set([
  "KILL_SWITCH_ENGAGED",
  "MODEL_KEY_NOT_AUTHORISED",
  "TRAINING_RUN_REVOKED",
  "MODEL_NOT_COMMITTED",
  "SIGNATURE_INVALID",
]);

export type ObtainCommittedWeightsParameters = {
  runId: Hex;
  client: PublicClient;
  modelCommitments: Address;
  policyRegistry: Address;
  chainId: number;
  /** Where the model manifest and ciphertext are read (the worker's Helia node or Kubo). */
  store: ContentStore;
  /** The keyholders to ask; matched to the manifest's committee by their public keys. */
  keyholders: readonly KeyholderClient[];
  /** The serving worker's account, which signs the requests: it must be an authorised worker. */
  worker: WalletClient<Transport, Chain | undefined, Account>;
  /** Unix seconds; injected by tests. */
  now?: () => number;
};

/**
 * How a serving worker gets its model: reads the run's commitment on chain, fetches the model
 * manifest it names and the ciphertext from the content store, asks the committee's keyholders
 * for their shares of the weights key (each wrapped to a fresh ephemeral key of this worker's),
 * combines the threshold of them, decrypts, and returns the weights only when their SHA-256 is the
 * committed weightsHash (WEIGHTS_MISMATCH otherwise: there is no unchecked path). The key and the
 * shares are wiped once the weights are decrypted; the weights exist only in this process.
 */
export async function obtainCommittedWeights(parameters: ObtainCommittedWeightsParameters): Promise<Uint8Array> {
  const { runId, store } = parameters;
  let commitment;
  try {
    commitment = await parameters.client.readContract({
      address: parameters.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitmentOf",
      args: [runId],
    });
  } catch (cause) {
    throw new WorkerError("CHAIN_UNAVAILABLE", "The worker cannot read the model's commitment.", { cause });
  }
  if (commitment.committedAt === 0n || !commitment.encryptedWeightsURI.startsWith("ipfs://")) {
    throw new WorkerError("MODEL_NOT_COMMITTED", `Run ${runId} has no committed model on IPFS.`, {
      hints: ["Set WORKER_MODEL_RUN_ID to a run whose training command committed its model."],
      extra: { runId },
    });
  }
  const manifestCid = commitment.encryptedWeightsURI.slice("ipfs://".length);
  const manifestBytes = await readAll(store, manifestCid, "model manifest");
  const manifest = parseModelManifest(manifestBytes);
  if (
    manifest.runId.toLowerCase() !== runId.toLowerCase() ||
    manifest.weightsHash.toLowerCase() !== commitment.weightsHash.toLowerCase()
  ) {
    throw new WorkerError("WEIGHTS_MISMATCH", `The manifest committed for run ${runId} names other weights.`, {
      extra: { manifest: manifestCid, weightsHash: manifest.weightsHash, committedWeightsHash: commitment.weightsHash },
    });
  }

  const key = await gatherWeightsKey(parameters, manifestCid, manifest, new TextDecoder().decode(manifestBytes));
  let weights: Uint8Array;
  try {
    weights = Buffer.concat(
      await collect(
        decryptStream(store.get(manifest.ciphertext), { key, associatedData: hexToBytes(manifest.associatedData) }),
      ),
    );
  } finally {
    key.fill(0);
  }
  const hash = embeddedWeightsHash(weights);
  if (hash !== commitment.weightsHash.toLowerCase()) {
    throw new WorkerError("WEIGHTS_MISMATCH", `The weights decrypted for run ${runId} are not the committed model.`, {
      hints: ["Do not serve them. Report it: the committed manifest holds other weights than the committed hash."],
      extra: { weightsHash: hash, committedWeightsHash: commitment.weightsHash },
    });
  }
  return weights;
}

/** Asks the committee's keyholders in the manifest's order until the threshold of shares is in. */
async function gatherWeightsKey(
  parameters: ObtainCommittedWeightsParameters,
  manifestCid: string,
  manifest: ReturnType<typeof parseModelManifest>,
  manifestDocument: string,
): Promise<Uint8Array> {
  const { worker } = parameters;
  const byKey = new Map<string, KeyholderClient>();
  const refusals: { keyholder: string; code: string; detail: string; retryable: boolean }[] = [];
  await Promise.all(
    parameters.keyholders.map(async (client) => {
      try {
        byKey.set((await client.publicKey()).toLowerCase(), client);
      } catch (error) {
        refusals.push({
          keyholder: client.name,
          code: "KEY_SHARES_INSUFFICIENT",
          detail: isWorkerError(error) ? error.shortMessage : String(error),
          retryable: true,
        });
      }
    }),
  );
  const ephemeral = generateKeyholderKeyPair();
  const ephemeralPublicKey = toHex(ephemeral.publicKey);
  const domain = keyholderDomain(parameters.chainId, parameters.policyRegistry);
  const issuedAt = parameters.now?.() ?? Math.floor(Date.now() / 1000);
  const shares: Uint8Array[] = [];
  try {
    for (const entry of manifest.committee.shares) {
      if (shares.length >= manifest.committee.threshold) break;
      const keyholder = entry.publicKey.toLowerCase() as Hex;
      const client = byKey.get(keyholder);
      if (!client) continue;
      const message = { runId: parameters.runId, manifest: manifestCid, keyholder, ephemeralPublicKey };
      const signature = await worker.signTypedData({
        account: worker.account,
        domain,
        types: modelKeyRequestTypes,
        primaryType: "ModelKeyRequest",
        message: { ...message, issuedAt: BigInt(issuedAt) },
      });
      try {
        const release = await client.releaseModelKey({ ...message, issuedAt, signature, manifestDocument });
        shares.push(
          unwrapKeyShare(hexToBytes(release.wrappedShare), {
            privateKey: ephemeral.privateKey,
            context: modelKeyReleaseContext(message),
          }),
        );
      } catch (error) {
        if (isWorkerError(error) && LOAD_ENDING_CODES.has(error.code)) throw error;
        refusals.push({
          keyholder: client.name,
          code: isWorkerError(error) ? error.code : "INTERNAL",
          detail: isWorkerError(error) ? error.shortMessage : String(error),
          // Unreachable (the client's KEY_SHARES_INSUFFICIENT) or busy: asking again may succeed.
          retryable: !isWorkerError(error) || error.retryable || error.code === "KEY_SHARES_INSUFFICIENT",
        });
      }
    }
    if (shares.length < manifest.committee.threshold) {
      throw new WorkerError(
        "KEY_SHARES_INSUFFICIENT",
        `${shares.length} of the ${manifest.committee.threshold} shares of the model's key were released.`,
        {
          hints: [
            "Check WORKER_MODEL_KEYHOLDERS: it must list reachable keyholders of the model's committee.",
            "See each keyholder's refusal.",
          ],
          retryable: refusals.some((refusal) => refusal.retryable),
          extra: { refusals },
        },
      );
    }
    return await combineKeyShares(shares);
  } finally {
    for (const share of shares) share.fill(0);
    ephemeral.privateKey.fill(0);
  }
}

async function readAll(store: ContentStore, cid: string, what: string): Promise<Uint8Array> {
  try {
    return Buffer.concat(await collect(store.get(cid)));
  } catch (cause) {
    throw isWorkerError(cause)
      ? cause
      : new WorkerError("STORAGE_UNAVAILABLE", `The worker cannot read the ${what} ${cid}.`, { cause });
  }
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks;
}
