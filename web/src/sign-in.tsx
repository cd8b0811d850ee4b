import { useState } from "preact/hooks";
import { createApi, describeError, isUnauthorized } from "./api";

/**
 * The key is tried against GET /uploads/summary before it is kept, so a wrong key is refused
 * here, with a message, rather than on the first page that loads.
 */
export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (candidate === "") {
      setError("Enter an API key.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await createApi(candidate).summary();
      onSignedIn(candidate);
    } catch (reason) {
      setError(
        isUnauthorized(reason)
          ? "That API key was not accepted. Check it and try again."
          : `Could not sign in: ${describeError(reason)}`,
      );
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <form onSubmit={submit} aria-labelledby="sign-in-title" class="card">
        <h1 id="sign-in-title">Sign in</h1>
        <p class="hint">Use one of the API keys configured in the producer's API_KEYS secret.</p>
        {notice !== null && error === null && (
          <p role="status" class="notice">
            {notice}
          </p>
        )}
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
          aria-invalid={error !== null}
          aria-describedby={error === null ? undefined : "sign-in-error"}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error !== null && (
          <p id="sign-in-error" role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
