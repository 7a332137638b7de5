import {
  attestOnchain,
  encodeDataAttestation,
  inspectOffchainAttestation,
  offchainAttestationJson,
  signOffchainAttestation,
  type OffchainAttestation,
} from "@dao-ai/pipeline-worker/attestations";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useMemo, useState } from "react";
import { bytesToHex, isAddress, type Address, type Hex, type PublicClient } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { useApp } from "../../lib/AppContext.tsx";
import { useChainHead } from "../../lib/ChainHead.tsx";
import { decodeError, type DecodedError } from "../../lib/decodeError.ts";
import { plural, shortHex } from "../../lib/format.ts";
import { useWallet } from "../../lib/WalletContext.tsx";
import { rememberOffchainAttestation } from "./issuedOffchainAttestations.ts";
import { usePolicySchema } from "./usePolicySchema.ts";

export type AttestFormValues = {
  recipient?: string | undefined;
  dataHash?: string | undefined;
  size?: string | undefined;
};

type Result =
  | { kind: "onchain"; uid: Hex; transactionHash: Hex }
  | { kind: "offchain"; uid: Hex; attestation: OffchainAttestation; json: string };

/** Defaults for the usual data schema's fields; any other field starts empty. */
const FIELD_DEFAULTS: Record<string, string> = { license: "CC-BY-4.0", provenance: "" };

/**
 * Issues an attestation of a contributor's data (hash and size, and the schema's other fields)
 * with the connected wallet: on chain (a transaction on EAS), or off chain (an EIP-712 signature,
 * no transaction) whose JSON the contributor attaches to the submission.
 */
export function AttestForm({ initial }: { initial: AttestFormValues }) {
  const { contracts, publicClient, config } = useApp();
  const { wallet } = useWallet();
  const { head } = useChainHead();
  const schema = usePolicySchema();
  const queryClient = useQueryClient();
  const ids = {
    recipient: useId(),
    dataHash: useId(),
    size: useId(),
    file: useId(),
    expires: useId(),
    json: useId(),
    field: useId(),
  };
  const [recipient, setRecipient] = useState(initial.recipient ?? "");
  const [dataHash, setDataHash] = useState(initial.dataHash ?? "");
  const [size, setSize] = useState(initial.size ?? "");
  const [fields, setFields] = useState<Record<string, string>>({});
  const [expiresDays, setExpiresDays] = useState("");
  const [kind, setKind] = useState<"offchain" | "onchain">("offchain");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [copied, setCopied] = useState(false);

  // A link from the Contribute page fills the form; following another one refills it.
  useEffect(() => {
    if (initial.recipient) setRecipient(initial.recipient);
    if (initial.dataHash) setDataHash(initial.dataHash);
    if (initial.size) setSize(initial.size);
  }, [initial.recipient, initial.dataHash, initial.size]);

  const schemaFields = schema.data?.fields ?? [];
  const value = (name: string) => fields[name] ?? FIELD_DEFAULTS[name] ?? "";
  const problems = [
    recipient !== "" && !isAddress(recipient) ? "The contributor is not an address." : null,
    dataHash !== "" && !/^0x[0-9a-fA-F]{64}$/.test(dataHash) ? "The SHA-256 is 0x followed by 64 hex digits." : null,
    size !== "" && !/^[1-9]\d*$/.test(size) ? "The size is a positive number of bytes." : null,
    expiresDays !== "" && !/^[1-9]\d*$/.test(expiresDays) ? "The expiry is a whole number of days." : null,
  ].filter((p): p is string => p !== null);
  const complete = recipient !== "" && dataHash !== "" && size !== "" && problems.length === 0 && schema.data;

  const download = useMemo(
    () =>
      result?.kind === "offchain" ? URL.createObjectURL(new Blob([result.json], { type: "application/json" })) : null,
    [result],
  );
  useEffect(() => () => (download ? URL.revokeObjectURL(download) : undefined), [download]);

  /** Hashes a file here, as the worker will: the attester attests the file it reviewed. */
  async function hashFile(file: File) {
    const buffer = await file.arrayBuffer();
    setDataHash(bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer))));
    setSize(String(buffer.byteLength));
  }

  async function attest() {
    if (!wallet || !complete || !schema.data) return;
    setBusy(true);
    setError(null);
    setResult(null);
    setCopied(false);
    try {
      const data = encodeDataAttestation({
        definition: schema.data.definition,
        dataHash: dataHash as Hex,
        size: BigInt(size),
        fields: Object.fromEntries(schemaFields.map((f) => [f.name, value(f.name)])),
      });
      // The chain's clock, by which EAS, the worker and ContributorRewards judge expiry.
      const now = head?.timestamp ?? BigInt(Math.floor(Date.now() / 1000));
      const request = {
        wallet: wallet.client,
        publicClient: publicClient as PublicClient,
        eas: contracts.eas,
        schema: schema.data.uid,
        recipient: recipient as Address,
        data,
        expirationTime: expiresDays === "" ? 0n : now + BigInt(expiresDays) * 86_400n,
      };
      if (kind === "onchain") {
        setResult({ kind: "onchain", ...(await attestOnchain(request)) });
      } else {
        const attestation = await signOffchainAttestation(request);
        const { uid } = await inspectOffchainAttestation(attestation);
        rememberOffchainAttestation(config.chainId, contracts.eas, attestation);
        setResult({ kind: "offchain", uid, attestation, json: offchainAttestationJson(attestation) });
      }
      void queryClient.invalidateQueries({ queryKey: ["chain"] });
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setBusy(false);
    }
  }

  async function copy(text: string) {
    await navigator.clipboard.writeText(text).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  }

  return (
    <section className="card" aria-labelledby="attest-form-title">
      <h2 id="attest-form-title">Attest a contribution</h2>
      <p className="small">
        The contributor gives you their address and their data's SHA-256 and size (the Contribute page shows them, and
        can send you a link that fills this form). Check the data, then attest it to them.
      </p>
      <div className="form-grid">
        <div className="field field-wide">
          <label htmlFor={ids.recipient}>Contributor</label>
          <input
            id={ids.recipient}
            value={recipient}
            onChange={(e) => setRecipient(e.target.value.trim())}
            placeholder="0x… (the contributor's address)"
          />
        </div>
        <div className="field field-wide">
          <label htmlFor={ids.dataHash}>Data SHA-256</label>
          <input
            id={ids.dataHash}
            value={dataHash}
            onChange={(e) => setDataHash(e.target.value.trim())}
            placeholder="0x…"
          />
        </div>
        <div className="field">
          <label htmlFor={ids.size}>Size (bytes)</label>
          <input id={ids.size} inputMode="numeric" value={size} onChange={(e) => setSize(e.target.value.trim())} />
        </div>
        <div className="field">
          <label htmlFor={ids.file}>Or hash the data file</label>
          <input id={ids.file} type="file" onChange={(e) => e.target.files?.[0] && void hashFile(e.target.files[0])} />
        </div>
        {schemaFields.map((f) => (
          <div className="field" key={f.name}>
            <label htmlFor={`${ids.field}-${f.name}`}>
              {f.name} <span className="muted small">({f.type})</span>
            </label>
            <input
              id={`${ids.field}-${f.name}`}
              value={value(f.name)}
              onChange={(e) => setFields((current) => ({ ...current, [f.name]: e.target.value }))}
            />
          </div>
        ))}
        <div className="field">
          <label htmlFor={ids.expires}>Expires after (days)</label>
          <input
            id={ids.expires}
            inputMode="numeric"
            value={expiresDays}
            onChange={(e) => setExpiresDays(e.target.value.trim())}
            placeholder="never"
          />
        </div>
      </div>
      {problems.length > 0 ? (
        <ul className="field-error" role="alert">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
      <fieldset className="segmented">
        <legend className="visually-hidden">How to attest</legend>
        <label className="segment">
          <input
            type="radio"
            name="attestation-kind"
            checked={kind === "offchain"}
            onChange={() => setKind("offchain")}
          />{" "}
          Off chain (a signature, no transaction; the contributor attaches its JSON)
        </label>
        <label className="segment">
          <input
            type="radio"
            name="attestation-kind"
            checked={kind === "onchain"}
            onChange={() => setKind("onchain")}
          />{" "}
          On chain (a transaction on EAS; the contributor gives its UID)
        </label>
      </fieldset>
      <div className="button-row">
        <button type="button" disabled={!wallet || !complete || busy} onClick={() => void attest()}>
          {kind === "onchain" ? "Attest on chain" : "Sign off-chain attestation"}
        </button>
      </div>
      {!wallet ? <p className="small muted">Connect the attester's wallet to attest.</p> : null}
      {busy ? (
        <p className="small" aria-live="polite">
          {kind === "onchain" ? "Waiting for the wallet and the transaction…" : "Waiting for the wallet's signature…"}
        </p>
      ) : null}
      {result ? (
        <div className="notice notice-ok" data-testid="attestation-result">
          {result.kind === "onchain" ? (
            <p>
              Attested on chain: UID <code data-testid="attestation-uid">{result.uid}</code>{" "}
              <button type="button" className="button-small button-secondary" onClick={() => void copy(result.uid)}>
                {copied ? "Copied" : "Copy UID"}
              </button>
              <br />
              <span className="small">
                Give the contributor this UID; they paste it under "On-chain attestation UIDs". Transaction{" "}
                <code title={result.transactionHash}>{shortHex(result.transactionHash)}</code>.
              </span>
            </p>
          ) : (
            <>
              <p>
                Signed off-chain attestation <code data-testid="attestation-uid">{result.uid}</code> for{" "}
                {plural(BigInt(size), "byte")}. Give the contributor this JSON; they attach it to their submission.
              </p>
              <label htmlFor={ids.json}>Off-chain attestation (JSON)</label>
              <textarea id={ids.json} rows={8} readOnly value={result.json} data-testid="offchain-json" />
              <div className="button-row">
                <button type="button" className="button-secondary" onClick={() => void copy(result.json)}>
                  {copied ? "Copied" : "Copy JSON"}
                </button>
                {download ? (
                  <a
                    className="button button-secondary"
                    href={download}
                    download={`attestation-${result.uid.slice(2, 10)}.json`}
                  >
                    Download JSON
                  </a>
                ) : null}
              </div>
            </>
          )}
        </div>
      ) : null}
      {error ? <ErrorNotice error={error} title="Not attested" /> : null}
    </section>
  );
}
