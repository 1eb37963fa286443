"""The insights rules, pure: what each lifecycle event changes in the public projection (`projection`), the
dashboard's figures and date windows (`figures`) and the open-data rendering (`export`)."""

from services.insights.domain.export import PUBLIC_FIELDS, csv_header, csv_line, feature, public_record
from services.insights.domain.figures import (
    AGE_BANDS,
    BAND_EDGES_S,
    InvalidWindow,
    Window,
    hotspots,
    summary,
    window,
)
from services.insights.domain.projection import (
    CaseRow,
    Deflection,
    Erasure,
    MergeChange,
    Recategorisation,
    RoutingChange,
    StatusChange,
    SurveyAnswer,
    UnmergeChange,
    case_row,
    deflection,
    erasure,
    merge_change,
    recategorisation,
    routing_change,
    status_change,
    survey_answer,
    unmerge_change,
)

__all__ = [
    "AGE_BANDS", "BAND_EDGES_S", "PUBLIC_FIELDS", "CaseRow", "Deflection", "Erasure", "InvalidWindow",
    "MergeChange", "Recategorisation", "RoutingChange", "StatusChange", "SurveyAnswer", "UnmergeChange", "Window",
    "case_row", "csv_header", "csv_line", "deflection", "erasure", "feature", "hotspots", "merge_change",
    "public_record", "recategorisation", "routing_change", "status_change", "summary", "survey_answer",
    "unmerge_change", "window",
]
