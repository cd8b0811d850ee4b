import { useEffect, useState } from "preact/hooks";

// Hash routes (#/, #/upload, #/uploads/<id>): static assets need no fallback rule, and no app
// path can shadow an API path such as /uploads/<id>.
export type Route = { page: "console" } | { page: "upload" } | { page: "detail"; uploadId: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/";
  if (path === "/upload") return { page: "upload" };
  const detail = /^\/uploads\/([^/?#]+)$/.exec(path);
  if (detail?.[1] !== undefined) return { page: "detail", uploadId: decodeURIComponent(detail[1]) };
  return { page: "console" };
}

export const uploadHref = (uploadId: string) => `#/uploads/${encodeURIComponent(uploadId)}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
