import { importFile } from "ipfs-unixfs-importer";
import { describe, expect, it } from "vitest";
import { heliaImportOptions } from "../../src/storage/unixfsImportOptions.ts";
import { irregularChunks, randomPlaintext } from "../crypto/streams.ts";

const KiB = 1024;

/** Every block an import writes, as CID strings, in the order written. */
async function importBlocks(bytes: Uint8Array, options: Parameters<typeof importFile>[2]) {
  const written: string[] = [];
  const blockstore: Parameters<typeof importFile>[1] = { put: async (cid) => (written.push(cid.toString()), cid) };
  const { cid } = await importFile({ content: irregularChunks(bytes, 3) }, blockstore, options);
  return { root: cid.toString(), written };
}

describe("createRawLeafImporter (the leaves hashed in the thread pool)", () => {
  const { bufferImporter: _, ...stock } = heliaImportOptions;

  it.each([0, 1, 256 * KiB, 256 * KiB + 1, 3 * 256 * KiB + 100, 11 * 256 * KiB])(
    "writes the same blocks under the same CIDs as the stock importer for %i bytes",
    async (size) => {
      const bytes = randomPlaintext(size);
      const ours = await importBlocks(bytes, heliaImportOptions);
      const theirs = await importBlocks(bytes, stock);
      expect(ours.root).toBe(theirs.root);
      // Written in batches, in whatever order each batch's writes finish.
      expect(ours.written.sort()).toEqual(theirs.written.sort());
    },
  );
});
