import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";
import Uppy, { type UppyFile } from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import Tus from "@uppy/tus";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Api } from "../api";
import { uploadHref } from "../route";
import { DownloadLink } from "./download-link";

// `key` names the object; Uppy fills in name and type itself.
type Meta = { key: string };
type Finished = { fileId: string; name: string; key: string; uploadId: string };

const DEFAULT_PREFIX = "uploads/";
const PREFIX_STORAGE = "ingest.keyPrefix";
/**
 * One PATCH carries at most this much. A Worker's request body is capped (100 MB on the Free and
 * Pro plans), so a large file cannot go in one request; a multiple of the server's 8 MiB tus part
 * size keeps every PATCH on part boundaries, the fast path. After a dropped connection the
 * client resumes from the server's offset, so at most one chunk is sent twice.
 */
const CHUNK_SIZE = 32 * 1024 * 1024;

/** The id GET /uploads/{id} knows is the last segment of the tus upload URL. */
const uploadIdOf = (uploadUrl: string) => new URL(uploadUrl, location.href).pathname.split("/").pop() ?? "";

export function UploadPage({ api, apiKey }: { api: Api; apiKey: string }) {
  const [prefix, setPrefix] = useState(() => localStorage.getItem(PREFIX_STORAGE) ?? DEFAULT_PREFIX);
  const [finished, setFinished] = useState<Finished[]>([]);
  const target = useRef<HTMLDivElement>(null);
  const uppy = useRef<Uppy<Meta, Record<string, never>> | null>(null);
  const prefixRef = useRef(prefix);

  useEffect(() => {
    if (target.current === null) return;
    const instance = new Uppy<Meta, Record<string, never>>({ id: "ingest", autoProceed: false })
      .use(Dashboard, {
        inline: true,
        target: target.current,
        width: "100%",
        height: 380,
        proudlyDisplayPoweredByUppy: false,
        note: "Files go to the tus endpoint (/files/) and resume after a dropped connection.",
        metaFields: [{ id: "key", name: "Object key", placeholder: "Where the object is stored in R2" }],
      })
      .use(Tus, {
        endpoint: new URL("files/", location.href).href,
        headers: { authorization: `Bearer ${apiKey}` },
        chunkSize: CHUNK_SIZE,
        retryDelays: [0, 1_000, 3_000, 5_000, 10_000, 20_000],
        // `key` names the object; name and type become filename and filetype.
        allowedMetaFields: ["key", "name", "type"],
        removeFingerprintOnSuccess: true,
      });
    instance.on("file-added", (file: UppyFile<Meta, Record<string, never>>) => {
      instance.setFileMeta(file.id, { key: `${prefixRef.current}${file.name ?? "file"}` });
    });
    instance.on("upload-success", (file, response) => {
      if (file === undefined || response.uploadURL === undefined) return;
      const entry = {
        fileId: file.id,
        name: file.name ?? file.id,
        key: file.meta.key,
        uploadId: uploadIdOf(response.uploadURL),
      };
      setFinished((list) => [...list.filter((item) => item.fileId !== file.id), entry]);
    });
    uppy.current = instance;
    return () => {
      instance.destroy();
      uppy.current = null;
    };
  }, [apiKey]);

  // A new prefix applies to the files that have not started yet; keys edited by hand keep theirs.
  const changePrefix = (next: string) => {
    const previous = prefixRef.current;
    prefixRef.current = next;
    setPrefix(next);
    localStorage.setItem(PREFIX_STORAGE, next);
    for (const file of uppy.current?.getFiles() ?? []) {
      if (file.progress.uploadStarted === null && file.meta.key === `${previous}${file.name}`) {
        uppy.current?.setFileMeta(file.id, { key: `${next}${file.name}` });
      }
    }
  };

  return (
    <>
      <h1>Upload files</h1>
      <p>
        Drop files or pick them; each is stored at <em>prefix + file name</em> (edit a file's key with its pencil
        button). Uploads can be paused, resumed and retried.
      </p>
      <label class="field">
        Key prefix
        <input
          type="text"
          value={prefix}
          spellcheck={false}
          onInput={(event) => changePrefix(event.currentTarget.value)}
        />
      </label>
      <div ref={target} class="dashboard" />
      {finished.length > 0 && (
        <section aria-labelledby="finished-title">
          <h2 id="finished-title">Finished uploads</h2>
          <ul aria-labelledby="finished-title" class="finished">
            {finished.map((item) => (
              <li key={item.fileId}>
                <a href={uploadHref(item.uploadId)}>Status of {item.name}</a>
                {" · "}
                <DownloadLink api={api} objectKey={item.key} />
                <span class="muted small"> (the object is ready once the status says completed)</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
