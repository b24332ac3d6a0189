-- partition: day
-- (no lookback of its own: the days marts.sessions changes already include the day before)
-- Vemetric's five metrics per UTC day and per dimension, with its breakdown rules
-- (specs/vemetric-api.md §7.2):
--   users       distinct users with an event in the group
--   pageviews   pageview events; events: custom events (counts of occurrences)
--   bounce_rate percent of (session, group) buckets holding exactly one pageview
--   visit_duration mean seconds of the sessions that started that day with a duration > 0
-- Dimensions: '' (the whole day), 'page:origin', 'page:path' (non-empty pageviews only, so
-- `events` is 0), 'event:name' (non-empty custom events only, so `pageviews` is 0), and
-- 'user:country' / 'user:city' (the user's country as the source reports it; Vemetric's API
-- gives no per-event location). Rates do not apply to page and event groups: null there,
-- as in the API. Empty values carry the API's label ("Unknown"). The components of each rate
-- are kept so that rates over several days can be recombined exactly.
with events as not materialized (
    -- Read by several branches: scanning the events again costs less than keeping a copy.
    select day, user_id, session_id, is_pageview, origin, path, event_name, occurrences
    from marts.events
    where day between $first and $last
),

per_session as (
    -- One row per (day, user, session id) with its pageviews and custom events (null when
    -- none). The day-wide and the user's country/city groups need nothing finer (a user has
    -- one country and city), so they are counted from these rows, ~8x fewer than events,
    -- and the users are joined to them rather than to every event.
    select s.*, u.country, u.city
    from (
        select day, user_id, session_id,
               sum(occurrences) filter (where is_pageview)     as pageviews,
               sum(occurrences) filter (where not is_pageview) as events
        from events
        group by all
    ) s
    left join marts.users u using (user_id)
),

keyed as (
    select day, '' as dimension, '' as raw_value, user_id, session_id, pageviews, events
    from per_session
    union all
    select day, 'user:country', coalesce(country, ''), user_id, session_id, pageviews, events
    from per_session
    union all
    select day, 'user:city', coalesce(city, ''), user_id, session_id, pageviews, events
    from per_session
    union all
    select day, 'page:origin', origin, user_id, session_id, occurrences, null
    from events where is_pageview and origin <> ''
    union all
    select day, 'page:path', path, user_id, session_id, occurrences, null
    from events where is_pageview and path <> ''
    union all
    select day, 'event:name', event_name, user_id, session_id, null, occurrences
    from events where not is_pageview and event_name <> ''
),

counts as (
    select
        day, dimension, raw_value,
        count(distinct user_id)                          as users,
        cast(coalesce(sum(pageviews), 0) as bigint)      as pageviews,
        cast(coalesce(sum(events), 0) as bigint)         as events
    from keyed
    group by all
),

buckets as (
    -- (session, group) buckets holding a pageview, for the groups rates apply to: those come
    -- from per_session alone, so `keyed` is read once (not kept whole for a second reader)
    select day, dimension, raw_value, session_id, sum(pageviews) as pageviews
    from (
        select day, '' as dimension, '' as raw_value, session_id, pageviews from per_session
        union all
        select day, 'user:country', coalesce(country, ''), session_id, pageviews from per_session
        union all
        select day, 'user:city', coalesce(city, ''), session_id, pageviews from per_session
    )
    where pageviews is not null
    group by all
),

bounces as (
    select day, dimension, raw_value,
           count(*) filter (where pageviews = 1) as bounced_buckets,
           count(*)                              as pageview_buckets
    from buckets
    group by all
),

sessions as (
    select day, country, city, duration_seconds
    from marts.sessions
    where day between $first and $last and duration_seconds > 0
),

durations as (
    select day, dimension, raw_value,
           cast(sum(duration_seconds) as bigint) as duration_seconds_total,
           count(*)              as duration_sessions
    from (
        select day, '' as dimension, '' as raw_value, duration_seconds from sessions
        union all
        select day, 'user:country', coalesce(country, ''), duration_seconds from sessions
        union all
        select day, 'user:city', coalesce(city, ''), duration_seconds from sessions
    )
    group by all
),

rated as (
    select dimension in ('', 'user:country', 'user:city') as rates_apply, *
    from counts
    left join bounces using (day, dimension, raw_value)
    left join durations using (day, dimension, raw_value)
)

select
    day,
    dimension,
    case when dimension = '' then '' else fh_label(replace(dimension, 'user:', ''), raw_value) end
        as value,
    users,
    pageviews,
    events,
    -- percent, 2 decimals; 0 when the group has no pageview (the API's 0 for "no row")
    case when rates_apply
         then coalesce(round(100.0 * bounced_buckets / pageview_buckets, 2), 0) end
        as bounce_rate,
    -- seconds, 2 decimals; 0 when no session of the group lasted longer than 0 s
    case when rates_apply
         then coalesce(round(duration_seconds_total / duration_sessions, 2), 0) end
        as visit_duration,
    case when rates_apply then coalesce(bounced_buckets, 0) end        as bounced_buckets,
    case when rates_apply then coalesce(pageview_buckets, 0) end       as pageview_buckets,
    case when rates_apply then coalesce(duration_seconds_total, 0) end as duration_seconds_total,
    case when rates_apply then coalesce(duration_sessions, 0) end      as duration_sessions
from rated
