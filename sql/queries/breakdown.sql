-- Vemetric's five metrics over [$start, $end) for one grouping, rebuilt from the marts with the
-- API's rules (specs/vemetric-api.md §7.2), optionally per time bucket ($over). Parameters:
--   $kind      'none' | 'interval' | 'field' | 'property'
--   $token     the field for 'field': page:origin, page:path, event:name, user:country, user:city
--   $property  the customData key for 'property' (string values only, as JSONExtractString)
--   $interval  bucket of 'interval' (hourly | daily | weekly | monthly)
--   $over      'none', or a bucket to split every group by (time series of a breakdown)
--   $first_day, $last_day  the UTC days holding [$start, $end), for partition pruning
with events as (
    select
        e.*,
        case when $over = 'none' then ''
             else strftime(fh_bucket(e.occurred_at, $over), '%Y-%m-%dT%H:%M:%SZ') end as bucket,
        case $kind
            when 'none' then ''
            when 'interval' then strftime(fh_bucket(e.occurred_at, $interval), '%Y-%m-%dT%H:%M:%SZ')
            when 'property' then fh_json_string(e.properties, $property)
            else case $token
                when 'page:origin' then e.origin
                when 'page:path' then e.path
                when 'event:name' then e.event_name
                when 'user:country' then coalesce(u.country, '')
                when 'user:city' then coalesce(u.city, '')
                else error('unknown breakdown field: ' || $token) end
        end as raw_value
    from marts.events e
    left join marts.users u using (user_id)
    where e.day between $first_day and $last_day
      and e.occurred_at >= $start and e.occurred_at < $end
),

grouped as (
    -- Page groups count non-empty pageviews only, event groups non-empty custom events only.
    select * from events
    where case
        when $kind = 'property' or $token = 'event:name' then not is_pageview and raw_value <> ''
        when $token in ('page:origin', 'page:path') then is_pageview and raw_value <> ''
        else true end
),

counts as (
    select bucket, raw_value,
           count(distinct user_id)                                      as users,
           cast(coalesce(sum(occurrences) filter (where is_pageview), 0) as bigint)     as pageviews,
           cast(coalesce(sum(occurrences) filter (where not is_pageview), 0) as bigint) as events
    from grouped
    group by all
),

buckets as (
    select bucket, raw_value, session_id, sum(occurrences) as pageviews
    from grouped
    where is_pageview
    group by all
),

bounces as (
    -- (session, group) buckets of pageviews; exactly one pageview is a bounce
    select bucket, raw_value,
           count(*) filter (where pageviews = 1) as bounced_buckets,
           count(*)                              as pageview_buckets
    from buckets
    group by all
),

sessions as (
    -- sessions that started in the range with a duration > 0, keyed like the events
    select
        case when $over = 'none' then ''
             else strftime(fh_bucket(started_at, $over), '%Y-%m-%dT%H:%M:%SZ') end as bucket,
        case $kind
            when 'none' then ''
            when 'interval' then strftime(fh_bucket(started_at, $interval), '%Y-%m-%dT%H:%M:%SZ')
            when 'field' then case $token when 'user:country' then coalesce(country, '')
                                          when 'user:city' then coalesce(city, '') end
        end as raw_value,
        duration_seconds
    from marts.sessions
    where day between $first_day and $last_day
      and started_at >= $start and started_at < $end and duration_seconds > 0
),

durations as (
    select bucket, raw_value,
           cast(sum(duration_seconds) as bigint) as duration_seconds_total,
           count(*)              as duration_sessions
    from sessions
    where raw_value is not null
    group by all
),

rates_apply as (
    select $kind in ('none', 'interval') or $token in ('user:country', 'user:city') as yes
)

select
    c.bucket,
    case when $kind in ('none', 'interval') then c.raw_value
         when $kind = 'property' then fh_label('event:prop', c.raw_value)
         else fh_label(replace($token, 'user:', ''), c.raw_value) end          as value,
    c.users,
    c.pageviews,
    c.events,
    case when r.yes then coalesce(round(100.0 * b.bounced_buckets / b.pageview_buckets, 2), 0) end
                                                                               as bounce_rate,
    case when r.yes then coalesce(round(d.duration_seconds_total / d.duration_sessions, 2), 0) end
                                                                               as visit_duration,
    case when r.yes then coalesce(b.bounced_buckets, 0) end                    as bounced_buckets,
    case when r.yes then coalesce(b.pageview_buckets, 0) end                   as pageview_buckets,
    case when r.yes then coalesce(d.duration_seconds_total, 0) end             as duration_seconds_total,
    case when r.yes then coalesce(d.duration_sessions, 0) end                  as duration_sessions
from counts c
cross join rates_apply r
left join bounces b using (bucket, raw_value)
left join durations d using (bucket, raw_value)
order by c.bucket, value
