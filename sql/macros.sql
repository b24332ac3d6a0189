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
