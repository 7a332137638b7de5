import type { Policy } from "./Policy.ts";
import { toPolicyJson, type PolicyJson } from "./policyJson.ts";

export type PolicyField = keyof PolicyJson;

/**
 * The fields in which two policies differ (empty when they are equal), compared in their JSON
 * form so that sets and maps compare by content. `fields` limits the comparison.
 */
export function diffPolicies(a: Policy, b: Policy, fields?: readonly PolicyField[]): PolicyField[] {
  const left = toPolicyJson(a);
  const right = toPolicyJson(b);
  const keys = fields ?? (Object.keys(left) as PolicyField[]);
  return keys.filter((key) => JSON.stringify(left[key]) !== JSON.stringify(right[key]));
}
