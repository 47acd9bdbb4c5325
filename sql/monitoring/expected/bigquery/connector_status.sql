-- connector_status: the original monitoring toolkit's name for connection_status, so its queries run unchanged.
CREATE OR REPLACE VIEW `fivetran_monitoring.connector_status` AS
select * from `fivetran_monitoring.connection_status`;
