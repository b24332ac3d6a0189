-- partition: range
-- param: window_seconds = 604800
-- Every Vemetric funnel, rebuilt from events for every range the API was asked about
-- (raw_vemetric.funnel_results: each synced window and each of its days), with Vemetric's
-- semantics (specs/vemetric-api.md §8), i.e. ClickHouse's windowFunnel in its default mode:
-- per user across sessions, events in [date_from, date_to] at second precision, steps in
-- order with anything in between, the chain within $window_seconds (168 h) of its first step.
-- One row per (funnel, range, step):
--   users                    users whose chain reached this step
--   conversion_from_previous percent of the previous step's users (step 1: 100, or 0 if empty),
--                            the API's `conversionRate`
--   conversion_from_first    percent of step 1's users
--   dropoff, dropoff_rate    users lost since the previous step, and in percent of it
--   median/p90_seconds_to_convert  seconds from the chain's first step to this one
-- and per (funnel, range), repeated on each row: active_users (distinct users with any event
-- in the range), funnel_conversion_rate (last step / first), active_user_conversion_rate.
-- EngageTrack's funnels are not rebuilt here: their rows are the API's own analysis
-- (stg_engagetrack.funnel_analyses), for the ranges the sync asked about.
with recursive ranges as (
    select distinct date_from, date_to
    from raw_vemetric.funnel_results
    where date_to >= $first and date_from <= $last
),

range_days as (
    -- Each range's days: events join their ranges on an equal day (a hash join), not on a
    -- between (a range join, many times slower).
    select date_from, date_to,
           cast(unnest(generate_series(date_from, date_to, interval 1 day)) as date) as day
    from ranges
),

events as (
    -- Only the days some range covers (a new day's build reads that day, not the whole mart).
    select *
    from marts.events
    where day between (select min(date_from) from ranges) and (select max(date_to) from ranges)
),

steps as (
    select * from stg_vemetric.funnel_steps
),

step_properties as (
    select s.funnel_id, s.step_index,
           p ->> '$.property' as property, p ->> '$.operator' as op, p ->> '$.value' as expected
    from steps s, unnest(s.properties -> '$[*]') as t(p)
),

shapes as (
    -- The distinct event shapes of the ranges' days: steps are matched against these (a few
    -- thousand), not against every event, so no JSON is parsed per event.
    select distinct is_pageview, origin, path, hash, event_name, properties
    from events
),

matches as (
    select sh.*, st.funnel_id, st.step_index, st.step_count
    from shapes sh
    join steps st on sh.is_pageview = (st.step_type = 'page')
    where case
        when st.step_type = 'page' then
            fh_string_match(sh.origin, st.origin_op, st.origin_value)
            and fh_string_match(sh.path, st.path_op, st.path_value)
            and fh_string_match(sh.hash, st.hash_op, st.hash_value)
        -- An event step without a name condition (or with `any`) matches every custom event
        -- and ignores its properties (Vemetric's quirk).
        when coalesce(st.name_op, 'any') = 'any' then true
        else fh_string_match(sh.event_name, st.name_op, st.name_value)
             and not exists (
                 select 1 from step_properties p
                 where p.funnel_id = st.funnel_id and p.step_index = st.step_index
                   and not fh_string_match(fh_json_string(sh.properties, p.property), p.op, p.expected))
    end
),

entries as (
    -- One entry per (range, event, step it matches); equal seconds order by step, so one event
    -- matching steps 1 and 2 advances the chain by itself, as in ClickHouse. Identical entries
    -- (same user, second and step) may repeat: they are peers with equal values (see chain).
    select r.date_from, r.date_to, m.funnel_id, m.step_count, e.user_id,
           cast(epoch(e.occurred_at) as bigint) as second, m.step_index
    from events e
    join matches m using (is_pageview, origin, path, hash, event_name, properties)
    join range_days r using (day)
),

-- chain_start at level k and entry p (entries of a user in order of second, then step): the
-- start (first step's second) of the latest chain that has reached step k by p. Level 0
-- restarts at every first-step entry; level k takes level k-1's start when its step comes
-- within the window of it. Starts never decrease along p, so "latest" is a running max.
-- Level k+1 only looks at entries of step k+1 and later (earlier steps cannot change it), so
-- each level sorts fewer rows. Identical entries get equal values: they change nothing.
chain(funnel_id, date_from, date_to, step_count, user_id, second, step_index, level,
      chain_start) as (
    select funnel_id, date_from, date_to, step_count, user_id, second, step_index, 0,
           max(case when step_index = 0 then second end) over (
               partition by funnel_id, date_from, date_to, user_id order by second, step_index
               rows between unbounded preceding and current row)
    from entries
    union all
    select funnel_id, date_from, date_to, step_count, user_id, second, step_index, level + 1,
           max(case when step_index = level + 1 and second <= chain_start + $window_seconds
                    then chain_start end) over (
               partition by funnel_id, date_from, date_to, user_id order by second, step_index
               rows between unbounded preceding and current row)
    from chain
    where level + 1 < step_count and step_index >= level + 1
),

reached as (
    -- A level is first set at an entry of its own step: the user reached the step there.
    select funnel_id, date_from, date_to, level as step_index, user_id,
           arg_min(second - chain_start, second) as seconds_to_convert
    from chain
    where chain_start is not null and step_index = level
    group by all
),

step_users as (
    select funnel_id, date_from, date_to, step_index,
           count(*)                                 as users,
           median(seconds_to_convert)               as median_seconds_to_convert,
           quantile_cont(seconds_to_convert, 0.9)   as p90_seconds_to_convert
    from reached
    group by all
),

active as (
    -- distinct (day, user) first: each range then counts a few rows per user, not events
    select r.date_from, r.date_to, count(distinct a.user_id) as active_users
    from range_days r
    join (select distinct day, user_id from events) a using (day)
    group by all
),

grid as (
    select
        st.funnel_id, st.funnel_name, r.date_from, r.date_to, st.step_index, st.step_count,
        st.step_id, st.step_name,
        coalesce(su.users, 0) as users,
        su.median_seconds_to_convert,
        su.p90_seconds_to_convert,
        coalesce(a.active_users, 0) as active_users
    from ranges r
    cross join steps st
    left join step_users su using (funnel_id, date_from, date_to, step_index)
    left join active a using (date_from, date_to)
),

compared as (
    select
        *,
        coalesce(lag(users) over w, users)                       as previous_users,
        first_value(users) over w                                as first_users,
        last_value(users) over (w rows between unbounded preceding and unbounded following)
                                                                 as last_users
    from grid
    window w as (partition by funnel_id, date_from, date_to order by step_index)
)

select
    funnel_id,
    funnel_name,
    date_from,
    date_to,
    step_index,
    step_id,
    step_name,
    users,
    coalesce(round(100.0 * users / nullif(previous_users, 0), 2), 0)   as conversion_from_previous,
    coalesce(round(100.0 * users / nullif(first_users, 0), 2), 0)      as conversion_from_first,
    previous_users - users                                             as dropoff,
    coalesce(round(100.0 * (previous_users - users) / nullif(previous_users, 0), 2), 0)
                                                                       as dropoff_rate,
    median_seconds_to_convert,
    p90_seconds_to_convert,
    active_users,
    coalesce(round(100.0 * last_users / nullif(first_users, 0), 2), 0) as funnel_conversion_rate,
    coalesce(round(100.0 * last_users / nullif(active_users, 0), 2), 0)
                                                                       as active_user_conversion_rate
from compared
union all
select
    funnel_id, funnel_name, date_from, date_to, step_index, step_id, step_name, users,
    conversion_from_previous, conversion_from_first, dropoff, dropoff_rate,
    median_seconds_to_convert, p90_seconds_to_convert, active_users, funnel_conversion_rate,
    active_user_conversion_rate
from stg_engagetrack.funnel_analyses
where date_to >= $first and date_from <= $last
