import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { abortUpload, getObject, getStatus } from "../api.js";
import type { UploadStatus } from "../contract.js";
import { IngestError } from "../errors.js";
import { EXIT, type Globals, printResult, transportFor } from "./context.js";
import { formatBytes, formatDuration, formatRate } from "./format.js";

export async function statusCommand(uploadId: string, globals: Globals): Promise<number> {
  const status = await getStatus(transportFor(globals, process.env), uploadId);
  printResult(globals, status, describe(status));
  return EXIT.ok;
}

export async function abortCommand(uploadId: string, globals: Globals): Promise<number> {
  const status = await abortUpload(transportFor(globals, process.env), uploadId);
  printResult(globals, status, `Aborted upload ${status.uploadId} (${status.key}).`);
  return EXIT.ok;
}

function describe(status: UploadStatus): string {
  const expected = status.expectedParts === null ? "" : ` of ${status.expectedParts}`;
  const missing = status.missingParts.length > 0 ? ` (missing: ${status.missingParts.join(", ")})` : "";
  const lines = [
    `Upload   ${status.uploadId}`,
    `Key      ${status.key}`,
    `State    ${status.state}${status.failureReason ? `: ${status.failureReason}` : ""}${status.abortReason ? ` (${status.abortReason})` : ""}`,
    `Parts    ${status.receivedParts}${expected} tallied${missing}`,
    `Bytes    ${formatBytes(status.bytesReceived)} tallied`,
  ];
  if (status.object !== null) lines.push(`Object   ${formatBytes(status.object.size)}, etag ${status.object.etag}`);
  return lines.join("\n");
}

/**
 * Streams an object to a file through "<file>.partial", renamed once complete, so an
 * interrupted download never looks like a finished one.
 */
export async function downloadCommand(key: string, target: string | undefined, globals: Globals): Promise<number> {
  const started = Date.now();
  const response = await getObject(transportFor(globals, process.env), key);
  if (response.body === null) throw new IngestError("bad_response", `download ${key}: the answer has no body`);
  const expected = Number(response.headers.get("content-length") ?? Number.NaN);
  const toStdout = target === "-";
  const file = target ?? key.split("/").filter(Boolean).pop() ?? "download";
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.byteLength;
      done(null, chunk);
    },
  });
  const body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
  if (toStdout) {
    await pipeline(body, counter, process.stdout);
  } else {
    const partial = `${file}.partial`;
    try {
      await pipeline(body, counter, createWriteStream(partial));
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    await rename(partial, file);
  }
  if (Number.isFinite(expected) && bytes !== expected) {
    throw new IngestError("bad_response", `download ${key}: got ${bytes} bytes, expected ${expected}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    key,
    file: toStdout ? null : file,
    size: bytes,
    etag: response.headers.get("etag"),
    contentType: response.headers.get("content-type"),
    durationMs: Date.now() - started,
  };
  const text = `Downloaded ${key} to ${toStdout ? "stdout" : file}: ${formatBytes(bytes)} in ${formatDuration(seconds)}, ${formatRate(seconds > 0 ? bytes / seconds : 0)}.`;
  // With the data on stdout, the summary must not mix into it.
  if (toStdout) process.stderr.write(`${globals.json ? JSON.stringify(summary) : text}\n`);
  else printResult(globals, summary, text);
  return EXIT.ok;
}
