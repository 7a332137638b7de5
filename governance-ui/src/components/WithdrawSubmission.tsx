import { useState } from "react";
import { zeroAddress, type Hex } from "viem";
import { contributorRewardsAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatTime } from "../lib/format.ts";
import { useWrite } from "../lib/useWrite.ts";
import { TxStatus } from "./TxStatus.tsx";

/**
 * A submission's Withdraw control: its contributor withdraws the data on ContributorRewards with
 * the connected wallet, after a confirmation that says what withdrawing does and does not do. The
 * chain is read for the contribution's state, so a withdrawal the worker has not seen yet (it
 * unpins the data at its next poll) already shows.
 */
export function WithdrawSubmission({ dataHash, state }: { dataHash: Hex; state: string }) {
  const { contracts } = useApp();
  const tx = useWrite();
  const [confirming, setConfirming] = useState(false);
  const contribution = useChainQuery(["contribution", dataHash], ({ publicClient }, head) =>
    publicClient.readContract({
      address: contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
      blockNumber: head.number,
    }),
  );
  const onChain = contribution.data;
  if (onChain !== undefined && onChain.withdrawnAt !== 0n) {
    return (
      <span className="small" data-testid="withdrawn-at">
        withdrawn {formatTime(onChain.withdrawnAt)}
        {state === "withdrawn" ? "" : "; the worker unpins it at its next poll"}
      </span>
    );
  }
  // Only data recorded on chain can be withdrawn; the rest was never stored for training.
  if (state !== "recorded" || onChain === undefined || onChain.contributor === zeroAddress) {
    return <span className="muted">—</span>;
  }
  if (!confirming) {
    return (
      <button
        type="button"
        className="button-small"
        data-testid="withdraw-submission"
        onClick={() => setConfirming(true)}
      >
        Withdraw
      </button>
    );
  }
  return (
    <div data-testid="withdraw-confirm">
      <p className="small">
        No training run from now on uses this data: keyholders refuse its key and the worker unpins its ciphertext.
        Models already trained with it keep what they learned, and their fees still pay you for it. If its epoch is
        still running, it earns nothing from that epoch&apos;s pool. Copies other IPFS nodes fetched stay there,
        encrypted. This cannot be undone.
      </p>
      <button
        type="button"
        className="button-small button-danger"
        disabled={tx.busy}
        onClick={() =>
          void tx.write({
            label: "Withdraw the submission",
            address: contracts.contributorRewards,
            abi: contributorRewardsAbi,
            functionName: "withdrawContribution",
            args: [dataHash],
          })
        }
      >
        Withdraw for good
      </button>{" "}
      <button
        type="button"
        className="button-small"
        disabled={tx.busy}
        onClick={() => {
          setConfirming(false);
          tx.reset();
        }}
      >
        Keep it
      </button>
      <TxStatus state={tx.state} />
    </div>
  );
}
