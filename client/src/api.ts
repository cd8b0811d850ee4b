import { IngestError } from "./errors.js";
import { isRecord, send, type Transport } from "./http.js";
import type { UploadStatus } from "./types.js";

const STATES = new Set(["open", "completing", "completed", "aborted", "failed"]);
const id = (uploadId: string) => encodeURIComponent(uploadId);

/** Keys may hold "/": encode each segment, keep the separators. */
export const objectPath = (key: string) => `objects/${key.split("/").map(encodeURIComponent).join("/")}`;

async function readJson(response: Response, label: string): Promise<unknown> {
  try {
    return await response.json();
  } catch (error) {
    throw new IngestError("bad_response", `${label}: the server's answer is not JSON`, { cause: error });
  }
}

/** Checks the fields the client acts on, so a wrong endpoint fails clearly instead of later. */
function asStatus(value: unknown, label: string): UploadStatus {
  const ok =
    isRecord(value) &&
    typeof value.uploadId === "string" &&
    typeof value.key === "string" &&
    typeof value.state === "string" &&
    STATES.has(value.state) &&
    typeof value.receivedParts === "number" &&
    Array.isArray(value.missingParts) &&
    value.missingParts.every((range) => typeof range === "string");
  if (!ok) throw new IngestError("bad_response", `${label}: the server's answer is not an upload status`);
  return value as UploadStatus;
}

const jsonHeaders = { "content-type": "application/json" };

export interface CreateRequest {
  key: string;
  partSize: number;
  parts?: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

export async function createUpload(transport: Transport, request: CreateRequest): Promise<UploadStatus> {
  const response = await send(transport, {
    method: "POST",
    path: "uploads",
    headers: jsonHeaders,
    body: () => JSON.stringify(request),
    label: "create",
  });
  return asStatus(await readJson(response, "create"), "create");
}

export async function getStatus(transport: Transport, uploadId: string): Promise<UploadStatus> {
  const response = await send(transport, { method: "GET", path: `uploads/${id(uploadId)}`, label: "status" });
  return asStatus(await readJson(response, "status"), "status");
}

export async function abortUpload(transport: Transport, uploadId: string): Promise<UploadStatus> {
  const response = await send(transport, { method: "DELETE", path: `uploads/${id(uploadId)}`, label: "abort" });
  return asStatus(await readJson(response, "abort"), "abort");
}

/** 200 once completed (or failed); 202 while parts or their events are still on their way. */
export async function completeUpload(transport: Transport, uploadId: string, parts: number): Promise<UploadStatus> {
  const response = await send(transport, {
    method: "POST",
    path: `uploads/${id(uploadId)}/complete`,
    headers: jsonHeaders,
    body: () => JSON.stringify({ parts }),
    label: "complete",
  });
  return asStatus(await readJson(response, "complete"), "complete");
}

export interface PartRequest {
  partNumber: number;
  size: number;
  body: () => BodyInit;
  query: Record<string, string>;
}

export async function putPart(transport: Transport, uploadId: string, part: PartRequest): Promise<void> {
  const label = `part ${part.partNumber}`;
  const query = new URLSearchParams(part.query).toString();
  const response = await send(transport, {
    method: "PUT",
    path: `uploads/${id(uploadId)}/parts/${part.partNumber}${query === "" ? "" : `?${query}`}`,
    // Set by hand because a streamed body has no length of its own and the server needs one.
    headers: { "content-length": String(part.size) },
    body: part.body,
    label,
  });
  const answer = await readJson(response, label);
  if (!isRecord(answer) || answer.size !== part.size) {
    throw new IngestError("bad_response", `${label}: the server stored a different size than was sent`);
  }
}

export function getObject(transport: Transport, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return send(transport, { method: "GET", path: objectPath(key), headers, label: `download ${key}` });
}
