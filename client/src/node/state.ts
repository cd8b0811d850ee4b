import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { IngestError } from "../errors.js";
import { isRecord } from "../http.js";
import type { ResumeState } from "../types.js";

/** The CLI's resume file: the library's ResumeState plus where it was going and what it read. */
export interface StateFile {
  version: 1;
  endpoint: string;
  /** Absolute path of the uploaded file, or null for stdin. */
  file: string | null;
  /** Size and modification time of that file, to refuse resuming from a changed file. */
  fileSize: number | null;
  mtimeMs: number | null;
  upload: ResumeState;
}

export async function readStateFile(path: string): Promise<StateFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new IngestError("invalid_options", `cannot read state file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const upload = isRecord(parsed) ? parsed.upload : undefined;
  const valid =
    isRecord(parsed) &&
    parsed.version === 1 &&
    typeof parsed.endpoint === "string" &&
    isRecord(upload) &&
    typeof upload.uploadId === "string" &&
    typeof upload.partSize === "number" &&
    Array.isArray(upload.acknowledged);
  if (!valid) throw new IngestError("invalid_options", `${path} is not an upload state file`);
  return parsed as unknown as StateFile;
}

/**
 * Rewrites the state file after every acknowledged part, atomically (write, then rename) so a
 * crash mid-write never leaves a torn file. Writes are chained, and a write queued behind
 * another only keeps the newest state.
 */
export class StateWriter {
  private chain: Promise<void> = Promise.resolve();
  private latest: StateFile | undefined;
  private failed: Error | undefined;
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  save(state: StateFile): void {
    const idle = this.latest === undefined;
    this.latest = state;
    if (!idle) return;
    this.chain = this.chain.then(async () => {
      const next = this.latest;
      this.latest = undefined;
      if (next === undefined) return;
      const temporary = `${this.path}.tmp`;
      try {
        await writeFile(temporary, `${JSON.stringify(next, null, 2)}\n`);
        await rename(temporary, this.path);
      } catch (error) {
        this.failed ??= error as Error;
      }
    });
  }

  /** Resolves once everything saved so far is on disk; reports the first write error, if any. */
  async flush(): Promise<Error | undefined> {
    await this.chain;
    return this.failed;
  }

  async remove(): Promise<void> {
    await this.chain;
    await rm(this.path, { force: true });
  }
}
