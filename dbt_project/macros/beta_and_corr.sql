{#- Beta and correlation of returns y against benchmark returns x over a group's rows, on the
    rows where both are known: beta = sample covariance / sample variance of x. NULL with fewer
    than three pairs, or when x does not vary; the correlation is NULL too when y does not vary
    (a correlation of a constant series is 0/0: NaN, which must never be published). Emits two
    columns: beta_<name>, corr_<name>. -#}
{% macro beta_and_corr(y, x, name) -%}
    {%- set x_on_pairs = 'case when ' ~ y ~ ' is not null then ' ~ x ~ ' end' -%}
    {%- set y_on_pairs = 'case when ' ~ x ~ ' is not null then ' ~ y ~ ' end' -%}
    {%- set beta -%}
        covar_samp({{ y }}, {{ x }}) / nullif(var_samp({{ x_on_pairs }}), 0)
    {%- endset -%}
    case
        when count({{ y }} + {{ x }}) >= 3 then {{ round_in_unit_tests(beta) }}
    end as beta_{{ name }},
    case
        when
            count({{ y }} + {{ x }}) >= 3
            and var_samp({{ x_on_pairs }}) > 0
            and var_samp({{ y_on_pairs }}) > 0
            then {{ round_in_unit_tests('corr(' ~ y ~ ', ' ~ x ~ ')') }}
    end as corr_{{ name }}
{%- endmacro %}
