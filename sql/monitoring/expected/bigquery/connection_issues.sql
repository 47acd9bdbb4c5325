-- connection_issues: the connections that need a person, one row each with what is wrong and how bad it
-- is: broken (critical); paused, setup incomplete, or errors since the last completed sync (warning).
CREATE OR REPLACE VIEW `fivetran_monitoring.connection_issues` AS
select
    connection_id,
    connection_name,
    connector_type,
    connection_health,
    case when connection_health = 'broken' then 'critical' else 'warning' end as severity,
    case
        when connection_health = 'broken' then 'the last sync ended in error; read the error_reporting view and fix the connection'
        when connection_health = 'paused' then 'the connection is paused; unpause it if it should sync'
        when connection_health = 'incomplete' then 'no sync has ever started; finish the setup'
        else 'errors since the last completed sync; read the error_reporting view'
    end as issue,
    last_successful_sync_completed_at,
    last_error_at,
    number_errors_since_last_completed_sync
from `fivetran_monitoring.connection_status`
where connection_health in ('broken', 'paused', 'incomplete')
    or (connection_health <> 'deleted' and number_errors_since_last_completed_sync > 0);
