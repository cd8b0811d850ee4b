// Both wrangler configs, read the way wrangler reads them for each environment: every deployed
// environment has what the top level has (wrangler inherits no binding and no var), with its
// own resources, and vars that the Workers' config schema accepts.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { resourcesOf, WORKERS } from "../../scripts/lib/environments.mjs";
import { ConsumerConfig, ProducerConfig } from "../../shared/config";

const ROOT = join(import.meta.dirname, "..", "..");
const DEPLOYED = ["staging", "production"] as const;

/**
 * The part of wrangler's normalized config these tests read. wrangler's own type comes from a
 * package it bundles and does not install, so it reaches TypeScript as `any`: this names it.
 */
type Config = {
  name: string;
  vars: Record<string, unknown>;
  r2_buckets: Array<{ binding: string; bucket_name?: string }>;
  d1_databases: Array<{ binding: string; database_name?: string; database_id?: string }>;
  queues: {
    producers?: Array<{ binding: string; queue: string }>;
    consumers?: Array<{ queue: string; dead_letter_queue?: string } & Record<string, unknown>>;
  };
  durable_objects: { bindings: Array<{ name: string; class_name: string }> };
  analytics_engine_datasets: Array<{ binding: string; dataset?: string }>;
  kv_namespaces: Array<{ binding: string }>;
  services: Array<{ binding: string; service?: string }>;
  triggers: { crons?: string[] };
  assets?: { directory?: string };
  workers_dev?: boolean;
  migrations: unknown[];
};
const read = (worker: (typeof WORKERS)[number], env: string): Config =>
  unstable_readConfig({ config: join(ROOT, worker.config), env }, { hideWarnings: true });
const producer = WORKERS.find((worker) => worker.id === "producer")!;
const consumer = WORKERS.find((worker) => worker.id === "consumer")!;
const webConsole = WORKERS.find((worker) => worker.id === "console")!;
/** The Workers with storage bindings (the console has static files only). */
const backends = [producer, consumer];

/** Every binding of a config as "KIND NAME", whatever resource it points at. */
function bindings(config: Config): string[] {
  return [
    ...config.r2_buckets.map((b) => `r2 ${b.binding}`),
    ...config.d1_databases.map((b) => `d1 ${b.binding}`),
    ...(config.queues.producers ?? []).map((b) => `queue ${b.binding}`),
    ...config.durable_objects.bindings.map((b) => `durable object ${b.name} ${b.class_name}`),
    ...config.analytics_engine_datasets.map((b) => `analytics engine ${b.binding}`),
    ...config.kv_namespaces.map((b) => `kv ${b.binding}`),
    ...config.services.map((b) => `service ${b.binding}`),
  ].sort();
}

describe.each(DEPLOYED)("the %s environment", (env) => {
  it.each(WORKERS)("gives the $id every binding and var of the top level", (worker) => {
    const top = read(worker, "");
    const deployed = read(worker, env);
    expect(bindings(deployed)).toEqual(expect.arrayContaining(bindings(top)));
    expect(Object.keys(deployed.vars).sort()).toEqual(expect.arrayContaining(Object.keys(top.vars).sort()));
    expect(deployed.queues.consumers?.length ?? 0).toBeGreaterThanOrEqual(top.queues.consumers?.length ?? 0);
    expect(deployed.name).toBe(`${top.name}-${env}`);
  });

  it("has vars both Workers' config schemas accept", () => {
    expect(() => ProducerConfig.parse(read(producer, env).vars)).not.toThrow();
    expect(() => ConsumerConfig.parse(read(consumer, env).vars)).not.toThrow();
  });

  it("binds both Workers to its own bucket, database and queues, named after it", () => {
    const resources = resourcesOf([read(producer, env), read(consumer, env)]);
    expect(resources).toEqual({
      buckets: [`ingest-uploads-${env}`],
      databases: [`ingest-${env}`],
      queues: [`ingest-events-${env}`, `ingest-events-${env}-dlq`],
    });
    for (const worker of backends) {
      const config = read(worker, env);
      expect(config.d1_databases.map((db) => db.database_id)).toEqual([undefined]);
      expect(config.analytics_engine_datasets.map((dataset) => dataset.dataset)).toEqual([`ingest_metrics_${env}`]);
    }
  });

  it("consumes its main queue into its dead-letter queue, consumes that too, and names it in DEAD_LETTER_QUEUE", () => {
    const config = read(consumer, env);
    const dlq = `ingest-events-${env}-dlq`;
    expect(config.queues.consumers?.map((c) => [c.queue, c.dead_letter_queue])).toEqual([
      [`ingest-events-${env}`, dlq],
      [dlq, undefined],
    ]);
    expect(config.vars.DEAD_LETTER_QUEUE).toBe(dlq);
    // The same queue settings as the top level, on the environment's queue.
    const top = read(consumer, "").queues.consumers?.[0];
    const { queue: _q, dead_letter_queue: _d, ...settings } = config.queues.consumers![0]!;
    const { queue: _tq, dead_letter_queue: _td, ...topSettings } = top!;
    expect(settings).toEqual(topSettings);
  });

  it("inherits the cron, the static assets and the Durable Object migrations", () => {
    expect(read(consumer, env).triggers.crons).toEqual(read(consumer, "").triggers.crons);
    expect(read(webConsole, env).assets?.directory).toBe(read(webConsole, "").assets?.directory);
    expect(read(producer, env).migrations).toEqual(read(producer, "").migrations);
  });
});

describe.each(["", ...DEPLOYED])("the console Worker of environment '%s'", (env) => {
  it("is the producer's CONSOLE, in the same environment", () => {
    expect(read(producer, env).services).toEqual([{ binding: "CONSOLE", service: read(webConsole, env).name }]);
  });

  // With [assets], every request would first pass the static-asset router: one more hop for
  // each chunk and each part (docs/performance.md). The console's files reach the producer's
  // origin through the binding instead.
  it("holds the static assets, so that the producer holds none", () => {
    expect(read(webConsole, env).assets?.directory).toBe("./dist");
    expect(read(producer, env).assets).toBeUndefined();
  });

  it("has no public URL of its own", () => {
    expect(read(webConsole, env).workers_dev).toBe(false);
  });
});

describe("the development top level", () => {
  it("keys local D1 by its binding, with no database id to paste anywhere", () => {
    for (const worker of backends) {
      const databases = read(worker, "").d1_databases.map(({ binding, database_name, database_id }) => ({
        binding,
        database_name,
        database_id,
      }));
      expect(databases).toEqual([{ binding: "DB", database_name: "ingest", database_id: undefined }]);
    }
  });

  it("has vars both Workers' config schemas accept", () => {
    expect(() => ProducerConfig.parse(read(producer, "").vars)).not.toThrow();
    expect(() => ConsumerConfig.parse(read(consumer, "").vars)).not.toThrow();
  });
});
