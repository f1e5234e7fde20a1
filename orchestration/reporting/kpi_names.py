"""One Swedish name and definition per measure, breakdown and group: what every report, chart,
workbook and check shows a reader."""

KPI_LABELS = {
    "participants": "Deltagare",
    "participants_pace_target": "Mål för deltagare hittills (jämn takt)",
    "participants_target_share": "Andel av deltagarmålet",
    "reach": "Andel av målgruppen (räckvidd)",
    "new_participants": "Nya deltagare under månaden",
    "active_participants": "Aktiva deltagare vid månadens slut",
    "exited": "Avslutade deltagare",
    "moved_to_activity": "Avslutade till arbete, studier eller praktik",
    "activity_share": "Andel till aktivitet av alla deltagare",
    "exit_activity_share": "Andel till aktivitet av avslutade",
    "median_days_to_activity": "Mediantid till aktivitet (dagar)",
    "outcome_6m_activity_share": "Andel i aktivitet sex månader efter avslut",
    "not_known_share": "Andel okända för andra myndigheter",
    "income_support_start_share": "Andel med försörjningsstöd vid start",
    "income_support_end_share": "Andel med försörjningsstöd vid avslut",
    "from_other_project_share": "Andel som deltagit i ett annat projekt tidigare",
    "phase_hitta": "Fas Hitta",
    "phase_mota": "Fas Möta",
    "phase_aktivera": "Fas Aktivera",
    "phase_matcha": "Fas Matcha",
}
KPI_DEFINITIONS = {
    "participants": "Unika personer med en inskrivning (ej felregistrering) som startat senast periodens sista dag.",
    "participants_pace_target": "Deltagarmålet fördelat jämnt över projektets månader: målet × månader hittills / alla månader.",
    "participants_target_share": "Deltagare / projektets deltagarmål (hela projektet).",
    "reach": "Deltagare / målgruppens storlek (hela projektet).",
    "new_participants": "Personer vars första inskrivning startade under månaden.",
    "active_participants": "Personer med en pågående inskrivning vid periodens slut.",
    "exited": "Personer med en avslutad inskrivning och ingen pågående vid periodens slut.",
    "moved_to_activity": "Personer med en inskrivning avslutad med en avslutsorsak som projektet räknar som aktivitet.",
    "activity_share": "Avslutade till aktivitet / deltagare.",
    "exit_activity_share": "Av de avslutade: andelen som avslutats till aktivitet.",
    "median_days_to_activity": "Av dem som gått till aktivitet: dagar från första start till första avslut till aktivitet, medianen.",
    "outcome_6m_activity_share": "Senaste inskrivning avslutad minst sex månader före perioden: andel i aktivitet vid uppföljningen, av dem som nåtts.",
    "not_known_share": "Av deltagare med känd sysselsättning och försörjningsstöd vid första start: andel varken inskrivna på Arbetsförmedlingen eller med försörjningsstöd.",
    "income_support_start_share": "Av avslutade med känt försörjningsstöd vid start och avslut (senaste avslutade inskrivning): andel med stöd vid start.",
    "income_support_end_share": "Samma personer: andel med försörjningsstöd vid avslut.",
    "from_other_project_share": "Andel av deltagarna som deltagit i ett annat projekt i systemet innan de började här.",
    "phase_hitta": "Personer med pågående inskrivning i fas Hitta vid månadens slut (månadens egen leverans).",
    "phase_mota": "Som ovan, fas Möta.",
    "phase_aktivera": "Som ovan, fas Aktivera.",
    "phase_matcha": "Som ovan, fas Matcha.",
}
BREAKDOWN_LABELS = {
    "total": "Totalt",
    "kon": "Kön",
    "alder": "Ålder vid första start",
    "fodelseregion": "Födelseregion",
    "funktionsnedsattning": "Funktionsnedsättning",
    "utbildningsniva": "Utbildningsnivå",
    "forsorjningsstod_start": "Försörjningsstöd vid start",
}
GROUP_LABELS = {
    "T": "Totalt", "K": "Kvinna", "M": "Man", "X": "Annat/ickebinär", "OKAND": "Okänt",
    "UTANFOR": "Utanför projektets åldrar", "SVERIGE": "Sverige", "EU_EES": "EU/EES",
    "TREDJELAND": "Tredje land", "JA": "Ja", "NEJ": "Nej", "ISCED_0_2": "Förgymnasial (ISCED 0–2)",
    "ISCED_3_4": "Gymnasial (ISCED 3–4)", "ISCED_5_8": "Eftergymnasial (ISCED 5–8)",
}
# Not a KPI of its own (so not in KPI_LABELS, whose every entry the workbook defines): the
# participants so far held against participants_pace_target, in reports and checks.
PARTICIPANTS_ON_PACE_LABEL = "Deltagare mot målet hittills (jämn takt)"
