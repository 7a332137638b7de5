import type { CID } from "multiformats/cid";

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export type PutResult = {
  /** The content's address, computed by the worker itself, never taken on trust from a node. */
  cid: CID;
  /** Bytes stored. */
  size: number;
};

export type GetOptions = {
  /**
   * When given, the bytes read back must also hash to this, or the stream ends in an error. The
   * CID already binds the bytes; this is for a hash recorded elsewhere, such as the
   * ciphertextSha256 of version 1 submission manifests.
   */
  sha256?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
};

/**
 * Where the worker keeps ciphertexts and wrapped key shares: IPFS, embedded (Helia) or external
 * (Kubo). Content is addressed by CID and pinned on `put`. Everything read back is verified, block
 * by block, against the CID before it is released, so a faulty disk or a lying node cannot pass
 * off other bytes; callers may rely on this and need not hash again.
 *
 * Both adapters build the same DAG (unixfsImportOptions.ts), so the same bytes get the same CID
 * whichever one stores them, and a CID recorded on chain does not depend on the operator's choice.
 *
 * Puts and removes run concurrently: a put is paced by whoever feeds it (an upload's client), so
 * nothing else waits for it, and a remove never deletes what a put in flight has written and still
 * needs. Waits inside a store are bounded: past them a call fails with a retryable
 * STORAGE_UNAVAILABLE rather than hanging.
 */
export type ContentStore = {
  readonly kind: "helia" | "kubo";
  put(source: ByteSource, options?: { signal?: AbortSignal | undefined }): Promise<PutResult>;
  /**
   * Streams the content. Each block is checked against its CID before any of its bytes are
   * released; an expected SHA-256 can only be checked at the end, so a mismatch there throws as
   * the stream ends: treat what was read as valid only once iteration finishes without error.
   */
  get(cid: CID | string, options?: GetOptions): AsyncGenerator<Uint8Array>;
  /** Whether the content is pinned here, i.e. held whole and kept. */
  has(cid: CID | string): Promise<boolean>;
  /**
   * Unpins the content so it is not kept: the embedded store deletes blocks no other pin holds at
   * once; a Kubo node reclaims them at its next garbage collection. Unpinning what is not pinned
   * is not an error.
   */
  remove(cid: CID | string): Promise<void>;
  close(): Promise<void>;
};
