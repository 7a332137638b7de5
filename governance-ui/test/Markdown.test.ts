import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { Markdown } from "../src/lib/Markdown.tsx";

// Renders what a reader of the proposal page gets: the HTML of the description card.
const render = (source: string, headingOffset = 2) =>
  renderToStaticMarkup(createElement(Markdown, { source, headingOffset }));

const description = [
  "## Budget",
  "",
  "| Item | Cost |",
  "| --- | ---: |",
  "| GPUs | 120 ETH |",
  "| Storage | 4 ETH |",
  "",
  "- Phase one",
  "  - collect data",
  "  - train",
  "- Phase two",
  "",
  "Read [the plan](https://example.org/plan) or write to <mailto:dao@example.org>.",
  "",
  '<script>document.title = "pwned"</script>',
  "",
  '<img src="x" onerror="alert(1)">',
  "",
  "Click [here](javascript:alert(document.cookie)) or [there](JAVASCRIPT:alert(1)).",
  "",
  "![chart](https://example.org/chart.png)",
].join("\n");

describe("Markdown", () => {
  test("a description's table shows its header and cells", () => {
    const html = render(description);
    expect(html).toContain("<table>");
    expect(html).toMatch(/<th>Item<\/th>/);
    expect(html).toMatch(/<td>GPUs<\/td>/);
    expect(html).toMatch(/<td style="text-align:right">120 ETH<\/td>/);
    expect(html).toMatch(/<td>Storage<\/td>/);
  });

  test("a nested list keeps its items inside their parent item", () => {
    const html = render(description);
    expect(html).toMatch(/<li>Phase one\s*<ul>\s*<li>collect data<\/li>\s*<li>train<\/li>\s*<\/ul>\s*<\/li>/);
    expect(html).toMatch(/<li>Phase two<\/li>/);
  });

  test("http(s) and mailto links open safely in a new tab", () => {
    const html = render(description);
    expect(html).toContain(
      '<a href="https://example.org/plan" rel="noopener noreferrer nofollow" target="_blank">the plan</a>',
    );
    expect(html).toContain(
      '<a href="mailto:dao@example.org" rel="noopener noreferrer nofollow" target="_blank">mailto:dao@example.org</a>',
    );
  });

  test("a <script> or HTML with handlers in a description is shown as text, never as markup", () => {
    const html = render(description);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;document.title = &quot;pwned&quot;&lt;/script&gt;");
    expect(html).toContain("&lt;img src=&quot;x&quot; onerror=&quot;alert(1)&quot;&gt;");
  });

  test("a javascript: link is shown as plain text, not as a link", () => {
    const html = render(description);
    expect(html.toLowerCase()).not.toContain("javascript:");
    expect(html).toContain('<span class="unsafe-link">here</span>');
    expect(html).toContain('<span class="unsafe-link">there</span>');
  });

  test("an image is offered as a link rather than loaded from a third party", () => {
    const html = render(description);
    expect(html).toContain(
      '<a href="https://example.org/chart.png" rel="noopener noreferrer nofollow" target="_blank">chart</a>',
    );
  });

  test("headings sit below the page's own headings", () => {
    expect(render("# Title\n\n## Part", 2)).toBe('<div class="markdown"><h3>Title</h3>\n<h4>Part</h4></div>');
    expect(render("###### Deep", 2)).toContain("<h6>Deep</h6>");
  });
});
