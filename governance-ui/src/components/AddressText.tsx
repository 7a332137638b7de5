import type { Address } from "viem";
import { useApp } from "../lib/AppContext.tsx";
import { shortAddress, safeChecksum } from "../lib/format.ts";
import { useWallet } from "../lib/WalletContext.tsx";

const NAMES: Record<string, string> = {
  governor: "Governor",
  timelock: "Timelock (treasury)",
  policyRegistry: "PolicyRegistry",
  contributorRewards: "ContributorRewards",
  usageSettlement: "UsageSettlement",
  modelCommitments: "ModelCommitments",
  token: "Governance token",
  eas: "EAS",
  schemaRegistry: "EAS schema registry",
};

/** An address, short, with its full form on hover and a name where the app knows one. */
export function AddressText({ address, full = false }: { address: Address | string; full?: boolean }) {
  const { contracts, config } = useApp();
  const { wallet } = useWallet();
  const lower = address.toLowerCase();
  const contract = Object.entries(contracts).find(([, a]) => a.toLowerCase() === lower)?.[0];
  const name =
    (contract && NAMES[contract]) ??
    (config.deployment.guardian.toLowerCase() === lower ? "Guardian" : undefined) ??
    undefined;
  const you = wallet?.address.toLowerCase() === lower;
  const checksummed = safeChecksum(address);
  return (
    <span className="address" title={checksummed}>
      <code>{full ? checksummed : shortAddress(checksummed)}</code>
      {name ? <span className="address-name"> {name}</span> : null}
      {you ? <span className="address-you"> (you)</span> : null}
    </span>
  );
}
