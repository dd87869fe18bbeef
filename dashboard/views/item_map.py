"""Item map: the model's item vectors projected to 2-D (PCA), coloured by an attribute, with the
sidebar user's history and recommendations highlighted.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import analysis, charts, resources, state


def render() -> None:
    st.title("Item map")
    context = state.context()
    if context is None or context.model is None or context.dataset is None:
        st.info("Pick a dataset and a trained model in the sidebar.")
        return
    info = context.dataset
    loaded = resources.loaded_model(context.db_path, *resources.model_key(context.model))
    table = analysis.item_table(context.db_path, info.name, info.fingerprint)
    options = analysis.colour_options(loaded.data, table)
    if st.session_state.get(state.MAP_COLOUR) not in options:
        st.session_state[state.MAP_COLOUR] = options[0]
    colour = st.selectbox("Colour by", options, key=state.MAP_COLOUR,
                          format_func=lambda o: {"genre": "first genre"}.get(o, o))  # fmt: skip
    projection = analysis.item_projection(context.db_path, *resources.model_key(context.model))
    frame = table[["item_id", "title"]].copy()
    frame["x"], frame["y"] = projection.coords[:, 0], projection.coords[:, 1]
    frame["colour"] = analysis.colour_values(table, colour).to_numpy()
    frame["role"] = ""
    if context.user_id is not None:
        explanation = resources.explanation(context.db_path, *resources.model_key(context.model), context.user_id, 10)
        frame.loc[np.asarray(explanation.history_items, dtype=np.int64) - 1, "role"] = "history"
        frame.loc[np.array([r.item for r in explanation.recommendations], dtype=np.int64) - 1, "role"] = "recommended"
    st.plotly_chart(charts.item_map_chart(frame, colour, projection.variance_explained), key="item_map.chart")
    st.caption("Each point is an item vector e_c (id + attribute embeddings), the vector every score is computed with. "
               "Nearby items look alike to the model. Circles: the recent history the model reads for the sidebar's user; stars: their top-10 recommendations. "
               "Click legend entries to hide or isolate groups. Two components keep only part of the variance, so "
               "distances here are a rough guide.")  # fmt: skip


if __name__ == "__main__":
    render()
