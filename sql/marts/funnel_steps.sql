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
with ranges as (
    select date_from, date_to, row_number() over (order by date_from, date_to) as range_key
    from (select distinct date_from, date_to
          from raw_vemetric.funnel_results
          where date_to >= $first and date_from <= $last)
),

range_days as (
    -- Each range's days: events join their ranges on an equal day (a hash join), not on a
    -- between (a range join, many times slower).
    select range_key,
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

keyed_steps as (
    select *, dense_rank() over (order by funnel_id) as funnel_key from steps
),

shapes as (
    -- The distinct event shapes of the ranges' days: steps are matched against these (a few
    -- thousand), not against every event, so no JSON is parsed per event.
    select distinct is_pageview, origin, path, hash, event_name, properties
    from events
),

matches as (
    select sh.*, st.funnel_key, st.step_index, st.step_count
    from shapes sh
    join keyed_steps st on fh_step_matches(sh, st)
),

hits as (
    -- One hit per (range, event, step it matches); `part` is the (range, funnel) as one
    -- integer, so the chains sort on integers.
    select r.range_key * 65536 + m.funnel_key as part, e.user_id as unit, m.step_count,
           fh_hit(cast(epoch(e.occurred_at) as bigint), m.step_index) as hit
    from events e
    join matches m using (is_pageview, origin, path, hash, event_name, properties)
    join range_days r using (day)
),

parts as (
    select f.funnel_id, r.date_from, r.date_to, r.range_key * 65536 + f.funnel_key as part
    from (select distinct funnel_id, funnel_key from keyed_steps) f
    cross join ranges r
),

reached as (
    -- Vemetric's funnel per user and range (sql/macros.sql, shared with pipelines/funnels.py).
    select p.funnel_id, p.date_from, p.date_to, f.step_index, f.unit as user_id,
           f.seconds_to_convert
    from fh_funnel_reached('hits', $window_seconds) f
    join parts p using (part)
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
    from ranges r
    join range_days using (range_key)
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
