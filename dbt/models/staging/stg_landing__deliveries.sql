with

source as (

    select * from {{ source('landing', 'deliveries') }}

),

renamed as (

    select
        delivery_id,
        coalesce(extract_kind, 'INSKRIVNING') as extract_kind,
        project_id,
        kommunkod,
        reporting_month,
        cast(reporting_month || '-01' as date) as reporting_month_start,
        file_name,
        archive_path,
        sha256,
        size_bytes,
        received_at,
        arrival_seq,
        ingested_at,
        status,
        verdict,
        verdict_reason,
        verdict_message,
        rows_total,
        rows_accepted,
        rows_rejected,
        rows_warned,
        unknown_columns

    from source

)

select * from renamed
