import { useQuery } from "@tanstack/react-query";
import { zeroAddress, type Address } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import type { ConsumeApi } from "../../lib/consumeApi.ts";
import { decodeError } from "../../lib/decodeError.ts";
import { formatEth, shortHex } from "../../lib/format.ts";

const STATE_WORDS = {
  open: "not settled yet",
  pending: "settling",
  settled: "settled",
  dropped: "dropped",
} as const;

/**
 * What the consumer used and paid, per epoch and lane (its wallet, or one of its keys, at one
 * worker), as the worker's GET /v1/usage reports it: served, charged (the highest total, which is
 * what settlement charges), settled on chain and paid. The same rows download as CSV.
 */
export function ConsumeUsage({ account, consumeApi }: { account: Address; consumeApi: ConsumeApi }) {
  const usage = useQuery({
    queryKey: ["worker", "usage", account],
    queryFn: () => consumeApi.usage(account),
    refetchInterval: 3_000,
    retry: false,
  });
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
    </section>
  );
}
