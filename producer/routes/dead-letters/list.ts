import * as z from "zod/mini";
import { DeadLetterList, DeadLetterState, MAX_DEAD_LETTER_LIMIT } from "../../../shared/dead-letter-schemas";
import { defineRoute, parse } from "../../http/route";
import { deadLetterPage } from "../../services/dead-letters";

const STATES = DeadLetterState.options.join("|");

export const ListDeadLettersQuery = z.object({
  state: z.optional(
    z
      .string()
      .check(
        z.regex(new RegExp(`^(${STATES})(,(${STATES}))*$`), `state must be among ${STATES}`),
        z.meta({ description: "States, comma-separated or repeated" }),
      ),
  ),
  limit: z.optional(
    z.pipe(
      z.string().check(z.regex(/^(200|1[0-9][0-9]|[1-9][0-9]?)$/, `limit must be 1 to ${MAX_DEAD_LETTER_LIMIT}`)),
      z.transform(Number),
    ),
  ),
  cursor: z.optional(z.string().check(z.maxLength(256), z.meta({ description: "The previous page's nextCursor" }))),
});

export const listDeadLetters = defineRoute(
  {
    method: "get",
    path: "/dead-letters",
    operationId: "listDeadLetters",
    summary: "List dead letters",
    description:
      "Messages the pipeline's queue gave up on after its retries, newest first, with cursor paging. See docs/operations.md.",
    tags: ["dead-letters"],
    security: "key",
    query: ListDeadLettersQuery,
    responses: { 200: { description: "A page of dead letters", json: DeadLetterList } },
  },
  async (c, { query, caller }) => {
    // The validator reads one value per parameter; a repeated `state` is read whole here.
    const states = c.req.queries("state") ?? [];
    const all =
      states.length > 1 ? parse(ListDeadLettersQuery, { ...c.req.query(), state: states.join(",") }, "query") : query;
    return c.json(await deadLetterPage(c.env.DB, caller, all));
  },
);
