-- connection_daily_events: the dbt package's name for daily_events (API calls, rows modified and schema
-- changes per connection and day), so queries written for the package run unchanged.
CREATE OR REPLACE VIEW `fivetran_monitoring.connection_daily_events` AS
select * from `fivetran_monitoring.daily_events`;
