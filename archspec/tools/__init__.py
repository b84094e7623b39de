"""Tools over a spec or a built model: export, plot, visualize, diff, the JSON Schema, the zoo."""
