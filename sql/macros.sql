-- Helpers every model and query may call. The runner creates them as TEMP macros on each
-- connection it opens (so they work on read-only snapshots too); nothing here reads tables.

-- One of Vemetric's string conditions (specs/vemetric-api.md §5.2): eq/notEq exact and
-- case-sensitive; contains/notContains/startsWith/endsWith are ClickHouse ILIKE, where `%` and
-- `_` in the value stay wildcards (Vemetric does not escape them) and `\` escapes. A missing
-- operator or `any` is no condition at all.
create or replace temp macro fh_string_match(val, op, expected) as
    case
        when op is null or op = 'any' then true
        when op = 'eq' then val = expected
        when op = 'notEq' then val <> expected
        when op = 'contains' then ilike_escape(val, '%' || expected || '%', '\')
        when op = 'notContains' then not ilike_escape(val, '%' || expected || '%', '\')
        when op = 'startsWith' then ilike_escape(val, expected || '%', '\')
        when op = 'endsWith' then ilike_escape(val, '%' || expected, '\')
        else error('unknown string operator: ' || op)
    end;

-- ClickHouse JSONExtractString(json, key): the value when it is a JSON string, else ''.
-- The key goes in as a JSON pointer, so dots, quotes or slashes in it are taken literally.
create or replace temp macro fh_json_string(doc, key) as
    coalesce(
        case when json_type(doc, '/' || replace(replace(key, '~', '~0'), '/', '~1')) = 'VARCHAR'
             then json_extract_string(doc, '/' || replace(replace(key, '~', '~0'), '/', '~1'))
        end,
        '');

-- A group value as the API shows it (§7.2): NUL bytes removed, trimmed, and an empty value
-- replaced by the grouping's label.
create or replace temp macro fh_label(token, val) as
    coalesce(
        nullif(trim(replace(coalesce(val, ''), chr(0), '')), ''),
        case token when 'referrer' then 'Direct / None'
                   when 'referrerType' then 'unknown'
                   when 'deviceType' then 'unknown'
                   else 'Unknown' end);

-- The UTC day of a timestamp with time zone, from its epoch: timezone('UTC', ts) and
-- cast(ts as date) go through ICU's calendar row by row, ~10x slower (a second per few million
-- rows on these machines, most of a new day's sessions build).
create or replace temp macro fh_utc_day(ts) as cast(make_timestamp(epoch_us(ts)) as date);

-- Start of the interval bucket holding a UTC timestamp, as Vemetric's toStartOf… functions:
-- weeks start on Sunday (ClickHouse's default mode), months on the 1st.
create or replace temp macro fh_bucket(ts, unit) as
    case unit
        when 'hourly' then date_trunc('hour', timezone('UTC', ts))
        when 'daily' then date_trunc('day', timezone('UTC', ts))
        when 'weekly' then date_trunc('week', timezone('UTC', ts) + interval 1 day) - interval 1 day
        when 'monthly' then date_trunc('month', timezone('UTC', ts))
        else error('unknown interval: ' || unit)
    end;

-- Whether an event matches a funnel step, with Vemetric's rules (specs/vemetric-api.md §8).
-- `shape` is a row with the event's is_pageview, origin, path, hash, event_name and properties;
-- `step` a row shaped like stg_vemetric.funnel_steps (the mart's steps and an analyst's alike).
-- An event step without a name condition (or with `any`) matches every custom event and
-- ignores its properties (Vemetric's quirk); otherwise every property condition must hold.
create or replace temp macro fh_step_matches(shape, step) as
    shape.is_pageview = (step.step_type = 'page') and case
        when step.step_type = 'page' then
            fh_string_match(shape.origin, step.origin_op, step.origin_value)
            and fh_string_match(shape.path, step.path_op, step.path_value)
            and fh_string_match(shape.hash, step.hash_op, step.hash_value)
        when coalesce(step.name_op, 'any') = 'any' then true
        else fh_string_match(shape.event_name, step.name_op, step.name_value)
             and coalesce(list_bool_and(list_transform(
                     json_extract(coalesce(step.properties, '[]'), '$[*]'),
                     lambda p: fh_string_match(fh_json_string(shape.properties, p ->> '$.property'),
                                               p ->> '$.operator', p ->> '$.value'))), true)
    end;

-- Funnels (ClickHouse's windowFunnel in its default mode, Vemetric's, specs/vemetric-api.md §8)
-- are computed once per unit (a user in a range, or an analyst's user or session) from the
-- unit's step hits, by marts.funnel_steps and by the analysts' queries alike: one definition,
-- so a fix lands once.
--
-- A hit is one event matching one step, as one sortable integer: time order first, then step
-- order, so an event matching steps 1 and 2 in one second advances the chain by itself.
create or replace temp macro fh_hit(second, step_index) as
    case when step_index between 0 and 1023 then second * 1024 + step_index
         else error('a funnel has at most 1024 steps, got step index ' || step_index) end;

-- fh_funnel_reached('hits', window_seconds): every step each unit reached, from the unit's
-- step hits. `hits` names a table or CTE of the caller with columns part (an integer: which
-- funnel and range, or 0), unit (a user or session), step_count and hit (fh_hit). One row per
-- (part, unit, step reached), with the seconds from the chain's first step to that step when
-- the unit first reached it.
--
-- A chain at level k is a step-k hit and the start (first step's second) of the latest chain
-- that reached step k-1 before it, when the hit comes within the window of that start: level
-- 0 is every first-step hit (starting a chain); level k+1 puts level k's chains and the step
-- k+1 hits in order, and each hit takes the latest start before it. Starts never decrease
-- along the hits, so "latest" is a running max. Each level sorts only two steps' hits, and
-- identical hits get equal values: they change nothing.
create or replace temp macro fh_funnel_reached(hits, window_seconds) as table
with recursive chain(part, unit, step_count, level, hit, chain_start) as (
    select part, unit, step_count, 0, hit, hit // 1024
    from query_table(hits)
    where hit % 1024 = 0
    union all
    select part, unit, step_count, level, hit, chain_start
    from (
        select part, unit, step_count, level, hit, is_chain,
               max(chain_start) over (partition by part, unit order by hit
                                      rows between unbounded preceding and current row)
                   as chain_start
        from (
            select part, unit, step_count, level + 1 as level, hit, chain_start, true as is_chain
            from chain
            where level + 1 < step_count
            union all
            select part, unit, step_count, next.level, hit, null, false
            from query_table(hits), (select max(level) + 1 as level from chain) next
            where hit % 1024 = next.level and step_count > next.level
        )
    )
    where not is_chain and hit // 1024 <= chain_start + window_seconds
)
select part, unit, level as step_index, arg_min(hit // 1024 - chain_start, hit) as seconds_to_convert
from chain
group by part, unit, level;
