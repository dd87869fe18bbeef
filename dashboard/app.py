"""Recscope dashboard entry point: `streamlit run dashboard/app.py`.

Streamlit runs this file as every session's script, which draws the frame (dashboard/frame.py) and the
chosen page. `streamlit run` also imports it once at launch, finds the st.App `app` and serves it; its
lifespan prepares the first screen (torch, the sample's model) before a browser asks (dashboard/launch.py).
Only the launch hook is imported on that path, so no page cache is declared before the runtime exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

if __name__ == "__main__":  # a session's script run (Streamlit runs the script as __main__)
    from dashboard.components import timed
    from dashboard.frame import main

    with timed("app"):
        main()
else:  # imported by `streamlit run` at launch, which then serves this st.App
    from dashboard.launch import lifespan

    app = st.App(__file__, lifespan=lifespan)
