-- sync_performance: one row per sync (sync_start / sync_end of the same sync_id) with its duration, its
-- outcome and the rows it modified (records_modified).
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."SYNC_PERFORMANCE" AS
with starts as (
    select connection_id, sync_id, min(time_stamp) as sync_started_at
    from "FIVETRAN_METADATA"."LOG"
    where message_event = 'sync_start' and sync_id is not null
    group by connection_id, sync_id
),

ends as (
    select
        sync_id,
        max(time_stamp) as sync_ended_at,
        max(TRY_PARSE_JSON(message_data)['status']::string) as sync_status
    from "FIVETRAN_METADATA"."LOG"
    where message_event = 'sync_end' and sync_id is not null
    group by sync_id
),

modified as (
    select
        sync_id,
        sum(TRY_CAST(TRY_PARSE_JSON(message_data)['count']::string AS INTEGER)) as rows_modified,
        count(distinct TRY_PARSE_JSON(message_data)['table']::string) as tables_modified
    from "FIVETRAN_METADATA"."LOG"
    where message_event = 'records_modified' and sync_id is not null
    group by sync_id
)

select
    starts.connection_id,
    conn.connection_name,
    starts.sync_id,
    starts.sync_started_at,
    ends.sync_ended_at,
    coalesce(ends.sync_status, case when ends.sync_ended_at is null then 'RUNNING' end) as sync_status,
    case when ends.sync_ended_at is not null then DATEDIFF(second, starts.sync_started_at, ends.sync_ended_at) end as duration_seconds,
    coalesce(modified.rows_modified, 0) as rows_modified,
    coalesce(modified.tables_modified, 0) as tables_modified
from starts
left join ends on ends.sync_id = starts.sync_id
left join modified on modified.sync_id = starts.sync_id
left join "FIVETRAN_METADATA"."CONNECTION" as conn on conn.connection_id = starts.connection_id;
