-- One row per visitor: the profile from the most recent listing (raw_engagetrack.visitors
-- holds a row per visitor and active day). identifier is the external id, else the email;
-- a visitor with neither is anonymous. country/city are those of the visitor's latest synced
-- event (as Vemetric's are its latest event's), empty strings null; properties hold the
-- visitor's uid.
with latest as (
    select
        *,
        min(partition_date) over (partition by site_id, id) as first_active_day,
        max(partition_date) over (partition by site_id, id) as last_active_day
    from raw_engagetrack.visitors
    qualify row_number() over (partition by site_id, id
                               order by last_seen_at desc, synced_at desc) = 1
),

located as (
    select site_id, visitor_id as id,
           arg_max(country, timestamp) as country, arg_max(city, timestamp) as city
    from raw_engagetrack.timeline_events
    group by all
)

select
    v.site_id,
    v.id                                              as user_id,
    nullif(coalesce(v.external_id, v.email, ''), '')  as identifier,
    nullif(v.name, '')                                as display_name,
    v.external_id is null and v.email is null         as anonymous,
    nullif(l.country, '')                             as country,
    nullif(l.city, '')                                as city,
    nullif(v.avatar_url, '')                          as avatar_url,
    '{"uid":' || to_json(v.uid) || '}'                as properties,
    v.last_seen_at,
    v.first_active_day,
    v.last_active_day
from latest v
left join located l using (site_id, id)
