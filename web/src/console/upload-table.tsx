import type { UploadListItem } from "../api";
import { exactBytes, formatAge, formatBytes, formatExpiry } from "../format";
import { uploadHref } from "../route";
import { StateBadge } from "../state-badge";

/** Bytes in, out of the size when it is known; parts in, out of the expected parts otherwise. */
function progressOf(item: UploadListItem): { value: number; max: number; text: string } {
  if (item.state === "completed") return { value: 1, max: 1, text: "done" };
  if (item.size !== null && item.size > 0) {
    return {
      value: Math.min(item.bytesReceived, item.size),
      max: item.size,
      text: `${Math.floor((100 * Math.min(item.bytesReceived, item.size)) / item.size)}%`,
    };
  }
  if (item.expectedParts !== null && item.expectedParts > 0) {
    return {
      value: item.receivedParts,
      max: item.expectedParts,
      text: `${item.receivedParts}/${item.expectedParts} parts`,
    };
  }
  return { value: 0, max: 1, text: `${item.receivedParts} parts` };
}

/** The size a row shows: the object's once known, the bytes received so far before that. */
const sizeOf = (item: UploadListItem) => item.size ?? item.bytesReceived;

export function UploadTable({ items, now }: { items: UploadListItem[]; now: number }) {
  return (
    <table aria-label="Uploads" class="uploads">
      <thead>
        <tr>
          <th scope="col">State</th>
          <th scope="col">Key</th>
          <th scope="col" class="number">
            Size
          </th>
          <th scope="col">Progress</th>
          <th scope="col">Age</th>
          <th scope="col">Expires in</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => {
          const progress = progressOf(item);
          const size = sizeOf(item);
          const open = item.state === "open" || item.state === "completing";
          return (
            <tr key={item.uploadId} data-upload-id={item.uploadId} data-state={item.state}>
              <td>
                <StateBadge state={item.state} />
                {item.reason !== null && <span class="muted small"> ({item.reason})</span>}
              </td>
              <td class="key">
                <a href={uploadHref(item.uploadId)}>{item.key}</a>
                <span class="muted small"> {item.api}</span>
              </td>
              <td class="number" data-bytes={size} title={exactBytes(size)}>
                {formatBytes(size)}
                {item.size === null && <span class="muted small"> so far</span>}
                <span class="exact">{exactBytes(size)}</span>
              </td>
              <td>
                <progress value={progress.value} max={progress.max} aria-label={`Progress of ${item.key}`} />
                <span class="small"> {progress.text}</span>
              </td>
              <td title={item.createdAt}>{formatAge(item.createdAt, now)}</td>
              <td title={item.expiresAt ?? undefined}>{open ? formatExpiry(item.expiresAt, now) : "—"}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
