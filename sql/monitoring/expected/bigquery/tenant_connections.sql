-- tenant_connections: connection_status per tenant. The tenant id is the first capture group of the tenant
-- pattern (^([a-z0-9]+)_) in the connection name; the tenants table (tenant_id, tenant_name) names it.
-- Connections whose name does not match have a null tenant_id.
CREATE OR REPLACE VIEW `fivetran_monitoring.tenant_connections` AS
with tagged as (
    select
        REGEXP_EXTRACT(connection_name, '^([a-z0-9]+)_') as tenant_id,
        connection_status.*
    from `fivetran_monitoring.connection_status` as connection_status
)

select
    tagged.tenant_id,
    tenants.tenant_name,
    tagged.connection_id,
    tagged.connection_name,
    tagged.connector_type,
    tagged.connection_health,
    tagged.last_successful_sync_completed_at,
    tagged.last_error_at,
    tagged.number_errors_since_last_completed_sync
from tagged
left join `fivetran_monitoring.tenants` as tenants on tenants.tenant_id = tagged.tenant_id;
