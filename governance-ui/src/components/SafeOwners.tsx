import type { Address } from "viem";
import { AddressText } from "./AddressText.tsx";

/** A Safe's owners and how many of them must sign, as two rows of a `dl.kv`. */
export function SafeOwners({ owners, threshold }: { owners: readonly Address[]; threshold: bigint }) {
  return (
    <>
      <div>
        <dt>Owners</dt>
        <dd>
          <ul className="plain-list" data-testid="safe-owners">
            {owners.map((o) => (
              <li key={o}>
                <AddressText address={o} />
              </li>
            ))}
          </ul>
        </dd>
      </div>
      <div>
        <dt>Threshold</dt>
        <dd data-testid="safe-threshold">
          {threshold.toString()} of {owners.length} owners must sign
        </dd>
      </div>
    </>
  );
}
