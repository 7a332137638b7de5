import { importFile } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import type { ByteSource } from "./ContentStore.ts";
import { heliaImportOptions } from "./unixfsImportOptions.ts";

/**
 * The CID a byte stream gets under the worker's import settings, computed without storing
 * anything. The Kubo adapter compares it with the CID the node answers, so that a node that
 * stored something else, or imports with other settings, is caught at once rather than when the
 * content is next read.
 */
export async function computeCid(source: ByteSource): Promise<CID> {
  const discard = { put: async (cid: CID) => cid };
  const { cid } = await importFile({ content: source }, discard, heliaImportOptions);
  return CID.parse(cid.toString());
}
