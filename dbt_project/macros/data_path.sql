{#- A file or folder of the data dir, as orchestration/paths.py (DataPaths.dbt_environment)
    hands it to dbt in HASHPIVOT_PATH_<NAME>: the layout is declared there only. dbt stops
    with "Env var required but not provided" when it runs without that environment. -#}
{% macro data_path(name) -%}
    {{ return(env_var('HASHPIVOT_PATH_' ~ name | upper)) }}
{%- endmacro %}
