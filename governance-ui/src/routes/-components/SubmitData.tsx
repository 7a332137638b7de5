import { attestOnchain, encodeDataAttestation, type OffchainAttestation } from "@dao-ai/pipeline-worker/attestations";
import { submitContribution, type ContributionProgress } from "@dao-ai/pipeline-worker/contribute";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useId, useState } from "react";
import { bytesToHex, createWalletClient, http, type Address, type Hex, type PublicClient } from "viem";
import { AddressText } from "../../components/AddressText.tsx";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { useApp } from "../../lib/AppContext.tsx";
import { decodeError, type DecodedError } from "../../lib/decodeError.ts";
import { devAccounts } from "../../lib/devAccounts.ts";
import { plural, shortHex } from "../../lib/format.ts";
import { usePolicy, useWorkerApi } from "../../lib/queries.ts";
import { LOCAL_CHAIN_ID } from "../../lib/RuntimeConfig.ts";
import type { SubmissionStatus } from "@dao-ai/pipeline-worker/submission-api";
import { useWallet } from "../../lib/WalletContext.tsx";
import { OffchainAttachments, useAttachmentChecks } from "./OffchainAttachments.tsx";

type Digest = { hash: Hex; size: bigint; blob: Blob };
type Step = { label: string; state: "active" | "done" | "failed" };

/** Submit data through the worker: hash it here, gather attestations, sign, send the envelope, upload. */
export function SubmitData({ account }: { account: Address }) {
  const { config, chain, rpcUrl, contracts, publicClient } = useApp();
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  const api = useWorkerApi();
  const queryClient = useQueryClient();
  const ids = { text: useId(), file: useId(), license: useId(), provenance: useId(), uids: useId() };
  const [text, setText] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [license, setLicense] = useState("CC-BY-4.0");
  const [provenance, setProvenance] = useState("written by the contributor");
  const [digest, setDigest] = useState<Digest | null>(null);
  const [uids, setUids] = useState("");
  const [steps, setSteps] = useState<Step[]>([]);
  const [error, setError] = useState<DecodedError | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<SubmissionStatus | null>(null);
  const [devAttesters, setDevAttesters] = useState<{ index: number; address: Address }[]>([]);
  const [offchain, setOffchain] = useState<OffchainAttestation[]>([]);
  const checks = useAttachmentChecks(offchain, account, digest);
  const offchainReady =
    offchain.length === 0 ||
    (checks.data?.length === offchain.length && checks.data.every((c) => c.problems.length === 0));

  // Hash what will be sent, as the worker and the attesters will.
  useEffect(() => {
    let cancelled = false;
    const blob = file ?? (text === "" ? null : new Blob([new TextEncoder().encode(text)]));
    if (!blob) {
      setDigest(null);
      return;
    }
    void blob.arrayBuffer().then(async (buffer) => {
      const hash = bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer)));
      if (!cancelled) setDigest({ hash, size: BigInt(buffer.byteLength), blob });
    });
    return () => {
      cancelled = true;
    };
  }, [file, text]);

  // On the local chain, trusted attesters that are development accounts can attest from here.
  const attesters = policy?.attestation.attesters;
  useEffect(() => {
    if (!config.devAccounts || config.chainId !== LOCAL_CHAIN_ID || !attesters) return;
    let cancelled = false;
    void devAccounts().then((list) => {
      if (cancelled) return;
      const trusted = new Set(attesters.map((a) => a.toLowerCase()));
      setDevAttesters(
        list.flatMap((a, index) => (trusted.has(a.address.toLowerCase()) ? [{ index, address: a.address }] : [])),
      );
    });
    return () => {
      cancelled = true;
    };
  }, [config.devAccounts, config.chainId, attesters]);

  const uidList = uids
    .split(/[\s,]+/)
    .map((u) => u.trim())
    .filter(Boolean);
  const uidsValid = uidList.every((u) => /^0x[0-9a-fA-F]{64}$/.test(u));

  async function attestAsDev(index: number) {
    if (!digest) return;
    setError(null);
    setBusy(true);
    try {
      const attesterAccount = (await devAccounts())[index]!;
      const attester = createWalletClient({ account: attesterAccount, chain, transport: http(rpcUrl) });
      const { uid } = await attestOnchain({
        wallet: attester,
        publicClient: publicClient as PublicClient,
        eas: contracts.eas,
        schema: config.deployment.dataSchema.uid,
        recipient: account,
        data: encodeDataAttestation({
          definition: config.deployment.dataSchema.definition,
          dataHash: digest.hash,
          size: digest.size,
          fields: { license, provenance },
        }),
      });
      setUids((current) => [current.trim(), uid].filter(Boolean).join("\n"));
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setBusy(false);
    }
  }

  async function submit() {
    if (!api || !wallet || !digest) return;
    setError(null);
    setResult(null);
    setBusy(true);
    const progress: Step[] = [];
    try {
      const stored = await submitContribution({
        transport: api,
        signer: wallet.client,
        data: digest.blob,
        attestations: { onchain: uidList as Hex[], offchain },
        onProgress: (p) => {
          progress.forEach((s) => (s.state = "done"));
          progress.push({ label: stepLabel(p), state: "active" });
          setSteps([...progress]);
        },
      });
      progress.forEach((s) => (s.state = "done"));
      setSteps([...progress]);
      setResult(stored);
      void queryClient.invalidateQueries({ queryKey: ["worker", "submissions"] });
    } catch (cause) {
      const last = progress.at(-1);
      if (last) last.state = "failed";
      setSteps([...progress]);
      setError(decodeError(cause));
    } finally {
      setBusy(false);
    }
  }

  const required = policy?.attestation.minAttestations ?? 0;
  const killed = policy?.killSwitch.engaged ?? false;
  return (
    <section className="card" aria-labelledby="submit-title">
      <h2 id="submit-title">Submit data</h2>
      <div className="form-grid">
        <div className="field field-wide">
          <label htmlFor={ids.text}>Data (text)</label>
          <textarea
            id={ids.text}
            rows={4}
            value={text}
            disabled={file !== null}
            onChange={(e) => setText(e.target.value)}
            placeholder={
              'One labelled message per line, as JSON Lines:\n{"text": "Claim your airdrop at …", "label": "scam"}\n{"text": "Lunch at noon?", "label": "legit"}'
            }
          />
        </div>
        <div className="field">
          <label htmlFor={ids.file}>Or a file</label>
          <input id={ids.file} type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </div>
        <div className="field">
          <label htmlFor={ids.license}>Licence (attested)</label>
          <input id={ids.license} value={license} onChange={(e) => setLicense(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={ids.provenance}>Provenance (attested)</label>
          <input id={ids.provenance} value={provenance} onChange={(e) => setProvenance(e.target.value)} />
        </div>
      </div>
      {digest ? (
        <p className="small" data-testid="data-digest" data-hash={digest.hash} data-size={digest.size.toString()}>
          SHA-256 <code title={digest.hash}>{shortHex(digest.hash, 8)}</code>, {plural(digest.size, "byte")}.
        </p>
      ) : null}

      <h3>Attestations</h3>
      {required === 0 ? (
        <p className="notice notice-warn">
          The DAO has not set an attestation requirement yet: no data can be recorded.
        </p>
      ) : (
        <p className="small">
          The policy needs {plural(required, "attestation")} of this data's hash and size, to you, from{" "}
          {required === attesters?.length ? "each of" : "any of"}:{" "}
          {attesters?.map((a, i) => (
            <span key={a}>
              {i > 0 ? ", " : ""}
              <AddressText address={a} />
            </span>
          ))}
          . Give the attesters the hash and size above; they attest with the EAS schema{" "}
          <code title={policy?.attestation.schemaUID}>{shortHex(policy?.attestation.schemaUID ?? "0x")}</code> on the{" "}
          <Link
            to="/attest"
            search={{ recipient: account, dataHash: digest?.hash, size: digest?.size.toString() }}
            data-testid="attest-link"
          >
            Attest page
          </Link>{" "}
          (this link fills in your address and this data: send it to them) or with <code>npm run attest</code>, and give
          you the UID of an on-chain attestation or the JSON of an off-chain one.
        </p>
      )}
      {devAttesters.length > 0 ? (
        <div className="button-row">
          {devAttesters.map((a) => (
            <button
              key={a.address}
              type="button"
              className="button-secondary"
              disabled={!digest || busy || !wallet}
              onClick={() => void attestAsDev(a.index)}
            >
              Attest as #{a.index} (development attester)
            </button>
          ))}
        </div>
      ) : null}
      <div className="field field-wide">
        <label htmlFor={ids.uids}>On-chain attestation UIDs</label>
        <textarea
          id={ids.uids}
          rows={2}
          value={uids}
          onChange={(e) => setUids(e.target.value)}
          placeholder="0x… (one per line)"
          aria-invalid={!uidsValid ? true : undefined}
        />
        {!uidsValid ? (
          <p className="field-error" role="alert">
            Each UID is 0x followed by 64 hex digits.
          </p>
        ) : null}
      </div>
      <OffchainAttachments attached={offchain} checks={checks.data} onChange={setOffchain} />

      <div className="button-row">
        <button
          type="button"
          disabled={
            busy || !digest || !uidsValid || uidList.length + offchain.length === 0 || !offchainReady || !api || killed
          }
          onClick={() => void submit()}
        >
          Sign and submit
        </button>
      </div>
      {killed ? <p className="small muted">Submitting is disabled while the kill switch is engaged.</p> : null}
      {!offchainReady && checks.data ? (
        <p className="small muted">Remove the attached attestations the worker would refuse, or get new ones.</p>
      ) : null}
      {steps.length > 0 ? (
        <ol className="steps" aria-live="polite">
          {steps.map((s, i) => (
            <li key={i} data-state={s.state}>
              {s.state === "done" ? "✓ " : s.state === "failed" ? "✗ " : "… "}
              {s.label}
            </li>
          ))}
        </ol>
      ) : null}
      {result ? (
        <p className="notice notice-ok" data-testid="submission-result">
          Stored as <code>{shortHex(result.id)}</code>: the worker records it on chain shortly.
          {result.validation ? (
            <>
              {" "}
              {plural(result.validation.records, "record")}, {result.validation.duplicates} already in the pool,{" "}
              {result.validation.nearDuplicates} near duplicates: weight {result.validation.weight}.
            </>
          ) : null}
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} title="The submission was refused" /> : null}
    </section>
  );
}

/** What the contributor sees of each step of the shared submission. */
function stepLabel(progress: ContributionProgress): string {
  switch (progress.step) {
    case "reading":
      return "Reading the signing format from the worker";
    case "signing":
      return "Signing the submission in your wallet";
    case "sending":
      return "Sending the signed envelope (the worker checks it before any data moves)";
    case "uploading":
      return `Uploading ${plural(progress.size, "byte")} (encrypted by the worker as it arrives)`;
    case "recording":
      return "Waiting for the worker to record it on chain";
  }
}
