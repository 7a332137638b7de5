import { useState } from "react";

/**
 * How to call the worker with a new key, shown once with the token in it: `curl` and the official
 * `openai` client, both against the worker's OpenAI-compatible routes.
 */
export function ConsumeKeySnippets({ token, baseUrl, model }: { token: string; baseUrl: string; model: string }) {
  const example = "Your parcel is ready for pickup at the post office";
  const body = JSON.stringify({ model, messages: [{ role: "user", content: example }] });
  const curl = [
    `curl ${baseUrl}/v1/chat/completions \\`,
    `  -H "Authorization: Bearer ${token}" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d '${body}'`,
  ].join("\n");
  const openai = [
    `import OpenAI from "openai";`,
    ``,
    `const client = new OpenAI({ baseURL: "${baseUrl}/v1", apiKey: "${token}" });`,
    `const completion = await client.chat.completions.create({`,
    `  model: "${model}",`,
    `  messages: [{ role: "user", content: "${example}" }],`,
    `});`,
    `console.log(completion.choices[0].message.content);`,
  ].join("\n");
  return (
    <div className="notice" data-testid="new-key">
      <p className="notice-title">Copy this key now: it is shown only once, and nobody can show it again.</p>
      <Snippet label="API key" text={token} testId="new-key-token" />
      <Snippet label="curl" text={curl} testId="new-key-curl" />
      <Snippet label="openai (Node)" text={openai} testId="new-key-openai" />
    </div>
  );
}

function Snippet({ label, text, testId }: { label: string; text: string; testId: string }) {
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <div className="snippet">
      <div className="button-row">
        <strong>{label}</strong>
        <button
          type="button"
          className="button-small button-secondary"
          onClick={() =>
            void navigator.clipboard.writeText(text).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied === true ? "Copied" : `Copy ${label}`}
        </button>
        {copied === false ? (
          <span className="small muted">The browser refused the clipboard: select the text.</span>
        ) : null}
      </div>
      <pre data-testid={testId}>{text}</pre>
    </div>
  );
}
