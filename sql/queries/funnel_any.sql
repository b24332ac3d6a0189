-- Part 2, order 'any': the steps in any order; a unit reaches level n when n distinct steps
-- happen within $window of one of its step events. There is no time to convert.
any_levels as (
    select unit,
           count(distinct step_index) over (
               partition by unit order by second range between current row and $window following)
               as level
    from entries
),

unit_steps as (
    select l.unit, s.step_index, cast(null as bigint) as seconds_to_convert
    from (select unit, max(level) as level from any_levels group by unit) l
    join steps s on s.step_index < l.level
),
