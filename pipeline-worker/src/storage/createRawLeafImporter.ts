import { webcrypto } from "node:crypto";
import type { BufferImporter } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { create as createDigest } from "multiformats/hashes/digest";
import { sha256 } from "multiformats/hashes/sha2";

/**
 * Makes the leaves of a UnixFS import exactly as ipfs-unixfs-importer's own buffer importer does
 * with `rawLeaves` (one raw block per chunk, CIDv1, SHA-256), but hashes them with WebCrypto,
 * which runs in libuv's thread pool: the importer hashes a batch of leaves at once
 * (`blockWriteConcurrency`), so the block hashes run on other cores, beside the stream hashes and
 * the encryption, instead of one after another on the event loop. The CIDs are the same bytes
 * (test/storage/createRawLeafImporter.test.ts compares them with the stock importer's).
 */
export function createRawLeafImporter(): BufferImporter {
  return async function* rawLeafImporter(file, blockstore) {
    for await (const block of file.content) {
      yield async () => {
        const digest = new Uint8Array(await webcrypto.subtle.digest("SHA-256", block));
        const cid = CID.createV1(raw.code, createDigest(sha256.code, digest));
        await blockstore.put(cid, block);
        return { cid, size: BigInt(block.byteLength), block };
      };
    }
  };
}
