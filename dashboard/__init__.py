"""Recscope's Streamlit dashboard: `streamlit run dashboard/app.py`. Nothing here runs on import."""
