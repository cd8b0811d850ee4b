import type { z } from "zod";
import { ApiError } from "../shared/errors";

const MAX_JSON_BYTES = 64 * 1024;

function issuesOf(error: z.ZodError) {
  return error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
}

/** Validates a value against a schema; failures become a 400 naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = issuesOf(result.error);
    const first = issues[0];
    const summary = first === undefined ? "" : `: ${first.path === "" ? "" : `${first.path}: `}${first.message}`;
    throw new ApiError(400, "invalid_request", `invalid ${what}${summary}`, issues);
  }
  return result.data;
}

/**
 * Reads a JSON request body and validates it. An empty body is read as `emptyAs` when given
 * (for endpoints whose body is optional) and refused otherwise.
 */
export async function readJson<S extends z.ZodType>(
  request: Request,
  schema: S,
  emptyAs?: unknown,
): Promise<z.output<S>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_JSON_BYTES) {
    throw new ApiError(413, "body_too_large", `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`);
  }
  const text = await request.text();
  if (text.length > MAX_JSON_BYTES) {
    throw new ApiError(413, "body_too_large", `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`);
  }
  if (text.trim() === "") {
    if (emptyAs !== undefined) return parseInput(schema, emptyAs, "request body");
    throw new ApiError(400, "invalid_json", "a JSON request body is required");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "the request body is not valid JSON");
  }
  return parseInput(schema, value, "request body");
}
