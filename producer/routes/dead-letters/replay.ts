import * as z from "zod/mini";
import { DeadLetterId, DeadLetterReplay } from "../../../shared/dead-letter-schemas";
import { defineRoute } from "../../http/route";
import { replayDeadLetter } from "../../services/dead-letters";

export const DeadLetterParams = z.object({ deadLetterId: DeadLetterId });

export const replayDeadLetterRoute = defineRoute(
  {
    method: "post",
    path: "/dead-letters/{deadLetterId}/replay",
    operationId: "replayDeadLetter",
    summary: "Replay a dead letter",
    description:
      "Puts the stored body back on the pipeline's queue, once: replaying it again answers `already_replayed` and sends nothing.",
    tags: ["dead-letters"],
    security: "key",
    params: DeadLetterParams,
    responses: { 200: { description: "What the replay did, and the dead letter", json: DeadLetterReplay } },
    errors: {
      404: "No such dead letter",
      409: "The dead letter was discarded, or another replay of it is under way",
      503: "The queue did not take the message; nothing was replayed, try again",
    },
  },
  async (c, { params, caller }) => c.json(await replayDeadLetter(c.env, caller, params.deadLetterId, Date.now())),
);
