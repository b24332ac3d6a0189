-- EngageTrack's own funnel analysis (raw_engagetrack.funnel_analyses) in the conformed
-- funnel shape of marts.funnel_steps: one row per (funnel, range, step). The API gives
-- visitors, conversion and drop-off per step; conversion from the first step and the funnel's
-- conversion are derived from its visitors; active_users is the range's visitors
-- (analytics/stats), null for a report period asked for beyond the synced windows (no stats
-- were asked for it: unknown, not zero). Times to convert are not reported by the API: null.
with analyses as (
    select *
    from raw_engagetrack.funnel_analyses
    qualify row_number() over (partition by site_id, funnel_id, date_from, date_to, step_id
                               order by synced_at desc) = 1
),

funnels as (
    select site_id, id as funnel_id, name as funnel_name
    from raw_engagetrack.funnels
    qualify row_number() over (partition by site_id, id order by synced_at desc) = 1
),

stats as (
    select site_id, date_from, date_to, visitors
    from raw_engagetrack.stats
    qualify row_number() over (partition by site_id, date_from, date_to order by synced_at desc) = 1
),

framed as (
    select
        a.*,
        lag(a.visitors) over w                                          as previous_visitors,
        first_value(a.visitors) over w                                  as first_visitors,
        last_value(a.visitors) over (w rows between unbounded preceding and unbounded following)
                                                                        as last_visitors
    from analyses a
    window w as (partition by a.site_id, a.funnel_id, a.date_from, a.date_to order by a."order")
)

select
    f.site_id,
    f.funnel_id,
    coalesce(n.funnel_name, f.funnel_id)                                as funnel_name,
    f.date_from,
    f.date_to,
    f."order" - 1                                                       as step_index,
    f.step_id,
    f.name                                                              as step_name,
    f.visitors                                                          as users,
    f.conversion_rate                                                   as conversion_from_previous,
    coalesce(round(100.0 * f.visitors / nullif(f.first_visitors, 0), 2), 0)
                                                                        as conversion_from_first,
    coalesce(f.previous_visitors, f.visitors) - f.visitors              as dropoff,
    f.dropoff_rate,
    cast(null as double)                                                as median_seconds_to_convert,
    cast(null as double)                                                as p90_seconds_to_convert,
    s.visitors                                                          as active_users,
    coalesce(round(100.0 * f.last_visitors / nullif(f.first_visitors, 0), 2), 0)
                                                                        as funnel_conversion_rate,
    case when s.visitors is not null
         then coalesce(round(100.0 * f.last_visitors / nullif(s.visitors, 0), 2), 0) end
                                                                        as active_user_conversion_rate,
    f.revenue,
    f.top_sources,
    f.top_countries,
    f.synced_at                                                         -- when the API answered
from framed f
left join funnels n using (site_id, funnel_id)
left join stats s using (site_id, date_from, date_to)
