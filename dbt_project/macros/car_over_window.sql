{#- Cumulative abnormal return over trading days [first, last] relative to the event day, inside
    a group by contract: the sum when all (last - first + 1) days have an abnormal return, else
    NULL. Expects abnormal_returns.trading_day_number and event_days.event_day_number. -#}
{% macro car_over_window(first, last) -%}
    case
        when
            count(abnormal_returns.abnormal_return) filter (
                where abnormal_returns.trading_day_number - event_days.event_day_number
                between {{ first }} and {{ last }}
            ) = {{ last - first + 1 }}
            then sum(abnormal_returns.abnormal_return) filter (
                where abnormal_returns.trading_day_number - event_days.event_day_number
                between {{ first }} and {{ last }}
            )
    end
{%- endmacro %}
