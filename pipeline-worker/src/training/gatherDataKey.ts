import { toHex, type Account, type Address, type Chain, type Hex, type Transport, type WalletClient } from "viem";
import { combineKeyShares } from "../crypto/combineKeyShares.ts";
import { generateKeyholderKeyPair } from "../crypto/keyholderKeys.ts";
import { unwrapKeyShare } from "../crypto/wrapKeyShare.ts";
import type { ErrorCode } from "../internal/errorCodes.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { KeyholderClient } from "../keyholder/createKeyholderClient.ts";
import { keyholderDomain, shareReleaseContext, shareRequestTypes } from "../keyholder/shareRequest.ts";
import type { SubmissionManifest } from "./submissionManifest.ts";
import { hexToBytes } from "./submissionManifest.ts";

/** Refusals that no other keyholder and no other submission would answer differently: they end a run. */
export const RUN_ENDING_CODES: ReadonlySet<ErrorCode> = new Set([
  "KILL_SWITCH_ENGAGED",
  "TRAINING_RUN_NOT_APPROVED",
  "NOT_RUN_OPERATOR",
  "RUN_SPEC_MISMATCH",
  "SIGNATURE_INVALID",
]);

export type GatherDataKeyParameters = {
  runId: Hex;
  manifestCid: string;
  manifest: SubmissionManifest;
  /** The manifest's bytes, sent along so keyholders need no IPFS node of their own. */
  manifestDocument: string;
  /** Keyholders by their public key (lowercase 0x-hex). */
  keyholders: ReadonlyMap<string, KeyholderClient>;
  /** The run's operator, which signs the requests (a local key or a node's unlocked account). */
  operator: WalletClient<Transport, Chain, Account>;
  chainId: number;
  policyRegistry: Address;
  /** Unix seconds. */
  nowSeconds: number;
};

/**
 * Reconstructs one submission's data key from its committee's keyholders: asks them in the
 * manifest's order, each with a signed request and the same fresh ephemeral key, until the
 * threshold of shares is in. A refusal that ends the run is thrown at once; anything else about
 * one keyholder (down, not in this committee) only moves on to the next, and too few shares in
 * the end is KEY_SHARES_INSUFFICIENT listing what each keyholder answered.
 */
export async function gatherDataKey(parameters: GatherDataKeyParameters): Promise<Uint8Array> {
  const { manifest, operator } = parameters;
  const ephemeral = generateKeyholderKeyPair();
  const ephemeralPublicKey = toHex(ephemeral.publicKey);
  const domain = keyholderDomain(parameters.chainId, parameters.policyRegistry);
  const shares: Uint8Array[] = [];
  const refusals: { keyholder: string; code: string; detail: string }[] = [];
  try {
    for (const entry of manifest.committee.shares) {
      if (shares.length >= manifest.committee.threshold) break;
      const keyholder = entry.publicKey.toLowerCase() as Hex;
      const client = parameters.keyholders.get(keyholder);
      if (!client) {
        refusals.push({ keyholder, code: "NOT_FOUND", detail: "No endpoint is configured for this keyholder." });
        continue;
      }
      const message = {
        runId: parameters.runId,
        manifest: parameters.manifestCid,
        keyholder,
        ephemeralPublicKey,
        issuedAt: BigInt(parameters.nowSeconds),
      };
      const signature = await operator.signTypedData({
        account: operator.account,
        domain,
        types: shareRequestTypes,
        primaryType: "ShareRequest",
        message,
      });
      try {
        const release = await client.releaseShare({
          ...message,
          issuedAt: parameters.nowSeconds,
          signature,
          manifestDocument: parameters.manifestDocument,
        });
        shares.push(
          unwrapKeyShare(hexToBytes(release.wrappedShare), {
            privateKey: ephemeral.privateKey,
            context: shareReleaseContext(message),
          }),
        );
      } catch (error) {
        if (isWorkerError(error) && RUN_ENDING_CODES.has(error.code)) throw error;
        refusals.push({
          keyholder: client.name,
          code: isWorkerError(error) ? error.code : "INTERNAL",
          detail: isWorkerError(error) ? error.shortMessage : String(error),
        });
      }
    }
    if (shares.length < manifest.committee.threshold) {
      throw new WorkerError(
        "KEY_SHARES_INSUFFICIENT",
        `${shares.length} of the ${manifest.committee.threshold} key shares needed were released.`,
        { extra: { refusals } },
      );
    }
    return await combineKeyShares(shares);
  } finally {
    for (const share of shares) share.fill(0);
    ephemeral.privateKey.fill(0);
  }
}
