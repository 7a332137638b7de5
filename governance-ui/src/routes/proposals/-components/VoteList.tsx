import { AddressText } from "../../../components/AddressText.tsx";
import { Loaded } from "../../../components/Loading.tsx";
import { formatTokens } from "../../../lib/format.ts";
import { useVotes } from "../../../lib/queries.ts";

const SUPPORT = ["Against", "For", "Abstain"] as const;

/** Every vote cast, with its weight and reason. */
export function VoteList({ proposalId }: { proposalId: bigint }) {
  const votes = useVotes(proposalId);
  return (
    <Loaded query={votes} what="the votes">
      {(list) =>
        list.length === 0 ? (
          <p className="muted">No vote yet.</p>
        ) : (
          <ul className="vote-list" data-testid="vote-list">
            {list.map((vote) => (
              <li key={vote.transactionHash} className="vote">
                <div className="vote-head">
                  <span className={`support support-${SUPPORT[vote.support].toLowerCase()}`}>
                    {SUPPORT[vote.support]}
                  </span>
                  <AddressText address={vote.voter} />
                  <span className="muted small">{formatTokens(vote.weight)} votes</span>
                </div>
                {vote.reason ? <blockquote className="vote-reason">{vote.reason}</blockquote> : null}
              </li>
            ))}
          </ul>
        )
      }
    </Loaded>
  );
}
