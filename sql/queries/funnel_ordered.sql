-- Part 2, order 'ordered' (Vemetric's, ClickHouse windowFunnel default mode): the definition
-- marts.funnel_steps uses too, fh_funnel_reached in sql/macros.sql, here per unit.
ordered_hits as (
    select 0 as part, unit, $step_count as step_count, fh_hit(second, step_index) as hit
    from entries
),

unit_steps as (
    -- a unit reaches a step at the first hit that carries a chain there
    select unit, step_index, seconds_to_convert
    from fh_funnel_reached('ordered_hits', $window)
),
