import { describePolicyEvent } from "@dao-ai/pipeline-worker/policy-actions";
import { createFileRoute, Link } from "@tanstack/react-router";
import { AddressText } from "../components/AddressText.tsx";
import { Loaded } from "../components/Loading.tsx";
import { useApp } from "../lib/AppContext.tsx";
import { useChainHead, useChainQuery } from "../lib/ChainHead.tsx";
import { governanceTokenAbi } from "../lib/abis.ts";
import {
  formatBalance,
  formatDuration,
  formatEth,
  formatRelative,
  formatTime,
  formatTokens,
  plural,
  shortHex,
} from "../lib/format.ts";
import { usePolicy } from "../lib/queries.ts";
import { tierList, type Policy } from "../lib/readPolicy.ts";
import { TierTable } from "./-components/TierTable.tsx";

export const Route = createFileRoute("/")({ component: PolicyPage });

function PolicyPage() {
  const policy = usePolicy();
  return (
    <section className="page" aria-labelledby="policy-title">
      <div className="page-head">
        <h1 id="policy-title">Policy</h1>
        <p className="lede">
          The rules the AI runs under, as the PolicyRegistry holds them now. Only a passed proposal changes them; the
          guardian can only stop everything.
        </p>
      </div>
      <Loaded query={policy} what="the policy">
        {(p) => <PolicyView policy={p} />}
      </Loaded>
    </section>
  );
}

function PolicyView({ policy }: { policy: Policy }) {
  const { head } = useChainHead();
  const { config } = useApp();
  const now = Number(head?.timestamp ?? 0n);
  const ks = policy.killSwitch;
  const tiers = tierList(policy).filter((tier) => tier.queriesPerEpoch > 0n);
  return (
    <>
      <div className="stat-grid">
        <div className={`stat ${ks.engaged ? "stat-danger" : "stat-ok"}`} data-testid="policy-kill-switch">
          <span className="stat-label">Kill switch</span>
          <span className="stat-value">{ks.engaged ? "Engaged" : "Off"}</span>
          {ks.engaged ? (
            <span className="stat-note">
              “{ks.reason}” by <AddressText address={ks.engagedBy} />, {formatRelative(ks.engagedAt, now)}
            </span>
          ) : (
            <span className="stat-note">The AI ingests, answers and trains within policy.</span>
          )}
        </div>
        <div className="stat">
          <span className="stat-label">Policy version</span>
          <span className="stat-value" data-testid="policy-version">
            {policy.policyVersion.toString()}
          </span>
          <span className="stat-note">{plural(policy.history.length, "change")} since deployment</span>
        </div>
        <div className="stat">
          <span className="stat-label">Fee per query</span>
          <span className="stat-value">{formatEth(policy.feePerQuery)}</span>
          <span className="stat-note">paid into the contributors' reward pool</span>
        </div>
        <Treasury />
        <div className="stat">
          <span className="stat-label">Epoch</span>
          <span className="stat-value">{policy.currentEpoch.toString()}</span>
          <span className="stat-note">
            {formatDuration(policy.epochLength)} long; resets {formatRelative(policy.currentEpochEnd, now)}
          </span>
        </div>
      </div>

      <div className="card-grid">
        <section className="card" aria-labelledby="submitters-title">
          <h2 id="submitters-title">Submitters</h2>
          <p className="muted small">Who may submit training data.</p>
          {policy.submitters.size === 0 ? (
            <p>Nobody yet.</p>
          ) : (
            <ul className="plain-list" data-testid="submitters">
              {[...policy.submitters].map((s) => (
                <li key={s}>
                  <AddressText address={s} />
                </li>
              ))}
            </ul>
          )}
        </section>

        <section className="card" aria-labelledby="attestation-title">
          <h2 id="attestation-title">Attestations</h2>
          <p className="muted small">What each contribution's EAS attestations must satisfy.</p>
          {policy.attestation.minAttestations === 0 ? (
            <p>No requirement set yet: no contribution can be recorded.</p>
          ) : (
            <dl className="kv">
              <div>
                <dt>Required</dt>
                <dd>
                  {policy.attestation.minAttestations} of {policy.attestation.attesters.length} trusted attesters
                </dd>
              </div>
              <div>
                <dt>Attesters</dt>
                <dd>
                  <ul className="plain-list">
                    {policy.attestation.attesters.map((a) => (
                      <li key={a}>
                        <AddressText address={a} />
                      </li>
                    ))}
                  </ul>
                </dd>
              </div>
              <div>
                <dt>Schema</dt>
                <dd>
                  <code title={policy.attestation.schemaUID}>{shortHex(policy.attestation.schemaUID)}</code>
                  {policy.attestation.schemaUID.toLowerCase() === config.deployment.dataSchema.uid.toLowerCase() ? (
                    <span className="muted small"> the data schema</span>
                  ) : null}
                </dd>
              </div>
              <div>
                <dt>Maximum age</dt>
                <dd>{policy.attestation.maxAge === 0n ? "no limit" : formatDuration(policy.attestation.maxAge)}</dd>
              </div>
            </dl>
          )}
        </section>

        <section className="card" aria-labelledby="quotas-title">
          <h2 id="quotas-title">Consumers and quotas</h2>
          <p className="muted small">
            Who may query the AI, and how often per epoch, by vote. A quota voted for a consumer wins over its tier.
          </p>
          {policy.quotas.size === 0 ? (
            <p>No consumer yet.</p>
          ) : (
            <table className="table" data-testid="quotas">
              <thead>
                <tr>
                  <th scope="col">Consumer</th>
                  <th scope="col" className="num">
                    Queries per epoch
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...policy.quotas].map(([consumer, quota]) => (
                  <tr key={consumer}>
                    <td>
                      <AddressText address={consumer} />
                    </td>
                    <td className="num">{quota.toString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section className="card" aria-labelledby="tiers-title">
          <h2 id="tiers-title">Access tiers</h2>
          <p className="muted small">
            Anyone joins an open tier by paying its price (to the treasury) on the{" "}
            <Link to="/consume">Consume page</Link>, with no proposal.
          </p>
          {tiers.length === 0 ? (
            <p>No tier yet: only consumers with a voted quota may query.</p>
          ) : (
            <TierTable tiers={tiers} testId="tiers" />
          )}
        </section>

        <section className="card" aria-labelledby="committee-title">
          <h2 id="committee-title">Keyholder committee</h2>
          <p className="muted small">Who holds a share of each data key; a key is released only for approved runs.</p>
          {policy.committee.id === 0n ? (
            <p>No committee yet.</p>
          ) : (
            <>
              <p>
                Committee #{policy.committee.id.toString()}: {policy.committee.threshold} of{" "}
                {policy.committee.members.length} must release a key.
              </p>
              <ul className="plain-list">
                {policy.committee.members.map((m, i) => (
                  <li key={m}>
                    <AddressText address={m} />{" "}
                    <code className="muted small" title={policy.committee.publicKeys[i]}>
                      key {shortHex(policy.committee.publicKeys[i] ?? "0x", 4)}
                    </code>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>

        <section className="card" aria-labelledby="operations-title">
          <h2 id="operations-title">Workers and training</h2>
          <dl className="kv">
            <div>
              <dt>Workers</dt>
              <dd>
                {policy.workers.size === 0 ? (
                  "none"
                ) : (
                  <ul className="plain-list">
                    {[...policy.workers].map((w) => (
                      <li key={w}>
                        <AddressText address={w} />
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </div>
            <div>
              <dt>Training runs</dt>
              <dd>
                {policy.trainingRuns.size === 0 ? (
                  "none approved"
                ) : (
                  <ul className="plain-list">
                    {[...policy.trainingRuns].map(([runId, r]) => (
                      <li key={runId}>
                        <code title={runId}>{shortHex(runId)}</code>{" "}
                        {r.revoked
                          ? "revoked"
                          : r.expiresAt <= BigInt(now)
                            ? "expired"
                            : `approved until ${formatTime(r.expiresAt)}`}
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </div>
            <div>
              <dt>Model reveal delay</dt>
              <dd>{formatDuration(policy.revealDelay)}</dd>
            </div>
          </dl>
        </section>

        <section className="card" aria-labelledby="guardian-title">
          <h2 id="guardian-title">Guardian</h2>
          <p className="muted small">May engage the kill switch at once; cannot lift it or change anything else.</p>
          <p>
            <AddressText address={policy.guardian} />
          </p>
          <p>
            <Link to="/guardian">Guardian page</Link>
          </p>
        </section>
      </div>

      <section className="card" aria-labelledby="history-title">
        <h2 id="history-title">History of changes</h2>
        {policy.history.length === 0 ? (
          <p>No change since deployment.</p>
        ) : (
          <ol className="history" data-testid="policy-history">
            {policy.history.map((change) => (
              <li key={`${change.transactionHash}-${change.version.toString()}`}>
                <span className="history-version" title="Policy version">
                  v{change.version.toString()}
                </span>
                <div>
                  <p className="history-change">{describePolicyEvent(change)}</p>
                  <p className="history-meta">
                    <span>
                      {change.proposalId !== undefined ? (
                        <Link to="/proposals/$proposalId" params={{ proposalId: change.proposalId.toString() }}>
                          by proposal {change.proposalId.toString().slice(0, 8)}…
                        </Link>
                      ) : change.eventName === "KillSwitchEngaged" ? (
                        <>
                          by the guardian <AddressText address={change.args.by} />
                        </>
                      ) : (
                        "by a timelock operation"
                      )}
                    </span>
                    <span>
                      {change.timestamp !== undefined ? formatTime(change.timestamp) : null} (block{" "}
                      {change.blockNumber.toString()})
                    </span>
                  </p>
                </div>
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}

/** What the timelock holds: the treasury that proposals spend from. */
function Treasury() {
  const treasury = useChainQuery(["treasury"], async ({ publicClient, contracts }, head) => {
    const [eth, tokens] = await Promise.all([
      publicClient.getBalance({ address: contracts.timelock, blockNumber: head.number }),
      publicClient.readContract({
        address: contracts.token,
        abi: governanceTokenAbi,
        functionName: "balanceOf",
        args: [contracts.timelock],
        blockNumber: head.number,
      }),
    ]);
    return { eth, tokens };
  });
  return (
    <div className="stat">
      <span className="stat-label">Treasury</span>
      <span className="stat-value">{treasury.data ? formatBalance(treasury.data.eth) : "…"}</span>
      <span className="stat-note">
        {treasury.data ? `and ${formatTokens(treasury.data.tokens, { compact: true })} governance tokens; ` : ""}
        held by the timelock, spent only by proposals
      </span>
    </div>
  );
}
