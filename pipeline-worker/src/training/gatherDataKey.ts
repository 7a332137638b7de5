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
  /** The run's spec document, given again to a keyholder that lost it (one restarted mid-run). */
  spec?: Uint8Array | undefined;
};

/** The most key combinations tried when released shares do not open the data. */
const MAX_COMBINATIONS = 64;

/**
 * Reconstructs one submission's data key from its committee's keyholders and hands it to `use`
 * (which decrypts). Keyholders are asked in the manifest's order, each with a signed request and
 * the same fresh ephemeral key, until the threshold of shares is in. A refusal that ends the run
 * is thrown at once; anything else about one keyholder (down, not in this committee) only moves on
 * to the next, and too few shares in the end is KEY_SHARES_INSUFFICIENT listing what each
 * keyholder answered.
 *
 * A keyholder that answers with a wrong share (broken or lying) gives a wrong key, which the
 * authenticated decryption refuses (CIPHERTEXT_INVALID). Then the remaining keyholders are asked
 * too and every threshold-sized combination of the shares is tried (at most 64), so one bad
 * keyholder cannot keep data out of a run while enough honest ones answer.
 */
export async function recoverDataKey<T>(
  parameters: GatherDataKeyParameters,
  use: (key: Uint8Array) => Promise<T>,
): Promise<T> {
  const { manifest, operator } = parameters;
  const threshold = manifest.committee.threshold;
  const ephemeral = generateKeyholderKeyPair();
  const ephemeralPublicKey = toHex(ephemeral.publicKey);
  const domain = keyholderDomain(parameters.chainId, parameters.policyRegistry);
  const shares: Uint8Array[] = [];
  const refusals: { keyholder: string; code: string; detail: string; retryable?: boolean }[] = [];
  const pending = [...manifest.committee.shares];

  /** Asks the next keyholders until `wanted` shares in all are in, or none is left to ask. */
  async function gather(wanted: number): Promise<void> {
    for (let entry = pending.shift(); entry !== undefined; entry = pending.shift()) {
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
      const request = {
        ...message,
        issuedAt: parameters.nowSeconds,
        signature,
        manifestDocument: parameters.manifestDocument,
      };
      try {
        let release;
        try {
          release = await client.releaseShare(request);
        } catch (error) {
          // A keyholder restarted since the run began holds no spec: give it again and ask once more.
          if (!isWorkerError(error, "RUN_SPEC_UNKNOWN") || parameters.spec === undefined) throw error;
          await client.putSpec(parameters.runId, parameters.spec);
          release = await client.releaseShare(request);
        }
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
          retryable: !isWorkerError(error) || error.retryable,
        });
      }
      if (shares.length >= wanted) return;
    }
  }

  async function attempt(
    combination: readonly Uint8Array[],
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let key: Uint8Array;
    try {
      key = await combineKeyShares(combination);
    } catch (error) {
      // A malformed share (a repeated x coordinate, say) is as wrong as a wrong one.
      return { ok: false, error };
    }
    try {
      return { ok: true, value: await use(key) };
    } catch (error) {
      if (!isWorkerError(error, "CIPHERTEXT_INVALID")) throw error;
      return { ok: false, error };
    } finally {
      key.fill(0);
    }
  }

  try {
    await gather(threshold);
    if (shares.length < threshold) {
      // Retryable only when some keyholder was down or could not check the request now: asking
      // again later may then succeed. Refusals that would be the same again are not.
      const transient = refusals.filter((refusal) => refusal.retryable).map((refusal) => refusal.keyholder);
      throw new WorkerError(
        "KEY_SHARES_INSUFFICIENT",
        `${shares.length} of the ${threshold} key shares needed were released.`,
        {
          hints:
            transient.length > 0
              ? [`Retry the run once ${transient.join(", ")} can be reached and answer.`]
              : ["The keyholders refused; see each refusal."],
          retryable: transient.length > 0,
          extra: { refusals },
        },
      );
    }
    const first = await attempt(shares);
    if (first.ok) return first.value;
    await gather(Infinity);
    let tried = 1;
    for (const combination of combinations(shares.length, threshold)) {
      if (combination.every((index, i) => index === i)) continue;
      if (++tried > MAX_COMBINATIONS) break;
      const next = await attempt(combination.map((index) => shares[index]!));
      if (next.ok) return next.value;
    }
    throw first.error;
  } finally {
    for (const share of shares) share.fill(0);
    ephemeral.privateKey.fill(0);
  }
}

/** Every way of choosing `k` of `0..n-1`, in lexicographic order. */
function* combinations(n: number, k: number): Generator<number[]> {
  const chosen = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield [...chosen];
    let i = k - 1;
    while (i >= 0 && chosen[i] === n - k + i) i--;
    if (i < 0) return;
    chosen[i]!++;
    for (let j = i + 1; j < k; j++) chosen[j] = chosen[j - 1]! + 1;
  }
}
