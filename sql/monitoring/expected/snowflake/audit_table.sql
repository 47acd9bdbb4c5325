-- audit_table: one row per sync and destination table, as the dbt package's audit_table: when the sync and
-- the writes to the table started and ended, and the rows replaced or inserted, updated and deleted
-- (write_to_table_start / write_to_table_end and records_modified of the same sync_id).
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."AUDIT_TABLE" AS
with writes as (
    select
        connection_id,
        sync_id,
        TRY_PARSE_JSON(message_data)['schema']::string as schema_name,
        TRY_PARSE_JSON(message_data)['table']::string as table_name,
        min(case when message_event = 'write_to_table_start' then time_stamp end) as write_started_at,
        max(case when message_event = 'write_to_table_end' then time_stamp end) as write_ended_at
    from "FIVETRAN_METADATA"."LOG"
    where message_event in ('write_to_table_start', 'write_to_table_end') and sync_id is not null
    group by connection_id, sync_id, TRY_PARSE_JSON(message_data)['schema']::string, TRY_PARSE_JSON(message_data)['table']::string
),

modified as (
    select
        connection_id,
        sync_id,
        TRY_PARSE_JSON(message_data)['schema']::string as schema_name,
        TRY_PARSE_JSON(message_data)['table']::string as table_name,
        sum(case when TRY_PARSE_JSON(message_data)['operationType']::string = 'REPLACED_OR_INSERTED' then TRY_CAST(TRY_PARSE_JSON(message_data)['count']::string AS INTEGER) else 0 end) as rows_replaced_or_inserted,
        sum(case when TRY_PARSE_JSON(message_data)['operationType']::string = 'UPDATED' then TRY_CAST(TRY_PARSE_JSON(message_data)['count']::string AS INTEGER) else 0 end) as rows_updated,
        sum(case when TRY_PARSE_JSON(message_data)['operationType']::string = 'DELETED' then TRY_CAST(TRY_PARSE_JSON(message_data)['count']::string AS INTEGER) else 0 end) as rows_deleted
    from "FIVETRAN_METADATA"."LOG"
    where message_event = 'records_modified' and sync_id is not null
    group by connection_id, sync_id, TRY_PARSE_JSON(message_data)['schema']::string, TRY_PARSE_JSON(message_data)['table']::string
),

syncs as (
    select
        sync_id,
        min(case when message_event = 'sync_start' then time_stamp end) as sync_started_at,
        max(case when message_event = 'sync_end' then time_stamp end) as sync_ended_at
    from "FIVETRAN_METADATA"."LOG"
    where message_event in ('sync_start', 'sync_end') and sync_id is not null
    group by sync_id
),

tables_of_syncs as (
    select
        coalesce(writes.connection_id, modified.connection_id) as connection_id,
        coalesce(writes.sync_id, modified.sync_id) as sync_id,
        coalesce(writes.schema_name, modified.schema_name) as schema_name,
        coalesce(writes.table_name, modified.table_name) as table_name,
        writes.write_started_at,
        writes.write_ended_at,
        coalesce(modified.rows_replaced_or_inserted, 0) as rows_replaced_or_inserted,
        coalesce(modified.rows_updated, 0) as rows_updated,
        coalesce(modified.rows_deleted, 0) as rows_deleted
    from writes
    full outer join modified
        on modified.connection_id = writes.connection_id
        and modified.sync_id = writes.sync_id
        and modified.schema_name = writes.schema_name
        and modified.table_name = writes.table_name
)

select
    tables_of_syncs.connection_id,
    conn.connection_name,
    tables_of_syncs.sync_id,
    tables_of_syncs.schema_name,
    tables_of_syncs.table_name,
    syncs.sync_started_at,
    syncs.sync_ended_at,
    tables_of_syncs.write_started_at,
    tables_of_syncs.write_ended_at,
    tables_of_syncs.rows_replaced_or_inserted,
    tables_of_syncs.rows_updated,
    tables_of_syncs.rows_deleted
from tables_of_syncs
left join syncs on syncs.sync_id = tables_of_syncs.sync_id
left join "FIVETRAN_METADATA"."CONNECTION" as conn on conn.connection_id = tables_of_syncs.connection_id;
