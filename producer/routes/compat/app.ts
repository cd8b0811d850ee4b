import { Hono } from "hono";
import { ApiError } from "../../../shared/errors";
import type { AppEnv } from "../../context";
import { mount, type Route } from "../../http/route";
import { asCompatError } from "./common";
import { compatDelete } from "./delete";
import { compatGet } from "./get";
import { compatPost } from "./post";
import { compatPut } from "./put";

export const compatRoutes: Route[] = [compatPost, compatPut, compatGet, compatDelete];

const METHODS = ["PUT", "POST", "GET", "DELETE"];

/**
 * The seed-compatible API as a sub-app of its own, reached only by requests that carry
 * `?action=` (see app.ts). Its routes go through the same services as the native ones; only
 * the statuses differ, as the example answers 400 to every refused write.
 */
export function compatApp(
  onError: (error: unknown, c: Parameters<Parameters<Hono<AppEnv>["onError"]>[0]>[1]) => Response,
) {
  const compat = new Hono<AppEnv>();
  mount(compat, compatRoutes);
  compat.notFound((c) => {
    const method = c.req.method;
    if (METHODS.includes(method))
      return onError(new ApiError(400, "unknown_action", `unknown action for ${method}`), c);
    return onError(
      new ApiError(405, "method_not_allowed", `${method} is not supported`, undefined, { Allow: METHODS.join(", ") }),
      c,
    );
  });
  compat.onError((error, c) => onError(asCompatError(error), c));
  return compat;
}
