import { afterAll, beforeAll } from "vitest";
import { launchBrowser, type TestBrowser } from "./browser.ts";
import { startStack, type Stack } from "./startStack.ts";
import { startTogether } from "./startTogether.ts";

/**
 * One stack and one browser for a test file's tests: started before them, closed after them.
 * Returns the object they are put in; read its fields inside tests, once they have started.
 */
export function useStackAndBrowser(): { stack: Stack; browser: TestBrowser } {
  const started = {} as { stack: Stack; browser: TestBrowser };
  beforeAll(async () => {
    // Not Promise.all: if one fails to start, the other must still be closed (issue 17).
    Object.assign(started, await startTogether({ stack: startStack, browser: () => launchBrowser() }));
  }, 120_000);
  afterAll(async () => {
    await started.browser?.close();
    await started.stack?.close();
  });
  return started;
}
