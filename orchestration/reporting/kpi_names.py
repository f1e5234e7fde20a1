"""One Swedish name and definition per measure, breakdown and group: what every report, chart,
workbook and check shows a reader. A measure's name and definition are its row of the KPI
catalogue; the breakdowns' and groups' are here."""

from orchestration.lib import kpis

# The KPIs' names and definitions are the KPI catalogue's (lib/kpis.py), in its display order.
KPI_LABELS = {kpi.id: kpi.label for kpi in kpis.catalogue().values()}
KPI_DEFINITIONS = {kpi.id: kpi.definition for kpi in kpis.catalogue().values()}
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
