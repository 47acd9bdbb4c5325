// The monitoring connector's state: the last finished check, and the check in progress (its time, number
// and where its next page starts) with, per connection, what the previous check saw (events.ts). `{}` (the
// first sync) is the empty state; the SDK refuses a state that does not parse, naming the field.
import * as z from 'zod';

export const MonitoringState = z.object({
  /** the time of the last finished check */
  last_checked_at: z.string().optional(),
  /** how many checks have finished */
  checks: z.number().int().nonnegative().optional(),
  /** the check in progress: its time, its number and where its next page starts */
  check: z.object({
    checked_at: z.string(),
    number: z.number().int().positive(),
    position: z.object({cursor: z.string().optional(), group_index: z.number().int().nonnegative().optional(), skip: z.number().int().nonnegative().optional()}),
  }).optional(),
  /** per connection, what the previous check saw (events.ts's compact entry) */
  connections: z.record(z.string(), z.array(z.number())).optional(),
  /** per watched replication slot (slots.ts), its lag in bytes at the last checks, oldest first */
  slots: z.record(z.string(), z.array(z.number())).optional(),
});
export type MonitoringState = z.infer<typeof MonitoringState>;
