import type { TestClient } from "viem";

/**
 * Chain snapshots for a test file: `save` once the shared state is set up, `restore` before each
 * test so that every test starts from that state (Ponder's `setupAnvil`). A fresh system costs
 * about half a second; a revert costs a few milliseconds.
 */
export function createSnapshots(testClient: TestClient) {
  let id: `0x${string}` | undefined;
  return {
    async save() {
      id = await testClient.snapshot();
    },
    async restore() {
      if (!id) throw new Error("No snapshot saved: call save() in beforeAll first.");
      await testClient.revert({ id });
      // A snapshot is consumed by reverting to it, so take it again for the next test.
      id = await testClient.snapshot();
    },
  };
}
