{#
    Every rule a model's rows keep, in one test: one dbt node, and one asset check on a mart.
    dbt spends about as long on a node's bookkeeping as DuckDB on its query, so a test per rule
    (145 of them) cost every run ~5 s (BENCHMARKS.md). A failure is a row per broken rule: the
    rule, its column(s), the offending value and the number of rows with it.

      not_null:         columns that are never empty
      unique:           keys: a column (empty values aside), or a list of columns that together
                        identify a row
      accepted_values:  column: the values it may take (empty passes)
      patterns:         column: a regular expression every value matches in full (DuckDB
                        regexp_full_match; empty passes)
      between:          column: [min, max], inclusive (empty passes)
      references:       - columns, to (a ref), to_columns: every combination of the columns
                        without an empty value exists as the same combination in `to`
      conditional:      - where, and any rules above: rules that hold on the rows `where` selects
#}
{% test rules(model, not_null=[], unique=[], accepted_values={}, patterns={}, between={}, references=[], conditional=[]) %}

select
    cast(null as varchar) as rule,
    cast(null as varchar) as column_names,
    cast(null as varchar) as value,
    cast(null as bigint) as row_count
where false
{{ rule_checks(model, '', not_null, unique, accepted_values, patterns, between, references, conditional) }}

{% endtest %}
