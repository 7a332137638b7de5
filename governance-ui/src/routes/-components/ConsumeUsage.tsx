import type { UsageLane } from "@dao-ai/pipeline-worker/consumer-api";
import { zeroAddress, type Address } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { TxStatus } from "../../components/TxStatus.tsx";
import { usageSettlementAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { useChainQuery } from "../../lib/ChainHead.tsx";
import { useUsageHistory, type ConsumeApi } from "../../lib/consumeApi.ts";
import { decodeError } from "../../lib/decodeError.ts";
import { formatEth, formatRelative, shortHex } from "../../lib/format.ts";
import { useWrite } from "../../lib/useWrite.ts";

const STATE_WORDS = {
  open: "not settled yet",
  pending: "settling",
  settled: "settled",
  dropped: "dropped",
} as const;

/**
 * What the consumer used and paid, per epoch and lane (its wallet, or one of its keys, at one
 * worker), as the worker's GET /v1/usage reports it: served, charged (the highest total, which is
 * what settlement charges), settled on chain and paid. The same rows download as CSV. In the
 * current epoch the consumer can void the vouchers its wallet signed above what was charged (a
 * signed voucher that leaked, or one for a question it no longer wants answered).
 */
export function ConsumeUsage({
  account,
  consumeApi,
  currentEpoch,
  now,
}: {
  account: Address;
  consumeApi: ConsumeApi;
  currentEpoch: string;
  now: number;
}) {
  const { contracts } = useApp();
  const cancel = useWrite();
  const usage = useUsageHistory(consumeApi, account);
  return (
    <section className="card" aria-labelledby="usage-title">
      <div className="page-head-row">
        <h2 id="usage-title">Usage history</h2>
        <a className="button button-secondary" href={consumeApi.usageCsvUrl(account)} download={`usage-${account}.csv`}>
          Download CSV
        </a>
      </div>
      {usage.isError ? (
        <ErrorNotice error={decodeError(usage.error)} title="The worker cannot tell your usage history" />
      ) : usage.data && usage.data.lanes.length > 0 ? (
        <div className="table-scroll">
          <table className="table" data-testid="usage-history">
            <thead>
              <tr>
                <th className="num">Epoch</th>
                <th>Paid with</th>
                <th>Worker</th>
                <th className="num">Served</th>
                <th className="num">Charged</th>
                <th className="num">Settled</th>
                <th className="num">Paid</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {usage.data.lanes.map((row) => (
                <tr
                  key={`${row.epoch}:${row.key}:${row.worker}`}
                  data-testid="usage-row"
                  data-key={row.key.toLowerCase()}
                >
                  <td className="num">{row.epoch}</td>
                  <td>
                    {row.key === zeroAddress ? "your wallet" : <code title={row.key}>key {shortHex(row.key, 4)}</code>}
                  </td>
                  <td>
                    <code title={row.worker}>{shortHex(row.worker, 4)}</code>
                  </td>
                  <td className="num" data-testid="usage-served">
                    {row.served}
                  </td>
                  <td className="num">{row.charged}</td>
                  <td className="num">{row.settledTotal}</td>
                  <td className="num">{formatEth(BigInt(row.paidWei))}</td>
                  <td data-testid="usage-state">
                    {STATE_WORDS[row.state]}
                    {row.reason ? <span className="small"> ({row.reason})</span> : null}
                    {row.transactionHash ? (
                      <span className="muted small" title={row.transactionHash}>
                        {" "}
                        ({shortHex(row.transactionHash)})
                      </span>
                    ) : null}
                  </td>
                  <td>
                    {row.key === zeroAddress && row.epoch === currentEpoch ? (
                      <VoidVouchers
                        account={account}
                        lane={row}
                        now={now}
                        busy={cancel.busy}
                        onVoid={() =>
                          void cancel.write({
                            label: `Void vouchers above ${row.charged} in epoch ${row.epoch}`,
                            address: contracts.usageSettlement,
                            abi: usageSettlementAbi,
                            functionName: "cancelVouchers",
                            args: [row.worker, BigInt(row.epoch), BigInt(row.charged)],
                          })
                        }
                      />
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : usage.data ? (
        <p className="muted" data-testid="no-usage">
          Nothing used yet.
        </p>
      ) : (
        <p className="muted">Reading your usage…</p>
      )}
      <TxStatus state={cancel.state} />
    </section>
  );
}

/** A wallet lane's cancellation on chain, and the button that voids its vouchers above what was charged. */
function VoidVouchers({
  account,
  lane,
  now,
  busy,
  onVoid,
}: {
  account: Address;
  lane: UsageLane;
  now: number;
  busy: boolean;
  onVoid: () => void;
}) {
  const cancellation = useChainQuery(
    ["cancellation", account, lane.worker, lane.epoch],
    async ({ publicClient, contracts }, head) => {
      const [aboveTotal, effectiveAt] = await publicClient.readContract({
        address: contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "cancellation",
        args: [account, lane.worker, BigInt(lane.epoch)],
        blockNumber: head.number,
      });
      return { aboveTotal, effectiveAt };
    },
  );
  const voided = cancellation.data && cancellation.data.effectiveAt > 0n ? cancellation.data : null;
  return (
    <>
      {voided ? (
        <span className="small" data-testid="vouchers-voided">
          vouchers above {voided.aboveTotal.toString()} void {formatRelative(voided.effectiveAt, now)}{" "}
        </span>
      ) : null}
      {voided?.aboveTotal.toString() !== lane.charged ? (
        <button
          type="button"
          className="button-small button-secondary"
          disabled={busy}
          title="Signed vouchers above what was charged can no longer be charged, after a grace for workers that served them already"
          onClick={onVoid}
        >
          Void unused vouchers
        </button>
      ) : null}
    </>
  );
}
