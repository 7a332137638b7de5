import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import sparticuzChromium from "@sparticuz/chromium";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";
import { repoRoot } from "../../../scripts/lib/deploy/contractArtifacts.ts";
import { devAccount } from "./startStack.ts";

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

/** Acts as development account `index` through the header's account picker, and waits until it does. */
export async function actAs(page: Page, index: number) {
  await page.getByLabel("Act as").selectOption(String(index));
  await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(devAccount(index).address);
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

export type TestWallet = {
  /** The name and reverse-DNS id the wallet announces (EIP-6963). */
  name: string;
  rdns: string;
  account: string;
  /** The chain it is on at first; one other than the app's is unknown to it until the app adds it. */
  chainId?: number;
  /** Its icon's colour: the wallet announces a small SVG of it as a data URI. */
  colour?: string;
  /** False for an older wallet that only sets `window.ethereum` and announces nothing. */
  announces?: boolean;
};

/** The icon `wallet` announces. */
export function testWalletIcon(wallet: TestWallet): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="${wallet.colour ?? "#555"}"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">${wallet.name[0]}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/**
 * Stand-ins for browser wallets, as extensions inject them: each an EIP-1193 provider that shares
 * one account with the sites allowed to see it, knows the chains it was told about, and announces itself through EIP-6963
 * (`eip6963:announceProvider`, again on every `eip6963:requestProvider`). As with real extensions
 * the first one also takes `window.ethereum`, so a page that only looked there would use it
 * whatever the person chose. Requests go to the chain through the page's /rpc proxy (or the RPC
 * URL the app gave with `wallet_addEthereumChain`); Anvil holds the development accounts unlocked,
 * so it signs and sends for them as a wallet would. `window.__testWallets[rdns]` shows each
 * wallet's requests and can move it to another chain (`switchTo`), as a person would in the wallet.
 */
export function injectedWalletScript(wallets: readonly TestWallet[]): string {
  const announced = wallets.map((wallet) => ({ ...wallet, icon: testWalletIcon(wallet) }));
  return `(() => {
    const wallets = ${JSON.stringify(announced)};
    window.__testWallets = {};
    const details = wallets.map((wallet, i) => {
      const listeners = {};
      const emit = (event, value) => (listeners[event] || []).forEach((listener) => listener(value));
      // Like a real wallet, it remembers (across reloads) the chain it is on, the chains it was
      // told about, and whether the person allowed this site to see the account.
      const key = "testWallet:" + wallet.rdns;
      const saved = JSON.parse(localStorage.getItem(key) || "null") || {
        chainId: wallet.chainId ?? 31337,
        networks: (wallet.chainId ?? 31337) === 31337 ? { 31337: "/rpc" } : { [wallet.chainId]: null },
        authorized: false,
      };
      const state = {
        ...saved,
        requests: [],
        save: () => localStorage.setItem(key, JSON.stringify({ chainId: state.chainId, networks: state.networks, authorized: state.authorized })),
        authorize(yes) {
          state.authorized = yes;
          state.save();
        },
        switchTo(chainId) {
          state.chainId = chainId;
          state.save();
          emit("chainChanged", "0x" + chainId.toString(16));
        },
      };
      window.__testWallets[wallet.rdns] = state;
      const fail = (code, message) => Object.assign(new Error(message), { code });
      const provider = {
        async request({ method, params }) {
          state.requests.push(method);
          switch (method) {
            case "eth_accounts":
              return state.authorized ? [wallet.account] : [];
            case "eth_requestAccounts":
              state.authorize(true);
              return [wallet.account];
            case "wallet_requestPermissions":
              state.authorize(true);
              return [{ parentCapability: "eth_accounts", caveats: [{ type: "restrictReturnedAccounts", value: [wallet.account] }] }];
            case "wallet_revokePermissions":
              state.authorize(false);
              return null;
            case "eth_chainId":
              return "0x" + state.chainId.toString(16);
            case "wallet_switchEthereumChain": {
              const chainId = parseInt(params[0].chainId, 16);
              if (!(chainId in state.networks)) throw fail(4902, "Unrecognized chain ID " + params[0].chainId);
              state.switchTo(chainId);
              return null;
            }
            case "wallet_addEthereumChain": {
              const chainId = parseInt(params[0].chainId, 16);
              state.networks[chainId] = params[0].rpcUrls[0];
              state.switchTo(chainId);
              return null;
            }
          }
          const url = state.networks[state.chainId];
          if (!url) throw fail(4901, "The wallet cannot reach chain " + state.chainId);
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
          });
          const body = await response.json();
          if (body.error) throw Object.assign(new Error(body.error.message), body.error);
          return body.result;
        },
        on(event, listener) {
          (listeners[event] ||= []).push(listener);
        },
        removeListener(event, listener) {
          listeners[event] = (listeners[event] || []).filter((l) => l !== listener);
        },
      };
      const info = { uuid: "00000000-0000-4000-8000-00000000000" + i, name: wallet.name, icon: wallet.icon, rdns: wallet.rdns };
      return Object.freeze({ info: Object.freeze(info), provider });
    });
    const announce = () =>
      details
        .filter((_, i) => wallets[i].announces !== false)
        .forEach((detail) => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail })));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
    window.ethereum = details[0].provider;
  })();`;
}

export type RpcCounter = {
  /** JSON-RPC calls by method since the last reset, each call of a batch counted. */
  calls(): Record<string, number>;
  /** HTTP requests to /rpc since the last reset (a JSON-RPC batch is one). */
  httpRequests(): number;
  reset(): void;
};

/** Counts what the page asks the chain through the UI server's /rpc proxy, as the network sees it. */
export function countRpc(page: Page): RpcCounter {
  let calls: Record<string, number> = {};
  let httpRequests = 0;
  page.on("request", (request) => {
    if (request.method() !== "POST" || !new URL(request.url()).pathname.endsWith("/rpc")) return;
    httpRequests += 1;
    const body = request.postDataJSON() as { method: string } | { method: string }[];
    for (const { method } of Array.isArray(body) ? body : [body]) calls[method] = (calls[method] ?? 0) + 1;
  });
  return {
    calls: () => ({ ...calls }),
    httpRequests: () => httpRequests,
    reset() {
      calls = {};
      httpRequests = 0;
    },
  };
}
