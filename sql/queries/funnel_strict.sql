-- Part 2, order 'strict': step k must be the very next event of the unit after step k-1 (no
-- other event in between), the chain within $window of its first step. Every step-1 event
-- starts a chain; a unit's level is its longest chain.
strict_chain(unit, anchor_second, level, event_pos, second) as (
    select unit, second, 0, event_pos, second from entries where step_index = 0
    union all
    select c.unit, c.anchor_second, c.level + 1, e.event_pos, e.second
    from strict_chain c
    join entries e
      on e.unit = c.unit and e.event_pos = c.event_pos + 1 and e.step_index = c.level + 1
     and e.second <= c.anchor_second + $window
    where c.level + 1 < $step_count
),

unit_steps as (
    -- time to convert: the fastest chain that reached the step
    select unit, level as step_index, min(second - anchor_second) as seconds_to_convert
    from strict_chain
    group by all
),
