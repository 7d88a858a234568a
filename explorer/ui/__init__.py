"""Streamlit-only helpers: the shared sidebar, caching wrappers, and the page list."""

# (script, title, icon, one line on what the page does); Home is first and the default page.
PAGES: list[tuple[str, str, str, str]] = [
    ("app_pages/home.py", "Home", ":material/home:", "The model zoo, and training new models in the browser."),
    (
        "app_pages/latent_spaces.py",
        "Latent spaces",
        ":material/scatter_plot:",
        "Absolute vs relative representations of two models, their agreement, and the paper's word-space table.",
    ),
    (
        "app_pages/layer_geometry.py",
        "Layer geometry",
        ":material/stacked_line_chart:",
        "Intrinsic dimension (TwoNN, decimation) and neighbourhood overlap, layer by layer, for one or two models.",
    ),
    (
        "app_pages/stitching.py",
        "Stitching",
        ":material/cable:",
        "Zero-shot stitching through relative space (grids of every encoder with every decoder), and trained stitching layers per layer.",
    ),
    (
        "app_pages/interpolation.py",
        "Interpolation",
        ":material/timeline:",
        "Latent interpolation, and weight interpolation naive vs permutation-aligned: barriers and the latent space along the path.",
    ),
    (
        "app_pages/similarity.py",
        "Similarity",
        ":material/grid_on:",
        "CKA (linear, RBF, debiased), Procrustes and their ReLU-intertwiner versions, as layer x layer heatmaps of two models.",
    ),
    (
        "app_pages/atlas.py",
        "Zoo atlas",
        ":material/hub:",
        "Many networks at once: every pair's similarity at one depth, clustered, and a map of the zoo where a click picks models.",
    ),
]
