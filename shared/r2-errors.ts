/**
 * R2's binding reports failures as Errors whose message ends in a numeric code, e.g.
 * "The specified multipart upload does not exist. (10024)". These are the ones we act on.
 */
export const R2Code = {
  internal: 10001,
  entityTooSmall: 10011,
  noSuchUpload: 10024,
  invalidPart: 10025,
  invalidRange: 10039,
  invalidMultipart: 10048,
} as const;

export function r2ErrorCode(error: unknown): number | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const match = /\((\d{5})\)\s*$/.exec(message.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
