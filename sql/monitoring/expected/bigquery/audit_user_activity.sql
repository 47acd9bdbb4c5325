-- audit_user_activity: what people did to connections, as the dbt package's audit_user_activity: every log
-- event whose message_data names an actor (the user's email), with the user's id and name from the user table.
CREATE OR REPLACE VIEW `fivetran_monitoring.audit_user_activity` AS
with activity as (
    select
        time_stamp as occurred_at,
        connection_id,
        message_event as activity,
        JSON_EXTRACT_SCALAR(message_data, '$.actor') as actor_email,
        message_data
    from `fivetran_metadata.log`
    where JSON_EXTRACT_SCALAR(message_data, '$.actor') is not null
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
left join `fivetran_metadata.connection` as conn on conn.connection_id = activity.connection_id
left join `fivetran_metadata.user` as users on lower(users.email) = lower(activity.actor_email);
