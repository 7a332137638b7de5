/**
 * The catalogue of every stable error code the worker can answer with, in the manner of Safe's
 * error-code catalogue. A code, once published, keeps its meaning forever: clients branch on it,
 * so a changed meaning gets a new code. `docs/errors.md` is generated from this table
 * (`npm run generate:errors -w pipeline-worker`) and a test fails when it is stale.
 */

export type ErrorCodeEntry = {
  /** The HTTP status the API answers with. */
  status: number;
  /** A short, stable summary of the problem type (RFC 9457 `title`). */
  title: string;
  /** Why it happens, for the person reading the docs. */
  why: string;
  /** How to fix it, for the person reading the docs. */
  fix: string;
  /** Whether the same request may succeed later without any change on the caller's side. */
  retryable: boolean;
};

export const errorCodes = {
  KILL_SWITCH_ENGAGED: {
    status: 503,
    title: "The kill switch is engaged",
    why: "The guardian or the timelock engaged the kill switch in the PolicyRegistry. The worker stops ingesting data and answering queries as soon as it sees the event, without waiting for confirmations.",
    fix: "Nothing on the caller's side. The reason is in the `KillSwitchEngaged` event; only a governance proposal executed by the timelock can lift the switch, naming the engagement it lifts (`liftKillSwitch(engagementId)`).",
    retryable: false,
  },
  SUBMITTER_NOT_ALLOWED: {
    status: 403,
    title: "The submitter is not on the allowlist",
    why: "The address that signed the submission is not on the PolicyRegistry's submitter allowlist at the policy version the worker holds.",
    fix: "Sign with an allowed address, or ask the DAO to allow yours through a proposal. A newly allowed address is accepted once the change has the configured number of confirmations.",
    retryable: false,
  },
  ATTESTATION_INSUFFICIENT: {
    status: 422,
    title: "Not enough valid attestations",
    why: "The submission carries fewer valid attestations than the policy's minimum: only attestations of the required EAS schema, from trusted attesters, about this data's hash, unrevoked and younger than the maximum age count.",
    fix: "Obtain more attestations from the attesters the policy trusts (see the PolicyRegistry's attestation requirements) and submit again.",
    retryable: false,
  },
  ATTESTATION_INVALID: {
    status: 422,
    title: "An attestation is invalid",
    why: "An attestation failed verification: its signature does not recover to its attester, it uses another schema, it is about other data, it is revoked or it has expired.",
    fix: "Remove the attestation or have the attester issue a fresh one for this data's SHA-256 hash.",
    retryable: false,
  },
  SIGNATURE_INVALID: {
    status: 401,
    title: "The signature is invalid",
    why: "The EIP-712 signature does not recover to the address the request names, or the signed fields differ from the request (domain, chain id, verifying contract, or any message field).",
    fix: "Sign the exact typed data the API documents, with the key of the address you send, for this chain and this deployment.",
    retryable: false,
  },
  SIGNATURE_EXPIRED: {
    status: 401,
    title: "The signature has expired",
    why: "The signed deadline is in the past by the worker's clock.",
    fix: "Sign again with a later deadline. Check that your clock is right if this happens with fresh signatures.",
    retryable: false,
  },
  NONCE_REPLAYED: {
    status: 409,
    title: "The nonce was already used",
    why: "A request with this signer and nonce was already accepted. Replays are refused so that a signed request cannot be spent twice.",
    fix: "Sign a new request with an unused nonce.",
    retryable: false,
  },
  WRONG_CHAIN: {
    status: 400,
    title: "The request is for another chain",
    why: "The chain id in the signed data differs from the chain this worker follows.",
    fix: "Sign for the chain id the worker reports, with the contract addresses of that chain's deployment.",
    retryable: false,
  },
  POLICY_STALE: {
    status: 503,
    title: "The policy cannot be confirmed fresh",
    why: "The worker could not confirm that the policy it holds is current: the RPC node is down, its latest block is older than the configured bound (the node has fallen behind the network), or the worker is further behind the chain head than the configured staleness bound. It fails closed rather than act on an old policy.",
    fix: "Retry later. Operators: check the RPC node and the worker's sync lag (the `worker_policy_lag_seconds` metric).",
    retryable: true,
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: "The payload is too large",
    why: "The request body is larger than the worker's configured maximum payload size.",
    fix: "Split the data into smaller submissions, or ask the operator to raise `maxPayloadBytes`.",
    retryable: false,
  },
  DUPLICATE_SUBMISSION: {
    status: 409,
    title: "The submission was already received",
    why: "A submission with the same id (the digest of its signed data) is already in the worker's journal.",
    fix: "Nothing: the first submission is being processed or is recorded. Look it up by its id instead of sending it again.",
    retryable: false,
  },
  UPLOAD_UNAUTHORISED: {
    status: 401,
    title: "The upload is not authorised",
    why: "`PUT /v1/submissions/:id/data` takes the submission's upload capability as `Authorization: Bearer <uploadToken>`: the token that the `201` answer to its `POST /v1/submissions` returned, once, to the contributor's client. The header was missing, or named another token. Submission ids are public, so without it anyone could upload to anyone's submission. The worker keeps only the token's hash and hands it out nowhere else.",
    fix: "Send the `uploadToken` from the POST's answer. A token that was lost cannot be recovered: sign and POST a new submission (the data can be submitted again once the old submission's deadline has passed).",
    retryable: false,
  },
  UPLOAD_IN_PROGRESS: {
    status: 409,
    title: "Another upload of this submission is in progress",
    why: "A submission takes one upload at a time: another PUT of its data, with its upload capability, is still being read. Two would race to store the submission.",
    fix: "Wait for the first upload's answer, or check GET /v1/submissions/:id: if it is still `awaiting_data` once that upload has ended, PUT the data again.",
    retryable: true,
  },
  UPLOADS_BUSY: {
    status: 503,
    title: "The worker is taking as many uploads as it allows",
    why: "The worker reads at most `maxConcurrentUploads` uploads at once (WORKER_MAX_CONCURRENT_UPLOADS), so that many slow or stalled connections cannot exhaust its memory. The upload was refused before any of its body was read; nothing changed, and the submission still awaits its data.",
    fix: "PUT the data again after the number of seconds in the `Retry-After` header. Operators: raise `maxConcurrentUploads` if honest uploads meet this often and the host has memory to spare.",
    retryable: true,
  },
  RATE_LIMITED: {
    status: 429,
    title: "Too many requests from this peer",
    why: "A keyholder answers at most a set number of requests a minute from one IP address on each of its routes (KEYHOLDER_SHARES_PER_MINUTE, KEYHOLDER_SPECS_PER_MINUTE), so that anonymous requests cannot exhaust its RPC node or its memory. The request was refused before anything was read or checked.",
    fix: "Retry after the number of seconds in the `Retry-After` header. Operators of a training run with very many submissions: ask the keyholders to raise the limit for the run.",
    retryable: true,
  },
  QUOTA_EXHAUSTED: {
    status: 429,
    title: "The query quota for this epoch is used up",
    why: "The consumer has used every query its quota allows in the current epoch.",
    fix: "Wait for the next epoch, or ask the DAO for a larger quota.",
    retryable: false,
  },
  NO_QUOTA: {
    status: 403,
    title: "The consumer has no quota",
    why: "The address that signed the query is not a registered consumer in the PolicyRegistry, or its quota is zero.",
    fix: "Ask the DAO to register the address as a consumer with a quota.",
    retryable: false,
  },
  WRONG_EPOCH: {
    status: 422,
    title: "The query is signed for another epoch",
    why: "A query counts against the quota of the epoch it names, and the worker serves only queries for the current epoch (by its clock, as the PolicyRegistry numbers epochs). The problem's `currentEpoch` and `epochEndsAt` say which epoch that is and when it ends.",
    fix: "Sign the query again for the current epoch (GET /v1/quota/:consumer reports it). Near an epoch's end, check that your clock is right.",
    retryable: false,
  },
  DEPOSIT_INSUFFICIENT: {
    status: 402,
    title: "The consumer's deposit cannot pay the query fee",
    why: "The policy sets a fee per query, paid from the consumer's deposit in UsageSettlement when the query is settled. What is left of the deposit, after the fees of the consumer's queries this worker served and has not settled yet, is less than one fee.",
    fix: "Deposit more with UsageSettlement.deposit(consumer) and send the query again (the same signed query may be sent again: it was not counted).",
    retryable: false,
  },
  WORKER_NOT_AUTHORISED: {
    status: 503,
    title: "This worker is not authorised by the DAO",
    why: "The worker's address is not an authorised worker in the PolicyRegistry (never added, or removed by governance), so it may not serve queries: it could not settle them, and its receipts would not be honoured.",
    fix: "Send the query to an authorised worker. Operators: ask the DAO to authorise this worker's address through a proposal, or stop it.",
    retryable: false,
  },
  MODEL_UNAVAILABLE: {
    status: 503,
    title: "The model cannot answer",
    why: "The model behind the worker failed or is not configured (no embedded model, or the external model server did not answer). The query was not counted against the quota.",
    fix: "Retry later with the same signed query. Operators: check the model configuration and the model server's health.",
    retryable: true,
  },
  VALIDATION_FAILED: {
    status: 400,
    title: "The request is malformed",
    why: "A field of the request is missing, has the wrong type or is out of range. The problem's `errors` member names each field.",
    fix: "Correct the fields named in the response and send the request again.",
    retryable: false,
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    title: "The request headers are too large",
    why: "The request line and headers together (a very long URL counts) are larger than the HTTP server accepts, so the request was not read and the connection was closed.",
    fix: "Send shorter headers and a shorter URL; no route of this API needs long ones.",
    retryable: false,
  },
  REQUEST_TIMEOUT: {
    status: 408,
    title: "The request did not arrive in time",
    why: "The request stopped arriving, so the connection was closed: its headers did not finish within the HTTP server's timeout, or its body paused for longer than the server allows (30 s by default: the worker's `http.bodyIdleTimeoutMs`, a keyholder's `KEYHOLDER_HTTP_BODY_IDLE_TIMEOUT_MS`). A body may arrive slowly, but not stop.",
    fix: "Send the request again and check the network between the client and the worker. An upload refused this way stored nothing: its submission still awaits its data, and the same PUT can be sent again before the signature's deadline.",
    retryable: true,
  },
  NOT_FOUND: {
    status: 404,
    title: "Not found",
    why: "The submission, content or resource named in the request does not exist here.",
    fix: "Check the id or CID. A submission appears only after the worker has received it.",
    retryable: false,
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    title: "The content store is unavailable",
    why: "The worker could not read from or write to its IPFS store (the embedded Helia repository or the Kubo node), or the embedded store's bookkeeping (pinning and deleting, never an upload in flight) stayed busy longer than its bound (30 s), so the request failed rather than waiting on.",
    fix: "Retry later. Operators: check that the Kubo node answers on its RPC address, or that the data directory is writable and not full and its disk not overloaded.",
    retryable: true,
  },
  WORKER_STOPPING: {
    status: 503,
    title: "The worker is stopping",
    why: "The worker was asked to stop (a restart, a deployment, SIGTERM) while this upload was being read. It aborts uploads in flight rather than let a slow client hold its shutdown; nothing of the upload is kept and the submission still awaits its data.",
    fix: "Upload the data again, with the same upload token, once the worker is back.",
    retryable: true,
  },
  CHAIN_UNAVAILABLE: {
    status: 503,
    title: "The chain is unavailable",
    why: "The worker could not reach its RPC node or the node returned an error.",
    fix: "Retry later. Operators: check `rpcUrl` and the node's health.",
    retryable: true,
  },
  INTERNAL: {
    status: 500,
    title: "Internal error",
    why: "Something failed that the worker did not expect. Nothing was changed by the request.",
    fix: "Retry once; if it persists, report it to the operator with the response's `instance` so they can find it in the logs.",
    retryable: false,
  },
  CONFIG_INVALID: {
    status: 500,
    title: "The worker's configuration is invalid",
    why: "At start, the configuration file or an environment variable had a missing or wrong value. The worker refuses to start rather than run with a guess.",
    fix: "Read the listed problems: each names the field, where it came from, and what to set it to.",
    retryable: false,
  },
  CIPHERTEXT_INVALID: {
    status: 500,
    title: "Encrypted data failed authentication",
    why: "Decrypting stored data failed: a byte of the ciphertext, its header or a tag was changed, the stream was cut short or reordered, the associated metadata differs from what it was encrypted with, or the key is wrong (for example combined from too few shares).",
    fix: "Do not use the data. Fetch it again from another node, check that the metadata and the key shares belong to this submission, and report a persisting mismatch.",
    retryable: false,
  },
  CONTENT_INTEGRITY_FAILED: {
    status: 502,
    title: "Stored content does not match its address",
    why: "The bytes the IPFS store returned do not hash to the requested CID, or do not match the expected SHA-256. The store is faulty or lying.",
    fix: "Operators: check the Kubo node or the local repository for corruption; the content can be fetched again from a healthy node.",
    retryable: false,
  },
  SHARE_UNWRAP_FAILED: {
    status: 422,
    title: "A wrapped key share cannot be opened",
    why: "The wrapped share was not made for this keyholder's key, was made for another submission, or was changed.",
    fix: "Check that the share is the one wrapped to this keyholder's registered public key for this submission.",
    retryable: false,
  },
  JOURNAL_TRANSITION_INVALID: {
    status: 409,
    title: "The submission cannot move to that step",
    why: "The worker's journal refused a step that does not follow the submission's current step (for example recording a submission that was never stored).",
    fix: "This is a bug in the worker if it reaches a client: report it with the submission id.",
    retryable: false,
  },
  MODEL_ANSWER_INVALID: {
    status: 502,
    title: "The model server's answer is unusable",
    why: "The external model server (OpenAI-compatible API) answered, but not with one of the labels it was asked to choose from, or not in the JSON form it was asked for.",
    fix: "Operators: check that the configured model follows instructions (a chat model, temperature 0) and that the labels in the adapter's configuration are the ones it is prompted with.",
    retryable: false,
  },
  TRAINING_RUN_NOT_APPROVED: {
    status: 403,
    title: "The training run is not approved",
    why: "The PolicyRegistry does not approve this run id now: it was never approved, it was revoked or has expired, its operator was removed from the workers since the approval (authorising it again does not restore the run), or the kill switch is engaged. Keyholders release key shares, and ModelCommitments takes commitments, only for approved runs; ModelCommitments also refuses to reveal the model of a run revoked, or whose operator was removed, after its commitment (ModelRunRevoked), and the reveal command then publishes nothing.",
    fix: "Check the run id. Ask the DAO to approve the run (approveTrainingRun with the run spec's SHA-256) through a proposal, and wait for the configured confirmations.",
    retryable: false,
  },
  NOT_RUN_OPERATOR: {
    status: 403,
    title: "The requester is not the run's operator",
    why: "The request is signed by an address other than the operator the DAO approved for this training run.",
    fix: "Sign with the key of the operator named in the PolicyRegistry's trainingRun(runId).",
    retryable: false,
  },
  RUN_SPEC_MISMATCH: {
    status: 409,
    title: "The run spec is not the approved one",
    why: "The SHA-256 of the training-run spec given differs from the specHash the DAO approved on chain for this run, so it is not the list of submissions the DAO voted for.",
    fix: "Use the exact bytes of the spec document whose hash was approved (a re-encoded or edited spec has another hash).",
    retryable: false,
  },
  RUN_SPEC_UNKNOWN: {
    status: 409,
    title: "The keyholder does not have the run's spec",
    why: "A key share was requested for a training run whose spec document has not been given to this keyholder, so it cannot check that the submission belongs to the run.",
    fix: "PUT the run's spec document to /v1/runs/:runId/spec on the keyholder first (the training command does this).",
    retryable: false,
  },
  NOT_IN_RUN_SPEC: {
    status: 403,
    title: "The submission is not part of the training run",
    why: "The manifest named is not listed in the approved spec of the training run, or its data hash differs from the one the spec lists, so the DAO did not approve training on it.",
    fix: "Request shares only for the submissions in the run's spec, or have the DAO approve a run whose spec includes this one.",
    retryable: false,
  },
  KEYHOLDER_NOT_IN_COMMITTEE: {
    status: 409,
    title: "The submission has no share for this keyholder",
    why: "The submission's key was split to a committee this keyholder's public key is not part of (the committee in force when the submission was stored).",
    fix: "Ask the keyholders of the committee named in the submission's manifest.",
    retryable: false,
  },
  COMMITTEE_INVALID: {
    status: 503,
    title: "The keyholder committee is invalid",
    why: "The keyholder committee lists a public key or a member twice, has a key that is not a 33-byte compressed secp256k1 point, or a threshold of 0 or above its member count. With a key listed twice its holder would get two shares and could open data alone; with an invalid key no share can be wrapped. The worker takes no data and stores nothing under such a committee, and a keyholder releases no share of a manifest that names one (for a keyholder this is final: the manifest cannot change).",
    fix: "Nothing on the contributor's side: retry once the DAO has set a valid committee (distinct valid keys, 1 <= threshold <= members) through a proposal; a submission awaiting its data can then be uploaded again.",
    retryable: true,
  },
  KEY_SHARES_INSUFFICIENT: {
    status: 503,
    title: "Too few key shares were released",
    why: "Fewer keyholders than the committee's threshold released their share of a data key, so the key cannot be reconstructed: some keyholders are down, refused, or are not in the submission's committee. It is retryable when at least one keyholder could not be reached or could not check the request then; when every missing share was refused for a reason that asking again will not change, the problem says `retryable: false` and lists the refusals.",
    fix: "Operators: check that enough keyholders are running and reachable, and the refusals they answered with (the problem's `refusals`).",
    retryable: true,
  },
  PLAINTEXT_HASH_MISMATCH: {
    status: 422,
    title: "Decrypted data does not match its attested hash",
    why: "The plaintext decrypted from a submission does not hash (SHA-256) to the data hash that was attested and recorded on chain for it, so it is not the data that was vouched for. The training run excludes it.",
    fix: "Nothing to do for the run: the submission is left out and reported. Operators: find out which worker stored a ciphertext that does not match its manifest.",
    retryable: false,
  },
  CONTRIBUTION_NOT_RECORDED: {
    status: 422,
    title: "The contribution is not recorded on chain",
    why: "No contribution with this data hash (or not by this contributor) is recorded in ContributorRewards, so its attestations were never accepted on chain; or a vote voided it (poisoned data, say), so it is neither paid nor trained on.",
    fix: "Build run specs only from recorded submissions (the spec builder checks each), and wait for the worker to record a submission before training on it.",
    retryable: false,
  },
  TRAINING_DATA_INVALID: {
    status: 422,
    title: "The training data is unusable",
    why: 'Training data must be JSON Lines of {"text": string, "label": string}; this data has a line that is not, or the whole set has no records or fewer than two labels.',
    fix: 'Submit UTF-8 JSON Lines with one {"text", "label"} object per line (docs/model.md). A training run excludes a submission that is not.',
    retryable: false,
  },
  MODEL_ALREADY_COMMITTED: {
    status: 409,
    title: "The run already has a model commitment",
    why: "ModelCommitments accepts one commitment per training run, and this run has one.",
    fix: "Nothing to commit again: read the commitment with commitmentOf(runId). A new model needs a newly approved run.",
    retryable: false,
  },
  MODEL_NOT_REVEALED: {
    status: 409,
    title: "The model is not revealed yet",
    why: "The run's model is not committed, or is committed but its weights are not yet revealed (the reveal delay may not have passed).",
    fix: "Wait until the operator reveals the weights after commitmentOf(runId).revealableAt, then run the check again.",
    retryable: true,
  },
  REVEAL_TOO_EARLY: {
    status: 409,
    title: "The reveal delay has not passed",
    why: "ModelCommitments lets the operator reveal a model only after the reveal delay that was in force when the model was committed.",
    fix: "Wait until commitmentOf(runId).revealableAt and reveal again.",
    retryable: true,
  },
  WEIGHTS_MISMATCH: {
    status: 409,
    title: "The weights do not match the commitment",
    why: "The SHA-256 of the weights given or revealed differs from the weightsHash committed on chain for the run: they are not the model that was trained and committed.",
    fix: "Do not trust the revealed weights. Report it: the operator revealed something other than what it committed to.",
    retryable: false,
  },
  WEBHOOK_DELIVERY_FAILED: {
    status: 502,
    title: "A webhook receiver did not accept an alert",
    why: "The notifier posted a signed alert to a subscribed webhook URL and got no 2xx answer in time: the receiver was down, timed out, refused the signature or answered with an error status. The notifier's delivery log records the status and the attempt.",
    fix: "Nothing to do for a short outage: the notifier retries with backoff and the receiver de-duplicates on `webhook-id`. If it persists, check the receiver's URL and logs, and that it verifies with the same secret; after the last attempt the delivery is given up and logged as `gave-up`.",
    retryable: true,
  },
  EMAIL_DELIVERY_FAILED: {
    status: 502,
    title: "The SMTP server did not accept an alert email",
    why: "The notifier could not hand an alert email to the configured SMTP server: it was unreachable, refused the login or a recipient, or timed out.",
    fix: "Check `email.smtpUrl` (host, port, user and password) and `email.from`, and that the server relays for the recipients. The notifier retries with backoff meanwhile.",
    retryable: true,
  },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(errorCodes, value);
}
