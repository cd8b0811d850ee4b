import { z } from "zod";

const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const MiB = 1024 * 1024;

const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((value) => value === "true" || value === "1");

const ProducerConfig = z.object({
  ALLOW_ANONYMOUS: flag,
  PUBLIC_READS: flag,
  CORS_ORIGINS: z.string().default(""),
  TOKEN_TTL_SECONDS: seconds(7 * 24 * 60 * 60),
  DEFAULT_PART_SIZE: bytes(8 * MiB),
  MIN_PART_SIZE: bytes(5 * MiB),
  MAX_PART_SIZE: bytes(100_000_000),
  DEFAULT_STALE_AFTER_SECONDS: seconds(24 * 60 * 60),
  MAX_STALE_AFTER_SECONDS: seconds(7 * 24 * 60 * 60),
});
export type ProducerConfig = {
  allowAnonymous: boolean;
  publicReads: boolean;
  corsOrigins: string[];
  tokenTtlSeconds: number;
  defaultPartSize: number;
  minPartSize: number;
  maxPartSize: number;
  defaultStaleAfterSeconds: number;
  maxStaleAfterSeconds: number;
};

const ConsumerConfig = z.object({
  SWEEP_BATCH_LIMIT: z.coerce.number().int().min(1).max(1000).default(200),
  COMPLETION_LEASE_SECONDS: seconds(120),
  MAX_COMPLETE_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  RETRY_DELAY_SECONDS: z.coerce.number().int().min(0).max(43_200).default(10),
  WEBHOOK_URL: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
  WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().int().min(0).max(3600).default(5),
});
export type ConsumerConfig = {
  sweepBatchLimit: number;
  completionLeaseMs: number;
  maxCompleteAttempts: number;
  retryDelaySeconds: number;
  webhookUrl: string | null;
  webhookRetryBaseSeconds: number;
};

/** Reads the producer's vars; a bad value is a deployment mistake, so it throws loudly. */
export function producerConfig(vars: Record<string, unknown>): ProducerConfig {
  const parsed = ProducerConfig.parse(pickDefined(vars, Object.keys(ProducerConfig.shape)));
  return {
    allowAnonymous: parsed.ALLOW_ANONYMOUS,
    publicReads: parsed.PUBLIC_READS,
    corsOrigins: parsed.CORS_ORIGINS.split(",")
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ""),
    tokenTtlSeconds: parsed.TOKEN_TTL_SECONDS,
    defaultPartSize: parsed.DEFAULT_PART_SIZE,
    minPartSize: parsed.MIN_PART_SIZE,
    maxPartSize: parsed.MAX_PART_SIZE,
    defaultStaleAfterSeconds: parsed.DEFAULT_STALE_AFTER_SECONDS,
    maxStaleAfterSeconds: parsed.MAX_STALE_AFTER_SECONDS,
  };
}

export function consumerConfig(vars: Record<string, unknown>): ConsumerConfig {
  const parsed = ConsumerConfig.parse(pickDefined(vars, Object.keys(ConsumerConfig.shape)));
  return {
    sweepBatchLimit: parsed.SWEEP_BATCH_LIMIT,
    completionLeaseMs: parsed.COMPLETION_LEASE_SECONDS * 1000,
    maxCompleteAttempts: parsed.MAX_COMPLETE_ATTEMPTS,
    retryDelaySeconds: parsed.RETRY_DELAY_SECONDS,
    webhookUrl: parsed.WEBHOOK_URL === "" ? null : parsed.WEBHOOK_URL,
    webhookRetryBaseSeconds: parsed.WEBHOOK_RETRY_BASE_SECONDS,
  };
}

function pickDefined(vars: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of names) {
    const value = vars[name];
    if (value !== undefined && value !== "") picked[name] = value;
  }
  return picked;
}
