with

source as (

    select * from {{ source('landing', 'enrolment_rows') }}

),

renamed as (

    select
        delivery_id || '|' || cast(row_number as varchar) as enrolment_row_id,
        delivery_id,
        project_id,
        kommunkod,
        reporting_month,
        row_number,
        person_id,
        is_anonymous,
        -- blank optional codes are unknown: null, never ''
        nullif(trim(kon), '') as kon,
        age_at_start,
        startdatum,
        slutdatum,
        nullif(trim(avslutsorsak), '') as avslutsorsak,
        fas,
        nullif(trim(fodelseregion), '') as fodelseregion,
        nullif(trim(funktionsnedsattning), '') as funktionsnedsattning,
        nullif(trim(utbildningsniva), '') as utbildningsniva,
        nullif(trim(sysselsattning_start), '') as sysselsattning_start,
        nullif(trim(forsorjningsstod_start), '') as forsorjningsstod_start,
        nullif(trim(forsorjningsstod_slut), '') as forsorjningsstod_slut,
        nullif(trim(uppfoljning_6m), '') as uppfoljning_6m,
        coalesce(warnings, '') as warnings

    from source

)

select * from renamed
