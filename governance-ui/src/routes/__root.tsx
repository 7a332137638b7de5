import { createRootRoute, Link, Outlet, useRouterState } from "@tanstack/react-router";
import { KillSwitchBanner } from "../components/KillSwitchBanner.tsx";
import { WalletMenu } from "../components/WalletMenu.tsx";
import { useApp } from "../lib/AppContext.tsx";
import { useChainHead } from "../lib/ChainHead.tsx";
import { decodeError } from "../lib/decodeError.ts";
import { usePolicy, useWorkerHealth } from "../lib/queries.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";

export const Route = createRootRoute({
  component: Layout,
  notFoundComponent: () => (
    <section className="page">
      <h1>Not found</h1>
      <p>
        There is no page here. <Link to="/">Back to the policy</Link>.
      </p>
    </section>
  ),
  errorComponent: ({ error }) => (
    <section className="page">
      <h1>Something went wrong</h1>
      <ErrorNotice error={decodeError(error)} />
    </section>
  ),
});

const NAV = [
  { to: "/", label: "Policy" },
  { to: "/proposals", label: "Proposals" },
  { to: "/proposals/new", label: "New proposal" },
  { to: "/delegate", label: "Delegate" },
  { to: "/safe", label: "Safe" },
  { to: "/contribute", label: "Contribute" },
  { to: "/attest", label: "Attest" },
  { to: "/consume", label: "Consume" },
  { to: "/guardian", label: "Guardian" },
] as const;

function Layout() {
  const pathname = useRouterState({ select: (state) => state.location.pathname });
  // A proposal's page belongs to Proposals; the builder has its own tab.
  const inProposals = pathname.startsWith("/proposals") && pathname !== "/proposals/new";
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="site-header-inner">
          <Link to="/" className="brand">
            <span className="brand-mark" aria-hidden="true">
              ◈
            </span>{" "}
            DAO AI <span className="brand-sub">governance</span>
          </Link>
          <WalletMenu />
        </div>
        <nav aria-label="Main" className="site-nav">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link
                  to={item.to}
                  activeOptions={{ exact: item.to === "/" || item.to === "/proposals" }}
                  activeProps={{ "aria-current": "page", className: "active" }}
                  {...(item.to === "/proposals" && inProposals ? { className: "active" } : {})}
                >
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <KillSwitchBanner />
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
      <Footer />
    </>
  );
}

function Footer() {
  const { config, workerUrl } = useApp();
  const { head, error } = useChainHead();
  const { data: policy } = usePolicy();
  const worker = useWorkerHealth();
  return (
    <footer className="site-footer">
      <span>
        Chain {config.chainName} ({config.chainId})
      </span>
      <span data-testid="block-number">
        {error && !head ? "chain unreachable" : head ? `block ${head.number.toString()}` : "connecting…"}
      </span>
      {policy ? <span>policy version {policy.policyVersion.toString()}</span> : null}
      <span>
        worker:{" "}
        {workerUrl === null ? "not configured" : worker.isSuccess ? "online" : worker.isError ? "unreachable" : "…"}
      </span>
    </footer>
  );
}
