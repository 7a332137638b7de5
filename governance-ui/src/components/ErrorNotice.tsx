import type { DecodedError } from "../lib/decodeError.ts";

/** A decoded error: its name, what it means, and its arguments for those who want them. */
export function ErrorNotice({ error, title }: { error: DecodedError; title?: string }) {
  return (
    <div className="notice notice-error" role="alert">
      <p className="notice-title">
        {title ? `${title}: ` : null}
        <code className="error-name">{error.name}</code>
      </p>
      <p className="error-meaning">{error.meaning}</p>
      {error.args.length > 0 || error.details ? (
        <details>
          <summary>Details</summary>
          {error.args.length > 0 ? (
            <dl className="kv">
              {error.args.map((arg) => (
                <div key={arg.name}>
                  <dt>{arg.name}</dt>
                  <dd>
                    <code>{arg.value}</code>
                  </dd>
                </div>
              ))}
            </dl>
          ) : null}
          {error.details ? <p className="muted small">{error.details}</p> : null}
        </details>
      ) : null}
    </div>
  );
}
