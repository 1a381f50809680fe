/**
 * The route table of http services: re-exports only. Configuration checks
 * are in src/config/route.ts (checkRoutes, checkRouteBackends).
 *
 * Per configuration: `buildRouteTable(service.routes)` (immutable; a reload
 * builds a new one and swaps it). Per request: `facts.reset(head)` (one
 * HeadFacts per connection), `table.match(facts)`, then by the route's
 * action: `requestEdit` for forwardedRequestHead and `responseEdit` for the
 * relayed response head (`withEdit`), or `renderRespond` / `renderRedirect`
 * with `headerEdit(route.response_headers, values)`.
 */
export type * from "./types.ts";
export { VARIABLES } from "./types.ts";
export { buildRouteTable, type RouteTable } from "./table.ts";
export { HeadFacts, normalizeHost, requestFacts, targetPath } from "./facts.ts";
export { headerEdit, type HeadEdit, NO_EDIT, requestEdit, responseEdit, withEdit } from "./rewrite.ts";
export { type AnswerOptions, type RedirectRequest, redirectLocation, renderRedirect, renderRespond } from "./answer.ts";
export { shadowedRoutes, type Shadowed } from "./shadow.ts";
export { parseTemplate, renderTemplate } from "./template.ts";
