import {
  keyholderReleaseContext,
  keyholderReleaseSchema,
  signedKeyholderRequestFields,
  signedKeyholderRequestSchema,
  type KeyholderRelease,
  type SignedKeyholderRequest,
} from "./signedKeyholderRequest.ts";

/**
 * The channel between a serving worker and a keyholder for a committed model's weights key. The
 * worker signs an EIP-712 ModelKeyRequest with its worker account (an address the DAO authorised
 * with `setWorker`), in the keyholder domain of shareRequest.ts, naming the run, the model
 * manifest committed for it, the keyholder it is addressed to, a fresh ephemeral public key and
 * the time. The keyholder answers with its share of the weights key re-wrapped (ECIES) to that
 * ephemeral key, bound to `modelKeyReleaseContext`: only the worker that made the request can
 * open it, and a replayed request gets a share that only that same ephemeral key opens.
 */
export const modelKeyRequestTypes = { ModelKeyRequest: signedKeyholderRequestFields } as const;

/**
 * `POST /v1/model-keys` body. `manifest` is the model manifest's CID: the one `ipfs://<CID>`
 * committed as the run's encryptedWeightsURI; the signer is the worker.
 */
export type ModelKeyRequest = SignedKeyholderRequest;

/** `POST /v1/model-keys` answer. */
export type ModelKeyRelease = KeyholderRelease;

/** The ECIES context of a released weights-key share; distinct from a data-key share's. */
export function modelKeyReleaseContext(
  request: Pick<ModelKeyRequest, "runId" | "manifest" | "keyholder" | "ephemeralPublicKey">,
): Uint8Array {
  return keyholderReleaseContext("dao-ai/model-key-release/v1", request);
}

export const modelKeyRequestSchema = signedKeyholderRequestSchema;

export const modelKeyReleaseSchema = keyholderReleaseSchema;
