import { epochAt, type EpochSchedule } from "../policy/Policy.ts";

/**
 * The epoch the worker serves, shared by the query service and the settler so that a lane is
 * final once settled. A lane of an ended epoch takes one entry only if no query of that epoch is
 * counted after its settlement; but the settler goes by the chain's clock (the contract refuses an
 * epoch the chain has not reached) and the query service by the worker's own, and a node's block
 * timestamps can run ahead of the wall clock. So the settler closes the epochs the chain has passed
 * here before it settles them, and the query service serves no closed epoch: its current epoch is
 * the later of its clock's and the first still open.
 */
export function createServedEpochs(now: () => number) {
  /** Every epoch below it is closed: no query of it is served any more. */
  let firstOpen = 0n;
  return {
    /** The epoch a query is served in now: the clock's, or the first open one if the chain is ahead. */
    current(schedule: EpochSchedule): bigint {
      const byClock = epochAt(schedule, BigInt(Math.floor(now() / 1000)));
      return byClock > firstOpen ? byClock : firstOpen;
    },
    /** Closes every epoch below `epoch`; an epoch once closed stays closed. */
    closeBefore(epoch: bigint): void {
      if (epoch > firstOpen) firstOpen = epoch;
    },
    isClosed: (epoch: bigint) => epoch < firstOpen,
  };
}

export type ServedEpochs = ReturnType<typeof createServedEpochs>;
