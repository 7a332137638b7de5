import { WorkerError } from "../internal/WorkerError.ts";

/**
 * One labelled example. Training data is submitted as JSON Lines of these, one object per line,
 * UTF-8 (docs/model.md): `{"text": "Send 1 ETH and get 2 back", "label": "scam"}`.
 */
export type TrainingRecord = { text: string; label: string };

/**
 * The labels of the DAO's classifier ("is this message a scam?"): what the embedded model is
 * trained on, what an external model chooses from by default (WORKER_MODEL_LABELS), and the only
 * labels ingest accepts in submitted data.
 */
export const DATA_LABELS: readonly string[] = ["legit", "scam"];

/** The longest text a record (or a query) may have, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 16_384;
/** The longest label. */
export const MAX_LABEL_LENGTH = 64;
/** The most distinct labels a training set may have: each costs the trainer a row of counts. */
export const MAX_LABELS = 64;
/**
 * The longest line a reader buffers, in UTF-16 code units: a record of the longest text and
 * label with every character written as a six-character JSON `\u` escape. A longer line is
 * refused as soon as it is seen, so a file without newlines cannot make a reader hold all of it.
 */
export const MAX_LINE_LENGTH = (MAX_TEXT_LENGTH + MAX_LABEL_LENGTH) * 6 + 64;

/**
 * Reads JSON Lines training data from a stream of bytes (as they are decrypted), yielding each
 * record as its line ends: memory holds one line, never the file. Strict: any line that is not a
 * `{text, label}` object of strings makes the whole file invalid (TRAINING_DATA_INVALID, naming
 * the line), because a contributor attested to the whole file and half of it is not what they
 * vouched for; so a consumer must treat what it took as valid only once the stream ends without
 * throwing. Blank lines are allowed (a trailing newline is usual).
 */
export async function* readTrainingRecords(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<TrainingRecord> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch (cause) {
      throw invalid("The training data is not UTF-8 text.", cause);
    }
  };
  let pending = "";
  let line = 0;
  for await (const chunk of chunks) {
    pending += decode(chunk);
    let start = 0;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n", start)) {
      const record = parseLine(pending.slice(start, end), ++line);
      start = end + 1;
      if (record !== undefined) yield record;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_LINE_LENGTH) {
      throw invalid(`Line ${line + 1} of the training data is longer than any record can be.`);
    }
  }
  const record = parseLine(pending + decode(), ++line);
  if (record !== undefined) yield record;
}

function parseLine(raw: string, number: number): TrainingRecord | undefined {
  const line = raw.trim();
  if (line === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (cause) {
    throw invalid(`Line ${number} of the training data is not JSON.`, cause);
  }
  if (!isRecord(value)) {
    throw invalid(`Line ${number} of the training data is not a {"text": string, "label": string} object.`);
  }
  if (value.text.length > MAX_TEXT_LENGTH || value.label.length === 0 || value.label.length > MAX_LABEL_LENGTH) {
    throw invalid(
      `Line ${number} of the training data has a text over ${MAX_TEXT_LENGTH} characters or an empty or over-long label.`,
    );
  }
  return { text: value.text, label: value.label };
}

/** Writes records as JSON Lines, the inverse of readTrainingRecords. */
export function formatTrainingRecords(records: readonly TrainingRecord[]): string {
  return records.map((record) => `${JSON.stringify({ text: record.text, label: record.label })}\n`).join("");
}

function isRecord(value: unknown): value is TrainingRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  const { text, label } = value as Record<string, unknown>;
  return keys.length === 2 && typeof text === "string" && typeof label === "string";
}

function invalid(message: string, cause?: unknown): WorkerError {
  return new WorkerError("TRAINING_DATA_INVALID", message, {
    cause,
    hints: ['Each line must be one JSON object with exactly two string fields, e.g. {"text": "...", "label": "scam"}.'],
  });
}
