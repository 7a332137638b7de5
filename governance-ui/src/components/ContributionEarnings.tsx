import { getAbiItem, type AbiEvent, type Address, type Hex, type PublicClient } from "viem";
import {
  readContributionEarnings,
  type CommittedModel,
  type ContributionEarning,
} from "@dao-ai/pipeline-worker/contributionEarnings";
import { contributorRewardsAbi, modelCommitmentsAbi, runRewardsAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatEth, plural, shortHex } from "../lib/format.ts";
import { useWrite } from "../lib/useWrite.ts";
import { WorkerProblemError, type Problem } from "../lib/workerApi.ts";
import { Loaded } from "./Loading.tsx";
import { TxStatus } from "./TxStatus.tsx";

const contributionRecorded = getAbiItem({ abi: contributorRewardsAbi, name: "ContributionRecorded" }) as AbiEvent;
const modelCommitted = getAbiItem({ abi: modelCommitmentsAbi, name: "ModelCommitted" }) as AbiEvent;

type Earnings = { dataHashes: Hex[]; rows: ContributionEarning[] };

/**
 * Which committed models were trained on each of `account`'s contributions, and what each earned
 * from the fees of that model's queries (RunRewards): claimed, and claimable now with a Claim
 * button that sends the contribution's proof. The models' contributions trees come from the
 * worker (`GET /v1/runs/:runId/contributions`) and are checked against their commitments.
 */
export function ContributionEarnings({ account }: { account: Address }) {
  const { contracts, workerUrl } = useApp();
  const tx = useWrite();
  const earnings = useChainQuery(
    ["model-earnings", account],
    async ({ logCache, publicClient, contracts: c }, head): Promise<Earnings> => {
      const [recorded, committed] = await Promise.all([
        logCache.logs(c.contributorRewards, [contributionRecorded], head.number),
        logCache.logs(c.modelCommitments, [modelCommitted], head.number),
      ]);
      const dataHashes = recorded
        .filter((log) => (log.args.contributor as Address).toLowerCase() === account.toLowerCase())
        .map((log) => log.args.dataHash as Hex);
      const models = committed.map((log): CommittedModel => ({
        runId: log.args.runId as Hex,
        contributionsRoot: log.args.contributionsRoot as Hex,
        totalWeight: log.args.totalWeight as bigint,
        contributionsURI: log.args.contributionsURI as string,
      }));
      if (dataHashes.length === 0 || models.length === 0 || workerUrl === null) return { dataHashes, rows: [] };
      const rows = await readContributionEarnings({
        publicClient: publicClient as PublicClient,
        contracts: c,
        models,
        dataHashes,
        readTree: async (model) => {
          const response = await fetch(`${workerUrl}/v1/runs/${model.runId}/contributions`);
          if (!response.ok) throw new WorkerProblemError((await response.json()) as Problem);
          return new Uint8Array(await response.arrayBuffer());
        },
      });
      return { dataHashes, rows };
    },
  );
  const claimable = (earnings.data?.rows ?? []).filter((r) => r.claimable > 0n);

  return (
    <section className="card" aria-labelledby="model-earnings-title">
      <h2 id="model-earnings-title">Earnings from the models trained on your data</h2>
      <p className="muted small">
        The fees of the queries a model answers go to the contributions it was trained on, in proportion to their weight
        in it; a contribution in no model earns nothing from them.
      </p>
      {workerUrl === null ? (
        <p className="muted">No worker is configured: the models' contributions trees cannot be read.</p>
      ) : null}
      <Loaded query={earnings} what="your earnings from models">
        {({ dataHashes, rows }) =>
          dataHashes.length === 0 ? (
            <p className="muted">Earnings appear here once a contribution of yours is recorded on chain.</p>
          ) : (
            <>
              <div className="table-scroll">
                <table className="table" data-testid="model-earnings">
                  <thead>
                    <tr>
                      <th scope="col">Data</th>
                      <th scope="col">Model (training run)</th>
                      <th scope="col" className="num">
                        Weight in the model
                      </th>
                      <th scope="col" className="num">
                        Earned
                      </th>
                      <th scope="col" className="num">
                        Claimed
                      </th>
                      <th scope="col">Claimable</th>
                    </tr>
                  </thead>
                  <tbody>
                    {dataHashes.map((dataHash) => {
                      const used = rows.filter((r) => r.dataHash === dataHash.toLowerCase());
                      if (used.length === 0) {
                        return (
                          <tr key={dataHash} data-testid="model-earning-none">
                            <td>
                              <code title={dataHash}>{shortHex(dataHash)}</code>
                            </td>
                            <td colSpan={5} className="muted">
                              in no committed model yet
                            </td>
                          </tr>
                        );
                      }
                      return used.map((r) => (
                        <tr key={`${dataHash}-${r.runId}`} data-testid="model-earning">
                          <td>
                            <code title={dataHash}>{shortHex(dataHash)}</code>
                          </td>
                          <td>
                            <code title={r.runId} data-testid="model-earning-run">
                              {shortHex(r.runId)}
                            </code>
                          </td>
                          <td className="num">
                            {r.weight.toString()} of {r.totalWeight.toString()}
                          </td>
                          <td className="num" data-testid="model-earning-earned">
                            {formatEth(r.claimed + r.claimable)}
                          </td>
                          <td className="num" data-testid="model-earning-claimed">
                            {formatEth(r.claimed)}
                          </td>
                          <td data-testid="model-earning-status">
                            {r.claimable > 0n ? (
                              <button
                                type="button"
                                className="button-small"
                                disabled={tx.busy}
                                onClick={() =>
                                  void tx.write({
                                    label: `Claim ${shortHex(dataHash)} from run ${shortHex(r.runId)}`,
                                    address: contracts.runRewards,
                                    abi: runRewardsAbi,
                                    functionName: "claim",
                                    args: [r.runId, r.dataHash, r.weight, r.proof],
                                  })
                                }
                              >
                                Claim {formatEth(r.claimable)}
                              </button>
                            ) : (
                              "nothing to claim now"
                            )}
                          </td>
                        </tr>
                      ));
                    })}
                  </tbody>
                </table>
              </div>
              {claimable.length > 1 ? (
                <button
                  type="button"
                  disabled={tx.busy}
                  onClick={() =>
                    void tx.write({
                      label: "Claim all from models",
                      address: contracts.runRewards,
                      abi: runRewardsAbi,
                      functionName: "claimMany",
                      args: [
                        claimable.map((r) => ({
                          runId: r.runId,
                          dataHash: r.dataHash,
                          weight: r.weight,
                          proof: r.proof,
                        })),
                      ],
                    })
                  }
                >
                  Claim all ({plural(claimable.length, "contribution")})
                </button>
              ) : null}
              <TxStatus state={tx.state} />
            </>
          )
        }
      </Loaded>
    </section>
  );
}
