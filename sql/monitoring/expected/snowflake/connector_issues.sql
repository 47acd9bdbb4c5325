-- connector_issues: the original monitoring toolkit's name for connection_issues, so its queries run unchanged.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."CONNECTOR_ISSUES" AS
select * from "FIVETRAN_MONITORING"."CONNECTION_ISSUES";
