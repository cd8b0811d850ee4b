import { useState } from "preact/hooks";
import { type Api, describeError } from "../api";

/**
 * A link to the object that works with the API key: the browser cannot add an Authorization
 * header to a plain navigation, so a click fetches the object with it and saves the bytes.
 */
export function DownloadLink({ api, objectKey, label }: { api: Api; objectKey: string; label?: string }) {
  const [error, setError] = useState<string | null>(null);
  const href = `objects/${objectKey.split("/").map(encodeURIComponent).join("/")}`;
  const download = async (event: MouseEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const url = URL.createObjectURL(await api.download(objectKey));
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = objectKey.split("/").pop() ?? "object";
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (reason) {
      setError(describeError(reason));
    }
  };
  return (
    <>
      <a href={href} onClick={download}>
        {label ?? `Download ${objectKey}`}
      </a>
      {error !== null && (
        <span role="alert" class="error">
          {" "}
          {error}
        </span>
      )}
    </>
  );
}
