// Node entry point: everything the portable core has, plus uploads from a file path and the
// CLI's resume files.
import type { UploadSource } from "../sources.js";
import { type UploadOptions, type UploadResult, upload as uploadSource } from "../upload.js";
import { openFile } from "./file.js";

export * from "../index.js";
export { type OpenedFile, openFile } from "./file.js";
export { readStateFile, type StateFile, StateWriter } from "./state.js";

/** Like the core `upload`, and a string is a path to a file read part by part from disk. */
export async function upload(source: string | UploadSource, options: UploadOptions): Promise<UploadResult> {
  return uploadSource(typeof source === "string" ? (await openFile(source)).blob : source, options);
}
