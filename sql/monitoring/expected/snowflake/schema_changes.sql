-- schema_changes: the schema changelog, one row per create_table, alter_table, create_schema or
-- change_schema_config event, with the schema and table it touched.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."SCHEMA_CHANGES" AS
select
    log.connection_id,
    conn.connection_name,
    log.time_stamp as changed_at,
    log.message_event as change_type,
    TRY_PARSE_JSON(log.message_data)['schema']::string as schema_name,
    TRY_PARSE_JSON(log.message_data)['table']::string as table_name,
    log.message_data
from "FIVETRAN_METADATA"."LOG" as log
left join "FIVETRAN_METADATA"."CONNECTION" as conn on conn.connection_id = log.connection_id
where log.message_event in ('create_table', 'alter_table', 'create_schema', 'change_schema_config');
