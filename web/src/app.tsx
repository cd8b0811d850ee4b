import type { ComponentType } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type Api, createApi, describeError } from "./api";
import { ConsolePage } from "./console/console-page";
import { type Route, useRoute } from "./route";
import { forgetKey, storedKey, storeKey } from "./session";
import { SignIn } from "./sign-in";
import { UploadDetail } from "./upload/upload-detail";

type UploadPageProps = { api: Api; apiKey: string };

/**
 * Uppy is most of the app's weight and only the upload page needs it: a first visit loads the
 * console alone, and the upload page's chunk is fetched when it is first opened. (A dozen lines
 * here instead of preact/compat's lazy and Suspense, which would add 2 KiB to every first visit.)
 */
function LazyUploadPage(props: UploadPageProps) {
  const [Page, setPage] = useState<ComponentType<UploadPageProps> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    import("./upload/upload-page").then((module) => setPage(() => module.UploadPage), setError);
  }, []);
  if (error !== null) {
    return (
      <p role="alert" class="error">
        Could not load the uploader: {describeError(error)}. Reload the page to try again.
      </p>
    );
  }
  return Page === null ? <p>Loading the uploader…</p> : <Page {...props} />;
}

const TITLES: Record<Route["page"], string> = { console: "Uploads", upload: "Upload files", detail: "Upload" };

export function App() {
  const [apiKey, setApiKey] = useState(storedKey);
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();
  const api = useMemo(() => (apiKey === null ? null : createApi(apiKey)), [apiKey]);
  const main = useRef<HTMLElement>(null);
  const firstRoute = useRef(true);

  const signOut = useCallback(() => {
    forgetKey();
    setApiKey(null);
  }, []);
  // The server stopped accepting the key (rotated, removed): back to sign-in, saying why.
  const refused = useCallback(() => {
    setNotice("The server no longer accepts this API key. Sign in again.");
    signOut();
  }, [signOut]);

  // A new page takes focus, so keyboard and screen-reader users start at its content.
  useEffect(() => {
    document.title = `${apiKey === null ? "Sign in" : TITLES[route.page]} · Ingest console`;
    if (firstRoute.current) firstRoute.current = false;
    else main.current?.focus();
  }, [route, apiKey]);

  if (apiKey === null || api === null) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(key) => {
          storeKey(key);
          setNotice(null);
          setApiKey(key);
        }}
      />
    );
  }

  return (
    <>
      <header class="bar">
        <span class="brand">Ingest</span>
        <nav aria-label="Main">
          <a href="#/" aria-current={route.page === "console" ? "page" : undefined}>
            Console
          </a>
          <a href="#/upload" aria-current={route.page === "upload" ? "page" : undefined}>
            Upload
          </a>
        </nav>
        <button type="button" class="quiet" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main ref={main} tabIndex={-1}>
        {route.page === "console" && <ConsolePage api={api} onUnauthorized={refused} />}
        {route.page === "detail" && (
          <UploadDetail key={route.uploadId} api={api} uploadId={route.uploadId} onUnauthorized={refused} />
        )}
        {route.page === "upload" && <LazyUploadPage api={api} apiKey={apiKey} />}
      </main>
    </>
  );
}
