import {
  BaseError,
  inspectOffchainAttestation,
  offchainRevocationTime,
  parseOffchainAttestation,
  type InspectedOffchainAttestation,
  type OffchainAttestation,
} from "@dao-ai/pipeline-worker/attestations";
import { useId, useState } from "react";
import type { Address, Hex, PublicClient } from "viem";
import { AddressText } from "../../components/AddressText.tsx";
import { useChainQuery } from "../../lib/ChainHead.tsx";
import { formatTime, plural, shortHex } from "../../lib/format.ts";
import { usePolicy } from "../../lib/queries.ts";

export type AttachmentCheck = { inspected: InspectedOffchainAttestation; problems: string[] };

/**
 * Judges attached off-chain attestations as the worker will, before anything is sent: the
 * attester's signature and UID, this chain's EAS, the policy's schema and trusted attesters, the
 * contributor, this data's hash and size, expiry, age and revocation (read from EAS). Re-judged
 * on every block, so a revocation or an expiry shows as it happens.
 */
export function useAttachmentChecks(
  attached: readonly OffchainAttestation[],
  contributor: Address,
  digest: { hash: Hex; size: bigint } | null,
) {
  const { data: policy } = usePolicy();
  const requirement = policy?.attestation;
  return useChainQuery(
    [
      "attachment-checks",
      contributor,
      digest?.hash,
      digest?.size.toString(),
      attached.map((a) => a.attestation.uid).join(),
    ],
    async ({ publicClient, contracts, config }, head) =>
      Promise.all(
        attached.map(async (attestation): Promise<AttachmentCheck> => {
          const i = await inspectOffchainAttestation(attestation);
          const problems: string[] = [];
          if (!i.signatureValid)
            problems.push(
              "Its signature is not its attester's: it was altered after signing, or signed by someone else.",
            );
          if (!i.uidValid) problems.push("Its UID does not match its fields.");
          if (i.chainId !== config.chainId || i.eas.toLowerCase() !== contracts.eas.toLowerCase())
            problems.push(`It was signed for another chain or EAS contract (chain ${i.chainId}, EAS ${i.eas}).`);
          if (requirement && i.schema !== requirement.schemaUID.toLowerCase())
            problems.push(
              `It uses schema ${shortHex(i.schema)}; the policy requires ${shortHex(requirement.schemaUID)}.`,
            );
          if (requirement && !requirement.attesters.some((a) => a.toLowerCase() === i.attester.toLowerCase()))
            problems.push(`Its attester ${i.attester} is not trusted by the policy.`);
          if (i.recipient.toLowerCase() !== contributor.toLowerCase())
            problems.push(`It is about ${i.recipient}, not you.`);
          if (i.dataHash === null) problems.push("Its data does not start with (bytes32 dataHash, uint64 size).");
          else if (digest && (i.dataHash.toLowerCase() !== digest.hash.toLowerCase() || i.size !== digest.size))
            problems.push(
              `It attests other data (${shortHex(i.dataHash)}, ${plural(i.size ?? 0n, "byte")}), not the data above.`,
            );
          if (i.expirationTime !== 0n && i.expirationTime <= head.timestamp) problems.push("It has expired.");
          if (requirement && requirement.maxAge !== 0n && head.timestamp - i.time > requirement.maxAge)
            problems.push("It is older than the policy's maximum age.");
          if (i.signatureValid) {
            const revokedAt = await offchainRevocationTime(
              publicClient as PublicClient,
              contracts.eas,
              i.attester,
              i.uid,
            );
            if (revokedAt !== 0n) problems.push(`Its attester revoked it (${formatTime(revokedAt)}).`);
          }
          return { inspected: i, problems };
        }),
      ),
    { enabled: attached.length > 0 },
  );
}

/** Attach off-chain attestations (pasted or from files), each shown with what was checked. */
export function OffchainAttachments({
  attached,
  checks,
  onChange,
}: {
  attached: readonly OffchainAttestation[];
  checks: readonly AttachmentCheck[] | undefined;
  onChange(next: OffchainAttestation[]): void;
}) {
  const ids = { paste: useId(), files: useId() };
  const [pasted, setPasted] = useState("");
  const [error, setError] = useState<string | null>(null);

  function add(texts: string[]) {
    const next = [...attached];
    try {
      for (const text of texts) {
        const attestation = parseOffchainAttestation(text);
        if (next.some((a) => a.attestation.uid.toLowerCase() === attestation.attestation.uid.toLowerCase()))
          throw new BaseError(`Attestation ${shortHex(attestation.attestation.uid)} is attached already.`);
        next.push(attestation);
      }
      onChange(next);
      setPasted("");
      setError(null);
    } catch (cause) {
      setError(cause instanceof BaseError ? cause.shortMessage : String(cause));
    }
  }

  return (
    <div className="field field-wide" data-testid="offchain-attachments">
      <label htmlFor={ids.paste}>Off-chain attestations (JSON)</label>
      <textarea
        id={ids.paste}
        rows={3}
        value={pasted}
        onChange={(e) => setPasted(e.target.value)}
        placeholder='Paste the JSON an attester gave you: { "attester": …, "attestation": … }'
      />
      <div className="button-row">
        <button
          type="button"
          className="button-secondary"
          disabled={pasted.trim() === ""}
          onClick={() => add([pasted])}
        >
          Attach
        </button>
        <label htmlFor={ids.files} className="small">
          or attach files:
        </label>
        <input
          id={ids.files}
          type="file"
          accept="application/json,.json"
          multiple
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = "";
            void Promise.all(files.map((f) => f.text())).then(add);
          }}
        />
      </div>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
      {attached.length > 0 ? (
        <ul className="plain-list" data-testid="attached-attestations">
          {attached.map((a, index) => {
            const check = checks?.[index];
            return (
              <li key={a.attestation.uid} data-valid={check ? String(check.problems.length === 0) : undefined}>
                <code title={a.attestation.uid}>{shortHex(a.attestation.uid)}</code> by{" "}
                <AddressText address={a.attester} />
                {check ? (
                  <>
                    {" "}
                    for <code title={check.inspected.dataHash ?? ""}>{shortHex(check.inspected.dataHash ?? "0x")}</code>
                    , {plural(check.inspected.size ?? 0n, "byte")}, signed {formatTime(check.inspected.time)}:{" "}
                    {check.problems.length === 0 ? (
                      <span className="ok-mark">✓ valid</span>
                    ) : (
                      <span className="field-error">{check.problems.join(" ")}</span>
                    )}
                  </>
                ) : (
                  " (checking…)"
                )}{" "}
                <button
                  type="button"
                  className="button-small button-secondary"
                  onClick={() => onChange(attached.filter((_, i) => i !== index))}
                >
                  Remove
                </button>
              </li>
            );
          })}
        </ul>
      ) : null}
    </div>
  );
}
