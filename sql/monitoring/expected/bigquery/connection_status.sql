-- connection_status: one row per connection with its health, by the rules of the dbt_fivetran_log package
-- (docs/fivetran.md §4), first match wins: deleted, paused, incomplete (no sync ever started), priority first
-- sync, initial sync in progress (nothing completed, no errors), broken (the last completed sync is also
-- the last error: a failed sync_end or a SEVERE event at or after it; or errors and no success ever),
-- connected.
CREATE OR REPLACE VIEW `fivetran_monitoring.connection_status` AS
with log_events as (
    select
        connection_id,
        time_stamp,
        event,
        message_event,
        JSON_EXTRACT_SCALAR(message_data, '$.status') as sync_status,
        JSON_EXTRACT_SCALAR(message_data, '$.reason') as reason
    from `fivetran_metadata.log`
    where connection_id is not null
),

classified as (
    select
        log_events.*,
        case
            when event = 'SEVERE' then 1
            when message_event = 'sync_end' and sync_status in ('FAILURE', 'FAILURE_WITH_TASK') then 1
            else 0
        end as is_error
    from log_events
),

per_connection as (
    select
        connection_id,
        max(case when message_event = 'sync_start' then time_stamp end) as last_sync_started_at,
        max(case when message_event = 'sync_end' then time_stamp end) as last_sync_completed_at,
        max(case when message_event = 'sync_end' and sync_status = 'SUCCESSFUL' then time_stamp end) as last_successful_sync_completed_at,
        max(case when is_error = 1 then time_stamp end) as last_error_at,
        max(case when event = 'WARNING' then time_stamp end) as last_warning_at,
        max(case when message_event = 'status' and sync_status = 'RESCHEDULED' and reason like '%intended behavior%' then time_stamp end) as last_priority_first_sync_at,
        sum(is_error) as total_errors
    from classified
    group by connection_id
),

since_last_completed_sync as (
    select
        classified.connection_id,
        sum(classified.is_error) as number_errors_since_last_completed_sync,
        sum(case when classified.event = 'WARNING' then 1 else 0 end) as number_warnings_since_last_completed_sync
    from classified
    join per_connection on per_connection.connection_id = classified.connection_id
    where per_connection.last_sync_completed_at is null
        or classified.time_stamp > per_connection.last_sync_completed_at
    group by classified.connection_id
),

schema_changes_last_month as (
    select
        connection_id,
        count(*) as number_of_schema_changes_last_month
    from log_events
    where message_event in ('create_table', 'alter_table', 'create_schema', 'change_schema_config')
        and time_stamp > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
    group by connection_id
)

select
    conn.connection_id,
    conn.connection_name,
    conn.connector_type,
    conn.destination_id,
    coalesce(conn.paused, false) as is_paused,
    conn.signed_up as set_up_at,
    per_connection.last_sync_started_at,
    per_connection.last_sync_completed_at,
    per_connection.last_successful_sync_completed_at,
    per_connection.last_error_at,
    per_connection.last_warning_at,
    case
        when coalesce(conn._fivetran_deleted, false) then 'deleted'
        when coalesce(conn.paused, false) then 'paused'
        when per_connection.last_sync_started_at is null then 'incomplete'
        when per_connection.last_priority_first_sync_at is not null
            and (per_connection.last_sync_completed_at is null or per_connection.last_priority_first_sync_at > per_connection.last_sync_completed_at)
            then 'priority first sync'
        when per_connection.last_sync_completed_at is null and coalesce(per_connection.total_errors, 0) = 0 then 'initial sync in progress'
        when per_connection.last_error_at >= per_connection.last_sync_completed_at then 'broken'
        when per_connection.last_successful_sync_completed_at is null and coalesce(per_connection.total_errors, 0) > 0 then 'broken'
        else 'connected'
    end as connection_health,
    coalesce(since_last_completed_sync.number_errors_since_last_completed_sync, 0) as number_errors_since_last_completed_sync,
    coalesce(since_last_completed_sync.number_warnings_since_last_completed_sync, 0) as number_warnings_since_last_completed_sync,
    coalesce(schema_changes_last_month.number_of_schema_changes_last_month, 0) as number_of_schema_changes_last_month
from `fivetran_metadata.connection` as conn
left join per_connection on per_connection.connection_id = conn.connection_id
left join since_last_completed_sync on since_last_completed_sync.connection_id = conn.connection_id
left join schema_changes_last_month on schema_changes_last_month.connection_id = conn.connection_id;
