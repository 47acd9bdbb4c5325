// The freshness connector's state: when it last checked and last triggered, the analysis of the last check,
// and, while a check's rows span several calls, the paging position. Fivetran stores it with the data of
// the same response, so a failed call leaves the previous state untouched. `{}` (the first sync) is the
// empty state; the SDK refuses a state that does not parse, naming the field.
import * as z from 'zod';

const Analysis = z.object({
  check_timestamp: z.string(),
  total_rows: z.number(),
  stale_rows: z.number(),
  stale_percentage: z.number(),
  threshold_percent: z.number(),
  /** the action of the check's decision (trigger_sync, skip_cooldown, ...) */
  decision: z.string(),
  sync_triggered: z.boolean(),
});

const Paging = z.object({
  /** the check whose rows are being emitted (that of last_analysis) */
  check_timestamp: z.string(),
  /** the id of the last row emitted; null before the first */
  after: z.union([z.string(), z.number()]).nullable(),
  rows_emitted: z.number(),
});

export const FreshnessState = z.object({
  last_check_time: z.string().nullable().default(null),
  last_trigger_time: z.string().nullable().default(null),
  last_analysis: Analysis.nullable().default(null),
  /** the sync_id of the sync that ran the last check, so that sync never runs a second one */
  last_sync_id: z.string().nullable().default(null),
  paging: Paging.nullable().default(null),
}).refine((state) => !state.paging || state.paging.check_timestamp === state.last_analysis?.check_timestamp, {
  path: ['paging'],
  error: 'is the paging position of no saved analysis',
});

export type Analysis = z.infer<typeof Analysis>;
export type Paging = z.infer<typeof Paging>;
export type FreshnessState = z.infer<typeof FreshnessState>;
