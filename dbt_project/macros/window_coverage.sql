{#- Weekdays (Monday to Friday) d with start < d <= end, as an integer; 0 when end <= start,
    NULL when either is NULL. Arithmetic, not a calendar table, so it is the same SQL on both
    engines and needs no table of dates: count the weekdays of [epoch, x] for the Monday epoch
    1900-01-01 (n days: 5 per whole week, then min(leftover days, 5), since every week of days
    counted from a Monday ends with its two weekend days) and subtract. Dates before the epoch
    never reach the marts (the quality gate quarantines them). Exchange holidays are weekdays
    here: a window's weekday count is what it should hold, independent of the data. -#}
{% macro weekdays_between(start, end) -%}
    cast({{ _weekdays_since_epoch(end) }} - {{ _weekdays_since_epoch(start) }} as int)
{%- endmacro %}

{% macro _weekdays_since_epoch(day) -%}
    (
        5 * floor(({{ days_between("date '1900-01-01'", day) }} + 1) / 7)
        + least(({{ days_between("date '1900-01-01'", day) }} + 1) % 7, 5)
    )
{%- endmacro %}

{#- The var stale_after_weekdays (dbt_project.yml): more weekdays than this in (a series' last
    price date, the as-of date] make it stale. -#}
{% macro stale_after_weekdays() -%}
    {{ var('stale_after_weekdays') }}
{%- endmacro %}

{#- True when `days` (trading days with a price in a window) reach the var min_window_coverage
    share of `window_days` (the weekdays the window should hold); a windowed figure is NULL
    otherwise. The var renders as a decimal literal, so the product is exact on both engines
    (0.8 * 260 is 208, not 208.00000000000003). -#}
{% macro is_covered(days, window_days) -%}
    ({{ days }} >= {{ var('min_window_coverage') }} * {{ window_days }})
{%- endmacro %}
