import * as z from "zod/mini";
import { errors } from "../../shared/errors";
import { UploadId } from "../../shared/schemas";

/** Path, query and header shapes that several routes share. */
export const UploadIdParams = z.object({ uploadId: UploadId });

const flag = z.pipe(
  z.enum(["", "1", "true", "0", "false"], "final must be 1 or true (or absent)"),
  z.transform((value) => value === "" || value === "1" || value === "true"),
);
export const FinalQuery = z.object({
  final: z.optional(flag.check(z.meta({ description: "Marks this part or chunk as the last one (`1` or `true`)" }))),
});

/** The headers of a raw body: its exact length (R2 needs it before reading) and an optional digest. */
export const BodyHeaders = z.object({
  "content-length": z.optional(
    z
      .string()
      .check(
        z.regex(/^\s*[0-9]{1,15}\s*$/, "Content-Length must be a whole number of bytes"),
        z.meta({ description: "Exact length of the body in bytes (required)" }),
      ),
  ),
  "content-digest": z.optional(
    z.string().check(
      z.maxLength(512),
      z.meta({
        description: "RFC 9530 digest of the body, e.g. `sha-256=:<base64>:`; the body is refused on mismatch",
      }),
    ),
  ),
});

/** The declared body length; without one R2 cannot take a stream. */
export function requireLength(header: string | undefined): number {
  if (header === undefined) throw errors.lengthRequired();
  return Number(header.trim());
}
