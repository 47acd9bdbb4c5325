-- monthly_active_rows: incremental MAR per month, connection and table, split into paid and free rows.
CREATE OR REPLACE VIEW `fivetran_monitoring.monthly_active_rows` AS
select
    DATE_TRUNC(CAST(measured_date AS DATE), MONTH) as measured_month,
    connection_name,
    destination_id,
    schema_name,
    table_name,
    sum(incremental_rows) as incremental_rows,
    sum(case when free_type = 'PAID' then incremental_rows else 0 end) as paid_rows,
    sum(case when free_type = 'PAID' then 0 else incremental_rows end) as free_rows
from `fivetran_metadata.incremental_mar`
group by DATE_TRUNC(CAST(measured_date AS DATE), MONTH), connection_name, destination_id, schema_name, table_name;
