import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress, isAddress, isHex, type Address, type Hex } from "viem";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * The leaf of a model's contributions tree, as IModelCommitments and RunRewards define it: a
 * contribution the run used, its contributor, and its weight as recorded in ContributorRewards.
 */
export const CONTRIBUTION_LEAF_ENCODING = ["bytes32", "address", "uint256"];

export type ContributionLeaf = { dataHash: Hex; contributor: Address; weight: bigint };

/** A leaf with the proof RunRewards.claim takes. */
export type ContributionProof = ContributionLeaf & { proof: Hex[] };

export type ContributionsTree = {
  /** The root committed with the model. */
  root: Hex;
  /** The sum of the leaves' weights, committed with the model. */
  totalWeight: bigint;
  leaves: ContributionLeaf[];
  /** The leaf of `dataHash` and its proof; undefined when the model did not use that data. */
  proofOf(dataHash: Hex): ContributionProof | undefined;
  /** The StandardMerkleTree `dump()` JSON that the training run stores on IPFS. */
  dump(): string;
};

type LeafValues = [Hex, Address, string];

/**
 * The contributions tree of a training run: OpenZeppelin's StandardMerkleTree over
 * (dataHash, contributor, weight), so that a claim's proof verifies with OpenZeppelin's
 * MerkleProof on chain. Weights are kept as decimal strings in the tree's values, so that its dump
 * is plain JSON.
 */
export function buildContributionsTree(leaves: readonly ContributionLeaf[]): ContributionsTree {
  if (leaves.length === 0) {
    throw new WorkerError("TRAINING_DATA_INVALID", "A model's contributions tree needs at least one contribution.");
  }
  const values = leaves.map((l): LeafValues => [
    l.dataHash.toLowerCase() as Hex,
    getAddress(l.contributor),
    l.weight.toString(),
  ]);
  return wrap(StandardMerkleTree.of(values, CONTRIBUTION_LEAF_ENCODING));
}

/**
 * Reads a tree dump (from IPFS) and checks it: the StandardMerkleTree format with this leaf
 * encoding, every node's hash, and, when given, the committed root and total weight. Anything
 * else is a CONTRIBUTIONS_TREE_INVALID error.
 */
export function parseContributionsTree(
  document: string | Uint8Array,
  committed?: { root: Hex; totalWeight: bigint },
): ContributionsTree {
  const invalid = (detail: string, cause?: unknown) =>
    new WorkerError("CONTRIBUTIONS_TREE_INVALID", `The contributions tree is unusable: ${detail}`, { cause });
  let tree: StandardMerkleTree<LeafValues>;
  try {
    const text = typeof document === "string" ? document : new TextDecoder().decode(document);
    const data = JSON.parse(text) as Parameters<typeof StandardMerkleTree.load<LeafValues>>[0];
    if (JSON.stringify(data.leafEncoding) !== JSON.stringify(CONTRIBUTION_LEAF_ENCODING)) {
      throw invalid(`its leaves are ${JSON.stringify(data.leafEncoding)}, not (bytes32, address, uint256).`);
    }
    tree = StandardMerkleTree.load(data);
    tree.validate();
    for (const [, [dataHash, contributor, weight]] of tree.entries()) {
      if (!isHex(dataHash) || dataHash.length !== 66 || !isAddress(contributor) || !/^[1-9][0-9]*$/.test(weight)) {
        throw invalid(
          `a leaf is not (dataHash, contributor, positive weight): ${JSON.stringify([dataHash, contributor, weight])}.`,
        );
      }
    }
  } catch (error) {
    if (error instanceof WorkerError) throw error;
    throw invalid("it is not a StandardMerkleTree dump.", error);
  }
  const parsed = wrap(tree);
  if (committed && (parsed.root !== committed.root.toLowerCase() || parsed.totalWeight !== committed.totalWeight)) {
    throw invalid(
      `its root ${parsed.root} and total weight ${parsed.totalWeight} are not the committed ${committed.root} and ${committed.totalWeight}.`,
    );
  }
  return parsed;
}

function wrap(tree: StandardMerkleTree<LeafValues>): ContributionsTree {
  const leaves: ContributionLeaf[] = [];
  const index = new Map<string, number>();
  for (const [i, [dataHash, contributor, weight]] of tree.entries()) {
    leaves.push({ dataHash, contributor: getAddress(contributor), weight: BigInt(weight) });
    index.set(dataHash.toLowerCase(), i);
  }
  return {
    root: tree.root.toLowerCase() as Hex,
    totalWeight: leaves.reduce((sum, leaf) => sum + leaf.weight, 0n),
    leaves,
    proofOf(dataHash) {
      const i = index.get(dataHash.toLowerCase());
      if (i === undefined) return undefined;
      return { ...leaves[i]!, proof: tree.getProof(i) as Hex[] };
    },
    dump: () => JSON.stringify(tree.dump()),
  };
}
