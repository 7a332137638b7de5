// Submitting a contribution as a contributor's client does it, for every client: the contribute
// side of the CLIs and the demo (`scripts/`) and the governance UI's Contribute page. It signs the
// envelope (EIP-712), sends it, uploads the data with the one-time upload token the answer
// carries, and, if asked, follows the submission until the worker has recorded it on chain. It has
// no framework and no Node API in it: the caller brings the HTTP transport (so refusals arrive as
// its own errors, the UI's WorkerProblemError or the scripts' WorkerRefusal) and the signer (a
// browser wallet or a private key), and is told each step as it starts, to show it.
import { bytesToHex, type Account, type Chain, type Hex, type Transport, type WalletClient } from "viem";
import { submissionTypes } from "../chain/typedData.ts";
import { BaseError } from "../internal/BaseError.ts";
import type { Eip712Spec } from "../api/policyWire.ts";
import type { BegunSubmission, SubmissionEnvelope, SubmissionStatus } from "../api/submissionWire.ts";

/**
 * The worker's submission routes, as the caller's HTTP client reaches them. Each refusal (a
 * non-2xx answer) must throw; the error reaches the caller of `submitContribution` unchanged.
 */
export type SubmissionTransport = {
  /** `GET /v1/eip712`: the domain the worker checks signatures against. */
  eip712(): Promise<Pick<Eip712Spec, "submission">>;
  /** `POST /v1/submissions`. */
  beginSubmission(envelope: SubmissionEnvelope): Promise<BegunSubmission>;
  /** `PUT` the data to the answer's upload URL, with its upload token. */
  uploadSubmission(begun: Pick<BegunSubmission, "id" | "uploadToken">, data: Blob): Promise<SubmissionStatus>;
  /** `GET /v1/submissions/:id`. */
  submission(id: Hex): Promise<SubmissionStatus>;
};

/** The contributor's wallet (viem): a browser wallet's client or a private key's, with its account. */
export type SubmissionSigner = WalletClient<Transport, Chain | undefined, Account>;

/** The steps of a submission, in order; `recording` only when the caller waits for the chain. */
export type ContributionStep = "reading" | "signing" | "sending" | "uploading" | "recording";

export type ContributionProgress =
  | { step: "reading" | "signing" | "sending" }
  /** The worker accepted the envelope: the submission exists, awaiting its data. */
  | { step: "uploading"; submission: BegunSubmission; size: bigint }
  /** The data is stored (encrypted); the worker records it on chain in its next batch. */
  | { step: "recording"; submission: SubmissionStatus };

export type SubmitContributionParameters = {
  transport: SubmissionTransport;
  signer: SubmissionSigner;
  data: Blob | Uint8Array;
  attestations: SubmissionEnvelope["attestations"];
  /** Any number of the contributor's it has not used; a random 64-bit one by default. */
  nonce?: bigint;
  /** How long the signature counts, in seconds (an hour by default): the upload must start before. */
  validForSeconds?: number;
  /** Also wait until the worker has recorded the submission on chain or rejected it. */
  waitForRecording?: { timeoutMs?: number; pollMs?: number };
  onProgress?: (progress: ContributionProgress) => void;
};

/**
 * Submits `data` with its attestations and returns the submission as the worker last showed it:
 * `stored` once uploaded, or, with `waitForRecording`, `recorded` (or `rejected`, with the reason).
 * A refusal at any step throws the transport's error; nothing is uploaded unless the envelope was
 * accepted.
 */
export async function submitContribution(parameters: SubmitContributionParameters): Promise<SubmissionStatus> {
  const { transport, signer, attestations } = parameters;
  const progress = parameters.onProgress ?? (() => {});
  const data =
    parameters.data instanceof Blob ? parameters.data : new Blob([parameters.data as Uint8Array<ArrayBuffer>]);
  const bytes = new Uint8Array(await data.arrayBuffer());
  // Hashed here as the worker and the attesters hash it (SHA-256), with the platform's WebCrypto.
  const dataHash = bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  const size = BigInt(bytes.byteLength);

  progress({ step: "reading" });
  const { submission: spec } = await transport.eip712();

  progress({ step: "signing" });
  const nonce = parameters.nonce ?? randomNonce();
  const deadline = Math.floor(Date.now() / 1000) + (parameters.validForSeconds ?? 3600);
  const contributor = signer.account.address;
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: spec.domain,
    types: submissionTypes,
    primaryType: "Submission",
    message: { contributor, dataHash, size, nonce, deadline: BigInt(deadline) },
  });

  progress({ step: "sending" });
  const begun = await transport.beginSubmission({
    contributor,
    dataHash,
    size: size.toString(),
    nonce: nonce.toString(),
    deadline,
    chainId: spec.domain.chainId,
    signature,
    attestations,
  });

  progress({ step: "uploading", submission: begun, size });
  // The upload token is in the answer to the POST only and is kept nowhere: it lives as long as this upload.
  const stored = await transport.uploadSubmission(begun, data);
  if (!parameters.waitForRecording) return stored;

  progress({ step: "recording", submission: stored });
  const { timeoutMs = 60_000, pollMs = 250 } = parameters.waitForRecording;
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const current = await transport.submission(stored.id as Hex);
    if (current.state === "recorded" || current.state === "rejected") return current;
    if (Date.now() > deadlineMs) {
      throw new BaseError(
        `The worker did not record submission ${stored.id} within ${timeoutMs / 1000} s (state ${current.state}).`,
        { hints: ["The worker records in batches; look again later with GET /v1/submissions/:id."], retryable: true },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A random uint64-sized nonce: the worker refuses a nonce it has seen for this contributor. */
function randomNonce(): bigint {
  return BigInt(bytesToHex(crypto.getRandomValues(new Uint8Array(8))));
}
