{#- Layers live in schemas named after them (seeds, staging, intermediate, marts), not in
    dbt's default <target>_<custom> schemas: BI users query marts.<name>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
