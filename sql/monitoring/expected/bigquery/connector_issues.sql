-- connector_issues: the original monitoring toolkit's name for connection_issues, so its queries run unchanged.
CREATE OR REPLACE VIEW `fivetran_monitoring.connector_issues` AS
select * from `fivetran_monitoring.connection_issues`;
