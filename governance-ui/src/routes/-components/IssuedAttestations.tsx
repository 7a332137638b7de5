import {
  decodeDataAttestation,
  inspectOffchainAttestation,
  offchainRevocationTime,
  parseOffchainAttestation,
  revokeOffchain,
  revokeOnchain,
} from "@dao-ai/pipeline-worker/attestations";
import { useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { getAbiItem, zeroHash, type Address, type Hex, type PublicClient } from "viem";
import { AddressText } from "../../components/AddressText.tsx";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { Loaded } from "../../components/Loading.tsx";
import { easAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { useChainQuery } from "../../lib/ChainHead.tsx";
import { decodeError, type DecodedError } from "../../lib/decodeError.ts";
import { formatTime, plural, shortHex } from "../../lib/format.ts";
import { useWallet } from "../../lib/WalletContext.tsx";
import { issuedOffchainAttestations } from "./issuedOffchainAttestations.ts";

const attested = getAbiItem({ abi: easAbi, name: "Attested" });

type Issued = {
  kind: "onchain" | "offchain";
  uid: Hex;
  recipient: Address;
  dataHash: Hex | null;
  size: bigint | null;
  time: bigint;
  revokedAt: bigint;
};

/**
 * What the connected attester issued: its on-chain attestations (read from EAS's events) and the
 * off-chain ones signed in this browser, each with its state and a Revoke button. Any other
 * attestation of its own is revoked by pasting its UID or JSON.
 */
export function IssuedAttestations({ attester }: { attester: Address }) {
  const app = useApp();
  const { wallet } = useWallet();
  const queryClient = useQueryClient();
  const revokeId = useId();
  const [pending, setPending] = useState<Hex | null>(null);
  const [error, setError] = useState<DecodedError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [given, setGiven] = useState("");

  const issued = useChainQuery(
    ["issued-attestations", attester],
    async ({ publicClient, contracts, config, fromBlock }, head) => {
      const eas = contracts.eas;
      const logs = await publicClient.getLogs({
        address: eas,
        event: attested,
        args: { attester },
        fromBlock,
        toBlock: head.number,
      });
      const onchain = await Promise.all(
        logs.map(async (log): Promise<Issued> => {
          const a = await publicClient.readContract({
            address: eas,
            abi: easAbi,
            functionName: "getAttestation",
            args: [log.args.uid!],
            blockNumber: head.number,
          });
          const data = safeDecode(a.data);
          return {
            kind: "onchain",
            uid: a.uid,
            recipient: a.recipient,
            ...data,
            time: a.time,
            revokedAt: a.revocationTime,
          };
        }),
      );
      const offchain = await Promise.all(
        issuedOffchainAttestations(config.chainId, eas)
          .filter((a) => a.attester.toLowerCase() === attester.toLowerCase())
          .map(async (a): Promise<Issued> => {
            const i = await inspectOffchainAttestation(a);
            const revokedAt = await offchainRevocationTime(publicClient as PublicClient, eas, attester, i.uid);
            return {
              kind: "offchain",
              uid: i.uid,
              recipient: i.recipient,
              dataHash: i.dataHash,
              size: i.size,
              time: i.time,
              revokedAt,
            };
          }),
      );
      return [...onchain, ...offchain].sort((a, b) => Number(b.time - a.time));
    },
  );

  async function revoke(kind: "onchain" | "offchain", uid: Hex) {
    const { publicClient, contracts } = app;
    if (!wallet) return;
    setPending(uid);
    setError(null);
    setDone(null);
    try {
      const request = { wallet: wallet.client, publicClient: publicClient as PublicClient, eas: contracts.eas, uid };
      await (kind === "onchain" ? revokeOnchain(request) : revokeOffchain(request));
      setDone(`Revoked ${kind === "onchain" ? "on-chain" : "off-chain"} attestation ${uid}.`);
      void queryClient.invalidateQueries({ queryKey: ["chain"] });
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setPending(null);
    }
  }

  /** A pasted UID is on-chain if EAS holds it, else off-chain; pasted JSON is an off-chain attestation. */
  async function revokeGiven() {
    setError(null);
    try {
      const text = given.trim();
      if (/^0x[0-9a-fA-F]{64}$/.test(text)) {
        const a = await app.publicClient.readContract({
          address: app.contracts.eas,
          abi: easAbi,
          functionName: "getAttestation",
          args: [text as Hex],
        });
        await revoke(a.uid === zeroHash ? "offchain" : "onchain", text as Hex);
      } else {
        const { uid, attester: by } = await inspectOffchainAttestation(parseOffchainAttestation(text));
        if (by.toLowerCase() !== attester.toLowerCase()) {
          setError({
            name: "NotYourAttestation",
            meaning: `It was issued by ${by}; only its attester can revoke it.`,
            args: [],
          });
          return;
        }
        await revoke("offchain", uid);
      }
      setGiven("");
    } catch (cause) {
      setError(decodeError(cause));
    }
  }

  return (
    <section className="card" aria-labelledby="issued-title">
      <h2 id="issued-title">Your attestations</h2>
      <p className="small">
        Revoking tells the worker and ContributorRewards to refuse an attestation from then on: data not yet recorded
        with it is refused; what was recorded before stays recorded.
      </p>
      <Loaded query={issued} what="your attestations">
        {(list) =>
          list.length === 0 ? (
            <p className="muted">None yet (off-chain attestations are listed only in the browser that signed them).</p>
          ) : (
            <div className="table-scroll">
              <table className="table" data-testid="issued-attestations">
                <thead>
                  <tr>
                    <th scope="col">UID</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Contributor</th>
                    <th scope="col">Data</th>
                    <th scope="col">Issued</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((a) => (
                    <tr key={`${a.kind}-${a.uid}`} data-uid={a.uid}>
                      <td>
                        <code title={a.uid}>{shortHex(a.uid)}</code>
                      </td>
                      <td>{a.kind === "onchain" ? "on chain" : "off chain"}</td>
                      <td>
                        <AddressText address={a.recipient} />
                      </td>
                      <td className="small">
                        {a.dataHash ? (
                          <>
                            <code title={a.dataHash}>{shortHex(a.dataHash)}</code>, {plural(a.size ?? 0n, "byte")}
                          </>
                        ) : (
                          "not this system's data schema"
                        )}
                      </td>
                      <td className="small">{formatTime(a.time)}</td>
                      <td data-testid="attestation-state">
                        {a.revokedAt !== 0n ? (
                          <span className="state state-rejected">revoked {formatTime(a.revokedAt)}</span>
                        ) : (
                          <button
                            type="button"
                            className="button-small button-danger"
                            disabled={!wallet || pending !== null}
                            onClick={() => void revoke(a.kind, a.uid)}
                          >
                            {pending === a.uid ? "Revoking…" : "Revoke"}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      <div className="field field-wide">
        <label htmlFor={revokeId}>
          Revoke another of your attestations (its UID, or an off-chain attestation's JSON)
        </label>
        <textarea
          id={revokeId}
          rows={2}
          value={given}
          onChange={(e) => setGiven(e.target.value)}
          placeholder="0x… or { … }"
        />
      </div>
      <div className="button-row">
        <button
          type="button"
          className="button-secondary"
          disabled={!wallet || given.trim() === "" || pending !== null}
          onClick={() => void revokeGiven()}
        >
          Revoke
        </button>
      </div>
      {done ? (
        <p className="notice notice-ok" data-testid="revoke-result">
          {done}
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} title="Not revoked" /> : null}
    </section>
  );
}

function safeDecode(data: Hex): { dataHash: Hex | null; size: bigint | null } {
  try {
    return decodeDataAttestation(data);
  } catch {
    return { dataHash: null, size: null };
  }
}
