-- usage_mar_destination_history: monthly active rows per destination and month, paid and free, as the dbt
-- package's usage history (its cost columns come from the account's billing tables, not modelled here).
CREATE OR REPLACE VIEW `fivetran_monitoring.usage_mar_destination_history` AS
select
    DATE_TRUNC(CAST(mar.measured_date AS DATE), MONTH) as measured_month,
    mar.destination_id,
    dest.name as destination_name,
    count(distinct mar.connection_name) as connections,
    sum(mar.incremental_rows) as total_rows,
    sum(case when mar.free_type = 'PAID' then mar.incremental_rows else 0 end) as paid_rows,
    sum(case when mar.free_type = 'PAID' then 0 else mar.incremental_rows end) as free_rows
from `fivetran_metadata.incremental_mar` as mar
left join `fivetran_metadata.destination` as dest on dest.id = mar.destination_id
group by DATE_TRUNC(CAST(mar.measured_date AS DATE), MONTH), mar.destination_id, dest.name;
