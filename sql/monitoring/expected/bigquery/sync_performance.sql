-- sync_performance: one row per sync (sync_start / sync_end of the same sync_id) with its duration, its
-- outcome and the rows it modified (records_modified).
CREATE OR REPLACE VIEW `fivetran_monitoring.sync_performance` AS
with starts as (
    select connection_id, sync_id, min(time_stamp) as sync_started_at
    from `fivetran_metadata.log`
    where message_event = 'sync_start' and sync_id is not null
    group by connection_id, sync_id
),

ends as (
    select
        sync_id,
        max(time_stamp) as sync_ended_at,
        max(JSON_EXTRACT_SCALAR(message_data, '$.status')) as sync_status
    from `fivetran_metadata.log`
    where message_event = 'sync_end' and sync_id is not null
    group by sync_id
),

modified as (
    select
        sync_id,
        sum(SAFE_CAST(JSON_EXTRACT_SCALAR(message_data, '$.count') AS INT64)) as rows_modified,
        count(distinct JSON_EXTRACT_SCALAR(message_data, '$.table')) as tables_modified
    from `fivetran_metadata.log`
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
    case when ends.sync_ended_at is not null then TIMESTAMP_DIFF(ends.sync_ended_at, starts.sync_started_at, SECOND) end as duration_seconds,
    coalesce(modified.rows_modified, 0) as rows_modified,
    coalesce(modified.tables_modified, 0) as tables_modified
from starts
left join ends on ends.sync_id = starts.sync_id
left join modified on modified.sync_id = starts.sync_id
left join `fivetran_metadata.connection` as conn on conn.connection_id = starts.connection_id;
