-- Rows whose date is not the last day of a calendar quarter (Mar 31, Jun 30, Sep 30, Dec 31).
-- Capex of companies with other fiscal calendars (Oracle: quarters end Aug, Nov, Feb, May) is
-- mapped to the calendar quarter its fiscal quarter ends in, so quarters line up across
-- companies in the marts.
{% test calendar_quarter_end(model, column_name) %}

    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            month({{ column_name }}) not in (3, 6, 9, 12)
            or {{ column_name }} <> last_day({{ column_name }})
        )

{% endtest %}
