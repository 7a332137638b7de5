import { keepPreviousData, useQuery, type UseQueryResult } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { useApp, type App } from "./AppContext.tsx";

/** The newest block the app has seen: every read is made at it, so a page shows one consistent state. */
export type ChainHead = {
  number: bigint;
  /** The block's timestamp: the chain's clock, which tests may move ahead of the wall clock. */
  timestamp: bigint;
  /** Seconds per block, averaged over recent blocks (or from the config). */
  blockTime: number;
};

type HeadState = { head: ChainHead | undefined; error: unknown };

const ChainHeadContext = createContext<HeadState>({ head: undefined, error: undefined });

const SAMPLE_BLOCKS = 64n;

/** Polls the chain's head and hands it to every read, so reads refresh on each new block. */
export function ChainHeadProvider({ children }: { children: ReactNode }) {
  const { publicClient, config } = useApp();
  const [state, setState] = useState<HeadState>({ head: undefined, error: undefined });

  useEffect(() => {
    let stopped = false;
    let last: bigint | undefined;
    const tick = async () => {
      try {
        const block = await publicClient.getBlock();
        if (stopped || block.number === last) return;
        last = block.number;
        let blockTime = config.blockTimeSeconds ?? 12;
        if (config.blockTimeSeconds === undefined && block.number > 1n) {
          const back = block.number > SAMPLE_BLOCKS ? SAMPLE_BLOCKS : block.number - 1n;
          const earlier = await publicClient.getBlock({ blockNumber: block.number - back });
          const measured = Number(block.timestamp - earlier.timestamp) / Number(back);
          if (measured > 0) blockTime = measured;
        }
        if (!stopped) {
          setState({ head: { number: block.number, timestamp: block.timestamp, blockTime }, error: undefined });
        }
      } catch (error) {
        if (!stopped) setState((previous) => ({ head: previous.head, error }));
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), 1_000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [publicClient, config.blockTimeSeconds]);

  return <ChainHeadContext.Provider value={state}>{children}</ChainHeadContext.Provider>;
}

export function useChainHead(): HeadState {
  return useContext(ChainHeadContext);
}

/**
 * A read made at the current head, refreshed on every new block. The previous block's result stays
 * on screen while the next one loads, so nothing flickers.
 */
export function useChainQuery<T>(
  key: readonly unknown[],
  read: (app: App, head: ChainHead) => Promise<T>,
  options: { enabled?: boolean } = {},
): UseQueryResult<T> {
  const app = useApp();
  const { head } = useChainHead();
  return useQuery({
    queryKey: ["chain", head?.number.toString(), ...key],
    queryFn: () => {
      if (!head) throw new BaseError("No chain head yet.");
      return read(app, head);
    },
    enabled: head !== undefined && (options.enabled ?? true),
    placeholderData: keepPreviousData,
    staleTime: Infinity,
    gcTime: 30_000,
    retry: 1,
  });
}
