import { createElement, useMemo, type ComponentPropsWithoutRef } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

/** Only these schemes become links; anything else (javascript:, data:, relative paths) stays text. */
const SAFE_HREF = /^(https?:\/\/|mailto:)/i;

/**
 * Renders a proposal description as people write it: CommonMark plus GitHub's tables, task lists,
 * strikethrough and autolinks. Raw HTML is never interpreted (no rehype-raw): react-markdown shows
 * it as text, so a description cannot run script or restyle the page. Links open in a new tab
 * without handing the proposal page to the target (rel="noopener noreferrer").
 */
export function Markdown({ source, headingOffset = 1 }: { source: string; headingOffset?: number }) {
  const components = useMemo(() => markdownComponents(headingOffset), [headingOffset]);
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm]} urlTransform={safeUrl} components={components}>
        {source}
      </ReactMarkdown>
    </div>
  );
}

// Drops every URL but http(s) and mailto; the link and image components then render what is left as text.
function safeUrl(url: string): string | undefined {
  return SAFE_HREF.test(url.trim()) ? url.trim() : undefined;
}

function markdownComponents(headingOffset: number): Components {
  // The page already has its own h1/h2, so the description's headings sit below them.
  const heading =
    (level: number) =>
    ({ node: _node, ...props }: ComponentPropsWithoutRef<"h1"> & { node?: unknown }) =>
      createElement(`h${Math.min(6, level + headingOffset)}`, props);
  return {
    h1: heading(1),
    h2: heading(2),
    h3: heading(3),
    h4: heading(4),
    h5: heading(5),
    h6: heading(6),
    a: ({ node: _node, href, children }) =>
      href ? (
        <a href={href} rel="noopener noreferrer nofollow" target="_blank">
          {children}
        </a>
      ) : (
        <span className="unsafe-link">{children}</span>
      ),
    // Images are shown as links: loading them inline would tell a third party who reads the proposal.
    img: ({ node: _node, src, alt }) =>
      typeof src === "string" && src ? (
        <a href={src} rel="noopener noreferrer nofollow" target="_blank">
          {alt || src}
        </a>
      ) : (
        <span>{alt}</span>
      ),
    table: ({ node: _node, ...props }) => (
      <div className="markdown-table">
        <table {...props} />
      </div>
    ),
  };
}
