import type { UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { decodeError } from "../lib/decodeError.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

/** Renders a read's data, or says it is loading, or shows its decoded error. */
export function Loaded<T>({
  query,
  what,
  children,
}: {
  query: UseQueryResult<T>;
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (query.data !== undefined) return <>{children(query.data)}</>;
  if (query.isError) return <ErrorNotice error={decodeError(query.error)} title={`Cannot read ${what}`} />;
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}
