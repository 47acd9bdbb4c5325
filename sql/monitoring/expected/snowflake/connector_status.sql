-- connector_status: the original monitoring toolkit's name for connection_status, so its queries run unchanged.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."CONNECTOR_STATUS" AS
select * from "FIVETRAN_MONITORING"."CONNECTION_STATUS";
