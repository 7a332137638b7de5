import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { formatEther, parseEther, zeroAddress, type Address } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { TxStatus } from "../../components/TxStatus.tsx";
import { usageSettlementAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import type { KeyStatus, QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import type { ConsumeApi } from "../../lib/consumeApi.ts";
import { authorizeKey, type AuthorizedKey } from "../../lib/consumeGrant.ts";
import { decodeError, type DecodedError } from "../../lib/decodeError.ts";
import { formatEth, formatRelative, formatTime, shortHex } from "../../lib/format.ts";
import { useWrite } from "../../lib/useWrite.ts";
import { useWallet } from "../../lib/WalletContext.tsx";
import { ConsumeKeySnippets } from "./ConsumeKeySnippets.tsx";

/**
 * API keys for programs (curl, the openai client, a backend): created with one wallet signature
 * each, listed with their cap and use, revoked on chain. The worker settles a key's use with its
 * own count, so a key's cap (queries times the maximum fee) is all a leaked key can ever cost.
 */
export function ConsumeKeys({
  account,
  consumeApi,
  quota,
  now,
}: {
  account: Address;
  consumeApi: ConsumeApi;
  quota: QuotaStatus;
  now: number;
}) {
  const keys = useQuery({
    queryKey: ["worker", "keys", account],
    queryFn: () => consumeApi.keys(account),
    refetchInterval: 3_000,
    retry: false,
  });
  const revoke = useWrite();
  const { contracts } = useApp();
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p className="small">
        A key lets a program ask without your wallet: <code>Authorization: Bearer dao_sk_…</code> on the worker's
        OpenAI-compatible API. The worker may charge a key at most its cap, and never past your quota; revoking it stops
        it for good an hour after the transaction at the latest (the grace lets workers be paid for what they served
        before they saw it).
      </p>
      <CreateKey consumeApi={consumeApi} quota={quota} />
      {keys.isError ? (
        <ErrorNotice error={decodeError(keys.error)} title="The worker cannot list your keys" />
      ) : keys.data && keys.data.keys.length > 0 ? (
        <div className="table-scroll">
          <table className="table" data-testid="key-list">
            <thead>
              <tr>
                <th>Key</th>
                <th>Worker</th>
                <th className="num">Cap</th>
                <th className="num">Max fee</th>
                <th className="num">Used</th>
                <th className="num">Remaining</th>
                <th>Expires</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((key) => (
                <KeyRow
                  key={key.key}
                  info={key}
                  now={now}
                  busy={revoke.busy}
                  onRevoke={() =>
                    void revoke.write({
                      label: `Revoke key ${shortHex(key.key, 4)}`,
                      address: contracts.usageSettlement,
                      abi: usageSettlementAbi,
                      functionName: "revokeKey",
                      args: [key.key],
                    })
                  }
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : keys.data ? (
        <p className="muted" data-testid="no-keys">
          No key yet.
        </p>
      ) : (
        <p className="muted">Reading your keys…</p>
      )}
      <TxStatus state={revoke.state} />
    </section>
  );
}

const KEY_STATES: Record<KeyStatus["state"], string> = {
  active: "active",
  expired: "expired",
  revoked: "revoked",
  exhausted: "cap reached",
};

function KeyRow({ info, now, busy, onRevoke }: { info: KeyStatus; now: number; busy: boolean; onRevoke: () => void }) {
  const expiresAt = BigInt(info.expiresAt);
  return (
    <tr data-testid="key-row" data-key={info.key.toLowerCase()}>
      <td>
        <code title={info.key}>{shortHex(info.key, 4)}</code>
      </td>
      <td>{info.worker === zeroAddress ? "any" : <code title={info.worker}>{shortHex(info.worker, 4)}</code>}</td>
      <td className="num">{info.maxQueries}</td>
      <td className="num">{formatEth(BigInt(info.maxFeePerQuery))}</td>
      <td className="num" data-testid="key-used" title={`${info.usedHere} served here; ${info.used} settled on chain`}>
        {info.usedHere}
      </td>
      <td className="num">{info.remaining}</td>
      <td title={formatTime(expiresAt)}>{formatRelative(expiresAt, now)}</td>
      <td
        data-testid="key-state"
        title={info.revokedAt !== null ? `revoked at ${formatTime(info.revokedAt)}` : undefined}
      >
        {KEY_STATES[info.state]}
      </td>
      <td>
        {info.state === "active" ? (
          <button type="button" className="button-small button-secondary" disabled={busy} onClick={onRevoke}>
            Revoke
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function CreateKey({ consumeApi, quota }: { consumeApi: ConsumeApi; quota: QuotaStatus }) {
  const { chain, contracts } = useApp();
  const { wallet } = useWallet();
  const [maxQueries, setMaxQueries] = useState("100");
  const [maxFee, setMaxFee] = useState(() => formatEther(BigInt(quota.feePerQuery)));
  const [days, setDays] = useState("30");
  const [anyWorker, setAnyWorker] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);
  const [created, setCreated] = useState<AuthorizedKey | null>(null);
  const ids = { queries: useId(), fee: useId(), days: useId(), worker: useId() };
  const models = useQuery({ queryKey: ["worker", "models"], queryFn: () => consumeApi.models(), retry: false });

  async function create() {
    if (!wallet) return;
    setError(null);
    setCreated(null);
    const queries = /^[1-9][0-9]{0,9}$/.test(maxQueries.trim()) ? BigInt(maxQueries.trim()) : null;
    const fee = parseFee(maxFee);
    const lifetime = Number(days);
    const problems = [
      queries === null ? "the cap must be a whole number of queries above zero" : null,
      fee === null ? `“${maxFee}” is not an amount of ETH` : null,
      !Number.isFinite(lifetime) || lifetime <= 0 || lifetime > 366 ? "the lifetime must be 1 to 366 days" : null,
    ].filter((problem) => problem !== null);
    if (queries === null || fee === null || problems.length > 0) {
      setError({ name: "InvalidKeyBounds", meaning: `Nothing was signed: ${problems.join("; ")}.`, args: [] });
      return;
    }
    setBusy(true);
    try {
      setCreated(
        await authorizeKey({
          wallet,
          consumeApi,
          chainId: chain.id,
          usageSettlement: contracts.usageSettlement,
          bounds: {
            worker: anyWorker ? zeroAddress : quota.worker,
            maxQueries: queries,
            maxFeePerQuery: fee,
            expiresAt: BigInt(Math.floor(Date.now() / 1000 + lifetime * 86_400)),
          },
        }),
      );
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <form
        className="form-grid"
        data-testid="create-key"
        onSubmit={(event) => {
          event.preventDefault();
          void create();
        }}
      >
        <div className="field">
          <label htmlFor={ids.queries}>Cap (queries)</label>
          <input
            id={ids.queries}
            value={maxQueries}
            onChange={(e) => setMaxQueries(e.target.value)}
            inputMode="numeric"
          />
        </div>
        <div className="field">
          <label htmlFor={ids.fee}>Max fee per query (ETH)</label>
          <input id={ids.fee} value={maxFee} onChange={(e) => setMaxFee(e.target.value)} inputMode="decimal" />
        </div>
        <div className="field">
          <label htmlFor={ids.days}>Expires in (days)</label>
          <input id={ids.days} value={days} onChange={(e) => setDays(e.target.value)} inputMode="numeric" />
        </div>
        <div className="field">
          <label htmlFor={ids.worker}>Valid at</label>
          <select
            id={ids.worker}
            value={anyWorker ? "any" : "this"}
            onChange={(e) => setAnyWorker(e.target.value === "any")}
          >
            <option value="this">this worker only</option>
            <option value="any">any authorised worker</option>
          </select>
        </div>
        <div className="button-row field-wide">
          <button type="submit" disabled={busy || !wallet}>
            {busy ? "Waiting for your signature…" : "Create API key"}
          </button>
        </div>
      </form>
      {error ? <ErrorNotice error={error} title="No key was created" /> : null}
      {created ? (
        <ConsumeKeySnippets
          token={created.token}
          baseUrl={new URL(consumeApi.baseUrl, window.location.href).toString().replace(/\/$/, "")}
          model={models.data?.data[0]?.id ?? "<model id from GET /v1/models>"}
        />
      ) : null}
    </>
  );
}

/** A fee the person typed, in wei; null when it is not an amount of ETH. */
function parseFee(text: string): bigint | null {
  try {
    return parseEther(text.trim());
  } catch {
    return null;
  }
}
