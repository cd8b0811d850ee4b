import { z } from "zod";
import {
  ChunkStagedResponse,
  CompleteUploadRequest,
  CreateUploadRequest,
  ErrorBody,
  PartUploadedResponse,
  UploadStatus,
} from "../../shared/schemas";

const UploadCreated = UploadStatus.extend({ parts: z.number().int().nullable() }).meta({ id: "UploadCreated" });

const ref = (schema: z.ZodType) => {
  const id = z.globalRegistry.get(schema)?.id;
  if (id === undefined) throw new Error("every schema in the document needs a meta id");
  return { $ref: `#/components/schemas/${id}` };
};
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { "application/json": { schema: ref(schema) } },
});
const error = (description: string) => json(ErrorBody, description);
const uploadIdParam = { name: "uploadId", in: "path", required: true, schema: { type: "string" } };

/**
 * The OpenAPI document of the native API. Bodies come from the zod schemas the routes
 * validate with, so the document cannot drift from what the Worker accepts.
 */
export function openApiDocument(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: "any",
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "R2 ingest pipeline",
      version: "1",
      description: "Multipart uploads into R2, tallied by a queue consumer and completed without a complete call.",
    },
    paths: {
      "/uploads": {
        post: {
          summary: "Create an upload",
          requestBody: { required: true, content: { "application/json": { schema: ref(CreateUploadRequest) } } },
          responses: { "201": json(UploadCreated, "Upload created"), "400": error("Invalid request") },
        },
      },
      "/uploads/{uploadId}": {
        get: {
          summary: "Status of an upload",
          parameters: [uploadIdParam],
          responses: { "200": json(UploadStatus, "Upload status"), "404": error("Unknown upload") },
        },
        delete: {
          summary: "Abort an upload (idempotent)",
          parameters: [uploadIdParam],
          responses: {
            "200": json(UploadStatus, "Upload aborted"),
            "404": error("Unknown upload"),
            "409": error("Upload already completing, completed or failed"),
          },
        },
      },
      "/uploads/{uploadId}/complete": {
        post: {
          summary: "Complete an upload now, or as soon as its parts are tallied",
          parameters: [uploadIdParam],
          requestBody: { required: false, content: { "application/json": { schema: ref(CompleteUploadRequest) } } },
          responses: {
            "200": json(UploadStatus, "Completed (or failed)"),
            "202": json(UploadStatus, "Accepted: the consumer completes it once every part is tallied"),
            "400": error("Invalid request"),
            "409": error("Upload not open, or parts do not fit the count"),
          },
        },
      },
      "/uploads/{uploadId}/parts/{partNumber}": {
        put: {
          summary: "Upload one part (raw body, Content-Length required); ?final=1 marks the last part",
          parameters: [
            uploadIdParam,
            { name: "partNumber", in: "path", required: true, schema: { type: "integer", minimum: 1, maximum: 10000 } },
            { name: "final", in: "query", required: false, schema: { type: "string", enum: ["1", "true"] } },
          ],
          requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
          responses: {
            "200": json(PartUploadedResponse, "Part stored and queued for tallying"),
            "400": error("Invalid part number or size"),
            "404": error("Unknown upload"),
            "409": error("Upload not open"),
            "411": error("Content-Length missing"),
            "413": error("Part larger than the upload's part size"),
            "503": error("Part not queued: send it again"),
          },
        },
      },
      "/uploads/{uploadId}/chunks/{seq}": {
        put: {
          summary: "Send one chunk of a stream (any size, Content-Length required); ?final=1 marks the last",
          parameters: [
            uploadIdParam,
            { name: "seq", in: "path", required: true, schema: { type: "integer", minimum: 1, maximum: 1000000 } },
            { name: "final", in: "query", required: false, schema: { type: "string", enum: ["1", "true"] } },
          ],
          requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
          responses: {
            "200": json(ChunkStagedResponse, "Chunk staged and queued for coalescing (or an identical re-send)"),
            "400": error("Invalid sequence or empty chunk"),
            "404": error("Unknown upload"),
            "409": error("Not a stream, not open, beyond or conflicting with the final chunk, or already coalesced with other bytes"),
            "411": error("Content-Length missing"),
            "413": error("Chunk larger than the request body limit"),
            "503": error("Chunk not queued: send it again"),
          },
        },
      },
      "/objects/{key}": {
        get: {
          summary: "Read a finished object (Range and conditional requests supported)",
          parameters: [{ name: "key", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "The object" },
            "206": { description: "Part of the object" },
            "304": { description: "Not modified" },
            "404": error("No such object"),
          },
        },
      },
    },
    components: { schemas: { ...schemas } },
  };
}
