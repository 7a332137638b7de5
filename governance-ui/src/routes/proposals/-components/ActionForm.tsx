import { useId } from "react";
import type { FieldSpec } from "@dao-ai/pipeline-worker/policy-form";
import type { ActionKind } from "./actionKinds.ts";

/** The form of one action: its fields, each labelled, with its help and its error. */
export function ActionForm({
  kind,
  values,
  errors,
  onChange,
  idPrefix,
}: {
  kind: ActionKind;
  values: Record<string, string>;
  errors: Record<string, string>;
  onChange: (name: string, value: string) => void;
  idPrefix: string;
}) {
  if (kind.fields.length === 0) return <p className="muted small">Nothing to fill in.</p>;
  return (
    <div className="form-grid">
      {kind.fields.map((field) => (
        <Field
          key={field.name}
          id={`${idPrefix}-${field.name}`}
          field={field}
          value={values[field.name] ?? ""}
          error={errors[field.name]}
          onChange={(value) => onChange(field.name, value)}
        />
      ))}
    </div>
  );
}

function Field({
  id,
  field,
  value,
  error,
  onChange,
}: {
  id: string;
  field: FieldSpec;
  value: string;
  error: string | undefined;
  onChange: (value: string) => void;
}) {
  const helpId = useId();
  const errorId = useId();
  const describedBy = [field.help ? helpId : null, error ? errorId : null].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field.name,
    value,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy,
    placeholder: field.placeholder,
    onChange: (event: { target: { value: string } }) => onChange(event.target.value),
  };
  const wide = ["address", "addresses", "textarea", "hex"].includes(field.type);
  return (
    <div className={wide ? "field field-wide" : "field"}>
      <label htmlFor={id}>{field.label}</label>
      {field.type === "addresses" || field.type === "textarea" ? (
        <textarea {...common} rows={3} spellCheck={false} />
      ) : field.type === "select" ? (
        <select {...common}>
          {field.options?.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      ) : (
        <input
          {...common}
          type={field.type === "datetime" ? "datetime-local" : "text"}
          inputMode={field.type === "number" ? "numeric" : field.type === "eth" ? "decimal" : undefined}
          spellCheck={false}
          autoComplete="off"
        />
      )}
      {field.help ? (
        <p id={helpId} className="field-help">
          {field.help}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
