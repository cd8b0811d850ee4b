import * as z from "zod/mini";
import { components, isoTime } from "./schemas";

/** The dead-letter API (GET /dead-letters, POST /dead-letters/{id}/replay, DELETE /dead-letters/{id}). */

export const MAX_DEAD_LETTER_LIMIT = 200;
export const DEFAULT_DEAD_LETTER_LIMIT = 50;

export const DeadLetterState = z.enum(["dead", "replaying", "replayed", "discarded"]).check(
  z.meta({
    description:
      "`dead`: stored, nothing done yet; `replaying`: a replay is putting it back on the queue; `replayed`: back on the queue; `discarded`: set aside for good",
  }),
);
export type DeadLetterState = z.infer<typeof DeadLetterState>;

export const DeadLetterId = z
  .string()
  .check(
    z.minLength(1, "dead letter id must not be empty"),
    z.maxLength(64, "dead letter id is too long"),
    z.meta({ description: "Dead letter id: 22 URL-safe characters", examples: ["Vb3mQ0xY7-kD2cR8sLw1Zg"] }),
  );

export const DeadLetter = z
  .object({
    id: DeadLetterId,
    messageId: z.string().check(z.meta({ description: "The queue's id of the dead message" })),
    queue: z.string().check(z.meta({ description: "The dead-letter queue it came from" })),
    type: z.nullable(z.string().check(z.meta({ description: "The message's `type`, when it has one" }))),
    uploadId: z.nullable(z.string().check(z.meta({ description: "The upload the message concerns, if any" }))),
    key: z.nullable(z.string().check(z.meta({ description: "That upload's object key, when known" }))),
    body: z.unknown().check(z.meta({ description: "The message body, exactly what a replay sends again" })),
    attempts: z.int().check(
      z.minimum(1),
      z.meta({
        description: "Deliveries of this dead message to the dead-letter consumer (more than 1: redelivered)",
      }),
    ),
    state: DeadLetterState,
    sentAt: z.nullable(isoTime.check(z.meta({ description: "When the message was first sent" }))),
    firstSeenAt: isoTime,
    lastSeenAt: isoTime,
    replayedAt: z.nullable(isoTime),
    discardedAt: z.nullable(isoTime),
  })
  .register(components, { id: "DeadLetter" });
export type DeadLetter = z.infer<typeof DeadLetter>;

export const DeadLetterList = z
  .object({ items: z.array(DeadLetter), nextCursor: z.nullable(z.string()) })
  .register(components, { id: "DeadLetterList" });
export type DeadLetterList = z.infer<typeof DeadLetterList>;

export const DeadLetterReplay = z
  .object({
    outcome: z.enum(["replayed", "already_replayed"]).check(
      z.meta({
        description:
          "`replayed`: this request put the body back on the queue; `already_replayed`: an earlier replay did, nothing was sent again",
      }),
    ),
    deadLetter: DeadLetter,
  })
  .register(components, { id: "DeadLetterReplay" });
export type DeadLetterReplay = z.infer<typeof DeadLetterReplay>;
