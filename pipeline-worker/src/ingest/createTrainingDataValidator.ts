import type { ErrorCode } from "../internal/errorCodes.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { DATA_LABELS, MAX_LABEL_LENGTH, MAX_LINE_LENGTH, MAX_TEXT_LENGTH } from "../model/trainingRecords.ts";
import { createFingerprintList, fingerprintRecord, normaliseText, type FingerprintList } from "./recordFingerprint.ts";

/**
 * The most records one submission may hold. Ingest keeps each record's fingerprint, packed (288
 * bytes), until the pool has admitted them, so this bounds what an upload holds (29 MB at most).
 */
export const MAX_RECORDS = 100_000;

/**
 * Characters that hide or disguise text, which no message needs: control characters other than
 * tab and line breaks, format characters (zero-width spaces and joiners, bidirectional overrides
 * and isolates, soft hyphens, the byte-order mark, Unicode tags), private-use and unassigned code
 * points, lone surrogates (which a JSON `\u` escape can produce), and the variation selectors
 * other than the emoji ones (U+FE0E, U+FE0F), which can smuggle bytes in invisible characters.
 * A record could use them to show a reviewer one thing and the model another.
 */
const HIDDEN_CHARACTERS = /(?![\t\n\r])\p{Cc}|\p{Cf}|\p{Co}|\p{Cn}|\p{Cs}|[\uFE00-\uFE0D]|[\u{E0100}-\u{E01EF}]/u;

export type CreateTrainingDataValidatorParameters = {
  /** The labels a record may have; default DATA_LABELS. */
  labels?: readonly string[];
  /** Default MAX_RECORDS. */
  maxRecords?: number;
};

export type TrainingDataValidator = ReturnType<typeof createTrainingDataValidator>;

/**
 * Checks submitted data as the model's training data (JSON Lines of {text, label}, UTF-8,
 * docs/model.md) while it streams past, and fingerprints each record for the pool's duplicate
 * checks. It holds one line, never the file, and each record's packed fingerprint. It never throws into the stream: the upload goes on
 * to its end so that its hash can first be compared with what was signed (bytes that are not the
 * signed ones are a wrong upload, not invalid data); `result()` then throws the first problem,
 * naming the line. Parsing stops at the first problem.
 */
export function createTrainingDataValidator(parameters: CreateTrainingDataValidatorParameters = {}) {
  const labels = new Set(parameters.labels ?? DATA_LABELS);
  const maxRecords = parameters.maxRecords ?? MAX_RECORDS;
  // Not streaming: each line is decoded alone (a newline byte is never part of a multi-byte
  // UTF-8 sequence, so lines split at it are whole characters).
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const records = createFingerprintList();
  /** The bytes of the line being received, while its newline has not arrived. */
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  let line = 0;
  let problem: WorkerError | undefined;

  function refuse(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
    problem ??= new WorkerError(code, message, {
      hints: [
        `Each line must be one JSON object {"text": "...", "label": "..."} with a label of ${[...labels].join(", ")} (docs/model.md).`,
      ],
      extra,
    });
  }

  function checkBytes(bytes: Uint8Array, number: number): void {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return refuse("DATA_NOT_UTF8", `Line ${number} is not UTF-8 text.`, { line: number });
    }
    checkLine(text, number);
  }

  function checkLine(raw: string, number: number): void {
    const text = raw.trim();
    if (text === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return refuse("DATA_LINE_MALFORMED", `Line ${number} is not JSON.`, { line: number });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return refuse("DATA_LINE_MALFORMED", `Line ${number} is not a {"text", "label"} object.`, { line: number });
    }
    const fields = value as Record<string, unknown>;
    const keys = Object.keys(fields);
    if (keys.length !== 2 || typeof fields.text !== "string" || typeof fields.label !== "string") {
      return refuse(
        "DATA_LINE_MALFORMED",
        `Line ${number} must have exactly two string fields, "text" and "label"; it has ${keys.map((k) => JSON.stringify(k)).join(", ") || "none"}.`,
        { line: number },
      );
    }
    const label = fields.label;
    if (label.length > MAX_LABEL_LENGTH || !labels.has(label)) {
      return refuse(
        "DATA_LABEL_UNKNOWN",
        `Line ${number} has the label ${JSON.stringify(label.slice(0, MAX_LABEL_LENGTH))}, which is not one of ${[...labels].join(", ")}.`,
        { line: number, labels: [...labels] },
      );
    }
    if (HIDDEN_CHARACTERS.test(fields.text)) {
      const found = HIDDEN_CHARACTERS.exec(fields.text)!;
      const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
      return refuse(
        "DATA_HIDDEN_CHARACTERS",
        `Line ${number} has an invisible or control character (U+${codePoint}) in its text.`,
        { line: number, codePoint: `U+${codePoint}` },
      );
    }
    const normalised = normaliseText(fields.text);
    if (fields.text.length > MAX_TEXT_LENGTH || normalised === "") {
      return refuse(
        "DATA_FIELD_LENGTH",
        `Line ${number} has a text of ${fields.text.length} characters; a text has 1 to ${MAX_TEXT_LENGTH} characters besides white space.`,
        { line: number, limit: MAX_TEXT_LENGTH },
      );
    }
    if (records.length === maxRecords) {
      return refuse("DATA_TOO_MANY_RECORDS", `The data has more than ${maxRecords} records.`, { limit: maxRecords });
    }
    records.push(fingerprintRecord(normalised));
  }

  /**
   * Checks each line as its newline arrives, from the bytes: no string longer than a line is ever
   * built, so what the validator holds between chunks is one partial line, not a decoded chunk.
   */
  function take(chunk: Uint8Array): void {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0 && !problem; end = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, end);
      const bytes = partialBytes === 0 ? piece : Buffer.concat([...partial, piece]);
      partial = [];
      partialBytes = 0;
      checkBytes(bytes, ++line);
      start = end + 1;
    }
    if (problem || start === chunk.byteLength) return;
    // A copy, so that the rest of the chunk is not kept alive with it.
    partial.push(Uint8Array.from(chunk.subarray(start)));
    partialBytes += chunk.byteLength - start;
    if (partialBytes > MAX_LINE_LENGTH) {
      refuse("DATA_FIELD_LENGTH", `Line ${line + 1} is longer than any record can be.`, {
        line: line + 1,
        limit: MAX_TEXT_LENGTH,
      });
    }
  }

  return {
    /** Passes the data through unchanged, checking it as it goes. */
    async *tap(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        if (!problem) take(chunk);
        yield chunk;
      }
      if (!problem && partialBytes > 0) checkBytes(Buffer.concat(partial), ++line);
      partial = [];
    },
    /** The records' fingerprints, in file order, once the whole data has passed; or its first problem. */
    result(): FingerprintList {
      if (problem) throw problem;
      if (records.length === 0) {
        throw new WorkerError("DATA_EMPTY", "The data has no records.", {
          hints: ['Submit at least one line {"text": "...", "label": "..."} (docs/model.md).'],
        });
      }
      return records;
    },
  };
}
