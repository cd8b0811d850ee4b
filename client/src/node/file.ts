import { openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { IngestError } from "../errors.js";

export interface OpenedFile {
  /** Reads lazily from disk, part by part; reading fails if the file changes meanwhile. */
  blob: Blob;
  size: number;
  mtimeMs: number;
}

export async function openFile(path: string): Promise<OpenedFile> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new IngestError("invalid_options", `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!info.isFile()) throw new IngestError("invalid_options", `${path} is not a regular file`);
  return { blob: await openAsBlob(path), size: info.size, mtimeMs: info.mtimeMs };
}
