import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";

/**
 * How content becomes a DAG. These are Kubo's `ipfs add --cid-version=1` defaults (CIDv1, raw
 * leaves, 256 KiB fixed chunks, a balanced tree of up to 174 children per node), spelled out for
 * both adapters so that Helia and Kubo give the same bytes the same CID. Helia's own defaults
 * differ between releases, which would make a CID depend on a library upgrade.
 */
export const CHUNK_BYTES = 262_144;
export const MAX_CHILDREN_PER_NODE = 174;

export const heliaImportOptions = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: CHUNK_BYTES }),
  layout: balanced({ maxChildrenPerNode: MAX_CHILDREN_PER_NODE }),
} as const;

/** The same settings as Kubo's /api/v0/add query options (kubo-rpc-client kebab-cases them). */
export const kuboAddOptions = {
  cidVersion: 1,
  rawLeaves: true,
  chunker: `size-${CHUNK_BYTES}`,
  pin: true,
} as const;
