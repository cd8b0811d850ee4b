import type {
  CompleteUploadRequest,
  CreatedUpload,
  CreateUploadRequest,
  PartUploadedResponse,
  UploadState,
  UploadStatus,
} from "./contract.js";
import { IngestError } from "./errors.js";
import { isRecord, send, type Transport } from "./http.js";

/** Every state, as an object so that a state added to the contract fails to compile here. */
export const UPLOAD_STATES: Record<UploadState, true> = {
  open: true,
  completing: true,
  completed: true,
  aborted: true,
  failed: true,
};
const id = (uploadId: string) => encodeURIComponent(uploadId);

/** Keys may hold "/": encode each segment, keep the separators. */
export const objectPath = (key: string) => `objects/${key.split("/").map(encodeURIComponent).join("/")}`;

export async function readJson(response: Response, label: string): Promise<unknown> {
  try {
    return await response.json();
  } catch (error) {
    throw new IngestError("bad_response", `${label}: the server's answer is not JSON`, { cause: error });
  }
}

/** Checks the fields the client acts on, so a wrong endpoint fails clearly instead of later. */
function isStatus(value: unknown): value is UploadStatus {
  return (
    isRecord(value) &&
    typeof value.uploadId === "string" &&
    typeof value.key === "string" &&
    typeof value.state === "string" &&
    Object.hasOwn(UPLOAD_STATES, value.state) &&
    typeof value.receivedParts === "number" &&
    Array.isArray(value.missingParts) &&
    value.missingParts.every((range) => typeof range === "string")
  );
}

function asStatus(value: unknown, label: string): UploadStatus {
  if (!isStatus(value)) throw new IngestError("bad_response", `${label}: the server's answer is not an upload status`);
  return value;
}

const jsonHeaders = { "content-type": "application/json" };

/** POST /uploads: answers with the new upload's status (and its upload token, if the server issues them). */
export async function createUpload(transport: Transport, request: CreateUploadRequest): Promise<CreatedUpload> {
  const response = await send(transport, {
    method: "POST",
    path: "uploads",
    headers: jsonHeaders,
    body: () => JSON.stringify(request),
    label: "create",
  });
  // The extra fields of a created upload are not acted on, so only the status part is checked.
  return asStatus(await readJson(response, "create"), "create") as CreatedUpload;
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
export async function completeUpload(transport: Transport, uploadId: string, parts?: number): Promise<UploadStatus> {
  const request: CompleteUploadRequest = parts === undefined ? {} : { parts };
  const response = await send(transport, {
    method: "POST",
    path: `uploads/${id(uploadId)}/complete`,
    headers: jsonHeaders,
    body: () => JSON.stringify(request),
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

export async function putPart(
  transport: Transport,
  uploadId: string,
  part: PartRequest,
): Promise<PartUploadedResponse> {
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
  if (!isPartUploaded(answer) || answer.size !== part.size) {
    throw new IngestError("bad_response", `${label}: the server stored a different size than was sent`);
  }
  return answer;
}

const isPartUploaded = (value: unknown): value is PartUploadedResponse =>
  isRecord(value) && typeof value.size === "number" && typeof value.etag === "string";

export function getObject(transport: Transport, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return send(transport, { method: "GET", path: objectPath(key), headers, label: `download ${key}` });
}
