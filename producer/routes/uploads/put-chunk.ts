import * as z from "zod/mini";
import { ChunkSequence, ChunkStagedResponse, UploadId } from "../../../shared/schemas";
import { authorizeUploadId } from "../../auth/authorize";
import { config } from "../../context";
import { defineRoute } from "../../http/route";
import { declaredSha256 } from "../../integrity";
import { ingestChunk } from "../../services/ingest-chunk";
import { BodyHeaders, FinalQuery, requireLength } from "../common";

export const putChunk = defineRoute(
  {
    method: "put",
    path: "/uploads/{uploadId}/chunks/{seq}",
    operationId: "putChunk",
    summary: "Send one chunk of a stream",
    description:
      "Chunks may have any size and arrive in any order; contiguous chunks are written into parts as soon as they fill one. " +
      "The same bytes again are a no-op; different bytes replace a chunk that is still staged.",
    tags: ["streams"],
    security: "credential",
    params: z.object({ uploadId: UploadId, seq: ChunkSequence }),
    query: FinalQuery,
    headers: BodyHeaders,
    binary: { description: "The chunk's bytes" },
    responses: { 200: { description: "The chunk is staged", json: ChunkStagedResponse } },
    errors: {
      404: "No such upload",
      409: "Not a stream, not open, beyond the final chunk, or the chunk is already written into a part",
      411: "No Content-Length",
      413: "The chunk is larger than the largest part",
      503: "Storage or the queue is unavailable; send the chunk again",
    },
  },
  async (c, { params, query, headers, caller }) => {
    authorizeUploadId(caller, params.uploadId);
    const staged = await ingestChunk(
      c.env,
      caller,
      params.uploadId,
      {
        seq: params.seq,
        body: c.req.raw.body,
        size: requireLength(headers["content-length"]),
        sha256: declaredSha256(c.req.raw),
        final: query.final ?? false,
        maxChunkSize: config(c.env).maxPartSize,
      },
      (work) => c.executionCtx.waitUntil(work),
    );
    return c.json(staged);
  },
);
