import type { ComponentType } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { type Api, createApi, describeError } from "./api";
import { ConsolePage } from "./console/console-page";
import { useRoute } from "./route";
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

export function App() {
  const [apiKey, setApiKey] = useState(storedKey);
  const route = useRoute();
  const api = useMemo(() => (apiKey === null ? null : createApi(apiKey)), [apiKey]);

  const signOut = () => {
    forgetKey();
    setApiKey(null);
  };

  if (apiKey === null || api === null) {
    return (
      <SignIn
        onSignedIn={(key) => {
          storeKey(key);
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
      <main>
        {route.page === "console" && <ConsolePage api={api} onUnauthorized={signOut} />}
        {route.page === "detail" && <UploadDetail api={api} uploadId={route.uploadId} onUnauthorized={signOut} />}
        {route.page === "upload" && <LazyUploadPage api={api} apiKey={apiKey} />}
      </main>
    </>
  );
}
