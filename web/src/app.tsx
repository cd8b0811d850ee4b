import { lazy, Suspense } from "preact/compat";
import { useMemo, useState } from "preact/hooks";
import { createApi } from "./api";
import { ConsolePage } from "./console/console-page";
import { useRoute } from "./route";
import { forgetKey, storedKey, storeKey } from "./session";
import { SignIn } from "./sign-in";
import { UploadDetail } from "./upload/upload-detail";

// Uppy is most of the app's weight and only the upload page needs it: a first visit loads the
// console alone, the upload page pulls the rest when opened.
const UploadPage = lazy(() => import("./upload/upload-page").then((module) => module.UploadPage));

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
        {route.page === "upload" && (
          <Suspense fallback={<p>Loading the uploader…</p>}>
            <UploadPage api={api} apiKey={apiKey} />
          </Suspense>
        )}
      </main>
    </>
  );
}
