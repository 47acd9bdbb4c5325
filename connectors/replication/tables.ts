// The tables the replication connector knows before a sync: the metadata tables (every replicated table and
// its columns) and replication_runs (one row per call). The replicated tables themselves are declared by
// each sync from the source catalog (plan.ts).
import type {TableSpec} from '../../sdk/index.js';
import {METADATA_SPECS} from './metadata.js';
import {RUNS_SPEC, RUNS_TABLE} from './runs.js';

export const TABLES: Record<string, TableSpec> = {...METADATA_SPECS, [RUNS_TABLE]: RUNS_SPEC};
