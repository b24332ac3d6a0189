-- Part 2, order 'ordered' (Vemetric's, ClickHouse windowFunnel default mode): see
-- sql/marts/funnel_steps.sql for the algorithm; here per unit instead of per user and range.
ordered as (
    select unit, second, step_index,
           row_number() over (partition by unit order by second, step_index) as pos
    from (select distinct unit, second, step_index from entries)
),

chain(unit, pos, second, step_index, level, chain_start) as (
    select unit, pos, second, step_index, 0,
           max(case when step_index = 0 then second end) over (
               partition by unit order by pos rows between unbounded preceding and current row)
    from ordered
    union all
    select unit, pos, second, step_index, level + 1,
           max(case when step_index = level + 1 and second <= chain_start + $window
                    then chain_start end) over (
               partition by unit order by pos rows between unbounded preceding and current row)
    from chain
    where level + 1 < $step_count
),

unit_steps as (
    -- a unit reaches a step at the first position its level is set
    select unit, level as step_index, arg_min(second - chain_start, pos) as seconds_to_convert
    from chain
    where chain_start is not null
    group by all
),
