import { shortHex } from "../lib/format.ts";
import type { TxState } from "../lib/useWrite.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

/** Where a transaction is: simulating, waiting for a signature, pending, confirmed or failed. */
export function TxStatus({ state }: { state: TxState }) {
  if (state.status === "idle") return <div aria-live="polite" className="tx-status-empty" />;
  if (state.status === "failed") {
    return (
      <div className="tx-status" data-status="failed">
        <ErrorNotice error={state.error} title={`${state.label} failed`} />
        {state.hash ? <p className="muted small">Transaction {shortHex(state.hash)}</p> : null}
      </div>
    );
  }
  const text = {
    simulating: "checking that it will succeed…",
    signing: "waiting for your signature…",
    pending: "pending, waiting for the block…",
    confirmed: "confirmed",
  }[state.status];
  return (
    <div className="tx-status" data-status={state.status} role="status" aria-live="polite">
      <span className={`dot dot-${state.status}`} aria-hidden="true" />
      <span>
        {state.label}: {text}
        {"hash" in state ? <span className="muted small"> ({shortHex(state.hash)})</span> : null}
        {state.status === "confirmed" ? (
          <span className="muted small"> in block {state.blockNumber.toString()}</span>
        ) : null}
      </span>
    </div>
  );
}
