-- audit_user_activity: what people did to connections, as the dbt package's audit_user_activity: every log
-- event whose message_data names an actor (the user's email), with the user's id and name from the user table.
CREATE OR REPLACE VIEW "FIVETRAN_MONITORING"."AUDIT_USER_ACTIVITY" AS
with activity as (
    select
        time_stamp as occurred_at,
        connection_id,
        message_event as activity,
        TRY_PARSE_JSON(message_data)['actor']::string as actor_email,
        message_data
    from "FIVETRAN_METADATA"."LOG"
    where TRY_PARSE_JSON(message_data)['actor']::string is not null
)

select
    activity.occurred_at,
    activity.connection_id,
    conn.connection_name,
    activity.activity,
    activity.actor_email,
    users.id as user_id,
    users.given_name,
    users.family_name,
    activity.message_data
from activity
left join "FIVETRAN_METADATA"."CONNECTION" as conn on conn.connection_id = activity.connection_id
left join "FIVETRAN_METADATA"."USER" as users on lower(users.email) = lower(activity.actor_email);
