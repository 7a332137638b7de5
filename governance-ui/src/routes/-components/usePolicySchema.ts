import { dataSchemaFields, readSchemaDefinition } from "@dao-ai/pipeline-worker/attestations";
import { useChainQuery } from "../../lib/ChainHead.tsx";
import { usePolicy } from "../../lib/queries.ts";

/**
 * The EAS schema the policy requires of attestations, its definition as the SchemaRegistry holds
 * it, and the fields an attester fills in besides the data's hash and size. Read from the chain,
 * not the deployment manifest: a vote may require another schema than the one deployed.
 */
export function usePolicySchema() {
  const { data: policy } = usePolicy();
  const schemaUID = policy?.attestation.schemaUID;
  return useChainQuery(
    ["policy-schema", schemaUID],
    async ({ publicClient, contracts }) => {
      const definition = await readSchemaDefinition(publicClient, contracts.schemaRegistry, schemaUID!);
      return { uid: schemaUID!, definition, fields: dataSchemaFields(definition) };
    },
    { enabled: schemaUID !== undefined && !/^0x0+$/.test(schemaUID) },
  );
}
