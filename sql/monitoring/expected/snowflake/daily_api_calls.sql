-- daily_api_calls: the original monitoring toolkit's view of the API calls made to each source per day
-- (extract_summary.total_queries), from daily_events.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."DAILY_API_CALLS" AS
select connection_id, connection_name, date_day, count_api_calls from "FIVETRAN_MONITORING"."DAILY_EVENTS";
