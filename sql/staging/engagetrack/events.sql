-- One row per event of the visitors' timelines (raw_engagetrack.timeline_events), renamed to
-- the conformed names. event_id is the API's own id, so an event is one row (occurrences 1).
-- A pageview has no name; any other event is named by its `name`, or by its type (click,
-- purchase, ...) when it has none. EngageTrack sends a path but no origin or hash: the origin
-- of a pageview is the site's domain, hashes are ''. Times are UTC with milliseconds, as the API
-- sends event times (two events in one second keep their order); `day` is the UTC day (the raw
-- partition). The per-event fields Vemetric lacks (referrer, UTM,
-- country, device, revenue, ...) stay here for EngageTrack's own reconciliation.
with source as (
    select * from raw_engagetrack.timeline_events
),

deduplicated as (
    -- A day is replaced as a whole when re-synced; should two landings of a day ever overlap,
    -- the later one wins. The day is part of the partition so that a filter on `day` (a new
    -- day's models) reaches the raw scan through this window instead of numbering every event.
    select *
    from source
    qualify row_number() over (partition by site_id, event_id, partition_date
                               order by synced_at desc) = 1
),

sites as (
    select id as site_id, domain
    from raw_engagetrack.sites
    qualify row_number() over (partition by id order by synced_at desc) = 1
)

select
    e.site_id,
    e.event_id,
    e.visitor_id                                      as user_id,
    e.session_id,
    case when e.type = 'pageview' then e.name
         else coalesce(nullif(e.name, ''), e.type) end as event_name,
    e.type = 'pageview'                               as is_pageview,
    e.type                                            as event_type,
    e.timestamp                                       as occurred_at,
    e.partition_date                                  as day,
    case when e.type = 'pageview' then coalesce(s.domain, '') else '' end as origin,
    e.path,
    ''                                                as hash,
    e.properties,                                     -- canonical JSON text
    1                                                 as occurrences,
    e.title,
    e.referrer,
    e.referrer_source,
    e.channel,
    e.utm_source,
    e.utm_medium,
    e.utm_campaign,
    e.country,
    e.city,
    e.browser,
    e.os,
    e.device,
    e.revenue,
    e.currency,
    e.name,                                           -- as sent ('' for most pageviews)
    e.synced_at
from deduplicated e
left join sites s using (site_id)
