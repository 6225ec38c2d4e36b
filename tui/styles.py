"""The app's stylesheet, kept in Python so that it ships with the package (no data file to install)."""

CSS = """
/* interviewer TUI. Laid out for 80x24 and up: fixed rows at the top and bottom, the rest 1fr. */

.section-title {
    width: 100%;
    text-style: bold;
    color: $accent;
    padding: 0 1;
}

.dim {
    color: $text-muted;
}

/* ---------------------------------------------------------------- home */
#home-body {
    height: 1fr;
}

#home-left {
    width: 3fr;
    min-width: 40;
}

#home-right {
    width: 2fr;
    min-width: 30;
}

#profiles {
    height: auto;
    max-height: 14;
}

#judge-row {
    height: 1;
    margin: 1 0 0 0;
}

#judge-label {
    width: 8;
    padding: 0 1;
}

#judge {
    width: 1fr;
}

#interrupted {
    height: auto;
    max-height: 8;
}

#overview {
    height: auto;
    padding: 1 1;
}

#error-box {
    padding: 1 2;
}

#error-message {
    color: $error;
    text-style: bold;
    margin: 1 0;
}

/* ---------------------------------------------------------------- interview */
#question-bar {
    height: 1;
    padding: 0 1;
    background: $boost;
}

#question-meta {
    width: 1fr;
    height: 1;
}

#countdown {
    width: auto;
    min-width: 9;
    height: 1;
    text-style: bold;
    content-align: right middle;
}

#countdown.-warning {
    background: $warning;
    color: $text;
}

#countdown.-expired {
    background: $error;
}

#question-box {
    height: auto;
    max-height: 8;
    padding: 0 1;
}

#interviewer-line {
    color: $text-muted;
}

#hint {
    height: auto;
    max-height: 3;
    padding: 0 1;
}

#answer {
    height: 1fr;
    min-height: 5;
}

#status {
    height: 1;
    padding: 0 1;
}

/* ---------------------------------------------------------------- summary, review, drill, stats */
#summary-body, #review-body, #drill-body, #stats-body {
    height: 1fr;
}

#summary-head, #drill-head, #stats-head {
    height: auto;
    padding: 0 1;
}

#turns, #sessions, #plan {
    height: 1fr;
}

#summary-foot, #review-hint {
    height: auto;
    max-height: 5;
    padding: 0 1;
}

#review-filters, #drill-filters {
    height: 1;
    margin: 0 0 1 0;
}

.filter-label {
    width: auto;
    padding: 0 1;
}

#review-filters Select, #drill-filters Select {
    width: 1fr;
}

#count {
    max-width: 12;
}

#since {
    width: 14;
}

#charts {
    height: 1fr;
    min-height: 8;
}

#mastery {
    height: 1fr;
    min-height: 4;
}

/* ---------------------------------------------------------------- grade */
#grade-scroll {
    height: 1fr;
    padding: 0 1;
}

/* ---------------------------------------------------------------- settings */
#settings-form {
    padding: 0 1;
}

.field {
    height: 1;
    margin: 0 0 1 0;
}

.field-label {
    width: 26;
}

.field Input, .field Select {
    width: 1fr;
}

#settings-buttons {
    height: auto;
    margin: 1 0 0 0;
}

#settings-buttons Button {
    margin: 0 1 0 0;
}

#key-status, #result {
    height: auto;
    padding: 0 0;
}

/* ---------------------------------------------------------------- dialogs */
ConfirmScreen, PathScreen {
    align: center middle;
}

.dialog {
    width: 70;
    max-width: 90%;
    height: auto;
    padding: 1 2;
    border: thick $accent;
    background: $surface;
}

.dialog-question {
    width: 100%;
    margin: 0 0 1 0;
}

.dialog-buttons {
    height: auto;
    align: center middle;
}

.dialog-buttons Button {
    margin: 0 1;
}

#profile-detail {
    height: auto;
    max-height: 4;
    padding: 0 1;
}
"""
