import 'uplot/dist/uPlot.min.css';
import './console.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, can, savedToken, type Session } from './api.js';
import { ErrorNote, Field, Loading } from './components.js';
import { AlertsPage } from './pages/AlertsPage.js';
import { BreakglassPage } from './pages/BreakglassPage.js';
import { HistoryPage } from './pages/HistoryPage.js';
import { IdentitiesPage, IdentityPage } from './pages/IdentityPage.js';
import { OverviewPage } from './pages/OverviewPage.js';
import { RbacPage } from './pages/RbacPage.js';
import { SearchPage } from './pages/SearchPage.js';
import { StatusPage } from './pages/StatusPage.js';
import { href, parseRoute, type Route } from './route.js';

interface PageDef {
  id: string;
  label: string;
  /** The endpoint the page is built on: the page is shown only to tokens that may call it. */
  needs: string;
  view(props: { route: Route; session: Session }): preact.JSX.Element;
}

const PAGES: PageDef[] = [
  { id: 'overview', label: 'Overview', needs: 'GET /activity', view: OverviewPage },
  { id: 'search', label: 'Search', needs: 'GET /events', view: SearchPage },
  { id: 'identities', label: 'Identities', needs: 'GET /identities', view: IdentitiesPage },
  { id: 'identity', label: '', needs: 'GET /identities/:id', view: IdentityPage },
  { id: 'history', label: 'Resource history', needs: 'GET /history', view: HistoryPage },
  { id: 'alerts', label: 'Alerts', needs: 'GET /alerts', view: AlertsPage },
  { id: 'breakglass', label: 'Break-glass', needs: 'GET /breakglass/checkouts', view: BreakglassPage },
  { id: 'rbac', label: 'RBAC', needs: 'GET /rbac/report', view: RbacPage },
  { id: 'status', label: 'Ingest status', needs: 'GET /ingest/status', view: StatusPage },
];

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function SignIn({ onSession, problem }: { onSession(s: Session): void; problem: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(problem);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    savedToken.set(token.trim());
    try {
      onSession(await api.get<Session>('/session'));
    } catch (err) {
      savedToken.clear();
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin" id="main">
      <h1>kubetrail</h1>
      <p>Who did what in Kubernetes, with which credential, under which permission.</p>
      <form onSubmit={submit}>
        <Field label="API token" hint="A token from kubetrail token create. It is kept in this tab only.">
          <input type="password" name="token" autoComplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && <ErrorNote error={error} />}
      </form>
    </main>
  );
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);

  // A saved token, or a server with no tokens configured (loopback only), signs in by itself.
  useEffect(() => {
    api.get<Session>('/session').then(
      (s) => {
        setSession(s);
        setChecking(false);
      },
      (err: ApiError) => {
        if (err.status !== 401) setProblem(err.message);
        else if (savedToken.get()) setProblem('The saved token was not accepted; sign in again.');
        savedToken.clear();
        setChecking(false);
      },
    );
  }, []);

  // A new page: its heading takes the focus, so keyboard and screen-reader users start there.
  useEffect(() => {
    document.getElementById('page-heading')?.focus();
  }, [route.page, route.rest.join('/')]);

  if (checking) return <Loading what="kubetrail" />;
  if (!session) return <SignIn onSession={setSession} problem={problem} />;

  const visible = PAGES.filter((p) => can(session, p.needs));
  const page = visible.find((p) => p.id === route.page);
  const signOut = () => {
    savedToken.clear();
    setSession(null);
    setProblem(null);
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('page-heading')?.focus();
      }}>Skip to content</a>
      <header class="top">
        <span class="brand">kubetrail</span>
        <nav aria-label="Pages">
          <ul>
            {visible.filter((p) => p.label).map((p) => (
              <li key={p.id}>
                <a href={href(p.id)} aria-current={p.id === route.page || (p.id === 'identities' && route.page === 'identity') ? 'page' : undefined}>{p.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.name} <span class="badge role">{session.role}</span>
          </span>
          <button type="button" class="link" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main id="main">
        {page ? (
          <page.view route={route} session={session} />
        ) : (
          <section>
            <h1 id="page-heading" tabIndex={-1}>Not available</h1>
            <p>
              {PAGES.some((p) => p.id === route.page)
                ? `This page needs a role above ${session.role}; ask an admin for a token with more access.`
                : `There is no page '${route.page}'.`}{' '}
              <a href={href('overview')}>Go to the overview</a>
            </p>
          </section>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
