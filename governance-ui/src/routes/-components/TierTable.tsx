import { formatEth } from "../../lib/format.ts";
import type { Tier } from "../../lib/readPolicy.ts";

/** The access tiers the DAO voted, one row each: on the policy page and above the Consume page's join form. */
export function TierTable({ tiers, testId }: { tiers: readonly Tier[]; testId: string }) {
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">Tier</th>
          <th scope="col" className="num">
            Queries per epoch
          </th>
          <th scope="col" className="num">
            Price per epoch
          </th>
          <th scope="col">New members</th>
          <th scope="col" className="num">
            Members this epoch
          </th>
        </tr>
      </thead>
      <tbody>
        {tiers.map((tier) => (
          <tr key={tier.tierId} data-testid={`tier-${tier.tierId}`}>
            <td>{tier.tierId}</td>
            <td className="num">{tier.queriesPerEpoch.toString()}</td>
            <td className="num">{formatEth(tier.pricePerEpoch)}</td>
            <td>{tier.open ? "open" : "closed"}</td>
            <td className="num">
              {tier.members}
              {tier.maxMembers === 0 ? "" : ` of ${tier.maxMembers}`}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
