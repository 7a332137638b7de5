// A browser test starts a chain stack and a browser at once. When one of them fails to start, the
// other must still be stopped: the run reported in issue 17 left Anvil running after the browser
// failed to launch. Every process the stack spawns inherits E2E_STACK_TAG, so the tag finds them;
// the worker and the UI server run in this process and show up as its listening ports.
// One stack per file: protocol-kit memoizes the Safe contracts it read by chain id and addresses,
// not by RPC URL, so a second stack in the same process would talk to the first one's dead Anvil.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import { launchBrowser } from "./helpers/browser.ts";
import { listeningPortsOf, processesMentioning } from "./helpers/childProcesses.ts";
import { startStack } from "./helpers/startStack.ts";
import { startTogether } from "./helpers/startTogether.ts";

describe("starting a browser test's stack and browser together", () => {
  test("a browser that fails to launch leaves no chain, worker or UI server running", async () => {
    const tag = (process.env.E2E_STACK_TAG = `e2e-stack-${randomUUID()}`);
    const portsBefore = listeningPortsOf(process.pid);
    let chainSeen = false;
    await expect(
      startTogether({
        stack: () => startStack(),
        browser: async () => {
          // Fail once the chain runs, as a launch does that takes longer than Anvil's start; this
          // also shows that the tag finds the stack's processes.
          while (!processesMentioning(tag).some((p) => p.command.includes("anvil"))) await sleep(50);
          chainSeen = true;
          return launchBrowser({ executablePath: "/nonexistent/chromium" });
        },
      }),
    ).rejects.toThrow(/\/nonexistent\/chromium/);
    expect(chainSeen).toBe(true);
    // Long enough for a stack left starting in the background to get its worker and UI up.
    await sleep(10_000);
    expect(processesMentioning(tag)).toEqual([]);
    expect(listeningPortsOf(process.pid)).toEqual(portsBefore);
  }, 120_000);
});
