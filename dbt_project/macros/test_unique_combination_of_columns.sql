{#- A key spanning several columns is unique. (dbt_utils has this test, but dbt packages cannot
    be installed offline, and this is the only one we need.) -#}
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
