"""The Explore page's script. Streamlit compiles a page script on first use (a test harness on every run),
so the page lives in dashboard/explore.py, imported once, and this file only runs it."""

from dashboard.explore import render

if __name__ == "__main__":
    render()
