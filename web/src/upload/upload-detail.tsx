import { useEffect, useState } from "preact/hooks";
import { type Api, describeError, isNotFound, isUnauthorized, type UploadStatus } from "../api";
import { exactBytes, formatBytes, formatExpiry } from "../format";
import { StateBadge } from "../state-badge";
import { usePoll } from "../use-poll";
import { AbortDialog } from "./abort-dialog";
import { DownloadLink } from "./download-link";
import { CellGrid } from "./parts-grid";
import { chunkCells, partCells } from "./status-view";
import { Timeline } from "./timeline";

const REFRESH_MS = 2_000;
const isLive = (status: UploadStatus | undefined) =>
  status === undefined || status.state === "open" || status.state === "completing";

export function UploadDetail({
  api,
  uploadId,
  onUnauthorized,
}: {
  api: Api;
  uploadId: string;
  onUnauthorized: () => void;
}) {
  const [live, setLive] = useState(true);
  const polled = usePoll(() => api.status(uploadId), live ? REFRESH_MS : null, [api, uploadId, live]);
  const [aborted, setAborted] = useState<UploadStatus | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const status = aborted ?? polled.data;
  // A finished upload does not change: stop refreshing it.
  useEffect(() => setLive(isLive(status)), [status]);
  useEffect(() => {
    if (isUnauthorized(polled.error)) onUnauthorized();
  }, [polled.error, onUnauthorized]);

  if (status === undefined) {
    if (polled.error === undefined) return <p>Loading…</p>;
    return (
      <p role="alert" class="error">
        {isNotFound(polled.error)
          ? "No upload with this id."
          : `Could not load the upload: ${describeError(polled.error)}`}
      </p>
    );
  }

  const abort = async () => {
    setBusy(true);
    setActionError(null);
    try {
      setAborted(await api.abort(uploadId));
    } catch (reason) {
      setActionError(`Could not abort: ${describeError(reason)}`);
      polled.refresh();
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  const size = status.object?.size ?? status.bytesReceived;
  return (
    <article class="detail">
      <p>
        <a href="#/">← All uploads</a>
      </p>
      <h1 class="key">{status.key}</h1>
      <dl class="facts">
        <dt>State</dt>
        <dd data-testid="upload-state" aria-live="polite">
          <StateBadge state={status.state} />
        </dd>
        <dt>Upload id</dt>
        <dd>
          <code>{status.uploadId}</code>
        </dd>
        <dt>API</dt>
        <dd>{status.api}</dd>
        <dt>Mode</dt>
        <dd>{status.mode}</dd>
        <dt>Size</dt>
        <dd data-bytes={size}>
          {formatBytes(size)} ({exactBytes(size)}){" "}
          {status.object === null && <span class="muted">received so far</span>}
        </dd>
        <dt>Parts</dt>
        <dd>
          {status.receivedParts.toLocaleString("en-US")} received
          {status.expectedParts !== null && ` of ${status.expectedParts.toLocaleString("en-US")}`}
          {status.partSize !== null && `, ${formatBytes(status.partSize)} each`}
        </dd>
        {status.contentType !== null && (
          <>
            <dt>Content type</dt>
            <dd>{status.contentType}</dd>
          </>
        )}
        {isLive(status) && (
          <>
            <dt>Expires in</dt>
            <dd>{formatExpiry(status.expiresAt, Date.now())} without activity</dd>
          </>
        )}
        {status.state === "completed" && (
          <>
            <dt>Object</dt>
            <dd>
              <DownloadLink api={api} objectKey={status.key} />
            </dd>
          </>
        )}
      </dl>

      {status.state === "open" && (
        <p>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Abort upload
          </button>
        </p>
      )}
      {actionError !== null && (
        <p role="alert" class="error">
          {actionError}
        </p>
      )}
      {confirming && (
        <AbortDialog uploadKey={status.key} busy={busy} onConfirm={abort} onCancel={() => setConfirming(false)} />
      )}

      <section aria-labelledby="parts-title">
        <h2 id="parts-title">Parts</h2>
        <CellGrid cells={partCells(status)} noun="Part" />
      </section>
      {status.stream !== null && (
        <section aria-labelledby="chunks-title">
          <h2 id="chunks-title">Stream chunks</h2>
          <p>
            {formatBytes(status.stream.committedBytes)} committed to parts, {formatBytes(status.stream.stagedBytes)}{" "}
            staged
            {status.stream.finalChunk !== null && `, final chunk ${status.stream.finalChunk}`}.
          </p>
          <CellGrid cells={chunkCells(status.stream)} noun="Chunk" />
        </section>
      )}

      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <Timeline status={status} />
      </section>

      <section aria-labelledby="digest-title">
        <h2 id="digest-title">Digest</h2>
        <dl class="facts">
          <dt>SHA-256 declared</dt>
          <dd>{status.sha256 === null ? "none" : <code>{status.sha256}</code>}</dd>
          <dt>ETag</dt>
          <dd>{status.object === null ? "not yet" : <code>{status.object.etag}</code>}</dd>
          <dt>Verified part digests</dt>
          <dd>
            {Object.keys(status.partDigests).length === 0 ? (
              "none"
            ) : (
              <ul class="plain">
                {Object.entries(status.partDigests).map(([part, digest]) => (
                  <li key={part}>
                    Part {part}: <code>{digest}</code>
                  </li>
                ))}
              </ul>
            )}
          </dd>
        </dl>
      </section>
    </article>
  );
}
