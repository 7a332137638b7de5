import type { Policy } from "./Policy.ts";
import { toPolicyJson, type PolicyJson } from "./policyJson.ts";

export type PolicyField = keyof PolicyJson;

/**
 * The fields in which two policies differ (empty when they are equal), compared in their JSON
 * form so that sets and maps compare by content. `fields` limits the comparison.
 */
export function diffPolicies(a: Policy, b: Policy, fields?: readonly PolicyField[]): PolicyField[] {
  const left = toPolicyJson(onlyFields(a, fields));
  const right = toPolicyJson(onlyFields(b, fields));
  const keys = fields ?? (Object.keys(left) as PolicyField[]);
  return keys.filter((key) => JSON.stringify(left[key]) !== JSON.stringify(right[key]));
}

/** `policy` with the collections not compared left empty: serialising 100,000 submitters costs. */
function onlyFields(policy: Policy, fields: readonly PolicyField[] | undefined): Policy {
  if (fields === undefined) return policy;
  const keep = (field: PolicyField) => fields.includes(field);
  return {
    ...policy,
    submitters: keep("submitters") ? policy.submitters : new Set(),
    quotas: keep("quotas") ? policy.quotas : new Map(),
    memberships: keep("memberships") ? policy.memberships : new Map(),
    workers: keep("workers") ? policy.workers : new Set(),
    trainingRuns: keep("trainingRuns") ? policy.trainingRuns : new Map(),
  };
}
