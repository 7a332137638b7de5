import { useApp } from "../../../lib/AppContext.tsx";
import { describeCall, type Call } from "../../../lib/describeCall.ts";
import type { Policy } from "../../../lib/readPolicy.ts";

/** A proposal's actions in plain words, with what each changes (when the current policy is given). */
export function ActionList({ calls, policy }: { calls: Call[]; policy: Policy | undefined }) {
  const { contracts } = useApp();
  return (
    <ol className="action-list" data-testid="action-list">
      {calls.map((call, i) => {
        const described = describeCall(call, contracts, policy);
        return (
          <li key={i} className={described.known ? "action" : "action action-unknown"}>
            <p className="action-summary">{described.summary}</p>
            {!described.known ? (
              <p className="notice notice-warn small">
                The app does not recognise this call. Check its target and calldata before voting.
              </p>
            ) : null}
            {described.changes.length > 0 ? (
              <table className="table changes">
                <caption className="visually-hidden">What changes</caption>
                <thead>
                  <tr>
                    <th scope="col">What</th>
                    <th scope="col">Now</th>
                    <th scope="col">After</th>
                  </tr>
                </thead>
                <tbody>
                  {described.changes.map((c, k) => (
                    <tr key={k}>
                      <td>{c.label}</td>
                      <td>{c.before}</td>
                      <td>
                        <strong>{c.after}</strong>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
            <details>
              <summary>
                <code>{described.signature}</code>
              </summary>
              <dl className="kv small">
                {described.fields.map((f, k) => (
                  <div key={k}>
                    <dt>{f.label}</dt>
                    <dd>
                      <code className="break">{f.value}</code>
                    </dd>
                  </div>
                ))}
                <div>
                  <dt>target</dt>
                  <dd>
                    <code className="break">{call.target}</code>
                  </dd>
                </div>
              </dl>
            </details>
          </li>
        );
      })}
    </ol>
  );
}
