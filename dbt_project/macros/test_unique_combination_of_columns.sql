{#- A key spanning several columns is unique. (dbt_utils has this test, but dbt packages cannot
    be installed offline, and this is the only one we need.)

    built_at: a column holding when the build that wrote each row started (an incremental
    table). Then only the keys of the rows of the latest build (the one this test follows in
    `dbt build`) are checked, against the whole table: the rows written before were unique when
    their build checked them, so a new day of a market-wide table costs a day of keys, not its
    whole history. -#}
{% test unique_combination_of_columns(model, columns, built_at=none) %}
{%- set key = columns | join(', ') %}
select {{ key }}, count(*) as occurrences
from {{ model }} as all_rows
{%- if built_at %}
    where exists (
        select 1
        from {{ model }} as latest_build
        where
            latest_build.{{ built_at }} = (select max({{ built_at }}) from {{ model }})
            {%- for column in columns %}
                and latest_build.{{ column }} = all_rows.{{ column }}
            {%- endfor %}
    )
{%- endif %}
group by {{ key }}
having count(*) > 1
{% endtest %}
