-- An analyst's funnel (pipelines/funnels.py), part 1 of 3: the events of days $first..$last,
-- the counting unit ($by: 'user' or 'session'), and the steps (fh_funnel_steps, a frame the
-- caller registers) each event matches, with Vemetric's matching rules (specs §8).
with recursive steps as (
    select * from fh_funnel_steps
),

step_properties as (
    select s.step_index,
           p ->> '$.property' as property, p ->> '$.operator' as op, p ->> '$.value' as expected
    from steps s, unnest(s.properties -> '$[*]') as t(p)
),

events as (
    select e.*,
           case when $by = 'session' then e.session_id else e.user_id end as unit,
           cast(epoch(e.occurred_at) as bigint)                            as second
    from marts.events e
    where e.day between $first and $last
),

shapes as (
    select distinct is_pageview, origin, path, hash, event_name, properties from events
),

matches as (
    select sh.*, st.step_index
    from shapes sh
    join steps st on sh.is_pageview = (st.step_type = 'page')
    where case
        when st.step_type = 'page' then
            fh_string_match(sh.origin, st.origin_op, st.origin_value)
            and fh_string_match(sh.path, st.path_op, st.path_value)
            and fh_string_match(sh.hash, st.hash_op, st.hash_value)
        when coalesce(st.name_op, 'any') = 'any' then true
        else fh_string_match(sh.event_name, st.name_op, st.name_value)
             and not exists (
                 select 1 from step_properties p
                 where p.step_index = st.step_index
                   and not fh_string_match(fh_json_string(sh.properties, p.property), p.op, p.expected))
    end
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
