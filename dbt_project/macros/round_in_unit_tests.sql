{#- dbt unit tests compare floats exactly, and a volatility or a beta carries irrational digits.
    A unit test sets the var unit_test_round_digits to compare such a metric at that many
    decimals; everywhere else the value passes through untouched, at full precision. -#}
{% macro round_in_unit_tests(expression) -%}
    {%- set digits = var('unit_test_round_digits', none) -%}
    {%- if digits is not none -%}
        round({{ expression }}, {{ digits }})
    {%- else -%}
        {{ expression }}
    {%- endif -%}
{%- endmacro %}
