import type { UploadStatus } from "../api";
import { timelineOf } from "./status-view";

export function Timeline({ status }: { status: UploadStatus }) {
  return (
    <ol aria-label="Timeline" class="timeline">
      {timelineOf(status).map((event) => (
        <li key={event.label}>
          <strong>{event.label}</strong>{" "}
          {event.time !== null && <time dateTime={event.time}>{new Date(event.time).toLocaleString()}</time>}
          {event.detail !== undefined && <span class="reason"> — {event.detail}</span>}
        </li>
      ))}
    </ol>
  );
}
