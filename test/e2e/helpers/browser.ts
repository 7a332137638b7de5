import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";
import { repoRoot } from "../../../scripts/lib/contractArtifacts.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SCREENSHOTS = path.join(repoRoot, "governance-ui", "screenshots");

/** Flags that keep Debian's Chromium quiet and offline in a sandboxed CI machine. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type TestBrowser = {
  browser: Browser;
  /** A fresh context (no stored wallet choice) and page at `url`, wide or phone-sized. */
  open(
    url: string,
    options?: { phone?: boolean; initScript?: string },
  ): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
};

export async function launchBrowser(): Promise<TestBrowser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  // Playwright gives each launch a fresh, empty profile of its own.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  return {
    browser,
    async open(url, options = {}) {
      const context = await browser.newContext(
        options.phone
          ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
          : { viewport: { width: 1280, height: 900 } },
      );
      if (options.initScript) await context.addInitScript({ content: options.initScript });
      const page = await context.newPage();
      await page.goto(url);
      return { context, page };
    },
    close: () => browser.close(),
  };
}

/** Acts as development account `index` through the header's account picker. */
export async function actAs(page: Page, index: number) {
  await page.getByLabel("Act as").selectOption(String(index));
  await page.getByTestId("wallet-address").waitFor();
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits for what a person would see: the page refreshes on new blocks, so values arrive within seconds. */
export function poll<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 20_000, interval: 100 });
}

/** Follows a link of the main navigation. */
export async function navigate(page: Page, label: string) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
}

/**
 * A stand-in for a browser wallet: an EIP-1193 provider that shares one account and passes every
 * other request to the chain through the page's own /rpc proxy. Anvil holds the development
 * accounts unlocked, so it signs and sends for them as a wallet would.
 */
export function injectedWalletScript(account: string): string {
  return `
    window.ethereum = {
      isTestWallet: true,
      async request({ method, params }) {
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [${JSON.stringify(account)}];
        const response = await fetch("/rpc", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        });
        const body = await response.json();
        if (body.error) throw Object.assign(new Error(body.error.message), body.error);
        return body.result;
      },
      on() {},
      removeListener() {},
    };`;
}
