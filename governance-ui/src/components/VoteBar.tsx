import { formatTokens, percent } from "../lib/format.ts";

/** Votes for, against and abstaining, against the quorum (for plus abstain count towards quorum). */
export function VoteBar({
  votes,
  quorum,
  quorumIsEstimate = false,
}: {
  votes: { for: bigint; against: bigint; abstain: bigint };
  quorum: bigint;
  quorumIsEstimate?: boolean;
}) {
  const total = votes.for + votes.against + votes.abstain;
  const scale = total > quorum ? total : quorum;
  const counted = votes.for + votes.abstain;
  const reached = quorum > 0n && counted >= quorum;
  return (
    <div className="votebar">
      <div
        className="votebar-track"
        role="img"
        aria-label={`For ${formatTokens(votes.for)}, against ${formatTokens(votes.against)}, abstain ${formatTokens(votes.abstain)}; quorum ${formatTokens(quorum)}`}
      >
        <span className="votebar-for" style={{ width: `${percent(votes.for, scale)}%` }} />
        <span className="votebar-against" style={{ width: `${percent(votes.against, scale)}%` }} />
        <span className="votebar-abstain" style={{ width: `${percent(votes.abstain, scale)}%` }} />
        {quorum > 0n ? <span className="votebar-quorum" style={{ left: `${percent(quorum, scale)}%` }} /> : null}
      </div>
      <div className="votebar-legend small">
        <span>
          <span className="swatch swatch-for" aria-hidden="true" /> For {formatTokens(votes.for, { compact: true })}
        </span>
        <span>
          <span className="swatch swatch-against" aria-hidden="true" /> Against{" "}
          {formatTokens(votes.against, { compact: true })}
        </span>
        <span>
          <span className="swatch swatch-abstain" aria-hidden="true" /> Abstain{" "}
          {formatTokens(votes.abstain, { compact: true })}
        </span>
        <span className={reached ? "quorum-reached" : "quorum-missing"} data-testid="quorum">
          Quorum {formatTokens(counted, { compact: true })} / {quorumIsEstimate ? "≈" : ""}
          {formatTokens(quorum, { compact: true })} {reached ? "reached" : "not reached"}
        </span>
      </div>
    </div>
  );
}
