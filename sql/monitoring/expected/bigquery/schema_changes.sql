-- schema_changes: the schema changelog, one row per create_table, alter_table, create_schema or
-- change_schema_config event, with the schema and table it touched.
CREATE OR REPLACE VIEW `fivetran_monitoring.schema_changes` AS
select
    log.connection_id,
    conn.connection_name,
    log.time_stamp as changed_at,
    log.message_event as change_type,
    JSON_EXTRACT_SCALAR(log.message_data, '$.schema') as schema_name,
    JSON_EXTRACT_SCALAR(log.message_data, '$.table') as table_name,
    log.message_data
from `fivetran_metadata.log` as log
left join `fivetran_metadata.connection` as conn on conn.connection_id = log.connection_id
where log.message_event in ('create_table', 'alter_table', 'create_schema', 'change_schema_config');
