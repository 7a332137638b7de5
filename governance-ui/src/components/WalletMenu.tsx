import { useId } from "react";
import { formatBalance, shortAddress } from "../lib/format.ts";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { usePolicy } from "../lib/queries.ts";
import type { Policy } from "../lib/readPolicy.ts";
import { useWallet } from "../lib/WalletContext.tsx";

/** Connect a browser wallet, or (on the local chain) act as one of the development accounts. */
export function WalletMenu() {
  const { wallet, devAddresses, injectedAvailable, connecting, error, connectInjected, selectDevAccount, disconnect } =
    useWallet();
  const { data: policy } = usePolicy();
  const selectId = useId();
  const balance = useChainQuery(
    ["balance", wallet?.address],
    ({ publicClient }, head) => publicClient.getBalance({ address: wallet!.address, blockNumber: head.number }),
    { enabled: wallet !== null },
  );
  const devIndex = wallet?.kind === "dev" ? devAddresses.indexOf(wallet.address) : -1;

  const showAddress = wallet !== null && (wallet.kind === "injected" || devAddresses.length === 0);
  return (
    <div className="wallet">
      {devAddresses.length > 0 ? (
        <div className="wallet-dev">
          <label htmlFor={selectId}>Act as</label>
          <select
            id={selectId}
            value={devIndex >= 0 ? String(devIndex) : wallet?.kind === "injected" ? "injected" : ""}
            onChange={(event) => {
              const choice = event.target.value;
              if (choice === "") disconnect();
              else if (choice === "injected") void connectInjected();
              else void selectDevAccount(Number(choice));
            }}
          >
            <option value="">no account</option>
            <option value="injected">{injectedAvailable ? "Browser wallet" : "Browser wallet (none found)"}</option>
            <optgroup label="Development accounts">
              {devAddresses.map((address, index) => (
                <option key={address} value={index}>
                  #{index} {shortAddress(address)}
                  {rolesOf(address, policy)}
                </option>
              ))}
            </optgroup>
          </select>
        </div>
      ) : null}
      {wallet ? (
        <div className="wallet-connected">
          <span
            className={showAddress ? "wallet-address" : "visually-hidden"}
            title={wallet.address}
            data-testid="wallet-address"
          >
            {shortAddress(wallet.address)}
          </span>
          {balance.data !== undefined ? <span className="muted small">{formatBalance(balance.data)}</span> : null}
          {wallet.kind === "injected" ? (
            <button type="button" className="button-link" onClick={disconnect}>
              Disconnect
            </button>
          ) : null}
        </div>
      ) : devAddresses.length === 0 ? (
        <button
          type="button"
          className="button-secondary"
          onClick={() => void connectInjected()}
          disabled={connecting}
          title={injectedAvailable ? "Connect your browser wallet" : "No browser wallet was found"}
        >
          {connecting ? "Connecting…" : "Connect wallet"}
        </button>
      ) : null}
      {error ? (
        <p className="wallet-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** What an account is to the policy, for the picker: " · guardian, submitter". */
function rolesOf(address: string, policy: Policy | undefined): string {
  if (!policy) return "";
  const is = (list: readonly string[]) => list.some((a) => a.toLowerCase() === address.toLowerCase());
  const roles = [
    is([policy.guardian]) && "guardian",
    is(policy.submitters) && "submitter",
    is([...policy.quotas.keys()]) && "consumer",
    is(policy.workers) && "worker",
    is(policy.attestation.attesters) && "attester",
    is(policy.committee.members) && "keyholder",
  ].filter(Boolean);
  return roles.length > 0 ? ` · ${roles.join(", ")}` : "";
}
