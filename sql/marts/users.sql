-- partition: key
-- key: source varchar, user_id varchar
-- span: first_active_day, last_active_day
-- One row per user the sources know (EngageTrack's visitors too), with the profile they
-- report: Vemetric's from the user's most recent listing, whose country and city are those of
-- the user's latest event in the synced range, as /v1/users reports them (not per event).
-- Rebuilt by user: a new day recomputes, from all their days, the rows of the users listed on
-- it and of those whose rows spanned it before (fh_keys, from the runner: a re-landed day
-- may no longer list them); every other user's row stays as it is.
with touched as (
    select 'vemetric' as source, user_id
    from stg_vemetric.user_days
    where day between $first and $last
    union
    select 'engagetrack', id
    from raw_engagetrack.visitors
    where partition_date between $first and $last
    union
    select source, user_id from fh_keys
),

vemetric_days as (
    -- every listing of the touched users (the filter reaches the raw scan: no window above it)
    select *
    from stg_vemetric.user_days
    where user_id in (select user_id from touched where source = 'vemetric')
),

vemetric as (
    select
        *,
        min(day) over (partition by user_id) as first_active_day,
        max(day) over (partition by user_id) as last_active_day
    from vemetric_days
    qualify row_number() over (partition by user_id order by last_seen_at desc, synced_at desc) = 1
)

select
    'vemetric'         as source,
    user_id,
    identifier,
    display_name,
    anonymous,
    country,
    city,
    avatar_url,
    properties,        -- JSON text of the user's custom data
    last_seen_at,
    first_active_day,
    last_active_day
from vemetric
union all
select
    'engagetrack',
    user_id,
    identifier,
    display_name,
    anonymous,
    country,
    city,
    avatar_url,
    properties,
    last_seen_at,
    first_active_day,
    last_active_day
from stg_engagetrack.users
where user_id in (select user_id from touched where source = 'engagetrack')
