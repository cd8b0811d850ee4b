import { DeadLetter } from "../../../shared/dead-letter-schemas";
import { defineRoute } from "../../http/route";
import { discard } from "../../services/dead-letters";
import { DeadLetterParams } from "./replay";

export const discardDeadLetter = defineRoute(
  {
    method: "delete",
    path: "/dead-letters/{deadLetterId}",
    operationId: "discardDeadLetter",
    summary: "Discard a dead letter",
    description: "Sets the dead letter aside for good (it stays listed as `discarded`). Discarding again is a no-op.",
    tags: ["dead-letters"],
    security: "key",
    params: DeadLetterParams,
    responses: { 200: { description: "The discarded dead letter", json: DeadLetter } },
    errors: { 404: "No such dead letter", 409: "A replay of it is under way" },
  },
  async (c, { params, caller }) => c.json(await discard(c.env.DB, caller, params.deadLetterId, Date.now())),
);
