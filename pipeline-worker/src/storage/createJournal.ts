import { mkdir } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { ClassicLevel } from "classic-level";
import { WorkerError } from "../internal/WorkerError.ts";
import { isTerminalStep, NEXT_STEPS, SUBMISSION_STEPS, type SubmissionStep } from "./submissionSteps.ts";

/** What a step records: JSON only (hex strings for hashes and amounts), so it survives a reopen as written. */
export type StepData = Record<string, unknown>;

export type SubmissionRecord = {
  /** The submission id: the digest of its signed data, so a resent submission has the same id. */
  id: string;
  /** Creation order, unique in this journal: 1 for the first submission, and so on. */
  sequence: number;
  /** Lower-case address of the contributor. */
  contributor: string;
  step: SubmissionStep;
  /** The data each step recorded; `submitted` keeps only its latest attempt (see `history`). */
  data: Partial<Record<SubmissionStep, StepData>>;
  /** Every step taken, in order, with its time and data. */
  history: { step: SubmissionStep; at: string; data: StepData }[];
  createdAt: string;
  updatedAt: string;
};

export type Journal = {
  /**
   * Records a new submission at `received`. If the id is already known nothing changes and the
   * stored record is returned with `created: false`: the caller answers DUPLICATE_SUBMISSION or
   * resumes it, but never processes it twice.
   */
  begin(
    id: string,
    parameters: { contributor: string; data?: StepData },
  ): Promise<{ record: SubmissionRecord; created: boolean }>;
  /**
   * Moves a submission to `step`. Taking a step it has already taken, with the same data, is a
   * no-op that returns the record as it is: a worker that crashed after the write but before it
   * noticed can simply do the step again. A step that does not follow the current one, or a
   * repeated step with other data, is JOURNAL_TRANSITION_INVALID; an unknown id is NOT_FOUND.
   */
  advance(id: string, step: SubmissionStep, data?: StepData): Promise<SubmissionRecord>;
  get(id: string): Promise<SubmissionRecord | undefined>;
  /** A contributor's submissions, oldest first. */
  listByContributor(contributor: string, options?: { limit?: number }): Promise<SubmissionRecord[]>;
  /** Submissions not yet recorded or rejected, oldest first: what a restarted worker resumes. */
  listUnfinished(): Promise<SubmissionRecord[]>;
  close(): Promise<void>;
};

export type CreateJournalParameters = {
  directory: string;
  /**
   * fsync every transition (LevelDB's `sync`). On by default: a transition is reported done only
   * once it would survive a power cut, not just a crash of the process. Tests may turn it off.
   */
  sync?: boolean;
  /** The clock, for tests. */
  now?: () => Date;
};

// Key layout. Each transition writes the record and its indexes in one LevelDB batch, so a crash
// leaves either the old state or the new one, never a record without its index entries.
//   s!<id>                           -> SubmissionRecord (JSON)
//   c!<contributor>!<sequence>!<id>  -> "" ; by contributor, in creation order
//   u!<sequence>!<id>                -> "" ; unfinished submissions, in creation order
//   meta!seq                         -> the last sequence number used
// Sequence numbers are zero-padded so that LevelDB's byte order is creation order.
const SEQ_KEY = "meta!seq";
const pad = (seq: number) => seq.toString().padStart(16, "0");

/**
 * The worker's journal: an embedded LevelDB (classic-level, the engine Helia's datastore-level
 * already brings) that records each submission's steps so that a crashed worker resumes where it
 * stopped. LevelDB locks its directory, so two workers cannot share a journal by mistake.
 */
export async function createJournal(parameters: CreateJournalParameters): Promise<Journal> {
  const db = new ClassicLevel<string, string>(parameters.directory, { keyEncoding: "utf8", valueEncoding: "utf8" });
  try {
    await mkdir(parameters.directory, { recursive: true });
    await db.open();
  } catch (cause) {
    throw new WorkerError("STORAGE_UNAVAILABLE", `Cannot open the journal in ${parameters.directory}.`, {
      cause,
      hints: [
        "Only one worker may use a journal at a time: stop any other worker using the same dataDir.",
        "Check that the data directory is writable and not full.",
      ],
    });
  }
  const sync = parameters.sync ?? true;
  const now = parameters.now ?? (() => new Date());

  // Transitions are read-modify-write; running them one at a time keeps two concurrent requests
  // for the same submission from both reading the old state.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  const read = async (id: string): Promise<SubmissionRecord | undefined> => {
    const value = await db.get(`s!${id}`);
    return value === undefined ? undefined : (JSON.parse(value) as SubmissionRecord);
  };

  const readMany = async (prefix: string, limit?: number): Promise<SubmissionRecord[]> => {
    const records: SubmissionRecord[] = [];
    for await (const key of db.keys({ gt: prefix, lt: `${prefix}\xff`, limit: limit ?? -1 })) {
      const record = await read(key.slice(key.lastIndexOf("!") + 1));
      if (record !== undefined) records.push(record);
    }
    return records;
  };

  return {
    begin(id, { contributor, data = {} }) {
      return exclusive(async () => {
        assertId(id);
        const existing = await read(id);
        if (existing !== undefined) return { record: existing, created: false };
        const at = now().toISOString();
        const owner = normaliseAddress(contributor);
        const sequence = Number((await db.get(SEQ_KEY)) ?? 0) + 1;
        const record: SubmissionRecord = {
          id,
          sequence,
          contributor: owner,
          step: "received",
          data: { received: data },
          history: [{ step: "received", at, data }],
          createdAt: at,
          updatedAt: at,
        };
        await db.batch(
          [
            { type: "put", key: SEQ_KEY, value: String(sequence) },
            { type: "put", key: `s!${id}`, value: JSON.stringify(record) },
            { type: "put", key: `c!${owner}!${pad(sequence)}!${id}`, value: "" },
            { type: "put", key: `u!${pad(sequence)}!${id}`, value: "" },
          ],
          { sync },
        );
        return { record, created: true };
      });
    },

    advance(id, step, data = {}) {
      return exclusive(async () => {
        if (!SUBMISSION_STEPS.includes(step)) {
          throw new WorkerError("JOURNAL_TRANSITION_INVALID", `"${String(step)}" is not a submission step.`);
        }
        const record = await read(id);
        if (record === undefined) throw new WorkerError("NOT_FOUND", `Submission ${id} is not in the journal.`);
        const taken = record.history.filter((entry) => entry.step === step);
        if (taken.some((entry) => isDeepStrictEqual(entry.data, data))) return record;
        if (taken.length > 0 && step !== "submitted") {
          throw new WorkerError(
            "JOURNAL_TRANSITION_INVALID",
            `Submission ${id} already took step ${step} with other data.`,
            { hints: ["A step is recorded once; read the record instead of repeating the step."] },
          );
        }
        if (!NEXT_STEPS[record.step].includes(step)) {
          throw new WorkerError(
            "JOURNAL_TRANSITION_INVALID",
            `Submission ${id} cannot go from ${record.step} to ${step}.`,
            {
              hints: [
                NEXT_STEPS[record.step].length === 0
                  ? `It is ${record.step}; nothing follows.`
                  : `From ${record.step} it can go to ${NEXT_STEPS[record.step].join(" or ")}.`,
              ],
            },
          );
        }
        const at = now().toISOString();
        const next: SubmissionRecord = {
          ...record,
          step,
          data: { ...record.data, [step]: data },
          history: [...record.history, { step, at, data }],
          updatedAt: at,
        };
        await db.batch(
          [
            { type: "put", key: `s!${id}`, value: JSON.stringify(next) },
            // A finished submission leaves the resume index in the same write that finishes it.
            ...(isTerminalStep(step) ? [{ type: "del" as const, key: `u!${pad(record.sequence)}!${id}` }] : []),
          ],
          { sync },
        );
        return next;
      });
    },

    get: read,

    async listByContributor(contributor, options = {}) {
      return readMany(`c!${normaliseAddress(contributor)}!`, options.limit);
    },

    listUnfinished() {
      return readMany("u!");
    },

    async close() {
      await queue;
      await db.close();
    },
  };
}

// Ids are parts of keys: a "!" in one would split a key in the wrong place.
function assertId(id: string): void {
  if (!/^[0-9A-Za-z:_.-]{1,128}$/.test(id)) {
    throw new WorkerError("VALIDATION_FAILED", `${JSON.stringify(id)} is not a submission id.`, {
      hints: ["A submission id is its signed data's digest, e.g. 0x followed by 64 hex digits."],
    });
  }
}

function normaliseAddress(address: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw new WorkerError("VALIDATION_FAILED", `${JSON.stringify(address)} is not an address.`, {
      hints: ["An address is 0x followed by 40 hex digits."],
    });
  }
  return address.toLowerCase();
}
