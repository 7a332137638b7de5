import { WorkerError } from "../internal/WorkerError.ts";

/**
 * One labelled example. Training data is submitted as JSON Lines of these, one object per line,
 * UTF-8 (docs/model.md): `{"text": "Send 1 ETH and get 2 back", "label": "scam"}`.
 */
export type TrainingRecord = { text: string; label: string };

/** The longest text a record (or a query) may have, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 16_384;
/** The longest label. */
export const MAX_LABEL_LENGTH = 64;

/**
 * Parses JSON Lines training data. Strict: any line that is not a `{text, label}` object of
 * strings makes the whole file invalid (TRAINING_DATA_INVALID, naming the line), because a
 * contributor attested to the whole file and half of it is not what they vouched for. Blank lines
 * are allowed (a trailing newline is usual).
 */
export function parseTrainingRecords(data: Uint8Array | string): TrainingRecord[] {
  let text: string;
  try {
    text = typeof data === "string" ? data : new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch (cause) {
    throw invalid("The training data is not UTF-8 text.", cause);
  }
  const records: TrainingRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw invalid(`Line ${i + 1} of the training data is not JSON.`, cause);
    }
    if (!isRecord(value)) {
      throw invalid(`Line ${i + 1} of the training data is not a {"text": string, "label": string} object.`);
    }
    if (value.text.length > MAX_TEXT_LENGTH || value.label.length === 0 || value.label.length > MAX_LABEL_LENGTH) {
      throw invalid(
        `Line ${i + 1} of the training data has a text over ${MAX_TEXT_LENGTH} characters or an empty or over-long label.`,
      );
    }
    records.push({ text: value.text, label: value.label });
  }
  return records;
}

/** Writes records as JSON Lines, the inverse of parseTrainingRecords. */
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
