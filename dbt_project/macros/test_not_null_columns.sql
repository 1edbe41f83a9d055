-- One test per model for every column that must never be null, instead of one not_null test
-- per column: the same rule, a third of the nodes (each test node costs dbt and Dagster a
-- fixed overhead per run, which dominated the build of the small marts). A failing row says
-- which columns were null.
--
-- built_at: as in unique_combination_of_columns, only the rows of the latest build are checked
-- (an incremental table's earlier rows were checked by the builds that wrote them).
{% test not_null_columns(model, columns, built_at=none) %}

select
    {% for column in columns %}
        {{ column }} is null as {{ column }}_is_null,
    {% endfor %}
    *
from {{ model }}
where
    (
        {% for column in columns %}
            {{ column }} is null{% if not loop.last %} or{% endif %}
        {% endfor %}
    )
    {% if built_at %}
        and {{ built_at }} = (select max({{ built_at }}) from {{ model }})
    {% endif %}

{% endtest %}
