-- One row per step of every funnel defined in Vemetric, its filter taken apart into the
-- columns the funnel models match on (specs/vemetric-api.md §7.4, §8). Absent conditions are
-- null (no condition). A blank step name is shown as "Step N", as the API does.
with funnels as (
    select *
    from raw_vemetric.funnels
    qualify row_number() over (partition by id order by synced_at desc) = 1
),

steps as (
    select
        f.id                          as funnel_id,
        f.name                        as funnel_name,
        i.step_index,
        cast(json_array_length(f.steps) as bigint) as step_count,
        f.steps -> i.step_index       as step
    from funnels f
    cross join lateral range(cast(json_array_length(f.steps) as bigint)) as i(step_index)
)

select
    funnel_id,
    funnel_name,
    step_index,                                        -- 0-based
    step_count,
    step ->> '$.id'                                    as step_id,
    coalesce(nullif(trim(step ->> '$.name'), ''), 'Step ' || (step_index + 1)) as step_name,
    step ->> '$.filter.type'                           as step_type,   -- 'page' | 'event'
    step ->> '$.filter.origin.operator'                as origin_op,
    step ->> '$.filter.origin.value'                   as origin_value,
    step ->> '$.filter.path.operator'                  as path_op,
    step ->> '$.filter.path.value'                     as path_value,
    step ->> '$.filter.hash.operator'                  as hash_op,
    -- Vemetric prepends '#' to a hash condition's value; stored hashes carry it already.
    case when coalesce(step ->> '$.filter.hash.value', '') <> ''
         then '#' || (step ->> '$.filter.hash.value')
         else step ->> '$.filter.hash.value' end       as hash_value,
    step ->> '$.filter.name.operator'                  as name_op,
    step ->> '$.filter.name.value'                     as name_value,
    coalesce(step -> '$.filter.properties', '[]')      as properties   -- JSON array
from steps
