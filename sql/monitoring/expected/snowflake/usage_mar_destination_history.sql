-- usage_mar_destination_history: monthly active rows per destination and month, paid and free, as the dbt
-- package's usage history (its cost columns come from the account's billing tables, not modelled here).
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."USAGE_MAR_DESTINATION_HISTORY" AS
select
    CAST(DATE_TRUNC('month', mar.measured_date) AS DATE) as measured_month,
    mar.destination_id,
    dest.name as destination_name,
    count(distinct mar.connection_name) as connections,
    sum(mar.incremental_rows) as total_rows,
    sum(case when mar.free_type = 'PAID' then mar.incremental_rows else 0 end) as paid_rows,
    sum(case when mar.free_type = 'PAID' then 0 else mar.incremental_rows end) as free_rows
from "FIVETRAN_METADATA"."INCREMENTAL_MAR" as mar
left join "FIVETRAN_METADATA"."DESTINATION" as dest on dest.id = mar.destination_id
group by CAST(DATE_TRUNC('month', mar.measured_date) AS DATE), mar.destination_id, dest.name;
