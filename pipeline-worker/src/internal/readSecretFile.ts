import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { WorkerError } from "./WorkerError.ts";

/**
 * Reads a secret's file (a keyholder's key), refusing it, as ssh refuses a private key, when its
 * group or others have any permission on it: a key that others could read must be taken as
 * leaked, and saying so at start-up is the one moment an operator will fix it. The mode is that
 * of the file actually opened (fstat on the open descriptor), not of a name checked before.
 * Throws CONFIG_INVALID saying the mode and `chmod 600 FILE`; the file's contents never appear in
 * a message.
 */
export function readSecretFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `The key file ${file} cannot be read.`, { cause });
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new WorkerError(
        "CONFIG_INVALID",
        `Permissions 0${mode.toString(8)} for the key file ${file} are too open: it must not be readable by group or others. Run: chmod 600 ${file}`,
        {
          hints: [
            `Run: chmod 600 ${file}`,
            "Anyone who could read it may have a copy: if others had access, treat the key as leaked and have the DAO replace it.",
          ],
        },
      );
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}
