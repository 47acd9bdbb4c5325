-- error_reporting: every distinct error and warning per connection, how often it happened, first and last
-- time. The message is the JSON `reason` when there is one, else the raw message_data.
CREATE OR REPLACE VIEW `fivetran_monitoring.error_reporting` AS
with problems as (
    select
        connection_id,
        time_stamp,
        event as severity,
        message_event,
        coalesce(JSON_EXTRACT_SCALAR(message_data, '$.reason'), message_data) as message
    from `fivetran_metadata.log`
    where event in ('SEVERE', 'WARNING')
        and connection_id is not null
)

select
    problems.connection_id,
    conn.connection_name,
    problems.severity,
    problems.message_event,
    problems.message,
    count(*) as occurrences,
    min(problems.time_stamp) as first_seen_at,
    max(problems.time_stamp) as last_seen_at
from problems
left join `fivetran_metadata.connection` as conn on conn.connection_id = problems.connection_id
group by problems.connection_id, conn.connection_name, problems.severity, problems.message_event, problems.message;
