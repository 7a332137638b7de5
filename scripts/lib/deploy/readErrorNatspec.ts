import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatAbiItem } from "viem/utils";
import { toFunctionSelector } from "viem";
import { CONTRACT_SOURCES, readArtifact, repoRoot, type ContractName } from "./contractArtifacts.ts";

/** One custom error of a deployed contract, with the NatSpec its declaration carries. */
export type ErrorNatspec = {
  name: string;
  /** Where it is declared, as the compiler names the file: `contracts/interfaces/IPolicyRegistry.sol`. */
  source: string;
  /** The `@notice` text, else the first sentence of the `@dev` text; "" when it has neither. */
  text: string;
};

type AstNode = { nodeType?: string; [key: string]: unknown };
type ErrorDefinition = AstNode & { name: string; errorSelector?: string; documentation?: { text?: string } };

/**
 * The NatSpec of every custom error in the ABIs of the system's contracts, read from the
 * compiler's AST in Hardhat's build info (which the build keeps; no extra compiler output is
 * needed). Errors are matched to their declaration by selector, so an error inherited from an
 * interface or a library (OpenZeppelin's, EAS's) is found where it is declared.
 */
export function readErrorNatspec(): ErrorNatspec[] {
  const byName = new Map<string, ErrorNatspec>();
  for (const contract of Object.keys(CONTRACT_SOURCES) as ContractName[]) {
    const artifact = readArtifact(contract) as ReturnType<typeof readArtifact> & { buildInfoId: string };
    const declarations = declaredErrors(artifact.buildInfoId);
    for (const item of artifact.abi) {
      if (item.type !== "error" || byName.has(item.name)) continue;
      const found = declarations.get(toFunctionSelector(formatAbiItem(item)).slice(2));
      byName.set(item.name, {
        name: item.name,
        source: found?.source.replace(/^project\//, "").replace(/^npm\/(@[^/]+\/[^@/]+)@[^/]+\//, "$1/") ?? "",
        text: found ? natspecText(found.definition.documentation?.text ?? "") : "",
      });
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

const buildInfos = new Map<string, Map<string, { source: string; definition: ErrorDefinition }>>();

/** Every error declared in one build, by selector (hex, without 0x). */
function declaredErrors(buildInfoId: string) {
  const cached = buildInfos.get(buildInfoId);
  if (cached) return cached;
  const path = join(repoRoot, "artifacts", "build-info", `${buildInfoId}.output.json`);
  const { output } = JSON.parse(readFileSync(path, "utf8")) as {
    output: { sources: Record<string, { ast: AstNode }> };
  };
  const found = new Map<string, { source: string; definition: ErrorDefinition }>();
  for (const [source, { ast }] of Object.entries(output.sources)) {
    visit(ast, (node) => {
      if (node.nodeType !== "ErrorDefinition" || typeof node.errorSelector !== "string") return;
      const seen = found.get(node.errorSelector);
      if (!seen || preferred(source, seen.source))
        found.set(node.errorSelector, { source, definition: node as ErrorDefinition });
    });
  }
  buildInfos.set(buildInfoId, found);
  return found;
}

/**
 * Whether `source` should name an error that `other` declares too (same selector). A build holds
 * the mocks and test helpers beside the system's contracts, and the order of its sources differs
 * between a fresh and an incremental build: the system's own declaration wins, then the first
 * path in sort order, so the generated file is the same on every machine.
 */
function preferred(source: string, other: string): boolean {
  const rank = (s: string) => (/^project\/(contracts\/mocks|test)\//.test(s) ? 1 : 0);
  return rank(source) !== rank(other) ? rank(source) < rank(other) : source < other;
}

function visit(node: unknown, onNode: (node: AstNode) => void) {
  if (node === null || typeof node !== "object") return;
  onNode(node as AstNode);
  for (const child of Object.values(node)) if (typeof child === "object") visit(child, onNode);
}

/**
 * The sentence a person reads: the `@notice` (written for users), else the first sentence of the
 * `@dev` (written for developers; its NOTEs and references are left out). Whitespace is collapsed.
 */
function natspecText(doc: string): string {
  const tags = new Map<string, string>();
  for (const match of doc.matchAll(/@(\w+)\s+([\s\S]*?)(?=\s@\w+\s|$)/g)) {
    if (!tags.has(match[1]!)) tags.set(match[1]!, match[2]!);
  }
  const notice = tags.get("notice") ?? (/^\s*[^@\s]/.test(doc) ? doc.split(/\s@\w+\s/)[0] : undefined);
  if (notice !== undefined) return collapse(notice);
  const dev = tags.get("dev");
  if (dev === undefined) return "";
  const firstSentence = /^[\s\S]*?\.(?=\s|$)/.exec(collapse(dev.split(/\n\s*NOTE:/)[0]!));
  return firstSentence ? firstSentence[0] : collapse(dev);
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
