import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import sparticuzChromium from "@sparticuz/chromium";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";
import { repoRoot } from "../../../scripts/lib/contractArtifacts.ts";

export const SCREENSHOTS = path.join(repoRoot, "governance-ui", "screenshots");

/** Debian's Chromium, used only where the npm one cannot start (see `chromiumCandidates`). */
const SYSTEM_CHROMIUM = "/usr/bin/chromium";

/** Flags that keep Chromium quiet and offline in a sandboxed CI machine. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * @sparticuz/chromium's flags are made for AWS Lambda. Three of them change what a test sees:
 * --single-process makes closing one browser context kill the whole browser (each test opens its
 * own context), and --disable-web-security / --allow-running-insecure-content would let the UI
 * pass where a user's browser would refuse it.
 */
const LAMBDA_ONLY_FLAGS = new Set(["--single-process", "--disable-web-security", "--allow-running-insecure-content"]);

type Candidate = { executablePath: string; args: string[]; source: string };

/**
 * Which Chromium to launch, in order. CHROMIUM_PATH, when set, is the only one. Otherwise the one
 * inside the npm package @sparticuz/chromium first: it comes with `npm install`, so a fresh clone
 * and CI run the same browser build with no apt step, whatever the machine has installed. Debian's
 * /usr/bin/chromium second, where present, for a machine on which the npm binary cannot be
 * unpacked or started (another CPU architecture, missing system libraries).
 */
async function chromiumCandidates(): Promise<(Candidate | Error)[]> {
  if (process.env.CHROMIUM_PATH) {
    return [{ executablePath: process.env.CHROMIUM_PATH, args: FLAGS, source: "CHROMIUM_PATH" }];
  }
  const candidates: (Candidate | Error)[] = [];
  try {
    candidates.push({
      // Unpacks the browser into the temporary directory (about 2 s) the first time, then reuses it.
      executablePath: await sparticuzChromium.executablePath(),
      args: [...sparticuzChromium.args.filter((flag) => !LAMBDA_ONLY_FLAGS.has(flag)), ...FLAGS],
      source: "@sparticuz/chromium",
    });
  } catch (error) {
    candidates.push(new Error("@sparticuz/chromium could not be unpacked", { cause: error }));
  }
  if (existsSync(SYSTEM_CHROMIUM)) {
    candidates.push({ executablePath: SYSTEM_CHROMIUM, args: FLAGS, source: "the system's Chromium" });
  }
  return candidates;
}

let announced = false;

export type TestBrowser = {
  browser: Browser;
  /** A fresh context (no stored wallet choice) and page at `url`, wide or phone-sized. */
  open(
    url: string,
    options?: { phone?: boolean; initScript?: string },
  ): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
};

/**
 * Launches headless Chromium: the first of `chromiumCandidates` that starts, or only
 * `executablePath` when given (a test of a failed launch passes one that does not exist).
 */
export async function launchBrowser(options: { executablePath?: string } = {}): Promise<TestBrowser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const candidates = options.executablePath
    ? [{ executablePath: options.executablePath, args: FLAGS, source: "the caller" }]
    : await chromiumCandidates();
  const failures: Error[] = [];
  let browser: Browser | undefined;
  for (const candidate of candidates) {
    if (candidate instanceof Error) {
      failures.push(candidate);
      continue;
    }
    try {
      // Playwright gives each launch a fresh, empty profile of its own.
      browser = await chromium.launch({
        executablePath: candidate.executablePath,
        headless: true,
        args: candidate.args,
      });
    } catch (error) {
      failures.push(
        new Error(`${candidate.executablePath} (from ${candidate.source}) did not start`, { cause: error }),
      );
      continue;
    }
    if (!announced) {
      // Once per test file, so a run's log says which browser the results come from.
      console.info(`Browser tests run ${candidate.executablePath} (from ${candidate.source}), ${browser.version()}.`);
      announced = true;
    }
    break;
  }
  if (!browser) {
    throw new AggregateError(
      failures,
      `No Chromium could be started: ${failures.map((failure) => failure.message).join("; ")}.`,
    );
  }
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
