-- partition: day
-- lookback: 1
-- lookback_when: exists (select 1 from marts.sessions
-- lookback_when:         where day = $first - 1 and ended_at >= $first)
-- lookback_when: or exists (select 1 from marts.events a
-- lookback_when:            join (select distinct source, user_id, session_id from marts.events
-- lookback_when:                  where day between $first and $last) b
-- lookback_when:            using (source, user_id, session_id)
-- lookback_when:            where a.day = $first - 1)
-- One row per session: a user's events under one source session id, split wherever 30
-- minutes pass without an event (Vemetric's rule, specs/vemetric-api.md §9; its own session
-- ids already obey it, so for Vemetric a split never happens). `day` is the UTC day the session
-- started. A session that starts before midnight and ends after it needs the next day's
-- events, and whether it started earlier needs the previous day's: hence the lookback, needed
-- only when a session crossed (or now crosses) midnight into the changed days
-- (lookback_when): without one, a new day rebuilds that day alone.
-- referrer and UTM columns are part of the conformed shape; Vemetric's API does not expose
-- them per event, so they are null for it.
with events as not materialized (
    -- Read twice (every session, then the events of the long ones): scanning the events again
    -- costs less than keeping a copy of them.
    select source, user_id, session_id, occurred_at, is_pageview, occurrences, origin, path, hash
    from marts.events
    where day between $first - 1 and $last + 1
),

source_sessions as (
    -- Each source session in one pass, without ordering its events. One that lasts at most
    -- 30 minutes cannot hold 30 minutes without an event, so it is a session as it is (for
    -- Vemetric, all of them).
    select
        user_id,
        session_id,
        any_value(source)                                                as source,
        min(occurred_at)                                                 as started_at,
        max(occurred_at)                                                 as ended_at,
        cast(sum(occurrences) filter (where is_pageview) as bigint)      as pageviews,
        cast(sum(occurrences) filter (where not is_pageview) as bigint)  as events,
        -- the landing page in one aggregate (one comparison per event, not three)
        arg_min({'origin': origin, 'path': path, 'hash': hash}, occurred_at)
            filter (where is_pageview)                                   as landing,
        arg_max(path, occurred_at) filter (where is_pageview)            as exit_path,
        max(occurred_at) - min(occurred_at) > interval 30 minutes        as may_split
    from events
    group by user_id, session_id
),

long_events as (
    -- The events of the longer source sessions: only these are put in order and split.
    select e.*
    from events e
    semi join (select user_id, session_id from source_sessions where may_split) l
        using (user_id, session_id)
),

gaps as (
    select
        *,
        coalesce(
            occurred_at - lag(occurred_at) over (
                partition by user_id, session_id order by occurred_at) > interval 30 minutes,
            false) as starts_new
    from long_events
),

numbered as (
    select
        *,
        sum(starts_new::integer) over (
            partition by user_id, session_id order by occurred_at
            rows between unbounded preceding and current row) as part
    from gaps
),

split_sessions as (
    select
        any_value(source)                                                as source,
        case when part = 0 then session_id else session_id || '~' || part end as session_id,
        user_id,
        min(occurred_at)                                                 as started_at,
        max(occurred_at)                                                 as ended_at,
        cast(sum(occurrences) filter (where is_pageview) as bigint)  as pageviews,
        cast(sum(occurrences) filter (where not is_pageview) as bigint) as events,
        arg_min(origin, occurred_at) filter (where is_pageview)          as landing_origin,
        arg_min(path, occurred_at) filter (where is_pageview)            as landing_path,
        arg_min(hash, occurred_at) filter (where is_pageview)            as landing_hash,
        arg_max(path, occurred_at) filter (where is_pageview)            as exit_path
    from numbered
    group by all
),

sessions as (
    select source, session_id, user_id, started_at, ended_at, pageviews, events,
           landing.origin as landing_origin, landing.path as landing_path,
           landing.hash as landing_hash, exit_path
    from source_sessions
    where not may_split
    union all
    select source, session_id, user_id, started_at, ended_at, pageviews, events,
           landing_origin, landing_path, landing_hash, exit_path
    from split_sessions
)

select
    s.source,
    s.session_id,
    s.user_id,
    s.started_at,
    s.ended_at,
    fh_utc_day(s.started_at)                                              as day,
    -- seconds between the first and the last event (0 for a single event), as Vemetric
    cast(epoch(s.ended_at) - epoch(s.started_at) as bigint)               as duration_seconds,
    coalesce(s.pageviews, 0)                                              as pageviews,
    coalesce(s.events, 0)                                                 as events,
    coalesce(s.pageviews, 0) = 1                                          as is_bounce,
    s.landing_origin,
    s.landing_path,
    s.landing_hash,
    s.exit_path,
    u.country,                 -- the user's, as the source reports it
    u.city,
    cast(null as varchar)                                                 as referrer,
    cast(null as varchar)                                                 as referrer_type,
    cast(null as varchar)                                                 as utm_source,
    cast(null as varchar)                                                 as utm_medium,
    cast(null as varchar)                                                 as utm_campaign,
    cast(null as varchar)                                                 as utm_content,
    cast(null as varchar)                                                 as utm_term
from sessions s
left join marts.users u using (user_id)
where fh_utc_day(s.started_at) between $first and $last
-- In day order: a day's rows sit together, so the next build's delete of the last days touches
-- the last row groups only, and the commit does not rewrite the whole table.
order by day
