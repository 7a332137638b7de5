import { randomBytes } from "node:crypto";
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import path from "node:path";

// O_EXCL with O_CREAT never opens an existing file, nor follows a symlink at the name: the
// temporary file is always a new one, ours, created 0600 (chmod'ed again in case of an odd umask).
const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(8).toString("hex")}.tmp`);
}

/**
 * Writes a secret (plaintext weights, a private key) so that it is never readable by anyone but
 * its owner: into a new temporary file in the same directory, created 0600 with O_EXCL, flushed,
 * then renamed over `file`. A plain `writeFile(file, data, { mode: 0o600 })` applies the mode only
 * to a new file (an existing 0644 file stays 0644) and follows a symlink at `file`, writing the
 * secret wherever it points; rename replaces the name itself, whatever was there, and readers see
 * the old file or the new one whole, never a half-written one.
 */
export async function writeSecretFile(file: string, data: Uint8Array | string): Promise<void> {
  const temporary = temporaryName(file);
  const handle = await open(temporary, FLAGS, 0o600);
  try {
    try {
      await handle.chmod(0o600);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** `writeSecretFile` for synchronous callers (the local stack's scripts). */
export function writeSecretFileSync(file: string, data: Uint8Array | string): void {
  const temporary = temporaryName(file);
  const fd = openSync(temporary, FLAGS, 0o600);
  try {
    try {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      for (let offset = 0; offset < bytes.byteLength;) offset += writeSync(fd, bytes, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Already renamed or never written: nothing to clean up.
    }
    throw error;
  }
}
