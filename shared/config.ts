import * as z from "zod/mini";

/**
 * Each Worker's vars, read by one schema per Worker straight from its env (an object schema
 * picks its own keys and ignores the bindings). Vars are strings; an unset or empty one takes
 * the default, which goes through the same checks. The parsed config has the vars' names in
 * camelCase (SWEEP_BATCH_LIMIT -> sweepBatchLimit), and its type is inferred from the schema.
 */

const MiB = 1024 * 1024;
const DAY_SECONDS = 24 * 60 * 60;

/** The raw var, trimmed, or the fallback when it is unset or empty. */
function text(name: string, fallback: string) {
  return z.pipe(
    z.optional(z.string({ error: `${name} must be a string` })),
    z.transform((raw) => (raw === undefined || raw.trim() === "" ? fallback : raw.trim())),
  );
}

function wholeNumber(name: string, fallback: number, min: number, max: number) {
  return z.pipe(
    text(name, String(fallback)).check(z.regex(/^\d+$/, `${name} must be a whole number`)),
    z.pipe(
      z.transform(Number),
      z.int().check(z.gte(min, `${name} must be at least ${min}`), z.lte(max, `${name} must be at most ${max}`)),
    ),
  );
}

function flag(name: string) {
  return z.pipe(
    z.pipe(text(name, "false"), z.enum(["true", "false", "1", "0"], `${name} must be "true" or "false"`)),
    z.transform((value) => value === "true" || value === "1"),
  );
}

/** "a, b" -> ["a", "b"]; empty: none. */
function list(name: string) {
  return z.pipe(
    z.optional(z.string({ error: `${name} must be a comma-separated string` })),
    z.transform((raw) =>
      (raw ?? "")
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    ),
  );
}

/** An http(s) URL, or null when unset. */
function optionalUrl(name: string) {
  return z.pipe(
    text(name, ""),
    z.union([
      z.pipe(
        z.literal(""),
        z.transform(() => null),
      ),
      z.url({ protocol: /^https?$/, error: `${name} must be an http or https URL` }),
    ]),
  );
}

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;
type CamelKeys<T> = { [K in keyof T & string as CamelCase<K>]: T[K] };

/** Renames the vars to the config's camelCase keys; the type above says the same as the code. */
function camelKeys<T extends Record<string, unknown>>(vars: T): CamelKeys<T> {
  const renamed = Object.entries(vars).map(([name, value]) => [
    name.toLowerCase().replace(/_([a-z0-9])/g, (_, next: string) => next.toUpperCase()),
    value,
  ]);
  return Object.fromEntries(renamed) as CamelKeys<T>;
}

export const ProducerConfig = z.pipe(
  z.object({
    ALLOW_ANONYMOUS: flag("ALLOW_ANONYMOUS"),
    PUBLIC_READS: flag("PUBLIC_READS"),
    CORS_ORIGINS: list("CORS_ORIGINS"),
    TOKEN_TTL_SECONDS: wholeNumber("TOKEN_TTL_SECONDS", 7 * DAY_SECONDS, 1, 365 * DAY_SECONDS),
    DEFAULT_PART_SIZE: wholeNumber("DEFAULT_PART_SIZE", 8 * MiB, 1, 5 * 1024 * MiB),
    // R2's own bounds for a part: 5 MiB (except the last) to 5 GiB.
    MIN_PART_SIZE: wholeNumber("MIN_PART_SIZE", 5 * MiB, 1, 5 * 1024 * MiB),
    MAX_PART_SIZE: wholeNumber("MAX_PART_SIZE", 100_000_000, 1, 5 * 1024 * MiB),
    DEFAULT_STALE_AFTER_SECONDS: wholeNumber("DEFAULT_STALE_AFTER_SECONDS", DAY_SECONDS, 1, 365 * DAY_SECONDS),
    MAX_STALE_AFTER_SECONDS: wholeNumber("MAX_STALE_AFTER_SECONDS", 7 * DAY_SECONDS, 1, 365 * DAY_SECONDS),
    // Abuse limits: uploads (and streams) one API key may have open at once.
    MAX_OPEN_UPLOADS_PER_KEY: wholeNumber("MAX_OPEN_UPLOADS_PER_KEY", 1000, 1, 1_000_000),
    MAX_OPEN_STREAMS_PER_KEY: wholeNumber("MAX_OPEN_STREAMS_PER_KEY", 100, 1, 1_000_000),
    // tus: the R2 part size its byte stream is cut into, and where keyless uploads land.
    TUS_PART_SIZE: wholeNumber("TUS_PART_SIZE", 8 * MiB, 1, 5 * 1024 * MiB),
    TUS_KEY_PREFIX: text("TUS_KEY_PREFIX", "uploads/"),
    // Where new streams keep their chunks: "object" (a Durable Object per stream, D1 and the
    // queue see parts only) or "d1" (an R2 object, D1 rows and a queue message per chunk).
    CHUNK_STORE: z._default(z.enum(["object", "d1"]), "object"),
  }),
  z.transform(camelKeys),
);
export type ProducerConfig = z.output<typeof ProducerConfig>;

export const ConsumerConfig = z.pipe(
  z
    .object({
      SWEEP_BATCH_LIMIT: wholeNumber("SWEEP_BATCH_LIMIT", 200, 1, 1000),
      // Queues allow a retry delay of at most 12 hours.
      RETRY_DELAY_SECONDS: wholeNumber("RETRY_DELAY_SECONDS", 10, 0, 43_200),
      WEBHOOK_URL: optionalUrl("WEBHOOK_URL"),
      WEBHOOK_RETRY_BASE_SECONDS: wholeNumber("WEBHOOK_RETRY_BASE_SECONDS", 5, 0, 3600),
      // The queue whose batches are dead letters (stored, not tallied); each environment names its own.
      DEAD_LETTER_QUEUE: text("DEAD_LETTER_QUEUE", "ingest-events-dlq"),
      // Retention (consumer/prune.ts): days after an upload ended that its part, chunk and span
      // rows, its upload row, and the tombstone its status answers 410 from are kept.
      RETENTION_DETAIL_DAYS: wholeNumber("RETENTION_DETAIL_DAYS", 7, 1, 36_500),
      RETENTION_UPLOAD_DAYS: wholeNumber("RETENTION_UPLOAD_DAYS", 90, 1, 36_500),
      RETENTION_TOMBSTONE_DAYS: wholeNumber("RETENTION_TOMBSTONE_DAYS", 365, 1, 36_500),
      // Rows one cron run deletes at most; the ceiling keeps a run within D1's ~1,000 queries.
      PRUNE_BATCH_LIMIT: wholeNumber("PRUNE_BATCH_LIMIT", 50_000, 100, 100_000),
    })
    // An upload row outlives its details and a tombstone its upload row: each step prunes what
    // the one before has finished with.
    .check(
      z.refine((vars) => vars.RETENTION_DETAIL_DAYS <= vars.RETENTION_UPLOAD_DAYS, {
        message: "RETENTION_UPLOAD_DAYS must be at least RETENTION_DETAIL_DAYS",
      }),
      z.refine((vars) => vars.RETENTION_UPLOAD_DAYS <= vars.RETENTION_TOMBSTONE_DAYS, {
        message: "RETENTION_TOMBSTONE_DAYS must be at least RETENTION_UPLOAD_DAYS",
      }),
    ),
  z.transform(camelKeys),
);
export type ConsumerConfig = z.output<typeof ConsumerConfig>;

/** Reads the producer's vars from its env; a bad value is a deployment mistake, so it throws loudly. */
export function producerConfig(env: object): ProducerConfig {
  return parseVars(ProducerConfig, env, "producer");
}

/** Reads the consumer's vars from its env; a bad value throws, like the producer's. */
export function consumerConfig(env: object): ConsumerConfig {
  return parseVars(ConsumerConfig, env, "consumer");
}

function parseVars<Schema extends z.ZodMiniType>(schema: Schema, env: object, worker: string): z.output<Schema> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid ${worker} vars:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
