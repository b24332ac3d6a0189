-- An analyst's funnel (pipelines/funnels.py), part 1 of 3: the events of days $first..$last,
-- the counting unit ($by: 'user' or 'session'), and the steps (fh_funnel_steps, a frame the
-- caller registers) each event matches, with Vemetric's matching rules (specs §8).
with recursive steps as (
    select * from fh_funnel_steps
),

events as (
    select e.*,
           case when $by = 'session' then e.session_id else e.user_id end as unit,
           cast(epoch(e.occurred_at) as bigint)                            as second
    from marts.events e
    where e.day between $first and $last
      and e.source = coalesce($source, e.source)      -- null: every source
),

shapes as (
    select distinct is_pageview, origin, path, hash, event_name, properties from events
),

matches as (
    -- Vemetric's matching rules (specs §8), as marts.funnel_steps: fh_step_matches
    select sh.*, st.step_index
    from shapes sh
    join steps st on fh_step_matches(sh, st)
),

positioned as (
    -- every event of the unit in time order (strict order needs the events between steps)
    select *, row_number() over (partition by unit order by second, event_id) as event_pos
    from events
),

entries as (
    select p.unit, p.event_pos, p.second, m.step_index
    from positioned p
    join matches m using (is_pageview, origin, path, hash, event_name, properties)
),
