-- connection_daily_events: the dbt package's name for daily_events (API calls, rows modified and schema
-- changes per connection and day), so queries written for the package run unchanged.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."CONNECTION_DAILY_EVENTS" AS
select * from "FIVETRAN_MONITORING"."DAILY_EVENTS";
