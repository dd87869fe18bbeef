"""One module per page; each has a typed `render()` that dashboard/app.py's st.navigation runs."""
