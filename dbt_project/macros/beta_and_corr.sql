{#- Beta and correlation of returns y against benchmark returns x over a group's rows, on the
    rows where both are known: beta = sample covariance / sample variance of x. NULL with fewer
    than three pairs, or when x does not vary. Emits two columns: beta_<name>, corr_<name>. -#}
{% macro beta_and_corr(y, x, name) -%}
    {%- set beta -%}
        covar_samp({{ y }}, {{ x }})
        / nullif(var_samp(case when {{ y }} is not null then {{ x }} end), 0)
    {%- endset -%}
    case
        when count({{ y }} + {{ x }}) >= 3 then {{ round_in_unit_tests(beta) }}
    end as beta_{{ name }},
    case
        when count({{ y }} + {{ x }}) >= 3 then {{ round_in_unit_tests('corr(' ~ y ~ ', ' ~ x ~ ')') }}
    end as corr_{{ name }}
{%- endmacro %}
