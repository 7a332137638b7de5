import { useEffect, useId, useRef, useState } from "react";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatBalance, shortAddress } from "../lib/format.ts";
import { usePolicy } from "../lib/queries.ts";
import type { Policy } from "../lib/readPolicy.ts";
import { useWallet } from "../lib/WalletContext.tsx";

/**
 * Connect a browser wallet (each one found is listed with the name and icon it announced), or, on
 * the local chain, act as one of the development accounts.
 */
export function WalletMenu() {
  const { wallet, devAddresses, wrongChain, connecting, error, selectDevAccount, switchChain, disconnect } =
    useWallet();
  const { chain } = useApp();
  const { data: policy } = usePolicy();
  const selectId = useId();
  const balance = useChainQuery(
    ["balance", wallet?.address],
    ({ publicClient }, head) => publicClient.getBalance({ address: wallet!.address, blockNumber: head.number }),
    { enabled: wallet !== null },
  );
  const devIndex = wallet?.kind === "dev" ? devAddresses.indexOf(wallet.address) : -1;

  return (
    <div className="wallet">
      {devAddresses.length > 0 ? (
        <div className="wallet-dev">
          <label htmlFor={selectId}>Act as</label>
          <select
            id={selectId}
            value={devIndex >= 0 ? String(devIndex) : ""}
            onChange={(event) => {
              const choice = event.target.value;
              if (choice !== "") void selectDevAccount(Number(choice));
              else if (wallet?.kind === "dev") disconnect();
            }}
          >
            <option value="">{wallet?.kind === "injected" ? "your browser wallet" : "no account"}</option>
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
      {wallet?.kind === "injected" ? (
        <div className="wallet-connected" data-testid="wallet-connected">
          {wallet.icon ? <img className="wallet-icon" src={wallet.icon} alt="" width={20} height={20} /> : null}
          <span className="wallet-name">{wallet.label}</span>
          <span className="wallet-address" title={wallet.address} data-testid="wallet-address">
            {shortAddress(wallet.address)}
          </span>
          {balance.data !== undefined ? <span className="muted small">{formatBalance(balance.data)}</span> : null}
          <button type="button" className="button-link" onClick={disconnect}>
            Disconnect
          </button>
        </div>
      ) : (
        <>
          {wallet ? (
            <div className="wallet-connected">
              <span className="visually-hidden" title={wallet.address} data-testid="wallet-address">
                {shortAddress(wallet.address)}
              </span>
              {balance.data !== undefined ? <span className="muted small">{formatBalance(balance.data)}</span> : null}
            </div>
          ) : null}
          {wrongChain ? null : <BrowserWalletPicker connecting={connecting} />}
        </>
      )}
      {wrongChain ? (
        <p className="wallet-error" role="alert">
          {wrongChain.walletName} is on chain {wrongChain.chainId}; this app is for {chain.name} ({chain.id}).{" "}
          <button type="button" className="button-secondary button-small" onClick={() => void switchChain()}>
            Switch to {chain.name}
          </button>{" "}
          <button type="button" className="button-link" onClick={disconnect}>
            Disconnect
          </button>
        </p>
      ) : null}
      {error ? (
        <p className="wallet-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** "Connect wallet", opening the list of browser wallets the page found. */
function BrowserWalletPicker({ connecting }: { connecting: boolean }) {
  const { browserWallets, connectInjected } = useWallet();
  const [open, setOpen] = useState(false);
  const listId = useId();
  const root = useRef<HTMLDivElement>(null);

  // Closes like any menu: a click elsewhere or Escape.
  useEffect(() => {
    if (!open) return;
    const onPointer = (event: PointerEvent) => {
      if (!root.current?.contains(event.target as Node)) setOpen(false);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setOpen(false);
    };
    document.addEventListener("pointerdown", onPointer);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("pointerdown", onPointer);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  return (
    <div className="wallet-picker" ref={root}>
      <button
        type="button"
        className="button-secondary"
        aria-expanded={open}
        aria-controls={listId}
        disabled={connecting}
        onClick={() => setOpen(!open)}
      >
        {connecting ? "Connecting…" : "Connect wallet"}
      </button>
      {open ? (
        <div className="wallet-picker-list" id={listId}>
          {browserWallets.length > 0 ? (
            <ul aria-label="Browser wallets">
              {browserWallets.map((candidate) => (
                <li key={candidate.id}>
                  <button
                    type="button"
                    className="wallet-option"
                    onClick={() => {
                      setOpen(false);
                      void connectInjected(candidate.id);
                    }}
                  >
                    {candidate.icon ? (
                      <img className="wallet-icon" src={candidate.icon} alt="" width={24} height={24} />
                    ) : (
                      <span className="wallet-icon" aria-hidden="true" />
                    )}
                    {candidate.name}
                  </button>
                </li>
              ))}
            </ul>
          ) : (
            <p className="small">
              No browser wallet was found. Install one (any wallet that supports EIP-6963, such as MetaMask or Rabby)
              and reload the page.
            </p>
          )}
        </div>
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
    is([...policy.submitters]) && "submitter",
    is([...policy.quotas.keys()]) && "consumer",
    is([...policy.workers]) && "worker",
    is(policy.attestation.attesters) && "attester",
    is(policy.committee.members) && "keyholder",
  ].filter(Boolean);
  return roles.length > 0 ? ` · ${roles.join(", ")}` : "";
}
