// Records when each probe message reached a consumer invocation, and in how big a batch.
type ProbeConsumerEnv = { BUCKET: R2Bucket };
type ProbeMessage = { id: string; sentAt: number };

export default {
  async queue(batch, env): Promise<void> {
    const receivedAt = Date.now();
    await Promise.all(
      batch.messages.map(async (message) => {
        const body = message.body as ProbeMessage;
        await env.BUCKET.put(
          `seen/${body.id}`,
          JSON.stringify({ sentAt: body.sentAt, receivedAt, batchSize: batch.messages.length }),
        );
        message.ack();
      }),
    );
  },
} satisfies ExportedHandler<ProbeConsumerEnv, unknown>;
