-- daily_events: per connection and day, the API calls made to the source (extract_summary.total_queries),
-- the rows modified in the destination (records_modified.count) and the schema changes.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."DAILY_EVENTS" AS
with log_events as (
    select
        connection_id,
        CAST(time_stamp AS DATE) as date_day,
        message_event,
        case when message_event = 'extract_summary' then TRY_CAST(TRY_PARSE_JSON(message_data)['total_queries']::string AS INTEGER) end as api_calls,
        case when message_event = 'records_modified' then TRY_CAST(TRY_PARSE_JSON(message_data)['count']::string AS INTEGER) end as records_modified
    from "FIVETRAN_METADATA"."LOG"
    where connection_id is not null
)

select
    log_events.connection_id,
    conn.connection_name,
    log_events.date_day,
    coalesce(sum(log_events.api_calls), 0) as count_api_calls,
    coalesce(sum(log_events.records_modified), 0) as count_record_modifications,
    sum(case when log_events.message_event in ('create_table', 'alter_table', 'create_schema', 'change_schema_config') then 1 else 0 end) as count_schema_changes
from log_events
left join "FIVETRAN_METADATA"."CONNECTION" as conn on conn.connection_id = log_events.connection_id
group by log_events.connection_id, conn.connection_name, log_events.date_day;
