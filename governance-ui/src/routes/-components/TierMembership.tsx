import { useId, useState } from "react";
import type { Address } from "viem";
import { Loaded } from "../../components/Loading.tsx";
import { TxStatus } from "../../components/TxStatus.tsx";
import { policyRegistryAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { useChainQuery } from "../../lib/ChainHead.tsx";
import { formatEth, formatTime, plural } from "../../lib/format.ts";
import { usePolicy } from "../../lib/queries.ts";
import { tierList, type Policy, type Tier } from "../../lib/readPolicy.ts";
import { useWrite } from "../../lib/useWrite.ts";
import { useWallet } from "../../lib/WalletContext.tsx";
import { TierTable } from "./TierTable.tsx";

/** The registry's limit on the epochs bought at once (IPolicyRegistry.joinTier). */
const MAX_EPOCHS = 12;

type Membership = { tierId: number; fromEpoch: bigint; untilEpoch: bigint; votedQuota: bigint };

/**
 * Access without a vote: the DAO's tiers, and joining or renewing one for some epochs by paying
 * its price from the connected wallet. The registry takes the payment (to the treasury) and the
 * worker sees the membership on its next policy poll, so the quota is there within seconds.
 */
export function TierMembership() {
  const { wallet } = useWallet();
  const policy = usePolicy();
  return (
    <section className="card" aria-labelledby="tiers-join-title" data-testid="tier-membership">
      <h2 id="tiers-join-title">Access tiers</h2>
      <p className="muted small">
        Join a tier the DAO voted by paying its price for some epochs: no proposal needed. A quota the DAO voted for you
        wins over your tier.
      </p>
      {wallet ? (
        <Loaded query={policy} what="the tiers">
          {(p) => <Tiers account={wallet.address} policy={p} />}
        </Loaded>
      ) : (
        <p className="notice">Connect a wallet or pick an account to join a tier.</p>
      )}
    </section>
  );
}

function Tiers({ account, policy }: { account: Address; policy: Policy }) {
  const membership = useChainQuery(["tier-membership", account], async ({ publicClient, contracts }, head) => {
    const registry = { address: contracts.policyRegistry, abi: policyRegistryAbi, blockNumber: head.number } as const;
    const [[tierId, fromEpoch, untilEpoch], votedQuota] = await Promise.all([
      publicClient.readContract({ ...registry, functionName: "membershipOf", args: [account] }),
      publicClient.readContract({ ...registry, functionName: "quotaOf", args: [account] }),
    ]);
    return { tierId, fromEpoch, untilEpoch, votedQuota } satisfies Membership;
  });
  const tiers = tierList(policy).filter((tier) => tier.queriesPerEpoch > 0n);
  if (tiers.length === 0) return <p>No tier is offered yet: the DAO adds one by proposal.</p>;
  return (
    <>
      <TierTable tiers={tiers} testId="tier-list" />
      {membership.data ? (
        <>
          <MembershipState membership={membership.data} policy={policy} />
          <JoinForm membership={membership.data} policy={policy} tiers={tiers} />
        </>
      ) : (
        <p className="muted">Reading your membership…</p>
      )}
    </>
  );
}

function isActive(membership: Membership, policy: Policy): boolean {
  const tier = policy.tiers.get(membership.tierId);
  // As the registry's joinTier sees it: a membership of a removed tier grants nothing and holds no one back.
  return membership.untilEpoch > policy.currentEpoch && (tier?.queriesPerEpoch ?? 0n) > 0n;
}

/**
 * A membership that ended as the current epoch began, as joinTier sees it: its last epoch's usage
 * is settled during this one, so the registry lets only the same tier be joined (continuing it).
 */
function settlingLastEpoch(membership: Membership, policy: Policy): boolean {
  const tier = policy.tiers.get(membership.tierId);
  return (
    membership.untilEpoch !== 0n && membership.untilEpoch === policy.currentEpoch && (tier?.queriesPerEpoch ?? 0n) > 0n
  );
}

/** When `epoch` starts, in unix seconds. */
function epochStart(policy: Policy, epoch: bigint): bigint {
  return policy.epochGenesis + epoch * policy.epochLength;
}

function MembershipState({ membership, policy }: { membership: Membership; policy: Policy }) {
  const tier = policy.tiers.get(membership.tierId);
  const voted =
    membership.votedQuota > 0n ? (
      <p className="notice" data-testid="voted-quota">
        The DAO voted you {plural(membership.votedQuota, "query", "queries")} per epoch: that quota wins over any tier.
      </p>
    ) : null;
  if (membership.untilEpoch === 0n) {
    return (
      <>
        {voted}
        <p data-testid="membership">You are not a member of any tier.</p>
      </>
    );
  }
  const lastEpoch = membership.untilEpoch - 1n;
  const ends = formatTime(epochStart(policy, membership.untilEpoch));
  return (
    <>
      {voted}
      <p data-testid="membership">
        {isActive(membership, policy) ? (
          <>
            Member of tier <strong>{membership.tierId}</strong> (
            {plural(tier?.queriesPerEpoch ?? 0n, "query", "queries")} per epoch) from epoch{" "}
            {membership.fromEpoch.toString()} to epoch {lastEpoch.toString()}, until {ends}.
            {membership.fromEpoch > policy.currentEpoch ? " It starts in a later epoch." : ""}
          </>
        ) : (tier?.queriesPerEpoch ?? 0n) === 0n ? (
          <>Your membership of tier {membership.tierId} ends with nothing: the DAO removed that tier.</>
        ) : (
          <>
            Your membership of tier {membership.tierId} ended with epoch {lastEpoch.toString()} ({ends}).
          </>
        )}
      </p>
    </>
  );
}

function JoinForm({ membership, policy, tiers }: { membership: Membership; policy: Policy; tiers: Tier[] }) {
  const { contracts } = useApp();
  const tx = useWrite();
  const active = isActive(membership, policy);
  const tierFieldId = useId();
  const epochsFieldId = useId();
  const [tierId, setTierId] = useState(
    String(active ? membership.tierId : (tiers.find((t) => t.open) ?? tiers[0]!).tierId),
  );
  const [epochsText, setEpochsText] = useState("1");
  const tier = tiers.find((t) => String(t.tierId) === tierId);
  const epochs = /^\d+$/.test(epochsText.trim()) ? BigInt(epochsText.trim()) : 0n;
  const renewal = active && tier !== undefined && tier.tierId === membership.tierId;
  const from = renewal ? membership.untilEpoch : policy.currentEpoch;

  // What the registry would refuse, said before anything is signed.
  let problem: string | undefined;
  if (tier === undefined) problem = "Choose a tier.";
  else if (epochs < 1n || epochs > BigInt(MAX_EPOCHS))
    problem = `Join for 1 to ${MAX_EPOCHS} epochs at a time (a whole number).`;
  else if (active && !renewal)
    problem = `You are a member of tier ${membership.tierId} until epoch ${membership.untilEpoch.toString()}: one tier at a time. Renew it, or join another once it ends.`;
  else if (settlingLastEpoch(membership, policy) && tier.tierId !== membership.tierId)
    problem = `Your membership of tier ${membership.tierId} ended as this epoch began and its last epoch is still being settled: join tier ${membership.tierId} again now, or another tier from epoch ${(policy.currentEpoch + 1n).toString()}.`;
  else if (!renewal && !tier.open)
    problem = `Tier ${tier.tierId} is closed to new members; its members may still renew.`;
  else if (tier.maxMembers !== 0 && tier.members >= tier.maxMembers && from === policy.currentEpoch)
    problem = `Tier ${tier.tierId} is full this epoch (${plural(tier.maxMembers, "member")}).`;
  const price = tier !== undefined && problem === undefined ? tier.pricePerEpoch * epochs : 0n;
  const action = renewal ? "Renew" : "Join";

  return (
    <form
      className="inline-form"
      data-testid="join-tier"
      onSubmit={(event) => {
        event.preventDefault();
        if (problem !== undefined || tier === undefined) return;
        void tx.write({
          label: `${action} tier ${tier.tierId} for ${plural(epochs, "epoch")}`,
          address: contracts.policyRegistry,
          abi: policyRegistryAbi,
          functionName: "joinTier",
          args: [tier.tierId, epochs],
          value: price,
        });
      }}
    >
      <label htmlFor={tierFieldId}>Tier</label>
      <select id={tierFieldId} value={tierId} onChange={(e) => setTierId(e.target.value)}>
        {tiers.map((t) => (
          <option key={t.tierId} value={String(t.tierId)}>
            Tier {t.tierId}: {plural(t.queriesPerEpoch, "query", "queries")} per epoch, {formatEth(t.pricePerEpoch)} an
            epoch{t.open ? "" : " (closed)"}
          </option>
        ))}
      </select>
      <label htmlFor={epochsFieldId}>Epochs (1 to {MAX_EPOCHS})</label>
      <div className="input-row">
        <input
          id={epochsFieldId}
          value={epochsText}
          onChange={(e) => setEpochsText(e.target.value)}
          inputMode="numeric"
          aria-describedby={`${epochsFieldId}-help`}
        />
        <button type="submit" disabled={tx.busy || problem !== undefined}>
          {action} for {formatEth(price)}
        </button>
      </div>
      <p id={`${epochsFieldId}-help`} className="small muted" data-testid="join-tier-terms">
        {problem ??
          `Epochs ${from.toString()} to ${(from + epochs - 1n).toString()}, until ${formatTime(
            epochStart(policy, from + epochs),
          )}; ${formatEth(price)} goes to the DAO's treasury.${
            policy.feePerQuery > 0n
              ? ` Each query is still paid from your deposit (${formatEth(policy.feePerQuery)}).`
              : ""
          }`}
      </p>
      <TxStatus state={tx.state} />
    </form>
  );
}
