import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumerConfig, producerConfig } from "../../shared/config";

describe("Worker config", () => {
  it("reads the producer's vars from its env, defaults for what is unset or empty", () => {
    const config = producerConfig({
      ...env,
      CORS_ORIGINS: " https://a.example , https://b.example ",
      PUBLIC_READS: "1",
      MIN_PART_SIZE: "",
    });
    expect(config).toMatchObject({
      allowAnonymous: false,
      publicReads: true,
      corsOrigins: ["https://a.example", "https://b.example"],
      minPartSize: 5 * 1024 * 1024,
      tokenTtlSeconds: 604_800,
    });
    expect(Object.keys(config)).not.toContain("DB");
  });

  it("reads the consumer's vars, with no webhook unless a URL is set", () => {
    expect(consumerConfig({})).toEqual({
      sweepBatchLimit: 200,
      retryDelaySeconds: 10,
      webhookUrl: null,
      webhookRetryBaseSeconds: 5,
      deadLetterQueue: "ingest-events-dlq",
      retentionDetailDays: 7,
      retentionUploadDays: 90,
      retentionTombstoneDays: 365,
      pruneBatchLimit: 50_000,
    });
    expect(consumerConfig({ WEBHOOK_URL: "https://hooks.example/in", SWEEP_BATCH_LIMIT: " 7 " })).toMatchObject({
      webhookUrl: "https://hooks.example/in",
      sweepBatchLimit: 7,
    });
  });

  it("refuses a bad var with a message naming it and its bounds", () => {
    expect(() => consumerConfig({ SWEEP_BATCH_LIMIT: "5000" })).toThrow(/SWEEP_BATCH_LIMIT must be at most 1000/);
    expect(() => consumerConfig({ SWEEP_BATCH_LIMIT: "0" })).toThrow(/SWEEP_BATCH_LIMIT must be at least 1/);
    expect(() => consumerConfig({ RETRY_DELAY_SECONDS: "ten" })).toThrow(/RETRY_DELAY_SECONDS must be a whole number/);
    expect(() => consumerConfig({ WEBHOOK_URL: "ftp://hooks.example" })).toThrow(
      /WEBHOOK_URL must be an http or https URL/,
    );
    expect(() => producerConfig({ ALLOW_ANONYMOUS: "yes" })).toThrow(/ALLOW_ANONYMOUS must be "true" or "false"/);
    expect(() => producerConfig({ MAX_PART_SIZE: String(2 ** 53) })).toThrow(/MAX_PART_SIZE must be at most/);
  });
});
