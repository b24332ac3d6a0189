-- Part 3: the unit's breakdown value ($breakdown, first touch: the unit's own attribute),
-- counts per step, conversion and drop-off.
unit_values as (
    select user_id as unit,
           case $breakdown when 'country' then country
                           when 'city' then city
                           when 'anonymous' then cast(anonymous as varchar) end as value
    from marts.users
    where $by = 'user'
    union all
    select session_id,
           case $breakdown when 'country' then country
                           when 'city' then city
                           when 'landing_path' then landing_path
                           when 'landing_origin' then landing_origin
                           when 'exit_path' then exit_path
                           when 'day' then cast(day as varchar) end
    from marts.sessions
    where $by = 'session' and day between $first - 1 and $last
),

labelled as (
    select us.*, case when $breakdown = '' then '' else fh_label($breakdown, uv.value) end
                     as breakdown
    from unit_steps us
    left join unit_values uv using (unit)
),

counts as (
    select breakdown, step_index,
           count(*)                               as units,
           median(seconds_to_convert)             as median_seconds_to_convert,
           quantile_cont(seconds_to_convert, 0.9) as p90_seconds_to_convert
    from labelled
    group by all
),

grid as (
    select b.breakdown, s.step_index, s.step_id, s.step_name
    from (select distinct breakdown from labelled
          union select '' where $breakdown = '') b
    cross join steps s
),

compared as (
    select g.*, coalesce(c.units, 0) as units,
           c.median_seconds_to_convert, c.p90_seconds_to_convert
    from grid g
    left join counts c using (breakdown, step_index)
),

rated as (
    select *,
           coalesce(lag(units) over w, units) as previous_units,
           first_value(units) over w          as first_units
    from compared
    window w as (partition by breakdown order by step_index)
)

select
    breakdown,
    step_index,
    step_id,
    step_name,
    units,
    coalesce(round(100.0 * units / nullif(previous_units, 0), 2), 0)            as conversion_from_previous,
    coalesce(round(100.0 * units / nullif(first_units, 0), 2), 0)               as conversion_from_first,
    previous_units - units                                                      as dropoff,
    coalesce(round(100.0 * (previous_units - units) / nullif(previous_units, 0), 2), 0)
                                                                                as dropoff_rate,
    median_seconds_to_convert,
    p90_seconds_to_convert
from rated
order by breakdown, step_index
