"""CSS shared by the customer chat and the agent sidebar (passed to Gradio when the apps are mounted)."""

CSS = """
.sources details.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 6px 10px; margin: 6px 0; background: var(--background-fill-secondary); }
.sources summary { cursor: pointer; font-weight: 600; }
.sources .source-num { color: var(--color-accent); margin-right: 4px; }
.sources .source-doc { display: block; font-weight: 400; font-size: 0.85em; opacity: 0.75; }
.sources .clause-text { white-space: pre-wrap; max-height: 320px; overflow-y: auto; margin-top: 6px;
  font-size: 0.92em; line-height: 1.45; }
.sources mark, .calc-result mark { background: #ffe58f; color: #1f1f1f; padding: 0 1px; border-radius: 2px; }
details.answer-sources { margin-top: 8px; border-top: 1px solid var(--border-color-primary); padding-top: 4px; }
details.answer-sources summary { cursor: pointer; font-size: 0.9em; opacity: 0.85; }
.calc-result { font-size: 0.92em; }
.calc-result .calc-headline { font-size: 1.15em; margin: 4px 0; }
.calc-result .calc-section, .agent-section { font-weight: 600; margin-top: 6px; }
/* Two columns at any width: the step and its value; the step's formula on its own row across both. */
.calc-result table.calc-steps { width: 100%; border-collapse: collapse; margin: 4px 0; table-layout: auto; }
.calc-result table.calc-steps td { border-top: 1px solid var(--border-color-primary); padding: 3px 4px;
  vertical-align: top; }
.calc-result table.calc-steps td.value { white-space: nowrap; text-align: right; font-weight: 600; }
.calc-result table.calc-steps tr.formula-row td { border-top: none; padding-top: 0; }
.calc-result table.calc-steps .formula { font-family: var(--font-mono, monospace); font-size: 0.85em;
  opacity: 0.8; overflow-wrap: break-word; }
.tool-inputs td { padding: 1px 6px 1px 0; font-size: 0.85em; vertical-align: top; }
.calc-error { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.status-badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.8em;
  font-weight: 600; background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.status-badge[data-status="answered"] { background: #dcfce7; color: #14532d; }
.status-badge[data-status="clarify"] { background: #e0f2fe; color: #0c4a6e; }
.status-badge[data-status="refused"], .status-badge[data-status="not_found"] { background: #fee2e2; color: #7f1d1d; }
/* Gradio's footer speaks the browser's language, not the interface's, and links to its own API page
   (the product's API is /v1): customers and agents do not need it. */
footer { display: none !important; }
#agent-sidebar { max-width: 440px !important; margin: 0 auto; }
#agent-sidebar .gr-form, #agent-sidebar .block { font-size: 0.95em; }
"""
