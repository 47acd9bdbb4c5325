-- monthly_active_rows: incremental MAR per month, connection and table, split into paid and free rows.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."MONTHLY_ACTIVE_ROWS" AS
select
    CAST(DATE_TRUNC('month', measured_date) AS DATE) as measured_month,
    connection_name,
    destination_id,
    schema_name,
    table_name,
    sum(incremental_rows) as incremental_rows,
    sum(case when free_type = 'PAID' then incremental_rows else 0 end) as paid_rows,
    sum(case when free_type = 'PAID' then 0 else incremental_rows end) as free_rows
from "FIVETRAN_METADATA"."INCREMENTAL_MAR"
group by CAST(DATE_TRUNC('month', measured_date) AS DATE), connection_name, destination_id, schema_name, table_name;
